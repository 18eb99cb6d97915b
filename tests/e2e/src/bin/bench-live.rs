//! Live danmaku benchmark (run by `scripts/bench-live`; prints figures, asserts nothing).
//!
//! `spin up` serves the real release feed component against real Redis. For each audience
//! size (default 250, 500, 1,000, 1,500 and 2,000 viewers; `bench-live 1000` or
//! `LIVE_VIEWERS="250 500"` chooses others):
//! 1. a fresh `spin up` (`SPIN_MAX_INSTANCE_COUNT` viewers + 200; streams are bounded by the component's
//!    `danmaku_live_secs`, left at its default) and a fresh video;
//! 2. that many viewers open `GET /videos/{id}/danmaku/live` from 127.0.0.1, 100 every 0.5 s,
//!    each an EventSource written here over raw HTTP/1.1 (chunked bodies, SSE lines, `retry:`,
//!    reconnect with `Last-Event-ID` after `end` or a close), until every one has its `hello`;
//! 3. the Spin app process's (`spin trigger http`) VmRSS/VmHWM before and after the viewers connect, then an idle hold of 10 s
//!    (no posts): Spin and Redis CPU, Redis clients and operations per second;
//! 4. 50 danmaku/s for 20 s from 200 users, every text unique; each viewer's receive instant
//!    of each danmaku id against the instant its POST answered 201, 3 s of grace after the
//!    last one.
//!
//! It stops at the first size whose p99 exceeds 1 s, whose viewers could not all connect (or
//! gave up reconnecting), or that lost more than 1 % of the deliveries, and says which resource
//! gave out. The grace after the last post is extended, by 5 s at most, while viewers are
//! between two connections (waiting out `retry:`), so their replay is counted.
//!
//! Settings (environment): `LIVE_VIEWERS`, `LIVE_POST_RATE` (50), `LIVE_POST_SECS` (20),
//! `LIVE_POSTERS` (8 threads), `LIVE_HOLD_SECS` (10), `LIVE_GRACE_SECS` (3), `LIVE_OPEN_BATCH`
//! (100), `LIVE_OPEN_EVERY_MS` (500),
//! `LIVE_CLIENT_THREADS` (2), `LIVE_P99_LIMIT_MS` (1000), `LIVE_MISSING_LIMIT_PCT` (1),
//! `LIVE_MAX_SECS` (570: the whole run is cut off there).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use e2e::sse::{Body, Event, Parser};
use e2e::{json, receipt, App, AppOptions, Services, Value};
use tokio::net::TcpStream;

/// Users whose tokens the posts rotate through.
const USERS: usize = 200;
/// How often a waiting viewer looks at the stop flag.
const SLICE: Duration = Duration::from_millis(250);
const CONNECT_LIMIT: Duration = Duration::from_secs(10);
const HEAD_LIMIT: Duration = Duration::from_secs(15);
/// Heartbeats come at least every 10 s; a stream silent this long is treated as dead.
const IDLE_LIMIT: Duration = Duration::from_secs(25);
/// How long after the last viewer was started every one must have its `hello`.
const HELLO_WAIT: Duration = Duration::from_secs(30);
/// Network failures in a row after which a reconnecting viewer gives up.
const RECONNECT_ATTEMPTS: u32 = 5;
/// EventSource's reconnection time before the server sends `retry:`.
const DEFAULT_RETRY_MS: u64 = 3000;

struct Config {
    sizes: Vec<usize>,
    post_rate: f64,
    post_secs: f64,
    posters: usize,
    hold_secs: f64,
    grace_secs: f64,
    open_batch: usize,
    open_every_ms: u64,
    client_threads: usize,
    p99_limit_ms: f64,
    missing_limit_pct: f64,
    max_secs: u64,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a valid number")),
        _ => default,
    }
}

impl Config {
    fn load() -> Config {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let list = if args.is_empty() { std::env::var("LIVE_VIEWERS").unwrap_or_default() } else { args.join(" ") };
        let mut sizes: Vec<usize> = list
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().unwrap_or_else(|_| panic!("viewers {s:?} is not a number")))
            .collect();
        if sizes.is_empty() {
            sizes = vec![250, 500, 1000, 1500, 2000];
        }
        Config {
            sizes,
            post_rate: env_or("LIVE_POST_RATE", 50.0_f64).max(0.1),
            post_secs: env_or("LIVE_POST_SECS", 20.0_f64).max(0.1),
            posters: env_or("LIVE_POSTERS", 8_usize).max(1),
            hold_secs: env_or("LIVE_HOLD_SECS", 10.0_f64).max(0.1),
            grace_secs: env_or("LIVE_GRACE_SECS", 3.0_f64).max(0.0),
            open_batch: env_or("LIVE_OPEN_BATCH", 100_usize).max(1),
            open_every_ms: env_or("LIVE_OPEN_EVERY_MS", 500_u64),
            client_threads: env_or("LIVE_CLIENT_THREADS", 2_usize).max(1),
            p99_limit_ms: env_or("LIVE_P99_LIMIT_MS", 1000.0_f64),
            missing_limit_pct: env_or("LIVE_MISSING_LIMIT_PCT", 1.0_f64),
            max_secs: env_or("LIVE_MAX_SECS", 570_u64),
        }
    }
}

fn main() {
    let cfg = Config::load();
    let (soft, hard) = raise_fd_limit();
    watchdog(cfg.max_secs);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(cfg.client_threads).enable_all().build().expect("tokio runtime");
    let users: Vec<String> = (0..USERS).map(|i| format!("live-bench-user-{i}")).collect();
    let tokens: Vec<String> = users.iter().map(|u| e2e::access_token(u)).collect();
    let maxclients = Services::shared().redis_cli(&["CONFIG", "GET", "maxclients"]).lines().nth(1).unwrap_or("?").trim().to_owned();
    let max_map_count = std::fs::read_to_string("/proc/sys/vm/max_map_count").map(|s| s.trim().to_owned()).unwrap_or_else(|_| "?".into());
    let largest = cfg.sizes.iter().copied().max().unwrap_or(0);

    println!(
        "live danmaku: GET /videos/{{id}}/danmaku/live on Spin, a fresh `spin up` and video per size; \
         viewers from 127.0.0.1, {} every {} ms",
        cfg.open_batch, cfg.open_every_ms
    );
    println!(
        "posts: {}/s for {} s from {USERS} users (unique texts); idle hold {} s; grace {} s (up to 5 s more while viewers reconnect); danmaku_live_secs default; \
         SPIN_MAX_INSTANCE_COUNT viewers+200",
        cfg.post_rate,
        cfg.post_secs,
        cfg.hold_secs,
        cfg.grace_secs,
    );
    println!(
        "open files: soft {soft}, hard {hard} (Spin and redis-server inherit it); redis maxclients {maxclients}; \
         vm.max_map_count {max_map_count}; client: {} tokio worker threads, {} poster threads",
        cfg.client_threads, cfg.posters
    );
    if (soft as f64) < (largest as f64) * 1.2 + 500.0 {
        println!("warning: the open-files limit {soft} is low for {largest} viewers (each is a socket here and in Spin)");
    }
    println!(
        "latency: receive instant − the instant the POST answered 201, over live deliveries (not replays after a reconnect); clamped at 0"
    );
    println!();
    println!("| viewers | connected | posts acked | items/s delivered | missing | duplicates | p50 | p90 | p99 | max | stream opens not 200 | posts not 201 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");

    let mut results: Vec<SizeResult> = Vec::new();
    let mut verdict = None;
    for &n in &cfg.sizes {
        match run_size(&cfg, &rt, n, &tokens, &users[0]) {
            Ok(result) => {
                println!("{}", result.row());
                let gave_out = result.gave_out(&cfg);
                results.push(result);
                if let Some(reason) = gave_out {
                    verdict = Some(format!("knee: {n} viewers — {reason}"));
                    break;
                }
            }
            Err(e) => {
                println!("| {n} | could not run: {e} | | | | | | | | | | |");
                verdict = Some(format!("stopped at {n} viewers: {e}"));
                break;
            }
        }
    }

    println!();
    println!("What the held streams cost (memory once all are connected; CPU and Redis over the idle hold, no posts):");
    println!();
    println!(
        "| viewers | Spin VmRSS before → connected | VmRSS per stream | VmHWM per stream | Spin fds / maps | Redis connected_clients \
         | Redis ops/s idle (instantaneous / over hold) | Spin CPU idle | Redis CPU idle | Spin CPU posting | Redis CPU posting | bench client CPU posting |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for result in &results {
        println!("{}", result.resource_row());
    }
    println!();
    println!("Details:");
    for result in &results {
        println!("{}", result.details());
    }
    println!();
    println!(
        "{}",
        verdict.unwrap_or_else(|| format!(
            "no knee up to {largest} viewers (every viewer connected, posts on schedule, p99 ≤ {} ms, at most {} % of deliveries missing)",
            cfg.p99_limit_ms, cfg.missing_limit_pct
        ))
    );
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// Raises the soft open-files limit to the hard one (children inherit it); answers both.
fn raise_fd_limit() -> (libc::rlim_t, libc::rlim_t) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit with valid pointers to local structs.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return (0, 0);
        }
        let mut target = limit.rlim_max;
        if target == libc::RLIM_INFINITY {
            // The kernel refuses more than fs.nr_open.
            target = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(1 << 20);
        }
        if limit.rlim_cur < target {
            let raised = libc::rlimit { rlim_cur: target, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    (limit.rlim_cur, limit.rlim_max)
}

/// Ends the process (and with it every child) if the run takes longer than `secs`.
fn watchdog(secs: u64) {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        eprintln!("bench-live: still running after {secs} s (LIVE_MAX_SECS); stopping");
        std::process::exit(3);
    });
}

// ---------------------------------------------------------------------------------------------
// One audience size.

struct Mem {
    rss_kb: u64,
    hwm_kb: u64,
}

#[derive(Default)]
struct Idle {
    redis_clients: Option<u64>,
    redis_ops_instant: Option<u64>,
    redis_ops_measured: Option<f64>,
    spin_cpu: Option<f64>,
    redis_cpu: Option<f64>,
}

struct Post {
    sent_us: u64,
    ack_us: u64,
    lag_us: u64,
    /// The danmaku id, from a 201.
    id: Option<u64>,
    /// What went wrong, for anything but a 201.
    error: Option<String>,
}

#[derive(Default)]
struct Deliveries {
    received: u64,
    distinct: u64,
    duplicates: u64,
    unknown: u64,
    clamped: u64,
    live: Vec<u64>,
    replay: Vec<u64>,
}

struct SizeResult {
    n: usize,
    connected: usize,
    failed_opens: usize,
    no_hello: usize,
    open_secs: f64,
    server_viewers: u64,
    opens_not_ok: BTreeMap<String, u64>,
    posts: usize,
    acked: usize,
    post_errors: BTreeMap<String, u64>,
    post_p50_us: u64,
    post_p99_us: u64,
    post_max_lag_us: u64,
    window_secs: f64,
    deliveries: Deliveries,
    batches: u64,
    reconnects: u64,
    reconnects_without_id: u64,
    ends: u64,
    closes_without_end: u64,
    stalls: u64,
    dropped: u64,
    skipped: u64,
    merged: u64,
    id_mismatch: u64,
    bad_events: u64,
    bad_framing: u64,
    other_events: u64,
    lost_tasks: usize,
    open_at_stop: i64,
    stop_after_us: u64,
    mem_before: Option<Mem>,
    mem_after: Option<Mem>,
    fds: Option<usize>,
    maps: Option<usize>,
    idle: Idle,
    spin_cpu_posting: Option<f64>,
    redis_cpu_posting: Option<f64>,
    client_cpu_posting: Option<f64>,
    spin_errors: usize,
    first_spin_error: Option<String>,
}

fn run_size(cfg: &Config, rt: &tokio::runtime::Runtime, n: usize, tokens: &[String], owner: &str) -> Result<SizeResult, String> {
    eprintln!("[{n}] starting spin up with SPIN_MAX_INSTANCE_COUNT={}", n + 200);
    let app = App::try_start(AppOptions {
        env: vec![
            ("SPIN_VARIABLE_LIVE_STREAMS_PER_CLIENT".into(), "100000".into()),
            ("SPIN_VARIABLE_LIVE_STREAMS_PER_INSTANCE".into(), "100000".into()),
            ("SPIN_VARIABLE_DANMAKU_PER_TEN_SECONDS".into(), "100000".into()),
            ("SPIN_MAX_INSTANCE_COUNT".into(), (n + 200).to_string()),
        ],
        ..AppOptions::default()
    })
    .map_err(|log| format!("spin up did not start: {}", tail(&log, 8)))?;
    let addr = app.addr();
    let pid = app.server_pid();
    if pid.is_none() {
        eprintln!("[{n}] the pid of spin trigger http not found: no memory or CPU figures");
    }
    let reply = app
        .request("POST", "/videos")
        .header("authorization", &format!("Bearer {}", tokens[0]))
        .json(&json!({ "receipt": receipt(owner), "title": format!("live bench {n}") }));
    if reply.status != 201 {
        return Err(format!("POST /videos answered {}: {}", reply.status, reply.text()));
    }
    let video = reply.json()["id"].as_u64().ok_or("POST /videos answered no id")?;

    let shared = Arc::new(Shared {
        start: Instant::now(),
        addr,
        host: addr.to_string(),
        path: format!("/videos/{video}/danmaku/live"),
        stop: AtomicBool::new(false),
        hellos: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        open_streams: AtomicI64::new(0),
        server_viewers: AtomicU64::new(0),
        gave_up: AtomicU64::new(0),
        opens_not_ok: Mutex::new(BTreeMap::new()),
    });
    let mem_before = pid.and_then(mem);

    // Viewers, gradually.
    eprintln!("[{n}] opening {n} viewers on video {video}");
    let opening = Instant::now();
    let mut handles = Vec::with_capacity(n);
    for i in 0..n {
        handles.push(rt.spawn(Viewer::new(shared.clone()).run()));
        if (i + 1) % cfg.open_batch == 0 && i + 1 < n {
            std::thread::sleep(Duration::from_millis(cfg.open_every_ms));
        }
    }
    let deadline = Instant::now() + HELLO_WAIT;
    while shared.hellos.load(Relaxed) + shared.failed.load(Relaxed) < n as u64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let open_secs = opening.elapsed().as_secs_f64();
    let connected = shared.hellos.load(Relaxed) as usize;
    let failed_opens = shared.failed.load(Relaxed) as usize;
    let no_hello = n.saturating_sub(connected + failed_opens);
    eprintln!("[{n}] {connected} with hello, {failed_opens} refused or failed, {no_hello} without hello after {open_secs:.1} s");
    let mem_after = pid.and_then(mem);
    let fds = pid.and_then(|p| std::fs::read_dir(format!("/proc/{p}/fd")).ok().map(Iterator::count));
    let maps = pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/maps")).ok().map(|m| m.lines().count()));
    let server_viewers = shared.server_viewers.load(Relaxed);

    // What an idle room costs.
    eprintln!("[{n}] idle hold {} s", cfg.hold_secs);
    let redis_pid: Option<u32> = redis_info("server").get("process_id").and_then(|v| v.parse().ok());
    let idle = idle_hold(cfg, pid, redis_pid);

    // Posts.
    let cpu_before = (pid.and_then(cpu_secs), redis_pid.and_then(cpu_secs), cpu_secs(std::process::id()));
    let posting = Instant::now();
    let posts = if connected > 0 {
        eprintln!("[{n}] posting {}/s for {} s", cfg.post_rate, cfg.post_secs);
        post_danmaku(cfg, &app.url, video, tokens, &shared, n)
    } else {
        Vec::new()
    };
    let last_ack = posts.iter().filter(|p| p.id.is_some()).map(|p| p.ack_us).max().unwrap_or_else(|| shared.now_us());
    let until = shared.start + Duration::from_micros(last_ack) + Duration::from_secs_f64(cfg.grace_secs);
    if let Some(wait) = until.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
    // Viewers between two connections get what they missed as a replay once they reconnect.
    let settle_until = Instant::now() + Duration::from_secs(5);
    let mut settled_reconnects = false;
    while (shared.open_streams.load(Relaxed).max(0) as u64) < shared.hellos.load(Relaxed).saturating_sub(shared.gave_up.load(Relaxed))
        && Instant::now() < settle_until
    {
        settled_reconnects = true;
        std::thread::sleep(Duration::from_millis(50));
    }
    if settled_reconnects {
        std::thread::sleep(Duration::from_millis(500));
    }
    let stop_after_us = shared.now_us().saturating_sub(last_ack);
    let posting_secs = posting.elapsed().as_secs_f64();
    let spin_cpu_posting = rate(cpu_before.0, pid.and_then(cpu_secs), posting_secs);
    let redis_cpu_posting = rate(cpu_before.1, redis_pid.and_then(cpu_secs), posting_secs);
    let client_cpu_posting = rate(cpu_before.2, cpu_secs(std::process::id()), posting_secs);
    let open_at_stop = shared.open_streams.load(Relaxed);

    // Stop every viewer; each looks at the flag at least every SLICE.
    shared.stop.store(true, Relaxed);
    let (logs, lost_tasks) = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut logs = Vec::with_capacity(handles.len());
        let mut lost = 0;
        for mut handle in handles {
            match tokio::time::timeout_at(deadline, &mut handle).await {
                Ok(Ok(log)) => logs.push(log),
                Ok(Err(_)) => lost += 1,
                Err(_) => {
                    handle.abort();
                    lost += 1;
                }
            }
        }
        (logs, lost)
    });

    let log = app.log();
    // Spin's own errors, and streams the component ended early (Redis failing).
    let errors: Vec<&str> = log.lines().filter(|l| l.contains("error:") || l.contains("ended early")).collect();
    let opens_not_ok = shared.opens_not_ok.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();

    let deliveries = deliveries(&logs, &posts);
    let mut post_errors = BTreeMap::new();
    for post in &posts {
        if let Some(error) = &post.error {
            *post_errors.entry(error.clone()).or_insert(0) += 1;
        }
    }
    let acked: Vec<&Post> = posts.iter().filter(|p| p.id.is_some()).collect();
    let mut post_latency: Vec<u64> = acked.iter().map(|p| p.ack_us.saturating_sub(p.sent_us)).collect();
    post_latency.sort_unstable();
    let window_secs = match (acked.iter().map(|p| p.sent_us).min(), acked.iter().map(|p| p.ack_us).max()) {
        (Some(first), Some(last)) if last > first => (last - first) as f64 / 1e6,
        _ => 0.0,
    };
    let sum = |f: fn(&ViewerLog) -> u64| logs.iter().map(f).sum::<u64>();
    let result = SizeResult {
        n,
        connected,
        failed_opens,
        no_hello,
        open_secs,
        server_viewers,
        opens_not_ok,
        posts: posts.len(),
        acked: acked.len(),
        post_errors,
        post_p50_us: percentile(&post_latency, 50.0),
        post_p99_us: percentile(&post_latency, 99.0),
        post_max_lag_us: posts.iter().map(|p| p.lag_us).max().unwrap_or(0),
        window_secs,
        deliveries,
        batches: sum(|l| l.batches),
        reconnects: sum(|l| l.opens.len().saturating_sub(1) as u64),
        reconnects_without_id: sum(|l| l.reconnects_without_id),
        ends: sum(|l| l.ends),
        closes_without_end: sum(|l| l.closes_without_end),
        stalls: sum(|l| l.stalls),
        dropped: sum(|l| u64::from(l.dropped)),
        skipped: sum(|l| l.skipped),
        merged: sum(|l| l.merged),
        id_mismatch: sum(|l| l.id_mismatch),
        bad_events: sum(|l| l.bad_events),
        bad_framing: sum(|l| l.bad_framing),
        other_events: sum(|l| l.other_events),
        lost_tasks,
        open_at_stop,
        stop_after_us,
        mem_before,
        mem_after,
        fds,
        maps,
        idle,
        spin_cpu_posting,
        redis_cpu_posting,
        client_cpu_posting,
        spin_errors: errors.len(),
        first_spin_error: errors.first().map(|e| e.chars().take(200).collect()),
    };
    drop(app);
    Ok(result)
}

/// App and Redis CPU, Redis clients and commands over the idle hold.
fn idle_hold(cfg: &Config, pid: Option<u32>, redis_pid: Option<u32>) -> Idle {
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

/// `cfg.post_rate` danmaku a second for `cfg.post_secs` on `video`, from `cfg.posters` threads
/// on a fixed schedule (post k is due at k / rate), rotating the users' tokens.
fn post_danmaku(cfg: &Config, base: &str, video: u64, tokens: &[String], shared: &Shared, n: usize) -> Vec<Post> {
    let total = (cfg.post_rate * cfg.post_secs).round() as usize;
    let first_due = Instant::now() + Duration::from_millis(100);
    let url = format!("{base}/videos/{video}/danmaku");
    let url = url.as_str();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..cfg.posters)
            .map(|worker| {
                scope.spawn(move || {
                    let mut posts = Vec::new();
                    for seq in (worker..total).step_by(cfg.posters) {
                        let due = first_due + Duration::from_secs_f64(seq as f64 / cfg.post_rate);
                        if let Some(wait) = due.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let sent = Instant::now();
                        let sent_us = shared.now_us();
                        // Unique per post: nothing merges, and no user repeats a text.
                        let body = json!({ "time_ms": (seq * 7919) % 600_000, "text": format!("live {n} post {seq} ok") });
                        let reply = e2e::http("POST", url)
                            .header("authorization", &format!("Bearer {}", tokens[seq % tokens.len()]))
                            .header("content-type", "application/json")
                            .try_send(Some(body.to_string().as_bytes()));
                        let ack_us = shared.now_us();
                        let lag_us = sent.saturating_duration_since(due).as_micros() as u64;
                        let post = match reply {
                            Ok(reply) => {
                                let answer: Option<Value> = serde_json::from_slice(&reply.body).ok();
                                let id = answer.as_ref().and_then(|v| v["id"].as_u64());
                                if reply.status == 201 && id.is_some() {
                                    Post { sent_us, ack_us, lag_us, id, error: None }
                                } else {
                                    let code = answer.as_ref().and_then(|v| v["code"].as_str()).unwrap_or("");
                                    let error = format!("{} {code}", reply.status).trim_end().to_owned();
                                    Post { sent_us, ack_us, lag_us, id: None, error: Some(error) }
                                }
                            }
                            Err(e) => Post {
                                sent_us,
                                ack_us,
                                lag_us,
                                id: None,
                                error: Some(format!("no answer: {}", e.chars().take(60).collect::<String>())),
                            },
                        };
                        posts.push(post);
                    }
                    posts
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().expect("poster thread")).collect()
    })
}

/// Matches what the viewers received with what was acknowledged.
fn deliveries(logs: &[ViewerLog], posts: &[Post]) -> Deliveries {
    let acked: HashMap<u64, u64> = posts.iter().filter_map(|p| Some((p.id?, p.ack_us))).collect();
    let mut d = Deliveries::default();
    for log in logs.iter().filter(|l| l.hello) {
        let mut ids = Vec::with_capacity(log.got.len());
        for &(id, at) in &log.got {
            let Some(&ack) = acked.get(&id) else {
                d.unknown += 1;
                continue;
            };
            ids.push(id);
            // The connection that carried it: the last one opened before it arrived.
            let opened = log.opens[log.opens.partition_point(|&o| o <= at).saturating_sub(1)];
            if at < ack {
                d.clamped += 1;
            }
            let latency = at.saturating_sub(ack);
            if opened > ack {
                d.replay.push(latency);
            } else {
                d.live.push(latency);
            }
        }
        d.received += ids.len() as u64;
        ids.sort_unstable();
        let all = ids.len();
        ids.dedup();
        d.distinct += ids.len() as u64;
        d.duplicates += (all - ids.len()) as u64;
    }
    d.live.sort_unstable();
    d.replay.sort_unstable();
    d
}

impl SizeResult {
    fn missing(&self) -> u64 {
        (self.acked as u64 * self.connected as u64).saturating_sub(self.deliveries.distinct)
    }

    fn live_p99_ms(&self) -> Option<f64> {
        (!self.deliveries.live.is_empty()).then(|| percentile(&self.deliveries.live, 99.0) as f64 / 1000.0)
    }

    fn row(&self) -> String {
        let d = &self.deliveries;
        let per_sec = if self.window_secs > 0.0 { d.received as f64 / self.window_secs } else { 0.0 };
        let latency = |p: f64| if d.live.is_empty() { "-".to_owned() } else { duration(percentile(&d.live, p)) };
        format!(
            "| {} | {} | {} of {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(self.n as u64),
            thousands(self.connected as u64),
            thousands(self.acked as u64),
            thousands(self.posts as u64),
            thousands(per_sec.round() as u64),
            thousands(self.missing()),
            thousands(d.duplicates),
            latency(50.0),
            latency(90.0),
            latency(99.0),
            d.live.last().map_or("-".to_owned(), |&m| duration(m)),
            counts(&self.opens_not_ok),
            counts(&self.post_errors),
        )
    }

    fn resource_row(&self) -> String {
        let mib = |kb: u64| kb as f64 / 1024.0;
        let (memory, rss, hwm) = match (&self.mem_before, &self.mem_after) {
            (Some(b), Some(a)) if self.connected > 0 => {
                let per = |after: u64, before: u64| format!("{:.0} KiB", after.saturating_sub(before) as f64 / self.connected as f64);
                (format!("{:.1} → {:.1} MiB", mib(b.rss_kb), mib(a.rss_kb)), per(a.rss_kb, b.rss_kb), per(a.hwm_kb, b.hwm_kb))
            }
            (Some(b), Some(a)) => (format!("{:.1} → {:.1} MiB", mib(b.rss_kb), mib(a.rss_kb)), "-".into(), "-".into()),
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let core = |v: Option<f64>| opt(v.map(|c| format!("{:.1} %", c * 100.0)));
        format!(
            "| {} | {memory} | {rss} | {hwm} | {} / {} | {} | {} / {} | {} | {} | {} | {} | {} |",
            thousands(self.n as u64),
            opt(self.fds.map(|f| thousands(f as u64))),
            opt(self.maps.map(|m| thousands(m as u64))),
            opt(self.idle.redis_clients.map(|c| c.to_string())),
            opt(self.idle.redis_ops_instant.map(|o| o.to_string())),
            opt(self.idle.redis_ops_measured.map(|o| format!("{o:.1}"))),
            core(self.idle.spin_cpu),
            core(self.idle.redis_cpu),
            core(self.spin_cpu_posting),
            core(self.redis_cpu_posting),
            core(self.client_cpu_posting),
        )
    }

    fn details(&self) -> String {
        let d = &self.deliveries;
        let mut s = format!(
            "- {} viewers: {} got `hello` within {:.1} s of the first open ({} refused or failed, {} no hello); the server last said viewers={}. \
             Posts: {} acknowledged of {} over {:.1} s, POST p50 {} p99 {}, at most {} behind schedule. \
             Deliveries: {} live, {} replayed after a reconnect (p99 {}), {} arrived before their POST answered (clamped to 0), \
             {} carried ids of no acknowledged post; {} danmaku events ({}/s). \
             Streams: {} reconnects ({} without Last-Event-ID), {} `end`, {} closed without `end`, {} silent > {} s, {} viewers gave up, \
             {} open at the stop, {} after the last acknowledged post; {} `skipped`, {} items with count ≠ 1, {} `id:` ≠ newest item, {} unparseable events, \
             {} framing errors, {} other events.",
            thousands(self.n as u64),
            thousands(self.connected as u64),
            self.open_secs,
            self.failed_opens,
            self.no_hello,
            self.server_viewers,
            thousands(self.acked as u64),
            thousands(self.posts as u64),
            self.window_secs,
            duration(self.post_p50_us),
            duration(self.post_p99_us),
            duration(self.post_max_lag_us),
            thousands(d.live.len() as u64),
            thousands(d.replay.len() as u64),
            if d.replay.is_empty() { "-".to_owned() } else { duration(percentile(&d.replay, 99.0)) },
            thousands(d.clamped),
            thousands(d.unknown),
            thousands(self.batches),
            thousands(if self.window_secs > 0.0 { (self.batches as f64 / self.window_secs).round() as u64 } else { 0 }),
            thousands(self.reconnects),
            thousands(self.reconnects_without_id),
            thousands(self.ends),
            thousands(self.closes_without_end),
            self.stalls,
            IDLE_LIMIT.as_secs(),
            self.dropped,
            self.open_at_stop,
            duration(self.stop_after_us),
            self.skipped,
            self.merged,
            self.id_mismatch,
            self.bad_events,
            self.bad_framing,
            self.other_events,
        );
        if self.lost_tasks > 0 {
            let _ = write!(s, " {} viewer tasks did not stop in time (their deliveries are not counted).", self.lost_tasks);
        }
        if self.spin_errors > 0 {
            let _ = write!(s, " Spin logged {} errors, first: `{}`.", self.spin_errors, self.first_spin_error.as_deref().unwrap_or(""));
        }
        s
    }

    /// Why this size is the knee, if it is.
    fn gave_out(&self, cfg: &Config) -> Option<String> {
        if self.connected < self.n || self.dropped > 0 {
            let mut causes: Vec<String> = Vec::new();
            for (label, count) in &self.opens_not_ok {
                let cause = format!("{} ({label} ×{count})", resource_of(label));
                causes.push(cause);
            }
            if self.no_hello > 0 {
                causes.push(format!(
                    "Spin too slow to open streams ({} viewers without hello after {} s)",
                    self.no_hello,
                    HELLO_WAIT.as_secs()
                ));
            }
            return Some(format!(
                "connections failed ({} of {} connected, {} gave up on a reconnect): {}",
                self.connected,
                self.n,
                self.dropped,
                if causes.is_empty() { "no cause recorded".to_owned() } else { causes.join("; ") }
            ));
        }
        let expected = self.acked as u64 * self.connected as u64;
        if expected > 0 && self.missing() as f64 > expected as f64 * cfg.missing_limit_pct / 100.0 {
            return Some(format!(
                "deliveries lost: {} of {} ({:.2} %) missing {} after the last post; {}",
                thousands(self.missing()),
                thousands(expected),
                self.missing() as f64 * 100.0 / expected as f64,
                duration(self.stop_after_us),
                self.cpu_note()
            ));
        }
        // The posts share the two cores with the fan-out: when they cannot keep their
        // schedule, the room no longer gets the rate asked for.
        if self.window_secs > cfg.post_secs * 1.1 {
            return Some(format!(
                "posting fell behind: {} posts took {:.1} s instead of {:.0} s ({:.0}/s of {:.0}/s asked), POST p50 {}; {}",
                thousands(self.acked as u64),
                self.window_secs,
                cfg.post_secs,
                self.acked as f64 / self.window_secs,
                cfg.post_rate,
                duration(self.post_p50_us),
                self.cpu_note()
            ));
        }
        let p99 = self.live_p99_ms()?;
        (p99 > cfg.p99_limit_ms)
            .then(|| format!("latency: p99 {} > {} ms; {}", duration((p99 * 1000.0) as u64), cfg.p99_limit_ms, self.cpu_note()))
    }

    /// CPU while posting, for a verdict.
    fn cpu_note(&self) -> String {
        let core = |v: Option<f64>| v.map_or("?".to_owned(), |c| format!("{:.0} %", c * 100.0));
        format!(
            "CPU while posting (of one core; the machine has {}): Spin {}, Redis {}, this client {}",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            core(self.spin_cpu_posting),
            core(self.redis_cpu_posting),
            core(self.client_cpu_posting)
        )
    }
}

/// The resource an open's failure points at.
fn resource_of(label: &str) -> &'static str {
    if label.contains("live-full") {
        "streams per edge instance (live_streams_per_instance)"
    } else if label.contains("too-many-streams") {
        "streams per client address (live_streams_per_client)"
    } else if label.contains("redis-unavailable") {
        "Redis"
    } else if label.starts_with("503") {
        "Spin instance slots (SPIN_MAX_INSTANCE_COUNT)"
    } else if label.contains("os error 24") {
        "file descriptors (open-files limit)"
    } else if label.contains("os error 99") {
        "loopback ports"
    } else if label.starts_with("connect") || label.contains("closed before") || label.contains("reset") {
        "Spin accepting connections (listen backlog, file descriptors)"
    } else if label.starts_with("no answer") {
        "Spin too slow to answer stream opens (CPU)"
    } else if label.starts_with('5') {
        "Spin or the component failing (see Spin's log)"
    } else {
        "see the answer"
    }
}

// ---------------------------------------------------------------------------------------------
// Viewers: EventSource over raw HTTP/1.1.

struct Shared {
    start: Instant,
    addr: SocketAddr,
    host: String,
    path: String,
    stop: AtomicBool,
    /// Viewers that got their first `hello`.
    hellos: AtomicU64,
    /// Viewers whose first open failed or was refused.
    failed: AtomicU64,
    /// Streams with a 200 head whose body is being read now.
    open_streams: AtomicI64,
    /// The latest viewer count the server announced.
    server_viewers: AtomicU64,
    /// Viewers that gave up reconnecting.
    gave_up: AtomicU64,
    /// Stream opens (first or reconnect) that did not give a 200 event stream, by status and
    /// problem code, or by network error.
    opens_not_ok: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    /// Microseconds since this size's start: every instant of posts and deliveries.
    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn count(&self, label: String) {
        *self.opens_not_ok.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(label).or_insert(0) += 1;
    }

    fn failed_open(&self, label: String) -> Outcome {
        self.count(label);
        Outcome::OpenFailed
    }
}

#[derive(Default)]
struct ViewerLog {
    /// When each connection was opened (µs), the first included.
    opens: Vec<u64>,
    /// (danmaku id, µs) for every item received.
    got: Vec<(u64, u64)>,
    hello: bool,
    dropped: bool,
    batches: u64,
    ends: u64,
    closes_without_end: u64,
    stalls: u64,
    skipped: u64,
    merged: u64,
    id_mismatch: u64,
    bad_events: u64,
    bad_framing: u64,
    other_events: u64,
    reconnects_without_id: u64,
}

/// How one connection ended.
enum Outcome {
    /// `end`, a close, or silence: reconnect after the retry delay.
    Ended,
    /// A network failure before a 200 head: a reconnect tries again, a first open gives up.
    OpenFailed,
    /// An answer other than a 200 event stream: EventSource gives up.
    Refused,
    Stopped,
}

enum Wait<T> {
    Done(T),
    TimedOut,
    Stopped,
}

/// `fut` within `limit`, or until the stop flag is set.
async fn wait<F: Future>(stop: &AtomicBool, limit: Duration, fut: F) -> Wait<F::Output> {
    let deadline = Instant::now() + limit;
    let mut fut = std::pin::pin!(fut);
    loop {
        if stop.load(Relaxed) {
            return Wait::Stopped;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Wait::TimedOut;
        }
        if let Ok(output) = tokio::time::timeout(left.min(SLICE), fut.as_mut()).await {
            return Wait::Done(output);
        }
    }
}

async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            result => return result,
        }
    }
}

async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

struct Viewer {
    shared: Arc<Shared>,
    log: ViewerLog,
    /// EventSource's last event ID string: sent as `Last-Event-ID` when not empty.
    last_event_id: String,
    /// EventSource's reconnection time.
    retry_ms: u64,
    buf: Vec<u8>,
}

impl Viewer {
    fn new(shared: Arc<Shared>) -> Viewer {
        Viewer { shared, log: ViewerLog::default(), last_event_id: String::new(), retry_ms: DEFAULT_RETRY_MS, buf: vec![0; 16 * 1024] }
    }

    async fn run(mut self) -> ViewerLog {
        let mut failures = 0;
        loop {
            let first = self.log.opens.is_empty();
            if !first && self.last_event_id.is_empty() {
                self.log.reconnects_without_id += 1;
            }
            self.log.opens.push(self.shared.now_us());
            match self.connection().await {
                Outcome::Stopped => break,
                Outcome::Ended => failures = 0,
                Outcome::Refused | Outcome::OpenFailed if first => {
                    self.shared.failed.fetch_add(1, Relaxed);
                    break;
                }
                Outcome::Refused => {
                    self.log.dropped = true;
                    break;
                }
                Outcome::OpenFailed => {
                    failures += 1;
                    if failures >= RECONNECT_ATTEMPTS {
                        self.log.dropped = true;
                        break;
                    }
                }
            }
            let pause = Duration::from_millis(self.retry_ms);
            if matches!(wait(&self.shared.stop, pause, std::future::pending::<()>()).await, Wait::Stopped) {
                break;
            }
        }
        if self.log.dropped {
            self.shared.gave_up.fetch_add(1, Relaxed);
        }
        self.log
    }

    /// One request: connect, send, read the head, then the event stream until it ends.
    async fn connection(&mut self) -> Outcome {
        let shared = self.shared.clone();
        let stream = match wait(&shared.stop, CONNECT_LIMIT, TcpStream::connect(shared.addr)).await {
            Wait::Stopped => return Outcome::Stopped,
            Wait::TimedOut => return shared.failed_open("connect: no connection within 10 s".to_owned()),
            Wait::Done(Err(e)) => return shared.failed_open(format!("connect: {e}")),
            Wait::Done(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let mut request =
            format!("GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n", shared.path, shared.host);
        if !self.last_event_id.is_empty() {
            let _ = write!(request, "Last-Event-ID: {}\r\n", self.last_event_id);
        }
        request.push_str("\r\n");
        match wait(&shared.stop, HEAD_LIMIT, write_all(&stream, request.as_bytes())).await {
            Wait::Stopped => return Outcome::Stopped,
            Wait::TimedOut => return shared.failed_open("send: not written within 15 s".to_owned()),
            Wait::Done(Err(e)) => return shared.failed_open(format!("send: {e}")),
            Wait::Done(Ok(())) => {}
        }
        let deadline = Instant::now() + HEAD_LIMIT;
        let mut raw: Vec<u8> = Vec::new();
        let head_len = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if raw.len() > 64 * 1024 {
                return shared.failed_open("answer head over 64 KiB".to_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match wait(&shared.stop, left, read_some(&stream, &mut self.buf)).await {
                Wait::Stopped => return Outcome::Stopped,
                Wait::TimedOut => return shared.failed_open("no answer within 15 s".to_owned()),
                Wait::Done(Err(e)) => return shared.failed_open(format!("read answer: {e}")),
                Wait::Done(Ok(0)) => return shared.failed_open("closed before answering".to_owned()),
                Wait::Done(Ok(n)) => raw.extend_from_slice(&self.buf[..n]),
            }
        };
        let head = Head::parse(&raw[..head_len]);
        let rest = raw.split_off(head_len);
        let mut decoder = Body::new(head.chunked, head.content_length);
        if head.status != 200 {
            let body = self.small_body(&stream, &mut decoder, &rest).await;
            shared.count(refusal_label(&head, &body));
            return Outcome::Refused;
        }
        if !head.content_type.to_ascii_lowercase().starts_with("text/event-stream") {
            shared.count(format!("200 with content-type {:?}", head.content_type));
            return Outcome::Refused;
        }
        shared.open_streams.fetch_add(1, Relaxed);
        let outcome = self.events(&stream, decoder, rest).await;
        shared.open_streams.fetch_sub(1, Relaxed);
        outcome
    }

    /// Up to 16 KiB of an error answer's body, within 2 s.
    async fn small_body(&mut self, stream: &TcpStream, decoder: &mut Body, first: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut done = decoder.feed(first, &mut body).unwrap_or(true);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !done && body.len() < 16 * 1024 {
            let left = deadline.saturating_duration_since(Instant::now());
            match wait(&self.shared.stop, left, read_some(stream, &mut self.buf)).await {
                Wait::Done(Ok(n)) if n > 0 => done = decoder.feed(&self.buf[..n], &mut body).unwrap_or(true),
                _ => break,
            }
        }
        body
    }

    /// Reads the event stream, `first` being body bytes that came with the head.
    async fn events(&mut self, stream: &TcpStream, mut decoder: Body, first: Vec<u8>) -> Outcome {
        let shared = self.shared.clone();
        let mut parser = Parser::new(&self.last_event_id);
        let mut input = first;
        let mut body = Vec::new();
        let mut events = Vec::new();
        let mut at = shared.now_us();
        loop {
            body.clear();
            let done = match decoder.feed(&input, &mut body) {
                Ok(done) => done,
                Err(_) => {
                    self.log.bad_framing += 1;
                    return Outcome::Ended;
                }
            };
            parser.feed(&body, &mut events);
            if let Some(retry) = parser.take_retry() {
                self.retry_ms = retry;
            }
            for event in events.drain(..) {
                self.last_event_id.clone_from(&event.last_id);
                if self.handle(&event, at) {
                    self.log.ends += 1;
                    return Outcome::Ended;
                }
            }
            self.last_event_id = parser.last_event_id().to_owned();
            if done {
                self.log.closes_without_end += 1;
                return Outcome::Ended;
            }
            match wait(&shared.stop, IDLE_LIMIT, read_some(stream, &mut self.buf)).await {
                Wait::Stopped => return Outcome::Stopped,
                Wait::TimedOut => {
                    self.log.stalls += 1;
                    return Outcome::Ended;
                }
                Wait::Done(Ok(0) | Err(_)) => {
                    self.log.closes_without_end += 1;
                    return Outcome::Ended;
                }
                Wait::Done(Ok(n)) => {
                    at = shared.now_us();
                    input.clear();
                    input.extend_from_slice(&self.buf[..n]);
                }
            }
        }
    }

    /// Handles one event; true for `end`.
    fn handle(&mut self, event: &Event, at: u64) -> bool {
        match event.name.as_str() {
            "hello" => {
                if !self.log.hello {
                    self.log.hello = true;
                    self.shared.hellos.fetch_add(1, Relaxed);
                }
                self.note_viewers(&event.data);
            }
            "viewers" => self.note_viewers(&event.data),
            "danmaku" => self.danmaku(event, at),
            "skipped" => self.log.skipped += 1,
            "end" => return true,
            _ => self.log.other_events += 1,
        }
        false
    }

    fn note_viewers(&mut self, data: &str) {
        match serde_json::from_str::<Value>(data).ok().and_then(|v| v["viewers"].as_u64()) {
            Some(n) => self.shared.server_viewers.store(n, Relaxed),
            None => self.log.bad_events += 1,
        }
    }

    fn danmaku(&mut self, event: &Event, at: u64) {
        self.log.batches += 1;
        let parsed = serde_json::from_str::<Value>(&event.data);
        let Some(items) = parsed.as_ref().ok().and_then(|v| v["items"].as_array()) else {
            self.log.bad_events += 1;
            return;
        };
        let mut newest = None;
        for item in items {
            let Some(id) = item["id"].as_u64() else {
                self.log.bad_events += 1;
                continue;
            };
            if item["count"].as_u64() != Some(1) {
                self.log.merged += 1;
            }
            newest = newest.max(Some(id));
            self.log.got.push((id, at));
        }
        if newest.is_some() && event.last_id.parse::<u64>().ok() != newest {
            self.log.id_mismatch += 1;
        }
    }
}

/// A label for a stream open answered with something other than 200: status and problem code
/// (`503 live-full`), or status and the start of a plain body (Spin's own `503`).
fn refusal_label(head: &Head, body: &[u8]) -> String {
    if let Some(code) = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["code"].as_str().map(str::to_owned)) {
        return format!("{} {code}", head.status);
    }
    let text = String::from_utf8_lossy(body);
    let short: String = text.trim().chars().take(40).collect();
    if short.is_empty() {
        head.status.to_string()
    } else {
        format!("{} {short:?}", head.status)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 response framing and the SSE parser.

struct Head {
    status: u16,
    chunked: bool,
    content_length: Option<u64>,
    content_type: String,
}

impl Head {
    fn parse(raw: &[u8]) -> Head {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut head = Head { status, chunked: false, content_length: None, content_type: String::new() };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => head.chunked = value.to_ascii_lowercase().contains("chunked"),
                "content-length" => head.content_length = value.parse().ok(),
                "content-type" => value.clone_into(&mut head.content_type),
                _ => {}
            }
        }
        head
    }
}

// ---------------------------------------------------------------------------------------------
// Processes, Redis and numbers.

fn mem(pid: u32) -> Option<Mem> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name))?.split_whitespace().next()?.parse::<u64>().ok();
    Some(Mem { rss_kb: field("VmRSS:")?, hwm_kb: field("VmHWM:")? })
}

/// User plus system CPU seconds of a process, all its threads.
fn cpu_secs(pid: u32) -> Option<f64> {
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
fn rate(before: Option<f64>, after: Option<f64>, secs: f64) -> Option<f64> {
    if secs <= 0.0 {
        return None;
    }
    Some((after? - before?) / secs)
}

/// One `INFO` section of the harness's Redis as key → value.
fn redis_info(section: &str) -> HashMap<String, String> {
    Services::shared()
        .redis_cli(&["INFO", section])
        .lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(':')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as ms (or s from one second on).
fn duration(us: u64) -> String {
    let ms = us as f64 / 1000.0;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1000.0)
    } else if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn counts(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter().map(|(label, n)| format!("{label} ×{n}")).collect::<Vec<_>>().join("; ")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join(" / ")
}
