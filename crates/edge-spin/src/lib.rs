//! The Spin side of every edge component: turns Spin's incoming request into an
//! [`edge_http::Request`] (body read with a size limit), runs the component's handler inside the
//! [`edge_http::Exchange`] frame (request id, CORS from the `cors_origins` variable, problem
//! answers), and probes backing services for health endpoints.
//!
//! Everything Spin-specific lives here so component cores stay pure and natively testable.

pub mod auth;
pub mod changes;
pub mod health;
pub mod kv;
pub mod limit;
pub mod outbound;
pub mod redis;
pub mod script;
pub mod settings;
mod sha1;

use std::future::Future;
use std::time::Duration;

use edge_http::stream::{Gone, Sink, Streamed};
use edge_http::{Cors, Exchange, Problem, Request, Response};
use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, Method as SpinMethod, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::clocks::monotonic_clock;
use wasi::io::streams::OutputStream;

/// Reads `request`, answers it with `handler` inside the exchange frame, and writes the answer
/// to `out`.
///
/// Bodies over `body_limit` bytes get a 413 before the handler runs; a CORS preflight is
/// answered without it. The handler's `Err` becomes a problem+json answer.
pub async fn serve<F, Fut>(request: IncomingRequest, out: ResponseOutparam, body_limit: usize, handler: F)
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response, Problem>>,
{
    // A HEAD answer has no body to measure: its length stays whatever the handler said.
    let head = matches!(request.method(), SpinMethod::Head);
    send(answer(request, body_limit, handler).await, out, head);
}

/// Writes `response` with every header kept, repeated ones included (spin-sdk's own
/// conversion keeps only the last `Set-Cookie`). A [`Streamed`] answer's writer runs once the
/// head is out, writing straight to the body as it goes.
///
/// A whole answer goes out with its `Content-Length` and its body already written when the head
/// is handed over: Spin's HTTP server leaves Nagle's algorithm on (no `set_nodelay` on accepted
/// connections: `crates/trigger-http/src/server.rs:252` at v4.0.2), so a head and a body sent as two small
/// writes wait for the client's delayed ACK, about 40 ms on every kept-alive request.
fn send(mut response: Response, out: ResponseOutparam, head: bool) {
    let writer = Streamed::take(&mut response);
    if writer.is_none() && !head && !matches!(response.status().as_u16(), 204 | 304) {
        let length = http::HeaderValue::from(response.body().len());
        response.headers_mut().insert(http::header::CONTENT_LENGTH, length);
    }
    let entries: Vec<(String, Vec<u8>)> =
        response.headers().iter().map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec())).collect();
    // Names and values come from `http` types, so the host accepts them.
    let Ok(headers) = Fields::from_list(&entries) else {
        return;
    };
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(response.status().as_u16());
    let Ok(body) = outgoing.body() else {
        return;
    };
    let Ok(stream) = body.write() else {
        return;
    };
    let mut sink = BodySink(stream);
    match writer {
        None => {
            // As much as the stream takes before anyone reads it (all of a usual answer), then
            // the head, then the rest. A client that went away cannot be told anything.
            let bytes = response.into_body();
            let early = sink.0.check_write().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)).min(bytes.len());
            if early > 0 && sink.0.write(&bytes[..early]).is_err() {
                return;
            }
            out.set(outgoing);
            let _ = sink.write(&bytes[early..]);
        }
        Some(writer) => {
            out.set(outgoing);
            writer(&mut sink);
        }
    }
    drop(sink);
    let _ = OutgoingBody::finish(body, None);
}

/// How long one streamed chunk may wait for a client that does not read before the client
/// counts as gone: a stalled reader must not hold an instance for the stream's whole life.
const WRITE_WAIT: Duration = Duration::from_secs(10);

/// A response body as a [`Sink`]: each chunk written and flushed, waiting on the host (not
/// spinning) while the client's window is full.
struct BodySink(OutputStream);

impl BodySink {
    /// Bytes the stream takes now, waiting for room until `deadline` (monotonic ns).
    fn room(&self, deadline: u64) -> Result<usize, Gone> {
        loop {
            match self.0.check_write() {
                Ok(0) => {}
                Ok(n) => return Ok(usize::try_from(n).unwrap_or(usize::MAX)),
                Err(_) => return Err(Gone),
            }
            if monotonic_clock::now() >= deadline {
                return Err(Gone);
            }
            let (ready, timer) = (self.0.subscribe(), monotonic_clock::subscribe_instant(deadline));
            wasi::io::poll::poll(&[&ready, &timer]);
        }
    }
}

impl Sink for BodySink {
    /// Writes `chunk` whole; a client that takes no byte of it for [`WRITE_WAIT`] is gone (a
    /// slow one that keeps reading is not, however long a large body takes).
    fn write(&mut self, mut chunk: &[u8]) -> Result<(), Gone> {
        let deadline = || monotonic_clock::now().saturating_add(WRITE_WAIT.as_nanos() as u64);
        while !chunk.is_empty() {
            let n = self.room(deadline())?.min(chunk.len());
            self.0.write(&chunk[..n]).map_err(|_| Gone)?;
            chunk = &chunk[n..];
        }
        self.0.flush().map_err(|_| Gone)?;
        // The flush is done once the stream takes bytes again.
        self.room(deadline()).map(drop)
    }
}

async fn answer<F, Fut>(request: IncomingRequest, body_limit: usize, handler: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Result<Response, Problem>>,
{
    let request = match read(request, body_limit).await {
        Ok(request) => request,
        Err((head, problem)) => {
            return match Exchange::begin(&head, &cors_for(&head)) {
                Ok(exchange) => exchange.finish(Err(problem)),
                Err(preflight) => *preflight,
            }
        }
    };
    match Exchange::begin(&request, &cors_for(&request)) {
        Ok(exchange) => {
            let result = handler(request).await;
            exchange.finish(result)
        }
        Err(preflight) => *preflight,
    }
}

/// Exports a component's HTTP handler to Spin: `edge_spin::export!(BODY_LIMIT, dispatch);`
/// reads each request with that body limit and answers it with `dispatch` through [`serve`].
///
/// The export exists only on wasm: natively the component crate is linked into its unit tests,
/// where Spin's export symbols would not link.
#[macro_export]
macro_rules! export {
    ($body_limit:expr, $dispatch:path) => {
        #[cfg(target_arch = "wasm32")]
        #[spin_sdk::http_component]
        async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
            $crate::serve(request, out, $body_limit, $dispatch).await
        }
    };
}

/// A value made on first use and kept for the rest of the request: a connection, a store or
/// parsed settings that only some endpoints need, so the others make no host call for it.
pub struct Lazy<T>(std::cell::OnceCell<T>);

impl<T> Default for Lazy<T> {
    fn default() -> Self {
        Lazy(std::cell::OnceCell::new())
    }
}

impl<T> Lazy<T> {
    /// The value, made by `make` the first time.
    pub fn get_or_try(&self, make: impl FnOnce() -> Result<T, Problem>) -> Result<&T, Problem> {
        if let Some(value) = self.0.get() {
            return Ok(value);
        }
        let value = make()?;
        Ok(self.0.get_or_init(|| value))
    }
}

pub use settings::setting;

/// A 503 for a key-value store that did not answer.
pub fn kv_unavailable(error: impl std::fmt::Display) -> Problem {
    Problem::unavailable("store-unavailable", format!("the key-value store did not answer ({error}); retry shortly"))
}

/// The client a per-address limit counts: the IP of the runtime's `spin-client-addr` without
/// its port, and for IPv6 its /64 (one subscriber's network, which can hand out any address in
/// it). Spin appends its header after any of that name a client sent, so only the last value is
/// trusted. Behind load balancers or proxies, `trusted_proxy_hops` (0 by default: trust none)
/// says how many of them add to `X-Forwarded-For`, and the client is the address the outermost
/// one saw ([`behind_proxies`]); anything a client wrote further left is ignored. The setting
/// is read only for a request that carries `X-Forwarded-For`. `unknown` when the runtime gave
/// no address.
pub fn client_key(headers: &http::HeaderMap) -> String {
    let peer = headers.get_all("spin-client-addr").iter().next_back().and_then(|v| v.to_str().ok()).unwrap_or("");
    let forwarded: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
    if forwarded.is_empty() {
        return client_key_of(peer);
    }
    // Unset or unreadable trusts no proxy: a forged header then changes nothing.
    let hops = setting(&settings::TRUSTED_PROXY_HOPS).unwrap_or(0) as usize;
    client_key_of(behind_proxies(peer, &forwarded, hops))
}

/// The address `hops` trusted proxies report: in the chain of `forwarded` entries followed by
/// the `peer`, where each proxy appended the address it received from, the entry `hops` places
/// left of the peer (the leftmost when the chain is shorter, which only a request that went
/// around the proxies sends).
fn behind_proxies<'a>(peer: &'a str, forwarded: &[&'a str], hops: usize) -> &'a str {
    match forwarded.len().checked_sub(hops) {
        _ if hops == 0 => peer,
        Some(index) => forwarded[index],
        None => forwarded.first().copied().unwrap_or(peer),
    }
}

fn client_key_of(addr: &str) -> String {
    use std::net::{IpAddr, SocketAddr};
    let ip = addr.parse::<SocketAddr>().map(|a| a.ip()).or_else(|_| addr.parse::<IpAddr>());
    match ip.map(|ip| ip.to_canonical()) {
        Ok(IpAddr::V4(v4)) => v4.to_string(),
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Err(_) => "unknown".to_owned(),
    }
}

/// This app's own origin (`scheme://host[:port]`) from the runtime's `spin-full-url`, for
/// same-origin checks.
pub fn own_origin(headers: &http::HeaderMap) -> Option<String> {
    let url = headers.get_all("spin-full-url").iter().next_back()?.to_str().ok()?;
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    Some(format!("{scheme}://{authority}"))
}

/// The CORS policy from the `cors_origins` variable; an invalid value is logged and treated
/// as same-origin only, so a typo never opens the API to every site.
pub fn cors() -> Cors {
    let value = setting(&settings::CORS_ORIGINS).unwrap_or_default();
    Cors::parse(&value).unwrap_or_else(|error| {
        eprintln!("{error}; cross-origin requests are refused until it is fixed");
        Cors::Origins(Vec::new())
    })
}

/// The CORS policy for `request`. Only a request with an `Origin` header can be cross-origin,
/// so only such a request reads the variable (each read is a host call on Spin).
fn cors_for(request: &Request) -> Cors {
    if request.headers().contains_key(http::header::ORIGIN) {
        cors()
    } else {
        Cors::Origins(Vec::new())
    }
}

fn method(method: SpinMethod) -> http::Method {
    match method {
        SpinMethod::Get => http::Method::GET,
        SpinMethod::Head => http::Method::HEAD,
        SpinMethod::Post => http::Method::POST,
        SpinMethod::Put => http::Method::PUT,
        SpinMethod::Delete => http::Method::DELETE,
        SpinMethod::Connect => http::Method::CONNECT,
        SpinMethod::Options => http::Method::OPTIONS,
        SpinMethod::Trace => http::Method::TRACE,
        SpinMethod::Patch => http::Method::PATCH,
        SpinMethod::Other(other) => http::Method::from_bytes(other.as_bytes()).unwrap_or(http::Method::GET),
    }
}

/// The request with its body, or its head (for the request id and CORS) and the problem.
async fn read(incoming: IncomingRequest, limit: usize) -> Result<Request, (Request, Problem)> {
    let mut builder =
        http::Request::builder().method(method(incoming.method())).uri(incoming.path_with_query().unwrap_or_else(|| "/".into()));
    for (name, value) in incoming.headers().entries() {
        builder = builder.header(name, value);
    }
    let head = builder.body(Vec::new()).unwrap_or_else(|_| http::Request::new(Vec::new()));
    let declared = head.headers().get(http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err((head, Problem::payload_too_large(limit)));
    }
    let mut body = Vec::new();
    let mut stream = std::pin::pin!(incoming.into_body_stream());
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) if body.len() + chunk.len() <= limit => body.extend_from_slice(&chunk),
            Ok(_) => return Err((head, Problem::payload_too_large(limit))),
            Err(_) => return Err((head, Problem::bad_request("body-unreadable", "the request body ended early"))),
        }
    }
    let (parts, _) = head.into_parts();
    Ok(http::Request::from_parts(parts, body))
}

#[cfg(test)]
mod tests {
    use super::{behind_proxies, client_key_of};

    #[test]
    fn proxies_are_trusted_only_as_far_as_configured() {
        let chain = ["6.6.6.6", "203.0.113.9", "10.0.0.2"];
        assert_eq!(behind_proxies("10.0.0.1", &chain, 0), "10.0.0.1", "no proxy trusted: the peer");
        assert_eq!(behind_proxies("10.0.0.1", &chain, 1), "10.0.0.2", "one balancer: what it saw");
        assert_eq!(behind_proxies("10.0.0.1", &chain, 2), "203.0.113.9", "a CDN, then a balancer: what the CDN saw");
        assert_eq!(behind_proxies("10.0.0.1", &chain[1..], 1), "10.0.0.2");
        assert_eq!(behind_proxies("10.0.0.1", &["203.0.113.9"], 3), "203.0.113.9", "a short chain: its leftmost");
    }

    #[test]
    fn clients_are_keyed_by_ip_and_ipv6_by_its_64() {
        assert_eq!(client_key_of("203.0.113.9:51234"), "203.0.113.9");
        assert_eq!(client_key_of("[2001:db8:1:2:aaaa::1]:443"), "2001:db8:1:2::/64");
        assert_eq!(client_key_of("[2001:db8:1:2:ffff::9]:80"), "2001:db8:1:2::/64");
        assert_eq!(client_key_of("[::ffff:198.51.100.7]:80"), "198.51.100.7");
        assert_eq!(client_key_of("10.0.0.1"), "10.0.0.1");
        assert_eq!(client_key_of(""), "unknown");
        assert_eq!(client_key_of("not an address"), "unknown");
    }
}
