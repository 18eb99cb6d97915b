//! Favorites and watch history: idempotent, paged newest first, personal fields on the video,
//! positions for "continue watching", clearing; and, kept in the key-value store only, intact
//! after Redis loses everything.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2e::{json, receipt, unique, App, AppOptions, Reply, Services, Value};

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| App::start(AppOptions::default()))
}

fn call(host: &App, token: &str, method: &str, path: &str, body: Option<Value>) -> Reply {
    host.call(Some(token), method, path, body)
}

fn publish(host: &App, title: &str) -> u64 {
    let owner = unique("owner");
    let reply = host.call(Some(&e2e::access_token(&owner)), "POST", "/videos", Some(json!({ "receipt": receipt(&owner), "title": title })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()["id"].as_u64().unwrap()
}

fn video_ids(page: &Value) -> Vec<u64> {
    page["items"].as_array().unwrap().iter().map(|item| item["video"]["id"].as_u64().unwrap()).collect()
}

#[test]
fn favorites_are_idempotent_paged_newest_first_and_shown_on_the_video() {
    let host = app();
    let me = e2e::access_token(&unique("fan"));
    let videos: Vec<u64> = (0..3).map(|i| publish(host, &format!("fav {i}"))).collect();
    for &video in &videos {
        let reply = call(host, &me, "PUT", &format!("/videos/{video}/favorite"), None);
        assert_eq!((reply.status, reply.json()["favorited"].clone()), (200, json!(true)), "{}", reply.text());
    }
    assert_eq!(call(host, &me, "PUT", &format!("/videos/{}/favorite", videos[0]), None).status, 200, "adding twice is fine");
    let first = call(host, &me, "GET", "/feed/favorites?limit=2", None).json();
    assert_eq!(video_ids(&first), [videos[2], videos[1]], "newest first; re-adding kept the first place");
    assert!(first["items"][0]["favorited_at"].as_u64().is_some());
    let next = first["next_cursor"].as_str().expect("a full page has a cursor");
    let fourth = publish(host, "fav late");
    call(host, &me, "PUT", &format!("/videos/{fourth}/favorite"), None);
    let second = call(host, &me, "GET", &format!("/feed/favorites?limit=2&cursor={next}"), None).json();
    assert_eq!(video_ids(&second), [videos[0]], "a favorite added meanwhile does not shift the next page");

    let view = |video: u64| call(host, &me, "GET", &format!("/videos/{video}"), None).json();
    assert_eq!(view(videos[1])["favorited"], true);
    assert_eq!(call(host, &me, "DELETE", &format!("/videos/{}/favorite", videos[1]), None).json()["favorited"], false);
    assert_eq!(call(host, &me, "DELETE", &format!("/videos/{}/favorite", videos[1]), None).status, 200, "idempotent");
    assert_eq!(view(videos[1])["favorited"], false);
    assert!(host.get(&format!("/videos/{}", videos[0])).json().get("favorited").is_none(), "anonymous views are not personal");

    let unknown = call(host, &me, "PUT", "/videos/999/favorite", None);
    assert_eq!((unknown.status, unknown.json()["code"].clone()), (404, json!("no-such-video")));
    assert_eq!(host.call(None, "GET", "/feed/favorites", None).status, 401);
    assert_eq!(call(host, &me, "GET", "/feed/favorites?cursor=nope", None).json()["code"], "invalid-cursor");
}

#[test]
fn history_keeps_the_latest_position_of_each_video_most_recent_first_until_cleared() {
    let host = app();
    let me = e2e::access_token(&unique("viewer"));
    let (a, b) = (publish(host, "watched a"), publish(host, "watched b"));
    let report = |video: u64, body: Value| call(host, &me, "PUT", &format!("/videos/{video}/progress"), Some(body));
    assert_eq!(report(a, json!({ "position_ms": 12_000, "duration_ms": 60_000 })).status, 204);
    assert_eq!(report(b, json!({ "position_ms": 3_000 })).status, 204);
    assert_eq!(report(a, json!({ "position_ms": 34_000 })).status, 204);
    let history = call(host, &me, "GET", "/feed/history", None).json();
    assert_eq!(video_ids(&history), [a, b]);
    let latest = &history["items"][0];
    assert_eq!((latest["position_ms"].clone(), latest["duration_ms"].clone()), (json!(34_000), json!(60_000)));
    assert_eq!(call(host, &me, "GET", &format!("/videos/{a}"), None).json()["position_ms"], 34_000, "where to resume");

    for (body, field) in
        [(json!({ "position_ms": 86_400_001 }), "position_ms"), (json!({ "position_ms": 1, "duration_ms": 90_000_000 }), "duration_ms")]
    {
        let refused = report(a, body);
        assert_eq!((refused.status, refused.json()["field"].clone()), (400, json!(field)), "{}", refused.text());
    }
    assert_eq!(report(a, json!({ "position_ms": -1 })).status, 400);
    assert_eq!(report(a, json!({ "position": 1 })).status, 400);
    assert_eq!(report(999, json!({ "position_ms": 1 })).status, 404);

    assert_eq!(call(host, &me, "DELETE", "/feed/history", None).status, 204);
    assert_eq!(video_ids(&call(host, &me, "GET", "/feed/history", None).json()), Vec::<u64>::new());
    assert_eq!(call(host, &me, "GET", &format!("/videos/{a}"), None).json()["position_ms"], Value::Null);
}

/// The library lives in the key-value store, so a total Redis loss does not touch it: once
/// feed has rebuilt its records, both shelves list what they listed before.
#[test]
fn favorites_and_history_survive_a_total_redis_loss() {
    let services = Services::isolated();
    let host = App::start(AppOptions { services: Some(&services), ..Default::default() });
    let me = e2e::access_token(&unique("keeper"));
    let video = publish(&host, "kept");
    call(&host, &me, "PUT", &format!("/videos/{video}/favorite"), None);
    call(&host, &me, "PUT", &format!("/videos/{video}/progress"), Some(json!({ "position_ms": 5_000 })));
    services.redis_cli(&["FLUSHALL"]);
    // Tokens of the lost sessions are refused; this stands in for signing in again.
    services.seed_incarnation();
    let deadline = Instant::now() + Duration::from_secs(30);
    let favorites = loop {
        let reply = call(&host, &me, "GET", "/feed/favorites", None);
        if reply.status != 503 {
            break reply;
        }
        assert!(Instant::now() < deadline, "still rebuilding after 30 s: {}", reply.text());
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(favorites.status, 200, "{}", favorites.text());
    assert_eq!(video_ids(&favorites.json()), [video], "{}", favorites.text());
    let history = call(&host, &me, "GET", "/feed/history", None).json();
    assert_eq!((video_ids(&history), history["items"][0]["position_ms"].clone()), (vec![video], json!(5_000)));
}
