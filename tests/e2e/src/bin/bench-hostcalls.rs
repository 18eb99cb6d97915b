//! Host calls per request on Spin (run by `scripts/bench-hostcalls`; prints figures, asserts
//! nothing).
//!
//! Spin traces every host call a component makes: each key-value, variable, Redis, SQLite and
//! outbound HTTP call is a span under the request's `execute_wasm_component` span (the
//! `#[instrument]`s in crates/factor-*/src/host.rs of spinframework/spin v4.0.2; a Redis
//! command's span is named after the command). This runs `spin up` with the release
//! components, its OTLP exporter pointed at a receiver here, sends each route [`ROUNDS`]
//! times, and counts the spans under each request by name. Calls that Spin does not trace
//! (wasi clocks, random, the request and response streams) are not in the count.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use e2e::sse::Stream;
use e2e::{json, receipt, App, AppOptions};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prost::Message;

/// Requests per route.
const ROUNDS: usize = 20;

/// The part of OTLP's trace messages this reads (opentelemetry-proto's
/// `collector/trace/v1` and `trace/v1`, by field number); prost skips the rest.
mod otlp {
    /// `ExportTraceServiceRequest`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Export {
        #[prost(message, repeated, tag = "1")]
        pub(crate) resource_spans: Vec<ResourceSpans>,
    }

    /// `ResourceSpans`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ResourceSpans {
        #[prost(message, repeated, tag = "2")]
        pub(crate) scope_spans: Vec<ScopeSpans>,
    }

    /// `ScopeSpans`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct ScopeSpans {
        #[prost(message, repeated, tag = "2")]
        pub(crate) spans: Vec<Span>,
    }

    /// `Span`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub(crate) struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub(crate) trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub(crate) span_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        pub(crate) parent_span_id: Vec<u8>,
        #[prost(string, tag = "5")]
        pub(crate) name: String,
        #[prost(fixed64, tag = "7")]
        pub(crate) start_time_unix_nano: u64,
        #[prost(fixed64, tag = "8")]
        pub(crate) end_time_unix_nano: u64,
    }
}

/// Spans received, in arrival order.
type Spans = Arc<Mutex<Vec<otlp::Span>>>;

/// An OTLP/HTTP receiver on a loopback port: every `POST /v1/traces` body's spans go to `spans`.
fn receiver(spans: Spans) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    listener.set_nonblocking(true).expect("non-blocking");
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let spans = spans.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let spans = spans.clone();
                        async move {
                            let body = request.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                            if let Ok(export) = otlp::Export::decode(body) {
                                let received = export.resource_spans.into_iter().flat_map(|r| r.scope_spans).flat_map(|s| s.spans);
                                spans.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend(received);
                            }
                            let mut answer = hyper::Response::new(Full::new(Bytes::new()));
                            answer.headers_mut().insert("content-type", "application/x-protobuf".parse().unwrap());
                            Ok::<_, Infallible>(answer)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                });
            }
        });
    });
    addr
}

/// The spans of every request sent by `send`, once `requests` of them have arrived (each
/// request is one `execute_wasm_component` span) and nothing more came for a second.
fn traced(spans: &Spans, requests: usize, send: impl FnOnce()) -> Vec<otlp::Span> {
    spans.lock().unwrap().clear();
    send();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut seen, mut quiet_since) = (0, Instant::now());
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = spans.lock().unwrap().len();
        if now != seen {
            (seen, quiet_since) = (now, Instant::now());
        }
        let executions = spans.lock().unwrap().iter().filter(|s| s.name.starts_with("execute_wasm_component")).count();
        if executions >= requests && quiet_since.elapsed() > Duration::from_secs(1) {
            break;
        }
    }
    std::mem::take(&mut *spans.lock().unwrap())
}

/// One request's host calls: how many of each name and the time they took, and the time its
/// component ran (the `execute_wasm_component` span).
struct Traced {
    calls: BTreeMap<String, (usize, u64)>,
    wasm_ns: u64,
}

impl Traced {
    fn count(&self) -> usize {
        self.calls.values().map(|(n, _)| n).sum()
    }

    fn host_ns(&self) -> u64 {
        self.calls.values().map(|(_, ns)| ns).sum()
    }
}

fn duration(span: &otlp::Span) -> u64 {
    span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)
}

/// Per request: the host calls under its `execute_wasm_component` span, by name.
fn host_calls(spans: &[otlp::Span]) -> Vec<Traced> {
    let mut children: HashMap<&[u8], Vec<&otlp::Span>> = HashMap::new();
    for span in spans {
        children.entry(span.parent_span_id.as_slice()).or_default().push(span);
    }
    let mut requests = Vec::new();
    for root in spans.iter().filter(|s| s.name.starts_with("execute_wasm_component")) {
        let mut calls = BTreeMap::new();
        let mut stack = vec![root.span_id.as_slice()];
        while let Some(id) = stack.pop() {
            for child in children.get(id).into_iter().flatten() {
                let entry = calls.entry(child.name.clone()).or_insert((0, 0));
                entry.0 += 1;
                entry.1 += duration(child);
                stack.push(&child.span_id);
            }
        }
        requests.push(Traced { calls, wasm_ns: duration(root) });
    }
    requests
}

/// One table row: the median request's calls (total, then by name, each with its time).
fn row(label: &str, requests: &[Traced]) {
    let mut by_total: Vec<&Traced> = requests.iter().collect();
    by_total.sort_by_key(|traced| (traced.count(), traced.wasm_ns));
    let Some(median) = by_total.get(by_total.len() / 2) else {
        println!("| {label} | no trace arrived | | |");
        return;
    };
    let (least, most) = (by_total[0].count(), by_total[by_total.len() - 1].count());
    // A SQLite call's span is named after its statement: its first word stands for it.
    let short = |name: &str| match name.split_once(' ') {
        Some((verb, _)) if name.len() > 40 => format!("SQL {verb}"),
        _ => name.to_owned(),
    };
    let ms = |ns: u64| ns as f64 / 1e6;
    let names: Vec<String> = median.calls.iter().map(|(name, (n, ns))| format!("{} ×{n} ({:.2} ms)", short(name), ms(*ns))).collect();
    println!(
        "| {label} | {} (of {} requests: {least}–{most}) | {:.2} of {:.2} ms | {} |",
        median.count(),
        requests.len(),
        ms(median.host_ns()),
        ms(median.wasm_ns),
        names.join(", ")
    );
}

fn main() {
    let spans: Spans = Arc::default();
    let collector = receiver(spans.clone());
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
        ("SPIN_VARIABLE_DANMAKU_PER_TEN_SECONDS", "1000000".to_owned()),
        // A stream's span ends, and is exported, when the stream does.
        ("SPIN_VARIABLE_DANMAKU_LIVE_SECS", "10".to_owned()),
    ];
    let app = App::start(AppOptions { env: env.map(|(k, v)| (k.to_owned(), v)).to_vec(), ..Default::default() });
    let user = app.request("POST", "/auth/register").json(&json!({ "username": e2e::unique("hc"), "password": "host call bench" }));
    let (token, user_id) =
        (user.json()["access_token"].as_str().unwrap().to_owned(), user.json()["user"]["id"].as_str().unwrap().to_owned());
    let bearer = format!("Bearer {token}");
    let get = |path: &str, signed_in: bool| {
        let mut request = app.request("GET", path);
        if signed_in {
            request = request.header("authorization", &bearer);
        }
        request.send(None)
    };
    let video = app.call(Some(&token), "POST", "/videos", Some(json!({ "receipt": receipt(&user_id), "title": "host calls" })));
    let video = video.json()["id"].as_u64().expect("a video");
    let upload = app
        .request("POST", "/uploads")
        .header("authorization", &bearer)
        .json(&json!({ "filename": "hc.mp4", "size": 100 * 5 * 1024 * 1024, "content_type": "video/mp4" }));
    let upload = upload.json()["id"].as_str().expect("an upload").to_owned();
    let numbers: Vec<u64> = (1..=100).collect();
    // The setup's spans (and a first search that fills the cache) are not counted.
    traced(&spans, 5, || drop(get("/search?q=hostcalls", false)));

    println!("| request | host calls (median; range) | in host calls, of the component's time (median request) | which, with their time |");
    println!("|---|---|---|---|");
    let simple: [(&str, String, bool); 6] = [
        ("`GET /.well-known/jwks.json`", "/.well-known/jwks.json".into(), false),
        ("`GET /` (the page)", "/".into(), false),
        ("`GET /auth/verify` (verified)", "/auth/verify".into(), true),
        ("`GET /videos/{id}` (verified read)", format!("/videos/{video}"), true),
        ("`GET /feed/latest`", "/feed/latest".into(), false),
        ("`GET /search` (cache hit)", "/search?q=hostcalls".into(), false),
    ];
    for (label, path, signed_in) in simple {
        row(label, &host_calls(&traced(&spans, ROUNDS, || (0..ROUNDS).for_each(|_| drop(get(&path, signed_in))))));
    }
    let misses = traced(&spans, ROUNDS, || (0..ROUNDS).for_each(|_| drop(get(&format!("/search?q={}", e2e::unique("miss")), false))));
    row("`GET /search` (miss)", &host_calls(&misses));
    let batch = traced(&spans, ROUNDS, || {
        for _ in 0..ROUNDS {
            app.request("POST", &format!("/uploads/{upload}/parts"))
                .header("authorization", &bearer)
                .json(&json!({ "part_numbers": numbers }));
        }
    });
    row("`POST /uploads/{id}/parts` (100 parts)", &host_calls(&batch));
    let posts = traced(&spans, ROUNDS, || {
        for n in 0..ROUNDS {
            let body = json!({ "time_ms": n * 1000, "text": e2e::unique("hc") });
            app.call(Some(&token), "POST", &format!("/videos/{video}/danmaku"), Some(body));
        }
    });
    row("`POST /videos/{id}/danmaku`", &host_calls(&posts));
    // One live stream: its admission, then a doorbell wait and a read per delivered batch.
    let mut batches = 0;
    let live = traced(&spans, 1 + ROUNDS, || {
        let mut stream = Stream::open(app.addr(), &format!("/videos/{video}/danmaku/live"), &[]).expect("a stream");
        stream.next_named("hello", Instant::now() + Duration::from_secs(10)).expect("hello");
        for n in 0..ROUNDS {
            let body = json!({ "time_ms": n * 1000, "text": e2e::unique("live") });
            app.call(Some(&token), "POST", &format!("/videos/{video}/danmaku"), Some(body));
            if stream.next_named("danmaku", Instant::now() + Duration::from_secs(5)).is_some() {
                batches += 1;
            }
        }
        stream.next_named("end", Instant::now() + Duration::from_secs(15)).expect("the stream ends");
    });
    let live_calls = host_calls(&live);
    let stream: Vec<Traced> = live_calls.into_iter().filter(|traced| traced.calls.contains_key("XREAD")).collect();
    row(&format!("`GET /videos/{{id}}/danmaku/live` (one stream, {batches} batches)"), &stream);
}
