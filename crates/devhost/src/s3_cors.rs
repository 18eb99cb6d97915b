//! `devhost s3-cors`: a reverse proxy that puts CORS in front of a local S3 server.
//!
//! Browsers upload and download object bytes straight from the object store with presigned
//! URLs, so the store must answer CORS preflights. AWS S3 and MinIO do (given a CORS rule), but
//! s3s-fs, the S3 server `scripts/up` runs, answers `OPTIONS` with 501 and sends no CORS headers.
//! For local development only, this proxy answers preflights itself and forwards every other
//! request unchanged (method, path, query, headers including `Host`, which presigned SigV4 URLs
//! sign, and the body streamed both ways), adding CORS headers to the answers.
//!
//! Each request gets its own upstream connection: no pooled connection can be found closed
//! after a body was already sent, and a local S3 server does not mind the extra connects.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};

/// Methods a preflight allows.
pub(crate) const ALLOW_METHODS: &str = "GET, PUT, POST, HEAD, DELETE";
/// Response headers a page may read: the part ETag multipart completion needs, and the rest
/// S3 clients look at.
pub(crate) const EXPOSE_HEADERS: &str = "ETag, x-amz-checksum-sha256, x-amz-version-id";
/// How long a browser may cache a preflight, in seconds.
pub(crate) const MAX_AGE: &str = "600";

/// Connection-level headers, which a proxy does not pass on (RFC 9110 §7.6.1), besides those a
/// `Connection` header names. Framing (`Content-Length`, `Transfer-Encoding`) passes on and
/// hyper encodes the body to match.
const HOP_BY_HOP: [HeaderName; 4] = [header::CONNECTION, header::TE, header::UPGRADE, HeaderName::from_static("keep-alive")];

/// The origins that get CORS answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origins {
    /// Allowed origins (`scheme://host[:port]`); empty, or containing `*`, allows any.
    list: Vec<String>,
}

impl Origins {
    /// Origins from `--origin` values; a trailing `/` is ignored.
    pub(crate) fn new(list: Vec<String>) -> Self {
        Origins { list: list.into_iter().map(|o| o.trim_end_matches('/').to_owned()).collect() }
    }

    /// The `Access-Control-Allow-Origin` value for a request with this `Origin` header: the
    /// origin itself when allowed, else none (a request without `Origin` is not a CORS request).
    pub(crate) fn allow<'a>(&self, origin: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let origin = origin?;
        let text = origin.to_str().ok()?;
        let any = self.list.is_empty() || self.list.iter().any(|o| o == "*");
        (any || self.list.iter().any(|o| o.eq_ignore_ascii_case(text))).then_some(origin)
    }
}

/// The headers of the answer to a preflight (`OPTIONS`) with these request headers.
pub(crate) fn preflight_headers(origins: &Origins, request: &HeaderMap) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(origin) = origins.allow(request.get(header::ORIGIN)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
    if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
    }
    headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    headers
}

/// Adds CORS to the headers of a forwarded answer to a request with this `Origin` header.
pub(crate) fn add_cors_headers(origins: &Origins, origin: Option<&HeaderValue>, response: &mut HeaderMap) {
    if let Some(origin) = origins.allow(origin) {
        response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    }
    response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
    let varies = response
        .get_all(header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim() == "*" || v.trim().eq_ignore_ascii_case("origin"));
    if !varies {
        response.append(header::VARY, HeaderValue::from_static("Origin"));
    }
}

/// Removes the connection-level headers from a message being passed on; `Host` and every
/// end-to-end header stay as they are.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::try_from(name.trim()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
    headers.remove("proxy-connection");
}

type Body = BoxBody<Bytes, hyper::Error>;

struct Proxy {
    upstream: String,
    origins: Origins,
}

/// Serves the proxy on `listener`, forwarding to `upstream` (`host:port`), until the process ends.
pub(crate) async fn run(listener: TcpListener, upstream: String, origins: Origins) -> Result<()> {
    let proxy = Arc::new(Proxy { upstream, origins });
    loop {
        let (stream, _) = crate::server::accept(&listener).await;
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| proxy.clone().handle(request));
            // Errors here are the client going away; nothing to answer.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

impl Proxy {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Result<Response<Body>, Infallible> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let origin = request.headers().get(header::ORIGIN).cloned();
        let response = if method == Method::OPTIONS {
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::NO_CONTENT;
            *response.headers_mut() = preflight_headers(&self.origins, request.headers());
            response
        } else {
            let mut response = match self.forward(request).await {
                Ok(response) => response.map(BodyExt::boxed),
                Err(e) => {
                    eprintln!("s3-cors: {method} {path}: upstream {} failed: {e}", self.upstream);
                    let text = format!("s3-cors: the S3 server at {} is unreachable\n", self.upstream);
                    let mut response = Response::new(Full::new(Bytes::from(text)).map_err(|never| match never {}).boxed());
                    *response.status_mut() = StatusCode::BAD_GATEWAY;
                    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
                    response
                }
            };
            add_cors_headers(&self.origins, origin.as_ref(), response.headers_mut());
            response
        };
        println!("{method} {path} {} {:.2}ms", response.status().as_u16(), started.elapsed().as_secs_f64() * 1000.0);
        Ok(response)
    }

    /// Sends `request` to the upstream on a new connection; the response body streams from it.
    async fn forward(&self, request: Request<Incoming>) -> Result<Response<Incoming>> {
        let (mut parts, body) = request.into_parts();
        // A client may send the absolute form (`GET http://host/path`); the upstream gets the
        // origin form with the client's `Host` header as it was.
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        parts.uri = path_and_query.parse()?;
        parts.version = Version::HTTP_11;
        strip_hop_by_hop(&mut parts.headers);

        let stream = TcpStream::connect(self.upstream.as_str()).await?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            // Ends when the response body is done or dropped; errors reach the body's reader.
            let _ = connection.await;
        });
        let mut response = sender.send_request(Request::from_parts(parts, body)).await?;
        strip_hop_by_hop(response.headers_mut());
        Ok(response)
    }
}

fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|never| match never {}).boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &'static str) -> HeaderValue {
        HeaderValue::from_static(text)
    }

    #[test]
    fn listed_origins_or_any_when_none_listed() {
        let app = value("http://127.0.0.1:3000");
        let other = value("http://evil.example");
        let listed = Origins::new(vec!["http://127.0.0.1:3000/".into(), "http://localhost:3000".into()]);
        assert_eq!(listed.allow(Some(&app)), Some(&app));
        assert_eq!(listed.allow(Some(&other)), None);
        assert_eq!(listed.allow(None), None);
        let any = Origins::new(vec![]);
        assert_eq!(any.allow(Some(&other)), Some(&other));
        assert_eq!(any.allow(None), None);
        assert_eq!(Origins::new(vec!["*".into()]).allow(Some(&other)), Some(&other));
    }

    #[test]
    fn preflight_echoes_origin_and_requested_headers() {
        let origins = Origins::new(vec!["http://127.0.0.1:3000".into()]);
        let mut request = HeaderMap::new();
        request.insert(header::ORIGIN, value("http://127.0.0.1:3000"));
        request.insert(header::ACCESS_CONTROL_REQUEST_METHOD, value("PUT"));
        request.insert(header::ACCESS_CONTROL_REQUEST_HEADERS, value("content-type,x-amz-checksum-sha256"));
        let headers = preflight_headers(&origins, &request);
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:3000");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], "GET, PUT, POST, HEAD, DELETE");
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_HEADERS], "content-type,x-amz-checksum-sha256");
        assert_eq!(headers[header::ACCESS_CONTROL_MAX_AGE], "600");
        assert_eq!(headers[header::VARY], "Origin");

        request.insert(header::ORIGIN, value("http://elsewhere.example"));
        request.remove(header::ACCESS_CONTROL_REQUEST_HEADERS);
        let headers = preflight_headers(&origins, &request);
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert!(headers.get(header::ACCESS_CONTROL_ALLOW_HEADERS).is_none());
        assert_eq!(headers[header::ACCESS_CONTROL_ALLOW_METHODS], ALLOW_METHODS);
    }

    #[test]
    fn forwarded_answers_get_cors_and_one_vary_origin() {
        let origins = Origins::new(vec![]);
        let origin = value("http://127.0.0.1:3000");
        let mut response = HeaderMap::new();
        response.insert(header::ETAG, value("\"abc\""));
        response.insert(header::VARY, value("Accept-Encoding"));
        add_cors_headers(&origins, Some(&origin), &mut response);
        assert_eq!(response[header::ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:3000");
        assert_eq!(response[header::ACCESS_CONTROL_EXPOSE_HEADERS], EXPOSE_HEADERS);
        let vary: Vec<_> = response.get_all(header::VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
        add_cors_headers(&origins, Some(&origin), &mut response);
        assert_eq!(response.get_all(header::VARY).iter().count(), 2);
        assert_eq!(response[header::ETAG], "\"abc\"");

        let mut plain = HeaderMap::new();
        add_cors_headers(&origins, None, &mut plain);
        assert!(plain.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(plain[header::VARY], "Origin");
    }

    #[test]
    fn hop_by_hop_headers_go_and_host_stays() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, value("127.0.0.1:9000"));
        headers.insert(header::CONNECTION, value("keep-alive, x-hop"));
        headers.insert("keep-alive", value("timeout=5"));
        headers.insert("x-hop", value("1"));
        headers.insert(header::CONTENT_LENGTH, value("5242880"));
        headers.insert("x-amz-content-sha256", value("UNSIGNED-PAYLOAD"));
        strip_hop_by_hop(&mut headers);
        let mut names: Vec<_> = headers.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["content-length", "host", "x-amz-content-sha256"]);
        assert_eq!(headers[header::HOST], "127.0.0.1:9000");
    }
}
