//! The end-to-end harness: real services on free loopback ports, the real Spin CLI and the
//! real release `.wasm` components.
//!
//! - [`Services::shared`]: one Debian `redis-server` (append-only file, fsynced before each
//!   answer) and one signature-checking `s3s-fs` (with a `videos` bucket) per test binary;
//!   [`Services::isolated`] for a test of its own, which may also kill, pause and restart them.
//! - [`App::start`]: `spin up` serving a manifest with the services' addresses in its
//!   environment; stopped, with its child process, when dropped.
//! - [`build`]: `spin build` of every component once per test binary.
//!
//! Every child process gets SIGKILL when the test process exits, even on a panic or abort, so
//! nothing outlives a failed run.

pub mod scripts;
pub mod sse;
pub mod webdriver;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use serde_json::{json, Value};

/// S3 credentials the local store accepts.
pub const S3_ACCESS_KEY: &str = "e2e-access-key";
/// S3 secret for [`S3_ACCESS_KEY`].
pub const S3_SECRET_KEY: &str = "e2e-secret-key-0123456789";
/// The receipt key every app of the tests uses.
pub const UPLOAD_RECEIPT_KEY: &str = "e2e-receipt-key";
/// The bucket created in the local store.
pub const S3_BUCKET: &str = "videos";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/`), where builds keep their output.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// A loopback port nobody listens on right now, and never handed out before by this process:
/// tests start servers in parallel, and a port given to one must not be given to another before
/// the first binds it.
pub fn free_port() -> u16 {
    static ISSUED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut issued = ISSUED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        if issued.insert(port) {
            return port;
        }
    }
}

/// Spawns `command` so that it is killed when this process exits.
pub fn spawn(command: Command) -> Child {
    spawn_with_death_signal(command, libc::SIGKILL)
}

/// Spawns `command` so that it gets `signal` when this process exits.
///
/// `PR_SET_PDEATHSIG` fires when the spawning *thread* ends, so every child is spawned from one
/// thread that lives as long as the process.
fn spawn_with_death_signal(command: Command, signal: libc::c_int) -> Child {
    type Job = (Command, libc::c_int, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::spawn(move || {
            for (mut command, signal, reply) in rx {
                // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
                unsafe {
                    command.pre_exec(move || {
                        libc::prctl(libc::PR_SET_PDEATHSIG, signal);
                        Ok(())
                    });
                }
                let _ = reply.send(command.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (tx, rx) = mpsc::channel();
    let program = format!("{:?}", command.get_program());
    spawner.lock().unwrap().send((command, signal, tx)).unwrap();
    rx.recv().unwrap().unwrap_or_else(|e| panic!("cannot start {program}: {e} (run scripts/setup)"))
}

pub(crate) fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on port {port} within 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a Redis server on `port` answers `PING` (it listens before it has loaded its data).
fn redis_answers(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
    let mut reply = [0; 7];
    stream.write_all(b"PING\r\n").is_ok() && stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
}

/// `redis-server` on `port` keeping its append-only file in `dir`, fsynced before each answer
/// (as `scripts/up` runs it), once it answers `PING`. Benchmarks compare policies with
/// `E2E_REDIS_APPENDFSYNC` = `always` (the default), `everysec` or `off` (no AOF).
fn start_redis(port: u16, dir: &Path) -> Process {
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
fn start_s3(port: u16, root: &Path) -> Process {
    let mut s3 = Command::new(s3s_fs());
    s3.args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", S3_ACCESS_KEY, "--secret-key", S3_SECRET_KEY])
        .arg(root)
        .stdout(Stdio::null());
    let mut s3 = spawn(s3);
    wait_for_port(port, &mut s3, "s3s-fs");
    Process(s3)
}

fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
}

/// Builds every component of the app with `spin build`, once per test binary.
pub fn build() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut spin = Command::new(spin_bin());
        spin.args(["build", "--from"]).arg(root().join("spin.toml")).current_dir(root()).stdout(Stdio::null());
        run(&mut spin, "spin build");
    });
}

/// A scratch directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system temp dir.
    pub fn new(prefix: &str) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed when dropped.
pub struct Process(pub(crate) Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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

/// A name unique within this test run: `prefix`, this process's id and a counter.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed))
}

/// A receipt as upload-sign signs it, for a fresh upload by `owner` (for tests and benchmarks
/// that create videos without uploading).
pub fn receipt(owner: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let upload_id = format!("{nanos:016x}{:016x}", N.fetch_add(1, Ordering::Relaxed));
    edge_protocol::receipt::Receipt {
        upload_id: upload_id.clone(),
        key: format!("uploads/{owner}/{upload_id}.mp4"),
        size: 1234,
        content_key: None,
        owner: owner.to_owned(),
        content_type: "video/mp4".into(),
        etag: "\"e\"".into(),
        completed_at: nanos / 1_000_000,
    }
    .sign(UPLOAD_RECEIPT_KEY.as_bytes())
}

/// Runs wrk for 8 s against `app` with the Lua request `script` (written into `dir`) and prints
/// requests/s, p50, p99 and any non-2xx count under `label` (for the benchmarks).
pub fn wrk(app: &App, dir: &TempDir, label: &str, connections: u32, script: &str) {
    let path = dir.path().join(format!("{}.lua", label.replace(' ', "-")));
    std::fs::write(&path, script).unwrap();
    let threads = connections.min(2).to_string();
    let output = Command::new("wrk")
        .args(["-t", &threads, "-c", &connections.to_string(), "-d", "8s", "--latency", "-s"])
        .arg(&path)
        .arg(&app.url)
        .output()
        .expect("wrk runs (scripts/setup --bench installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let pick = |prefix: &str| text.lines().find(|l| l.trim_start().starts_with(prefix)).map(str::trim).unwrap_or("-").to_owned();
    let non_2xx = pick("Non-2xx");
    println!(
        "{label} ({connections} connections): {} | p50 {} | p99 {} | {}",
        pick("Requests/sec"),
        pick("50%").trim_start_matches("50%").trim(),
        pick("99%").trim_start_matches("99%").trim(),
        if non_2xx == "-" { "all 2xx".to_owned() } else { non_2xx }
    );
}

/// The first 32 bytes of an MP4 file, its `ftyp` box: upload-sign's content check wants a
/// `video/*` upload to start like a video.
pub const MP4_FTYP: [u8; 32] = *b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";

/// What the browser SDK computes for instant upload in its hashing pass: the file's content key
/// and each part's base64 SHA-256 under the default layout, by part number (`"1"`, `"2"`, …).
pub fn content_key(bytes: &[u8]) -> (String, serde_json::Map<String, Value>) {
    use base64::Engine;
    use sha2::Digest;
    let digests: Vec<[u8; 32]> = edge_protocol::instant::default_parts(bytes.len() as u64)
        .map(|(a, b)| sha2::Sha256::digest(&bytes[a as usize..b as usize]).into())
        .collect();
    let checksums = digests
        .iter()
        .enumerate()
        .map(|(i, d)| ((i + 1).to_string(), base64::engine::general_purpose::STANDARD.encode(d).into()))
        .collect();
    (edge_protocol::instant::content_key(bytes.len() as u64, &digests), checksums)
}

/// `len` pseudo-random bytes from `seed` (xorshift) after [`MP4_FTYP`] (cut short for a shorter
/// file): the same file every run, for uploads whose stored bytes a test compares.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let prefix = len.min(MP4_FTYP.len());
    bytes[..prefix].copy_from_slice(&MP4_FTYP[..prefix]);
    bytes
}

/// The session-store incarnation every test Redis starts with ([`Services::seed_incarnation`]).
pub const TEST_INCARNATION: &str = "e2e";

/// An access token for `user_id` signed with this test binary's key, as auth would issue it
/// (for tests that need many users without signing each one in).
pub fn access_token(user_id: &str) -> String {
    token_with_roles(user_id, Vec::new())
}

/// Like [`access_token`], for an administrator.
pub fn admin_token(user_id: &str) -> String {
    token_with_roles(user_id, vec!["admin".to_owned()])
}

fn token_with_roles(user_id: &str, roles: Vec<String>) -> String {
    let audience = edge_auth::Audience { issuer: "video-edge".into(), audience: "video-edge-api".into() };
    let (active, _) = edge_auth::KeySet::from_signing_config(&signing_key().to_config()).unwrap();
    let session = format!("{:032x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let session = edge_auth::Session { id: &session, epoch: 0, incarnation: TEST_INCARNATION };
    edge_auth::Issuer::new(active, audience).issue(user_id, &session, roles).unwrap()
}

/// The signing key every app of this test binary uses (kid `e2e`).
pub fn signing_key() -> &'static edge_auth::SigningKey {
    static KEY: OnceLock<edge_auth::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| edge_auth::SigningKey::generate("e2e"))
}

fn s3s_fs() -> PathBuf {
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

/// A running `spin up` serving an app, with its log; stopped (children included) when dropped.
pub struct App {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    log: Arc<Mutex<String>>,
    process: SpinProcess,
    state: TempDir,
}

/// What to run the app with.
pub struct AppOptions<'a> {
    /// The manifest, relative to the workspace root.
    pub manifest: &'a str,
    /// Runtime config text, if any.
    pub runtime_config: Option<String>,
    /// Extra environment variables (after the services' ones, so they win); `RUST_LOG` here
    /// turns on Spin's own log lines.
    pub env: Vec<(String, String)>,
    /// The services to use instead of [`Services::shared`].
    pub services: Option<&'a Services>,
}

impl Default for AppOptions<'_> {
    fn default() -> Self {
        AppOptions { manifest: "spin.toml", runtime_config: None, env: Vec::new(), services: None }
    }
}

/// The Spin CLI: `SPIN_BIN`, else `spin` on `PATH`. `scripts/test` sets `SPIN_BIN` to the Spin
/// `scripts/setup` found or unpacked.
pub fn spin_bin() -> PathBuf {
    std::env::var_os("SPIN_BIN").filter(|v| !v.is_empty()).map(PathBuf::from).unwrap_or_else(|| "spin".into())
}

/// Environment variable naming the test run that started a Spin process; every `spin up` of the
/// harness carries it, so `scripts/test` can find any Spin process (the child `spin trigger
/// http` included, which inherits it) that outlived the suite.
pub const RUN_MARKER: &str = "E2E_RUN";

/// `spin up` in a process group of its own. Dropping it stops the whole group: `spin up` runs
/// the app in a child process (`spin trigger http`, src/commands/up.rs) that killing `spin up`
/// alone would leave running. If the test process dies first, `spin up` gets SIGTERM
/// (`PR_SET_PDEATHSIG`), which it forwards to that child (its `set_kill_on_ctrl_c`).
pub struct SpinProcess(Child);

impl SpinProcess {
    /// The process id of `spin up` (the group's leader).
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        let group = -libc::pid_t::try_from(self.0.id()).unwrap();
        // SAFETY: kill(2) on the group this child leads; the leader is not reaped before the
        // last signal, so the group id cannot have been reused.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_alive(self.0.id()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        // Whatever ignored SIGTERM or was slow to act on it.
        unsafe { libc::kill(group, libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// Whether `pid` runs (a zombie, dead but not yet reaped, does not).
pub fn process_alive(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|fields| !matches!(fields.first().map(String::as_str), Some("Z" | "X")))
}

/// The processes whose parent is `pid`.
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(child) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if stat_fields(child).and_then(|fields| fields.get(1)?.parse::<u32>().ok()) == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces): state,
/// parent, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(") ")?.1.split(' ').map(str::to_owned).collect())
}

fn spawn_spin(mut command: Command) -> SpinProcess {
    let run = std::env::var(RUN_MARKER).unwrap_or_else(|_| format!("pid-{}", std::process::id()));
    command.env(RUN_MARKER, run).process_group(0);
    SpinProcess(spawn_with_death_signal(command, libc::SIGTERM))
}

impl App {
    /// Starts `spin up` on a port the kernel picks and waits until it serves. State files go
    /// to a fresh temp dir (`--state-dir`, where Spin keeps the default stores), so tests never
    /// share data files.
    pub fn start(options: AppOptions<'_>) -> App {
        match Self::try_start(options) {
            Ok(app) => app,
            Err(output) => panic!("spin up did not start:\n{output}"),
        }
    }

    /// Like [`App::start`], but returns Spin's output if it exits instead.
    pub fn try_start(options: AppOptions<'_>) -> Result<App, String> {
        Self::launch(options, TempDir::new("e2e-spin"))
    }

    /// Stops this app and starts it again with `options` on the same state directory (its
    /// key-value and SQLite files), as restarting `spin up` would; the new one listens on a new
    /// port.
    pub fn restart(self, options: AppOptions<'_>) -> App {
        let App { process, state, .. } = self;
        drop(process);
        Self::launch(options, state).unwrap_or_else(|output| panic!("the app did not start again:\n{output}"))
    }

    fn launch(options: AppOptions<'_>, state: TempDir) -> Result<App, String> {
        build();
        let services: &Services = match options.services {
            Some(services) => services,
            None => Services::shared(),
        };
        let config = state.path().join("runtime-config.toml");
        std::fs::write(&config, options.runtime_config.as_deref().unwrap_or_default()).unwrap();
        let mut command = Command::new(spin_bin());
        // Port 0: the kernel picks a free port, and Spin prints the one it got.
        command
            .args(["up", "--listen", "127.0.0.1:0", "--from"])
            .arg(root().join(options.manifest))
            .arg("--runtime-config-file")
            .arg(&config)
            .arg("--state-dir")
            .arg(state.path().join(".spin"))
            .envs(services.env())
            .envs(options.env.iter().cloned())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut process = spawn_spin(command);
        let log = Arc::new(Mutex::new(String::new()));
        for stream in [
            process.0.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
            process.0.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let url = loop {
            let served = log.lock().unwrap().lines().find_map(|l| Some(l.split_once("Serving http://")?.1.trim().to_owned()));
            if let Some(addr) = served {
                break format!("http://{addr}");
            }
            if let Ok(Some(_)) = process.0.try_wait() {
                std::thread::sleep(Duration::from_millis(200));
                return Err(log.lock().unwrap().clone());
            }
            if Instant::now() > deadline {
                return Err(format!("not serving after 120 s\n{}", log.lock().unwrap()));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Ok(App { url, log, process, state })
    }

    /// The log once `done` holds for it, waiting up to 30 s (output arrives through a pipe
    /// read by another thread, so it can trail the response).
    pub fn log_when(&self, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = self.log();
            if done(&log) || Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Where this app keeps its state files (`sqlite_db.db`, `sqlite_key_value.db`).
    pub fn state_dir(&self) -> PathBuf {
        self.state.path().join(".spin")
    }

    /// The process id of `spin up`.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// The process id of the `spin trigger http` that `spin up` started: the one that runs the
    /// components, holds the connections and uses the memory.
    pub fn server_pid(&self) -> Option<u32> {
        children(self.pid()).into_iter().next()
    }

    /// The real app with the shared services.
    pub fn start_default() -> App {
        App::start(AppOptions::default())
    }

    /// `method path` with an optional bearer token and JSON body.
    pub fn call(&self, token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.request(method, path);
        if let Some(token) = token {
            req = req.header("authorization", &format!("Bearer {token}"));
        }
        match body {
            Some(body) => req.json(&body),
            None => req.send(None),
        }
    }

    /// Everything Spin and the components printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    /// Sends a request; any status is a normal answer.
    pub fn request(&self, method: &str, path: &str) -> Req {
        Req { url: format!("{}{path}", self.url), method: method.to_owned(), headers: Vec::new() }
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path).send(None)
    }
}

/// A request to any URL (for example a presigned store URL).
pub fn http(method: &str, url: &str) -> Req {
    Req { url: url.to_owned(), method: method.to_owned(), headers: Vec::new() }
}

/// A request being built.
pub struct Req {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header pairs, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of the cookie `name` that this answer sets (`Set-Cookie`).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_owned))
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        // No connection reuse: a server may close a connection after answering early (413
        // before reading the body), and a test must not fail on another test's connection.
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    })
}

impl Req {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends with an optional body; a transport error (such as a server closing the
    /// connection before reading the body) is `Err`.
    pub fn try_send(self, body: Option<&[u8]>) -> Result<Reply, String> {
        let mut builder = http::Request::builder().method(self.method.as_str()).uri(&self.url);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let request = builder.body(body.map(<[u8]>::to_vec).unwrap_or_default()).map_err(|e| e.to_string())?;
        let mut response = agent().run(request).map_err(|e| e.to_string())?;
        let headers = response.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap_or_default();
        Ok(Reply { status, headers, body })
    }

    /// Sends with an optional body.
    pub fn send(self, body: Option<&[u8]>) -> Reply {
        let what = format!("{} {}", self.method, self.url);
        self.try_send(body).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Sends a JSON body.
    pub fn json(self, value: &Value) -> Reply {
        self.header("content-type", "application/json").send(Some(value.to_string().as_bytes()))
    }
}
