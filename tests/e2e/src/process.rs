//! Child processes: spawned so they die with the test process, scratch directories, and what
//! `/proc` says about a process.

use crate::*;

/// Spawns `command` so that it is killed when this process exits.
pub fn spawn(command: Command) -> Child {
    spawn_with_death_signal(command, libc::SIGKILL)
}

/// Spawns `command` so that it gets `signal` when this process exits.
///
/// `PR_SET_PDEATHSIG` fires when the spawning *thread* ends, so every child is spawned from one
/// thread that lives as long as the process.
pub(crate) fn spawn_with_death_signal(command: Command, signal: libc::c_int) -> Child {
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

pub(crate) fn run(command: &mut Command, what: &str) {
    let status = command.status().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(status.success(), "{what} failed: {status}");
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
pub(crate) fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(") ")?.1.split(' ').map(str::to_owned).collect())
}
