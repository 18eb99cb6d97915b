//! The app under test: `spin build` once, then `spin up` of a manifest with the services'
//! addresses in its environment, in its own process group, stopped when dropped.

use crate::*;

/// Builds every component of the app with `spin build`, once per test binary.
pub fn build() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut spin = Command::new(spin_bin());
        spin.args(["build", "--from"]).arg(root().join("spin.toml")).current_dir(root()).stdout(Stdio::null());
        run(&mut spin, "spin build");
    });
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

pub(crate) fn spawn_spin(mut command: Command) -> SpinProcess {
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
        http(method, &format!("{}{path}", self.url))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path).send(None)
    }
}
