//! HTTP trigger routes with Spin 3's rules.
//!
//! A route is exact (`/a/b`), ends in a wildcard (`/a/...`, matching `/a` and everything under
//! it) or is the catch-all `/...`; `:name` captures one non-empty segment. Leading and trailing
//! slashes are ignored on both sides, so `/a/` matches `/a`. When several routes match, the
//! most specific wins: segments compare left to right with literal > `:param` > wildcard, then
//! the route with fewer segments, then the one listed first. A route listed twice keeps its
//! first position but runs the component listed last (Spin logs the duplicate as an error).

use std::collections::BTreeMap;

use anyhow::{bail, Result};

/// The route table of an application.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
    /// Duplicates replaced during [`RouteTable::build`], as `(replaced, effective, route)`.
    pub duplicates: Vec<(String, String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    raw: String,
    component: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard,
}

impl Segment {
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Wildcard => 2,
        }
    }
}

/// A request matched to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The component to run.
    pub component: String,
    /// The route exactly as written in the manifest.
    pub raw_route: String,
    /// The route with a trailing `/...` removed (`spin-component-route`).
    pub component_route: String,
    /// The route as matched, trailing `/` removed (`spin-matched-route`).
    pub matched_route: String,
    /// The path after the fixed part of a wildcard route, else empty (`spin-path-info`).
    pub path_info: String,
    /// `:name` captures, raw as in the path.
    pub params: BTreeMap<String, String>,
}

impl RouteTable {
    /// Builds the table from `(route, component)` pairs in manifest order.
    pub fn build<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut table = RouteTable::default();
        for (raw, component) in routes {
            if !raw.starts_with('/') {
                bail!("route {raw:?} of component {component:?} must start with '/'");
            }
            let segments = parse(raw)
                .map_err(|e| anyhow::anyhow!("route {raw:?} of component {component:?}: {e}"))?;
            if let Some(existing) = table.routes.iter_mut().find(|r| r.raw == raw) {
                table.duplicates.push((existing.component.clone(), component.to_owned(), raw.to_owned()));
                existing.component = component.to_owned();
                continue;
            }
            table.routes.push(Route { raw: raw.to_owned(), component: component.to_owned(), segments });
        }
        // A stable sort keeps manifest order among routes of equal specificity.
        table.routes.sort_by(|a, b| {
            let ranks = |r: &Route| r.segments.iter().map(Segment::rank).collect::<Vec<_>>();
            let (ra, rb) = (ranks(a), ranks(b));
            for (x, y) in ra.iter().zip(&rb) {
                if x != y {
                    return x.cmp(y);
                }
            }
            ra.len().cmp(&rb.len())
        });
        Ok(table)
    }

    /// The most specific route for a raw (still percent-encoded) request path.
    pub fn find(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.trim_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
        self.routes.iter().find_map(|route| route.matches(path, &parts))
    }
}

fn parse(raw: &str) -> Result<Vec<Segment>> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| match *part {
            "..." | "*" if i + 1 == parts.len() => Ok(Segment::Wildcard),
            "..." | "*" => bail!("a wildcard may only end a route"),
            "" => bail!("empty segment"),
            p if p.starts_with(':') && p.len() > 1 => Ok(Segment::Param(p[1..].to_owned())),
            p => Ok(Segment::Literal(p.to_owned())),
        })
        .collect()
}

impl Route {
    fn matches(&self, path: &str, parts: &[&str]) -> Option<RouteMatch> {
        let mut params = BTreeMap::new();
        let mut fixed = 0;
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Wildcard => break,
                Segment::Literal(literal) => {
                    if parts.get(i)? != literal {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    params.insert(name.clone(), (*parts.get(i)?).to_owned());
                }
            }
            fixed = i + 1;
        }
        let wildcard = self.segments.last() == Some(&Segment::Wildcard);
        if !wildcard && parts.len() != self.segments.len() {
            return None;
        }
        let path_info = if wildcard { path_after_segments(path, fixed).to_owned() } else { String::new() };
        let component_route = self.raw.strip_suffix("/...").unwrap_or(&self.raw).to_owned();
        let matched_route = match self.raw.as_str() {
            "/" => String::new(),
            r => r.strip_suffix('/').unwrap_or(r).to_owned(),
        };
        Some(RouteMatch {
            component: self.component.clone(),
            raw_route: self.raw.clone(),
            component_route,
            matched_route,
            path_info,
            params,
        })
    }
}

/// The rest of `path` after its first `n` segments, keeping the leading and trailing slashes.
fn path_after_segments(path: &str, n: usize) -> &str {
    let mut rest = path;
    for _ in 0..n {
        rest = rest.trim_start_matches('/');
        rest = &rest[rest.find('/').unwrap_or(rest.len())..];
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(routes: &[(&str, &str)]) -> RouteTable {
        RouteTable::build(routes.iter().copied()).unwrap()
    }

    fn component(table: &RouteTable, path: &str) -> Option<String> {
        table.find(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_param_beats_wildcard_whatever_the_order() {
        let t = table(&[("/...", "all"), ("/users/...", "wild"), ("/users/:id", "param"), ("/users/me", "me")]);
        assert_eq!(component(&t, "/users/me").as_deref(), Some("me"));
        assert_eq!(component(&t, "/users/42").as_deref(), Some("param"));
        assert_eq!(component(&t, "/users/42/x").as_deref(), Some("wild"));
        assert_eq!(component(&t, "/users").as_deref(), Some("wild"));
        assert_eq!(component(&t, "/other").as_deref(), Some("all"));
        assert_eq!(component(&t, "/").as_deref(), Some("all"));
    }

    #[test]
    fn longer_wildcard_prefix_wins_and_literal_early_beats_param_early() {
        let t = table(&[("/one/...", "short"), ("/one/two/...", "long"), ("/a/:x/c", "p"), ("/a/b/...", "w")]);
        assert_eq!(component(&t, "/one/two/three").as_deref(), Some("long"));
        assert_eq!(component(&t, "/one/twox").as_deref(), Some("short"));
        assert_eq!(component(&t, "/a/b/c").as_deref(), Some("w"));
    }

    #[test]
    fn exact_route_beats_same_wildcard_and_slashes_are_trimmed() {
        let t = table(&[("/a/...", "wild"), ("/a", "exact")]);
        assert_eq!(component(&t, "/a").as_deref(), Some("exact"));
        assert_eq!(component(&t, "/a/").as_deref(), Some("exact"));
        assert_eq!(component(&t, "/ab"), None);
        assert_eq!(component(&t, "/a/b").as_deref(), Some("wild"));
    }

    #[test]
    fn headers_values_for_a_param_wildcard_route() {
        let t = table(&[("/users/:id/...", "u")]);
        let m = t.find("/users/42/a/b").unwrap();
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.matched_route, "/users/:id/...");
        assert_eq!(m.component_route, "/users/:id");
        assert_eq!(m.params["id"], "42");
        assert_eq!(t.find("/users/42/a/b/").unwrap().path_info, "/a/b/");
        assert_eq!(t.find("/users/42").unwrap().path_info, "");
        assert_eq!(t.find("/users/42/").unwrap().path_info, "/");
        assert_eq!(t.find("/users//"), None);
    }

    #[test]
    fn duplicates_keep_position_and_take_the_last_component() {
        let t = table(&[("/x", "first"), ("/x", "second")]);
        assert_eq!(component(&t, "/x").as_deref(), Some("second"));
        assert_eq!(t.duplicates, vec![("first".into(), "second".into(), "/x".into())]);
    }

    #[test]
    fn invalid_routes_are_errors() {
        for bad in ["x", "/a/.../b", "/a//b"] {
            assert!(RouteTable::build([(bad, "c")]).is_err(), "{bad}");
        }
        assert_eq!(table(&[("/", "root")]).find("/").unwrap().matched_route, "");
    }
}
