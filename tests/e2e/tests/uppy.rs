//! Stock Uppy in a real browser against upload-sign: the Uppy page (`web/uppy.html`) loads the
//! exact npm packages `uppy/<major>/package-lock.json` pins (bundled by scripts/build-uppy),
//! and its Dashboard uploads a three-part file in each mode, which the page then publishes.
//! Pages of other origins cannot spend the upload cookie.

use std::io::Write;
use std::process::{Child, Command};

use e2e::webdriver::Browser;
use e2e::{unique, App, AppOptions, Services, TempDir};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Three parts: 5 MiB, 5 MiB and the rest.
const FILE_BYTES: usize = 12 * 1024 * 1024 + 123;

const PUBLISHED: &str = "document.getElementById('published').textContent + ' | ' + document.getElementById('whoami').textContent";

/// A running app with the store behind `scripts/s3-cors` (the browser talks to it), and a
/// browser signed in on the demo page.
struct Stand {
    app: App,
    browser: Browser,
    _proxy: e2e::Process,
    _services: Services,
}

fn stand(name: &str) -> Stand {
    let services = Services::isolated();
    let (proxy, s3_endpoint) = services.s3_cors();
    // The cross-origin test reads the status Spin logs for each request (a page of another
    // origin cannot see it).
    let env = vec![("SPIN_VARIABLE_S3_ENDPOINT".into(), s3_endpoint), ("RUST_LOG".into(), "spin_trigger_http=info".into())];
    let app = App::start(AppOptions { env, services: Some(&services), ..AppOptions::default() });
    let browser = Browser::start(name);
    let username = unique("uppy");
    browser.open(&app.url);
    browser.wait("the sign-in form", 30, "!document.getElementById('auth-form').hidden", "document.body.textContent");
    browser.find("#username").type_text(&username);
    browser.find("#password").type_text("browser password");
    browser.click("#sign-up");
    let signed_in = format!("document.getElementById('whoami-name').textContent === '{username}'");
    browser.wait("the signed-in user", 15, &signed_in, "document.getElementById('toast').textContent");
    Stand { app, browser, _proxy: proxy, _services: services }
}

fn three_part_file(dir: &TempDir) -> (std::path::PathBuf, String) {
    let bytes = e2e::seeded_bytes(7, FILE_BYTES);
    let path = dir.path().join("uppy clip.mp4");
    std::fs::File::create(&path).unwrap().write_all(&bytes).unwrap();
    (path, format!("{:x}", Sha256::digest(&bytes)))
}

/// The SHA-256 of the bytes a published video plays (its source redirects to the store).
fn played_sha256(app: &App, video: &str) -> String {
    let source = app.get(&format!("/videos/{video}/source"));
    assert_eq!(source.status, 200, "{}", source.text());
    let object = e2e::http("GET", &format!("{}{}", app.url, source.json()["url"].as_str().unwrap())).send(None);
    assert_eq!(object.status, 200, "{}", object.text());
    format!("{:x}", Sha256::digest(&object.body))
}

#[test]
fn stock_uppy_6_and_4_upload_three_parts_through_the_dashboard_and_publish() {
    let stand = stand("uppy-dashboard");
    let dir = TempDir::new("uppy");
    let (file, sha256) = three_part_file(&dir);
    for (query, mode) in [("uppy=6", "Uppy 6, companion"), ("uppy=6&mode=sign", "Uppy 6, sign"), ("uppy=4", "Uppy 4, companion")] {
        let browser = &stand.browser;
        browser.open(&format!("{}/uppy.html?{query}", stand.app.url));
        browser.wait(&format!("{mode}: the Dashboard"), 30, "document.querySelector('.uppy-Dashboard-input') !== null", PUBLISHED);
        assert!(browser.text("#whoami").contains(mode), "{}", browser.text("#whoami"));
        browser.find(".uppy-Dashboard-input").type_text(file.to_str().unwrap());
        browser.wait(
            &format!("{mode}: the upload button"),
            10,
            "document.querySelector('.uppy-StatusBar-actionBtn--upload') !== null",
            PUBLISHED,
        );
        browser.click(".uppy-StatusBar-actionBtn--upload");
        browser.wait(
            &format!("{mode}: the upload published"),
            90,
            "document.querySelector('#published li[data-outcome]') !== null",
            PUBLISHED,
        );
        let item = browser.run(
            "const li = document.querySelector('#published li'); return {outcome: li.dataset.outcome, video: li.dataset.video, text: li.textContent};",
            json!([]),
        );
        assert_eq!(item["outcome"], "published", "{mode}: {item}");
        let video = item["video"].as_str().unwrap();
        assert_eq!(played_sha256(&stand.app, video), sha256, "{mode}: the stored object is the file");
    }
}

/// Kills a helper process when dropped.
struct Helper(Child);

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The statuses Spin logged for `method path` (query ignored), oldest first: with
/// `RUST_LOG=spin_trigger_http=info` it logs each answer inside the request's span, as
/// `…handle_http_request{http.request.method=GET … url.path="/p" …}: … status code 401 …`
/// (crates/trigger-http/src/instrument.rs).
fn statuses(app: &App, method: &str, path: &str) -> Vec<String> {
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(&format!("{{{name}=")).or_else(|| line.find(&format!(" {name}=")))? + name.len() + 2;
        let value = line[start..].split(' ').next()?;
        Some(value.trim_matches(|c| c == '"' || c == '}' || c == ':').to_owned())
    };
    app.log()
        .lines()
        .filter(|line| field(line, "http.request.method").as_deref() == Some(method) && field(line, "url.path").as_deref() == Some(path))
        .filter_map(|line| Some(line.split_once("status code ")?.1.split(' ').next()?.to_owned()))
        .collect()
}

/// From `page`, asks for a form upload and starts a multipart upload with no token, so only
/// the cookie can authenticate them, and checks the statuses Spin logged. (The multipart
/// body goes as `text/plain`, all a page of another origin can send without a preflight: a 415
/// means the caller was accepted.)
fn spend_cookie_from(browser: &Browser, app: &App, page: &str, expected: [&str; 2]) {
    browser.open(page);
    let before = (statuses(app, "GET", "/uploads/s3/params").len(), statuses(app, "POST", "/uploads/s3/multipart").len());
    let target = app.url.clone();
    let done = browser.run_async(
        "const [target, done] = [arguments[0], arguments[arguments.length - 1]];
         const options = { credentials: 'include', mode: 'no-cors' };
         Promise.allSettled([
           fetch(`${target}/uploads/s3/params?filename=a.png&type=image/png`, options),
           fetch(`${target}/uploads/s3/multipart`, { ...options, method: 'POST', body: '{\"filename\":\"x.mp4\",\"type\":\"video/mp4\"}' }),
         ]).then(() => done('sent'));",
        json!([target]),
    );
    assert_eq!(done, json!("sent"));
    let log = app.log_when(|_| {
        statuses(app, "GET", "/uploads/s3/params").len() > before.0 && statuses(app, "POST", "/uploads/s3/multipart").len() > before.1
    });
    for ((method, path), expected) in [("GET", "/uploads/s3/params"), ("POST", "/uploads/s3/multipart")].into_iter().zip(expected) {
        assert_eq!(statuses(app, method, path).last().map(String::as_str), Some(expected), "{method} {path} from {page}:\n{log}");
    }
}

#[test]
fn pages_of_other_origins_cannot_spend_the_upload_cookie() {
    let stand = stand("uppy-cross-origin");
    // A plain page elsewhere (no content security policy to stop its fetches).
    let dir = TempDir::new("uppy-elsewhere");
    std::fs::write(dir.path().join("index.html"), "<!doctype html><title>elsewhere</title>").unwrap();
    let other = e2e::free_port();
    let mut server = Command::new("python3");
    server.args(["-m", "http.server", "--bind", "127.0.0.1", &other.to_string(), "--directory"]).arg(dir.path());
    let _server = Helper(e2e::spawn(server));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while e2e::http("GET", &format!("http://127.0.0.1:{other}/")).try_send(None).is_err() {
        assert!(std::time::Instant::now() < deadline, "python3 -m http.server did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Another site (localhost is not 127.0.0.1): SameSite=Strict keeps the cookie home.
    spend_cookie_from(&stand.browser, &stand.app, &format!("http://localhost:{other}/"), ["401", "401"]);
    // Another port of the same host is the same site, so the browser sends the cookie; the
    // Fetch Metadata check refuses it.
    spend_cookie_from(&stand.browser, &stand.app, &format!("http://127.0.0.1:{other}/"), ["403", "403"]);
    // The same requests from the app's own page go through.
    spend_cookie_from(&stand.browser, &stand.app, &format!("{}/uppy.html", stand.app.url), ["200", "415"]);
}
