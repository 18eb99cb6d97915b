//! Covers end to end on Spin with real Redis and S3: a picture uploaded through the form
//! route becomes a video's cover; every answer that shows the video carries the same stable
//! `cover_url` (the video, the timelines, the following feed, the ranking, search), which
//! redirects, cacheably and through a play ticket, to the picture's bytes; a new cover is a new
//! URL; a video without a cover has `cover_url: null` and its cover URL is a 404 problem.

use std::sync::OnceLock;

use e2e::{json, receipt, unique, App, AppOptions, Reply, Value};

/// A 2×1 crimson PNG.
const RED_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x01\x08\x02\0\0\0\x7b\x40\xe8\xdd\0\0\0\x0dIDAT\x78\xda\x63\xb8\x23\x62\x03\x44\0\x09\x7b\x02\x59\xc9\x22\x0f\xc4\0\0\0\0IEND\xae\x42\x60\x82";
/// A 2×1 blue PNG.
const BLUE_PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x01\x08\x02\0\0\0\x7b\x40\xe8\xdd\0\0\0\x0dIDAT\x78\xda\x63\x90\x8b\x3a\x01\x44\0\x07\x73\x02\x81\xbd\x4c\xe9\x23\0\0\0\0IEND\xae\x42\x60\x82";

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        // The ranking is read uncached, so a like shows in it at once.
        let env = vec![("SPIN_VARIABLE_RANKING_CACHE_SECS".to_owned(), "0".to_owned())];
        App::start(AppOptions { env, ..Default::default() })
    })
}

fn call(token: Option<&str>, method: &str, path: &str, body: Option<Value>) -> Reply {
    app().call(token, method, path, body)
}

/// The JSON answer of a call that must succeed.
fn ok(reply: Reply) -> Value {
    assert!((200..300).contains(&reply.status), "{} {}", reply.status, reply.text());
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// A registered user (others can follow it): (token, user id).
fn account() -> (String, String) {
    let reply = call(None, "POST", "/auth/register", Some(json!({ "username": unique("cv"), "password": "cover password" })));
    let body = ok(reply);
    (body["access_token"].as_str().unwrap().to_owned(), body["user"]["id"].as_str().unwrap().to_owned())
}

/// Uploads `png` as the user's cover through the form route and has it checked, as the browser
/// SDK does: its key.
fn upload_cover(token: &str, png: &[u8]) -> String {
    let form = ok(call(
        Some(token),
        "POST",
        "/uploads/form",
        Some(json!({ "filename": "cover.png", "size": png.len(), "content_type": "image/png" })),
    ));
    let stored = e2e::post_form(form["url"].as_str().unwrap(), &e2e::form_fields(&form["fields"]), png);
    assert!((200..300).contains(&stored.status), "{} {}", stored.status, stored.text());
    let key = form["key"].as_str().unwrap().to_owned();
    let checked = ok(call(Some(token), "POST", "/uploads/covers", Some(json!({ "key": key }))));
    assert_eq!(checked["content_type"], "image/png");
    key
}

fn publish(token: &str, owner: &str, title: &str, cover_key: Option<&str>) -> Value {
    let reply = call(Some(token), "POST", "/videos", Some(json!({ "receipt": receipt(owner), "title": title, "cover_key": cover_key })));
    assert_eq!(reply.status, 201, "{}", reply.text());
    reply.json()
}

/// The `cover_url` of video `id` among `videos` (panics when it is not there).
fn cover_in<'a>(videos: impl IntoIterator<Item = &'a Value>, id: &Value, what: &str) -> Value {
    let video = videos.into_iter().find(|v| v["id"] == *id).unwrap_or_else(|| panic!("{what}: video {id} is not listed"));
    assert!(video.get("cover_url").is_some(), "{what}: no cover_url in {video}");
    video["cover_url"].clone()
}

/// `GET path` without following redirects.
fn unfollowed(path: &str) -> (u16, Option<String>, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
    let response = agent.get(&format!("{}{path}", app().url)).call().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (response.status().as_u16(), header("location"), header("cache-control"))
}

fn problem_code(reply: &Reply) -> (u16, String) {
    assert_eq!(reply.header("content-type"), Some("application/problem+json"), "{}", reply.text());
    (reply.status, reply.json()["code"].as_str().unwrap_or("").to_owned())
}

#[test]
fn a_form_uploaded_cover_is_in_every_list_and_its_url_serves_the_picture() {
    let (token, author) = account();
    let word = unique("heron").replace(['-', '_'], "");
    let key = upload_cover(&token, RED_PNG);
    let covered = publish(&token, &author, &format!("Covered {word}"), Some(&key));
    let bare = publish(&token, &author, &format!("Bare {word}"), None);
    let (id, bare_id) = (&covered["id"], &bare["id"]);
    let url = format!("/videos/{id}/cover?v=1");
    assert_eq!(covered["cover_url"], url, "{covered}");
    assert_eq!(bare["cover_url"], Value::Null, "{bare}");

    // Every answer that shows the videos says the same, signed in or not.
    let viewer = e2e::access_token(&unique("viewer"));
    ok(call(Some(&viewer), "PUT", &format!("/users/{author}/follow"), None));
    for video in [id, bare_id] {
        ok(call(Some(&viewer), "PUT", &format!("/videos/{video}/like"), None));
    }
    ok(call(Some(&e2e::admin_token("search-scheduler")), "POST", "/search/sync", None));
    let expected = [(id, json!(url)), (bare_id, Value::Null)];
    for (video, cover) in &expected {
        for token in [None, Some(viewer.as_str())] {
            let got = ok(call(token, "GET", &format!("/videos/{video}"), None));
            assert_eq!(got["cover_url"], *cover, "GET /videos/{video}: {got}");
        }
        for path in ["/feed/latest?limit=100".to_owned(), format!("/users/{author}/videos")] {
            let page = ok(call(None, "GET", &path, None));
            assert_eq!(cover_in(page["items"].as_array().unwrap(), video, &path), *cover);
        }
        let following = ok(call(Some(&viewer), "GET", "/feed/following", None));
        assert_eq!(cover_in(following["items"].as_array().unwrap(), video, "following"), *cover);
        let ranking = ok(call(None, "GET", "/feed/rankings?limit=200", None));
        assert_eq!(cover_in(ranking["items"].as_array().unwrap().iter().map(|i| &i["video"]), video, "rankings"), *cover);
        let found = ok(call(None, "GET", &format!("/search?q={word}&type=video"), None));
        assert_eq!(cover_in(found["items"].as_array().unwrap().iter().map(|hit| &hit["item"]), video, "search"), *cover, "{found}");
    }

    // The URL redirects, cacheably, through a play ticket to the very bytes uploaded.
    let (status, location, cache) = unfollowed(&url);
    assert_eq!(status, 302);
    assert!(location.as_deref().is_some_and(|l| l.starts_with("/uploads/play?ticket=")), "{location:?}");
    assert_eq!(cache.as_deref(), Some("public, max-age=600"));
    let picture = app().get(&url);
    assert_eq!((picture.status, picture.body.as_slice()), (200, RED_PNG), "{}", picture.text());

    // Without a cover, and for no video, the cover URL is a problem.
    assert_eq!(problem_code(&app().get(&format!("/videos/{bare_id}/cover"))), (404, "no-cover".to_owned()));
    assert_eq!(problem_code(&app().get("/videos/1/cover")), (404, "no-such-video".to_owned()));
    assert_eq!(problem_code(&app().get("/videos/x/cover")), (400, "invalid-id".to_owned()));

    // A new cover is a new URL serving the new picture; removing it nulls the URL.
    let blue = upload_cover(&token, BLUE_PNG);
    let edited = ok(call(Some(&token), "PATCH", &format!("/videos/{id}"), Some(json!({ "version": 1, "cover_key": blue }))));
    let new_url = format!("/videos/{id}/cover?v=2");
    assert_eq!(edited["cover_url"], new_url, "{edited}");
    assert_eq!(app().get(&new_url).body, BLUE_PNG);
    let removed = ok(call(Some(&token), "PATCH", &format!("/videos/{id}"), Some(json!({ "version": 2, "cover_key": null }))));
    assert_eq!(removed["cover_url"], Value::Null, "{removed}");
    assert_eq!(problem_code(&app().get(&new_url)), (404, "no-cover".to_owned()));
    let page = ok(call(None, "GET", &format!("/users/{author}/videos"), None));
    assert_eq!(cover_in(page["items"].as_array().unwrap(), id, "after the edit"), Value::Null);
}
