//! What users see when a backing service fails, with real processes: Redis killed (`kill -9`)
//! under a load of reads and writes and started again, Redis stopped (SIGSTOP) so it never
//! answers, the S3 server down. Every test has its own services and app, and is bounded in
//! time: nothing waits for an event without a deadline.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::{json, receipt, unique, App, AppOptions, Reply, Services, Value};

/// No request may take longer, outage or not (the HTTP client gives up at 60 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn start(services: &Services) -> App {
    App::start(AppOptions {
        services: Some(services),
        // The load posts far more danmaku per user than the default limit lets through.
        env: vec![("SPIN_VARIABLE_DANMAKU_PER_TEN_SECONDS".into(), "1000000".into())],
        ..Default::default()
    })
}

fn call(app: &App, token: Option<&str>, method: &str, path: &str, body: Option<&Value>) -> Reply {
    app.call(token, method, path, body.cloned())
}

/// Whether `reply` is a 503 problem+json with `code`: what a client may retry.
fn is_unavailable(reply: &Reply, code: &str) -> bool {
    reply.status == 503
        && reply.header("content-type") == Some("application/problem+json")
        && serde_json::from_slice::<Value>(&reply.body).is_ok_and(|body| body["code"] == code)
}

fn publish(app: &App, token: &str, owner: &str, title: &str) -> Reply {
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
fn load(app: &Arc<App>, workers: usize, video: u64, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Vec<Outcome>>> {
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
fn timeline(app: &App) -> Vec<u64> {
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
    let app = Arc::new(start(&services));
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
    let show = |o: &Outcome| {
        format!("{} started {:.3}s took {:.3}s: {} {}", o.what, at(o.started), (o.finished - o.started).as_secs_f64(), o.status, o.text)
    };
    for o in &outcomes {
        assert!(o.status < 300 || o.unavailable, "only 2xx or 503 redis-unavailable problem+json: {}", show(o));
        assert!(o.finished - o.started < REQUEST_TIMEOUT, "hung: {}", show(o));
    }
    let before: Vec<&Outcome> = outcomes.iter().filter(|o| o.finished < killing).collect();
    let during: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > killed && o.finished < restarting).collect();
    let after: Vec<&Outcome> = outcomes.iter().filter(|o| o.started > back).collect();
    assert!(
        before.len() >= 4 && during.len() >= 4 && after.len() >= 4,
        "too little load: {} / {} / {}",
        before.len(),
        during.len(),
        after.len()
    );
    for o in &before {
        assert!(o.status < 300, "Redis was up: {}", show(o));
    }
    for o in &during {
        assert!(o.unavailable, "Redis was down: {}", show(o));
    }
    // The first request after Redis is back succeeds (Spin opens a connection per request, so
    // none died with the old server), and so does every later one.
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

/// A Redis that accepts connections but never answers (SIGSTOP). Spin configures no timeout on
/// its Redis connections (crates/factor-outbound-redis/src/host.rs in Spin 4.0.2), and a
/// component cannot interrupt a host call, so requests that need Redis wait until it runs again
/// (README, "What Spin decides"). What must hold: requests that need no Redis (the JWKS, the
/// page) keep answering, and every held request then completes, with no error and no write
/// lost or doubled.
#[test]
fn a_stopped_redis_holds_only_the_requests_that_need_it_and_loses_none() {
    let services = Services::isolated();
    let app = Arc::new(start(&services));
    let user = unique("slow");
    let token = e2e::access_token(&user);
    let warm = publish(&app, &token, &user, "before the stop");
    assert_eq!(warm.status, 201, "{}", warm.text());

    services.pause_redis();
    let stopped = Instant::now();
    // Eight clients, each with one write and one read that need Redis.
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (app, token, user) = (app.clone(), token.clone(), user.clone());
            std::thread::spawn(move || {
                let written = publish(&app, &token, &user, &format!("during the stop {c}"));
                let read = call(&app, None, "GET", "/feed/latest", None);
                (written, read, stopped.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    for path in ["/.well-known/jwks.json", "/", "/app.js"] {
        let reply = call(&app, None, "GET", path, None);
        assert_eq!(reply.status, 200, "{path} needs no Redis: {}", reply.text());
    }
    let unaffected = stopped.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    services.resume_redis();
    let resumed = stopped.elapsed();

    let mut titles = Vec::new();
    for client in clients {
        let (written, read, finished) = client.join().unwrap();
        assert_eq!(written.status, 201, "held, then written: {}", written.text());
        assert_eq!(read.status, 200, "held, then read: {}", read.text());
        assert!(finished >= unaffected, "a request needing Redis finished while it was stopped");
        titles.push(written.json()["title"].as_str().unwrap().to_owned());
    }
    let latest = call(&app, None, "GET", "/feed/latest?limit=100", None).json();
    let mut stored: Vec<String> = latest["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["title"].as_str())
        .filter(|t| t.starts_with("during the stop"))
        .map(str::to_owned)
        .collect();
    stored.sort();
    titles.sort();
    assert_eq!(stored, titles, "each held write stored once");
    println!(
        "Redis stopped for {:.1} s: the JWKS and the page answered meanwhile; 16 held requests all completed after it ran again",
        resumed.as_secs_f64()
    );
}

/// The S3 server down: what needs it (starting, inspecting and completing uploads) answers a
/// 503 problem+json at once; publishing, the feed and search keep working; uploads work
/// again once it is back.
#[test]
fn s3_down_fails_uploads_with_503_while_feed_and_search_keep_working() {
    let services = Services::isolated();
    let app = start(&services);
    let user = unique("s3down");
    let token = e2e::access_token(&user);
    let data = file(6 * 1024 * 1024);
    let upload = json!({ "filename": "clip.mp4", "size": data.len(), "content_type": "video/mp4" });
    let created = call(&app, Some(&token), "POST", "/uploads", Some(&upload));
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let part_size = created.json()["part_size"].as_u64().unwrap() as usize;
    let first = put_part(&app, &token, &id, 1, &data[..part_size]);

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
    let synced = call(&app, Some(&e2e::admin_token("search-scheduler")), "POST", "/search/sync", None);
    assert_eq!(synced.status, 200, "{}", synced.text());
    let found = call(&app, None, "GET", &format!("/search?q={word}"), None);
    assert_eq!(found.status, 200, "{}", found.text());
    let hits: Vec<String> = found.json()["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(hits, vec![video.to_string()], "{}", found.text());

    services.restart_s3();
    let again = call(&app, Some(&token), "POST", "/uploads", Some(&upload));
    assert_eq!(again.status, 201, "the store is back: {}", again.text());
    // The upload interrupted by the outage resumes and completes with the file's bytes.
    let status = call(&app, Some(&token), "GET", &format!("/uploads/{id}"), None);
    assert_eq!(status.json()["missing_parts"], json!([2]), "{}", status.text());
    let second = put_part(&app, &token, &id, 2, &data[part_size..]);
    let parts = json!({ "parts": [{ "part_number": 1, "etag": first }, { "part_number": 2, "etag": second }] });
    let done = call(&app, Some(&token), "POST", &format!("/uploads/{id}/complete"), Some(&parts));
    assert_eq!(done.status, 200, "{}", done.text());
    let download = call(&app, Some(&token), "GET", &format!("/uploads/{id}/download"), None).json();
    let object = e2e::http("GET", download["url"].as_str().unwrap()).send(None);
    assert_eq!(hex_sha256(&object.body), hex_sha256(&data), "the stored object is the file");
}

/// Deterministic bytes for an upload.
fn file(len: usize) -> Vec<u8> {
    e2e::seeded_bytes(0x2545f4914f6cdd1d, len)
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Signs `part` of upload `id` and PUTs `bytes` to the store; answers the ETag.
fn put_part(app: &App, token: &str, id: &str, part: u64, bytes: &[u8]) -> String {
    let signed = call(app, Some(token), "POST", &format!("/uploads/{id}/parts"), Some(&json!({ "part_numbers": [part] })));
    assert_eq!(signed.status, 200, "{}", signed.text());
    let signed = &signed.json()["parts"][0];
    let mut put = e2e::http("PUT", signed["url"].as_str().unwrap());
    for (name, value) in signed["headers"].as_object().unwrap() {
        put = put.header(name, value.as_str().unwrap());
    }
    let reply = put.send(Some(bytes));
    assert_eq!(reply.status, 200, "part {part}: {}", reply.text());
    reply.header("etag").unwrap().to_owned()
}

/// Everything stops (the app, then Redis with `kill -9`, then the S3 server) and starts again
/// on the same data: accounts, sessions, an upload in progress (which then resumes and
/// completes with the right SHA-256), videos, timelines, follows, likes and danmaku are all
/// there, and a token revoked before stays revoked.
#[test]
fn restarting_the_whole_app_keeps_everything_users_saved() {
    let services = Services::isolated();
    let options = || AppOptions { services: Some(&services), ..Default::default() };
    let app = App::start(options());
    let password = "restart password";
    let sign_up = |app: &App, name: &str| {
        let reply = app.call(None, "POST", "/auth/register", Some(json!({ "username": name, "password": password })));
        assert_eq!(reply.status, 201, "{}", reply.text());
        let body = reply.json();
        (body["access_token"].as_str().unwrap().to_owned(), body["user"]["id"].as_str().unwrap().to_owned(), reply)
    };
    let (author_name, fan_name, gone_name) = (unique("author"), unique("fan"), unique("gone"));
    let (author, author_id, _) = sign_up(&app, &author_name);
    let (fan, _, fan_reply) = sign_up(&app, &fan_name);
    let (gone, _, _) = sign_up(&app, &gone_name);
    let fan_cookie =
        format!("refresh_token={}; device_id={}", fan_reply.cookie("refresh_token").unwrap(), fan_reply.cookie("device_id").unwrap());
    assert_eq!(call(&app, Some(&gone), "POST", "/auth/logout", None).status, 204);

    let published = publish(&app, &author, &author_id, "kept across restarts");
    assert_eq!(published.status, 201, "{}", published.text());
    let video = published.json()["id"].as_u64().unwrap();
    assert_eq!(call(&app, Some(&fan), "PUT", &format!("/users/{author_id}/follow"), None).status / 100, 2);
    assert_eq!(call(&app, Some(&fan), "PUT", &format!("/videos/{video}/like"), None).status / 100, 2);
    let danmaku =
        call(&app, Some(&fan), "POST", &format!("/videos/{video}/danmaku"), Some(&json!({ "time_ms": 1500, "text": "still here" })));
    assert_eq!(danmaku.status, 201, "{}", danmaku.text());

    const MIB: usize = 1024 * 1024;
    let data = file(5 * MIB + 4321);
    let created = call(
        &app,
        Some(&author),
        "POST",
        "/uploads",
        Some(&json!({ "filename": "r.mp4", "size": data.len(), "content_type": "video/mp4" })),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let upload = created.json()["id"].as_str().unwrap().to_owned();
    let part_size = created.json()["part_size"].as_u64().unwrap() as usize;
    let first = put_part(&app, &author, &upload, 1, &data[..part_size]);

    let app = {
        let stopped = app;
        services.kill_redis();
        services.kill_s3();
        services.restart_redis();
        services.restart_s3();
        stopped.restart(options())
    };

    let me = call(&app, Some(&author), "GET", "/auth/me", None);
    assert_eq!(me.status, 200, "the session and its access token survive: {}", me.text());
    let refreshed = app.request("POST", "/auth/refresh").header("cookie", &fan_cookie).send(None);
    assert_eq!(refreshed.status, 200, "the refresh token survives: {}", refreshed.text());
    assert_eq!(call(&app, Some(&gone), "GET", "/auth/me", None).status, 401, "a revoked token stays revoked");
    let signed_in = app.call(None, "POST", "/auth/login", Some(json!({ "username": fan_name, "password": password })));
    assert_eq!(signed_in.status, 200, "{}", signed_in.text());

    let record = call(&app, Some(&fan), "GET", &format!("/videos/{video}"), None);
    assert_eq!(record.status, 200, "{}", record.text());
    assert_eq!(record.json()["likes"], 1, "{}", record.text());
    assert_eq!(record.json()["liked"], true, "{}", record.text());
    assert!(timeline(&app).contains(&video), "the latest timeline");
    let following = call(&app, Some(&fan), "GET", "/feed/following", None);
    assert!(following.text().contains(&video.to_string()), "the follow: {}", following.text());
    let comments = call(&app, None, "GET", &format!("/videos/{video}/danmaku?segment=0"), None);
    assert!(comments.text().contains("still here"), "{}", comments.text());
    assert!(call(&app, None, "GET", &format!("/users/{author_id}/videos"), None).text().contains(&video.to_string()));

    let status = call(&app, Some(&author), "GET", &format!("/uploads/{upload}"), None);
    assert_eq!(status.json()["missing_parts"], json!([2]), "the upload resumes where it was: {}", status.text());
    let second = put_part(&app, &author, &upload, 2, &data[part_size..]);
    let parts = json!({ "parts": [{ "part_number": 1, "etag": first }, { "part_number": 2, "etag": second }] });
    let done = call(&app, Some(&author), "POST", &format!("/uploads/{upload}/complete"), Some(&parts));
    assert_eq!(done.status, 200, "{}", done.text());
    let download = call(&app, Some(&author), "GET", &format!("/uploads/{upload}/download"), None).json();
    let object = e2e::http("GET", download["url"].as_str().unwrap()).send(None);
    assert_eq!(hex_sha256(&object.body), hex_sha256(&data), "the stored object is the file");
}

/// A slow client: a 353 KB file read 2 KB at a time with a pause between reads (a small receive
/// buffer, so the server must wait for it) takes well over the 10 s a stalled client is given,
/// yet arrives whole, with its `Content-Length`: only a client that takes nothing for 10 s is
/// given up on.
#[test]
fn a_slow_reader_gets_a_large_answer_whole() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let app = App::start_default();
    let file = std::fs::read(e2e::root().join("web/sdk/video_edge_sdk_bg.wasm")).expect("the built SDK");
    let address = app.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let size: libc::c_int = 4096;
    // SAFETY: a plain setsockopt on a socket this test owns, with a correctly sized value.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    stream.set_read_timeout(Some(REQUEST_TIMEOUT)).unwrap();
    stream
        .write_all(format!("GET /sdk/video_edge_sdk_bg.wasm HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let started = Instant::now();
    let (mut data, mut chunk) = (Vec::new(), [0u8; 2048]);
    loop {
        let n = stream.read(&mut chunk).expect("the server keeps sending");
        if n == 0 {
            break;
        }
        data.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(80));
    }
    let split = data.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&data[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(&format!("content-length: {}", file.len())), "{head}");
    assert!(data[split..] == file[..], "{} of {} bytes after {:?}", data.len() - split, file.len(), started.elapsed());
}
