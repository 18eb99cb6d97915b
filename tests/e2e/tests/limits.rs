//! Per-client-address limits (`PerClient`) and the like interval, with low limits: each action's
//! request n+1 from one address gets a 429 problem with `Retry-After` naming its variable.
//! Every test client is 127.0.0.1, so each action's window is used by one test only.

use std::sync::OnceLock;

use e2e::{receipt, unique, App, AppOptions, Reply};
use serde_json::json;

/// How many requests of each limited action one address may make per window here.
const LIMIT: u64 = 3;

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let low = LIMIT.to_string();
        let mut env: Vec<(String, String)> = [
            "REGISTER_PER_CLIENT_PER_HOUR",
            "SEARCH_PER_CLIENT_PER_MINUTE",
            "SUGGEST_PER_CLIENT_PER_MINUTE",
            "FOLLOW_PER_CLIENT_PER_MINUTE",
            "COMMENT_PER_CLIENT_PER_MINUTE",
        ]
        .into_iter()
        .map(|name| (format!("SPIN_VARIABLE_{name}"), low.clone()))
        .collect();
        env.push(("SPIN_VARIABLE_LIKE_PER_CLIENT_PER_MINUTE".into(), "5".into()));
        env.push(("SPIN_VARIABLE_LIKE_INTERVAL_MS".into(), "60000".into()));
        App::start(AppOptions { env, ..AppOptions::default() })
    })
}

fn call(token: Option<&str>, method: &str, path: &str) -> Reply {
    let mut request = app().request(method, path);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    request.send(None)
}

/// A 429 problem with `Retry-After` (at most the window) that names `variable`.
fn assert_limited(reply: &Reply, code: &str, variable: &str, window_secs: u64) {
    assert_eq!(reply.status, 429, "{}", reply.text());
    assert_eq!(reply.header("content-type"), Some("application/problem+json"));
    let problem = reply.json();
    assert_eq!(problem["code"], code, "{problem}");
    assert_eq!(problem["variable"], variable, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains(variable), "{problem}");
    let retry: u64 = reply.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=window_secs).contains(&retry), "Retry-After {retry}");
    assert_eq!(problem["retry_after"], retry);
}

/// The limit is counted before the body is read: once over it, even a body that is not JSON
/// gets the 429 (not a 400), so a refused sign-up costs no parsing and no password hash, and
/// creates no account.
#[test]
fn sign_ups_per_address_are_limited_before_the_body_is_read() {
    let register = |name: &str| app().request("POST", "/auth/register").json(&json!({ "username": name, "password": "limits password" }));
    for _ in 0..LIMIT {
        assert_eq!(register(&unique("lim")).status, 201);
    }
    let refused_name = unique("lim");
    assert_limited(&register(&refused_name), "rate-limited", "register_per_client_per_hour", 3600);
    let garbage = app().request("POST", "/auth/register").header("content-type", "application/json").send(Some(b"{not json"));
    assert_limited(&garbage, "rate-limited", "register_per_client_per_hour", 3600);
    let login = app().request("POST", "/auth/login").json(&json!({ "username": refused_name, "password": "limits password" }));
    assert_eq!(login.status, 401, "the refused sign-up created no account: {}", login.text());
}

#[test]
fn searches_and_suggestions_per_address_are_limited_separately() {
    for _ in 0..LIMIT {
        assert_eq!(call(None, "GET", "/search?q=cats").status, 200);
    }
    assert_limited(&call(None, "GET", "/search?q=dogs"), "rate-limited", "search_per_client_per_minute", 60);
    for _ in 0..LIMIT {
        assert_eq!(call(None, "GET", "/search/suggest?q=ca").status, 200);
    }
    assert_limited(&call(None, "GET", "/search/suggest?q=do"), "rate-limited", "suggest_per_client_per_minute", 60);
}

/// Refused requests count too (a 404 for an unknown author), so probing costs the same.
#[test]
fn follows_per_address_are_limited() {
    let token = e2e::access_token(&unique("fan"));
    for _ in 0..LIMIT {
        assert_eq!(call(Some(&token), "PUT", &format!("/users/{}/follow", unique("nobody"))).status, 404);
    }
    assert_limited(&call(Some(&token), "DELETE", "/users/someone/follow"), "rate-limited", "follow_per_client_per_minute", 60);
}

/// A user changes a like at most once per `like_interval_ms` on one video (repeating the
/// current state is always answered); likes from one address are limited as well.
#[test]
fn likes_are_paced_per_user_and_video_and_limited_per_address() {
    let owner = unique("owner");
    let owner_token = e2e::access_token(&owner);
    let publish = app().request("POST", "/videos").header("authorization", &format!("Bearer {owner_token}")).json(&json!({
        "receipt": receipt(&owner), "title": "paced", "tags": []
    }));
    assert_eq!(publish.status, 201, "{}", publish.text());
    let path = format!("/videos/{}/like", publish.json()["id"]);
    let fan = e2e::access_token(&unique("fan"));
    assert_eq!(call(Some(&fan), "PUT", &path).json()["likes"], 1);
    let too_fast = call(Some(&fan), "DELETE", &path);
    assert_limited(&too_fast, "like-too-fast", "like_interval_ms", 60);
    let repeat = call(Some(&fan), "PUT", &path);
    assert_eq!((repeat.status, repeat.json()["liked"].clone(), repeat.json()["likes"].clone()), (200, json!(true), json!(1)));
    for _ in 0..2 {
        assert_eq!(call(Some(&e2e::access_token(&unique("fan"))), "PUT", &path).status, 200);
    }
    assert_limited(&call(Some(&e2e::access_token(&unique("fan"))), "PUT", &path), "rate-limited", "like_per_client_per_minute", 60);
    assert_eq!(call(None, "GET", &path.replace("/like", "")).json()["likes"], 3, "refused likes changed nothing");
}

#[test]
fn comments_per_address_are_limited() {
    let owner = unique("owner");
    let owner_token = e2e::access_token(&owner);
    let publish = app().request("POST", "/videos").header("authorization", &format!("Bearer {owner_token}")).json(&json!({
        "receipt": receipt(&owner), "title": "talked about", "tags": []
    }));
    assert_eq!(publish.status, 201, "{}", publish.text());
    let path = format!("/videos/{}/comments", publish.json()["id"]);
    let comment = |text: &str| {
        let token = e2e::access_token(&unique("talker"));
        app().request("POST", &path).header("authorization", &format!("Bearer {token}")).json(&json!({ "text": text }))
    };
    for i in 0..LIMIT {
        assert_eq!(comment(&format!("comment {i}")).status, 201);
    }
    assert_limited(&comment("one too many"), "rate-limited", "comment_per_client_per_minute", 60);
}
