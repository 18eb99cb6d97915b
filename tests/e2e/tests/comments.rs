//! Comments end to end on Spin with real Redis and the key-value store: threads one
//! level deep, cursors that hold while others post (newest and hot), hot order over likes from
//! many users, delete rules, idempotent likes, the count on the video, the key-value copy, and
//! hostile input answered with problems.

use std::sync::OnceLock;

use e2e::{json, receipt, unique, App, AppOptions, Reply, Value};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let env = vec![
            ("SPIN_VARIABLE_DANMAKU_BLOCKLIST".to_owned(), "badword,垃圾".to_owned()),
            // These tests unlike straight after liking; the pacing has its own test below.
            ("SPIN_VARIABLE_LIKE_INTERVAL_MS".to_owned(), "0".to_owned()),
        ];
        App::start(AppOptions { env, ..Default::default() })
    })
}

/// A user known only by a token: (token, user id).
fn user() -> (String, String) {
    let id = unique("c");
    (e2e::access_token(&id), id)
}

fn call(token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Reply {
    app().call(token, method, path, body)
}

/// A new video by a new user: (video id, owner's token).
fn video() -> (u64, String) {
    let (token, owner) = user();
    let reply = call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt(&owner), "title": "comments" })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    (reply.json()["id"].as_u64().unwrap(), token)
}

fn post(token: &str, video: u64, text: &str, parent: Option<u64>) -> Value {
    let body = match parent {
        Some(parent) => json!({ "text": text, "parent_id": parent }),
        None => json!({ "text": text }),
    };
    let reply = call(Some(token), "POST", &format!("/videos/{video}/comments"), Some(body));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

fn posted(token: &str, video: u64, text: &str, parent: Option<u64>) -> u64 {
    post(token, video, text, parent)["id"].as_u64().unwrap()
}

fn get(token: Option<&str>, path: &str) -> Value {
    let reply = call(token, "GET", path, None);
    assert_eq!(reply.status, 200, "GET {path}: {}", reply.text());
    reply.json()
}

fn ids(page: &Value) -> Vec<u64> {
    page["items"].as_array().unwrap().iter().map(|c| c["id"].as_u64().unwrap()).collect()
}

fn code(reply: &Reply) -> (u16, String) {
    (reply.status, reply.json()["code"].as_str().unwrap_or("").to_owned())
}

/// Every page of `path` (which has a `?`), following `next_cursor`; `between` runs before each
/// page after the first.
fn all_pages(path: &str, mut between: impl FnMut()) -> Vec<u64> {
    let mut listed = Vec::new();
    let mut page = get(None, path);
    loop {
        listed.extend(ids(&page));
        let Some(cursor) = page["next_cursor"].as_str() else { return listed };
        between();
        page = get(None, &format!("{path}&cursor={cursor}"));
    }
}

/// The key-value store's copy of comment `id` of `video`, if any.
fn stored(video: u64, id: u64) -> Option<Value> {
    let db = rusqlite::Connection::open(app().state_dir().join("sqlite_key_value.db")).unwrap();
    let key = format!("comment:{video}:{id}");
    let value: Option<Vec<u8>> =
        db.query_row("SELECT value FROM spin_key_value WHERE key = ?1", [&key], |row| row.get(0)).map(Some).unwrap_or(None);
    value.map(|bytes| serde_json::from_slice(&bytes).unwrap())
}

#[test]
fn replies_are_filed_under_their_root_and_paged_oldest_first() {
    let (video, _) = video();
    let (ann, ann_id) = user();
    let (bob, _) = user();
    let root = post(&ann, video, "  first!\r\nsecond line  ", None);
    let root_id = root["id"].as_u64().unwrap();
    assert_eq!(
        (root["video"].as_u64(), root["root"].clone(), root["reply_to"].clone(), root["author"].as_str(), root["text"].as_str()),
        (Some(video), Value::Null, Value::Null, Some(ann_id.as_str()), Some("first!\nsecond line"))
    );
    assert!(root["created_at"].as_u64().unwrap() > 1_735_689_600_000);
    let reply = post(&bob, video, "hi ann", Some(root_id));
    let reply_id = reply["id"].as_u64().unwrap();
    assert_eq!((reply["root"].as_u64(), reply["reply_to"].as_u64()), (Some(root_id), Some(root_id)));
    let nested = post(&ann, video, "hi bob", Some(reply_id));
    assert_eq!((nested["root"].as_u64(), nested["reply_to"].as_u64()), (Some(root_id), Some(reply_id)), "one level deep");
    let mut thread = vec![reply_id, nested["id"].as_u64().unwrap()];
    for i in 0..3 {
        thread.push(posted(&bob, video, &format!("more {i}"), Some(root_id)));
    }

    let page = get(Some(&ann), &format!("/videos/{video}/comments"));
    assert_eq!((ids(&page), page["total"].as_u64(), page["next_cursor"].clone()), (vec![root_id], Some(6), Value::Null));
    let item = &page["items"][0];
    assert_eq!((item["reply_count"].as_u64(), item["likes"].as_u64(), item["liked"].as_bool()), (Some(5), Some(0), Some(false)));
    assert_eq!(ids(&json!({ "items": item["replies"] })), &thread[..3], "the three oldest replies");
    assert!(get(None, &format!("/videos/{video}/comments")).pointer("/items/0/liked").is_none(), "liked only with a token");

    let replies = format!("/videos/{video}/comments/{root_id}/replies?limit=2");
    assert_eq!(all_pages(&replies, || {}), thread, "every reply once, oldest first");
    let first = get(None, &replies);
    assert_eq!((first["total"].as_u64(), first["items"][1]["reply_to"].as_u64()), (Some(5), Some(reply_id)));
    let of_reply = get(None, &format!("/videos/{video}/comments/{reply_id}/replies"));
    assert_eq!((of_reply["items"].clone(), of_reply["total"].as_u64()), (json!([]), Some(0)), "a reply's replies are its root's");

    assert_eq!(get(None, &format!("/videos/{video}"))["comments"].as_u64(), Some(6), "the count on the video");
    let (other, _) = self::video();
    assert_eq!(get(None, &format!("/videos/{other}"))["comments"].as_u64(), Some(0));
    let copy = stored(video, nested["id"].as_u64().unwrap()).expect("the key-value store holds each comment under comment:<video>:<id>");
    assert_eq!(copy, nested, "the stored copy is the record answered");
}

#[test]
fn newest_first_pages_hold_while_others_post() {
    let (video, _) = video();
    let (ann, _) = user();
    let mut earlier: Vec<u64> = (0..12).map(|i| posted(&ann, video, &format!("root {i}"), None)).collect();
    earlier.reverse();
    let mut n = 0;
    let listed = all_pages(&format!("/videos/{video}/comments?limit=5"), || {
        for _ in 0..5 {
            posted(&ann, video, &format!("inserted {n}"), None);
            n += 1;
        }
    });
    assert_eq!(listed, earlier, "no repeats, no gaps, and nothing posted meanwhile slips into later pages");
    assert_eq!(n, 10, "two pages after the first");
    assert_eq!(get(None, &format!("/videos/{video}/comments?sort=new&limit=50"))["total"].as_u64(), Some(22));

    // Hot: new roots enter at the top too, so they never push an unread one back.
    let hot_before = ids(&get(None, &format!("/videos/{video}/comments?sort=hot&limit=50")));
    let listed = all_pages(&format!("/videos/{video}/comments?sort=hot&limit=4"), || {
        posted(&ann, video, &format!("hot insert {n}"), None);
        n += 1;
    });
    assert_eq!(listed, hot_before);
}

#[test]
fn hot_order_follows_likes_and_replies() {
    let (video, _) = video();
    let (ann, _) = user();
    let [a, b, c, d] = ["a", "b", "c", "d"].map(|text| posted(&ann, video, text, None));
    let like = |comment: u64, users: usize| -> String {
        let mut last = String::new();
        for _ in 0..users {
            let (token, _) = user();
            let reply = call(Some(&token), "PUT", &format!("/videos/{video}/comments/{comment}/like"), None);
            assert_eq!(reply.status, 200, "{}", reply.text());
            last = token;
        }
        last
    };
    let a_fan = like(a, 30);
    like(b, 10);
    like(d, 3);
    for i in 0..2 {
        posted(&ann, video, &format!("reply {i}"), Some(c));
    }
    // log10(1 + 30) > log10(1 + 10) > log10(1 + 2 × 2) > log10(1 + 3); the seconds between the
    // posts weigh millionths of that.
    let hot = get(Some(&a_fan), &format!("/videos/{video}/comments?sort=hot"));
    assert_eq!(ids(&hot), [a, b, c, d]);
    let likes: Vec<(u64, u64)> =
        hot["items"].as_array().unwrap().iter().map(|i| (i["likes"].as_u64().unwrap(), i["reply_count"].as_u64().unwrap())).collect();
    assert_eq!(likes, [(30, 0), (10, 0), (0, 2), (3, 0)]);
    assert_eq!((hot["items"][0]["liked"].as_bool(), hot["items"][1]["liked"].as_bool()), (Some(true), Some(false)));
    assert_eq!(all_pages(&format!("/videos/{video}/comments?sort=hot&limit=2"), || {}), [a, b, c, d]);
    assert_eq!(ids(&get(None, &format!("/videos/{video}/comments?sort=new"))), [d, c, b, a]);
}

#[test]
fn a_comment_is_deleted_by_its_author_or_the_videos_and_a_root_takes_its_thread() {
    let (video, owner) = video();
    let (ann, _) = user();
    let (bob, _) = user();
    let (carl, _) = user();
    let root = posted(&ann, video, "root", None);
    let replies = [posted(&bob, video, "one", Some(root)), posted(&bob, video, "two", Some(root))];
    let path = |id: u64| format!("/videos/{video}/comments/{id}");
    assert_eq!(code(&call(Some(&carl), "DELETE", &path(replies[0]), None)), (403, "not-your-comment".into()));
    assert_eq!(call(None, "DELETE", &path(replies[0]), None).status, 401);
    assert_eq!(call(Some(&bob), "DELETE", &path(replies[0]), None).status, 204, "its author");
    assert_eq!(code(&call(Some(&bob), "DELETE", &path(replies[0]), None)), (404, "no-such-comment".into()));
    assert!(stored(video, replies[0]).is_none());
    let page = get(None, &format!("/videos/{video}/comments"));
    assert_eq!((page["total"].as_u64(), page["items"][0]["reply_count"].as_u64()), (Some(2), Some(1)));

    assert_eq!(call(Some(&owner), "DELETE", &path(root), None).status, 204, "the video's author");
    assert_eq!(get(None, &format!("/videos/{video}/comments"))["items"], json!([]));
    assert_eq!(get(None, &format!("/videos/{video}"))["comments"].as_u64(), Some(0));
    assert_eq!(code(&call(None, "GET", &format!("{}/replies", path(root)), None)), (404, "no-such-comment".into()));
    assert!(stored(video, root).is_none() && stored(video, replies[1]).is_none(), "its thread is gone from the key-value store too");
    assert_eq!(code(&call(Some(&bob), "DELETE", &path(replies[1]), None)), (404, "no-such-comment".into()));
}

#[test]
fn likes_are_idempotent() {
    let (video, _) = video();
    let (ann, _) = user();
    let (bob, _) = user();
    let comment = posted(&ann, video, "like me", None);
    let path = format!("/videos/{video}/comments/{comment}/like");
    let state = |token: &str, method: &str| {
        let reply = call(Some(token), method, &path, None);
        assert_eq!(reply.status, 200, "{}", reply.text());
        let body = reply.json();
        (body["liked"].as_bool().unwrap(), body["likes"].as_u64().unwrap())
    };
    assert_eq!(state(&ann, "PUT"), (true, 1));
    assert_eq!(state(&ann, "PUT"), (true, 1));
    assert_eq!(state(&bob, "PUT"), (true, 2));
    assert_eq!(state(&ann, "DELETE"), (false, 1));
    assert_eq!(state(&ann, "DELETE"), (false, 1));
    assert_eq!(get(Some(&bob), &format!("/videos/{video}/comments"))["items"][0]["liked"], true);
    let (other, _) = self::video();
    assert_eq!(code(&call(Some(&ann), "PUT", &format!("/videos/{other}/comments/{comment}/like"), None)), (404, "no-such-comment".into()));
    assert_eq!(code(&call(Some(&ann), "PUT", &format!("/videos/{video}/comments/1/like"), None)), (404, "no-such-comment".into()));
    assert_eq!(call(None, "PUT", &path, None).status, 401);
}

#[test]
fn hostile_input_gets_problems() {
    let (video, _) = video();
    let (other, _) = self::video();
    let (ann, _) = user();
    let root = posted(&ann, video, "a root", None);
    let elsewhere = posted(&ann, other, "another video's", None);
    let comments = format!("/videos/{video}/comments");
    let posting = |body: Value| call(Some(&ann), "POST", &comments, Some(body));
    let cases = [
        (json!({ "text": "" }), 400, "invalid-text"),
        (json!({ "text": " \n\t " }), 400, "invalid-text"),
        (json!({ "text": "x".repeat(1001) }), 400, "invalid-text"),
        (json!({ "text": "x".repeat(10_000) }), 400, "invalid-text"),
        (json!({ "text": "bell \u{7} here" }), 400, "invalid-text"),
        (json!({ "text": "escape \u{1b}[31m" }), 400, "invalid-text"),
        (json!({ "text": "what a B A D\nword" }), 400, "blocked-content"),
        (json!({ "text": "垃·圾" }), 400, "blocked-content"),
        (json!({ "text": "x", "parent_id": 1 }), 400, "invalid-parent"),
        (json!({ "text": "x", "parent_id": 0 }), 400, "invalid-parent"),
        (json!({ "text": "x", "parent_id": elsewhere }), 400, "invalid-parent"),
        (json!({ "text": "x", "parent_id": -5 }), 400, "invalid-body"),
        (json!({ "text": "x", "parent_id": "12" }), 400, "invalid-body"),
        (json!({ "text": "x", "author": "someone" }), 400, "invalid-body"),
        (json!({ "text": 5 }), 400, "invalid-body"),
        (json!([]), 400, "invalid-body"),
    ];
    for (body, status, expected) in cases {
        let reply = posting(body.clone());
        assert_eq!(code(&reply), (status, expected.to_owned()), "{body}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    }
    let raw = |content_type: &str, body: &[u8]| {
        app()
            .request("POST", &comments)
            .header("authorization", &format!("Bearer {ann}"))
            .header("content-type", content_type)
            .send(Some(body))
    };
    assert_eq!(code(&raw("application/json", &vec![b' '; 70_000])), (413, "body-too-large".into()));
    assert_eq!(code(&raw("text/plain", b"hi")), (415, "unsupported-media-type".into()));
    assert_eq!(code(&raw("application/json", b"{\"text\":")), (400, "malformed-json".into()));
    assert_eq!(call(None, "POST", &comments, Some(json!({ "text": "x" }))).status, 401);
    assert_eq!(code(&call(Some(&ann), "POST", "/videos/1/comments", Some(json!({ "text": "x" })))), (404, "no-such-video".into()));
    assert_eq!(code(&call(Some(&ann), "POST", "/videos/abc/comments", Some(json!({ "text": "x" })))), (400, "invalid-id".into()));
    let nice = posted(&ann, video, "Nice one!", None);
    let repeat = posting(json!({ "text": "ｎｉｃｅ　ｏｎｅ" }));
    assert_eq!((code(&repeat), repeat.json()["variable"].as_str()), ((409, "repeated-comment".into()), Some("comment_repeat_secs")));
    assert_eq!(
        call(Some(&ann), "POST", &format!("/videos/{other}/comments"), Some(json!({ "text": "Nice one!" }))).status,
        201,
        "on another video it is no repeat"
    );

    let hot_cursor = {
        let page = get(None, &format!("{comments}?sort=hot&limit=1"));
        page["next_cursor"].as_str().unwrap().to_owned()
    };
    let reads = [
        (format!("{comments}?cursor=abc"), 400, "invalid-cursor"),
        (format!("{comments}?cursor=djE6"), 400, "invalid-cursor"),
        (format!("{comments}?sort=new&cursor={hot_cursor}"), 400, "invalid-cursor"),
        (format!("{comments}?sort=top"), 400, "invalid-sort"),
        (format!("{comments}?limit=0"), 400, "invalid-limit"),
        (format!("{comments}?limit=51"), 400, "invalid-limit"),
        (format!("{comments}?limit=ten"), 400, "invalid-limit"),
        (format!("{comments}/abc/replies"), 400, "invalid-id"),
        (format!("{comments}/0/replies"), 400, "invalid-id"),
        (format!("{comments}/99999999999999999999/replies"), 400, "invalid-id"),
        (format!("{comments}/{root}/replies?cursor=djE6NQ"), 400, "invalid-cursor"),
        (format!("{comments}/{elsewhere}/replies"), 404, "no-such-comment"),
        (format!("{comments}/1/replies"), 404, "no-such-comment"),
        ("/videos/1/comments".to_owned(), 404, "no-such-video"),
        ("/videos/-1/comments".to_owned(), 400, "invalid-id"),
    ];
    for (path, status, expected) in reads {
        let reply = call(Some(&ann), "GET", &path, None);
        assert_eq!(code(&reply), (status, expected.to_owned()), "GET {path}: {}", reply.text());
    }
    assert_eq!(code(&call(Some(&ann), "DELETE", &format!("{comments}/x1"), None)), (400, "invalid-id".into()));
    assert_eq!(code(&call(Some(&ann), "DELETE", &format!("{comments}/{elsewhere}"), None)), (404, "no-such-comment".into()));
    assert_eq!(ids(&get(None, &format!("{comments}?limit=50"))), [nice, root], "refusals stored nothing");
    assert_eq!(get(None, &format!("/videos/{video}"))["comments"].as_u64(), Some(2));
}

#[test]
fn posting_too_fast_and_flipping_a_like_too_fast_are_refused() {
    let env = vec![
        ("SPIN_VARIABLE_COMMENT_PER_MINUTE".to_owned(), "3".to_owned()),
        ("SPIN_VARIABLE_LIKE_INTERVAL_MS".to_owned(), "60000".to_owned()),
    ];
    let strict = App::start(AppOptions { env, ..Default::default() });
    let (token, owner) = user();
    let created = strict.call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt(&owner), "title": "strict" })));
    assert_eq!(created.status, 201, "{}", created.text());
    let video = created.json()["id"].as_u64().unwrap();
    let path = format!("/videos/{video}/comments");
    let mut last = 0;
    for i in 0..3 {
        let reply = strict.call(Some(&token), "POST", &path, Some(json!({ "text": format!("comment {i}") })));
        assert_eq!(reply.status, 201, "{}", reply.text());
        last = reply.json()["id"].as_u64().unwrap();
    }
    let refused = strict.call(Some(&token), "POST", &path, Some(json!({ "text": "one too many" })));
    assert_eq!(code(&refused), (429, "comment-rate-limited".into()));
    assert_eq!((refused.json()["variable"].as_str(), refused.json()["limit"].as_u64()), (Some("comment_per_minute"), Some(3)));
    assert!(refused.header("retry-after").and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| (1..=60).contains(&s)));
    let (other, _) = user();
    assert_eq!(strict.call(Some(&other), "POST", &path, Some(json!({ "text": "mine" }))).status, 201, "the limit is per user");

    let like = format!("{path}/{last}/like");
    assert_eq!(strict.call(Some(&other), "PUT", &like, None).status, 200);
    assert_eq!(strict.call(Some(&other), "PUT", &like, None).status, 200, "repeating the current state is never paced");
    let flipped = strict.call(Some(&other), "DELETE", &like, None);
    assert_eq!((code(&flipped), flipped.json()["variable"].as_str()), ((429, "like-too-fast".into()), Some("like_interval_ms")));
    assert!(flipped.header("retry-after").is_some());
}
