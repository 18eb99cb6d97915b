//! HTTP trigger routes, matched exactly as Spin matches them.
//!
//! Spin's router (the `spin-http-routes` crate) hands its routes to the `routefinder` crate
//! (0.5.4), and so does devhost, built the same way: routes in manifest order, a later
//! duplicate of a route replacing the earlier one's component in its place, a trailing `/...`
//! rewritten to routefinder's `/*`, one trailing slash trimmed, then `best_match` on the raw
//! request path. routefinder keeps routes in a `BTreeMap` whose ordering is not total (any two
//! literal segments compare equal whatever their text), so which of two overlapping wildcard
//! routes wins can depend on the order they were listed. devhost shows the same quirk, on
//! purpose: a test walks the application's own route table through this router.

use std::collections::BTreeMap;

use anyhow::{anyhow, Result};

/// The route table of an application.
pub(crate) struct RouteTable {
    router: routefinder::Router<Handler>,
    /// Duplicates replaced during [`RouteTable::build`], as `(replaced, effective, route)`.
    pub duplicates: Vec<(String, String, String)>,
}

/// What one route leads to.
#[derive(Debug, Clone)]
struct Handler {
    component: String,
    /// The route as written in the manifest.
    raw: String,
    /// The route after Spin's sanitising (one trailing `/` trimmed): `spin-matched-route`.
    based: String,
}

/// A request matched to a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteMatch {
    /// The component to run.
    pub component: String,
    /// The route exactly as written in the manifest (`spin-raw-component-route`).
    pub raw_route: String,
    /// The raw route with a trailing `/...` removed (`spin-component-route`).
    pub component_route: String,
    /// The sanitised route as matched (`spin-matched-route`).
    pub matched_route: String,
    /// The path after the fixed part of a wildcard route, else empty (`spin-path-info`).
    pub path_info: String,
    /// `:name` captures, raw as in the path.
    pub params: BTreeMap<String, String>,
}

impl RouteTable {
    /// Builds the table from `(route, component)` pairs in manifest order, as Spin does.
    pub(crate) fn build<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self> {
        let mut unique: Vec<Handler> = Vec::new();
        let mut duplicates = Vec::new();
        for (raw, component) in routes {
            if let Some(existing) = unique.iter_mut().find(|h| h.raw == raw) {
                duplicates.push((existing.component.clone(), component.to_owned(), existing.based.clone()));
                existing.component = component.to_owned();
                continue;
            }
            unique.push(Handler { component: component.to_owned(), raw: raw.to_owned(), based: sanitise(raw) });
        }
        let mut router = routefinder::Router::new();
        for handler in unique {
            let spec = match handler.based.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => handler.based.clone(),
            };
            let (based, component) = (handler.based.clone(), handler.component.clone());
            router.add(spec, handler).map_err(|e| anyhow!("Error parsing route {based} associated with component {component}: {e}"))?;
        }
        Ok(RouteTable { router, duplicates })
    }

    /// The route Spin would pick for a raw (still percent-encoded) request path.
    pub(crate) fn find(&self, path: &str) -> Option<RouteMatch> {
        let found = self.router.best_match(path)?;
        let handler = found.handler();
        let captures = found.captures();
        // routefinder drops the slashes around the wildcard's text; Spin puts them back.
        let path_info = match captures.wildcard() {
            None => String::new(),
            Some("") if path.ends_with('/') => "/".to_owned(),
            Some("") => String::new(),
            Some(rest) if path.ends_with('/') => format!("/{rest}/"),
            Some(rest) => format!("/{rest}"),
        };
        Some(RouteMatch {
            component: handler.component.clone(),
            raw_route: handler.raw.clone(),
            component_route: handler.raw.strip_suffix("/...").unwrap_or(&handler.raw).to_owned(),
            matched_route: handler.based.clone(),
            path_info,
            params: captures.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        })
    }

    /// Whether any route lies under `/.well-known/spin/`, which the runtime answers itself.
    pub(crate) fn has_reserved_route(&self) -> bool {
        self.router.iter().any(|(_, h)| h.based.starts_with("/.well-known/spin/"))
    }
}

/// Spin's route sanitising: a leading `/` added if missing, one trailing `/` removed.
fn sanitise(raw: &str) -> String {
    let absolute = if raw.starts_with('/') { raw.to_owned() } else { format!("/{raw}") };
    match absolute.strip_suffix('/') {
        Some(trimmed) => trimmed.to_owned(),
        None => absolute,
    }
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
    fn exact_beats_param_beats_wildcard() {
        let t = table(&[("/users/...", "wild"), ("/users/:id", "param"), ("/users/me", "me")]);
        assert_eq!(component(&t, "/users/me").as_deref(), Some("me"));
        assert_eq!(component(&t, "/users/42").as_deref(), Some("param"));
        assert_eq!(component(&t, "/users/42/x").as_deref(), Some("wild"));
        assert_eq!(component(&t, "/users").as_deref(), Some("wild"));
        assert_eq!(component(&t, "/other"), None);
    }

    /// The quirk found on Spin 4.1 with this project's earlier manifest (a catch-all `/...`
    /// listed last): the catch-all took `/auth/...` and `/.well-known/jwks.json` while the
    /// other API routes still reached their components.
    #[test]
    fn a_catch_all_listed_last_shadows_some_routes_as_on_spin() {
        let routes = [
            ("/auth/...", "auth"),
            ("/.well-known/jwks.json", "auth"),
            ("/uploads/...", "upload-sign"),
            ("/feed/...", "feed"),
            ("/videos/...", "feed"),
            ("/users/...", "feed"),
            ("/search/...", "search-proxy"),
            ("/...", "static-files"),
        ];
        let t = table(&routes);
        let got = |path: &str| component(&t, path).unwrap();
        assert_eq!(got("/auth/health"), "static-files");
        assert_eq!(got("/.well-known/jwks.json"), "static-files");
        for (path, c) in
            [("/uploads/x", "upload-sign"), ("/feed/x", "feed"), ("/videos/x", "feed"), ("/users/x", "feed"), ("/search/x", "search-proxy")]
        {
            assert_eq!(got(path), c, "{path}");
        }
    }

    #[test]
    fn exact_route_beats_same_wildcard_and_one_slash_is_trimmed() {
        let t = table(&[("/a/...", "wild"), ("/a", "exact")]);
        assert_eq!(component(&t, "/a").as_deref(), Some("exact"));
        assert_eq!(component(&t, "/ab"), None);
        assert_eq!(component(&t, "/a/b").as_deref(), Some("wild"));
        let t = table(&[("/b/", "b")]);
        assert_eq!(t.find("/b").unwrap().matched_route, "/b");
    }

    #[test]
    fn header_values_for_a_param_wildcard_route() {
        let t = table(&[("/users/:id/...", "u")]);
        let m = t.find("/users/42/a/b").unwrap();
        assert_eq!(m.path_info, "/a/b");
        assert_eq!(m.matched_route, "/users/:id/...");
        assert_eq!(m.component_route, "/users/:id");
        assert_eq!(m.params["id"], "42");
        assert_eq!(t.find("/users/42/a/b/").unwrap().path_info, "/a/b/");
        assert_eq!(t.find("/users/42").unwrap().path_info, "");
        assert_eq!(t.find("/users/42/").unwrap().path_info, "/");
    }

    #[test]
    fn root_route_and_relative_routes_are_sanitised() {
        let t = table(&[("/", "root"), ("x/...", "x")]);
        assert_eq!(t.find("/").unwrap().matched_route, "");
        assert_eq!(component(&t, "/x/y").as_deref(), Some("x"));
    }

    #[test]
    fn duplicates_keep_position_and_take_the_last_component() {
        let t = table(&[("/x", "first"), ("/x", "second")]);
        assert_eq!(component(&t, "/x").as_deref(), Some("second"));
        assert_eq!(t.duplicates, vec![("first".into(), "second".into(), "/x".into())]);
    }

    #[test]
    fn reserved_routes_are_noticed() {
        assert!(table(&[("/.well-known/spin/x", "c")]).has_reserved_route());
        assert!(!table(&[("/.well-known/jwks.json", "c")]).has_reserved_route());
    }
}
