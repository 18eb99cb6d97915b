//! upload-sign: presigned multipart uploads straight from the browser to MinIO/S3. The edge
//! never carries file bytes: it plans the upload, signs part URLs, reads the store's own list
//! of parts to resume and to verify before completing, and signs a receipt.
//!
//! Routes: `/uploads/...`. Upload records live in the key-value store (`upload:<id>`); per-user
//! limits in Redis (one Lua script).

pub mod plan;
pub mod receipt;
pub mod s3;

use std::time::Duration;

use edge_auth::Principal;
use edge_http::{json_body, json_response, Problem, Request, Response, Router};
use edge_spin::redis::{arg, int, now_ms, Redis};
use edge_spin::{auth as bearer, health};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::key_value::Store as Kv;

use crate::plan::{CreateRequest, Layout, Limits};
use crate::receipt::Receipt;
use crate::s3::{Store, StoredPart};

/// Largest JSON body an upload endpoint reads (a complete request lists up to 10,000 parts).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How long a signed part URL stays valid.
const PART_URL_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a download URL stays valid.
const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);
/// How long an upload may stay unfinished before cleanup may abort it.
const UPLOAD_TTL_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    Create,
    Status,
    Sign,
    Complete,
    Abort,
    Download,
}

fn router() -> Router<Endpoint> {
    Router::new()
        .route(Method::GET, "/uploads/health", Endpoint::Health)
        .route(Method::POST, "/uploads", Endpoint::Create)
        .route(Method::GET, "/uploads/:id", Endpoint::Status)
        .route(Method::DELETE, "/uploads/:id", Endpoint::Abort)
        .route(Method::POST, "/uploads/:id/parts", Endpoint::Sign)
        .route(Method::POST, "/uploads/:id/complete", Endpoint::Complete)
        .route(Method::GET, "/uploads/:id/download", Endpoint::Download)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, params) = router().find(request.method(), request.uri().path())?;
    let store = Store::from_variables()?;
    if let Endpoint::Health = endpoint {
        let redis = edge_spin::variable("redis_address")?;
        let bucket = health::http("s3", store.head_bucket(), |status| status.is_success()).await;
        return Ok(health::report("upload-sign", vec![health::key_value("default"), health::redis(&redis), bucket]));
    }
    let redis = Redis::open()?;
    let principal = bearer::authenticate(&request, &bearer::verifier()?, &redis)?;
    let uploads = Uploads { store, redis, kv: Kv::open_default().map_err(kv_unavailable)?, principal };
    let id = params.get("id").unwrap_or("");
    match endpoint {
        Endpoint::Health => unreachable!("answered above"),
        Endpoint::Create => uploads.create(&request).await,
        Endpoint::Status => uploads.status(id).await,
        Endpoint::Sign => uploads.sign(&request, id),
        Endpoint::Complete => uploads.complete(&request, id).await,
        Endpoint::Abort => uploads.abort(id).await,
        Endpoint::Download => uploads.download(id),
    }
}

fn kv_unavailable(error: impl std::fmt::Display) -> Problem {
    Problem::unavailable("store-unavailable", format!("the upload store did not answer ({error}); retry shortly"))
}

fn misconfigured(detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "misconfigured", detail)
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum State {
    Active,
    Complete,
    Aborted,
}

/// An upload record (`upload:<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Upload {
    id: String,
    owner: String,
    key: String,
    filename: String,
    size: u64,
    content_type: String,
    sha256: Option<String>,
    #[serde(flatten)]
    layout: Layout,
    s3_upload_id: String,
    created_at: u64,
    expires_at: u64,
    state: State,
    receipt: Option<String>,
}

impl Upload {
    fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id, "key": self.key, "filename": self.filename, "size": self.size,
            "content_type": self.content_type, "sha256": self.sha256,
            "part_size": self.layout.part_size, "part_count": self.layout.part_count,
            "created_at": self.created_at, "expires_at": self.expires_at, "state": self.state,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    part_numbers: Vec<u64>,
    /// Base64 SHA-256 per part number, bound into that part's signature.
    #[serde(default)]
    checksums: std::collections::BTreeMap<String, String>,
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

/// Admits a new upload against the per-user limits, all or nothing: KEYS = [active set, daily
/// bytes]; ARGV = upload id, size, max active, max bytes per day. Answers 0, or 1 (too many
/// active), or 2 (over the daily bytes).
const ADMIT: &str = r#"
if redis.call('SCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 1 end
local used = tonumber(redis.call('GET', KEYS[2]) or '0')
if used + tonumber(ARGV[2]) > tonumber(ARGV[4]) then return 2 end
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('INCRBY', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], 172800)
return 0
"#;

fn number(name: &str, default: u64) -> Result<u64, Problem> {
    match spin_sdk::variables::get(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| misconfigured(format!("{name} must be a whole number"))),
        _ => Ok(default),
    }
}

fn active_key(owner: &str) -> String {
    format!("uploads:active:{owner}")
}

async fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Problem> {
    spin_sdk::http::send::<_, http::Response<Vec<u8>>>(request)
        .await
        .map_err(|e| Problem::unavailable("storage-unavailable", format!("the object store did not answer ({e}); retry shortly")))
}

struct Uploads {
    store: Store,
    redis: Redis,
    kv: Kv,
    principal: Principal,
}

impl Uploads {
    /// The caller's upload; someone else's (or none) is 404 alike.
    fn load(&self, id: &str) -> Result<Upload, Problem> {
        let not_found = || Problem::not_found("no-such-upload", "you have no upload with this id");
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let upload: Upload = self.kv.get_json(format!("upload:{id}")).map_err(kv_unavailable)?.ok_or_else(not_found)?;
        if upload.owner != self.principal.user_id {
            return Err(not_found());
        }
        Ok(upload)
    }

    fn save(&self, upload: &Upload) -> Result<(), Problem> {
        self.kv.set_json(format!("upload:{}", upload.id), upload).map_err(kv_unavailable)
    }

    fn active(upload: &Upload) -> Result<(), Problem> {
        match upload.state {
            State::Active => Ok(()),
            State::Complete => Err(Problem::conflict("upload-complete", "this upload is already complete")),
            State::Aborted => Err(Problem::conflict("upload-aborted", "this upload was aborted; start a new one")),
        }
    }

    async fn create(&self, request: &Request) -> Result<Response, Problem> {
        let body: CreateRequest = json_body(request, BODY_LIMIT)?;
        let limits = Limits {
            max_size: number("max_upload_bytes", 10 * 1024 * 1024 * 1024)?,
            content_types: edge_spin::variable("allowed_content_types")?.split(',').map(|t| t.trim().to_ascii_lowercase()).filter(|t| !t.is_empty()).collect(),
        };
        let filename = plan::validate(&body, &limits)?;
        let layout = plan::layout(body.size, body.part_size)?;
        let owner = self.principal.user_id.clone();
        let id = edge_http::random_id();
        let max_active = number("max_active_uploads", 5)?;
        let max_daily = number("max_upload_bytes_per_day", 50 * 1024 * 1024 * 1024)?;
        let day = now_ms() / 86_400_000;
        let daily_key = format!("uploads:bytes:{owner}:{day}");
        let admitted = self.redis.eval(ADMIT, &[&active_key(&owner), &daily_key], vec![arg(&id), arg(body.size), arg(max_active), arg(max_daily)])?;
        match admitted.first().and_then(int) {
            Some(0) => {}
            Some(1) => {
                return Err(Problem::too_many_requests("too-many-active-uploads", format!("finish or abort an upload first: at most {max_active} at once (max_active_uploads)"), 60)
                    .with("limit", max_active))
            }
            _ => {
                return Err(Problem::too_many_requests("daily-upload-limit", format!("you can upload {max_daily} bytes per day (max_upload_bytes_per_day)"), 3600)
                    .with("limit", max_daily))
            }
        }
        let content_type = body.content_type.trim().to_ascii_lowercase();
        let key = plan::object_key(&owner, &id, &content_type);
        let created = match send(self.store.create_multipart(&key, &content_type)).await {
            Ok(r) if r.status().is_success() => Store::parse_create(r.body()),
            Ok(r) => Err(s3::bad_gateway(format!("the store refused to start the upload (HTTP {})", r.status().as_u16()))),
            Err(e) => Err(e),
        };
        let s3_upload_id = match created {
            Ok(s3_id) => s3_id,
            Err(problem) => {
                // Give back what was reserved so a store outage does not eat the user's quota.
                self.redis.exec("SREM", &[arg(active_key(&owner)), arg(&id)])?;
                self.redis.exec("DECRBY", &[arg(&daily_key), arg(body.size)])?;
                return Err(problem);
            }
        };
        let now = now_ms();
        let upload = Upload {
            id,
            owner,
            key,
            filename,
            size: body.size,
            content_type,
            sha256: body.sha256.map(|s| s.to_ascii_lowercase()),
            layout,
            s3_upload_id,
            created_at: now,
            expires_at: now + UPLOAD_TTL_MS,
            state: State::Active,
            receipt: None,
        };
        self.save(&upload)?;
        Ok(json_response(StatusCode::CREATED, &upload.view()))
    }

    fn sign(&self, request: &Request, id: &str) -> Result<Response, Problem> {
        let body: SignBody = json_body(request, BODY_LIMIT)?;
        let upload = self.load(id)?;
        Self::active(&upload)?;
        if body.part_numbers.is_empty() || body.part_numbers.len() as u64 > upload.layout.part_count {
            return Err(Problem::bad_request("invalid-part-numbers", format!("ask for 1 to {} part numbers", upload.layout.part_count)));
        }
        let mut parts = Vec::with_capacity(body.part_numbers.len());
        for &n in &body.part_numbers {
            if n == 0 || n > upload.layout.part_count {
                return Err(Problem::bad_request("invalid-part-number", format!("part numbers run from 1 to {}", upload.layout.part_count))
                    .with("part_number", n));
            }
            let checksum = body.checksums.get(&n.to_string()).map(String::as_str);
            if let Some(sum) = checksum {
                let valid = sum.len() == 44 && sum.ends_with('=') && sum.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
                if !valid {
                    return Err(Problem::bad_request("invalid-checksum", "a part checksum is the base64 SHA-256 of its bytes").with("part_number", n));
                }
            }
            let (url, headers) = self.store.sign_part(&upload.key, &upload.s3_upload_id, n as u16, checksum, PART_URL_TTL);
            let headers: serde_json::Map<String, serde_json::Value> = headers.into_iter().map(|(k, v)| (k, v.into())).collect();
            let size = upload.layout.part_len(n, upload.size);
            parts.push(json!({ "part_number": n, "url": url, "headers": headers, "size": size }));
        }
        let expires_at = now_ms() + PART_URL_TTL.as_millis() as u64;
        Ok(json_response(StatusCode::OK, &json!({ "parts": parts, "expires_at": expires_at })))
    }

    /// Every part the store holds for this upload, across `ListParts` pages.
    async fn stored_parts(&self, upload: &Upload) -> Result<Vec<StoredPart>, Problem> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let reply = send(self.store.list_parts(&upload.key, &upload.s3_upload_id, marker)).await?;
            if reply.status() == StatusCode::NOT_FOUND {
                return Err(Problem::conflict("upload-gone", "the store no longer has this upload (expired or aborted); start a new one"));
            }
            if !reply.status().is_success() {
                return Err(s3::bad_gateway(format!("ListParts failed (HTTP {})", reply.status().as_u16())));
            }
            let page = Store::parse_parts(reply.body())?;
            parts.extend(page.parts);
            match page.next_marker {
                Some(next) if Some(next) != marker => marker = Some(next),
                _ => return Ok(parts),
            }
        }
    }

    async fn status(&self, id: &str) -> Result<Response, Problem> {
        let upload = self.load(id)?;
        let mut view = upload.view();
        if upload.state == State::Active {
            let parts = self.stored_parts(&upload).await?;
            let have: std::collections::BTreeSet<u64> = parts.iter().map(|p| p.number).collect();
            let missing: Vec<u64> = (1..=upload.layout.part_count).filter(|n| !have.contains(n)).collect();
            view["uploaded_bytes"] = json!(parts.iter().map(|p| p.size).sum::<u64>());
            view["parts"] = json!(parts.iter().map(|p| json!({ "part_number": p.number, "etag": p.etag, "size": p.size })).collect::<Vec<_>>());
            view["missing_parts"] = json!(missing);
        } else if let Some(receipt) = &upload.receipt {
            view["receipt"] = json!(receipt);
        }
        Ok(json_response(StatusCode::OK, &view))
    }

    async fn complete(&self, request: &Request, id: &str) -> Result<Response, Problem> {
        let body: CompleteBody = json_body(request, BODY_LIMIT)?;
        let mut upload = self.load(id)?;
        if let (State::Complete, Some(receipt)) = (upload.state, &upload.receipt) {
            return Ok(json_response(StatusCode::OK, &json!({ "upload": upload.view(), "receipt": receipt })));
        }
        Self::active(&upload)?;
        let stored = self.stored_parts(&upload).await?;
        let count = upload.layout.part_count;
        let mut etags = Vec::with_capacity(count as usize);
        for n in 1..=count {
            let claimed = body.parts.iter().find(|p| p.part_number == n).ok_or_else(|| {
                Problem::bad_request("missing-part", format!("part {n} is not in the list; every part from 1 to {count} is needed")).with("part_number", n)
            })?;
            let held = stored.iter().find(|p| p.number == n).ok_or_else(|| {
                Problem::conflict("part-not-uploaded", format!("the store has no part {n}; upload it, then complete")).with("part_number", n)
            })?;
            if held.etag.trim_matches('"') != claimed.etag.trim_matches('"') {
                return Err(Problem::conflict("etag-mismatch", format!("part {n}'s ETag differs from the store's; upload it again or send the store's ETag"))
                    .with("part_number", n));
            }
            let expected = upload.layout.part_len(n, upload.size).unwrap_or(0);
            if held.size != expected {
                return Err(Problem::conflict("part-size-mismatch", format!("part {n} holds {} bytes, the plan says {expected}", held.size))
                    .with("part_number", n));
            }
            etags.push(held.etag.clone());
        }
        if body.parts.len() as u64 != count || body.parts.iter().any(|p| p.part_number == 0 || p.part_number > count) {
            return Err(Problem::bad_request("invalid-part-list", format!("list each part from 1 to {count} exactly once")));
        }
        let total: u64 = stored.iter().filter(|p| p.number <= count).map(|p| p.size).sum();
        if total != upload.size {
            return Err(Problem::conflict("size-mismatch", format!("the parts hold {total} bytes, {} were declared", upload.size)));
        }
        let reply = send(self.store.complete(&upload.key, &upload.s3_upload_id, &etags)).await?;
        if !reply.status().is_success() {
            return Err(s3::bad_gateway(format!("the store refused to complete (HTTP {})", reply.status().as_u16())));
        }
        let etag = Store::parse_complete(reply.body())?;
        let receipt = Receipt {
            upload_id: upload.id.clone(),
            key: upload.key.clone(),
            size: upload.size,
            sha256: upload.sha256.clone(),
            owner: upload.owner.clone(),
            content_type: upload.content_type.clone(),
            etag,
            completed_at: now_ms(),
        }
        .sign(edge_spin::variable("upload_receipt_key")?.as_bytes());
        upload.state = State::Complete;
        upload.receipt = Some(receipt.clone());
        self.save(&upload)?;
        self.redis.exec("SREM", &[arg(active_key(&upload.owner)), arg(&upload.id)])?;
        Ok(json_response(StatusCode::OK, &json!({ "upload": upload.view(), "receipt": receipt })))
    }

    async fn abort(&self, id: &str) -> Result<Response, Problem> {
        let mut upload = self.load(id)?;
        Self::active(&upload)?;
        let reply = send(self.store.abort(&upload.key, &upload.s3_upload_id)).await?;
        if !reply.status().is_success() && reply.status() != StatusCode::NOT_FOUND {
            return Err(s3::bad_gateway(format!("the store refused to abort (HTTP {})", reply.status().as_u16())));
        }
        upload.state = State::Aborted;
        self.save(&upload)?;
        self.redis.exec("SREM", &[arg(active_key(&upload.owner)), arg(&upload.id)])?;
        let mut response = http::Response::new(Vec::new());
        *response.status_mut() = StatusCode::NO_CONTENT;
        Ok(response)
    }

    fn download(&self, id: &str) -> Result<Response, Problem> {
        let upload = self.load(id)?;
        if upload.state != State::Complete {
            return Err(Problem::conflict("upload-not-complete", "the upload is not complete yet"));
        }
        let url = self.store.sign_get(&upload.key, DOWNLOAD_URL_TTL);
        let expires_at = now_ms() + DOWNLOAD_URL_TTL.as_millis() as u64;
        Ok(json_response(StatusCode::OK, &json!({ "url": url, "expires_at": expires_at })))
    }
}
