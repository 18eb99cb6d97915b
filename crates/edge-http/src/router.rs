//! Method + path routing: the one way every component maps a request to an endpoint.

use http::Method;
use percent_encoding::percent_decode_str;

use crate::Problem;

/// Maps `(method, path)` to an endpoint value of the component's choosing (usually a small
/// `enum`), so handlers stay ordinary `async fn`s dispatched with a `match`.
///
/// Patterns are `/`-separated segments: literals, `:name` captures of one non-empty segment,
/// and a final `*` capturing the rest of the path (possibly empty). Literals beat captures,
/// captures beat `*`, whatever the order routes were added in; a path that matches no pattern
/// is a 404 and a path whose patterns take other methods is a 405 listing them.
#[derive(Debug, Clone)]
pub struct Router<E> {
    routes: Vec<Route<E>>,
}

#[derive(Debug, Clone)]
struct Route<E> {
    method: Method,
    segments: Vec<Segment>,
    endpoint: E,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Segment {
    Literal(String),
    Capture(String),
    Rest,
}

/// Path parameters captured by a [`Router`] match, percent-decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// The value captured by `:name` (or `*` for the rest of the path).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The `n`th capture as `(name, value)`, in pattern order.
    pub fn nth(&self, n: usize) -> Option<(&str, &str)> {
        self.0.get(n).map(|(key, value)| (key.as_str(), value.as_str()))
    }
}

impl<E: Clone> Default for Router<E> {
    fn default() -> Self {
        Router { routes: Vec::new() }
    }
}

impl<E: Clone> Router<E> {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a route. Panics on a malformed pattern (a programming error, caught by any test
    /// that builds the router): it must start with `/` and `*` may only be the last segment.
    pub fn route(mut self, method: Method, pattern: &str, endpoint: E) -> Self {
        assert!(pattern.starts_with('/'), "route pattern {pattern:?} must start with '/'");
        let parts: Vec<&str> = pattern[1..].split('/').collect();
        let segments = parts
            .iter()
            .enumerate()
            .map(|(i, part)| match *part {
                "*" => {
                    assert!(i + 1 == parts.len(), "'*' must end route pattern {pattern:?}");
                    Segment::Rest
                }
                p if p.starts_with(':') => Segment::Capture(p[1..].to_owned()),
                p => Segment::Literal(p.to_owned()),
            })
            .collect();
        self.routes.push(Route { method, segments, endpoint });
        self
    }

    /// Every route as `(method, pattern)`, in the order added, for documentation checks.
    pub fn routes(&self) -> Vec<(Method, String)> {
        let pattern = |route: &Route<E>| {
            let parts = route.segments.iter().map(|segment| match segment {
                Segment::Literal(literal) => literal.clone(),
                Segment::Capture(name) => format!(":{name}"),
                Segment::Rest => "*".to_owned(),
            });
            format!("/{}", parts.collect::<Vec<_>>().join("/"))
        };
        self.routes.iter().map(|route| (route.method.clone(), pattern(route))).collect()
    }

    /// Every route's endpoint, in the order added.
    pub fn endpoints(&self) -> impl Iterator<Item = &E> {
        self.routes.iter().map(|route| &route.endpoint)
    }

    /// The endpoint for this request, or the 404/405 problem to answer.
    pub fn find(&self, method: &Method, path: &str) -> Result<(E, Params), Problem> {
        let path = path.split('?').next().unwrap_or("");
        let Some(parts) = path.strip_prefix('/').map(|p| p.split('/').collect::<Vec<_>>()) else {
            return Err(Problem::not_found("no-such-route", "paths start with '/'"));
        };
        let mut matches: Vec<(&Route<E>, Params)> = self.routes.iter().filter_map(|r| Some((r, r.capture(&parts)?))).collect();
        if matches.is_empty() {
            return Err(Problem::not_found("no-such-route", format!("no endpoint at {path}")));
        }
        // Most specific first: compare segment kinds left to right (Literal < Capture < Rest).
        matches.sort_by_key(|(route, _)| route.rank());
        let wanted = |m: &Method| m == method || (method == Method::HEAD && m == Method::GET);
        if let Some((route, params)) = matches.iter().find(|(r, _)| wanted(&r.method)) {
            return Ok((route.endpoint.clone(), params.clone()));
        }
        let mut allowed: Vec<Method> = Vec::new();
        for (route, _) in &matches {
            if !allowed.contains(&route.method) {
                allowed.push(route.method.clone());
            }
        }
        Err(Problem::method_not_allowed(&allowed))
    }
}

impl<E> Route<E> {
    fn capture(&self, parts: &[&str]) -> Option<Params> {
        let mut params = Vec::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Rest => {
                    params.push(("*".to_owned(), decode(&parts.get(i..)?.join("/"))?));
                    return Some(Params(params));
                }
                Segment::Literal(literal) => {
                    if parts.get(i)? != literal {
                        return None;
                    }
                }
                Segment::Capture(name) => {
                    let part = parts.get(i).filter(|p| !p.is_empty())?;
                    params.push((name.clone(), decode(part)?));
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(Params(params))
    }

    fn rank(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(_) => 0,
                Segment::Capture(_) => 1,
                Segment::Rest => 2,
            })
            .collect()
    }
}

fn decode(raw: &str) -> Option<String> {
    percent_decode_str(raw).decode_utf8().ok().map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum E {
        Health,
        Get,
        Me,
        Delete,
        Files,
    }

    fn router() -> Router<E> {
        Router::new()
            .route(Method::GET, "/users/:id", E::Get)
            .route(Method::GET, "/users/me", E::Me)
            .route(Method::DELETE, "/users/:id", E::Delete)
            .route(Method::GET, "/health", E::Health)
            .route(Method::GET, "/files/*", E::Files)
    }

    #[test]
    fn literal_beats_capture_regardless_of_order() {
        assert_eq!(router().find(&Method::GET, "/users/me").unwrap().0, E::Me);
        let (endpoint, params) = router().find(&Method::GET, "/users/42?x=1").unwrap();
        assert_eq!((endpoint, params.get("id")), (E::Get, Some("42")));
    }

    #[test]
    fn captures_are_percent_decoded_and_never_empty() {
        let (_, params) = router().find(&Method::DELETE, "/users/a%20b").unwrap();
        assert_eq!(params.get("id"), Some("a b"));
        assert_eq!(router().find(&Method::GET, "/users/").unwrap_err().status(), StatusCode::NOT_FOUND);
        let bad_utf8 = router().find(&Method::GET, "/users/%ff").unwrap_err();
        assert_eq!(bad_utf8.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn rest_captures_the_tail() {
        let (endpoint, params) = router().find(&Method::GET, "/files/a/b/c").unwrap();
        assert_eq!((endpoint, params.get("*")), (E::Files, Some("a/b/c")));
        assert_eq!(router().find(&Method::GET, "/files/").unwrap().1.get("*"), Some(""));
    }

    #[test]
    fn unknown_path_is_404_and_wrong_method_is_405_with_allow() {
        let err = router().find(&Method::GET, "/nope").unwrap_err();
        assert_eq!((err.status(), err.code()), (StatusCode::NOT_FOUND, "no-such-route"));
        let err = router().find(&Method::POST, "/users/7").unwrap_err();
        assert_eq!(err.status(), StatusCode::METHOD_NOT_ALLOWED);
        let response = err.into_response("r");
        assert_eq!(response.headers()[http::header::ALLOW], "GET, DELETE");
    }

    #[test]
    fn head_is_served_by_get_and_extra_segments_do_not_match() {
        assert_eq!(router().find(&Method::HEAD, "/health").unwrap().0, E::Health);
        assert!(router().find(&Method::GET, "/health/x").is_err());
    }
}
