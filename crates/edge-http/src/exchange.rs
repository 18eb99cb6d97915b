//! The frame around every handler: request id in, CORS and request id out, errors as problems.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{Cors, Problem, Request, Response};

/// The request-id header: taken from the client when well-formed, else generated, and echoed.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id for these headers: the client's `x-request-id` when it is 1 to 128 characters
/// of `[A-Za-z0-9._:-]` (so it is safe to log and echo), otherwise a new random 128-bit hex id.
pub fn request_id(headers: &HeaderMap) -> String {
    let valid = |id: &&str| {
        (1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
    };
    match headers.get(REQUEST_ID).and_then(|v| v.to_str().ok()).filter(valid) {
        Some(id) => id.to_owned(),
        None => random_id(),
    }
}

/// A new random 128-bit id as 32 lowercase hex digits (request, user, session and upload ids).
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    // The host's random source failing is not recoverable here; it never does on Spin.
    getrandom::fill(&mut bytes).expect("the host provides randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `value` has the shape of a [`random_id`] (32 hex digits), checked before a
/// client-sent id is used in a key.
pub fn is_random_id(value: &str) -> bool {
    value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One request/response exchange, split so the I/O in between stays with the caller:
/// [`Exchange::begin`] reads the request id and answers CORS preflights,
/// [`Exchange::finish`] turns the handler's result into the final response.
#[derive(Debug)]
pub struct Exchange {
    request_id: String,
    cors_headers: Vec<(HeaderName, HeaderValue)>,
}

impl Exchange {
    /// Starts an exchange. `Err` carries the complete response when nothing else is to be done
    /// (a CORS preflight, answered or refused), boxed because it is the rare case.
    pub fn begin(request: &Request, cors: &Cors) -> Result<Self, Box<Response>> {
        let exchange = Exchange { request_id: request_id(request.headers()), cors_headers: cors.response_headers(request.headers()) };
        match cors.preflight(request) {
            Some(answer) => Err(Box::new(exchange.finish(answer))),
            None => Ok(exchange),
        }
    }

    /// The id of this request, for logs and problem bodies.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The response for the handler's result, with `x-request-id` and the CORS headers set.
    pub fn finish(self, result: Result<Response, Problem>) -> Response {
        let mut response = result.unwrap_or_else(|problem| problem.into_response(&self.request_id));
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.request_id) {
            headers.insert(REQUEST_ID, value);
        }
        for (name, value) in self.cors_headers {
            headers.insert(name, value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD};
    use http::{Method, StatusCode};

    fn request(headers: &[(&str, &str)], method: Method) -> Request {
        let mut builder = http::Request::builder().method(method).uri("/feed/health");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Vec::new()).unwrap()
    }

    #[test]
    fn keeps_a_wellformed_client_id_and_replaces_a_bad_one() {
        let req = request(&[("x-request-id", "abc-123.X:y_z")], Method::GET);
        assert_eq!(request_id(req.headers()), "abc-123.X:y_z");
        for bad in ["", "has space", "<script>", &"a".repeat(129)] {
            let id = request_id(request(&[("x-request-id", bad)], Method::GET).headers());
            assert_eq!(id.len(), 32, "{bad:?} -> {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn generated_ids_differ() {
        let headers = HeaderMap::new();
        assert_ne!(request_id(&headers), request_id(&headers));
    }

    #[test]
    fn finish_echoes_id_and_cors_on_success_and_problem() {
        let cors = Cors::parse("https://app.example").unwrap();
        let req = request(&[("x-request-id", "r1"), ("origin", "https://app.example")], Method::GET);
        let ok = Exchange::begin(&req, &cors).unwrap().finish(Ok(http::Response::new(vec![])));
        assert_eq!(ok.headers()[REQUEST_ID], "r1");
        assert_eq!(ok.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example");
        let err = Exchange::begin(&req, &cors).unwrap().finish(Err(Problem::not_found("nope", "x")));
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        assert_eq!(err.headers()[REQUEST_ID], "r1");
        let body: serde_json::Value = serde_json::from_slice(err.body()).unwrap();
        assert_eq!(body["request_id"], "r1");
    }

    #[test]
    fn preflight_is_answered_at_begin() {
        let cors = Cors::AnyOrigin;
        let req = request(&[("origin", "https://x.example"), (ACCESS_CONTROL_REQUEST_METHOD.as_str(), "POST")], Method::OPTIONS);
        let response = Exchange::begin(&req, &cors).unwrap_err();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(response.headers()[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(response.headers().contains_key(REQUEST_ID));
    }
}
