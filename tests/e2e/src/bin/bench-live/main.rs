//! Live danmaku benchmark (run by `scripts/bench-live`; prints figures, asserts nothing).
//!
//! `spin up` serves the real release feed component against real Redis. For each audience
//! size (default 250, 500, 1,000, 1,500 and 2,000 viewers; `bench-live 1000` or
//! `LIVE_VIEWERS="250 500"` chooses others):
//! 1. a fresh `spin up` (`SPIN_MAX_INSTANCE_COUNT` viewers + 200; streams are bounded by the component's
//!    `danmaku_live_secs`, left at its default) and a fresh video;
//! 2. that many viewers open `GET /videos/{id}/danmaku/live` from 127.0.0.1, 100 every 0.5 s,
//!    each an EventSource (hyper for HTTP/1.1, sse-stream for the event blocks; `retry:`,
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

use bytes::Bytes;
use e2e::sse::{self, Blocks, Event, Source};
use e2e::{json, receipt, App, AppOptions, Services, Value};
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use sse_stream::SseStream;

mod measure;
mod posting;
mod report;
mod viewer;

use measure::*;
use posting::*;
use report::*;
use viewer::*;

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
        path: format!("/videos/{video}/danmaku/live"),
        client: sse::client(),
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
