//! search-proxy: one search API over SQLite FTS5 (default) or Elasticsearch/OpenSearch, with an
//! edge cache, request coalescing, a circuit breaker and ordered index sync. Routes:
//! `/search/...`.
//!
//! The rules are the pure modules: [`params`] (what a client may ask), [`text`] (terms, CJK,
//! highlighting), [`sqlite`] and [`elastic`] (engine queries and replies), [`cache`],
//! [`breaker`], [`sync`] and [`fallback`]. [`service`] does the host calls.

mod breaker;
pub mod cache;
mod elastic;
mod engine;
mod fallback;
pub mod params;
mod records;
mod service;
pub mod sqlite;
mod sync;
mod text;

use edge_http::{json_response, query, Problem, Request, Response, Router};
use edge_spin::redis::Redis;
use edge_spin::{auth as bearer, health};
use http::{Method, StatusCode};
use serde::Deserialize;

use crate::params::{RawSearch, RawSuggest, SearchQuery, SuggestQuery};
use crate::service::{Ask, Search};

/// Largest request body a search endpoint reads (they take none).
pub const BODY_LIMIT: usize = 1024;
/// Changes one `POST /search/sync` applies at most.
pub const SYNC_CALL_BATCH: u64 = 1000;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    Search,
    Suggest,
    Status,
    Parked,
    Sync,
    Reindex,
}

/// Every route this component answers as `(method, pattern)`; the OpenAPI document is checked
/// against it.
pub fn routes() -> Vec<(Method, String)> {
    router().routes()
}

fn router() -> Router<Endpoint> {
    use Endpoint::*;
    Router::new()
        .route(Method::GET, "/search", Search)
        .route(Method::GET, "/search/suggest", Suggest)
        .route(Method::GET, "/search/status", Status)
        .route(Method::GET, "/search/parked", Parked)
        .route(Method::POST, "/search/sync", Sync)
        .route(Method::POST, "/search/reindex", Reindex)
        .route(Method::GET, "/search/health", Health)
}

edge_spin::export!(BODY_LIMIT, dispatch);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReindexQuery {
    after: Option<String>,
}

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, _params) = router().find(request.method(), request.uri().path())?;
    match endpoint {
        Endpoint::Health => health_report().await,
        Endpoint::Search => {
            let ask = Ask::Search(SearchQuery::parse(query::<RawSearch>(&request)?)?);
            Search::open()?.answer(&ask).await
        }
        Endpoint::Suggest => {
            let ask = Ask::Suggest(SuggestQuery::parse(query::<RawSuggest>(&request)?)?);
            Search::open()?.answer(&ask).await
        }
        Endpoint::Status => Ok(no_store(json_response(StatusCode::OK, &Search::open()?.status()?))),
        Endpoint::Sync => {
            // Public: a pass is bounded and only one runs at a time, so a scheduler (or anyone)
            // calling it costs no more than a search that misses the cache.
            let search = Search::open()?;
            let report = search.pass(SYNC_CALL_BATCH, &search.state()?).await?;
            Ok(no_store(json_response(StatusCode::OK, &report)))
        }
        Endpoint::Parked => {
            admin(&request)?;
            Ok(no_store(json_response(StatusCode::OK, &Search::open()?.parked()?)))
        }
        Endpoint::Reindex => {
            admin(&request)?;
            let q: ReindexQuery = query(&request)?;
            Ok(no_store(json_response(StatusCode::OK, &Search::open()?.reindex(q.after.as_deref().unwrap_or("")).await?)))
        }
    }
}

fn admin(request: &Request) -> Result<(), Problem> {
    let token = bearer::token(request)?;
    let principal = bearer::principal(token, &bearer::verifier()?, &Redis::open()?)?;
    if !principal.has_role("admin") {
        return Err(Problem::forbidden("admin-only", "only administrators can inspect or rebuild the search index"));
    }
    Ok(())
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
    response
}

async fn health_report() -> Result<Response, Problem> {
    let redis = edge_spin::variable("redis_address")?;
    let engine = match edge_spin::variable("search_backend")?.as_str() {
        "sqlite" => health::sqlite("default"),
        "elasticsearch" | "opensearch" => {
            let url = edge_spin::variable("search_url")?;
            let request = http::Request::get(url.trim_end_matches('/'))
                .body(Vec::new())
                .map_err(|_| Problem::misconfigured("search_url is not a URL"))?;
            health::http("search-engine", request, |status| status.is_success()).await
        }
        other => return Err(Problem::misconfigured(format!("search_backend {other:?} is unknown: use sqlite or elasticsearch"))),
    };
    Ok(health::report("search-proxy", vec![health::key_value("default"), health::redis(&redis), engine]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_resolve() {
        let r = router();
        let find = |m: Method, p: &str| format!("{:?}", r.find(&m, p).unwrap().0);
        assert_eq!(find(Method::GET, "/search"), "Search");
        assert_eq!(find(Method::GET, "/search/suggest"), "Suggest");
        assert_eq!(find(Method::POST, "/search/reindex"), "Reindex");
        assert_eq!(r.find(&Method::POST, "/search").unwrap_err().status(), StatusCode::METHOD_NOT_ALLOWED);
    }
}
