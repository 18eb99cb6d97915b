//! search-proxy: one search API over SQLite FTS5 or Elasticsearch/OpenSearch. Routes:
//! `/search/...`.

use edge_http::{Problem, Request, Response, Router};
use edge_spin::health;
use http::Method;

/// Largest JSON body a search endpoint reads.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
}

fn router() -> Router<Endpoint> {
    Router::new().route(Method::GET, "/search/health", Endpoint::Health)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, _params) = router().find(request.method(), request.uri().path())?;
    match endpoint {
        Endpoint::Health => {
            let redis = edge_spin::variable("redis_address")?;
            let engine = match edge_spin::variable("search_backend")?.as_str() {
                "sqlite" => health::sqlite("default"),
                "elasticsearch" | "opensearch" => {
                    let url = edge_spin::variable("search_url")?;
                    let request = http::Request::get(url.trim_end_matches('/'))
                        .body(Vec::new())
                        .map_err(|_| Problem::new(http::StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", "search_url is not a URL"))?;
                    health::http("search-engine", request, |status| status.is_success()).await
                }
                other => {
                    return Err(Problem::new(
                        http::StatusCode::INTERNAL_SERVER_ERROR,
                        "misconfigured",
                        format!("search_backend {other:?} is unknown: use sqlite or elasticsearch"),
                    ))
                }
            };
            Ok(health::report("search-proxy", vec![health::key_value("default"), health::redis(&redis), engine]))
        }
    }
}
