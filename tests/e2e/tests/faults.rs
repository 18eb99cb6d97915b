//! What users see when a backing service fails, with real processes: Redis killed (`kill -9`)
//! under a load of reads and writes and started again, Redis stopped (SIGSTOP) so it never
//! answers, the S3 server down. Every test has its own services and app, and is bounded in
//! time: nothing waits for an event without a deadline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{json, receipt, unique, Devhost, DevhostOptions, Reply, Services, Value};

/// devhost's default request timeout: no request may take longer, outage or not.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn start(services: &Services, devhost_only: bool) -> Devhost {
    Devhost::start(DevhostOptions {
        services: Some(services),
        // The load posts far more danmaku per user than the default limit lets through.
        env: vec![("SPIN_VARIABLE_DANMAKU_PER_TEN_SECONDS".into(), "1000000".into())],
        devhost_only,
        ..Default::default()
    })
}

fn call(app: &Devhost, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let mut req = app.request(method, path);
    if let Some(token) = token {
        req = req.header("authorization", &format!("Bearer {token}"));
    }
    match body {
        Some(body) => req.json(body),
        None => req.send(None),
    }
}

/// Whether `reply` is a 503 problem+json with `code`: what a client may retry.
fn is_unavailable(reply: &Reply, code: &str) -> bool {
    reply.status == 503
        && reply.header("content-type") == Some("application/problem+json")
        && serde_json::from_slice::<Value>(&reply.body).is_ok_and(|body| body["code"] == code)
}

fn publish(app: &Devhost, token: &str, owner: &str, title: &str) -> Reply {
    call(app, Some(token), "POST", "/videos", Some(&json!({ "receipt": receipt(owner), "title": title })))
}

/// One request of the load and what came back.
struct Outcome {
    what: &'static str,
    started: Instant,
    finished: Instant,
    status: u16,
    /// The answer is a 503 problem+json saying Redis is unavailable.
    unavailable: bool,
    /// A write's id when it was acknowledged (201).
    acked: Option<Write>,
    text: String,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Write {
    Video(u64),
    Danmaku(u64),
}

/// Runs `workers` threads, each cycling through a video publish, a danmaku post on `video`, a
/// timeline read and a video read, until `stop` is set.
fn load(app: &Arc<Devhost>, workers: usize, video: u64, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Vec<Outcome>>> {
    static TEXT: AtomicU64 = AtomicU64::new(0);
    (0..workers)
        .map(|w| {
            let (app, stop) = (app.clone(), stop.clone());
            std::thread::spawn(move || {
                let user = unique("load");
                let token = e2e::access_token(&user);
                let mut outcomes = Vec::new();
                let mut n = w;
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let (what, reply) = match n % 4 {
                        0 => ("publish", publish(&app, &token, &user, &format!("load video {n}"))),
                        1 => {
                            let text = format!("load {}", TEXT.fetch_add(1, Ordering::Relaxed));
                            let body = json!({ "time_ms": 1000, "text": text });
                            ("danmaku", call(&app, Some(&token), "POST", &format!("/videos/{video}/danmaku"), Some(&body)))
                        }
                        2 => ("timeline", call(&app, None, "GET", "/feed/latest?limit=5", None)),
                        _ => ("video", call(&app, Some(&token), "GET", &format!("/videos/{video}"), None)),
                    };
                    let id = || serde_json::from_slice::<Value>(&reply.body).ok().and_then(|b| b["id"].as_u64());
                    let acked = match (what, reply.status) {
                        ("publish", 201) => id().map(Write::Video),
                        ("danmaku", 201) => id().map(Write::Danmaku),
                        _ => None,
                    };
                    outcomes.push(Outcome {
                        what,
                        started,
                        finished: Instant::now(),
                        status: reply.status,
                        unavailable: is_unavailable(&reply, "redis-unavailable"),
                        acked,
                        text: reply.text(),
                    });
                    n += 1;
                }
                outcomes
            })
        })
        .collect()
}

/// Every video in the latest timeline, page by page.
fn timeline(app: &Devhost) -> Vec<u64> {
    let mut ids = Vec::new();
    let mut path = "/feed/latest?limit=100".to_owned();
    loop {
        let page = call(app, None, "GET", &path, None);
        assert_eq!(page.status, 200, "{}", page.text());
        let page = page.json();
        ids.extend(page["items"].as_array().unwrap().iter().map(|v| v["id"].as_u64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/feed/latest?limit=100&cursor={cursor}"),
            None => return ids,
        }
    }
}

/// The scenario: Redis dies (`kill -9`) under load and comes back. Clients see only
/// 2xx or a 503 problem+json they can retry, nothing hangs, requests succeed again as soon as
/// Redis answers, and every write the app acknowledged is still there: Redis fsyncs its
/// append-only file before it answers.
#[test]
fn redis_killed_under_load_answers_503_then_recovers_with_every_acknowledged_write() {
    let services = Services::isolated();
    let app = Arc::new(start(&services, false));
    let owner = unique("owner");
    let hot = publish(&app, &e2e::access_token(&owner), &owner, "the hot video");
    assert_eq!(hot.status, 201, "{}", hot.text());
    let video = hot.json()["id"].as_u64().unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let workers = load(&app, 4, video, &stop);
    std::thread::sleep(Duration::from_millis(1500));
    let killing = Instant::now();
    services.kill_redis();
    let killed = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let restarting = Instant::now();
    services.restart_redis();
    // Redis answers PING: its append-only file is loaded and it accepts commands.
    let back = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let mut outcomes: Vec<Outcome> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    outcomes.sort_by_key(|o| o.started);

    // Seconds from the kill, negative before it.
    let at = |t: Instant| t.saturating_duration_since(killing).as_secs_f64() - killing.saturating_duration_since(t).as_secs_f64();
    let show = |o: &Outcome| format!("{} started {:.3}s took {:.3}s: {} {}", o.what, at(o.started), (o.finished - o.started).as_secs_f64(), o.status, o.text);
    for o in &outcomes {
        assert!(o.status < 300 || o.unavailable, "only 2xx or 503 redis-unavailable problem+json: {}", show(o));
        assert!(o.finished - o.started < REQUEST_TIMEOUT, "hung: {}", show(o));
    }
    let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.finished < killing).collect();
    let during: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > killed && o.finished < restarting).collect();
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > back).collect();
    assert!(before.len() >= 4 && during.len() >= 4 && after.len() >= 4, "too little load: {} / {} / {}", before.len(), during.len(), after.len());
    for o in &before {
        assert!(o.status < 300, "Redis was up: {}", show(o));
    }
    for o in &during {
        assert!(o.unavailable, "Redis was down: {}", show(o));
    }
    // The first request after Redis is back succeeds (devhost hands out no connection that
    // died with the old server), and so does every later one.
    for o in &after {
        assert!(o.status < 300, "Redis was back: {}", show(o));
    }
    let first = after.iter().map(|o| o.finished).min().unwrap();
    assert!(first - back <= Duration::from_secs(1), "first success {:.3}s after Redis answered again", (first - back).as_secs_f64());

    let acked: Vec<(Write, f64)> = outcomes.iter().filter_map(|o| Some((o.acked?, at(o.finished)))).collect();
    let acked_before_kill = outcomes.iter().filter(|o| o.acked.is_some() && o.finished < killing).count();
    assert!(acked_before_kill >= 2, "the load acknowledged too few writes before the kill");
    let listed = timeline(&app);
    let danmaku = call(&app, None, "GET", &format!("/videos/{video}/danmaku?after=0&limit=1000"), None);
    assert_eq!(danmaku.status, 200, "{}", danmaku.text());
    let danmaku: Vec<u64> = danmaku.json()["items"].as_array().unwrap().iter().map(|d| d["id"].as_u64().unwrap()).collect();
    for (write, when) in &acked {
        let present = match write {
            Write::Video(id) => listed.contains(id) && call(&app, None, "GET", &format!("/videos/{id}"), None).status == 200,
            Write::Danmaku(id) => danmaku.contains(id),
        };
        assert!(present, "{write:?}, acknowledged at {when:+.3}s from the kill, is gone");
    }
    println!(
        "{} requests: {} before the kill, {} during the outage, {} after; {} writes acknowledged ({acked_before_kill} before the kill), all present; first success {:.0} ms after Redis answered",
        outcomes.len(),
        before.len(),
        during.len(),
        after.len(),
        acked.len(),
        (first - back).as_secs_f64() * 1000.0
    );
}

/// Bound on a request while Redis does not answer: devhost gives up on a Redis command after
/// 5 s and on a connection after 2 s (`crates/devhost/src/host/redis.rs`), and the component
/// answers 503; 5 s more is slack for a busy machine, still well inside the request timeout.
const SLOW_REDIS_BOUND: Duration = Duration::from_secs(10);

/// A Redis that accepts connections but never answers (SIGSTOP): requests end with a 503
/// problem+json within [`SLOW_REDIS_BOUND`] each, however many arrive, instead of queueing
/// behind each other, and succeed again once Redis runs. devhost only: the bound is its
/// timeouts.
#[test]
fn a_stopped_redis_answers_503_within_the_bound_instead_of_piling_up() {
    let services = Services::isolated();
    let app = Arc::new(start(&services, true));
    let user = unique("slow");
    let token = e2e::access_token(&user);
    let warm = publish(&app, &token, &user, "before the stop");
    assert_eq!(warm.status, 201, "{}", warm.text());

    services.pause_redis();
    let stopped = Instant::now();
    // Eight clients, each sending reads and writes one after another for 12 s: more requests
    // than one timeout could absorb if they waited on each other.
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (app, token, user) = (app.clone(), token.clone(), user.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut n = c;
                while stopped.elapsed() < Duration::from_secs(12) {
                    let started = Instant::now();
                    let reply = match n % 2 {
                        0 => publish(&app, &token, &user, &format!("during the stop {n}")),
                        _ => call(&app, None, "GET", "/feed/latest", None),
                    };
                    seen.push((started.elapsed(), reply));
                    n += 1;
                }
                seen
            })
        })
        .collect();
    let seen: Vec<(Duration, Reply)> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    services.resume_redis();
    let resumed = Instant::now();

    assert!(seen.len() >= 16, "eight clients for 12 s, at most 10 s an answer: only {} answers", seen.len());
    for (took, reply) in &seen {
        assert!(is_unavailable(reply, "redis-unavailable"), "{} {}", reply.status, reply.text());
        assert!(*took < SLOW_REDIS_BOUND, "took {took:?}: {}", reply.text());
    }
    let slowest = seen.iter().map(|(took, _)| *took).max().unwrap();

    let recovered = loop {
        let reply = call(&app, None, "GET", "/feed/latest", None);
        if reply.status == 200 || resumed.elapsed() > SLOW_REDIS_BOUND {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(recovered.status, 200, "Redis runs again: {}", recovered.text());
    let after = publish(&app, &token, &user, "after the stop");
    assert_eq!(after.status, 201, "{}", after.text());
    println!("{} answers while Redis was stopped, all 503, slowest {:.2} s", seen.len(), slowest.as_secs_f64());
}

/// The S3 server down: what needs it (starting, inspecting and completing uploads) answers a
/// 503 problem+json at once; publishing, the feed and search keep working; uploads work
/// again once it is back.
#[test]
fn s3_down_fails_uploads_with_503_while_feed_and_search_keep_working() {
    let services = Services::isolated();
    let app = start(&services, false);
    let user = unique("s3down");
    let token = e2e::access_token(&user);
    let upload = json!({ "filename": "clip.mp4", "size": 6 * 1024 * 1024, "content_type": "video/mp4" });
    let created = call(&app, Some(&token), "POST", "/uploads", Some(&upload));
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();

    services.kill_s3();
    let complete = json!({ "parts": [{ "part_number": 1, "etag": "\"e\"" }] });
    for (method, path, body) in [
        ("POST", "/uploads".to_owned(), Some(&upload)),
        ("GET", format!("/uploads/{id}"), None),
        ("POST", format!("/uploads/{id}/complete"), Some(&complete)),
    ] {
        let started = Instant::now();
        let reply = call(&app, Some(&token), method, &path, body);
        assert!(is_unavailable(&reply, "storage-unavailable"), "{method} {path}: {} {}", reply.status, reply.text());
        assert!(started.elapsed() < REQUEST_TIMEOUT, "{method} {path} hung");
    }

    let word = unique("sturgeon");
    let published = publish(&app, &token, &user, &format!("{word} without storage"));
    assert_eq!(published.status, 201, "{}", published.text());
    let video = published.json()["id"].as_u64().unwrap();
    assert!(timeline(&app).contains(&video));
    let synced = call(&app, None, "POST", "/search/sync", None);
    assert_eq!(synced.status, 200, "{}", synced.text());
    let found = call(&app, None, "GET", &format!("/search?q={word}"), None);
    assert_eq!(found.status, 200, "{}", found.text());
    let hits: Vec<String> = found.json()["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(hits, vec![video.to_string()], "{}", found.text());

    services.restart_s3();
    let again = call(&app, Some(&token), "POST", "/uploads", Some(&upload));
    assert_eq!(again.status, 201, "the store is back: {}", again.text());
}
