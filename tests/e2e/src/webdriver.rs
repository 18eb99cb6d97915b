//! A small W3C WebDriver client for Debian's headless chromium through chromium-driver, for
//! the browser test. On a failing test the [`Browser`] saves a screenshot and the page's
//! console log under `target/browser-failures/` when it is dropped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::{free_port, http, root, spawn, wait_for_port, Process};

/// The key W3C WebDriver uses for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless chromium session.
pub struct Browser {
    base: String,
    name: String,
    _driver: Process,
}

/// An element on the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Browser {
    /// Starts chromedriver and a headless chromium 1280×1000; `name` names failure artifacts.
    pub fn start(name: &str) -> Browser {
        let port = free_port();
        let mut driver = Command::new("chromedriver");
        driver.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null());
        let mut driver = spawn(driver);
        wait_for_port(port, &mut driver, "chromedriver");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--no-first-run"],
            },
        }}});
        let base = format!("http://127.0.0.1:{port}");
        let answer = call(&format!("{base}/session"), "POST", Some(&capabilities));
        let session = answer["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {answer}")).to_owned();
        Browser { base: format!("{base}/session/{session}"), name: name.to_owned(), _driver: Process(driver) }
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        call(&format!("{}{path}", self.base), method, body.as_ref())
    }

    /// Loads `url` and waits for it.
    pub fn open(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// Reloads the page.
    pub fn reload(&self) {
        self.command("POST", "/refresh", Some(json!({})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and answers its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/sync", Some(json!({ "script": script, "args": args })))
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1](value)` when done.
    pub fn run_async(&self, script: &str, args: Value) -> Value {
        self.command("POST", "/execute/async", Some(json!({ "script": script, "args": args })))
    }

    /// The element matching the CSS `selector` (panics when there is none).
    pub fn find(&self, selector: &str) -> Element<'_> {
        let answer = self.command("POST", "/element", Some(json!({ "using": "css selector", "value": selector })));
        let id = answer[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {selector}: {answer}")).to_owned();
        Element { browser: self, id }
    }

    /// Polls the JavaScript expression `condition` until it is truthy, for up to `secs`; the
    /// panic message names `what` and the last value of `report` (an expression).
    pub fn wait(&self, what: &str, secs: u64, condition: &str, report: &str) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if self.run(&format!("return !!({condition});"), json!([])) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let seen = self.run(&format!("return String({report});"), json!([]));
                panic!("waited {secs} s for {what}; the page shows: {seen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The text content of the element matching `selector`.
    pub fn text(&self, selector: &str) -> String {
        self.run("return document.querySelector(arguments[0])?.textContent ?? '';", json!([selector]))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Emulates a slow network (bytes per second each way), or a normal one with `None`.
    pub fn throttle(&self, bytes_per_sec: Option<u64>) {
        let conditions = match bytes_per_sec {
            Some(rate) => json!({ "offline": false, "latency": 5, "download_throughput": rate, "upload_throughput": rate }),
            None => json!({ "offline": false, "latency": 0, "download_throughput": -1, "upload_throughput": -1 }),
        };
        self.command("POST", "/chromium/network_conditions", Some(json!({ "network_conditions": conditions })));
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let png = self.command("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap_or_default()).expect("a base64 screenshot");
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Saves what the page looked like; never panics (it runs while a test is panicking).
    fn save_failure(&self) {
        let dir = root().join("target/browser-failures");
        let _ = std::fs::create_dir_all(&dir);
        let png = try_call(&format!("{}/screenshot", self.base), "GET", None).unwrap_or_default();
        let path: PathBuf = dir.join(format!("{}.png", self.name));
        if let Some(bytes) = png.as_str().and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok()) {
            let _ = std::fs::write(&path, bytes);
            eprintln!("browser screenshot: {}", path.display());
        }
        let log = try_call(&format!("{}/se/log", self.base), "POST", Some(&json!({ "type": "browser" }))).unwrap_or_default();
        let lines: Vec<String> = log.as_array().into_iter().flatten().map(|e| format!("{} {}", e["level"], e["message"])).collect();
        let path = dir.join(format!("{}.console.txt", self.name));
        let _ = std::fs::write(&path, lines.join("\n"));
        eprintln!("browser console: {}\n{}", path.display(), lines.join("\n"));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.save_failure();
        }
        let _ = http("DELETE", &self.base).try_send(None);
    }
}

impl Element<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/element/{}{rest}", self.id)
    }

    /// Clicks it.
    pub fn click(&self) {
        self.browser.command("POST", &self.path("/click"), Some(json!({})));
    }

    /// Types `text` into it (for a file input: the file's path).
    pub fn type_text(&self, text: &str) {
        self.browser.command("POST", &self.path("/value"), Some(json!({ "text": text })));
    }

    /// Empties an input.
    pub fn clear(&self) {
        self.browser.command("POST", &self.path("/clear"), Some(json!({})));
    }
}

/// One WebDriver command; its `value`, or a panic with the driver's error.
fn call(url: &str, method: &str, body: Option<&Value>) -> Value {
    try_call(url, method, body).unwrap_or_else(|e| panic!("{e}"))
}

fn try_call(url: &str, method: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut request = http(method, url);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let reply = request.try_send(body.map(|b| b.to_string().into_bytes()).as_deref())?;
    let answer: Value = serde_json::from_slice(&reply.body).map_err(|e| format!("WebDriver {method} {url}: not JSON ({e})"))?;
    if reply.status != 200 {
        return Err(format!("WebDriver {method} {url}: {} {}", reply.status, answer["value"]));
    }
    Ok(answer["value"].clone())
}
