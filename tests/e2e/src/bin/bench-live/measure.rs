//! What one audience size costs the machine: the Spin app's memory, Spin and Redis CPU, and
//! Redis clients and commands over the idle hold, read from `/proc` and `INFO`.

use super::*;

pub(crate) struct Mem {
    pub(crate) rss_kb: u64,
    pub(crate) hwm_kb: u64,
}

#[derive(Default)]
pub(crate) struct Idle {
    pub(crate) redis_clients: Option<u64>,
    pub(crate) redis_ops_instant: Option<u64>,
    pub(crate) redis_ops_measured: Option<f64>,
    pub(crate) spin_cpu: Option<f64>,
    pub(crate) redis_cpu: Option<f64>,
}

/// App and Redis CPU, Redis clients and commands over the idle hold.
pub(crate) fn idle_hold(cfg: &Config, pid: Option<u32>, redis_pid: Option<u32>) -> Idle {
    let number = |m: &HashMap<String, String>, key: &str| m.get(key).and_then(|v| v.parse::<u64>().ok());
    let stats_before = redis_info("stats");
    let held = Instant::now();
    let cpu_before = (pid.and_then(cpu_secs), redis_pid.and_then(cpu_secs));
    std::thread::sleep(Duration::from_secs_f64(cfg.hold_secs));
    let cpu_after = (pid.and_then(cpu_secs), redis_pid.and_then(cpu_secs));
    let secs = held.elapsed().as_secs_f64();
    let stats_after = redis_info("stats");
    let clients = redis_info("clients");
    let commands = |m: &HashMap<String, String>| number(m, "total_commands_processed").map(|c| c as f64);
    Idle {
        redis_clients: number(&clients, "connected_clients"),
        redis_ops_instant: number(&stats_after, "instantaneous_ops_per_sec"),
        redis_ops_measured: rate(commands(&stats_before), commands(&stats_after), secs),
        spin_cpu: rate(cpu_before.0, cpu_after.0, secs),
        redis_cpu: rate(cpu_before.1, cpu_after.1, secs),
    }
}

pub(crate) fn mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name))?.split_whitespace().next()?.parse::<u64>().ok();
    Some(Mem { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:")? })
}

/// User plus system CPU seconds of a process, all its threads.
pub(crate) fn cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1);
    Some((utime + stime) as f64 / ticks as f64)
}

/// `after − before` per second.
pub(crate) fn rate(before: Option<f64>, after: Option<f64>, secs: f64) -> Option<f64> {
    if secs <= 0.0 {
        return None;
    }
    Some((after? - before?) / secs)
}

/// One `INFO` section of the harness's Redis as key → value.
pub(crate) fn redis_info(section: &str) -> HashMap<String, String> {
    Services::shared()
        .redis_cli(&["INFO", section])
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}
