//! The real services an app talks to: Debian's `redis-server` and the signature-checking
//! `s3s-fs`, shared per test binary or isolated per test (then killed, paused and restarted at
//! will).

use crate::*;

/// Whether a Redis server on `port` answers `PING` (it listens before it has loaded its data).
pub(crate) fn redis_answers(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// `redis-server` on `port` keeping its append-only file in `dir`, fsynced before each answer
/// (as `scripts/up` runs it), once it answers `PING`. Benchmarks compare policies with
/// `E2E_REDIS_APPENDFSYNC` = `always` (the default), `everysec` or `off` (no AOF).
pub(crate) fn start_redis(port: u16, dir: &Path) -> Process {
    let policy = std::env::var("E2E_REDIS_APPENDFSYNC").unwrap_or_else(|_| "always".into());
    let persistence: &[&str] = match policy.as_str() {
        "off" => &["--appendonly", "no"],
        "everysec" => &["--appendonly", "yes", "--appendfsync", "everysec"],
        "always" => &["--appendonly", "yes", "--appendfsync", "always"],
        other => panic!("E2E_REDIS_APPENDFSYNC={other:?}: use always, everysec or off"),
    };
    let mut redis = Command::new("redis-server");
    redis
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
        .args(persistence)
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null());
    let mut redis = spawn(redis);
    wait_for_port(port, &mut redis, "redis-server");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !redis_answers(port) {
        if let Ok(Some(status)) = redis.try_wait() {
            panic!("redis-server exited while loading its data: {status}");
        }
        assert!(Instant::now() < deadline, "redis-server on port {port} did not answer PING within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    Process(redis)
}

/// The signature-checking `s3s-fs` on `port` serving the buckets under `root`.
pub(crate) fn start_s3(port: u16, root: &Path) -> Process {
    let mut s3 = Command::new(s3s_fs());
    s3.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
        .arg(root)
        .stdout(Stdio::null());
    let mut s3 = spawn(s3);
    wait_for_port(port, &mut s3, "s3s-fs");
    Process(s3)
}

/// Redis and the S3 server for one test binary.
///
/// Redis runs as `scripts/up` runs it: append-only file in the data directory, fsynced before
/// every answer, so a test can kill it (`kill -9`), start it again and find every write it
/// acknowledged.
pub struct Services {
    /// `redis://127.0.0.1:<port>`.
    pub redis_url: String,
    /// `http://127.0.0.1:<port>`.
    pub s3_endpoint: String,
    redis: Mutex<Process>,
    s3: Mutex<Process>,
    redis_port: u16,
    s3_port: u16,
    data: TempDir,
}

impl Services {
    /// The services of this test binary, started on first use.
    pub fn shared() -> &'static Services {
        static SERVICES: OnceLock<Services> = OnceLock::new();
        SERVICES.get_or_init(Services::start)
    }

    /// Services of its own, for a test whose state must not mix with others' (or that stops
    /// and restarts them).
    pub fn isolated() -> Services {
        Services::start()
    }

    fn start() -> Services {
        let data = TempDir::new("e2e-services");
        std::fs::create_dir_all(data.path().join("redis")).unwrap();
        std::fs::create_dir_all(data.path().join("s3").join(S3_BUCKET)).unwrap();
        let redis_port = free_port();
        let redis = start_redis(redis_port, &data.path().join("redis"));
        let s3_port = free_port();
        let s3 = start_s3(s3_port, &data.path().join("s3"));
        let services = Services {
            redis_url: format!("redis://127.0.0.1:{redis_port}"),
            s3_endpoint: format!("http://127.0.0.1:{s3_port}"),
            redis: Mutex::new(redis),
            s3: Mutex::new(s3),
            redis_port,
            s3_port,
            data,
        };
        services.seed_incarnation();
        services
    }

    /// Starts the session store's incarnation as [`TEST_INCARNATION`], the one [`access_token`]
    /// tokens carry (auth keeps an existing incarnation). After a `FLUSHALL`, calling this again
    /// stands in for the first sign-in of the new incarnation.
    pub fn seed_incarnation(&self) {
        self.redis_cli(&["SET", edge_auth::INCARNATION_KEY, TEST_INCARNATION, "NX"]);
    }

    /// Kills Redis with SIGKILL, as a crash would, and waits until it is gone.
    pub fn kill_redis(&self) {
        let mut redis = self.redis.lock().unwrap();
        let _ = redis.0.kill();
        let _ = redis.0.wait();
    }

    /// Starts Redis again on the same port and data directory (after [`Services::kill_redis`])
    /// and returns once it answers `PING`, its append-only file loaded.
    pub fn restart_redis(&self) {
        let mut redis = self.redis.lock().unwrap();
        *redis = start_redis(self.redis_port, &self.data.path().join("redis"));
    }

    /// Stops Redis with SIGSTOP: connections still open in the kernel, nothing answered.
    pub fn pause_redis(&self) {
        self.signal_redis(libc::SIGSTOP);
    }

    /// Lets a paused Redis run again (SIGCONT).
    pub fn resume_redis(&self) {
        self.signal_redis(libc::SIGCONT);
    }

    fn signal_redis(&self, signal: libc::c_int) {
        let redis = self.redis.lock().unwrap();
        let pid = libc::pid_t::try_from(redis.0.id()).unwrap();
        // SAFETY: kill(2) on our own child's pid, which `Process` has not reaped yet.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "cannot signal redis-server");
    }

    /// Kills the S3 server (SIGKILL) and waits until it is gone.
    pub fn kill_s3(&self) {
        let mut s3 = self.s3.lock().unwrap();
        let _ = s3.0.kill();
        let _ = s3.0.wait();
    }

    /// Starts the S3 server again on the same port and files (after [`Services::kill_s3`]).
    pub fn restart_s3(&self) {
        let mut s3 = self.s3.lock().unwrap();
        *s3 = start_s3(self.s3_port, &self.data.path().join("s3"));
    }

    /// The `SPIN_VARIABLE_*` settings that point the app at these services, with this test
    /// binary's signing key.
    pub fn env(&self) -> Vec<(String, String)> {
        const UNLIMITED: &str = "1000000000";
        let key = signing_key();
        [
            ("JWT_SIGNING_KEYS", key.to_config().as_str()),
            ("JWT_PUBLIC_KEYS", key.public_config().as_str()),
            ("REDIS_ADDRESS", self.redis_url.as_str()),
            ("REDIS_HOST", self.redis_url.as_str()),
            ("S3_ENDPOINT", self.s3_endpoint.as_str()),
            ("S3_ACCESS_KEY", S3_ACCESS_KEY),
            ("S3_SECRET_KEY", S3_SECRET_KEY),
            ("S3_BUCKET", S3_BUCKET),
            ("UPLOAD_RECEIPT_KEY", UPLOAD_RECEIPT_KEY),
            // Every test client is 127.0.0.1; `limits.rs` sets its own low values.
            ("REGISTER_PER_CLIENT_PER_HOUR", UNLIMITED),
            ("SEARCH_PER_CLIENT_PER_MINUTE", UNLIMITED),
            ("SUGGEST_PER_CLIENT_PER_MINUTE", UNLIMITED),
            ("LIKE_PER_CLIENT_PER_MINUTE", UNLIMITED),
            ("FOLLOW_PER_CLIENT_PER_MINUTE", UNLIMITED),
            ("COMMENT_PER_CLIENT_PER_MINUTE", UNLIMITED),
            ("COMMENT_PER_MINUTE", UNLIMITED),
        ]
        .into_iter()
        .map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), v.to_owned()))
        .collect()
    }
}

impl Services {
    /// Starts `scripts/s3-cors` (nginx) in front of this S3 server, as `scripts/up` does, so
    /// browsers can send parts to it; answers the process and the endpoint to give the app.
    pub fn s3_cors(&self) -> (Process, String) {
        let port = free_port();
        let mut proxy = Command::new(root().join("scripts/s3-cors"));
        proxy
            .arg(self.data.path().join(format!("s3-cors-{port}")))
            .arg(format!("127.0.0.1:{port}"))
            .arg(self.s3_endpoint.trim_start_matches("http://"))
            .stdout(Stdio::null());
        let mut proxy = spawn(proxy);
        wait_for_port(port, &mut proxy, "scripts/s3-cors (nginx)");
        (Process(proxy), format!("http://127.0.0.1:{port}"))
    }

    /// Runs `redis-cli` against this Redis and returns its output (for tests that fabricate
    /// or inspect state the API does not expose).
    pub fn redis_cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli").arg("-u").arg(&self.redis_url).args(args).output().expect("redis-cli runs");
        assert!(output.status.success(), "redis-cli {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

pub(crate) fn s3s_fs() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"));
    let installed = home.join("bin/s3s-fs");
    if installed.exists() {
        installed
    } else {
        PathBuf::from("s3s-fs")
    }
}
