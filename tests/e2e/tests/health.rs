//! The real components, built as release `.wasm`, answer their health endpoints on Spin
//! and report the backing services they can actually reach: up or down to anyone, each
//! service's check to the operator.

use e2e::{App, AppOptions, Reply, Value};

const OPERATOR_TOKEN: &str = "e2e-operator-token";

/// The app with the operator token set, and `extra` settings.
fn app_with(extra: &[(&str, String)], services: Option<&e2e::Services>) -> App {
    let mut env = vec![("SPIN_VARIABLE_OPERATOR_TOKEN".to_owned(), OPERATOR_TOKEN.to_owned())];
    env.extend(extra.iter().map(|(k, v)| (format!("SPIN_VARIABLE_{k}"), v.clone())));
    App::start(AppOptions { env, services, ..AppOptions::default() })
}

/// `GET path` as the operator, who sees each check.
fn detailed(app: &App, path: &str) -> Reply {
    app.request("GET", path).header("x-operator-token", OPERATOR_TOKEN).send(None)
}

fn services(reply: &Value) -> Vec<(String, String)> {
    reply["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["service"].as_str().unwrap().to_owned(), c["status"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn every_component_reports_its_services_up() {
    let app = app_with(&[], None);
    let expected: [(&str, &str, &[&str]); 4] = [
        ("/auth/health", "auth", &["key-value", "redis"]),
        ("/uploads/health", "upload-sign", &["key-value", "redis", "s3"]),
        ("/feed/health", "feed", &["key-value", "redis"]),
        ("/search/health", "search-proxy", &["key-value", "redis", "sqlite"]),
    ];
    for (path, component, wanted) in expected {
        let public = app.get(path);
        assert_eq!((public.status, public.json()), (200, serde_json::json!({ "component": component, "status": "ok" })), "{path}");
        let wrong = app.request("GET", path).header("x-operator-token", "guess").send(None).json();
        assert!(wrong.get("checks").is_none(), "{path}: a wrong token sees what the public sees: {wrong}");
        let reply = app.request("GET", path).header("x-request-id", "health-check-1").header("x-operator-token", OPERATOR_TOKEN).send(None);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.header("x-request-id"), Some("health-check-1"));
        let body = reply.json();
        assert_eq!(body["component"], component);
        assert_eq!(body["status"], "ok");
        let got = services(&body);
        assert_eq!(got.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), wanted, "{body}");
        assert!(got.iter().all(|(_, status)| status == "up"), "{body}");
        assert!(body["checks"].as_array().unwrap().iter().all(|c| c["latency_ms"].as_f64().unwrap() >= 0.0));
    }
}

#[test]
fn unreachable_or_misconfigured_services_show_as_down_with_503() {
    let dead_redis = format!("redis://127.0.0.1:{}", e2e::free_port());
    let app =
        app_with(&[("S3_SECRET_KEY", "wrong-secret".into()), ("REDIS_ADDRESS", dead_redis.clone()), ("REDIS_HOST", dead_redis)], None);
    let public = app.get("/uploads/health");
    assert_eq!((public.status, public.json()), (503, serde_json::json!({ "component": "upload-sign", "status": "degraded" })));
    let reply = detailed(&app, "/uploads/health");
    assert_eq!(reply.status, 503, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["status"], "degraded");
    let got = services(&body);
    assert!(got.contains(&("redis".into(), "down".into())), "{body}");
    assert!(got.contains(&("s3".into(), "down".into())), "a bad signature must not pass: {body}");
    assert!(got.contains(&("key-value".into(), "up".into())), "{body}");
}

#[test]
fn unknown_paths_and_methods_are_problem_json() {
    let app = App::start_default();
    let missing = app.get("/auth/nope");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-type"), Some("application/problem+json"));
    assert_eq!(missing.json()["code"], "no-such-route");
    let wrong = app.request("DELETE", "/feed/health").send(None);
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.header("allow"), Some("GET"));
    assert_eq!(app.get("/not-routed").status, 404);
}

#[test]
fn redis_keeping_data_only_in_memory_is_a_warning_not_a_failure() {
    let services = e2e::Services::isolated();
    let app = app_with(&[], Some(&services));
    let redis_check = |path: &str| {
        let reply = detailed(&app, path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["status"], "ok", "{body}");
        body["checks"].as_array().unwrap().iter().find(|c| c["service"] == "redis").unwrap().clone()
    };
    let persistent = redis_check("/feed/health");
    assert!(persistent.get("warning").is_none(), "the harness's Redis keeps an append-only file: {persistent}");

    services.redis_cli(&["CONFIG", "SET", "appendonly", "no"]);
    for path in ["/auth/health", "/uploads/health", "/feed/health", "/search/health"] {
        let check = redis_check(path);
        assert_eq!(check["status"], "up", "{path}: {check}");
        let warning = check["warning"].as_str().unwrap_or_default();
        assert!(warning.starts_with("Redis persistence is off (aof_enabled:0)"), "{path}: {check}");
    }
}
