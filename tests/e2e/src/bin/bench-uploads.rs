//! Upload-signing benchmark (run by `scripts/bench-uploads`; prints figures, asserts nothing).
//!
//! Both servers sign for the same local signature-checking S3 store (s3s-fs) with the same
//! credentials, and are measured in the same run by the same client (the harness's, ureq with
//! a new TCP connection per request):
//!
//! - `spin up` running the release `upload-sign.wasm`, authenticated with a bearer
//!   token, on one upload of 1,000 parts (5 MiB each);
//! - Uppy Companion (`bench/companion/server.js`, started here with `node`), on a multipart
//!   upload it created in the store.
//!
//! 1. Latency to sign 1, 100 and 1,000 parts in one request, sequential: upload-sign's own
//!    `POST /uploads/:id/parts`, its Uppy-compatible batch route and Companion's
//!    `GET /s3/multipart/:uploadId/batch?key&partNumbers`.
//! 2. Requests/s signing one part per request (`GET .../multipart/:id/:partNumber?key`, the
//!    route `@uppy/aws-s3` calls per part) from 8 client threads for a fixed time, in rounds
//!    Spin, Companion, Companion, Spin.
//! 3. The cost of the content check per completion (Spin only): sequential one-part uploads
//!    of 64 KiB starting with an MP4 `ftyp` box, created, signed and PUT untimed, then only
//!    `POST /uploads/:id/complete` timed; declared `video/mp4` (checked: its first bytes read
//!    with one ranged GET and sniffed) against `application/octet-stream` (a family the check
//!    does not judge), alternating, 200 of each.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{json, App, AppOptions, Reply, Services, TempDir, Value};

const MIB: u64 = 1024 * 1024;
/// Parts in each benchmark upload.
const PARTS: u64 = 1000;
/// Batch sizes for the latency table, with the number of timed requests for each.
const BATCHES: [(usize, usize); 3] = [(1, 1000), (100, 300), (1000, 100)];
const THREADS: usize = 8;
const WARM_UP: Duration = Duration::from_secs(1);
const RUN: Duration = Duration::from_secs(5);
/// Timed completions of each declared type in the content-check comparison.
const COMPLETIONS: usize = 200;
/// Size of each upload in that comparison (one part).
const CHECKED_BYTES: usize = 64 * 1024;

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn numbers(n: usize) -> Vec<u64> {
    (1..=n as u64).collect()
}

fn list(n: usize) -> String {
    numbers(n).iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// One signing server as the client sees it.
struct Target {
    name: &'static str,
    base: String,
    bearer: Option<String>,
    /// The path prefix of the Companion-style routes (`/uploads/s3` or `/s3`).
    prefix: &'static str,
    upload_id: String,
    key: String,
}

impl Target {
    fn get(&self, path: &str) -> Reply {
        let mut req = e2e::http("GET", &format!("{}{path}", self.base));
        if let Some(bearer) = &self.bearer {
            req = req.header("authorization", bearer);
        }
        req.send(None)
    }

    fn sign_one(&self, part: u64) -> Reply {
        self.get(&format!("{}/multipart/{}/{part}?key={}", self.prefix, self.upload_id, encode(&self.key)))
    }

    fn sign_batch(&self, n: usize) -> Reply {
        self.get(&format!("{}/multipart/{}/batch?key={}&partNumbers={}", self.prefix, self.upload_id, encode(&self.key), list(n)))
    }
}

fn expect(reply: &Reply, what: &str) {
    assert_eq!(reply.status, 200, "{what}: {}", reply.text());
}

/// Times `count` calls after `count / 10` untimed ones; milliseconds.
fn timed(count: usize, mut f: impl FnMut()) -> Vec<f64> {
    for _ in 0..count / 10 {
        f();
    }
    (0..count)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

struct Latency {
    p50: f64,
    p99: f64,
    count: usize,
}

fn latency(count: usize, f: impl FnMut()) -> Latency {
    let mut samples = timed(count, f);
    Latency { p50: percentile(&mut samples, 0.5), p99: percentile(&mut samples, 0.99), count }
}

struct Throughput {
    per_sec: f64,
    p50: f64,
    p99: f64,
    total: usize,
    samples: Vec<f64>,
}

/// `THREADS` threads sign one part per request for `WARM_UP` (untimed) then `RUN`.
fn throughput(target: &Target) -> Throughput {
    let start = Instant::now();
    let (measure_from, until) = (start + WARM_UP, start + WARM_UP + RUN);
    let samples: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut samples = Vec::new();
                    let mut part = (t as u64 * PARTS / THREADS as u64) % PARTS;
                    loop {
                        let begun = Instant::now();
                        if begun >= until {
                            break;
                        }
                        part = part % PARTS + 1;
                        let reply = target.sign_one(part);
                        expect(&reply, target.name);
                        if begun >= measure_from {
                            samples.push(begun.elapsed().as_secs_f64() * 1000.0);
                        }
                    }
                    samples
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    // Requests begun in the window, over the window and the last ones' completion.
    let elapsed = Instant::now().duration_since(measure_from).as_secs_f64();
    let mut samples = samples;
    Throughput {
        per_sec: samples.len() as f64 / elapsed,
        p50: percentile(&mut samples, 0.5),
        p99: percentile(&mut samples, 0.99),
        total: samples.len(),
        samples,
    }
}

/// Companion (`node bench/companion/server.js`), killed when dropped.
struct Companion {
    child: Child,
    base: String,
    _data: TempDir,
}

impl Companion {
    fn start(services: &Services) -> Companion {
        let data = TempDir::new("bench-companion");
        let port = e2e::free_port();
        let log = data.path().join("companion.log");
        let out = std::fs::File::create(&log).unwrap();
        let mut command = Command::new("node");
        command
            .arg(e2e::root().join("bench/companion/server.js"))
            .current_dir(e2e::root().join("bench/companion"))
            .env("NODE_ENV", "production")
            .env("COMPANION_PORT", port.to_string())
            .env("COMPANION_DATADIR", data.path().join("files"))
            .env("S3_ENDPOINT", &services.s3_endpoint)
            .env("S3_BUCKET", e2e::S3_BUCKET)
            .env("S3_KEY", e2e::S3_ACCESS_KEY)
            .env("S3_SECRET", e2e::S3_SECRET_KEY)
            .env("S3_REGION", "us-east-1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        std::fs::create_dir_all(data.path().join("files")).unwrap();
        let mut child = e2e::spawn(command);
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = child.try_wait().unwrap();
            if exited.is_some() || Instant::now() > deadline {
                let mut text = String::new();
                let _ = std::fs::File::open(&log).and_then(|mut f| f.read_to_string(&mut text));
                panic!("companion did not start ({exited:?}); did scripts/bench-uploads run npm ci?\n{text}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Companion { child, base: format!("http://127.0.0.1:{port}"), _data: data }
    }
}

impl Drop for Companion {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates a one-part upload of `data` declared `content_type`, signs its part and PUTs it to
/// the store, then times `POST /uploads/:id/complete` alone; milliseconds. Each upload is
/// complete before the next starts, so `max_active_uploads` is never reached.
fn timed_completion(app: &App, bearer: &str, data: &[u8], content_type: &str) -> f64 {
    let filename = if content_type.starts_with("video/") { "check.mp4" } else { "check.bin" };
    let created = app
        .request("POST", "/uploads")
        .header("authorization", bearer)
        .json(&json!({ "filename": filename, "size": data.len(), "content_type": content_type }));
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let signed = app.request("POST", &format!("/uploads/{id}/parts")).header("authorization", bearer).json(&json!({ "part_numbers": [1] }));
    expect(&signed, "sign part 1");
    let part = &signed.json()["parts"][0];
    let mut put = e2e::http("PUT", part["url"].as_str().unwrap());
    for (name, value) in part["headers"].as_object().into_iter().flatten() {
        put = put.header(name, value.as_str().unwrap());
    }
    let put = put.send(Some(data));
    expect(&put, "PUT part 1 to the store");
    let body = json!({ "parts": [{ "part_number": 1, "etag": put.header("etag").unwrap() }] });
    let complete = app.request("POST", &format!("/uploads/{id}/complete")).header("authorization", bearer);
    let start = Instant::now();
    let done = complete.json(&body);
    let elapsed = start.elapsed().as_secs_f64() * 1000.0;
    expect(&done, &format!("complete {content_type}"));
    elapsed
}

fn version(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn main() {
    // Services of this run's own, so their data directory goes when they do.
    let services = Services::isolated();
    let app = App::start(AppOptions {
        env: vec![
            ("SPIN_VARIABLE_MAX_UPLOAD_BYTES".into(), "10000000000000".into()),
            ("SPIN_VARIABLE_MAX_UPLOAD_BYTES_PER_DAY".into(), "10000000000000".into()),
            // A type outside the checked families, for the content-check comparison.
            ("SPIN_VARIABLE_ALLOWED_CONTENT_TYPES".into(), "video/*,image/*,application/octet-stream".into()),
        ],
        services: Some(&services),
        ..AppOptions::default()
    });
    let companion = Companion::start(&services);
    let node = Command::new("node").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let modules = e2e::root().join("bench/companion/node_modules");
    println!(
        "peer: @uppy/companion {} (@aws-sdk/client-s3 {}) on node {}, one process",
        version(&modules.join("@uppy/companion")),
        version(&modules.join("@aws-sdk/client-s3")),
        node.unwrap_or_default()
    );

    // Spin: a user and one upload of 1,000 parts of 5 MiB.
    let reply = app.request("POST", "/auth/register").json(&json!({ "username": "bench-uploads", "password": "benchmark password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let bearer = format!("Bearer {}", reply.json()["access_token"].as_str().unwrap());
    let size = PARTS * 5 * MIB;
    let created = app
        .request("POST", "/uploads")
        .header("authorization", &bearer)
        .json(&json!({ "filename": "bench.mp4", "size": size, "content_type": "video/mp4" }));
    assert_eq!(created.status, 201, "{}", created.text());
    let created = created.json();
    assert_eq!(created["part_count"].as_u64(), Some(PARTS), "{created}");
    let ours = Target {
        name: "spin",
        base: app.url.clone(),
        bearer: Some(bearer.clone()),
        prefix: "/uploads/s3",
        upload_id: created["id"].as_str().unwrap().to_owned(),
        key: created["key"].as_str().unwrap().to_owned(),
    };

    // Companion: a multipart upload it starts in the same store (so its S3 client really
    // reaches s3s-fs), listed back through Companion (ListParts against the store).
    let started = e2e::http("POST", &format!("{}/s3/multipart", companion.base))
        .json(&json!({ "filename": "bench.mp4", "type": "video/mp4", "metadata": {} }));
    expect(&started, "companion createMultipartUpload against s3s-fs");
    let started = started.json();
    let theirs = Target {
        name: "companion",
        base: companion.base.clone(),
        bearer: None,
        prefix: "/s3",
        upload_id: started["uploadId"].as_str().unwrap().to_owned(),
        key: started["key"].as_str().unwrap().to_owned(),
    };
    let listed = theirs.get(&format!("/s3/multipart/{}?key={}", theirs.upload_id, encode(&theirs.key)));
    expect(&listed, "companion ListParts against s3s-fs");
    println!("companion started multipart upload {} in s3s-fs at {}", theirs.upload_id, services.s3_endpoint);

    // Both sign URLs the store accepts: part 1 PUT with each one's URL (ours is signed for the
    // part's exact 5 MiB; Companion's takes any length).
    let part = vec![7u8; 5 * MIB as usize];
    for target in [&ours, &theirs] {
        let signed = target.sign_one(1);
        expect(&signed, target.name);
        let url = signed.json()["url"].as_str().unwrap().to_owned();
        let put = e2e::http("PUT", &url).send(Some(&part));
        println!("{}: PUT of a 5 MiB part to s3s-fs with its signed URL -> HTTP {}", target.name, put.status);
    }

    // 1. Latency per batch size.
    println!("\nlatency to sign N parts in one request (sequential, a new connection per request):");
    println!("| N | Spin POST /uploads/:id/parts | Spin GET /uploads/s3/.../batch | Companion GET /s3/.../batch |");
    let mut p50_100 = (0.0, 0.0, 0.0);
    for (n, count) in BATCHES {
        let body = json!({ "part_numbers": numbers(n) });
        let path = format!("/uploads/{}/parts", ours.upload_id);
        let own = || app.request("POST", &path).header("authorization", &bearer).json(&body);
        // Each answer is checked once here; the timed requests check only the status (the
        // client still reads the whole body).
        assert_eq!(own().json()["parts"].as_array().map(Vec::len), Some(n), "upload-sign signs {n} parts");
        for target in [&ours, &theirs] {
            assert_eq!(
                target.sign_batch(n).json()["presignedUrls"].as_object().map(|o| o.len()),
                Some(n),
                "{} signs {n} parts",
                target.name
            );
        }
        let own = latency(count, || expect(&own(), "upload-sign sign"));
        let batch = |target: &Target| latency(count, || expect(&target.sign_batch(n), target.name));
        let (uppy, peer) = (batch(&ours), batch(&theirs));
        println!(
            "| {n} | p50 {:.3} ms, p99 {:.3} ms | p50 {:.3} ms, p99 {:.3} ms | p50 {:.3} ms, p99 {:.3} ms | ({} requests each)",
            own.p50, own.p99, uppy.p50, uppy.p99, peer.p50, peer.p99, own.count
        );
        if n == 100 {
            p50_100 = (own.p50, uppy.p50, peer.p50);
        }
    }

    // 2. Requests/s, one part per request, 8 threads; rounds in the order A B B A so that a
    // drift in the machine's load falls on both alike.
    println!(
        "\none part per request (GET .../multipart/:id/:partNumber?key), {THREADS} client threads, rounds of {} s after {} s warm-up:",
        RUN.as_secs(),
        WARM_UP.as_secs()
    );
    let mut rounds: [Vec<Throughput>; 2] = [Vec::new(), Vec::new()];
    for which in [0, 1, 1, 0] {
        let target = [&ours, &theirs][which];
        let round = throughput(target);
        println!(
            "  {}: {:.0} requests/s, p50 {:.3} ms, p99 {:.3} ms ({} requests)",
            target.name, round.per_sec, round.p50, round.p99, round.total
        );
        rounds[which].push(round);
    }
    let summary = |rounds: &[Throughput]| {
        let mut samples: Vec<f64> = rounds.iter().flat_map(|r| r.samples.iter().copied()).collect();
        let per_sec = rounds.iter().map(|r| r.per_sec).sum::<f64>() / rounds.len() as f64;
        (per_sec, percentile(&mut samples, 0.5), percentile(&mut samples, 0.99))
    };
    let (ours_rate, theirs_rate) = (summary(&rounds[0]), summary(&rounds[1]));
    for (name, (per_sec, p50, p99)) in [("spin", ours_rate), ("companion", theirs_rate)] {
        println!("{name}, both rounds: {per_sec:.0} requests/s (mean), p50 {p50:.3} ms, p99 {p99:.3} ms");
    }
    let ratio = ours_rate.0 / theirs_rate.0;
    println!("\nratio Spin / Companion requests/s: {ratio:.2}x (target >= 3x: {})", if ratio >= 3.0 { "met" } else { "NOT met" });
    println!(
        "100-part batch p50: Spin {:.3} ms (JSON route), {:.3} ms (Uppy batch route); Companion {:.3} ms (target < 2 ms: {})",
        p50_100.0,
        p50_100.1,
        p50_100.2,
        if p50_100.0 < 2.0 { "met" } else { "NOT met" }
    );

    // 3. Content check per completion: A (checked) and B (not checked) alternate in rounds
    // A B then B A, so that a drift in the machine's load falls on both alike.
    println!("\ncontent check per completion, sequential, {COMPLETIONS} of each alternating after {} untimed:", COMPLETIONS / 10);
    println!("(one-part {} KiB uploads starting with an MP4 ftyp box; only POST /uploads/:id/complete timed)", CHECKED_BYTES / 1024);
    let data = e2e::seeded_bytes(19, CHECKED_BYTES);
    let types = ["video/mp4", "application/octet-stream"];
    for _ in 0..COMPLETIONS / 10 {
        for content_type in types {
            timed_completion(&app, &bearer, &data, content_type);
        }
    }
    let mut samples: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 0..COMPLETIONS {
        for which in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            samples[which].push(timed_completion(&app, &bearer, &data, types[which]));
        }
    }
    let mut p50s = [0.0; 2];
    for (which, what) in ["checked", "not checked"].into_iter().enumerate() {
        let samples = &mut samples[which];
        let (p50, p90, p99) = (percentile(samples, 0.5), percentile(samples, 0.9), percentile(samples, 0.99));
        println!("  {} ({what}): p50 {p50:.3} ms, p90 {p90:.3} ms, p99 {p99:.3} ms", types[which]);
        p50s[which] = p50;
    }
    println!("content check cost (difference of p50s, video/mp4 - application/octet-stream): {:.3} ms", p50s[0] - p50s[1]);

    // Leave nothing in the store but the small completed objects, which go with the services'
    // data directory.
    let aborted = app.request("DELETE", &format!("/uploads/{}", ours.upload_id)).header("authorization", &bearer).send(None);
    let gone = e2e::http("DELETE", &format!("{}/s3/multipart/{}?key={}", companion.base, theirs.upload_id, encode(&theirs.key))).send(None);
    println!("aborted both uploads: Spin HTTP {}, companion HTTP {}", aborted.status, gone.status);
}
