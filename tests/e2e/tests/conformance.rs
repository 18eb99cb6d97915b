//! Spin's own conformance test suite, run against devhost.
//!
//! The suite (`shared/spin-conformance` beside the repository: fermyon/conformance-tests,
//! unchanged) says what a guest may rely on from any Spin runtime. Each `tests/<name>/` holds a
//! `spin.toml` template and a `test.json5` of requests and the responses they must get. This
//! runner does what upstream's runner does for Spin: it builds the suite's components from
//! source (`cargo build --release --target wasm32-unknown-unknown`, core modules that devhost
//! componentizes at load time as Spin does), fills in the templates, provides the services the
//! preconditions name and compares every response by upstream's `assert_response` rules.
//!
//! Services come from this harness, not Docker: Redis is the harness's `redis-server`, and
//! `http-echo` is a thread here that answers as the suite's `http-echo.py` does. The suite's
//! other tests (MQTT, PostgreSQL, TCP sockets) need host interfaces devhost does not provide,
//! so they are not listed below.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use e2e::{Devhost, DevhostOptions, Reply, Services, TempDir, Value};

/// One `#[test]` per suite test (so a failure names it), and the list the shared build reads.
macro_rules! conformance_tests {
    ($($function:ident => $test:literal),* $(,)?) => {
        const TESTS: &[&str] = &[$($test),*];
        $(
            #[test]
            fn $function() {
                run($test);
            }
        )*
    };
}

conformance_tests! {
    key_value => "key-value",
    key_value_no_permission => "key-value-no-permission",
    outbound_redis => "outbound-redis",
    outbound_redis_no_permission => "outbound-redis-no-permission",
    outbound_redis_variable_permission => "outbound-redis-variable-permission",
    sqlite => "sqlite",
    sqlite_no_permission => "sqlite-no-permission",
    variables => "variables",
    request_shape => "request-shape",
    outbound_wasi_http_v0_2_0 => "outbound-wasi-http-v0.2.0",
    outbound_wasi_http_v0_2_0_no_perms => "outbound-wasi-http-v0.2.0-no-perms",
}

/// The outbound-redis tests all write the same fixed keys, so they take turns on the shared
/// Redis.
static REDIS: Mutex<()> = Mutex::new(());

/// Runs suite test `name`: its manifest on a fresh devhost, then every invocation.
fn run(name: &str) {
    let dir = suite().join("tests").join(name);
    let config = read(&dir.join("test.json5"));
    let config: Value = serde_json::from_str(&json5_to_json(&config))
        .unwrap_or_else(|e| panic!("{name}: test.json5 is not the JSON5 this runner reads: {e}"));

    // Guest ports the templates name (`%{port=N}`), mapped to where the service listens here.
    let mut ports = HashMap::new();
    let mut redis_turn = None;
    for precondition in config["preconditions"].as_array().into_iter().flatten() {
        match precondition["kind"].as_str() {
            Some("redis") => {
                ports.insert(6379, redis_port());
                redis_turn = Some(REDIS.lock().unwrap_or_else(PoisonError::into_inner));
            }
            Some("http-echo") => {
                ports.insert(80, http_echo());
            }
            // devhost, like Spin, has the `default` store and database without configuration.
            Some("key-value-store" | "sqlite") => {}
            other => panic!("{name}: needs the service {other:?}, which this runner does not provide"),
        }
    }

    let components = components();
    let fill = |template: &str| {
        fill_templates(template, |key, value| match key {
            "source" => components.get(value).unwrap_or_else(|| panic!("{name}: unknown component {value:?}")).display().to_string(),
            "port" => value
                .parse()
                .ok()
                .and_then(|port: u16| ports.get(&port))
                .unwrap_or_else(|| panic!("{name}: no precondition provides port {value}"))
                .to_string(),
            _ => panic!("{name}: unknown template key {key:?}"),
        })
    };
    let app = TempDir::new("conformance");
    let manifest = app.path().join("spin.toml");
    std::fs::write(&manifest, fill(&read(&dir.join("spin.toml")))).unwrap();
    let devhost =
        Devhost::start(DevhostOptions { manifest: manifest.to_str().expect("UTF-8 temp dir"), foreign_app: true, ..Default::default() });

    let invocations = config["invocations"].as_array().unwrap_or_else(|| panic!("{name}: no invocations"));
    for (i, invocation) in invocations.iter().enumerate() {
        let request = &invocation["request"];
        let method = request["method"].as_str().unwrap_or("GET").to_ascii_uppercase();
        let mut sent = devhost.request(&method, request["path"].as_str().unwrap_or("/"));
        for header in request["headers"].as_array().into_iter().flatten() {
            let (Some(header_name), Some(value)) = (header["name"].as_str(), header["value"].as_str()) else {
                panic!("{name}: request header without a name or value: {header}");
            };
            sent = sent.header(header_name, &fill(value));
        }
        let reply = sent.send(request["body"].as_str().map(str::as_bytes));
        if let Err(mismatch) = check(&invocation["response"], &reply) {
            panic!("{name}, invocation {i}: {mismatch}\n--- devhost output ---\n{}", devhost.log());
        }
    }
    drop(redis_turn);
}

/// Upstream's `assert_response`: the status, then the body as text (absent means empty), then
/// the headers, names and values compared case-insensitively. An expected header without a
/// value need only be present, an `optional` one may be missing, and any header the response
/// has beyond the expected ones fails.
fn check(expected: &Value, reply: &Reply) -> Result<(), String> {
    let status = expected["status"].as_u64().unwrap_or(200);
    if u64::from(reply.status) != status {
        return Err(format!("actual status {} != expected status {status} - body: {}", reply.status, reply.text()));
    }
    let body = expected["body"].as_str().unwrap_or("");
    if reply.text() != body {
        return Err(format!("actual body != expected body\nactual: {}\nexpected: {body}", reply.text()));
    }
    let mut actual: HashMap<String, String> = reply.headers.iter().map(|(k, v)| (k.to_lowercase(), v.to_lowercase())).collect();
    for header in expected["headers"].as_array().into_iter().flatten() {
        let name = header["name"].as_str().ok_or_else(|| format!("expected header without a name: {header}"))?;
        match actual.remove(&name.to_lowercase()) {
            None if header["optional"].as_bool() == Some(true) => {}
            None => return Err(format!("expected header '{name}' not found in response")),
            Some(value) => {
                if let Some(want) = header["value"].as_str().map(str::to_lowercase) {
                    if value != want {
                        return Err(format!("header '{name}' has unexpected value '{value}' != '{want}'"));
                    }
                }
            }
        }
    }
    if !actual.is_empty() {
        return Err(format!("unexpected headers: {actual:?}"));
    }
    Ok(())
}

/// The suite, read-only.
fn suite() -> PathBuf {
    let suite = e2e::root().join("../shared/spin-conformance");
    assert!(
        suite.join("tests").is_dir(),
        "Spin's conformance suite is not at {}: it is read from shared/spin-conformance beside the repository",
        suite.display()
    );
    suite
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Builds, once per test binary, every suite component the tests use; returns the `.wasm` of
/// each by its folder name under `components/`.
///
/// The suite's own workspace cannot build as it is (its root manifest names a crate this copy
/// lacks), so the components, `crates/` and `wit/` are mirrored into a workspace of their own
/// under the target directory, with the suite's `[workspace.dependencies]` and its `Cargo.lock`
/// (not `--locked`: cargo drops the lock's entries for the absent crates, and every version it
/// keeps is the suite's).
fn components() -> &'static BTreeMap<String, PathBuf> {
    static BUILT: OnceLock<BTreeMap<String, PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| {
        let suite = suite();
        let needed: BTreeSet<String> = TESTS
            .iter()
            .flat_map(|test| {
                let mut sources = Vec::new();
                fill_templates(&read(&suite.join("tests").join(test).join("spin.toml")), |key, value| {
                    if key == "source" {
                        sources.push(value.to_owned());
                    }
                    String::new()
                });
                sources
            })
            .collect();

        let workspace = e2e::target_dir().join("spin-conformance");
        for dir in ["crates", "wit"] {
            mirror(&suite.join(dir), &workspace.join(dir));
        }
        for component in &needed {
            mirror(&suite.join("components").join(component), &workspace.join("components").join(component));
        }
        let root_manifest = read(&suite.join("Cargo.toml"));
        let dependencies = root_manifest
            .split_once("[workspace.dependencies]")
            .map(|(_, rest)| rest.split("\n[").next().unwrap_or(rest))
            .expect("the suite's Cargo.toml has [workspace.dependencies]");
        let members: Vec<String> = needed.iter().map(|c| format!("\"components/{c}\"")).collect();
        write_if_changed(
            &workspace.join("Cargo.toml"),
            format!(
                "# Generated by tests/e2e/tests/conformance.rs from the conformance suite.\n\
                 [workspace]\nresolver = \"2\"\nmembers = [{}]\n\n[workspace.dependencies]{dependencies}",
                members.join(", ")
            )
            .as_bytes(),
        );
        // Written, not copied: the copy must stay writable for cargo even though shared/ is not.
        write_if_changed(&workspace.join("Cargo.lock"), read(&suite.join("Cargo.lock")).as_bytes());

        let started = Instant::now();
        let output = Command::new(env!("CARGO"))
            .args(["build", "--release", "--target", "wasm32-unknown-unknown", "--message-format=json-render-diagnostics"])
            .arg("--target-dir")
            .arg(workspace.join("target"))
            .current_dir(&workspace)
            .stderr(Stdio::inherit())
            .output()
            .expect("cargo runs");
        assert!(
            output.status.success(),
            "building the conformance components in {} failed (see the errors above; scripts/setup installs the \
             wasm32-unknown-unknown target)",
            workspace.display()
        );
        let mut built = BTreeMap::new();
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Ok(message) = serde_json::from_str::<Value>(line) else { continue };
            let component = Path::new(message["manifest_path"].as_str().unwrap_or(""))
                .parent()
                .and_then(Path::file_name)
                .and_then(|name| name.to_str())
                .unwrap_or("");
            let wasm = message["filenames"].as_array().into_iter().flatten().filter_map(Value::as_str).find(|f| f.ends_with(".wasm"));
            if let (true, Some(wasm)) = (message["reason"] == "compiler-artifact" && needed.contains(component), wasm) {
                built.insert(component.to_owned(), PathBuf::from(wasm));
            }
        }
        let missing: Vec<_> = needed.iter().filter(|c| !built.contains_key(*c)).collect();
        assert!(missing.is_empty(), "cargo reported no .wasm for the conformance components {missing:?}");
        println!("conformance: {} components built in {:.1?}", built.len(), started.elapsed());
        built
    })
}

/// Copies the tree `from` into `to`, leaving files whose bytes are unchanged alone so cargo
/// sees unchanged sources as fresh.
fn mirror(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("cannot create {}: {e}", to.display()));
    let entries = std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    for entry in entries.map(Result::unwrap) {
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().unwrap().is_dir() {
            mirror(&source, &target);
        } else {
            write_if_changed(&target, &std::fs::read(&source).unwrap());
        }
    }
}

fn write_if_changed(path: &Path, bytes: &[u8]) {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// Replaces every `%{key=value}` in `text` by `replace(key, value)`, as the suite's templates
/// are filled upstream.
fn fill_templates(text: &str, mut replace: impl FnMut(&str, &str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("%{") {
        let end = rest[start..].find('}').map(|e| start + e).unwrap_or_else(|| panic!("unclosed %{{ in {text:?}"));
        let (key, value) =
            rest[start + 2..end].split_once('=').unwrap_or_else(|| panic!("template {:?} is not %{{key=value}}", &rest[start..=end]));
        out.push_str(&rest[..start]);
        out.push_str(&replace(key.trim(), value.trim()));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The JSON5 the suite's `test.json5` files use, as JSON: comments dropped, bare keys quoted,
/// trailing commas removed. Other JSON5 forms are left for serde_json to reject with a position.
fn json5_to_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                out.push(c);
                while let Some(c) = chars.next() {
                    out.push(c);
                    match c {
                        '\\' => out.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push(c);
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '}' | ']' => {
                let kept = out.trim_end().len();
                if out[..kept].ends_with(',') {
                    out.truncate(kept - 1);
                }
                out.push(c);
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let mut word = String::from(c);
                while let Some(&next) = chars.peek().filter(|n| n.is_ascii_alphanumeric() || **n == '_' || **n == '$') {
                    word.push(next);
                    chars.next();
                }
                if matches!(word.as_str(), "true" | "false" | "null") {
                    out.push_str(&word);
                } else {
                    out.push_str(&format!("\"{word}\""));
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The port of the harness's Redis.
fn redis_port() -> u16 {
    let url = &Services::shared().redis_url;
    url.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no port in {url}"))
}

/// Starts, once per test binary, the suite's `http-echo` service on a loopback port and returns
/// the port. Like `http-echo.py` answering a POST, it replies 200 with `Content-Type:
/// text/plain` and the request body (read by its `Content-Length`), over HTTP/1.0 ended by
/// closing the connection.
fn http_echo() -> u16 {
    static PORT: OnceLock<u16> = OnceLock::new();
    *PORT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the http-echo service");
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || echo(stream));
            }
        });
        port
    })
}

fn echo(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(&stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let mut stream = &stream;
    stream.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")?;
    stream.write_all(&body)
}

#[test]
fn responses_are_compared_by_upstreams_rules() {
    let reply = |headers: &[(&str, &str)]| Reply {
        status: 500,
        headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        body: b"Error::AccessDenied".to_vec(),
    };
    let expected = e2e::json!({
        "status": 500,
        "headers": [
            { "name": "Content-Length", "value": "19" },
            { "name": "Date", "optional": true },
            { "name": "server" },
        ],
        "body": "Error::AccessDenied",
    });
    assert_eq!(check(&expected, &reply(&[("content-length", "19"), ("server", "x")])), Ok(()));
    let error = |headers| check(&expected, &reply(headers)).unwrap_err();
    assert!(error(&[("content-length", "19")]).contains("'server' not found"));
    assert!(error(&[("content-length", "20"), ("server", "x")]).contains("unexpected value"));
    assert!(error(&[("content-length", "19"), ("server", "x"), ("x-extra", "1")]).contains("unexpected headers"));
    assert!(check(&e2e::json!({ "headers": [] }), &reply(&[])).unwrap_err().contains("expected status 200"));
    let other_body = e2e::json!({ "status": 500, "headers": [], "body": "Error::Other" });
    assert!(check(&other_body, &reply(&[])).unwrap_err().contains("actual body != expected body"));
}

#[test]
fn json5_as_the_suite_writes_it() {
    let json = json5_to_json("{ a: [1, 2,], // note\n \"b\": { optional: true, c: \"x, }\\\" //\", }, /* d */ }");
    let value: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value, e2e::json!({ "a": [1, 2], "b": { "optional": true, "c": "x, }\" //" } }));
}
