//! The project's own route table under Spin's router: every API operation of every component,
//! and every file of the demo page, reaches the component meant to answer it (devhost routes
//! through the same routefinder version Spin does). Prints the Spin host calls each endpoint
//! makes, the figures in the README's per-endpoint table.

use std::path::Path;

use e2e::{Devhost, DevhostOptions};

/// Every operation the components route, as `(method, path, component)`; `:id` stands for a
/// made-up id, so most answers are 401/404 from the component itself, which is the point.
const API: &[(&str, &str, &str)] = &[
    ("GET", "/auth/health", "auth"),
    ("GET", "/.well-known/jwks.json", "auth"),
    ("POST", "/auth/register", "auth"),
    ("POST", "/auth/login", "auth"),
    ("POST", "/auth/refresh", "auth"),
    ("POST", "/auth/logout", "auth"),
    ("POST", "/auth/logout-all", "auth"),
    ("GET", "/auth/me", "auth"),
    ("GET", "/auth/verify", "auth"),
    ("GET", "/auth/sessions", "auth"),
    ("DELETE", "/auth/sessions/:id", "auth"),
    ("POST", "/auth/password", "auth"),
    ("POST", "/auth/users/:id/ban", "auth"),
    ("GET", "/uploads/health", "upload-sign"),
    ("POST", "/uploads", "upload-sign"),
    ("POST", "/uploads/form", "upload-sign"),
    ("POST", "/uploads/instant", "upload-sign"),
    ("POST", "/uploads/instant/:id", "upload-sign"),
    ("POST", "/uploads/cleanup", "upload-sign"),
    ("GET", "/uploads/:id", "upload-sign"),
    ("DELETE", "/uploads/:id", "upload-sign"),
    ("POST", "/uploads/:id/parts", "upload-sign"),
    ("POST", "/uploads/:id/complete", "upload-sign"),
    ("GET", "/uploads/:id/download", "upload-sign"),
    ("GET", "/uploads/play", "upload-sign"),
    ("GET", "/uploads/s3/params", "upload-sign"),
    ("POST", "/uploads/s3/multipart", "upload-sign"),
    ("GET", "/uploads/s3/multipart/:id", "upload-sign"),
    ("DELETE", "/uploads/s3/multipart/:id", "upload-sign"),
    ("GET", "/uploads/s3/multipart/:id/batch", "upload-sign"),
    ("GET", "/uploads/s3/multipart/:id/1", "upload-sign"),
    ("POST", "/uploads/s3/multipart/:id/complete", "upload-sign"),
    ("POST", "/uploads/s3/sign", "upload-sign"),
    ("POST", "/uploads/s3/xml", "upload-sign"),
    ("GET", "/uploads/s3/xml/:id", "upload-sign"),
    ("POST", "/uploads/s3/xml/:id", "upload-sign"),
    ("DELETE", "/uploads/s3/xml/:id", "upload-sign"),
    ("GET", "/feed/health", "feed"),
    ("POST", "/videos", "feed"),
    ("GET", "/videos/:id", "feed"),
    ("GET", "/videos/:id/source", "feed"),
    ("GET", "/videos/:id/cover", "feed"),
    ("PATCH", "/videos/:id", "feed"),
    ("DELETE", "/videos/:id", "feed"),
    ("PUT", "/videos/:id/like", "feed"),
    ("DELETE", "/videos/:id/like", "feed"),
    ("POST", "/videos/:id/plays", "feed"),
    ("POST", "/videos/:id/danmaku", "feed"),
    ("GET", "/videos/:id/danmaku", "feed"),
    ("POST", "/videos/:id/comments", "feed"),
    ("GET", "/videos/:id/comments", "feed"),
    ("GET", "/videos/:id/comments/:id/replies", "feed"),
    ("DELETE", "/videos/:id/comments/:id", "feed"),
    ("PUT", "/videos/:id/comments/:id/like", "feed"),
    ("DELETE", "/videos/:id/comments/:id/like", "feed"),
    ("GET", "/feed/latest", "feed"),
    ("GET", "/feed/following", "feed"),
    ("GET", "/feed/favorites", "feed"),
    ("GET", "/feed/history", "feed"),
    ("DELETE", "/feed/history", "feed"),
    ("PUT", "/videos/:id/favorite", "feed"),
    ("DELETE", "/videos/:id/favorite", "feed"),
    ("PUT", "/videos/:id/progress", "feed"),
    ("GET", "/feed/notifications", "feed"),
    ("GET", "/feed/notifications/unread", "feed"),
    ("POST", "/feed/notifications/read", "feed"),
    ("GET", "/feed/rankings", "feed"),
    ("GET", "/users/:id/videos", "feed"),
    ("PUT", "/users/:id/follow", "feed"),
    ("DELETE", "/users/:id/follow", "feed"),
    ("GET", "/search?q=cat", "search-proxy"),
    ("GET", "/search/suggest?q=ca", "search-proxy"),
    ("GET", "/search/status", "search-proxy"),
    ("GET", "/search/parked", "search-proxy"),
    ("POST", "/search/sync", "search-proxy"),
    ("POST", "/search/reindex", "search-proxy"),
    ("GET", "/search/health", "search-proxy"),
];

/// Sends `method path` and returns its log line: `METHOD PATH STATUS COMPONENT TIME host=...`.
/// Each test has its own devhost and sends one request at a time, so the line is the newest.
fn served(app: &Devhost, method: &str, path: &str) -> String {
    served_as(app, method, path, None)
}

/// [`served`] with an optional bearer token.
fn served_as(app: &Devhost, method: &str, path: &str, token: Option<&str>) -> String {
    let bare = path.split('?').next().unwrap();
    let count = |log: &str| log.lines().filter(|l| l.starts_with(&format!("{method} {bare} "))).count();
    let before = count(&app.log());
    let mut request = app.request(method, path);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    request.send(None);
    let log = app.log_when(|log| count(log) > before);
    let line = log.lines().rfind(|l| l.starts_with(&format!("{method} {bare} ")));
    line.unwrap_or_else(|| panic!("no log line for {method} {path}:\n{log}")).to_owned()
}

/// This test reads devhost's log lines, so it runs on devhost even with `SPIN_BIN` set.
fn app() -> Devhost {
    let app = Devhost::start(DevhostOptions { devhost_only: true, ..Default::default() });
    // The first feed request on an empty Redis builds feed's state (`503 feed-rebuilding` while
    // another test's request does); the figures are those of every request after it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while app.get("/feed/latest").status == 503 {
        assert!(std::time::Instant::now() < deadline, "feed still rebuilding after 30 s");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    app
}

fn component_of(line: &str) -> &str {
    line.split(' ').nth(3).unwrap()
}

fn host_calls(line: &str) -> &str {
    line.rsplit_once(" host=").map(|(_, calls)| calls).unwrap()
}

#[test]
fn every_api_path_and_page_file_reaches_its_component() {
    let app = app();
    let mut table = Vec::new();
    let token = e2e::access_token(&e2e::unique("walker"));
    for (method, path, component) in API {
        let path = path.replace(":id", "0123456789abcdef0123456789abcdef");
        let anonymous = served(&app, method, &path);
        let signed_in = served_as(&app, method, &path, Some(&token));
        for line in [&anonymous, &signed_in] {
            assert_eq!(component_of(line), *component, "{method} {path} went elsewhere: {line}");
            assert!(!host_calls(line).contains("read-twice"), "a variable read twice in one request: {line}");
        }
        table.push(format!("| `{method} {path}` | {} | {} |", host_calls(&anonymous), host_calls(&signed_in)));
    }
    let web = e2e::root().join("web");
    for file in files(&web) {
        let path = format!("/{}", file.strip_prefix(&web).unwrap().display());
        let line = served(&app, "GET", &path);
        assert_eq!(component_of(&line), "static-files", "{path}: {line}");
        assert!(line.contains(" 200 "), "{path}: {line}");
        table.push(format!("| `GET {path}` | {} | |", host_calls(&line)));
    }
    assert_eq!(component_of(&served(&app, "GET", "/")), "static-files");
    let unknown = served(&app, "GET", "/no-such-page");
    assert_eq!((component_of(&unknown), unknown.contains(" 404 ")), ("-", true), "{unknown}");
    println!("| endpoint | host calls, no token | host calls, valid token |\n|---|---|---|\n{}", table.join("\n"));
}

/// The cheapest endpoints make no host call they do not need (each is a blocking call on Spin).
#[test]
fn cheap_endpoints_make_only_the_host_calls_they_need() {
    let app = app();
    assert_eq!(host_calls(&served(&app, "GET", "/.well-known/jwks.json")), "variables.get:1");
    assert_eq!(host_calls(&served(&app, "GET", "/app.js")), "-");
    assert_eq!(host_calls(&served(&app, "GET", "/style.css")), "-");
    assert_eq!(host_calls(&served(&app, "GET", "/index.html")), "variables.get:1");
    let line = served(&app, "GET", "/feed/latest");
    let anonymous_feed = host_calls(&line);
    assert!(!anonymous_feed.contains("key-value") && !anonymous_feed.contains("variables.get:3"), "{anonymous_feed}");
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}
