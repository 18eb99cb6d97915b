//! feed: video records, timelines, danmaku, likes and rankings. Routes: `/feed/...`,
//! `/videos/...`, `/users/...`.

use edge_http::{Problem, Request, Response, Router};
use edge_spin::health;
use http::Method;

/// Largest JSON body a feed endpoint reads.
pub const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
}

fn router() -> Router<Endpoint> {
    Router::new().route(Method::GET, "/feed/health", Endpoint::Health)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, _params) = router().find(request.method(), request.uri().path())?;
    match endpoint {
        Endpoint::Health => {
            let redis = edge_spin::variable("redis_address")?;
            Ok(health::report("feed", vec![health::key_value("default"), health::redis(&redis)]))
        }
    }
}
