//! devhost conformance: routing, headers, every host API, access denial, traps, limits and
//! variables, streamed bodies and their timeouts, driven through the probe fixture component
//! (tests/fixtures).

use std::sync::OnceLock;

use std::time::{Duration, Instant};

use e2e::sse::Stream;
use e2e::{json, unique, Devhost, DevhostOptions, Services, Value};

const TOKEN: &str = "fixture-token";

fn options(extra: &[(&str, &str)], args: &[&str]) -> DevhostOptions<'static> {
    let services = Services::shared();
    let runtime_config = format!(
        "[key_value_store.cache]\ntype = \"redis\"\nurl = \"{}/3\"\n\
         [key_value_store.mem]\ntype = \"spin\"\n\
         [sqlite_database.search]\ntype = \"spin\"\npath = \"{}\"\n",
        services.redis_url,
        search_db().display()
    );
    let mut env = vec![("SPIN_VARIABLE_FIXTURE_TOKEN".to_owned(), TOKEN.to_owned())];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    DevhostOptions {
        manifest: "tests/fixtures/spin.toml",
        runtime_config: Some(runtime_config),
        env,
        args: args.iter().map(|s| s.to_string()).collect(),
        services: None,
        devhost_only: true,
        foreign_app: false,
    }
}

/// The fixture's extra SQLite database, in a directory of its own for this test binary.
fn search_db() -> std::path::PathBuf {
    static DIR: OnceLock<e2e::TempDir> = OnceLock::new();
    DIR.get_or_init(|| e2e::TempDir::new("e2e-sqlite")).path().join("search.db")
}

fn fixture() -> &'static Devhost {
    static FIXTURE: OnceLock<Devhost> = OnceLock::new();
    FIXTURE.get_or_init(|| Devhost::start(options(&[], &["--timeout-secs", "3", "--max-body-bytes", "65536"])))
}

/// The value of the last header with this name that the component saw.
fn seen(reply: &Value, name: &str) -> Option<String> {
    reply["headers"].as_array()?.iter().rev().find(|h| h[0] == name).map(|h| h[1].as_str().unwrap().to_owned())
}

fn who(path: &str) -> String {
    let reply = fixture().get(path);
    assert_eq!(reply.status, 200, "{path}: {}", reply.text());
    reply.json()["who"].as_str().unwrap().to_owned()
}

#[test]
fn route_precedence_follows_spin() {
    assert_eq!(who("/users/me"), "exact");
    assert_eq!(who("/users/me/"), "exact", "trailing slash is ignored");
    assert_eq!(who("/users/42/anything"), "probe");
    assert_eq!(who("/users/42"), "probe");
    assert_eq!(who("/users"), "catchall", "a :param needs a segment");
    assert_eq!(who("/elsewhere/deep/path"), "catchall");
    assert_eq!(who("/restricted/headers"), "restricted");
    assert_eq!(who("/dup/headers"), "restricted", "the last duplicate wins");
    let log = fixture().log();
    assert!(
        log.contains(
            "The following component routes are duplicates and will never be used:\nerror:   probe: /dup/... (duplicate of restricted)"
        ),
        "{log}"
    );
}

#[test]
fn spin_headers_have_spin_values() {
    let devhost = fixture();
    let reply = devhost.request("GET", "/users/42/a/b?x=1").header("spin-client-addr", "6.6.6.6:1").send(None).json();
    assert_eq!(seen(&reply, "spin-full-url").unwrap(), format!("{}/users/42/a/b?x=1", devhost.url));
    assert_eq!(seen(&reply, "spin-path-info").unwrap(), "/a/b");
    assert_eq!(seen(&reply, "spin-matched-route").unwrap(), "/users/:user_id/...");
    assert_eq!(seen(&reply, "spin-raw-component-route").unwrap(), "/users/:user_id/...");
    assert_eq!(seen(&reply, "spin-component-route").unwrap(), "/users/:user_id");
    assert_eq!(seen(&reply, "spin-base-path").unwrap(), "/");
    assert_eq!(seen(&reply, "spin-path-match-user-id").unwrap(), "42");
    let client = seen(&reply, "spin-client-addr").unwrap();
    assert!(client.starts_with("127.0.0.1:"), "the runtime's value comes last: {client}");
    let exact = devhost.get("/users/me").json();
    assert_eq!(seen(&exact, "spin-path-info").unwrap(), "");
}

#[test]
fn reserved_and_unknown_paths() {
    let devhost = fixture();
    let health = devhost.get("/.well-known/spin/health");
    assert_eq!((health.status, health.text().as_str()), (200, "OK"));
    assert_eq!(devhost.get("/.well-known/spin/other").status, 404);
}

#[test]
fn every_request_gets_a_fresh_instance() {
    for _ in 0..3 {
        assert_eq!(fixture().get("/probe/counter").json()["calls"], 1);
    }
}

fn kv(store: &str, op: &str, key: &str, value: &str) -> Value {
    fixture().get(&format!("/probe/kv?store={store}&op={op}&key={key}&value={value}")).json()
}

#[test]
fn key_value_on_sqlite_memory_and_redis_stores() {
    for store in ["default", "mem", "cache"] {
        let key = format!("k-{store}");
        assert_eq!(kv(store, "get", &key, ""), json!({ "ok": null }), "{store}");
        assert_eq!(kv(store, "set", &key, "v1"), json!({ "ok": null }), "{store}");
        assert_eq!(kv(store, "set", &key, "v2"), json!({ "ok": null }), "{store}");
        assert_eq!(kv(store, "get", &key, ""), json!({ "ok": "v2" }), "{store}");
        assert_eq!(kv(store, "exists", &key, ""), json!({ "ok": true }), "{store}");
        assert!(kv(store, "keys", "", "")["ok"].as_array().unwrap().contains(&json!(key)), "{store}");
        assert_eq!(kv(store, "delete", &key, ""), json!({ "ok": null }), "{store}");
        assert_eq!(kv(store, "exists", &key, ""), json!({ "ok": false }), "{store}");
    }
}

#[test]
fn key_value_access_is_limited_to_listed_stores() {
    let denied = fixture().get("/restricted/kv?store=default&op=get&key=x").json();
    assert_eq!(denied, json!({ "err": "Error::AccessDenied" }));
    assert_eq!(kv("nonexistent", "get", "x", ""), json!({ "err": "Error::AccessDenied" }));
}

#[test]
fn default_store_is_the_spin_sqlite_file() {
    assert_eq!(kv("default", "set", "persisted", "yes"), json!({ "ok": null }));
    assert_eq!(kv("default", "get", "persisted", ""), json!({ "ok": "yes" }));
}

fn redis(spec: Value) -> Value {
    fixture().request("POST", "/probe/redis").json(&spec).json()
}

#[test]
fn redis_functions_against_a_real_server() {
    let address = Services::shared().redis_url.clone();
    let r = |op: &str, extra: Value| {
        let mut spec = json!({ "address": address, "op": op });
        spec.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        redis(spec)
    };
    assert_eq!(r("set", json!({ "key": "rk", "value": "hello" })), json!({ "ok": null }));
    assert_eq!(r("get", json!({ "key": "rk" })), json!({ "ok": "hello" }));
    assert_eq!(r("get", json!({ "key": "missing" })), json!({ "ok": null }));
    assert_eq!(r("incr", json!({ "key": "counter" }))["ok"], 1);
    assert_eq!(r("incr", json!({ "key": "counter" }))["ok"], 2);
    assert_eq!(r("sadd", json!({ "key": "set", "values": ["a", "b", "a"] })), json!({ "ok": 2 }));
    assert_eq!(r("smembers", json!({ "key": "set" })), json!({ "ok": ["a", "b"] }));
    assert_eq!(r("srem", json!({ "key": "set", "values": ["a"] })), json!({ "ok": 1 }));
    assert_eq!(r("sadd", json!({ "key": "rk", "values": ["x"] })), json!({ "err": "Error::TypeError" }));
    assert_eq!(r("publish", json!({ "channel": "c", "value": "m" })), json!({ "ok": null }));
    assert_eq!(r("del", json!({ "keys": ["rk", "counter", "nothing"] })), json!({ "ok": 2 }));
    let exec = |command: &str, args: Value| r("execute", json!({ "command": command, "args": args }));
    assert_eq!(exec("SET", json!(["ek", "v"])), json!({ "ok": [{ "status": "OK" }] }));
    assert_eq!(exec("RPUSH", json!(["list", "x", 7])), json!({ "ok": [{ "int": 2 }] }));
    assert_eq!(exec("LRANGE", json!(["list", 0, -1])), json!({ "ok": [{ "bin": "x" }, { "bin": "7" }] }));
    let script = "redis.call('INCRBY', KEYS[1], ARGV[1]); return {redis.call('GET', KEYS[1]), false}";
    assert_eq!(exec("EVAL", json!([script, 1, "lua", 5])), json!({ "ok": [{ "bin": "5" }, { "nil": null }] }));
    let err = exec("NOSUCHCOMMAND", json!([]));
    assert!(err["err"].as_str().unwrap().starts_with("Error::Other"), "{err}");
}

/// As on Spin, a blocking command waits on the guest's own connection: the shared one keeps
/// answering other requests meanwhile.
#[test]
fn a_blocking_redis_command_holds_up_no_other_request() {
    // The fixture's 3 s request timeout would end the waiting request before its head.
    let app = Devhost::start(options(&[], &[]));
    let redis = |spec: Value| app.request("POST", "/probe/redis").json(&spec).json();
    let address = Services::shared().redis_url.clone();
    let bell = unique("bell");
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| {
            let args = json!(["BLOCK", 20000, "STREAMS", bell, "$"]);
            redis(json!({ "address": address, "op": "execute", "command": "XREAD", "args": args }))
        });
        // Parked once Redis lists a client blocked in it.
        let deadline = Instant::now() + Duration::from_secs(15);
        while !Services::shared().redis_cli(&["CLIENT", "LIST"]).contains("cmd=xread") {
            assert!(!waiting.is_finished() && Instant::now() < deadline, "the XREAD never waited in Redis");
            std::thread::sleep(Duration::from_millis(20));
        }
        let get = redis(json!({ "address": address, "op": "get", "key": "nothing-here" }));
        assert_eq!(get, json!({ "ok": null }));
        assert!(!waiting.is_finished(), "answered while the XREAD still waits");
        let added = redis(json!({ "address": address, "op": "execute", "command": "XADD", "args": [bell, "*", "k", "v"] }));
        let id = added["ok"][0]["bin"].as_str().unwrap().to_owned();
        let read = waiting.join().unwrap();
        assert_eq!(read["ok"][1]["bin"], id, "the waiting read got the new entry: {read}");
    });
}

#[test]
fn redis_addresses_are_checked_against_allowed_hosts() {
    let other = json!({ "address": "redis://127.0.0.1:1", "op": "get", "key": "x" });
    assert_eq!(redis(other), json!({ "err": "Error::InvalidAddress" }));
    let address = Services::shared().redis_url.clone();
    let spec = json!({ "address": address, "op": "get", "key": "x" });
    let denied = fixture().request("POST", "/restricted/redis").json(&spec).json();
    assert_eq!(denied, json!({ "err": "Error::InvalidAddress" }));
}

#[test]
fn variables_are_templated_and_scoped() {
    let greeting = fixture().get("/probe/var?name=greeting").json();
    assert_eq!(greeting, json!({ "ok": format!("hello, {TOKEN}") }));
    let undefined = fixture().get("/probe/var?name=fixture_token").json();
    assert!(undefined["err"].as_str().unwrap().starts_with("Error::Undefined"), "{undefined}");
    let invalid = fixture().get("/probe/var?name=Bad-Name").json();
    assert!(invalid["err"].as_str().unwrap().starts_with("Error::InvalidName"), "{invalid}");
    let overridden = Devhost::start(options(&[("SPIN_VARIABLE_GREETING", "hi")], &[]));
    assert_eq!(overridden.get("/probe/var?name=greeting").json(), json!({ "ok": format!("hi, {TOKEN}") }));
}

#[test]
fn a_missing_required_variable_stops_startup_naming_it() {
    let mut missing = options(&[], &[]);
    missing.env.clear();
    let output = Devhost::try_start(missing).err().expect("devhost must refuse to start");
    assert!(output.contains("fixture_token (set SPIN_VARIABLE_FIXTURE_TOKEN)"), "{output}");
}

fn sql(db: &str, sql: &str, params: Value) -> Value {
    fixture().request("POST", "/probe/sqlite").json(&json!({ "db": db, "sql": sql, "params": params })).json()
}

#[test]
fn sqlite_with_fts5_and_access_control() {
    let ok = |v: Value| assert!(v.get("ok").is_some(), "{v}");
    ok(sql("search", "CREATE VIRTUAL TABLE IF NOT EXISTS docs USING fts5(title, tokenize = 'trigram')", json!([])));
    ok(sql("search", "INSERT INTO docs (title) VALUES (?), (?)", json!(["弹幕视频 danmaku", "cats"])));
    let found = sql("search", "SELECT title FROM docs WHERE docs MATCH ? ORDER BY rank", json!(["弹幕视"]));
    assert_eq!(found["ok"]["rows"], json!([["弹幕视频 danmaku"]]));
    let typed = sql("default", "SELECT 1, 2.5, 'x', NULL, ?", json!([42]));
    assert_eq!(typed["ok"]["rows"], json!([[1, 2.5, "x", null, 42]]));
    let bad = sql("default", "SELEC nope", json!([]));
    assert!(bad["err"].as_str().unwrap().starts_with("Error::Io"), "{bad}");
    let denied = fixture().request("POST", "/restricted/sqlite").json(&json!({ "db": "default", "sql": "SELECT 1" })).json();
    assert_eq!(denied, json!({ "err": "Error::AccessDenied" }));
}

#[test]
fn outbound_http_is_limited_to_allowed_hosts() {
    let s3 = &Services::shared().s3_endpoint;
    let allowed = fixture().get(&format!("/probe/http?url={s3}/")).json();
    assert_eq!(allowed["status"], 403, "the store answers (and wants a signature): {allowed}");
    let denied = fixture().get(&format!("/restricted/http?url={s3}/")).json();
    assert!(denied["err"].as_str().unwrap().contains("HttpRequestDenied"), "{denied}");
    let elsewhere = fixture().get("/probe/http?url=http://127.0.0.2:9/").json();
    assert!(elsewhere["err"].as_str().unwrap().contains("HttpRequestDenied"), "{elsewhere}");
}

#[test]
fn service_chaining_reaches_private_components_only_when_allowed() {
    let chained = fixture().get("/probe/http?url=http://private.spin.internal/probe/headers").json();
    assert_eq!(chained["status"], 200, "{chained}");
    let inner: Value = serde_json::from_str(chained["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["who"], "private");
    let denied = fixture().get("/restricted/http?url=http://private.spin.internal/").json();
    assert!(denied["err"].as_str().unwrap().contains("HttpRequestDenied"), "{denied}");
}

#[test]
fn a_trap_fails_only_its_request() {
    let devhost = fixture();
    let trapped = devhost.get("/probe/trap");
    assert_eq!(trapped.status, 500);
    assert_eq!(devhost.get("/probe/counter").status, 200);
    let log = devhost.log();
    assert!(log.contains("[probe] ") && log.contains("probe asked to trap"), "{log}");
}

#[test]
fn a_runaway_guest_is_stopped_at_the_timeout() {
    let devhost = fixture();
    let started = std::time::Instant::now();
    assert_eq!(devhost.get("/probe/spin").status, 500);
    assert!(started.elapsed().as_secs() < 20, "the 3 s deadline must stop the loop");
    assert_eq!(devhost.get("/probe/counter").status, 200);
}

#[test]
fn request_bodies_over_the_limit_get_413() {
    let devhost = fixture();
    let small = devhost.request("POST", "/probe/echo").send(Some(&[7u8; 1000])).json();
    assert_eq!(small["length"], 1000);
    let big = vec![7u8; 65537];
    assert_eq!(devhost.request("POST", "/probe/echo").send(Some(&big)).status, 413);
}

#[test]
fn guest_output_is_logged_with_the_component_id_before_the_request_line() {
    let devhost = fixture();
    assert_eq!(devhost.get("/probe/print").status, 200);
    let request_line = "GET /probe/print 200 probe ";
    let log = devhost.log_when(|log| log.contains(request_line));
    let position = |needle: &str| log.find(needle).unwrap_or_else(|| panic!("{needle:?} not logged:\n{log}"));
    let stdout = position("[probe] hello from stdout");
    let stderr = position("[probe] hello from stderr");
    let request =
        log[stdout..].find(request_line).map(|i| i + stdout).unwrap_or_else(|| panic!("no request line after the guest's:\n{log}"));
    assert!(stdout < request && stderr < request, "{log}");
}

#[test]
fn memory_is_bounded_per_instance() {
    let devhost = fixture();
    assert_eq!(devhost.get("/probe/alloc?mb=16").status, 200);
    assert_eq!(devhost.get("/probe/alloc?mb=512").status, 500, "over the 256 MiB instance limit");
    assert_eq!(devhost.get("/probe/counter").status, 200);
}

/// Each event reaches the client as the guest writes it, and the request timeout (3 s here)
/// bounds only the time to the head: a body may stream on, as on Spin.
#[test]
fn a_streamed_body_arrives_as_written_past_the_request_timeout() {
    let devhost = fixture();
    let mut stream = Stream::open(devhost.addr(), "/probe/stream?events=5&gap_ms=1000", &[]).unwrap();
    assert_eq!(stream.status, 200);
    let first = stream.next_until(Instant::now() + Duration::from_secs(10)).expect("the first event");
    let first_at = Instant::now();
    assert_eq!(first.data, "1");
    let mut last = first;
    while let Some(event) = stream.next_until(Instant::now() + Duration::from_secs(10)) {
        last = event;
    }
    assert!(stream.ended());
    assert_eq!(last.data, "5", "every event, though the body took longer than --timeout-secs");
    assert!(first_at.elapsed() >= Duration::from_secs(3), "the first event came before the rest were written");
    let log = devhost.log_when(|log| log.contains("[probe] stream: all 5 events written"));
    assert!(log.contains("[probe] stream: all 5 events written"), "{log}");
}

/// A client that goes away ends the guest's request at its next write.
#[test]
fn a_client_that_goes_away_ends_the_streaming_guest() {
    let devhost = fixture();
    let mut stream = Stream::open(devhost.addr(), "/probe/stream?events=1000&gap_ms=100", &[]).unwrap();
    for _ in 0..3 {
        stream.next_until(Instant::now() + Duration::from_secs(10)).expect("an event");
    }
    drop(stream);
    let log = devhost.log_when(|log| log.contains("[probe] stream: client gone at event"));
    assert!(log.contains("[probe] stream: client gone at event"), "{log}");
}

/// `--stream-timeout-secs` ends an instance that streams too long, cleanly for the client.
#[test]
fn the_stream_timeout_ends_a_body_that_runs_too_long() {
    let devhost = Devhost::start(options(&[], &["--timeout-secs", "1", "--stream-timeout-secs", "2"]));
    let started = Instant::now();
    let mut stream = Stream::open(devhost.addr(), "/probe/stream?events=40&gap_ms=250", &[]).unwrap();
    let mut got = 0;
    while stream.next_until(Instant::now() + Duration::from_secs(20)).is_some() {
        got += 1;
    }
    assert!(stream.ended(), "the body ends");
    assert!((2..40).contains(&got), "cut after about 2 s: {got} events");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    let log = devhost.log_when(|log| log.contains("error after the response started"));
    assert!(log.contains("[probe] error after the response started: request still running after 2s (--stream-timeout-secs)"), "{log}");
}
