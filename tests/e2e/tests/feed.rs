//! feed end to end on Spin with real Redis and the key-value store: videos from upload
//! receipts, cursor timelines under concurrent inserts, the following feed, danmaku, likes under
//! concurrency, plays, the 24 h ranking and the change stream.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use e2e::{json, receipt, unique, App, AppOptions, Reply, Services, Value};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let env = vec![
            ("SPIN_VARIABLE_DANMAKU_BLOCKLIST".to_owned(), "badword,垃圾".to_owned()),
            ("SPIN_VARIABLE_RANKING_CACHE_SECS".to_owned(), "0".to_owned()),
            // These tests unlike straight after liking; `limits.rs` tests the pacing.
            ("SPIN_VARIABLE_LIKE_INTERVAL_MS".to_owned(), "0".to_owned()),
        ];
        App::start(AppOptions { env, ..Default::default() })
    })
}

/// A user known only by a token (no account): enough for everything but being followed.
fn token_user() -> (String, String) {
    let id = unique("u");
    (e2e::access_token(&id), id)
}

/// A registered user: (token, user id).
fn account() -> (String, String) {
    let reply = app().request("POST", "/auth/register").json(&json!({ "username": unique("f"), "password": "feed password" }));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    (body["access_token"].as_str().unwrap().to_owned(), body["user"]["id"].as_str().unwrap().to_owned())
}

fn call(token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Reply {
    let mut req = app().request(method, path);
    if let Some(token) = token {
        req = req.header("authorization", &format!("Bearer {token}"));
    }
    match body {
        Some(body) => req.json(&body),
        None => req.send(None),
    }
}

fn publish(token: &str, owner: &str, title: &str) -> Value {
    let reply = call(Some(token), "POST", "/videos", Some(json!({ "receipt": receipt(owner), "title": title, "tags": ["Test"] })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

fn ids(page: &Value) -> Vec<u64> {
    page["items"].as_array().unwrap().iter().map(|v| v["id"].as_u64().unwrap()).collect()
}

fn code(reply: &Reply) -> (u16, String) {
    (reply.status, reply.json()["code"].as_str().unwrap_or("").to_owned())
}

fn changes_of(id: u64) -> Vec<(String, String)> {
    let raw = Services::shared().redis_cli(&["XRANGE", "feed:changes", "-", "+"]);
    let lines: Vec<&str> = raw.lines().collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if *line == "id" && lines.get(i + 1) == Some(&id.to_string().as_str()) {
            found.push((lines[i + 3].to_owned(), lines[i + 5].to_owned()));
        }
    }
    found
}

#[test]
fn videos_are_created_from_receipts_edited_by_version_and_announced() {
    let (token, me) = token_user();
    let (other, other_id) = token_user();
    let video = publish(&token, &me, "  第一个视频  ");
    let id = video["id"].as_u64().unwrap();
    assert_eq!((video["title"].as_str(), video["version"].as_u64(), video["tags"].clone()), (Some("第一个视频"), Some(1), json!(["test"])));
    assert!(id < 1 << 53, "ids are exact in JavaScript");

    let mine = receipt(&me);
    let forged = format!("{}x", &mine[..mine.len() - 1]);
    assert_eq!(
        code(&call(Some(&token), "POST", "/videos", Some(json!({ "receipt": forged, "title": "t" })))),
        (400, "invalid-receipt".into())
    );
    let theirs = receipt(&other_id);
    assert_eq!(
        code(&call(Some(&token), "POST", "/videos", Some(json!({ "receipt": theirs, "title": "t" })))),
        (403, "receipt-not-yours".into())
    );
    assert_eq!(call(Some(&token), "POST", "/videos", Some(json!({ "receipt": mine.clone(), "title": "t" }))).status, 201);
    assert_eq!(code(&call(Some(&token), "POST", "/videos", Some(json!({ "receipt": mine, "title": "t" })))), (409, "receipt-used".into()));
    assert_eq!(call(None, "POST", "/videos", Some(json!({ "receipt": "x", "title": "t" }))).status, 401);
    let long = "x".repeat(81);
    assert_eq!(
        code(&call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt(&me), "title": long })))),
        (400, "invalid-title".into())
    );

    let path = format!("/videos/{id}");
    let edited = call(Some(&token), "PATCH", &path, Some(json!({ "version": 1, "title": "renamed", "description": "d" })));
    assert_eq!(edited.status, 200, "{}", edited.text());
    assert_eq!(edited.json()["version"], 2);
    let stale = call(Some(&token), "PATCH", &path, Some(json!({ "version": 1, "title": "lost edit" })));
    assert_eq!((code(&stale), stale.json()["version"].as_u64()), ((409, "version-conflict".into()), Some(2)));
    assert_eq!(code(&call(Some(&other), "PATCH", &path, Some(json!({ "version": 2, "title": "x" })))), (403, "not-your-video".into()));
    let fetched = call(None, "GET", &path, None).json();
    assert_eq!((fetched["title"].as_str(), fetched["likes"].as_u64()), (Some("renamed"), Some(0)));

    assert_eq!(code(&call(Some(&other), "DELETE", &path, None)), (403, "not-your-video".into()));
    assert_eq!(call(Some(&token), "DELETE", &path, None).status, 204);
    assert_eq!(code(&call(None, "GET", &path, None)), (404, "no-such-video".into()));
    assert_eq!(code(&call(None, "GET", "/videos/abc", None)), (400, "invalid-id".into()));

    // Every change, in order, with its version: what search-proxy consumes.
    let changes = changes_of(id);
    let expected = [("1", "upsert"), ("2", "upsert"), ("3", "delete")].map(|(v, op)| (v.to_owned(), op.to_owned()));
    assert_eq!(changes, expected, "feed:changes for {id}");
}

#[test]
fn a_real_upload_receipt_creates_a_video() {
    let (token, _) = account();
    let data = e2e::seeded_bytes(1, 70_000);
    let upload =
        call(Some(&token), "POST", "/uploads", Some(json!({ "filename": "a.mp4", "size": data.len(), "content_type": "video/mp4" })))
            .json();
    let id = upload["id"].as_str().unwrap();
    let parts = call(Some(&token), "POST", &format!("/uploads/{id}/parts"), Some(json!({ "part_numbers": [1] }))).json();
    let etag = e2e::http("PUT", parts["parts"][0]["url"].as_str().unwrap()).send(Some(&data)).header("etag").unwrap().to_owned();
    let done =
        call(Some(&token), "POST", &format!("/uploads/{id}/complete"), Some(json!({ "parts": [{ "part_number": 1, "etag": etag }] })));
    let receipt = done.json()["receipt"].as_str().unwrap().to_owned();
    let video = call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt, "title": "uploaded" })));
    assert_eq!(video.status, 201, "{}", video.text());
    assert_eq!(video.json()["object_key"], upload["key"]);
    assert_eq!(video.json()["size"], 70_000);
}

#[test]
fn timelines_page_without_gaps_or_repeats_while_videos_arrive() {
    let (token, me) = token_user();
    let before: Vec<u64> = (0..9).map(|i| publish(&token, &me, &format!("v{i}"))["id"].as_u64().unwrap()).collect();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/users/{me}/videos?limit=4&cursor={c}"),
            None => format!("/users/{me}/videos?limit=4"),
        };
        let page = call(None, "GET", &path, None).json();
        seen.extend(ids(&page));
        // Someone publishes between every page.
        publish(&token, &me, "late");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no repeats: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "newest first: {seen:?}");
    assert!(before.iter().all(|id| unique.contains(id)), "no gaps: {before:?} vs {seen:?}");

    let latest = call(None, "GET", "/feed/latest?limit=3", None).json();
    assert_eq!(ids(&latest).len(), 3);
    assert_eq!(code(&call(None, "GET", "/feed/latest?cursor=bm9wZQ", None)), (400, "invalid-cursor".into()));
    assert_eq!(code(&call(None, "GET", "/feed/latest?limit=1000", None)), (400, "invalid-limit".into()));
}

#[test]
fn the_following_feed_merges_followed_authors() {
    let (a_token, a) = account();
    let (b_token, b) = account();
    let (me, _) = token_user();
    assert_eq!(call(Some(&me), "PUT", &format!("/users/{a}/follow"), None).status, 204);
    assert_eq!(call(Some(&me), "PUT", &format!("/users/{b}/follow"), None).status, 204);
    assert_eq!(code(&call(Some(&me), "PUT", "/users/nobody-at-all/follow", None)), (404, "no-such-user".into()));
    let mut posted = Vec::new();
    for i in 0..3 {
        posted.push(publish(&a_token, &a, &format!("a{i}"))["id"].as_u64().unwrap());
        posted.push(publish(&b_token, &b, &format!("b{i}"))["id"].as_u64().unwrap());
    }
    posted.reverse();
    let first = call(Some(&me), "GET", "/feed/following?limit=4", None).json();
    let next = first["next_cursor"].as_str().unwrap();
    let second = call(Some(&me), "GET", &format!("/feed/following?limit=4&cursor={next}"), None).json();
    let mut all = ids(&first);
    all.extend(ids(&second));
    assert_eq!(all, posted, "both authors, merged newest first");

    assert_eq!(call(Some(&me), "DELETE", &format!("/users/{b}/follow"), None).status, 204);
    let only_a = ids(&call(Some(&me), "GET", "/feed/following?limit=10", None).json());
    assert_eq!(only_a.len(), 3);
    assert_eq!(call(None, "GET", "/feed/following", None).status, 401);
}

#[test]
fn danmaku_post_fetch_merge_limits_and_reconnect() {
    let (token, me) = token_user();
    let video = publish(&token, &me, "danmaku")["id"].as_u64().unwrap();
    let path = format!("/videos/{video}/danmaku");
    let post = |token: &str, time_ms: i64, text: &str| call(Some(token), "POST", &path, Some(json!({ "time_ms": time_ms, "text": text })));

    let first = post(&token, 61_500, "hello");
    assert_eq!(first.status, 201, "{}", first.text());
    let first_id = first.json()["id"].as_u64().unwrap();
    assert_eq!(code(&post(&token, 61_700, "HELLO!")), (409, "repeated-danmaku".into()), "the same text again is suppressed");
    for _ in 0..4 {
        let (fan, _) = token_user();
        assert_eq!(post(&fan, 62_100, "666").status, 201);
    }
    let (fan, _) = token_user();
    let late = post(&fan, 65_000, "late").json()["id"].as_u64().unwrap();

    let segment = call(None, "GET", &format!("{path}?segment=1"), None).json();
    let items = segment["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{segment}");
    assert_eq!((items[1]["text"].as_str(), items[1]["count"].as_u64()), (Some("666"), Some(4)), "{segment}");
    assert_eq!(items[0]["count"], 1);
    assert_eq!(call(None, "GET", &format!("{path}?segment=0"), None).json()["items"], json!([]));

    let resumed = call(None, "GET", &format!("{path}?after={first_id}"), None).json();
    let resumed_ids: Vec<u64> = resumed["items"].as_array().unwrap().iter().map(|d| d["id"].as_u64().unwrap()).collect();
    assert_eq!(resumed_ids.len(), 5);
    assert_eq!(resumed["last_id"].as_u64(), Some(late));
    assert!(resumed_ids.iter().all(|&id| id > first_id));

    assert_eq!(code(&post(&token, 1000, "a B a D w o r d")), (400, "blocked-content".into()));
    assert_eq!(code(&post(&token, 1000, "真是垃圾")), (400, "blocked-content".into()));
    assert_eq!(code(&post(&token, -5, "negative")), (400, "invalid-body".into()));
    assert_eq!(code(&post(&token, 1000, &"长".repeat(101))), (400, "invalid-text".into()));
    assert_eq!(
        code(&call(Some(&token), "POST", "/videos/123/danmaku", Some(json!({ "time_ms": 1, "text": "x" })))),
        (404, "no-such-video".into())
    );
    assert_eq!(code(&call(None, "GET", &format!("{path}?segment=99999"), None)), (400, "invalid-query".into()));
    assert_eq!(call(None, "POST", &path, Some(json!({ "time_ms": 1, "text": "x" }))).status, 401);

    let (spammer, _) = token_user();
    let statuses: Vec<u16> = (0..11).map(|i| post(&spammer, 1000 + i, &format!("msg {i}")).status).collect();
    assert_eq!(statuses[..10], [201; 10], "a burst of 10 is allowed");
    let limited = post(&spammer, 2000, "one more");
    assert_eq!(code(&limited), (429, "danmaku-rate-limited".into()));
    assert!(limited.header("retry-after").is_some());
}

#[test]
fn concurrent_likes_on_one_video_are_exact() {
    let (token, me) = token_user();
    let video = publish(&token, &me, "hot")["id"].as_u64().unwrap();
    let path = format!("/videos/{video}/like");
    let users: Vec<String> = (0..200).map(|_| token_user().0).collect();
    std::thread::scope(|scope| {
        for chunk in users.chunks(25) {
            let path = &path;
            scope.spawn(move || {
                for user in chunk {
                    let reply = call(Some(user), "PUT", path, None);
                    assert_eq!(reply.status, 200, "{}", reply.text());
                }
            });
        }
    });
    let likes = |token: Option<&str>| call(token, "GET", &format!("/videos/{video}"), None).json();
    assert_eq!(likes(None)["likes"], 200);
    assert_eq!(call(Some(&users[0]), "PUT", &path, None).json()["likes"], 200, "liking twice is one like");
    assert_eq!(likes(Some(&users[0]))["liked"], true);
    assert_eq!(call(Some(&users[0]), "DELETE", &path, None).json()["likes"], 199);
    assert_eq!(call(Some(&users[0]), "DELETE", &path, None).json()["likes"], 199, "unliking twice is one unlike");
    assert_eq!(likes(Some(&users[0]))["liked"], false);
    assert_eq!(code(&call(Some(&token), "PUT", "/videos/999/like", None)), (404, "no-such-video".into()));
}

#[test]
fn plays_count_once_per_window_and_the_ranking_spans_24_hours() {
    let (token, me) = token_user();
    let [old, steady, fresh] = ["old", "steady", "fresh"].map(|t| publish(&token, &me, t)["id"].as_u64().unwrap());
    let plays = format!("/videos/{fresh}/plays");
    assert_eq!(call(Some(&token), "POST", &plays, None).json()["counted"], true);
    assert_eq!(call(Some(&token), "POST", &plays, None).json()["counted"], false);
    assert_eq!(call(None, "GET", &format!("/videos/{fresh}"), None).json()["plays"], 1);

    // Fabricated hourly buckets: `old` only 30 hours ago (outside the window), `steady` spread
    // over the day, `fresh` this hour. Scores dwarf what other tests add.
    let hour = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 / 3_600_000;
    let redis = Services::shared();
    let add = |hours_ago: u64, score: u64, id: u64| {
        redis.redis_cli(&["ZINCRBY", &format!("rank:h:{}", hour - hours_ago), &score.to_string(), &id.to_string()]);
    };
    add(30, 90_000_000, old);
    add(23, 30_000_000, steady);
    add(10, 30_000_000, steady);
    add(0, 50_000_000, fresh);
    let ranking = call(None, "GET", "/feed/rankings?limit=5", None);
    assert_eq!(ranking.status, 200, "{}", ranking.text());
    let top: Vec<u64> = ranking.json()["items"].as_array().unwrap().iter().map(|i| i["video"]["id"].as_u64().unwrap()).collect();
    assert_eq!(top[..2], [steady, fresh], "{}", ranking.text());
    assert!(!top.contains(&old), "30 hours ago is outside the window");
    assert_eq!(code(&call(None, "GET", "/feed/rankings?limit=201", None)), (400, "invalid-limit".into()));
}
