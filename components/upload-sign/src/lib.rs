//! upload-sign: presigned uploads straight from the browser to MinIO/S3. The edge never carries
//! file bytes: it plans the upload, signs part URLs and form policies, reads the store's own
//! list of parts to resume and to verify before completing, proves possession for instant
//! upload, and signs a receipt that feed accepts once a ranged read of the completed object's
//! first bytes shows content of its declared type.
//!
//! Routes: `/uploads/...` (native API, below) and `/uploads/s3/...` (Uppy: companion mode in
//! [`uppy`], `signRequest` mode in [`uppy_sign`]). The operations behind both are in
//! [`uploads`]; the pure parts in [`plan`], [`s3`], [`s3xml`], [`instant`], [`sniff`].

mod adapter;
mod endpoints;
mod instant;
mod keys;
mod plan;
mod s3;
mod s3xml;
mod settings;
mod sigv4;
mod sniff;
mod uploads;

use edge_auth::Principal;
use edge_http::handler::{Answer, Routes, Shape};
use edge_http::{Problem, Request};
use edge_spin::auth::{Authenticates, Backends};
use edge_spin::health::{self, Operator};
use edge_spin::Lazy;
use http::Method;

use crate::endpoints::{native, uppy, uppy_sign};
use crate::s3::Store;
use crate::uploads::Uploads;

/// Largest JSON body an upload endpoint reads (a complete request lists up to 10,000 parts).
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every route this component answers as `(method, pattern, shape)`; the OpenAPI document is
/// checked against it.
pub fn operations() -> Vec<(Method, String, Shape)> {
    router().operations()
}

fn router() -> Routes<Sign> {
    Routes::new()
        .on(Method::GET, "/uploads/health", health)
        .on(Method::POST, "/uploads", native::create)
        .on(Method::POST, "/uploads/form", native::form)
        .on(Method::POST, "/uploads/covers", native::check_cover)
        .on(Method::POST, "/uploads/instant", native::challenge)
        .on(Method::POST, "/uploads/instant/:id", native::answer)
        .on(Method::POST, "/uploads/cleanup", native::cleanup)
        .on(Method::GET, "/uploads/:id", native::status)
        .on(Method::DELETE, "/uploads/:id", native::abort)
        .on(Method::POST, "/uploads/:id/parts", native::sign_parts)
        .on(Method::POST, "/uploads/:id/complete", native::complete)
        .on(Method::GET, "/uploads/:id/download", native::download)
        .on(Method::GET, "/uploads/play", native::play)
        .on(Method::GET, "/uploads/s3/params", uppy::params)
        .on(Method::POST, "/uploads/s3/multipart", uppy::create)
        .on(Method::GET, "/uploads/s3/multipart/:id", uppy::list)
        .on(Method::DELETE, "/uploads/s3/multipart/:id", uppy::abort)
        .on(Method::GET, "/uploads/s3/multipart/:id/batch", uppy::sign_batch)
        .on(Method::GET, "/uploads/s3/multipart/:id/:part", uppy::sign_one)
        .on(Method::POST, "/uploads/s3/multipart/:id/complete", uppy::complete)
        .on(Method::POST, "/uploads/s3/sign", uppy_sign::sign)
        .on(Method::POST, "/uploads/s3/xml", uppy_sign::create)
        .on(Method::GET, "/uploads/s3/xml/:id", uppy_sign::list)
        .on(Method::POST, "/uploads/s3/xml/:id", uppy_sign::complete)
        .on(Method::DELETE, "/uploads/s3/xml/:id", uppy_sign::abort)
}

/// The JSON schema of every request body a handler reads, by type name (the OpenAPI document
/// is checked against them).
#[cfg(feature = "schema")]
pub fn body_schemas() -> Vec<(&'static str, serde_json::Value)> {
    use edge_http::handler::body_schema;
    vec![
        body_schema::<plan::CreateRequest>(),
        body_schema::<endpoints::native::SignBody>(),
        body_schema::<endpoints::native::CompleteBody>(),
        body_schema::<endpoints::native::FormBody>(),
        body_schema::<endpoints::native::AnswerBody>(),
        body_schema::<endpoints::native::CoverBody>(),
        body_schema::<endpoints::uppy::CreateBody>(),
        body_schema::<endpoints::uppy::CompleteBody>(),
        body_schema::<endpoints::uppy_sign::SignBody>(),
    ]
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Answer {
    router().answer(&Sign::default(), &request).await
}

/// `GET /uploads/health`: the key-value store, Redis, and the bucket with our credentials.
async fn health(sign: &Sign, Operator(detailed): Operator) -> Answer {
    let redis = edge_spin::setting(&edge_spin::settings::REDIS_ADDRESS)?;
    let bucket = health::http("s3", sign.store()?.head_bucket(), |status| status.is_success()).await;
    Ok(health::report("upload-sign", vec![health::key_value("default"), health::redis(&redis), bucket], detailed))
}

/// What one request may need, each opened on first use; the caller's token is checked (by
/// [`Caller`]) before any of the store's settings is read, so a refused request costs little.
#[derive(Default)]
struct Sign {
    backends: Backends,
    store: Lazy<Store>,
    kv: Lazy<spin_sdk::key_value::Store>,
}

impl Authenticates for Sign {
    fn backends(&self) -> &Backends {
        &self.backends
    }
}

impl Sign {
    fn store(&self) -> Result<&Store, Problem> {
        self.store.get_or_try(Store::from_variables)
    }

    /// Upload records; opened on first use, as most part-signing requests never touch it.
    fn kv(&self) -> Result<&spin_sdk::key_value::Store, Problem> {
        self.kv.get_or_try(|| spin_sdk::key_value::Store::open_default().map_err(edge_spin::kv_unavailable))
    }

    /// The upload operations acting for the caller.
    fn uploads(&self, caller: Principal) -> Result<Uploads<'_, Sign>, Problem> {
        Ok(Uploads::new(self, caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_prefer_literals_over_ids() {
        let r = router();
        let find = |m: Method, p: &str| r.find(&m, p).unwrap().0.name().trim_start_matches("upload_sign::endpoints::");
        assert_eq!(find(Method::POST, "/uploads/instant"), "native::challenge");
        assert_eq!(find(Method::POST, "/uploads/instant/abc"), "native::answer");
        assert_eq!(find(Method::GET, "/uploads/s3/multipart/abc/batch"), "uppy::sign_batch");
        assert_eq!(find(Method::GET, "/uploads/s3/multipart/abc/7"), "uppy::sign_one");
        assert_eq!(find(Method::POST, "/uploads/s3/multipart/abc/complete"), "uppy::complete");
        assert_eq!(find(Method::GET, "/uploads/abc"), "native::status");
        assert_eq!(find(Method::GET, "/uploads/play"), "native::play");
    }
}
