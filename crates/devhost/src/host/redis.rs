//! `fermyon:spin/redis@2.0.0` against a real Redis server, and the connections it shares with
//! the Redis key-value stores. Addresses are checked against the component's
//! `allowed_outbound_hosts`.
//!
//! Spin opens a connection per `open`, so a restarted Redis costs it nothing. devhost keeps one
//! multiplexed connection per address for every instance instead (a connect and handshake per
//! request would add a round trip or two to each one), and [`RedisPool`] makes that equivalent:
//! it never hands out a connection whose socket the server closed or that failed, so the first
//! command after a Redis restart reconnects rather than failing, and no command is retried (it
//! may have run). Connecting and every command have a time limit ([`CONNECT_TIMEOUT`],
//! [`RESPONSE_TIMEOUT`]), so a stopped or unreachable Redis is an error the guest answers
//! (components turn it into a 503) instead of a request that hangs.
//!
//! Blocking commands (`XREAD ... BLOCK`, `BLPOP` and the like) are the exception: on a shared
//! connection one would hold up every instance's commands behind it, and outlast the response
//! timeout. Spin runs them on the guest's own connection, so devhost does too: the first one a
//! guest sends opens a connection for that `open` ([`OpenConnection`]), kept until it is
//! dropped, with the time limit the command itself states plus [`RESPONSE_TIMEOUT`].

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{
    AsyncCommands, AsyncConnectionConfig, ConnectionAddr, ErrorKind, RedisConnectionInfo, RedisError, RedisResult, Value as Reply,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wasmtime::component::Resource;

use super::spin_interfaces::redis::{Error, Host, HostConnection, RedisParameter, RedisResult as SpinResult};
use super::HostState;

/// How long connecting may take: TCP, then the handshake (AUTH, SELECT, CLIENT SETINFO).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a command may wait for its answer. Redis answers in well under a millisecond, but
/// with `appendfsync always` a write waits for the disk: writes averaged up to 0.4 s while a
/// build ran on the same two-core VM. 5 s leaves room for that and still answers well inside
/// the request timeout (30 s).
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(5);

/// One multiplexed connection per Redis address, shared by every instance, replaced once it
/// is known to be dead.
#[derive(Default)]
pub(crate) struct RedisPool {
    connections: std::sync::Mutex<HashMap<String, Shared>>,
}

#[derive(Clone)]
struct Shared {
    connection: MultiplexedConnection,
    /// Set once the connection must not be handed out again.
    retired: Arc<AtomicBool>,
}

impl Shared {
    fn is_live(&self) -> bool {
        !self.retired.load(Ordering::Acquire)
    }
}

impl RedisPool {
    /// Runs `command` on the connection to `address`, connecting first if there is no live
    /// one. A command that failed on the connection itself (I/O error, timeout) retires it, so
    /// the next call reconnects; the failed command is not retried, as it may have run. The
    /// error is a message for the guest, without the address: components pass it on to
    /// clients, who need not learn where Redis runs.
    pub(crate) async fn run<T>(
        &self,
        address: &str,
        command: impl AsyncFnOnce(MultiplexedConnection) -> RedisResult<T>,
    ) -> Result<T, String> {
        let shared = self.connection(address).await?;
        command(shared.connection.clone()).await.map_err(|error| {
            if error.is_io_error() || error.is_unrecoverable_error() {
                shared.retired.store(true, Ordering::Release);
            }
            if error.is_timeout() {
                format!("Redis did not answer within {} s", RESPONSE_TIMEOUT.as_secs())
            } else if error.is_io_error() {
                format!("the connection to Redis failed: {error}")
            } else {
                error.to_string()
            }
        })
    }

    async fn connection(&self, address: &str) -> Result<Shared, String> {
        if let Some(shared) = self.live(address) {
            return Ok(shared);
        }
        // Connecting outside the lock: while Redis is unreachable, each request waits for its
        // own attempt (at most CONNECT_TIMEOUT) instead of queueing behind everyone else's.
        let fresh = connect(address, Some(RESPONSE_TIMEOUT)).await?;
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        match connections.get(address) {
            Some(current) if current.is_live() => Ok(current.clone()),
            _ => {
                connections.insert(address.to_owned(), fresh.clone());
                Ok(fresh)
            }
        }
    }

    fn live(&self, address: &str) -> Option<Shared> {
        let connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        connections.get(address).filter(|shared| shared.is_live()).cloned()
    }
}

async fn connect(address: &str, response_timeout: Option<Duration>) -> Result<Shared, String> {
    let client = redis::Client::open(address).map_err(|e| format!("invalid Redis address: {e}"))?;
    let info = client.get_connection_info();
    let retired = Arc::new(AtomicBool::new(false));
    let settings = info.redis_settings();
    let attempt = async {
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let socket = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                socket.set_nodelay(true)?;
                start(settings, socket, &retired, response_timeout).await
            }
            ConnectionAddr::Unix(path) => start(settings, tokio::net::UnixStream::connect(path).await?, &retired, response_timeout).await,
            _ => Err(RedisError::from((
                ErrorKind::InvalidClientConfig,
                "devhost reaches Redis over TCP or a Unix socket, not TLS; use a redis:// address",
            ))),
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(Ok(connection)) => Ok(Shared { connection, retired }),
        Ok(Err(e)) => Err(format!("cannot connect to Redis: {e}")),
        Err(_) => Err(format!("Redis did not accept a connection within {} s", CONNECT_TIMEOUT.as_secs())),
    }
}

/// Hands `socket` to a multiplexed connection, whose driver task runs until the socket ends
/// or every handle is dropped.
async fn start<S>(
    settings: &RedisConnectionInfo,
    socket: S,
    retired: &Arc<AtomicBool>,
    response_timeout: Option<Duration>,
) -> RedisResult<MultiplexedConnection>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = AsyncConnectionConfig::new().set_response_timeout(response_timeout);
    let watched = Watched { socket, retired: retired.clone() };
    let (connection, driver) = MultiplexedConnection::new_with_config(settings, watched, config).await?;
    tokio::spawn(driver);
    Ok(connection)
}

/// A socket that retires its connection when the server closes it, it fails, or the driver
/// task lets go of it. The driver always has a read pending, so a restarted server's end of
/// file is seen when it arrives, long before the next command, and checking costs no round
/// trip.
struct Watched<S> {
    socket: S,
    retired: Arc<AtomicBool>,
}

impl<S> Watched<S> {
    fn retire(&self) {
        self.retired.store(true, Ordering::Release);
    }

    fn note<T>(&self, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(_)) = polled {
            self.retire();
        }
        polled
    }
}

impl<S> Drop for Watched<S> {
    fn drop(&mut self) {
        self.retire();
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let (room, before) = (buf.remaining(), buf.filled().len());
        let polled = Pin::new(&mut self.socket).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && room > 0 && buf.filled().len() == before {
            self.retire();
        }
        self.note(polled)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write(cx, buf);
        self.note(polled)
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.socket).poll_write_vectored(cx, bufs);
        self.note(polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.socket).poll_flush(cx);
        self.note(polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.retire();
        Pin::new(&mut self.socket).poll_shutdown(cx)
    }
}

/// A connection a guest has opened: the address it names, and its own connection once it
/// sends a blocking command.
#[allow(unreachable_pub, reason = "wasmtime's bindgen re-exports resource types from public generated modules")]
pub struct OpenConnection {
    address: String,
    own: Option<Shared>,
}

/// How long a blocking command says it may wait (`None`: not a blocking command), and
/// `Some(None)` for one that may wait forever.
fn blocking_wait(command: &str, arguments: &[RedisParameter]) -> Option<Option<Duration>> {
    let text = |p: &RedisParameter| match p {
        RedisParameter::Int64(i) => Some(i.to_string()),
        RedisParameter::Binary(b) => String::from_utf8(b.clone()).ok(),
    };
    let seconds = |p: Option<&RedisParameter>| text(p?)?.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
    let wait = match command.to_ascii_uppercase().as_str() {
        "XREAD" | "XREADGROUP" => {
            let at = arguments.iter().position(|a| text(a).is_some_and(|t| t.eq_ignore_ascii_case("BLOCK")))?;
            seconds(arguments.get(at + 1)).map(|ms| ms / 1000.0)
        }
        "BLPOP" | "BRPOP" | "BRPOPLPUSH" | "BLMOVE" | "BZPOPMIN" | "BZPOPMAX" => seconds(arguments.last()),
        "BLMPOP" | "BZMPOP" => seconds(arguments.first()),
        _ => return None,
    };
    Some(wait.filter(|s| *s > 0.0).map(Duration::from_secs_f64))
}

/// Flattens a reply into Spin's result list (arrays and sets are flattened, as Spin does).
fn flatten(reply: Reply, out: &mut Vec<SpinResult>) -> Result<(), Error> {
    match reply {
        Reply::Nil => out.push(SpinResult::Nil),
        Reply::Int(i) => out.push(SpinResult::Int64(i)),
        Reply::BulkString(bytes) => out.push(SpinResult::Binary(bytes)),
        Reply::SimpleString(s) => out.push(SpinResult::Status(s)),
        Reply::Okay => out.push(SpinResult::Status("OK".into())),
        Reply::Double(d) => out.push(SpinResult::Binary(d.to_string().into_bytes())),
        Reply::Boolean(b) => out.push(SpinResult::Int64(b.into())),
        Reply::BigNumber(n) => out.push(SpinResult::Binary(n)),
        Reply::Array(items) | Reply::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        Reply::ServerError(e) => return Err(Error::Other(format!("{e:?}"))),
        other => return Err(Error::Other(format!("unsupported Redis reply: {other:?}"))),
    }
    Ok(())
}

impl HostState {
    /// Runs `command` on the shared connection to the address `this` names.
    async fn with_redis<T>(
        &mut self,
        this: &Resource<OpenConnection>,
        command: impl AsyncFnOnce(MultiplexedConnection) -> RedisResult<T>,
    ) -> wasmtime::Result<Result<T, Error>> {
        let address = self.table_ref().get(this)?.address.clone();
        Ok(self.backends.redis.run(&address, command).await.map_err(Error::Other))
    }

    /// Runs a blocking `cmd` on the connection of `this` alone, opened on first use, waiting
    /// for its answer at most `wait` plus [`RESPONSE_TIMEOUT`].
    async fn blocking(
        &mut self,
        this: &Resource<OpenConnection>,
        cmd: redis::Cmd,
        wait: Option<Duration>,
    ) -> wasmtime::Result<Result<Reply, Error>> {
        let open = self.table.get(this)?;
        let address = open.address.clone();
        let own = match open.own.clone().filter(Shared::is_live) {
            Some(own) => own,
            None => match connect(&address, None).await {
                Ok(own) => {
                    self.table.get_mut(this)?.own = Some(own.clone());
                    own
                }
                Err(message) => return Ok(Err(Error::Other(message))),
            },
        };
        let mut connection = own.connection.clone();
        let reply = match wait {
            Some(wait) => match tokio::time::timeout(wait + RESPONSE_TIMEOUT, cmd.query_async::<Reply>(&mut connection)).await {
                Ok(reply) => reply,
                Err(_) => {
                    own.retired.store(true, Ordering::Release);
                    return Ok(Err(Error::Other(format!(
                        "Redis did not answer within {} s of the command's own wait",
                        RESPONSE_TIMEOUT.as_secs()
                    ))));
                }
            },
            None => cmd.query_async::<Reply>(&mut connection).await,
        };
        Ok(reply.map_err(|error| {
            if error.is_io_error() || error.is_unrecoverable_error() {
                own.retired.store(true, Ordering::Release);
            }
            Error::Other(error.to_string())
        }))
    }
}

impl Host for HostState {}

impl HostConnection for HostState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        self.calls.record("redis.open");
        let url = if address.contains("://") { address.clone() } else { format!("redis://{address}") };
        if !self.component.outbound.allows_url(&url) {
            eprintln!("[{}] Outbound network destination not allowed: {url} (add it to allowed_outbound_hosts)", self.component.id);
            return Ok(Err(Error::InvalidAddress));
        }
        if redis::Client::open(url.as_str()).is_err() {
            return Ok(Err(Error::InvalidAddress));
        }
        Ok(self.open_resource(OpenConnection { address: url, own: None })?.ok_or(Error::TooManyConnections))
    }

    async fn publish(&mut self, this: Resource<OpenConnection>, channel: String, payload: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        self.calls.record("redis.publish");
        self.with_redis(&this, async |mut c| c.publish(channel, payload).await).await
    }

    async fn get(&mut self, this: Resource<OpenConnection>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.calls.record("redis.get");
        self.with_redis(&this, async |mut c| c.get(key).await).await
    }

    async fn set(&mut self, this: Resource<OpenConnection>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        self.calls.record("redis.set");
        self.with_redis(&this, async |mut c| c.set(key, value).await).await
    }

    async fn incr(&mut self, this: Resource<OpenConnection>, key: String) -> wasmtime::Result<Result<i64, Error>> {
        self.calls.record("redis.incr");
        self.with_redis(&this, async |mut c| c.incr(key, 1).await).await
    }

    async fn del(&mut self, this: Resource<OpenConnection>, keys: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        self.calls.record("redis.del");
        self.with_redis(&this, async |mut c| c.del(keys).await).await
    }

    async fn sadd(&mut self, this: Resource<OpenConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        self.calls.record("redis.sadd");
        let result = self.with_redis(&this, async |mut c| c.sadd(key, values).await).await?;
        // Spin reports a wrong-type key as type-error for sadd.
        Ok(result.map_err(|e| match e {
            Error::Other(m) if m.contains("WRONGTYPE") => Error::TypeError,
            e => e,
        }))
    }

    async fn smembers(&mut self, this: Resource<OpenConnection>, key: String) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.calls.record("redis.smembers");
        self.with_redis(&this, async |mut c| c.smembers(key).await).await
    }

    async fn srem(&mut self, this: Resource<OpenConnection>, key: String, values: Vec<String>) -> wasmtime::Result<Result<u32, Error>> {
        self.calls.record("redis.srem");
        self.with_redis(&this, async |mut c| c.srem(key, values).await).await
    }

    async fn execute(
        &mut self,
        this: Resource<OpenConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<SpinResult>, Error>> {
        self.calls.record("redis.execute");
        let wait = blocking_wait(&command, &arguments);
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let reply = match wait {
            Some(wait) => self.blocking(&this, cmd, wait).await?,
            None => self.with_redis(&this, async |mut c| cmd.query_async::<Reply>(&mut c).await).await?,
        };
        Ok(reply.and_then(|reply| {
            let mut out = Vec::new();
            flatten(reply, &mut out)?;
            Ok(out)
        }))
    }

    async fn drop(&mut self, this: Resource<OpenConnection>) -> wasmtime::Result<()> {
        self.close_resource(this)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_flatten_like_spin() {
        let reply = Reply::Array(vec![
            Reply::Int(3),
            Reply::Nil,
            Reply::Array(vec![Reply::BulkString(b"a".to_vec()), Reply::Okay]),
            Reply::Boolean(true),
        ]);
        let mut out = Vec::new();
        flatten(reply, &mut out).unwrap();
        assert!(matches!(
            out.as_slice(),
            [SpinResult::Int64(3), SpinResult::Nil, SpinResult::Binary(a), SpinResult::Status(ok), SpinResult::Int64(1)]
                if a == b"a" && ok == "OK"
        ));
    }

    #[test]
    fn blocking_commands_are_told_apart_with_their_wait() {
        let args = |list: &[&str]| list.iter().map(|a| RedisParameter::Binary(a.as_bytes().to_vec())).collect::<Vec<_>>();
        let xread = args(&["COUNT", "1", "BLOCK", "1500", "STREAMS", "s", "0-0"]);
        assert_eq!(blocking_wait("xread", &xread), Some(Some(Duration::from_millis(1500))));
        assert_eq!(blocking_wait("XREAD", &args(&["STREAMS", "s", "0-0"])), None, "XREAD without BLOCK answers at once");
        assert_eq!(blocking_wait("BLPOP", &args(&["a", "b", "2.5"])), Some(Some(Duration::from_millis(2500))));
        assert_eq!(blocking_wait("BZMPOP", &args(&["0", "1", "z", "MIN"])), Some(None), "0 waits forever");
        assert_eq!(blocking_wait("GET", &args(&["k"])), None);
        assert_eq!(
            blocking_wait("XREAD", &[RedisParameter::Binary(b"BLOCK".to_vec()), RedisParameter::Int64(20)]),
            Some(Some(Duration::from_millis(20)))
        );
    }

    /// A throwaway `redis-server` without persistence on `port`, killed when dropped.
    struct Server(std::process::Child);

    impl Server {
        fn start(port: u16) -> Server {
            let dir = std::env::temp_dir();
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("redis-server runs (scripts/setup installs it)");
            let server = Server(child);
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !answers_ping(port) {
                assert!(std::time::Instant::now() < deadline, "redis-server on port {port} did not answer PING within 20 s");
                std::thread::sleep(Duration::from_millis(20));
            }
            server
        }

        fn signal(&self, signal: &str) {
            let status = std::process::Command::new("kill").arg(format!("-{signal}")).arg(self.0.id().to_string()).status().unwrap();
            assert!(status.success(), "kill -{signal} failed");
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn answers_ping(port: u16) -> bool {
        use std::io::{Read, Write};
        let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut reply = [0; 7];
        stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    async fn ping(pool: &RedisPool, address: &str) -> Result<String, String> {
        pool.run(address, async |mut c| redis::cmd("PING").query_async::<String>(&mut c).await).await
    }

    // Multi-threaded, as devhost runs: the connection's driver task must see the old server's
    // end of file while the test thread waits for the new server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_command_after_a_restart_succeeds() {
        let port = free_port();
        let address = format!("redis://127.0.0.1:{port}");
        let pool = RedisPool::default();
        let mut server = Server::start(port);
        assert_eq!(ping(&pool, &address).await.unwrap(), "PONG");
        server.signal("KILL");
        let _ = server.0.wait();
        let _server = Server::start(port);
        assert_eq!(ping(&pool, &address).await, Ok("PONG".into()), "the pool handed out the dead connection");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_down_redis_fails_fast_and_is_reconnected_when_back() {
        let port = free_port();
        let address = format!("redis://127.0.0.1:{port}");
        let pool = RedisPool::default();
        drop(Server::start(port));
        let started = std::time::Instant::now();
        let error = ping(&pool, &address).await.unwrap_err();
        assert!(started.elapsed() < CONNECT_TIMEOUT, "a refused connection fails at once");
        assert!(error.starts_with("cannot connect to Redis: "), "{error}");
        let _server = Server::start(port);
        assert_eq!(ping(&pool, &address).await, Ok("PONG".into()));
    }

    /// A stopped Redis (SIGSTOP) still completes TCP handshakes in the kernel but never answers:
    /// the command in flight gives up after RESPONSE_TIMEOUT, the next connect after
    /// CONNECT_TIMEOUT, and once it runs again the next command succeeds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_redis_is_an_error_within_the_timeouts() {
        let port = free_port();
        let address = format!("redis://127.0.0.1:{port}");
        let pool = RedisPool::default();
        let server = Server::start(port);
        ping(&pool, &address).await.unwrap();
        server.signal("STOP");
        let slack = Duration::from_secs(2);

        let started = std::time::Instant::now();
        let error = ping(&pool, &address).await.unwrap_err();
        let took = started.elapsed();
        assert!(took >= RESPONSE_TIMEOUT && took < RESPONSE_TIMEOUT + slack, "{took:?}: {error}");
        assert_eq!(error, "Redis did not answer within 5 s");

        let started = std::time::Instant::now();
        let error = ping(&pool, &address).await.unwrap_err();
        let took = started.elapsed();
        assert!(took >= CONNECT_TIMEOUT && took < CONNECT_TIMEOUT + slack, "{took:?}: {error}");
        assert_eq!(error, "Redis did not accept a connection within 2 s");

        server.signal("CONT");
        assert_eq!(ping(&pool, &address).await, Ok("PONG".into()));
    }
}
