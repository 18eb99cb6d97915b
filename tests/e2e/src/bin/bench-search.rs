//! Search benchmark (run by `scripts/bench-search`; prints figures, asserts nothing).
//!
//! `spin up` serves the real release components against real Redis with the default SQLite
//! backend:
//! 1. indexing: 10,000 videos created through feed, then timed from the first sync pass until
//!    the change stream is drained (documents/s);
//! 2. the same SQLite queries run directly on the index file (rusqlite, same statements the
//!    proxy builds): the backend's own latency;
//! 3. through the proxy with wrk: cache misses (every request a different query) and cache hits
//!    (one query), on one connection for latency and sixteen for throughput. The proxy's overhead
//!    is the miss latency minus the direct latency.

use std::sync::Arc;
use std::time::Instant;

use e2e::{json, receipt, wrk, App, AppOptions, TempDir};
use search_proxy::params::{RawSearch, SearchQuery};

const VIDEOS: usize = 10_000;
const WORDS: usize = 400;
const CHINESE: [&str; 12] = ["视频", "教程", "音乐", "游戏", "美食", "旅行", "科技", "动画", "编程", "摄影", "健身", "电影"];

/// Deterministic made-up words ("kalomi", "teruva", ...).
fn vocabulary() -> Vec<String> {
    let (consonants, vowels) = (b"bdfgklmnprstvz", b"aeiou");
    let mut seed: u64 = 7;
    let mut next = move || {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    let mut words = std::collections::BTreeSet::new();
    while words.len() < WORDS {
        let syllables = 2 + next() % 2;
        let word: String =
            (0..syllables).flat_map(|_| [consonants[next() % consonants.len()] as char, vowels[next() % vowels.len()] as char]).collect();
        words.insert(word);
    }
    words.into_iter().collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn main() {
    let app =
        Arc::new(App::start(AppOptions { env: vec![("SPIN_VARIABLE_SEARCH_CACHE_SECS".into(), "3600".into())], ..AppOptions::default() }));
    let words = Arc::new(vocabulary());
    let dir = TempDir::new("bench-search");
    // Sync and status are for administrators, as a scheduler would call them.
    let admin = format!("Bearer {}", e2e::admin_token("bench-search-scheduler"));

    // 10,000 videos by 100 authors, four writers at once.
    let started = Instant::now();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (app, words) = (app.clone(), words.clone());
            std::thread::spawn(move || {
                for i in (w..VIDEOS).step_by(4) {
                    let owner = format!("bench-author-{}", i % 100);
                    let pick = |k: usize| words[(i * 7 + k * 131 + i / 13) % WORDS].clone();
                    let mut title = format!("{} {} {} {}", pick(0), pick(1), pick(2), pick(3));
                    if i % 5 == 0 {
                        title.push_str(&format!(" {}{}", CHINESE[i % 12], CHINESE[(i / 12) % 12]));
                    }
                    let body = json!({ "receipt": receipt(&owner), "title": title, "description": format!("{} {} {}", pick(4), pick(5), pick(6)), "tags": [pick(7)] });
                    let reply = app.request("POST", "/videos").header("authorization", &format!("Bearer {}", e2e::access_token(&owner))).json(&body);
                    assert_eq!(reply.status, 201, "{}", reply.text());
                }
            })
        })
        .collect();
    writers.into_iter().for_each(|w| w.join().unwrap());
    println!("setup: {VIDEOS} videos created through feed in {:.1} s; spin up at {}", started.elapsed().as_secs_f64(), app.url);

    let started = Instant::now();
    let mut applied = 0;
    loop {
        let report = app.request("POST", "/search/sync").header("authorization", &admin).send(None).json();
        applied += report["applied"].as_u64().unwrap();
        if report["read"].as_u64().unwrap() == 0 {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!("indexing: {applied} documents in {secs:.2} s = {:.0} documents/s (sync passes of 1,000 changes)", applied as f64 / secs);

    // The backend alone: the proxy's statements on the index file.
    let db = rusqlite::Connection::open(app.state_dir().join("sqlite_db.db")).unwrap();
    let query = |n: usize| format!("q={}+{}", words[n % WORDS], words[(n * 31 + 7) % WORDS]);
    let mut direct = Vec::new();
    for n in 0..2000 {
        let q = SearchQuery::parse(serde_urlencoded::from_str::<RawSearch>(&query(n)).unwrap()).unwrap();
        let (sql, params) = search_proxy::sqlite::search_statement(&q);
        let params: Vec<rusqlite::types::Value> = params
            .into_iter()
            .map(|v| match v {
                spin_sdk::sqlite::Value::Integer(i) => i.into(),
                spin_sdk::sqlite::Value::Real(r) => r.into(),
                spin_sdk::sqlite::Value::Text(t) => t.into(),
                spin_sdk::sqlite::Value::Blob(b) => b.into(),
                spin_sdk::sqlite::Value::Null => rusqlite::types::Value::Null,
            })
            .collect();
        let t = Instant::now();
        let mut stmt = db.prepare_cached(&sql).unwrap();
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).unwrap();
        let mut count = 0;
        while let Some(row) = rows.next().unwrap() {
            let _: String = row.get(2).unwrap();
            count += 1;
        }
        direct.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(count <= q.limit + 1);
    }
    direct.sort_by(f64::total_cmp);
    println!(
        "SQLite directly (same statements, 2,000 two-word queries): p50 {:.3} ms | p99 {:.3} ms",
        percentile(&direct, 0.5),
        percentile(&direct, 0.99)
    );

    let list: String = words.iter().map(|w| format!("\"{w}\",")).collect();
    let misses = format!(
        "local words = {{{list}}}\nlocal n = 0\nlocal id = 0\nfunction setup(thread) id = id + 1; thread:set(\"tid\", id) end\nfunction init() tid = wrk.thread:get(\"tid\"); math.randomseed(os.time() * 1000 + tid); n = math.random(0, 1000000) end\nfunction request()\n  n = n + 1\n  local a = words[(n % #words) + 1]\n  local b = words[((math.floor(n / #words) + tid * 97) % #words) + 1]\n  return wrk.format(\"GET\", \"/search?q=\" .. a .. \"+\" .. b)\nend\n"
    );
    wrk(&app, &dir, "cache miss", 1, &misses);
    wrk(&app, &dir, "cache miss", 16, &misses);
    let hit = format!("wrk.path = \"/search?{}\"\n", query(3));
    app.request("GET", &format!("/search?{}", query(3))).send(None);
    wrk(&app, &dir, "cache hit", 1, &hit);
    wrk(&app, &dir, "cache hit", 16, &hit);
    let status = app.request("GET", "/search/status").header("authorization", &admin).send(None).json();
    println!("engine queries: {} | index generation: {}", status["engine_queries"], status["generation"]);
}
