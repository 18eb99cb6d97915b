//! The native upload API, `/uploads/...`: plan, sign parts, resume, complete, abort, form
//! uploads, instant upload, download and play. Each handler checks the caller, then calls the
//! operation in [`crate::uploads`].

use std::collections::BTreeMap;

use edge_http::handler::{Answer, Json, Path, Query};
use edge_http::{json_response, no_content, Problem};
use edge_protocol::receipt::PlayTicket;
use edge_spin::auth::{Admin, Caller};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::plan::CreateRequest;
use crate::uploads::{self, SignedPart};
use crate::Sign;

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignBody {
    part_numbers: Vec<u64>,
    /// Base64 SHA-256 per part number, bound into that part's signature.
    #[serde(default)]
    checksums: BTreeMap<String, String>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompletePart {
    part_number: u64,
    etag: String,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompleteBody {
    parts: Vec<CompletePart>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FormBody {
    filename: String,
    size: u64,
    content_type: String,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CoverBody {
    key: String,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerBody {
    answer: String,
}

/// `POST /uploads`: plans a multipart upload (size, type and daily limits checked).
pub(crate) async fn create(sign: &Sign, Caller(caller): Caller, Json(body): Json<CreateRequest>) -> Answer {
    let upload = sign.uploads(caller)?.create(body).await?;
    Ok(json_response(StatusCode::CREATED, &upload.view()))
}

/// `GET /uploads/:id`: the upload, with the parts the store holds while it is active (to
/// resume) or its receipt once complete.
pub(crate) async fn status(sign: &Sign, Caller(caller): Caller, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
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

/// The answer to [`sign_parts`], serialised straight from the signed parts.
#[derive(Serialize)]
struct Signed {
    parts: Vec<SignedPart>,
    expires_at: u64,
}

/// `POST /uploads/:id/parts`: presigned `PUT` URLs for these parts.
pub(crate) async fn sign_parts(sign: &Sign, Caller(caller): Caller, Json(body): Json<SignBody>, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
    let parts = uploads.sign(&upload, &body.part_numbers, &body.checksums)?;
    let expires_at = edge_spin::redis::now_ms() + uploads.part_url_ttl()?.as_millis() as u64;
    Ok(json_response(StatusCode::OK, &Signed { parts, expires_at }))
}

/// `POST /uploads/:id/complete`: checks every part against the store's list, completes, and
/// answers the receipt feed accepts.
pub(crate) async fn complete(sign: &Sign, Caller(caller): Caller, Json(body): Json<CompleteBody>, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
    let claimed: Vec<(u64, String)> = body.parts.into_iter().map(|p| (p.part_number, p.etag)).collect();
    let (upload, receipt) = uploads.complete(upload, &claimed).await?;
    Ok(json_response(StatusCode::OK, &json!({ "upload": upload.view(), "receipt": receipt })))
}

/// `DELETE /uploads/:id`: aborts an unfinished upload and frees its quota.
pub(crate) async fn abort(sign: &Sign, Caller(caller): Caller, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
    uploads.abort(upload).await?;
    Ok(no_content())
}

/// `GET /uploads/:id/download`: a presigned `GET` of the owner's completed object.
pub(crate) async fn download(sign: &Sign, Caller(caller): Caller, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let (url, expires_at) = uploads.download(&uploads.load(&id)?)?;
    Ok(json_response(StatusCode::OK, &json!({ "url": url, "expires_at": expires_at })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PlayQuery {
    ticket: String,
}

/// Redirects the holder of a feed play ticket to a presigned `GET` of its object. No token: a
/// `<video>` element cannot send one, and the ticket is the permission.
pub(crate) async fn play(sign: &Sign, Query(PlayQuery { ticket }): Query<PlayQuery>) -> Answer {
    let store = sign.store()?;
    let key = edge_spin::setting(&crate::settings::UPLOAD_RECEIPT_KEY)?;
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

/// `POST /uploads/form`: a presigned form upload for a small file (a cover picture).
pub(crate) async fn form(sign: &Sign, Caller(caller): Caller, Json(body): Json<FormBody>) -> Answer {
    let (key, form, expires_at) = sign.uploads(caller)?.form(&body.filename, &body.content_type, Some(body.size))?;
    Ok(json_response(StatusCode::OK, &json!({ "key": key, "url": form.url, "fields": form.fields, "expires_at": expires_at })))
}

/// `POST /uploads/covers`: checks a cover picture the caller stored by form upload (its first
/// bytes must be the picture its key names); only then can feed attach it to a video.
pub(crate) async fn check_cover(sign: &Sign, Caller(caller): Caller, Json(body): Json<CoverBody>) -> Answer {
    let content_type = sign.uploads(caller)?.check_cover(&body.key).await?;
    Ok(json_response(StatusCode::OK, &json!({ "key": body.key, "content_type": content_type })))
}

/// `POST /uploads/instant`: a challenge to prove possession of the bytes of a file with this
/// content key and size: the ranges to read, as `[offset, length]` pairs, and the nonce.
pub(crate) async fn challenge(sign: &Sign, Caller(caller): Caller, Json(body): Json<CreateRequest>) -> Answer {
    let (id, challenge) = sign.uploads(caller)?.challenge(&body)?;
    let body = json!({ "challenge_id": id, "ranges": challenge.ranges, "nonce": challenge.nonce });
    Ok(json_response(StatusCode::OK, &body))
}

/// `POST /uploads/instant/:id`: the answer to a challenge; right, the upload is complete at
/// once.
pub(crate) async fn answer(sign: &Sign, Caller(caller): Caller, Json(body): Json<AnswerBody>, Path(id): Path<String>) -> Answer {
    let (upload, receipt) = sign.uploads(caller)?.answer(&id, &body.answer).await?;
    Ok(json_response(StatusCode::OK, &json!({ "upload": upload.view(), "receipt": receipt })))
}

/// `POST /uploads/cleanup`: an administrator aborts expired unfinished uploads, a batch a call.
pub(crate) async fn cleanup(sign: &Sign, Admin(principal): Admin) -> Answer {
    let (aborted, more) = sign.uploads(principal)?.cleanup().await?;
    Ok(json_response(StatusCode::OK, &json!({ "aborted": aborted, "more": more })))
}
