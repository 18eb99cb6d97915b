//! feed: video records, timelines, danmaku, likes and rankings. Routes: `/feed/...`,
//! `/videos/...`, `/users/...`.

use edge_http::{Problem, Request, Response, Router};
use edge_spin::health;
use http::Method;
use spin_sdk::http::IncomingRequest;
use spin_sdk::http_component;

/// Largest JSON body a feed endpoint reads.
const BODY_LIMIT: usize = 64 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
}

fn router() -> Router<Endpoint> {
    Router::new().route(Method::GET, "/feed/health", Endpoint::Health)
}

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    edge_spin::serve(request, BODY_LIMIT, dispatch).await
}

async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, _params) = router().find(request.method(), request.uri().path())?;
    match endpoint {
        Endpoint::Health => {
            let redis = edge_spin::variable("redis_address")?;
            Ok(health::report("feed", vec![health::key_value("default"), health::redis(&redis)]))
        }
    }
}
