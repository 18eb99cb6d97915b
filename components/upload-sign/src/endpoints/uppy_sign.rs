//! Uppy 6's `signRequest` mode: the page hands each `PresignableRequest` the plugin makes to
//! `POST /uploads/s3/sign`. Part uploads get presigned store URLs, which the browser `PUT`s
//! straight to the store; create, list, complete and abort are pointed at `/uploads/s3/xml/...`,
//! which answer in S3's XML, so the edge still starts the upload under a key it chooses, checks
//! every part against the store before completing, and issues the receipt (in `Location`'s
//! fragment). The key Uppy proposes is only a label: every call is confined to an upload id the
//! caller owns, and the store key signed is that upload's own.

use std::collections::BTreeMap;

use edge_http::handler::{Answer, Headers, Json, Path, Query, RawBody};
use edge_http::{json_response, no_content, Problem};
use edge_spin::auth::Uploader;
use http::header::{AUTHORIZATION, CONTENT_TYPE};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::plan::CreateRequest;
use crate::s3xml;
use crate::Sign;

/// What `@uppy/aws-s3` 6 asks to have signed (its `PresignableRequest`).
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SignBody {
    method: String,
    key: String,
    upload_id: Option<String>,
    part_number: Option<u64>,
    content_type: Option<String>,
    /// The file's size, which the page adds to Uppy's request (Uppy does not send it).
    size: Option<u64>,
}

#[derive(Deserialize)]
pub(crate) struct CreateQuery {
    filename: String,
    size: Option<u64>,
}

/// `POST /uploads/s3/sign`: `{url, headers?, fields?}` for one S3 request Uppy is about to make.
pub(crate) async fn sign(sign: &Sign, Uploader(caller): Uploader, Headers(headers): Headers, Json(body): Json<SignBody>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let edge = |path: String| format!("{}{path}", edge_spin::own_origin(&headers).unwrap_or_default());
    let url = match (body.method.as_str(), body.upload_id.as_deref(), body.part_number) {
        ("PUT", None, _) => {
            let content_type = body.content_type.as_deref().unwrap_or("application/octet-stream");
            let (key, form, _) = uploads.form(label(&body.key), content_type, None)?;
            return Ok(json_response(StatusCode::OK, &json!({ "url": form.url, "fields": form.field_object(), "key": key })));
        }
        ("PUT", Some(id), Some(number)) => {
            let upload = uploads.load(id)?;
            let signed = uploads.sign(&upload, &[number], &BTreeMap::new())?;
            return Ok(json_response(StatusCode::OK, &json!({ "url": signed[0].url })));
        }
        ("POST", None, None) => {
            let filename = form_urlencoded::byte_serialize(label(&body.key).as_bytes()).collect::<String>();
            let size = body.size.map(|s| format!("&size={s}")).unwrap_or_default();
            edge(format!("/uploads/s3/xml?filename={filename}{size}"))
        }
        ("GET" | "POST" | "DELETE", Some(id), None) => edge(format!("/uploads/s3/xml/{}", uploads.load(id)?.id)),
        _ => {
            let what = format!("cannot sign {} {:?}", body.method, body.key);
            return Err(Problem::bad_request(
                "unsupported-request",
                format!("{what}: only an upload's requests are signed (PutObject, multipart create, part, list, complete, abort)"),
            ));
        }
    };
    // Calls to the edge carry the cookie by themselves; a page authenticated by bearer alone
    // has its own token handed back for them.
    let headers = match headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(bearer) => json!({ "authorization": bearer }),
        None => json!({}),
    };
    Ok(json_response(StatusCode::OK, &json!({ "url": url, "headers": headers })))
}

/// The file name in the key Uppy proposes (`<uuid>-<name>` by default), for display only.
fn label(key: &str) -> &str {
    let name = key.rsplit('/').next().unwrap_or(key);
    let uuid = name.get(..37).filter(|p| p.len() == 37 && p.ends_with('-') && p[..36].chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
    uuid.map_or(name, |p| &name[p.len()..])
}

fn xml(status: StatusCode, body: String) -> Answer {
    http::Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/xml")
        .body(body.into_bytes())
        .map_err(|e| Problem::misconfigured(format!("bad response: {e}")))
}

/// `POST /uploads/s3/xml?filename&size`: CreateMultipartUpload; the type is the request's
/// `Content-Type` (Uppy sends the file's).
pub(crate) async fn create(sign: &Sign, Uploader(caller): Uploader, Headers(headers): Headers, Query(q): Query<CreateQuery>) -> Answer {
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/octet-stream").to_owned();
    let create = CreateRequest { filename: q.filename, size: q.size, content_type, content_key: None, part_size: None };
    let upload = sign.uploads(caller)?.create(create).await?;
    xml(StatusCode::OK, s3xml::initiated(&upload.key, &upload.id))
}

/// `GET /uploads/s3/xml/:id`: ListParts, as the store holds them.
pub(crate) async fn list(sign: &Sign, Uploader(caller): Uploader, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
    let parts = uploads.stored_parts(&upload).await?;
    let parts: Vec<(u64, &str, u64)> = parts.iter().map(|p| (p.number, p.etag.as_str(), p.size)).collect();
    xml(StatusCode::OK, s3xml::parts(&upload.key, &upload.id, &parts))
}

/// `POST /uploads/s3/xml/:id`: CompleteMultipartUpload with the parts Uppy lists, checked
/// against the store; `Location` is a presigned `GET` with `#receipt=<receipt>`.
pub(crate) async fn complete(sign: &Sign, Uploader(caller): Uploader, Path(id): Path<String>, RawBody(body): RawBody) -> Answer {
    let claimed = s3xml::parse_complete(&body)?;
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
    let (upload, receipt) = uploads.complete(upload, &claimed).await?;
    let (location, _) = uploads.download(&upload)?;
    xml(StatusCode::OK, s3xml::completed(&format!("{location}#receipt={receipt}"), &upload.key))
}

/// `DELETE /uploads/s3/xml/:id`: AbortMultipartUpload.
pub(crate) async fn abort(sign: &Sign, Uploader(caller): Uploader, Path(id): Path<String>) -> Answer {
    let uploads = sign.uploads(caller)?;
    let upload = uploads.load(&id)?;
    uploads.abort(upload).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::label;

    #[test]
    fn labels_drop_uppys_uuid_prefix_and_folders() {
        assert_eq!(label("0b5e8a0c-3f0e-4c7e-9a3d-2f1e0d9c8b7a-holiday clip.mp4"), "holiday clip.mp4");
        assert_eq!(label("folder/clip.mp4"), "clip.mp4");
        assert_eq!(label("clip.mp4"), "clip.mp4");
        assert_eq!(label("short-x"), "short-x");
    }
}
