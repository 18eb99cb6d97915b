//! search-proxy: one search API over SQLite FTS5 (default) or Elasticsearch/OpenSearch, with an
//! edge cache, request coalescing, a circuit breaker and ordered index sync. Routes:
//! `/search/...`.
//!
//! The handlers below read the request and call a core: [`answer`] (cache, coalescing, breaker,
//! degraded answers), [`pass`] (index sync) and [`reindex`], each pure over [`ports`] with
//! in-memory tests. Their rules are the pure modules: [`params`] (what a client may ask),
//! [`text`] (terms, CJK, highlighting), [`sqlite`] and [`elastic`] (engine queries and replies),
//! [`cache`], [`breaker`], [`sync`] and [`fallback`]. [`adapter`] does the host calls.

mod adapter;
mod answer;
mod breaker;
pub mod cache;
mod elastic;
mod engine;
mod fallback;
mod keys;
#[cfg(test)]
mod memory;
pub mod params;
mod pass;
mod ports;
mod records;
mod reindex;
mod settings;
pub mod sqlite;
mod sync;
mod text;

use edge_http::handler::{Answer, Query, Routes, Shape};
use edge_http::{json_response, Problem, Request, Response};
use edge_spin::auth::{Admin, Authenticates, Backends};
use edge_spin::health::{self, Operator};
use edge_spin::limit::{ClientLimit, Limit, PerClient};
use edge_spin::Lazy;
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::adapter::Search;
use crate::answer::Ask;
use crate::params::{RawSearch, RawSuggest, SearchQuery, SuggestQuery};

/// Largest request body a search endpoint reads (they take none).
pub const BODY_LIMIT: usize = 1024;
/// Changes one `POST /search/sync` applies at most.
pub const SYNC_CALL_BATCH: u64 = 1000;

/// Every route this component answers as `(method, pattern, shape)`; the OpenAPI document is
/// checked against it.
pub fn operations() -> Vec<(Method, String, Shape)> {
    router().operations()
}

fn router() -> Routes<Proxy> {
    Routes::new()
        .on(Method::GET, "/search", search)
        .on(Method::GET, "/search/suggest", suggest)
        .on(Method::GET, "/search/status", status)
        .on(Method::GET, "/search/parked", parked)
        .on(Method::POST, "/search/sync", sync)
        .on(Method::POST, "/search/reindex", reindex)
        .on(Method::GET, "/search/health", health)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Answer {
    router().answer(&Proxy::default(), &request).await
}

/// What one request may need, each opened on first use.
#[derive(Default)]
struct Proxy {
    search: Lazy<Search>,
    backends: Backends,
}

impl Proxy {
    fn search(&self) -> Result<&Search, Problem> {
        self.search.get_or_try(|| Search::open(self.backends.shared_redis()?))
    }
}

impl Authenticates for Proxy {
    fn backends(&self) -> &Backends {
        &self.backends
    }
}

/// Searches from one client address.
struct Searches;

impl ClientLimit for Searches {
    const LIMIT: Limit = Limit::per_address(
        settings::SEARCH_PER_CLIENT_PER_MINUTE,
        60_000,
        "searches per minute from one address",
        keys::SEARCHES_PER_CLIENT,
    );
}

/// Suggestion requests from one client address (one per keystroke, so a higher limit).
struct Suggestions;

impl ClientLimit for Suggestions {
    const LIMIT: Limit = Limit::per_address(
        settings::SUGGEST_PER_CLIENT_PER_MINUTE,
        60_000,
        "suggestions per minute from one address",
        keys::SUGGESTIONS_PER_CLIENT,
    );
}

/// `GET /search`: videos or users matching the query, from the cache, the engine, or the
/// fallback when the engine is down.
async fn search(proxy: &Proxy, _: PerClient<Searches>, Query(raw): Query<RawSearch>) -> Answer {
    let ask = Ask::Search(SearchQuery::parse(raw)?);
    answer::answer(proxy.search()?, &ask).await
}

/// `GET /search/suggest`: completions for what a user is typing.
async fn suggest(proxy: &Proxy, _: PerClient<Suggestions>, Query(raw): Query<RawSuggest>) -> Answer {
    let ask = Ask::Suggest(SuggestQuery::parse(raw)?);
    answer::answer(proxy.search()?, &ask).await
}

/// `GET /search/status`: index generation, sync lag, breaker and engine load, for an
/// administrator (it describes the backends).
async fn status(proxy: &Proxy, _: Admin) -> Answer {
    Ok(no_store(json_response(StatusCode::OK, &proxy.search()?.status()?)))
}

/// `POST /search/sync`: one bounded pass of index sync, for a scheduler signed in as an
/// administrator (searches that miss the cache apply pending changes themselves).
async fn sync(proxy: &Proxy, _: Admin) -> Answer {
    let search = proxy.search()?;
    let report = pass::run(search, SYNC_CALL_BATCH, &search.state()?).await?;
    Ok(no_store(json_response(StatusCode::OK, &report)))
}

/// `GET /search/parked`: changes the sync could not apply, for an administrator.
async fn parked(proxy: &Proxy, _: Admin) -> Answer {
    Ok(no_store(json_response(StatusCode::OK, &proxy.search()?.parked()?)))
}

/// Where `POST /search/reindex` continues.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReindexQuery {
    after: Option<String>,
}

/// `POST /search/reindex`: an administrator rebuilds the index from the key-value store, a
/// batch a call.
async fn reindex(proxy: &Proxy, _: Admin, Query(q): Query<ReindexQuery>) -> Answer {
    Ok(no_store(json_response(StatusCode::OK, &reindex::run(proxy.search()?, q.after.as_deref().unwrap_or("")).await?)))
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

/// `GET /search/health`: the key-value store, Redis and the configured engine.
async fn health(_: &Proxy, Operator(detailed): Operator) -> Answer {
    let redis = edge_spin::setting(&edge_spin::settings::REDIS_ADDRESS)?;
    let engine = match edge_spin::setting(&settings::SEARCH_BACKEND)?.as_str() {
        "sqlite" => health::sqlite("default"),
        "elasticsearch" | "opensearch" => {
            let url = edge_spin::setting(&settings::SEARCH_URL)?;
            let request = http::Request::get(url.trim_end_matches('/'))
                .body(Vec::new())
                .map_err(|_| Problem::misconfigured("search_url is not a URL"))?;
            health::http("search-engine", request, |status| status.is_success()).await
        }
        other => return Err(Problem::misconfigured(format!("search_backend {other:?} is unknown: use sqlite or elasticsearch"))),
    };
    Ok(health::report("search-proxy", vec![health::key_value("default"), health::redis(&redis), engine], detailed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve() {
        let r = router();
        let find = |m: Method, p: &str| r.find(&m, p).unwrap().0.name();
        assert_eq!(find(Method::GET, "/search"), "search_proxy::search");
        assert_eq!(find(Method::GET, "/search/suggest"), "search_proxy::suggest");
        assert_eq!(find(Method::POST, "/search/reindex"), "search_proxy::reindex");
        assert_eq!(r.find(&Method::POST, "/search").unwrap_err().status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
