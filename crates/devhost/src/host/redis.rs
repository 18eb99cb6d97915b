//! `fermyon:spin/redis@2.0.0` against a real Redis server. Addresses are checked against the
//! component's `allowed_outbound_hosts`; connections are multiplexed and shared by instances.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, RedisError, Value as Reply};
use tokio::sync::Mutex;
use wasmtime::component::Resource;

use super::spin_interfaces::redis::{Error, Host, HostConnection, RedisParameter, RedisResult};
use super::HostState;

/// One multiplexed connection per Redis address, opened on first use.
#[derive(Default)]
pub struct RedisPool {
    connections: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl RedisPool {
    /// The shared connection to `address`, connecting if needed.
    pub async fn connection(&self, address: &str) -> Result<MultiplexedConnection, RedisError> {
        let mut connections = self.connections.lock().await;
        if let Some(connection) = connections.get(address) {
            return Ok(connection.clone());
        }
        let client = redis::Client::open(address)?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
            .set_response_timeout(Some(std::time::Duration::from_secs(10)));
        let connection = client.get_multiplexed_async_connection_with_config(&config).await?;
        connections.insert(address.to_owned(), connection.clone());
        Ok(connection)
    }

    /// Forgets a connection that failed so the next call reconnects.
    pub async fn forget(&self, address: &str) {
        self.connections.lock().await.remove(address);
    }
}

/// A connection a guest has opened: the address it names.
pub struct OpenConnection(String);

fn other(error: RedisError) -> Error {
    Error::Other(error.to_string())
}

/// Flattens a reply into Spin's result list (arrays and sets are flattened, as Spin does).
fn flatten(reply: Reply, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    match reply {
        Reply::Nil => out.push(RedisResult::Nil),
        Reply::Int(i) => out.push(RedisResult::Int64(i)),
        Reply::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Reply::SimpleString(s) => out.push(RedisResult::Status(s)),
        Reply::Okay => out.push(RedisResult::Status("OK".into())),
        Reply::Double(d) => out.push(RedisResult::Binary(d.to_string().into_bytes())),
        Reply::Boolean(b) => out.push(RedisResult::Int64(b.into())),
        Reply::BigNumber(n) => out.push(RedisResult::Binary(n)),
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
    async fn redis(&mut self, this: &Resource<OpenConnection>) -> wasmtime::Result<Result<(String, MultiplexedConnection), Error>> {
        let address = self.table_ref().get(this)?.0.clone();
        Ok(match self.app.redis.connection(&address).await {
            Ok(connection) => Ok((address, connection)),
            Err(e) => Err(other(e)),
        })
    }

    /// Runs `f` on the connection, dropping a broken connection from the pool so the next
    /// request reconnects (Redis restarted, network blip).
    async fn with_redis<T>(
        &mut self,
        this: &Resource<OpenConnection>,
        f: impl AsyncFnOnce(MultiplexedConnection) -> Result<T, RedisError>,
    ) -> wasmtime::Result<Result<T, Error>> {
        let (address, connection) = match self.redis(this).await? {
            Ok(pair) => pair,
            Err(e) => return Ok(Err(e)),
        };
        Ok(match f(connection).await {
            Ok(value) => Ok(value),
            Err(e) => {
                if e.is_io_error() || e.is_connection_dropped() || e.is_timeout() {
                    self.app.redis.forget(&address).await;
                }
                Err(other(e))
            }
        })
    }
}

impl Host for HostState {}

impl HostConnection for HostState {
    async fn open(&mut self, address: String) -> wasmtime::Result<Result<Resource<OpenConnection>, Error>> {
        self.calls.record("redis.open");
        let url = if address.contains("://") { address.clone() } else { format!("redis://{address}") };
        if !self.component.outbound.allows_url(&url) {
            eprintln!(
                "[{}] Outbound network destination not allowed: {url} (add it to allowed_outbound_hosts)",
                self.component.id
            );
            return Ok(Err(Error::InvalidAddress));
        }
        if redis::Client::open(url.as_str()).is_err() {
            return Ok(Err(Error::InvalidAddress));
        }
        Ok(self.open_resource(OpenConnection(url))?.ok_or(Error::TooManyConnections))
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
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        self.calls.record("redis.execute");
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let reply = self.with_redis(&this, async |mut c| cmd.query_async::<Reply>(&mut c).await).await?;
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
            [RedisResult::Int64(3), RedisResult::Nil, RedisResult::Binary(a), RedisResult::Status(ok), RedisResult::Int64(1)]
                if a == b"a" && ok == "OK"
        ));
    }
}
