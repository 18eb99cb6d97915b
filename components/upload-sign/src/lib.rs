//! upload-sign: presigned uploads straight from the browser to MinIO/S3. The edge never carries
//! file bytes: it plans the upload, signs part URLs and form policies, reads the store's own
//! list of parts to resume and to verify before completing, proves possession for instant
//! upload, and signs a receipt that feed accepts.
//!
//! Routes: `/uploads/...` (native API, below) and `/uploads/s3/...` (Uppy, in [`uppy`]). The
//! operations behind both are in [`uploads`]; the pure parts in [`plan`], [`s3`], [`instant`].

mod instant;
mod plan;
mod s3;
mod uploads;
mod uppy;

use std::collections::BTreeMap;

use edge_http::{json_body, json_response, no_content, Params, Problem, Request, Response, Router};
use edge_spin::redis::Redis;
use edge_spin::{auth as bearer, health};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

use edge_auth::receipt::PlayTicket;

use crate::plan::CreateRequest;
use crate::s3::Store;
use crate::uploads::Uploads;

/// Largest JSON body an upload endpoint reads (a complete request lists up to 10,000 parts).
pub const BODY_LIMIT: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    Create,
    Form,
    Challenge,
    Answer,
    Cleanup,
    Status,
    Sign,
    Complete,
    Abort,
    Download,
    Play,
    UppyParams,
    UppyCreate,
    UppyList,
    UppySignOne,
    UppySignBatch,
    UppyComplete,
    UppyAbort,
}

/// Every route this component answers as `(method, pattern)`; the OpenAPI document is checked
/// against it.
pub fn routes() -> Vec<(Method, String)> {
    router().routes()
}

fn router() -> Router<Endpoint> {
    use Endpoint::*;
    Router::new()
        .route(Method::GET, "/uploads/health", Health)
        .route(Method::POST, "/uploads", Create)
        .route(Method::POST, "/uploads/form", Form)
        .route(Method::POST, "/uploads/instant", Challenge)
        .route(Method::POST, "/uploads/instant/:id", Answer)
        .route(Method::POST, "/uploads/cleanup", Cleanup)
        .route(Method::GET, "/uploads/:id", Status)
        .route(Method::DELETE, "/uploads/:id", Abort)
        .route(Method::POST, "/uploads/:id/parts", Sign)
        .route(Method::POST, "/uploads/:id/complete", Complete)
        .route(Method::GET, "/uploads/:id/download", Download)
        .route(Method::GET, "/uploads/play", Play)
        .route(Method::GET, "/uploads/s3/params", UppyParams)
        .route(Method::POST, "/uploads/s3/multipart", UppyCreate)
        .route(Method::GET, "/uploads/s3/multipart/:id", UppyList)
        .route(Method::DELETE, "/uploads/s3/multipart/:id", UppyAbort)
        .route(Method::GET, "/uploads/s3/multipart/:id/batch", UppySignBatch)
        .route(Method::GET, "/uploads/s3/multipart/:id/:part", UppySignOne)
        .route(Method::POST, "/uploads/s3/multipart/:id/complete", UppyComplete)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, params) = router().find(request.method(), request.uri().path())?;
    if let Endpoint::Health = endpoint {
        let redis = edge_spin::variable("redis_address")?;
        let bucket = health::http("s3", Store::from_variables()?.head_bucket(), |status| status.is_success()).await;
        return Ok(health::report("upload-sign", vec![health::key_value("default"), health::redis(&redis), bucket]));
    }
    if let Endpoint::Play = endpoint {
        return play(&Store::from_variables()?, &request);
    }
    // The token is checked before any key or setting is read: a refused request costs little.
    let token = bearer::token(&request)?;
    let redis = Redis::open()?;
    let principal = bearer::principal(token, &bearer::verifier()?, &redis)?;
    let uploads = Uploads::new(Store::from_variables()?, redis, principal)?;
    let r = &request;
    match endpoint {
        Endpoint::Health | Endpoint::Play => unreachable!("answered above"),
        Endpoint::Create => create(&uploads, r).await,
        Endpoint::Form => form(&uploads, r),
        Endpoint::Challenge => challenge(&uploads, r),
        Endpoint::Answer => answer(&uploads, r, &params).await,
        Endpoint::Cleanup => cleanup(&uploads).await,
        Endpoint::Status => status(&uploads, &params).await,
        Endpoint::Sign => sign(&uploads, r, &params),
        Endpoint::Complete => complete(&uploads, r, &params).await,
        Endpoint::Abort => abort(&uploads, &params).await,
        Endpoint::Download => download(&uploads, &params),
        Endpoint::UppyParams => uppy::params(&uploads, r),
        Endpoint::UppyCreate => uppy::create(&uploads, r).await,
        Endpoint::UppyList => uppy::list(&uploads, r, &params).await,
        Endpoint::UppySignOne => uppy::sign_one(&uploads, r, &params),
        Endpoint::UppySignBatch => uppy::sign_batch(&uploads, r, &params),
        Endpoint::UppyComplete => uppy::complete(&uploads, r, &params).await,
        Endpoint::UppyAbort => uppy::abort(&uploads, r, &params).await,
    }
}

fn id(params: &Params) -> &str {
    params.get("id").unwrap_or("")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    part_numbers: Vec<u64>,
    /// Base64 SHA-256 per part number, bound into that part's signature.
    #[serde(default)]
    checksums: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompletePart {
    part_number: u64,
    etag: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompleteBody {
    parts: Vec<CompletePart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormBody {
    filename: String,
    size: u64,
    content_type: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerBody {
    answer: String,
}

async fn create(uploads: &Uploads, request: &Request) -> Result<Response, Problem> {
    let upload = uploads.create(json_body::<CreateRequest>(request, BODY_LIMIT)?).await?;
    Ok(json_response(StatusCode::CREATED, &upload.view()))
}

async fn status(uploads: &Uploads, params: &Params) -> Result<Response, Problem> {
    let upload = uploads.load(id(params))?;
    let mut view = upload.view();
    if upload.state == uploads::State::Active {
        let parts = uploads.stored_parts(&upload).await?;
        let have: std::collections::BTreeSet<u64> = parts.iter().map(|p| p.number).collect();
        if let Some(layout) = &upload.layout {
            view["missing_parts"] = json!((1..=layout.part_count).filter(|n| !have.contains(n)).collect::<Vec<_>>());
        }
        view["uploaded_bytes"] = json!(parts.iter().map(|p| p.size).sum::<u64>());
        view["parts"] = json!(parts.iter().map(|p| json!({ "part_number": p.number, "etag": p.etag, "size": p.size })).collect::<Vec<_>>());
    } else if let Some(receipt) = &upload.receipt {
        view["receipt"] = json!(receipt);
    }
    Ok(json_response(StatusCode::OK, &view))
}

fn sign(uploads: &Uploads, request: &Request, params: &Params) -> Result<Response, Problem> {
    let body: SignBody = json_body(request, BODY_LIMIT)?;
    let upload = uploads.load(id(params))?;
    let parts = uploads.sign(&upload, &body.part_numbers, &body.checksums)?;
    let expires_at = edge_spin::redis::now_ms() + Uploads::part_url_ttl()?.as_millis() as u64;
    Ok(json_response(StatusCode::OK, &json!({ "parts": parts, "expires_at": expires_at })))
}

async fn complete(uploads: &Uploads, request: &Request, params: &Params) -> Result<Response, Problem> {
    let body: CompleteBody = json_body(request, BODY_LIMIT)?;
    let upload = uploads.load(id(params))?;
    let claimed: Vec<(u64, String)> = body.parts.into_iter().map(|p| (p.part_number, p.etag)).collect();
    let (upload, receipt) = uploads.complete(upload, &claimed).await?;
    Ok(json_response(StatusCode::OK, &json!({ "upload": upload.view(), "receipt": receipt })))
}

async fn abort(uploads: &Uploads, params: &Params) -> Result<Response, Problem> {
    let upload = uploads.load(id(params))?;
    uploads.abort(upload).await?;
    Ok(no_content())
}

fn download(uploads: &Uploads, params: &Params) -> Result<Response, Problem> {
    let (url, expires_at) = uploads.download(&uploads.load(id(params))?)?;
    Ok(json_response(StatusCode::OK, &json!({ "url": url, "expires_at": expires_at })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlayQuery {
    ticket: String,
}

/// Redirects the holder of a feed play ticket to a presigned `GET` of its object. No token: a
/// `<video>` element cannot send one, and the ticket is the permission.
fn play(store: &Store, request: &Request) -> Result<Response, Problem> {
    let ticket = edge_http::query::<PlayQuery>(request)?.ticket;
    let key = edge_spin::variable("upload_receipt_key")?;
    let ticket = PlayTicket::verify(&ticket, key.as_bytes(), edge_spin::redis::now_ms()).ok_or_else(|| {
        Problem::forbidden("invalid-ticket", "the play ticket is not feed's or has expired; ask feed for the video's source again")
    })?;
    let url = store.sign_get(&ticket.key, uploads::DOWNLOAD_URL_TTL);
    http::Response::builder()
        .status(StatusCode::FOUND)
        .header(http::header::LOCATION, url)
        .header(http::header::CACHE_CONTROL, "no-store")
        .body(Vec::new())
        .map_err(|e| Problem::misconfigured(format!("the store URL is not a valid header: {e}")))
}

fn form(uploads: &Uploads, request: &Request) -> Result<Response, Problem> {
    let body: FormBody = json_body(request, BODY_LIMIT)?;
    let (key, form, expires_at) = uploads.form(&body.filename, &body.content_type, Some(body.size))?;
    Ok(json_response(StatusCode::OK, &json!({ "key": key, "url": form.url, "fields": form.fields, "expires_at": expires_at })))
}

fn challenge(uploads: &Uploads, request: &Request) -> Result<Response, Problem> {
    let (id, challenge) = uploads.challenge(&json_body::<CreateRequest>(request, BODY_LIMIT)?)?;
    let body = json!({ "challenge_id": id, "offset": challenge.offset, "length": challenge.length, "nonce": challenge.nonce });
    Ok(json_response(StatusCode::OK, &body))
}

async fn answer(uploads: &Uploads, request: &Request, params: &Params) -> Result<Response, Problem> {
    let body: AnswerBody = json_body(request, BODY_LIMIT)?;
    let (upload, receipt) = uploads.answer(id(params), &body.answer).await?;
    Ok(json_response(StatusCode::OK, &json!({ "upload": upload.view(), "receipt": receipt })))
}

async fn cleanup(uploads: &Uploads) -> Result<Response, Problem> {
    let (aborted, more) = uploads.cleanup().await?;
    Ok(json_response(StatusCode::OK, &json!({ "aborted": aborted, "more": more })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_prefer_literals_over_ids() {
        let r = router();
        let find = |m: Method, p: &str| format!("{:?}", r.find(&m, p).unwrap().0);
        assert_eq!(find(Method::POST, "/uploads/instant"), "Challenge");
        assert_eq!(find(Method::POST, "/uploads/instant/abc"), "Answer");
        assert_eq!(find(Method::GET, "/uploads/s3/multipart/abc/batch"), "UppySignBatch");
        assert_eq!(find(Method::GET, "/uploads/s3/multipart/abc/7"), "UppySignOne");
        assert_eq!(find(Method::POST, "/uploads/s3/multipart/abc/complete"), "UppyComplete");
        assert_eq!(find(Method::GET, "/uploads/abc"), "Status");
        assert_eq!(find(Method::GET, "/uploads/play"), "Play");
    }
}
