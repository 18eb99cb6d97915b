//! `GET /<prefix>/health`: which backing services a component can actually reach, and how fast.

use std::time::{Duration, Instant};

use edge_http::handler::{FromInput, Input};
use edge_http::Problem;

use edge_http::{json_response, Response};
use http::StatusCode;
use serde::Serialize;

/// The outcome of probing one backing service.
#[derive(Debug, Serialize)]
pub struct Check {
    /// What kind of service: `key-value`, `redis`, `s3`, `sqlite`, `search-engine`.
    pub service: &'static str,
    /// Which one (store label, address without credentials, URL).
    pub target: String,
    /// `up` or `down`.
    pub status: &'static str,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// Why it is down, or what it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Something an operator should fix although the service works (Redis keeping data only in
    /// memory); never makes the check fail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Check {
    /// A check from a probe's result and when it started.
    pub fn new(service: &'static str, target: impl Into<String>, started: Instant, result: Result<Option<String>, String>) -> Self {
        let latency = started.elapsed();
        let (status, detail) = match result {
            Ok(detail) => ("up", detail),
            Err(error) => ("down", Some(error)),
        };
        Check { service, target: target.into(), status, latency_ms: millis(latency), detail, warning: None }
    }

    /// Whether the service answered as expected.
    pub fn is_up(&self) -> bool {
        self.status == "up"
    }
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// Opens key-value store `label` and reads a key.
pub fn key_value(label: &str) -> Check {
    let started = Instant::now();
    let result =
        spin_sdk::key_value::Store::open(label).and_then(|store| store.exists("health-probe")).map(|_| None).map_err(|e| e.to_string());
    Check::new("key-value", label, started, result)
}

/// Opens a Redis connection to `address`, sends `PING`, and warns when `INFO persistence`
/// shows that Redis would lose acknowledged writes if it stopped (see
/// [`persistence_warning`]).
pub fn redis(address: &str) -> Check {
    use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
    let started = Instant::now();
    let (result, connection) = match Connection::open(address).and_then(|c| c.execute("PING", &[]).map(|_| c)) {
        Ok(connection) => (Ok(None), Some(connection)),
        Err(error) => (Err(crate::redis::describe(&error)), None),
    };
    let mut check = Check::new("redis", redact(address), started, result);
    if let Some(connection) = connection {
        check.warning = match connection.execute("INFO", &[RedisParameter::Binary(b"persistence".to_vec())]).as_deref() {
            Ok([RedisResult::Binary(info)]) => persistence_warning(&String::from_utf8_lossy(info)),
            Ok(_) => Some("cannot tell whether Redis persists its data: INFO persistence answered no text".into()),
            Err(e) => Some(format!("cannot tell whether Redis persists its data: INFO persistence failed ({})", crate::redis::describe(e))),
        };
    }
    check
}

/// What an operator must fix, from the text of Redis's `INFO persistence`: the append-only
/// file off (a restart loses every write since the last RDB snapshot, all of them without
/// one), or writes to it or to the snapshot failing (Redis then refuses writes).
/// `INFO` rather than `CONFIG GET`, which operators often disable.
pub fn persistence_warning(info: &str) -> Option<String> {
    let field = |name: &str| info.lines().find_map(|line| line.trim_end().strip_prefix(name)?.strip_prefix(':'));
    let mut problems = Vec::new();
    match field("aof_enabled") {
        Some("1") => {
            if field("aof_last_write_status") == Some("err") {
                problems.push(
                    "Redis cannot write its append-only file (aof_last_write_status:err) and refuses writes; check its disk".to_owned(),
                );
            }
        }
        Some(_) => {
            let unsaved = field("rdb_changes_since_last_save").unwrap_or("?");
            problems.push(format!(
                "Redis persistence is off (aof_enabled:0): stopping Redis loses every write since its last RDB snapshot \
                 ({unsaved} changes now); run it with appendonly yes and appendfsync always"
            ));
        }
        None => problems.push("cannot tell whether Redis persists its data: INFO persistence has no aof_enabled".to_owned()),
    }
    if field("rdb_last_bgsave_status") == Some("err") {
        problems.push("Redis's last RDB snapshot failed (rdb_last_bgsave_status:err); it may refuse writes until one succeeds".to_owned());
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Runs `SELECT 1` on SQLite database `label`.
pub fn sqlite(label: &str) -> Check {
    let started = Instant::now();
    let result =
        spin_sdk::sqlite::Connection::open(label).and_then(|c| c.execute("SELECT 1", &[])).map(|_| None).map_err(|e| e.to_string());
    Check::new("sqlite", label, started, result)
}

/// Sends `request` and calls the service up when `expect` accepts the status.
pub async fn http(service: &'static str, request: http::Request<Vec<u8>>, expect: impl FnOnce(StatusCode) -> bool) -> Check {
    let target = redact(&request.uri().to_string());
    let target = target.split('?').next().unwrap_or("").to_owned();
    let started = Instant::now();
    let result = match crate::outbound::send(request).await {
        Ok(response) if expect(response.status()) => Ok(Some(format!("HTTP {}", response.status().as_u16()))),
        Ok(response) => Err(format!("unexpected answer HTTP {}", response.status().as_u16())),
        Err(error) => Err(error.to_string()),
    };
    Check::new(service, target, started, result)
}

/// The request header carrying the operator token.
pub const OPERATOR_HEADER: &str = "x-operator-token";

/// Whether the request carries the operator token: `x-operator-token` equal to the
/// `operator_token` variable (a secret; empty, the default, matches nothing). It needs no Redis
/// or key-value store, so an operator sees why a backend is down while it is. The variable is
/// read only for a request that sends the header; any other request is the public's.
#[derive(Debug, Clone, Copy)]
pub struct Operator(pub bool);

impl<S> FromInput<S> for Operator {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        let Some(sent) = input.request.headers().get(OPERATOR_HEADER) else { return Ok(Operator(false)) };
        let expected = crate::setting(&crate::settings::OPERATOR_TOKEN)?;
        Ok(Operator(!expected.is_empty() && same_secret(sent.as_bytes(), expected.as_bytes())))
    }
}

/// Equal, in a time that does not depend on where two secrets of one length differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// The health answer: 200 when every check is up, else 503; each check listed only when
/// `detailed` (the [`Operator`] asked).
pub fn report(component: &str, checks: Vec<Check>, detailed: bool) -> Response {
    let healthy = checks.iter().all(Check::is_up);
    let mut body = serde_json::json!({ "component": component, "status": if healthy { "ok" } else { "degraded" } });
    // Hosts, backends and errors help an attacker map the system: the operator's only.
    if detailed {
        body["checks"] = serde_json::json!(checks);
    }
    let status = if healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut response = json_response(status, &body);
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// `scheme://user:pass@host/...` without the credentials, for display.
pub fn redact(address: &str) -> String {
    let Some((scheme, rest)) = address.split_once("://") else {
        return address.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => address.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials_only() {
        assert_eq!(redact("redis://:secret@127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
    }

    #[test]
    fn persistence_off_or_failing_is_a_warning() {
        let info = |aof: &str, extra: &str| {
            format!("# Persistence\r\nloading:0\r\nrdb_changes_since_last_save:42\r\nrdb_last_bgsave_status:ok\r\naof_enabled:{aof}\r\naof_last_write_status:ok\r\n{extra}")
        };
        assert_eq!(persistence_warning(&info("1", "")), None);
        let off = persistence_warning(&info("0", "")).unwrap();
        assert!(off.starts_with("Redis persistence is off (aof_enabled:0)") && off.contains("42 changes"), "{off}");
        let failing = persistence_warning("aof_enabled:1\r\naof_last_write_status:err\r\nrdb_last_bgsave_status:err\r\n").unwrap();
        assert!(failing.contains("aof_last_write_status:err") && failing.contains("rdb_last_bgsave_status:err"), "{failing}");
        assert!(persistence_warning("").unwrap().contains("no aof_enabled"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"s3cret", b"s3cret"));
        assert!(!same_secret(b"s3cret", b"s3creT"));
        assert!(!same_secret(b"s3cret", b"s3cret-longer"));
    }

    #[test]
    fn a_warning_does_not_fail_the_report() {
        let mut check = Check::new("redis", "r", Instant::now(), Ok(None));
        check.warning = Some("Redis persistence is off".into());
        let response = report("x", vec![check], true);
        assert_eq!(response.status(), StatusCode::OK);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!((body["status"].as_str(), body["checks"][0]["warning"].as_str()), (Some("ok"), Some("Redis persistence is off")));
        let quiet = serde_json::to_value(Check::new("redis", "r", Instant::now(), Ok(None))).unwrap();
        assert!(quiet.get("warning").is_none(), "no warning field without a warning: {quiet}");
    }

    #[test]
    fn report_is_503_when_any_check_is_down() {
        let up = Check::new("redis", "r", Instant::now(), Ok(None));
        assert_eq!(report("x", vec![up], true).status(), StatusCode::OK);
        let checks =
            || vec![Check::new("redis", "r", Instant::now(), Ok(None)), Check::new("s3", "s", Instant::now(), Err("refused".into()))];
        let response = report("x", checks(), true);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"][1]["detail"], "refused");
        let public = report("x", checks(), false);
        assert_eq!(public.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(public.body()).unwrap();
        assert_eq!(body, serde_json::json!({ "component": "x", "status": "degraded" }), "no checks for the public");
    }
}
