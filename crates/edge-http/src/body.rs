//! What a request carries (JSON body, query, cookies) and JSON responses.

use http::header::{HeaderValue, CONTENT_TYPE};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Problem, Request, Response};

/// Parses the request body as JSON into `T`.
///
/// Answers 415 unless `Content-Type` is `application/json` or another `+json` type, 413 when the
/// body is over `limit` bytes, and 400 with the line, column and reason when it does not parse
/// or does not fit `T` (`malformed-json` for syntax, `invalid-body` for a wrong or missing field).
pub fn json_body<T: DeserializeOwned>(request: &Request, limit: usize) -> Result<T, Problem> {
    if !is_json(request.headers().get(CONTENT_TYPE)) {
        return Err(Problem::unsupported_media_type("application/json"));
    }
    let body = request.body();
    if body.len() > limit {
        return Err(Problem::payload_too_large(limit));
    }
    serde_json::from_slice(body).map_err(|error| {
        let code = match error.classify() {
            serde_json::error::Category::Data => "invalid-body",
            _ => "malformed-json",
        };
        Problem::bad_request(code, format!("request body: {error}"))
    })
}

/// Parses the query string into `T` (absent query = empty). A value that does not fit `T`
/// is a 400 `invalid-query` naming the parameter.
pub fn query<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    serde_urlencoded::from_str(request.uri().query().unwrap_or(""))
        .map_err(|error| Problem::bad_request("invalid-query", format!("query string: {error}")))
}

/// The value of cookie `name` in the request's `Cookie` headers; an empty value (a deleted
/// cookie) counts as absent.
pub fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get_all(http::header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (key, value) = pair.trim().split_once('=')?;
        (key == name && !value.is_empty()).then_some(value)
    })
}

/// An empty `204 No Content` response.
pub fn no_content() -> Response {
    let mut response = http::Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// A JSON response with the given status.
pub fn json_response<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response {
    // Serialising plain data into a Vec cannot fail; an empty object is the safe fallback.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[test]
    fn cookies_are_found_by_exact_name_across_headers() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(cookie(&headers, "t"), None);
        headers.append(http::header::COOKIE, "a=1; tx=2".parse().unwrap());
        assert_eq!(cookie(&headers, "t"), None);
        headers.append(http::header::COOKIE, "b=3; t=v.a=l; c=4".parse().unwrap());
        assert_eq!(cookie(&headers, "t"), Some("v.a=l"));
        let mut deleted = http::HeaderMap::new();
        deleted.append(http::header::COOKIE, "t=".parse().unwrap());
        assert_eq!(cookie(&deleted, "t"), None, "a deleted cookie is absent");
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Login {
        username: String,
    }

    fn request(content_type: Option<&str>, body: &str) -> Request {
        let mut builder = http::Request::builder().method("POST").uri("/x");
        if let Some(ct) = content_type {
            builder = builder.header(CONTENT_TYPE, ct);
        }
        builder.body(body.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn parses_query_strings() {
        #[derive(Debug, Deserialize)]
        struct Page {
            limit: Option<u32>,
            key: String,
        }
        let req = http::Request::builder().uri("/x?key=a%2Fb&limit=5").body(Vec::new()).unwrap();
        let page: Page = query(&req).unwrap();
        assert_eq!((page.key.as_str(), page.limit), ("a/b", Some(5)));
        let bad = http::Request::builder().uri("/x?key=a&limit=-1").body(Vec::new()).unwrap();
        assert_eq!(query::<Page>(&bad).unwrap_err().code(), "invalid-query");
        let missing = http::Request::builder().uri("/x").body(Vec::new()).unwrap();
        assert_eq!(query::<Page>(&missing).unwrap_err().code(), "invalid-query");
    }

    #[test]
    fn parses_json_with_charset() {
        let req = request(Some("application/json; charset=utf-8"), r#"{"username":"ann"}"#);
        assert_eq!(json_body::<Login>(&req, 100).unwrap(), Login { username: "ann".into() });
    }

    #[test]
    fn accepts_structured_json_suffix() {
        let req = request(Some("application/merge-patch+json"), r#"{"username":"ann"}"#);
        assert!(json_body::<Login>(&req, 100).is_ok());
    }

    #[test]
    fn rejects_missing_or_wrong_content_type_with_415() {
        for ct in [None, Some("text/plain"), Some("application/jsonx")] {
            let err = json_body::<Login>(&request(ct, "{}"), 100).unwrap_err();
            assert_eq!(err.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}");
        }
    }

    #[test]
    fn rejects_oversized_body_with_413() {
        let err = json_body::<Login>(&request(Some("application/json"), &"x".repeat(101)), 100).unwrap_err();
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn distinguishes_syntax_errors_from_wrong_fields() {
        let json = Some("application/json");
        let err = json_body::<Login>(&request(json, "{\"username\":"), 100).unwrap_err();
        assert_eq!((err.status(), err.code()), (StatusCode::BAD_REQUEST, "malformed-json"));
        let err = json_body::<Login>(&request(json, r#"{"user":"ann"}"#), 100).unwrap_err();
        assert_eq!(err.code(), "invalid-body");
        assert!(err.detail().contains("unknown field"), "{}", err.detail());
    }

    #[test]
    fn json_response_sets_status_and_type() {
        let response = json_response(StatusCode::CREATED, &serde_json::json!({"id": 1}));
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.body(), br#"{"id":1}"#);
    }
}
