//! The Companion-style S3 routes `@uppy/aws-s3` talks to, under `/uploads/s3/...`. Uppy 6 sets
//! `companionEndpoint: '/uploads'` and is authenticated by the upload-only cookie auth sets at
//! sign-in; Uppy 4 sets `endpoint` and may send `headers: { authorization: 'Bearer …' }`
//! instead ([`Uploader`]). Request and response shapes follow Companion's; the `uploadId` Uppy
//! sees is our upload id, and every call must also name the upload's `key`, as Companion
//! requires. Uppy 6 keeps only `location` and `key` of the completion, so the receipt also rides
//! in `location`'s fragment.

use std::collections::BTreeMap;

use edge_http::handler::{Answer, Json, Path, Query};
use edge_http::{json_response, Problem};
use edge_spin::auth::Uploader;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::plan::CreateRequest;
use crate::uploads::{Upload, Uploads};
use crate::Sign;

#[derive(Deserialize)]
pub(crate) struct KeyQuery {
    key: String,
}

#[derive(Deserialize)]
pub(crate) struct BatchQuery {
    key: String,
    #[serde(rename = "partNumbers")]
    part_numbers: String,
}

#[derive(Deserialize)]
pub(crate) struct ParamsQuery {
    filename: String,
    #[serde(rename = "type")]
    content_type: String,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
pub(crate) struct CreateBody {
    filename: String,
    #[serde(rename = "type")]
    content_type: String,
    #[serde(default)]
    metadata: BTreeMap<String, serde_json::Value>,
}

#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
pub(crate) struct CompleteBody {
    parts: Vec<UppyPart>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "PascalCase")]
struct UppyPart {
    part_number: u64,
    #[serde(rename = "ETag")]
    etag: String,
}

/// The caller's upload `id`, which must have the `key` Uppy names.
fn owned(uploads: &Uploads<Sign>, id: &str, key: &str) -> Result<Upload, Problem> {
    let upload = uploads.load(id)?;
    if upload.key != key {
        return Err(Problem::not_found("no-such-upload", "you have no upload with this id and key"));
    }
    Ok(upload)
}

/// `GET /s3/params?filename&type`: a form upload for a small file.
pub(crate) async fn params(sign: &Sign, Uploader(caller): Uploader, Query(q): Query<ParamsQuery>) -> Answer {
    let (_, form, _) = sign.uploads(caller)?.form(&q.filename, &q.content_type, None)?;
    Ok(json_response(StatusCode::OK, &json!({ "method": "POST", "url": form.url, "fields": form.field_object(), "headers": {} })))
}

/// `POST /s3/multipart`: starts an upload of the size in `metadata.size` (Uppy sends the file's
/// meta; the page sets `size` there).
pub(crate) async fn create(sign: &Sign, Uploader(caller): Uploader, Json(body): Json<CreateBody>) -> Answer {
    let size = body.metadata.get("size").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    let create = CreateRequest { filename: body.filename, size, content_type: body.content_type, content_key: None, part_size: None };
    let upload = sign.uploads(caller)?.create(create).await?;
    Ok(json_response(StatusCode::OK, &json!({ "key": upload.key, "uploadId": upload.id })))
}

/// `GET /s3/multipart/:id?key`: the parts the store holds.
pub(crate) async fn list(sign: &Sign, Uploader(caller): Uploader, Path(id): Path<String>, Query(q): Query<KeyQuery>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = owned(&uploads, &id, &q.key)?;
    let parts = uploads.stored_parts(&upload).await?;
    let parts: Vec<_> = parts.iter().map(|p| json!({ "PartNumber": p.number, "ETag": p.etag, "Size": p.size })).collect();
    Ok(json_response(StatusCode::OK, &parts))
}

/// `GET /s3/multipart/:id/:part?key`: one presigned part URL.
pub(crate) async fn sign_one(
    sign: &Sign,
    Uploader(caller): Uploader,
    Path((id, part)): Path<(String, String)>,
    Query(q): Query<KeyQuery>,
) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = owned(&uploads, &id, &q.key)?;
    let number = part.parse().unwrap_or(0);
    let signed = uploads.sign(&upload, &[number], &BTreeMap::new())?;
    Ok(json_response(StatusCode::OK, &json!({ "url": signed[0].url, "expires": uploads.part_url_ttl()?.as_secs() })))
}

/// `GET /s3/multipart/:id/batch?key&partNumbers=1,2`: several presigned part URLs.
pub(crate) async fn sign_batch(sign: &Sign, Uploader(caller): Uploader, Path(id): Path<String>, Query(q): Query<BatchQuery>) -> Answer {
    let numbers = q
        .part_numbers
        .split(',')
        .map(|n| n.trim().parse::<u64>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| Problem::bad_request("invalid-part-number", "partNumbers is a comma-separated list of part numbers"))?;
    let uploads = sign.uploads(caller)?;
    let upload = owned(&uploads, &id, &q.key)?;
    let signed = uploads.sign(&upload, &numbers, &BTreeMap::new())?;
    let urls: BTreeMap<u64, String> = signed.into_iter().map(|p| (p.part_number, p.url)).collect();
    Ok(json_response(StatusCode::OK, &Batch { presigned_urls: urls }))
}

/// The answer to [`sign_batch`]: each part's URL by its number.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Batch {
    presigned_urls: BTreeMap<u64, String>,
}

/// `POST /s3/multipart/:id/complete?key`: completes with `{ parts: [{ PartNumber, ETag }] }`;
/// answers a presigned `GET` of the object as `location`, with `#receipt=<receipt>` appended
/// (a fragment: never sent, so the signature still holds), and the receipt on its own for Uppy 4.
pub(crate) async fn complete(
    sign: &Sign,
    Uploader(caller): Uploader,
    Json(body): Json<CompleteBody>,
    Path(id): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = owned(&uploads, &id, &q.key)?;
    let claimed: Vec<(u64, String)> = body.parts.into_iter().map(|p| (p.part_number, p.etag)).collect();
    let (upload, receipt) = uploads.complete(upload, &claimed).await?;
    let (location, _) = uploads.download(&upload)?;
    let location = format!("{location}#receipt={receipt}");
    Ok(json_response(StatusCode::OK, &json!({ "location": location, "key": upload.key, "receipt": receipt })))
}

/// `DELETE /s3/multipart/:id?key`: aborts.
pub(crate) async fn abort(sign: &Sign, Uploader(caller): Uploader, Path(id): Path<String>, Query(q): Query<KeyQuery>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = owned(&uploads, &id, &q.key)?;
    uploads.abort(upload).await?;
    Ok(json_response(StatusCode::OK, &json!({})))
}
