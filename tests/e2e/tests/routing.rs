//! The project's own route table under Spin's router: every API operation of every component,
//! and every file of the demo page, reaches the component meant to answer it, as Spin itself
//! reports: with `RUST_LOG=spin_trigger_http=trace` it logs, inside each request's span (method
//! and path), which component it runs (`prepare_request` in crates/trigger-http/src/wasi.rs).

use std::path::Path;

use e2e::{App, AppOptions};

const RUNS: &str = "executor for component ";

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
    ("POST", "/uploads/covers", "upload-sign"),
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
    ("GET", "/v/:id", "feed"),
    ("GET", "/oembed", "feed"),
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

/// Sends `method path` with an optional bearer token; answers its status and the component
/// Spin ran for it (`None` when it ran none). Each test has its own app and sends one request at
/// a time, so the newest log line is this request's.
fn served(app: &App, method: &str, path: &str, token: Option<&str>) -> (u16, Option<String>) {
    let bare = path.split('?').next().unwrap();
    let span = format!("http.request.method={method} ");
    let url = format!("url.path=\"{bare}\"");
    let mine = |line: &&str| line.contains(&span) && line.contains(&url);
    let finished = |log: &str| log.lines().filter(mine).filter(|l| l.contains("Request finished")).count();
    let before = finished(&app.log());
    let mut request = app.request(method, path);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    let status = request.send(None).status;
    let log = app.log_when(|log| finished(log) > before);
    assert!(finished(&log) > before, "Spin logged no answer to {method} {path}:\n{log}");
    let this: Vec<&str> = log.lines().filter(mine).collect();
    let last_finished = this.iter().rposition(|l| l.contains("Request finished")).unwrap();
    let start = this[..last_finished].iter().rposition(|l| l.contains("Request finished")).map_or(0, |i| i + 1);
    let component = this[start..last_finished].iter().find_map(|l| Some(l.split_once(RUNS)?.1.trim().to_owned()));
    (status, component)
}

fn app() -> App {
    let env = vec![("RUST_LOG".into(), "spin_trigger_http=trace".into())];
    App::start(AppOptions { env, ..Default::default() })
}

#[test]
fn every_api_path_and_page_file_reaches_its_component() {
    let app = app();
    let token = e2e::access_token(&e2e::unique("walker"));
    for (method, path, component) in API {
        let path = path.replace(":id", "0123456789abcdef0123456789abcdef");
        for token in [None, Some(token.as_str())] {
            let (status, served_by) = served(&app, method, &path, token);
            assert_eq!(served_by.as_deref(), Some(*component), "{method} {path} went elsewhere ({status})");
        }
    }
    let web = e2e::root().join("web");
    for file in files(&web) {
        let path = format!("/{}", file.strip_prefix(&web).unwrap().display());
        let (status, served_by) = served(&app, "GET", &path, None);
        assert_eq!((status, served_by.as_deref()), (200, Some("static-files")), "{path}");
    }
    assert_eq!(served(&app, "GET", "/", None), (200, Some("static-files".to_owned())));
    assert_eq!(served(&app, "GET", "/no-such-page", None), (404, None), "no catch-all route");
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
