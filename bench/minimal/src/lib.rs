//! The smallest spin-sdk HTTP component, as Spin's templates write it: a fixed 200 answer. The
//! benchmarks run it on the same Spin as the app to show what Spin itself costs a request.

use spin_sdk::http::{IntoResponse, Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(_request: Request) -> impl IntoResponse {
    Response::builder().status(200).header("content-type", "text/plain").body("ok").build()
}
