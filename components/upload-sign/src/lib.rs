//! upload-sign: presigned multipart uploads to MinIO/S3 with resume and instant upload.
//! Routes: `/uploads/...`.

mod s3;

use edge_http::{Problem, Request, Response, Router};
use edge_spin::health;
use http::Method;

/// Largest JSON body an upload endpoint reads (a complete request lists up to 10,000 parts).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
}

fn router() -> Router<Endpoint> {
    Router::new().route(Method::GET, "/uploads/health", Endpoint::Health)
}

// Exported only on wasm: natively the crate is linked into unit tests, where Spin's export
// symbols would not link.
#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(request: spin_sdk::http::IncomingRequest, out: spin_sdk::http::ResponseOutparam) {
    edge_spin::serve(request, out, BODY_LIMIT, dispatch).await
}

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, _params) = router().find(request.method(), request.uri().path())?;
    match endpoint {
        Endpoint::Health => {
            let redis = edge_spin::variable("redis_address")?;
            let store = s3::Store::from_variables()?;
            let bucket = health::http("s3", store.head_bucket(), |status| status.is_success()).await;
            Ok(health::report("upload-sign", vec![health::key_value("default"), health::redis(&redis), bucket]))
        }
    }
}
