//! No Spin process outlives the test that started it. `spin up` runs the app in a child process
//! (`spin trigger http`), which killing `spin up` alone would leave running with its port and
//! memory: dropping an app stops both, and so does the test process dying without dropping it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{process_alive, App};

/// Waits up to 10 s for every process of `pids` to end; answers those still running.
fn survivors(pids: &[u32]) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<u32> = pids.iter().copied().filter(|&pid| process_alive(pid)).collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn dropping_an_app_stops_spin_and_its_trigger_process() {
    let app = App::start_default();
    assert_eq!(app.get("/auth/health").status, 200);
    let trigger = app.server_pid().expect("spin up runs the app in a child process");
    let spin = app.pid();
    drop(app);
    assert_eq!(survivors(&[spin, trigger]), Vec::<u32>::new(), "still running after the app was dropped");
}

/// Run by the test below in a process of its own: starts the app, prints the pids of `spin up`
/// and its child, then waits to be killed.
#[test]
#[ignore = "a helper process of the test below, not a test"]
fn helper_starts_an_app_and_waits() {
    if std::env::var_os("E2E_PROCESS_HELPER").is_none() {
        return;
    }
    let app = App::start_default();
    println!("pids {} {}", app.pid(), app.server_pid().unwrap());
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn spin_stops_when_the_test_process_is_killed() {
    let mut helper = Command::new(std::env::current_exe().unwrap());
    helper
        .args(["--exact", "helper_starts_an_app_and_waits", "--ignored", "--nocapture", "--test-threads=1"])
        .env("E2E_PROCESS_HELPER", "1")
        .stdout(Stdio::piped());
    let mut helper = e2e::spawn(helper);
    let mut pids = Vec::new();
    for line in BufReader::new(helper.stdout.take().unwrap()).lines() {
        // libtest writes `test NAME ... ` without a line break before the test's own output.
        if let Some((_, rest)) = line.unwrap().split_once("pids ") {
            pids = rest.split(' ').map(|p| p.parse::<u32>().unwrap()).collect();
            break;
        }
    }
    assert_eq!(pids.len(), 2, "the helper started no app");
    assert!(pids.iter().all(|&pid| process_alive(pid)), "spin up and its child run while the helper does");
    // As a crash or `kill -9` of a test binary would: no destructor runs.
    helper.kill().unwrap();
    helper.wait().unwrap();
    assert_eq!(survivors(&pids), Vec::<u32>::new(), "still running after the test process was killed");
}
