//! The browser test's view of Debian's headless chromium, driven through chromium-driver with
//! `fantoccini` (W3C WebDriver). The test is synchronous, so each call runs to completion on a
//! small runtime of the [`Browser`]'s own. On a failing test the [`Browser`] saves a screenshot
//! and the page's console log under `target/browser-failures/` when it is dropped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use crate::{free_port, root, spawn, wait_for_port, Process};

/// A headless chromium session.
pub struct Browser {
    client: Client,
    runtime: tokio::runtime::Runtime,
    name: String,
    _driver: Process,
}

/// An element on the page.
pub struct Element<'a> {
    browser: &'a Browser,
    element: fantoccini::elements::Element,
}

/// A chromium command outside W3C WebDriver: `POST /session/{id}/{path}` with `body`.
#[derive(Debug)]
struct Vendor {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Vendor {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/{}", session.unwrap_or_default(), self.path))
    }

    fn method_and_body(&self, _url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

impl Browser {
    /// Starts chromedriver and a headless chromium 1280×1000; `name` names failure artifacts.
    pub fn start(name: &str) -> Browser {
        let port = free_port();
        let mut driver = Command::new("chromedriver");
        driver.arg(format!("--port={port}")).stdout(Stdio::null()).stderr(Stdio::null());
        let mut driver = spawn(driver);
        wait_for_port(port, &mut driver, "chromedriver");
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000", "--no-first-run"],
            },
        });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = runtime
            .block_on(
                ClientBuilder::new(connector)
                    .capabilities(capabilities.as_object().cloned().unwrap_or_default())
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .unwrap_or_else(|e| panic!("no WebDriver session: {e}"));
        Browser { client, runtime, name: name.to_owned(), _driver: Process(driver) }
    }

    fn block<T>(&self, what: &str, future: impl std::future::Future<Output = Result<T, fantoccini::error::CmdError>>) -> T {
        self.runtime.block_on(future).unwrap_or_else(|e| panic!("WebDriver {what}: {e}"))
    }

    /// Loads `url` and waits for it.
    pub fn open(&self, url: &str) {
        self.block("open", self.client.goto(url));
    }

    /// Reloads the page.
    pub fn reload(&self) {
        self.block("reload", self.client.refresh());
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and answers its value.
    pub fn run(&self, script: &str, args: Value) -> Value {
        self.block("execute", self.client.execute(script, arguments(args)))
    }

    /// Runs `script`, which calls `arguments[arguments.length - 1](value)` when done.
    pub fn run_async(&self, script: &str, args: Value) -> Value {
        self.block("execute async", self.client.execute_async(script, arguments(args)))
    }

    /// The element matching the CSS `selector` (panics when there is none).
    pub fn find(&self, selector: &str) -> Element<'_> {
        let element = self.block(&format!("find {selector}"), self.client.find(Locator::Css(selector)));
        Element { browser: self, element }
    }

    /// Clicks the element matching the CSS `selector`, as a person clicks what the page shows:
    /// when the page replaced the element between finding and clicking it (a list rendered
    /// again), the new one is found and clicked, for up to 10 s.
    pub fn click(&self, selector: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let clicked = self.runtime.block_on(async { self.client.find(Locator::Css(selector)).await?.click().await });
            match clicked {
                Ok(()) => return,
                Err(e) if e.to_string().contains("stale element") && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("WebDriver click {selector}: {e}"),
            }
        }
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
        let command = Vendor { path: "chromium/network_conditions", body: json!({ "network_conditions": conditions }) };
        self.block("network conditions", self.client.issue_cmd(command));
    }

    /// Saves a PNG of the window to `path`.
    pub fn screenshot(&self, path: &std::path::Path) {
        let png = self.block("screenshot", self.client.screenshot());
        std::fs::write(path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Saves what the page looked like; never panics (it runs while a test is panicking).
    fn save_failure(&self) {
        let dir = root().join("target/browser-failures");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(png) = self.runtime.block_on(self.client.screenshot()) {
            let path = dir.join(format!("{}.png", self.name));
            let _ = std::fs::write(&path, png);
            eprintln!("browser screenshot: {}", path.display());
        }
        let command = Vendor { path: "se/log", body: json!({ "type": "browser" }) };
        let log = self.runtime.block_on(self.client.issue_cmd(command)).unwrap_or_default();
        let lines: Vec<String> = log.as_array().into_iter().flatten().map(|e| format!("{} {}", e["level"], e["message"])).collect();
        let path = dir.join(format!("{}.console.txt", self.name));
        let _ = std::fs::write(&path, lines.join("\n"));
        eprintln!("browser console: {}\n{}", path.display(), lines.join("\n"));
    }
}

/// Script arguments as WebDriver takes them: the elements of an array, or one value.
fn arguments(args: Value) -> Vec<Value> {
    match args {
        Value::Array(items) => items,
        other => vec![other],
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.save_failure();
        }
        let _ = self.runtime.block_on(self.client.clone().close());
    }
}

impl Element<'_> {
    /// Types `text` into it (for a file input: the file's path).
    pub fn type_text(&self, text: &str) {
        self.browser.block("type", self.element.send_keys(text));
    }

    /// Empties an input.
    pub fn clear(&self) {
        self.browser.block("clear", self.element.clear());
    }
}
