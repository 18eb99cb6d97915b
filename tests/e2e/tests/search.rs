//! search-proxy end to end on Spin with real Redis and SQLite: videos created through
//! feed and users through auth are synced from the change stream and found by English and
//! Chinese words, highlighted and suggested; edits and deletes propagate; replayed, older and
//! broken changes never regress the index and are parked; the cache hits and is invalidated;
//! identical concurrent misses reach the engine once; a failing engine trips the breaker,
//! answers degraded, and recovers; hostile queries are refused or searched as plain words.

use std::sync::{Arc, Barrier, OnceLock};
use std::time::Duration;

use e2e::{json, receipt, unique, App, AppOptions, Reply, Services, Value};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let env = vec![
            ("SPIN_VARIABLE_SEARCH_SYNC_RETRY_MS".to_owned(), "1".to_owned()),
            ("SPIN_VARIABLE_SEARCH_SYNC_ATTEMPTS".to_owned(), "3".to_owned()),
        ];
        App::start(AppOptions { env, ..Default::default() })
    })
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A registered user on `host`: (token, user id, username).
fn account(host: &App) -> (String, String, String) {
    let username = unique("sr");
    let reply = host.call(None, "POST", "/auth/register", Some(json!({ "username": username, "password": "search password" })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    (body["access_token"].as_str().unwrap().to_owned(), body["user"]["id"].as_str().unwrap().to_owned(), username)
}

fn publish(host: &App, token: &str, owner: &str, title: &str, description: &str, tags: &[&str]) -> Value {
    let body = json!({ "receipt": receipt(owner), "title": title, "description": description, "tags": tags });
    let reply = host.call(Some(token), "POST", "/videos", Some(body));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

fn sync(host: &App) -> Value {
    let reply = host.call(Some(&e2e::admin_token("search-scheduler")), "POST", "/search/sync", None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

fn search(host: &App, query: &str) -> Reply {
    let reply = host.call(None, "GET", &format!("/search?{query}"), None);
    assert_eq!(reply.status, 200, "{query}: {}", reply.text());
    reply
}

fn ids(reply: &Reply) -> Vec<String> {
    reply.json()["items"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect()
}

fn status(host: &App) -> Value {
    let reply = host.call(Some(&e2e::admin_token("search-operator")), "GET", "/search/status", None);
    assert_eq!(reply.status, 200, "{}", reply.text());
    reply.json()
}

#[test]
fn videos_and_users_are_found_highlighted_and_suggested_then_edits_and_deletes_propagate() {
    let host = app();
    let (token, user, username) = account(host);
    let word = unique("zebra");
    let rust = publish(
        host,
        &token,
        &user,
        &format!("Rust {word} streaming tutorial"),
        "Learn to build an API server, step by step",
        &["Rust", "Web"],
    );
    let chinese = publish(host, &token, &user, &format!("学习视频教程 {word}"), "从零开始的编程课程", &["编程"]);
    let rust_id = rust["id"].as_u64().unwrap().to_string();
    let chinese_id = chinese["id"].as_u64().unwrap().to_string();
    let pass = sync(host);
    assert!(pass["applied"].as_u64().unwrap() >= 3, "two videos and a user: {pass}");

    let found = search(host, &format!("q={word}"));
    assert_eq!(found.header("x-cache"), Some("miss"));
    let body = found.json();
    assert_eq!(body["degraded"], false);
    let mut got = ids(&found);
    got.sort();
    let mut want = vec![rust_id.clone(), chinese_id.clone()];
    want.sort();
    assert_eq!(got, want);
    let hit = body["items"].as_array().unwrap().iter().find(|h| h["id"] == rust_id.as_str()).unwrap();
    assert_eq!(hit["kind"], "video");
    assert_eq!(hit["highlight"]["title"], format!("Rust <mark>{word}</mark> streaming tutorial"));
    assert_eq!(hit["item"]["author_name"], username.as_str());
    assert_eq!(hit["item"]["title"], rust["title"]);

    let english = search(host, &format!("q={}", enc(&format!("{word} api server"))));
    assert_eq!(ids(&english), vec![rust_id.clone()]);
    assert!(english.json()["items"][0]["highlight"]["description"].as_str().unwrap().contains("<mark>API</mark>"));
    let zh = search(host, &format!("q={}", enc(&format!("视频教程 {word}"))));
    assert_eq!(ids(&zh), vec![chinese_id.clone()]);
    assert_eq!(zh.json()["items"][0]["highlight"]["title"], format!("学习<mark>视频教程</mark> <mark>{word}</mark>"));
    assert_eq!(ids(&search(host, &format!("q={}", enc(&format!("编程 {word}"))))), vec![chinese_id.clone()]);
    assert_eq!(ids(&search(host, &format!("tags=rust&author={user}"))), vec![rust_id.clone()]);
    assert_eq!(ids(&search(host, &format!("q={word}&sort=date"))), vec![chinese_id.clone(), rust_id.clone()]);
    let first = search(host, &format!("q={word}&sort=date&limit=1")).json();
    let second = search(host, &format!("q={word}&sort=date&limit=1&cursor={}", first["next_cursor"].as_str().unwrap()));
    assert_eq!(ids(&second), vec![rust_id.clone()]);

    let users = search(host, &format!("q={username}&type=user")).json();
    assert_eq!(
        users["items"][0]["item"],
        json!({ "id": user, "username": username, "display_name": username, "created_at": users["items"][0]["item"]["created_at"] })
    );
    assert_eq!(users["items"][0]["highlight"]["username"], format!("<mark>{username}</mark>"));

    let prefix = &word[..word.len() - 2];
    let suggest = host.call(None, "GET", &format!("/search/suggest?q={}", enc(&format!("rust {prefix}"))), None).json();
    assert_eq!(suggest["suggestions"][0]["text"], rust["title"]);
    let suggest = host.call(None, "GET", &format!("/search/suggest?q={}&type=user&limit=20", &username[..username.len() - 1]), None).json();
    assert!(suggest["suggestions"].as_array().unwrap().contains(&json!({ "text": username, "kind": "user", "id": user })), "{suggest}");

    // A repeat is a cache hit until the index changes.
    assert_eq!(search(host, &format!("q={word}")).header("x-cache"), Some("hit"));
    let renamed = unique("okapi");
    let edit = json!({ "version": rust["version"], "title": format!("Rust {renamed} streaming tutorial") });
    assert_eq!(host.call(Some(&token), "PATCH", &format!("/videos/{rust_id}"), Some(edit)).status, 200);
    sync(host);
    let after = search(host, &format!("q={word}"));
    assert_eq!(after.header("x-cache"), Some("miss"), "the sync moved the index generation");
    assert_eq!(ids(&after), vec![chinese_id.clone()]);
    assert_eq!(ids(&search(host, &format!("q={renamed}"))), vec![rust_id.clone()]);

    assert_eq!(host.call(Some(&token), "DELETE", &format!("/videos/{chinese_id}"), None).status, 204);
    // No explicit sync: a search that misses the cache applies pending changes first.
    assert!(ids(&search(host, &format!("q={}", enc(&format!("视频教程 {word}"))))).is_empty());
    let s = status(host);
    assert_eq!(s["sync"]["lag"], 0, "{s}");
    assert_eq!(s["sync"]["pending"], 0, "{s}");
    assert_eq!(s["backend"], "sqlite");
}

#[test]
fn replayed_older_and_broken_changes_never_regress_and_failures_are_parked() {
    let host = app();
    let services = Services::shared();
    let (token, user, _) = account(host);
    let (old, new) = (unique("alpha"), unique("beta"));
    let video = publish(host, &token, &user, &format!("{old} clip"), "", &[]);
    let id = video["id"].as_u64().unwrap().to_string();
    let edit = json!({ "version": 1, "title": format!("{new} clip") });
    assert_eq!(host.call(Some(&token), "PATCH", &format!("/videos/{id}"), Some(edit)).status, 200);
    sync(host);
    assert_eq!(ids(&search(host, &format!("q={new}"))), vec![id.clone()]);

    // The record read back at an older version (as a reordered or retried change would carry
    // it), announced twice: the index keeps the newer document.
    let current = services.redis_cli(&["GET", &format!("video:{id}")]);
    let older = current.trim().replace(&format!("{new} clip"), &format!("{old} clip")).replace("\"version\":2", "\"version\":1");
    assert!(older.contains("\"version\":1"), "{older}");
    services.redis_cli(&["SET", &format!("video:{id}"), &older]);
    for _ in 0..2 {
        services.redis_cli(&["XADD", "feed:changes", "*", "kind", "video", "id", &id, "version", "1", "op", "upsert"]);
    }
    sync(host);
    services.redis_cli(&["SET", &format!("video:{id}"), current.trim()]);
    assert_eq!(ids(&search(host, &format!("q={new}"))), vec![id.clone()]);
    assert!(ids(&search(host, &format!("q={old}"))).is_empty());

    // Deleted, then an old upsert replayed: it stays deleted.
    assert_eq!(host.call(Some(&token), "DELETE", &format!("/videos/{id}"), None).status, 204);
    sync(host);
    services.redis_cli(&["XADD", "feed:changes", "*", "kind", "video", "id", &id, "version", "2", "op", "upsert"]);
    sync(host);
    assert!(ids(&search(host, &format!("q={new}"))).is_empty());

    // A record that cannot be read is retried with backoff, then parked; an entry that is not
    // a change at all is parked at once.
    let broken = format!("{}", 9_000_000_000_000_000u64 + std::process::id() as u64);
    services.redis_cli(&["SET", &format!("video:{broken}"), "{not json"]);
    services.redis_cli(&["XADD", "feed:changes", "*", "kind", "video", "id", &broken, "version", "1", "op", "upsert"]);
    services.redis_cli(&["XADD", "feed:changes", "*", "kind", "gif", "id", &broken]);
    let mut parked = Value::Null;
    for _ in 0..50 {
        sync(host);
        let admin = e2e::admin_token(&user);
        parked = host.call(Some(&admin), "GET", "/search/parked", None).json();
        let mine = parked["items"].as_array().unwrap().iter().filter(|p| p.to_string().contains(&broken)).count();
        if mine == 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mine: Vec<&Value> = parked["items"].as_array().unwrap().iter().filter(|p| p.to_string().contains(&broken)).collect();
    assert_eq!(mine.len(), 2, "{parked}");
    let record = mine.iter().find(|p| p["failure"]["change"].is_object()).unwrap();
    assert_eq!(record["failure"]["attempts"], 3);
    assert!(record["failure"]["error"].as_str().unwrap().contains("not valid"), "{record}");
    assert!(status(host)["sync"]["parked"].as_u64().unwrap() >= 2);
    assert_eq!(host.call(Some(&token), "GET", "/search/parked", None).status, 403, "admins only");
    services.redis_cli(&["DEL", &format!("video:{broken}")]);
}

#[test]
fn reindex_rebuilds_from_the_key_value_store_and_removes_orphans() {
    let host = app();
    let services = Services::shared();
    let (token, user, _) = account(host);
    let word = unique("heron");
    let video = publish(host, &token, &user, &format!("{word} at dawn"), "", &[]);
    let id = video["id"].as_u64().unwrap();
    // A document whose record exists nowhere but in the index (its key-value record and its
    // delete were lost): the reindex finds it in the range it covers and removes it.
    let ghost = (1u64 << 52) + u64::from(std::process::id());
    let record = services.redis_cli(&["GET", &format!("video:{id}")]);
    let fake = record
        .trim()
        .replace(&format!("\"id\":{id}"), &format!("\"id\":{ghost}"))
        .replace(&format!("{word} at dawn"), &format!("{word} ghost"));
    services.redis_cli(&["SET", &format!("video:{ghost}"), &fake]);
    services.redis_cli(&["XADD", "feed:changes", "*", "kind", "video", "id", &ghost.to_string(), "version", "1", "op", "upsert"]);
    sync(host);
    services.redis_cli(&["DEL", &format!("video:{ghost}")]);
    assert_eq!(ids(&search(host, &format!("q={word}+ghost"))), vec![ghost.to_string()]);

    assert_eq!(host.call(Some(&token), "POST", "/search/reindex", None).status, 403);
    let admin = e2e::admin_token(&user);
    let (mut after, mut indexed, mut removed) = (String::new(), 0, 0);
    loop {
        let path = if after.is_empty() { "/search/reindex".to_owned() } else { format!("/search/reindex?after={}", enc(&after)) };
        let reply = host.call(Some(&admin), "POST", &path, None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        indexed += body["indexed"].as_u64().unwrap();
        removed += body["removed"].as_u64().unwrap();
        match body["next_after"].as_str() {
            Some(next) => after = next.to_owned(),
            None => break,
        }
    }
    assert!(indexed >= 2 && removed >= 1, "indexed {indexed}, removed {removed}");
    assert!(ids(&search(host, &format!("q={word}+ghost"))).is_empty());
    assert_eq!(ids(&search(host, &format!("q={word}"))), vec![id.to_string()]);
}

#[test]
fn hostile_queries_are_refused_or_searched_as_plain_words() {
    let host = app();
    let (token, user, _) = account(host);
    let word = unique("lynx");
    publish(host, &token, &user, &format!("{word} drop table"), "", &[]);
    sync(host);
    let problem = |query: &str, status: u16, code: &str| {
        let reply = host.call(None, "GET", &format!("/search?{query}"), None);
        assert_eq!(reply.status, status, "{query}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
        assert_eq!(reply.json()["code"], code, "{query}");
    };
    problem(&format!("q={}", "a".repeat(10_000)), 400, "query-too-long");
    problem(&format!("q={}", enc(&"界".repeat(3000))), 400, "query-too-long");
    problem(&format!("q={}", enc(&"a ".repeat(30))), 400, "too-many-terms");
    problem(&format!("q=x&dsl={}", enc(r#"{"query":{"match_all":{}}}"#)), 400, "invalid-query");
    problem("q=x&sort=_score", 400, "invalid-query");
    problem("q=x&limit=1e9", 400, "invalid-query");
    problem("q=x&cursor=o999999999", 400, "invalid-cursor");
    problem("q=x&type=user&tags=x", 400, "invalid-query");
    problem("", 400, "missing-query");
    for hostile in [
        format!("{word}' OR 1=1; DROP TABLE search_docs; --"),
        format!("{word} \"unterminated NEAR(a b) * ^ {{title_ix}} : x"),
        format!("{word} AND OR NOT )))"),
        format!("{word}\u{0}\u{1}\u{202e}"),
    ] {
        let found = search(host, &format!("q={}", enc(&hostile)));
        assert_eq!(found.json()["degraded"], false, "{hostile}");
    }
    assert_eq!(ids(&search(host, &format!("q={}", enc(&format!("{word}' OR 1=1; DROP TABLE --"))))).len(), 0, "every word must match");
    assert_eq!(ids(&search(host, &format!("q={}", enc(&format!("\"{word}\" DROP; TABLE--"))))).len(), 1);
    assert_eq!(host.call(None, "POST", "/search", None).status, 405);
}

/// App with services of its own (the breaker and the engine-query counter are global).
fn isolated(services: &Services, env: &[(&str, &str)]) -> App {
    let env = env.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), v.to_string())).collect();
    App::start(AppOptions { env, services: Some(services), ..Default::default() })
}

#[test]
fn fifty_identical_concurrent_misses_reach_the_engine_once() {
    let services = Services::isolated();
    let host = Arc::new(isolated(&services, &[]));
    let (token, user, _) = account(&host);
    let word = unique("ibis");
    let video = publish(&host, &token, &user, &format!("{word} in flight"), "", &[]);
    sync(&host);
    let before = status(&host)["engine_queries"].as_u64().unwrap();
    let barrier = Arc::new(Barrier::new(50));
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let (host, barrier, word) = (host.clone(), barrier.clone(), word.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let reply = search(&host, &format!("q={word}"));
                (reply.header("x-cache").unwrap_or("").to_owned(), ids(&reply))
            })
        })
        .collect();
    let answers: Vec<(String, Vec<String>)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let after = status(&host)["engine_queries"].as_u64().unwrap();
    assert_eq!(after - before, 1, "answers: {answers:?}");
    assert!(answers.iter().all(|(_, ids)| *ids == vec![video["id"].as_u64().unwrap().to_string()]));
    // One request computes; the others wait for it (coalesced) or, arriving after it finished,
    // read its entry (hit): which of the two depends on timing, a second miss never happens.
    assert_eq!(answers.iter().filter(|(cache, _)| cache == "miss").count(), 1);
    assert!(answers.iter().all(|(cache, _)| ["miss", "coalesced", "hit"].contains(&cache.as_str())), "{answers:?}");
}

#[test]
fn a_failing_engine_trips_the_breaker_answers_degraded_and_recovers() {
    let services = Services::isolated();
    let host = isolated(&services, &[("SEARCH_BREAKER_FAILURES", "2"), ("SEARCH_BREAKER_COOLDOWN_MS", "6000"), ("SEARCH_CACHE_SECS", "1")]);
    let (token, user, _) = account(&host);
    let word = unique("gecko");
    let video = publish(&host, &token, &user, &format!("{word} on a wall"), "", &["lizard"]);
    let id = video["id"].as_u64().unwrap().to_string();
    sync(&host);
    assert_eq!(ids(&search(&host, &format!("q={word}"))), vec![id.clone()]);
    std::thread::sleep(Duration::from_millis(1100));

    // Break the full-text index from outside, as a corrupted or replaced table would.
    let db = rusqlite::Connection::open(host.state_dir().join("sqlite_db.db")).unwrap();
    db.execute_batch("ALTER TABLE search_fts RENAME TO search_fts_saved; CREATE TABLE search_fts (broken TEXT);").unwrap();

    let stale = search(&host, &format!("q={word}"));
    assert_eq!(stale.header("x-search-degraded"), Some("stale-cache"));
    let body = stale.json();
    assert_eq!((body["degraded"].clone(), body["degraded_reason"].clone()), (json!(true), json!("engine-failed")));
    assert_eq!(ids(&stale), vec![id.clone()]);
    let fallback = search(&host, &format!("q={}", enc(&format!("{word} wall"))));
    assert_eq!(fallback.header("x-search-degraded"), Some("fallback"));
    assert_eq!(ids(&fallback), vec![id.clone()], "the fallback matches recent videos");
    let s = status(&host);
    assert_eq!(s["breaker"]["state"], "open", "{s}");

    // Open: the engine is left alone.
    let queries = s["engine_queries"].as_u64().unwrap();
    let open = search(&host, &format!("q={}", enc(&format!("{word} on"))));
    assert_eq!(open.json()["degraded_reason"], "engine-unavailable");
    assert_eq!(status(&host)["engine_queries"].as_u64().unwrap(), queries);

    db.execute_batch("DROP TABLE search_fts; ALTER TABLE search_fts_saved RENAME TO search_fts;").unwrap();
    // The cool-down (6 s, long enough for the open-breaker steps above on a busy machine) ends,
    // one request probes the repaired engine, and the breaker closes.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let recovered = loop {
        let reply = search(&host, &format!("q={word}"));
        if reply.header("x-search-degraded").is_none() || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(recovered.header("x-search-degraded"), None, "{}", recovered.text());
    assert_eq!(recovered.json()["degraded"], false);
    assert_eq!(ids(&recovered), vec![id]);
    assert_eq!(status(&host)["breaker"]["state"], "closed");
}
