//! Cross-origin resource sharing, configured by one variable.

use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY,
};
use http::{Method, StatusCode};

use crate::{Problem, Request, Response};

const ALLOW_METHODS: &str = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const ALLOW_HEADERS: &str = "authorization, content-type, x-request-id, idempotency-key";
const EXPOSE_HEADERS: &str = "x-request-id, retry-after, location, etag";
const MAX_AGE_SECS: &str = "600";

/// Which browser origins may call the API.
///
/// Configured from a comma-separated list such as `https://app.example, http://localhost:3000`,
/// `*` for any origin (without credentials, so cookies are never sent cross-site), or an empty
/// string for same-origin only. Listed origins are echoed back with
/// `Access-Control-Allow-Credentials: true` so the refresh cookie works.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cors {
    /// Any origin, without credentials.
    AnyOrigin,
    /// Only these exact origins (scheme://host[:port]), with credentials. Empty = same-origin.
    Origins(Vec<String>),
}

/// A CORS configuration value that is not a list of origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfigError(String);

impl std::fmt::Display for CorsConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid CORS origin {:?}: use scheme://host[:port] with no path, `*`, or leave empty", self.0)
    }
}

impl std::error::Error for CorsConfigError {}

impl Cors {
    /// Parses the configuration value described on [`Cors`].
    pub fn parse(value: &str) -> Result<Self, CorsConfigError> {
        let value = value.trim();
        if value == "*" {
            return Ok(Cors::AnyOrigin);
        }
        let mut origins = Vec::new();
        for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let origin = origin.trim_end_matches('/');
            let valid = ["http://", "https://"].iter().any(|scheme| {
                origin.strip_prefix(scheme).is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', ' ', '*']))
            });
            if !valid {
                return Err(CorsConfigError(origin.to_owned()));
            }
            origins.push(origin.to_ascii_lowercase());
        }
        Ok(Cors::Origins(origins))
    }

    fn allows(&self, origin: &str) -> bool {
        match self {
            Cors::AnyOrigin => true,
            Cors::Origins(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// Refuses a cross-site request to a cookie-authenticated endpoint (CSRF defence beside
    /// `SameSite=Strict`). `Sec-Fetch-Site: cross-site` and an `Origin` that is neither
    /// `own_origin` nor an origin listed for credentials are refused with 403; requests
    /// without either header (non-browser clients) pass.
    pub fn check_same_site(&self, headers: &HeaderMap, own_origin: Option<&str>) -> Result<(), Problem> {
        let origin = headers.get(ORIGIN).and_then(|o| o.to_str().ok());
        let trusted = |o: &str| {
            own_origin.is_some_and(|own| own.eq_ignore_ascii_case(o))
                || matches!(self, Cors::Origins(list) if list.iter().any(|l| l.eq_ignore_ascii_case(o)))
        };
        let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
        let refused = match (origin, site) {
            (Some(o), _) if !trusted(o) => true,
            (None, Some("cross-site")) => true,
            _ => false,
        };
        if refused {
            return Err(Problem::forbidden(
                "cross-site-request",
                "this endpoint uses cookies and only accepts requests from the app's own origin",
            ));
        }
        Ok(())
    }

    /// Answers a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), or returns
    /// `None` when the request is not one. A preflight from an origin not allowed gets a 403.
    pub fn preflight(&self, request: &Request) -> Option<Result<Response, Problem>> {
        let headers = request.headers();
        if request.method() != Method::OPTIONS || !headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return None;
        }
        let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
            return Some(Err(Problem::bad_request("cors-preflight", "a preflight needs an Origin header")));
        };
        if !self.allows(origin) {
            return Some(Err(Problem::forbidden("cors-origin-denied", format!("origin {origin} is not allowed to call this API"))));
        }
        let mut response = http::Response::new(Vec::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let out = response.headers_mut();
        out.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOW_METHODS));
        out.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOW_HEADERS));
        out.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE_SECS));
        Some(Ok(response))
    }

    /// The headers to add to the response of a request from `origin`.
    pub fn response_headers(&self, request_headers: &HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
        let mut out = vec![(VARY, HeaderValue::from_static("Origin"))];
        let Some(origin) = request_headers.get(ORIGIN) else {
            return out;
        };
        if !origin.to_str().is_ok_and(|o| self.allows(o)) {
            return out;
        }
        match self {
            Cors::AnyOrigin => out.push((ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"))),
            Cors::Origins(_) => {
                out.push((ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone()));
                out.push((ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true")));
            }
        }
        out.push((ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preflight(origin: Option<&str>) -> Request {
        let mut builder = http::Request::builder().method(Method::OPTIONS).uri("/auth/login").header(ACCESS_CONTROL_REQUEST_METHOD, "POST");
        if let Some(origin) = origin {
            builder = builder.header(ORIGIN, origin);
        }
        builder.body(Vec::new()).unwrap()
    }

    fn headers(origin: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(ORIGIN, HeaderValue::from_str(origin).unwrap());
        map
    }

    #[test]
    fn parses_lists_star_and_empty() {
        assert_eq!(Cors::parse("*").unwrap(), Cors::AnyOrigin);
        assert_eq!(Cors::parse("").unwrap(), Cors::Origins(vec![]));
        assert_eq!(
            Cors::parse(" https://App.example/ , http://localhost:3000").unwrap(),
            Cors::Origins(vec!["https://app.example".into(), "http://localhost:3000".into()])
        );
        for bad in ["app.example", "https://a.example/path", "ftp://x", "https://*.example"] {
            assert!(Cors::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn preflight_for_allowed_origin() {
        let cors = Cors::parse("https://app.example").unwrap();
        let response = cors.preflight(&preflight(Some("https://app.example"))).unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert!(response.headers()[ACCESS_CONTROL_ALLOW_HEADERS].to_str().unwrap().contains("authorization"));
    }

    #[test]
    fn preflight_for_other_origin_is_refused() {
        let cors = Cors::parse("https://app.example").unwrap();
        let err = cors.preflight(&preflight(Some("https://evil.example"))).unwrap().unwrap_err();
        assert_eq!(err.code(), "cors-origin-denied");
        let err = cors.preflight(&preflight(None)).unwrap().unwrap_err();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn plain_options_is_not_a_preflight() {
        let request = http::Request::builder().method(Method::OPTIONS).uri("/").body(vec![]).unwrap();
        assert!(Cors::AnyOrigin.preflight(&request).is_none());
    }

    #[test]
    fn listed_origin_is_echoed_with_credentials() {
        let cors = Cors::parse("https://app.example").unwrap();
        let out = cors.response_headers(&headers("https://app.example"));
        assert!(out.contains(&(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("https://app.example"))));
        assert!(out.contains(&(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"))));
    }

    #[test]
    fn cookie_endpoints_refuse_cross_site_requests() {
        let cors = Cors::parse("https://app.example").unwrap();
        let own = Some("http://127.0.0.1:3000");
        let with = |pairs: &[(&str, &str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
            }
            cors.check_same_site(&map, own)
        };
        assert!(with(&[]).is_ok(), "no browser headers: a non-browser client");
        assert!(with(&[("origin", "http://127.0.0.1:3000"), ("sec-fetch-site", "same-origin")]).is_ok());
        assert!(with(&[("origin", "https://app.example"), ("sec-fetch-site", "cross-site")]).is_ok());
        assert_eq!(with(&[("origin", "https://evil.example")]).unwrap_err().code(), "cross-site-request");
        assert!(with(&[("sec-fetch-site", "cross-site")]).is_err());
        assert!(with(&[("origin", "null")]).is_err());
        assert!(Cors::AnyOrigin.check_same_site(&headers("https://x.example"), own).is_err(), "* never trusts cookies");
    }

    #[test]
    fn star_never_allows_credentials_and_others_get_nothing() {
        let out = Cors::AnyOrigin.response_headers(&headers("https://x.example"));
        assert!(out.contains(&(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"))));
        assert!(!out.iter().any(|(name, _)| name == ACCESS_CONTROL_ALLOW_CREDENTIALS));
        let out = Cors::parse("").unwrap().response_headers(&headers("https://x.example"));
        assert_eq!(out, vec![(VARY, HeaderValue::from_static("Origin"))]);
    }
}
