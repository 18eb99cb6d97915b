//! RFC 9457 problem details: the single error format of every endpoint.

use http::header::{HeaderName, HeaderValue, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Method, StatusCode};
use serde_json::{Map, Value};

use crate::Response;

/// Media type of every error body.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// An error answer: an HTTP status, a stable machine-readable `code` and a human `detail`.
///
/// Serialised as `application/problem+json` with `type` = `/problems/<code>`, `title`
/// (the status reason), `status`, `detail`, `code`, `request_id` and any extension members.
/// Clients branch on `code` (or `type`); `detail` is for people and may change.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    status: StatusCode,
    code: &'static str,
    detail: String,
    extensions: Map<String, Value>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Problem {
    /// A problem with any status; prefer the named constructors below.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem { status, code, detail: detail.into(), extensions: Map::new(), headers: Vec::new() }
    }

    /// 400: the request is malformed or a field is invalid.
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// 401 with `WWW-Authenticate: Bearer`: credentials are missing or not accepted.
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, detail).header(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }

    /// 403: the caller is known but not allowed to do this.
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, detail)
    }

    /// 404 for a resource that does not exist (or that the caller may not know exists).
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    /// 405 with the `Allow` header listing the methods the path accepts.
    pub fn method_not_allowed(allowed: &[Method]) -> Self {
        let list = allowed.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        let value = HeaderValue::from_str(&list).unwrap_or(HeaderValue::from_static(""));
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", format!("this path accepts only: {list}")).header(ALLOW, value)
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 413: the body is larger than `limit` bytes.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body-too-large", format!("the request body is larger than the limit of {limit} bytes"))
            .with("limit", limit)
    }

    /// 415: the body is not of the media type the endpoint takes.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("send the body as {expected} with a matching Content-Type header"),
        )
    }

    /// 429 with `Retry-After` in seconds.
    pub fn too_many_requests(code: &'static str, detail: impl Into<String>, retry_after_secs: u64) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, code, detail)
            .with("retry_after", retry_after_secs)
            .header(RETRY_AFTER, HeaderValue::from(retry_after_secs))
    }

    /// 503: a backing service (store, Redis, S3, search engine) failed; the client may retry.
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, detail)
    }

    /// 500 `internal-error`: a bug in this service (a broken invariant), never the client's doing.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal-error", detail)
    }

    /// 500 `misconfigured`: the deployment is wrong (a setting missing or malformed); the detail
    /// tells the operator what to fix.
    pub fn misconfigured(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", detail)
    }

    /// Adds an extension member to the body (for example the limit that was exceeded).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extensions.insert(key.to_owned(), value.into());
        self
    }

    /// Adds a response header (for example `Retry-After`).
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The extension member `key`, if it was added with [`Problem::with`].
    pub fn extension(&self, key: &str) -> Option<&Value> {
        self.extensions.get(key)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human-readable explanation.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The problem as an `application/problem+json` response tagged with `request_id`.
    pub fn into_response(self, request_id: &str) -> Response {
        let mut body = Map::new();
        body.insert("type".into(), format!("/problems/{}", self.code).into());
        body.insert("title".into(), self.status.canonical_reason().unwrap_or("Error").into());
        body.insert("status".into(), self.status.as_u16().into());
        body.insert("code".into(), self.code.into());
        body.insert("detail".into(), self.detail.into());
        body.insert("request_id".into(), request_id.into());
        for (key, value) in self.extensions {
            body.entry(key).or_insert(value);
        }
        let mut response = http::Response::new(Value::Object(body).to_string().into_bytes());
        *response.status_mut() = self.status;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        for (name, value) in self.headers {
            headers.append(name, value);
        }
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.detail)
    }
}

impl std::error::Error for Problem {}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: &Response) -> Value {
        serde_json::from_slice(response.body()).unwrap()
    }

    #[test]
    fn serialises_rfc9457_members_and_extensions() {
        let response = Problem::payload_too_large(1024).into_response("req-1");
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = body(&response);
        assert_eq!(body["type"], "/problems/body-too-large");
        assert_eq!(body["title"], "Payload Too Large");
        assert_eq!(body["status"], 413);
        assert_eq!(body["code"], "body-too-large");
        assert_eq!(body["limit"], 1024);
        assert_eq!(body["request_id"], "req-1");
    }

    #[test]
    fn extensions_cannot_overwrite_standard_members() {
        let body = body(&Problem::bad_request("x", "d").with("status", 200).into_response("r"));
        assert_eq!(body["status"], 400);
    }

    #[test]
    fn retry_after_and_allow_headers() {
        let response = Problem::too_many_requests("rate-limited", "slow down", 7).into_response("r");
        assert_eq!(response.headers()[RETRY_AFTER], "7");
        assert_eq!(body(&response)["retry_after"], 7);
        let response = Problem::method_not_allowed(&[Method::GET, Method::POST]).into_response("r");
        assert_eq!(response.headers()[ALLOW], "GET, POST");
    }

    #[test]
    fn unauthorized_asks_for_a_bearer_token() {
        let response = Problem::unauthorized("invalid-token", "expired").into_response("r");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], "Bearer");
    }
}
