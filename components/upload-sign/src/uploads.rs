//! The upload service: every operation on upload records, the object store and the per-user
//! limits. Both route sets, the native API (`lib.rs`) and the Uppy-compatible one (`uppy.rs`),
//! are thin shapes over these methods.
//!
//! Records live in the key-value store (`upload:<id>`); Redis holds the per-user limits, the
//! expiry index for cleanup, the SHA-256 index for instant upload and open challenges.

use edge_spin::script::{Count, Script};
use std::collections::BTreeMap;
use std::time::Duration;

use edge_auth::receipt::Receipt;
use edge_auth::Principal;
use edge_http::Problem;
use edge_spin::redis::{arg, int, now_ms, text, Decision, Redis};
use edge_spin::{kv_unavailable, number_variable as number};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use spin_sdk::key_value::Store as Kv;

use crate::instant::{self, Challenge};
use crate::plan::{self, CreateRequest, Layout, Limits};
use crate::s3::{self, FormRules, FormUpload, Store, StoredPart};

/// How long a download URL stays valid.
pub(crate) const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);
/// How long a form upload policy stays valid.
const FORM_TTL: Duration = Duration::from_secs(10 * 60);
/// How long an instant-upload challenge may wait for its answer.
const CHALLENGE_TTL_SECS: u64 = 300;
/// Challenges a user may ask for per minute.
const CHALLENGES_PER_MINUTE: u64 = 20;
/// Expired uploads one cleanup call aborts at most (each costs a store round trip).
const CLEANUP_BATCH: u64 = 50;
/// Redis sorted set of active uploads by expiry time.
const EXPIRING: &str = "uploads:expiring";

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum State {
    /// Parts may be signed and uploaded.
    Active,
    /// The object exists; the receipt is issued.
    Complete,
    /// Given up by its owner or by cleanup.
    Aborted,
}

/// An upload record (`upload:<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Upload {
    /// Our id (32 hex).
    pub id: String,
    /// The user who owns it.
    pub owner: String,
    /// Object key in the bucket.
    pub key: String,
    /// Display filename.
    pub filename: String,
    /// Declared size; `None` when the client did not say (Uppy).
    pub size: Option<u64>,
    /// MIME type.
    pub content_type: String,
    /// Declared whole-file SHA-256 (hex).
    pub sha256: Option<String>,
    /// Part layout, when the size is known.
    pub layout: Option<Layout>,
    /// The store's multipart upload id; `None` for an instant upload.
    pub s3_upload_id: Option<String>,
    /// Creation time, ms since the Unix epoch.
    pub created_at: u64,
    /// After this an unfinished upload may be aborted by cleanup.
    pub expires_at: u64,
    /// Where it stands.
    pub state: State,
    /// The signed receipt once complete.
    pub receipt: Option<String>,
}

impl Upload {
    /// The record as clients see it.
    pub(crate) fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id, "key": self.key, "filename": self.filename, "size": self.size,
            "content_type": self.content_type, "sha256": self.sha256,
            "part_size": self.layout.as_ref().map(|l| l.part_size),
            "part_count": self.layout.as_ref().map(|l| l.part_count),
            "created_at": self.created_at, "expires_at": self.expires_at, "state": self.state,
        })
    }

    /// The highest part number this upload may use.
    pub(crate) fn max_part(&self) -> u64 {
        self.layout.as_ref().map_or(plan::MAX_PARTS, |l| l.part_count)
    }
}

/// One presigned part upload.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SignedPart {
    /// 1-based part number.
    pub part_number: u64,
    /// Presigned `PUT` URL.
    pub url: String,
    /// Headers the browser must send with it (a bound checksum).
    pub headers: BTreeMap<String, String>,
    /// Bytes this part must hold, when the layout is known.
    pub size: Option<u64>,
}

/// Admits a new upload against the per-user limits, all or nothing. KEYS: active set, daily
/// bytes, expiry index; ARGV: upload id, size, max active, max bytes per day, expiry. Answers
/// 0, or 1 (too many active), or 2 (over the daily bytes).
static ADMIT: Script = Script::new("admit", include_str!("scripts/admit.lua"), Count::Exactly(3), Count::Exactly(5));

/// Charges bytes to the daily counter unless that would pass the limit. KEYS: daily bytes;
/// ARGV: bytes, max. Answers 0 (charged) or 2 (over).
static CHARGE: Script = Script::new("charge", include_str!("scripts/charge.lua"), Count::Exactly(1), Count::Exactly(2));

/// Takes a finished upload out of the active set and the expiry index. KEYS: active set,
/// expiry index; ARGV: upload id.
static FINISH: Script = Script::new("finish", include_str!("scripts/finish.lua"), Count::Exactly(2), Count::Exactly(1));

fn active_key(owner: &str) -> String {
    format!("uploads:active:{owner}")
}

fn daily_key(owner: &str) -> String {
    format!("uploads:bytes:{owner}:{}", now_ms() / 86_400_000)
}

fn over_daily(max_daily: u64) -> Problem {
    Problem::too_many_requests("daily-upload-limit", format!("you can upload {max_daily} bytes per day (max_upload_bytes_per_day)"), 3600)
        .with("limit", max_daily)
}

fn no_upload() -> Problem {
    Problem::not_found("no-such-upload", "you have no upload with this id")
}

/// Sends one request to the object store.
pub(crate) async fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Problem> {
    spin_sdk::http::send::<_, http::Response<Vec<u8>>>(request)
        .await
        .map_err(|e| Problem::unavailable("storage-unavailable", format!("the object store did not answer ({e}); retry shortly")))
}

/// The service for one authenticated caller.
pub(crate) struct Uploads<'a> {
    store: &'a Store,
    redis: &'a Redis,
    /// Opened on first use: most part-signing requests never touch it.
    kv: edge_spin::Lazy<Kv>,
    principal: Principal,
}

impl<'a> Uploads<'a> {
    /// The service acting for `principal`.
    pub(crate) fn new(store: &'a Store, redis: &'a Redis, principal: Principal) -> Self {
        Uploads { store, redis, kv: edge_spin::Lazy::default(), principal }
    }

    fn kv(&self) -> Result<&Kv, Problem> {
        self.kv.get_or_try(|| Kv::open_default().map_err(kv_unavailable))
    }

    /// How long a signed part URL stays valid (`part_url_ttl_secs`).
    pub(crate) fn part_url_ttl() -> Result<Duration, Problem> {
        Ok(Duration::from_secs(number("part_url_ttl_secs", 1..=7 * 86_400)?))
    }

    fn limits() -> Result<Limits, Problem> {
        Ok(Limits {
            max_size: number("max_upload_bytes", 1..=plan::MAX_PART * plan::MAX_PARTS)?,
            content_types: edge_spin::variable("allowed_content_types")?
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        })
    }

    fn max_daily() -> Result<u64, Problem> {
        number("max_upload_bytes_per_day", 1..=u64::MAX)
    }

    fn read(&self, id: &str) -> Result<Option<Upload>, Problem> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        self.kv()?.get_json(format!("upload:{id}")).map_err(kv_unavailable)
    }

    /// The caller's upload; someone else's (or none) is 404 alike.
    pub(crate) fn load(&self, id: &str) -> Result<Upload, Problem> {
        match self.read(id)? {
            Some(upload) if upload.owner == self.principal.user_id => Ok(upload),
            _ => Err(no_upload()),
        }
    }

    fn save(&self, upload: &Upload) -> Result<(), Problem> {
        self.kv()?.set_json(format!("upload:{}", upload.id), upload).map_err(kv_unavailable)
    }

    /// Refuses an upload that can no longer take parts.
    fn usable(upload: &Upload) -> Result<(), Problem> {
        match upload.state {
            State::Active if now_ms() > upload.expires_at => {
                Err(Problem::conflict("upload-expired", "this upload expired; start a new one"))
            }
            State::Active => Ok(()),
            State::Complete => Err(Problem::conflict("upload-complete", "this upload is already complete")),
            State::Aborted => Err(Problem::conflict("upload-aborted", "this upload was aborted; start a new one")),
        }
    }

    /// Starts a multipart upload.
    pub(crate) async fn create(&self, body: CreateRequest) -> Result<Upload, Problem> {
        let filename = plan::validate(&body, &Self::limits()?)?;
        let layout = body.size.map(|size| plan::layout(size, body.part_size)).transpose()?;
        let owner = self.principal.user_id.clone();
        let id = edge_http::random_id();
        let max_active = number("max_active_uploads", 1..=10_000)?;
        let max_daily = Self::max_daily()?;
        let daily = daily_key(&owner);
        let now = now_ms();
        let expires_at = now + number("upload_ttl_secs", 1..=30 * 86_400)? * 1000;
        // An upload of unknown size is charged when it completes.
        let charged = body.size.unwrap_or(0);
        let keys = [active_key(&owner), daily.clone(), EXPIRING.to_owned()];
        let admitted = self.redis.run(&ADMIT, &keys, vec![arg(&id), arg(charged), arg(max_active), arg(max_daily), arg(expires_at)])?;
        match admitted.first().and_then(int) {
            Some(0) => {}
            Some(1) => {
                return Err(Problem::too_many_requests(
                    "too-many-active-uploads",
                    format!("finish or abort an upload first: at most {max_active} at once (max_active_uploads)"),
                    60,
                )
                .with("limit", max_active))
            }
            _ => return Err(over_daily(max_daily)),
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
                self.redis.run(&FINISH, &[active_key(&owner).as_str(), EXPIRING], vec![arg(&id)])?;
                self.redis.exec("DECRBY", &[arg(&daily), arg(charged)])?;
                return Err(problem);
            }
        };
        let upload = Upload {
            id,
            owner,
            key,
            filename,
            size: body.size,
            content_type,
            sha256: body.sha256.map(|s| s.to_ascii_lowercase()),
            layout,
            s3_upload_id: Some(s3_upload_id),
            created_at: now,
            expires_at,
            state: State::Active,
            receipt: None,
        };
        self.save(&upload)?;
        Ok(upload)
    }

    /// Presigned part URLs for `numbers`, each optionally bound to a base64 SHA-256.
    pub(crate) fn sign(&self, upload: &Upload, numbers: &[u64], checksums: &BTreeMap<String, String>) -> Result<Vec<SignedPart>, Problem> {
        Self::usable(upload)?;
        plan::check_part_numbers(numbers, checksums, upload.max_part())?;
        let s3_id = upload.s3_upload_id.as_deref().unwrap_or_default();
        let ttl = Self::part_url_ttl()?;
        let signed = numbers.iter().map(|&n| {
            let checksum = checksums.get(&n.to_string()).map(String::as_str);
            let (url, headers) = self.store.sign_part(&upload.key, s3_id, n as u16, checksum, ttl);
            let size = match (&upload.layout, upload.size) {
                (Some(layout), Some(total)) => layout.part_len(n, total),
                _ => None,
            };
            SignedPart { part_number: n, url, headers: headers.into_iter().collect(), size }
        });
        Ok(signed.collect())
    }

    /// Every part the store holds for this upload, across `ListParts` pages.
    pub(crate) async fn stored_parts(&self, upload: &Upload) -> Result<Vec<StoredPart>, Problem> {
        let s3_id = upload.s3_upload_id.as_deref().unwrap_or_default();
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let reply = send(self.store.list_parts(&upload.key, s3_id, marker)).await?;
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
                _ => {
                    // S3 lists in part order; some compatible stores (s3s-fs) in directory order.
                    parts.sort_by_key(|p| p.number);
                    return Ok(parts);
                }
            }
        }
    }

    /// Checks the claimed `(part number, ETag)` list against the store and the plan, completes
    /// the object and issues the receipt. Completing a complete upload returns its receipt.
    pub(crate) async fn complete(&self, mut upload: Upload, claimed: &[(u64, String)]) -> Result<(Upload, String), Problem> {
        if let (State::Complete, Some(receipt)) = (upload.state, &upload.receipt) {
            let receipt = receipt.clone();
            return Ok((upload, receipt));
        }
        Self::usable(&upload)?;
        let stored = self.stored_parts(&upload).await?;
        let plan::Checked { etags, total } = plan::check_parts(upload.layout.as_ref(), upload.size, claimed, &stored)?;
        let unsized_charge = match upload.size {
            Some(_) => None,
            None => {
                plan::check_size(total, Self::limits()?.max_size)?;
                let max_daily = Self::max_daily()?;
                let daily = daily_key(&upload.owner);
                if self.redis.run(&CHARGE, &[&daily], vec![arg(total), arg(max_daily)])?.first().and_then(int) != Some(0) {
                    return Err(over_daily(max_daily));
                }
                Some(daily)
            }
        };
        let s3_id = upload.s3_upload_id.clone().unwrap_or_default();
        let completed = match send(self.store.complete(&upload.key, &s3_id, &etags)).await {
            Ok(reply) if reply.status().is_success() => Store::parse_complete(reply.body()),
            Ok(reply) => Err(s3::bad_gateway(format!("the store refused to complete (HTTP {})", reply.status().as_u16()))),
            Err(problem) => Err(problem),
        };
        let etag = match completed {
            Ok(etag) => etag,
            Err(problem) => {
                if let Some(daily) = unsized_charge {
                    self.redis.exec("DECRBY", &[arg(daily), arg(total)])?;
                }
                return Err(problem);
            }
        };
        upload.size = Some(total);
        let receipt = self.receipt(&upload, etag)?;
        upload.state = State::Complete;
        upload.receipt = Some(receipt.clone());
        self.save(&upload)?;
        self.redis.run(&FINISH, &[active_key(&upload.owner).as_str(), EXPIRING], vec![arg(&upload.id)])?;
        if let Some(sha) = &upload.sha256 {
            self.redis.exec("SET", &[arg(format!("uploads:sha256:{sha}:{total}")), arg(&upload.key)])?;
        }
        Ok((upload, receipt))
    }

    fn receipt(&self, upload: &Upload, etag: String) -> Result<String, Problem> {
        Ok(Receipt {
            upload_id: upload.id.clone(),
            key: upload.key.clone(),
            size: upload.size.unwrap_or(0),
            sha256: upload.sha256.clone(),
            owner: upload.owner.clone(),
            content_type: upload.content_type.clone(),
            etag,
            completed_at: now_ms(),
        }
        .sign(edge_spin::variable("upload_receipt_key")?.as_bytes()))
    }

    /// Aborts an active upload in the store and records it.
    pub(crate) async fn abort(&self, mut upload: Upload) -> Result<Upload, Problem> {
        if upload.state != State::Active {
            Self::usable(&upload)?;
        }
        let s3_id = upload.s3_upload_id.clone().unwrap_or_default();
        let reply = send(self.store.abort(&upload.key, &s3_id)).await?;
        if !reply.status().is_success() && reply.status() != StatusCode::NOT_FOUND {
            return Err(s3::bad_gateway(format!("the store refused to abort (HTTP {})", reply.status().as_u16())));
        }
        upload.state = State::Aborted;
        self.save(&upload)?;
        self.redis.run(&FINISH, &[active_key(&upload.owner).as_str(), EXPIRING], vec![arg(&upload.id)])?;
        Ok(upload)
    }

    /// A short-lived download URL for a complete upload and when it expires.
    pub(crate) fn download(&self, upload: &Upload) -> Result<(String, u64), Problem> {
        if upload.state != State::Complete {
            return Err(Problem::conflict("upload-not-complete", "the upload is not complete yet"));
        }
        Ok((self.store.sign_get(&upload.key, DOWNLOAD_URL_TTL), now_ms() + DOWNLOAD_URL_TTL.as_millis() as u64))
    }

    /// A form upload policy for a small file (a cover): exactly `size` bytes when declared,
    /// else anything up to the form limit, which is then what the daily quota is charged.
    pub(crate) fn form(&self, filename: &str, content_type: &str, size: Option<u64>) -> Result<(String, FormUpload, u64), Problem> {
        plan::clean_filename(filename)?;
        let limits = Self::limits()?;
        plan::check_content_type(content_type, &limits)?;
        let max = limits.max_size.min(plan::MAX_FORM_UPLOAD);
        if let Some(size) = size {
            plan::check_size(size, limits.max_size)?;
            if size > plan::MAX_FORM_UPLOAD {
                return Err(Problem::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "use-multipart",
                    format!("form uploads carry at most {} bytes; start a multipart upload", plan::MAX_FORM_UPLOAD),
                )
                .with("limit", plan::MAX_FORM_UPLOAD));
            }
        }
        let max_daily = Self::max_daily()?;
        let charged = size.unwrap_or(max);
        if self.redis.run(&CHARGE, &[&daily_key(&self.principal.user_id)], vec![arg(charged), arg(max_daily)])?.first().and_then(int)
            != Some(0)
        {
            return Err(over_daily(max_daily));
        }
        let content_type = content_type.trim().to_ascii_lowercase();
        let key = plan::object_key(&self.principal.user_id, &edge_http::random_id(), &content_type);
        let rules = FormRules { key: &key, content_type: &content_type, min_size: size.unwrap_or(1), max_size: size.unwrap_or(max) };
        let form = self.store.form_upload(&rules, now_ms() / 1000, FORM_TTL);
        Ok((key, form, now_ms() + FORM_TTL.as_millis() as u64))
    }

    /// Issues an instant-upload challenge for a file the caller says it has.
    pub(crate) fn challenge(&self, body: &CreateRequest) -> Result<(String, Challenge), Problem> {
        let filename = plan::validate(body, &Self::limits()?)?;
        let (Some(size), Some(sha256)) = (body.size, body.sha256.as_ref()) else {
            return Err(Problem::bad_request("missing-fields", "instant upload needs the file's size and sha256").with("field", "sha256"));
        };
        let limit_key = format!("uploads:challenges:{}", self.principal.user_id);
        if let Decision::Limited { retry_after } =
            self.redis.limit(&[(&limit_key, CHALLENGES_PER_MINUTE)], 60_000, &edge_http::random_id())?
        {
            return Err(Problem::too_many_requests(
                "too-many-challenges",
                format!("at most {CHALLENGES_PER_MINUTE} instant-upload attempts a minute"),
                retry_after,
            )
            .with("limit", CHALLENGES_PER_MINUTE));
        }
        let random = u64::from_str_radix(&edge_http::random_id()[..16], 16).unwrap_or(0);
        let (offset, length) = instant::pick_range(size, random);
        let challenge = Challenge {
            owner: self.principal.user_id.clone(),
            sha256: sha256.to_ascii_lowercase(),
            size,
            filename,
            content_type: body.content_type.trim().to_ascii_lowercase(),
            offset,
            length,
            nonce: edge_http::random_id(),
        };
        let id = edge_http::random_id();
        let stored = serde_json::to_string(&challenge).unwrap_or_default();
        self.redis.exec("SET", &[arg(format!("uploads:challenge:{id}")), arg(stored), arg("EX"), arg(CHALLENGE_TTL_SECS)])?;
        Ok((id, challenge))
    }

    /// Checks an answer against the stored object; on success the caller owns a complete
    /// upload of that object. Each challenge is answered at most once.
    pub(crate) async fn answer(&self, challenge_id: &str, given: &str) -> Result<(Upload, String), Problem> {
        let gone = || Problem::not_found("no-such-challenge", "this challenge is unknown, used or expired; ask for a new one");
        if challenge_id.len() != 32 || !challenge_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(gone());
        }
        let taken = self.redis.exec("GETDEL", &[arg(format!("uploads:challenge:{challenge_id}"))])?;
        let challenge: Challenge = taken.first().and_then(text).and_then(|t| serde_json::from_str(&t).ok()).ok_or_else(gone)?;
        if challenge.owner != self.principal.user_id {
            return Err(gone());
        }
        let refused = || Problem::forbidden("challenge-failed", "no stored file matches this answer; upload the file normally");
        let found = self.redis.exec("GET", &[arg(format!("uploads:sha256:{}:{}", challenge.sha256, challenge.size))])?;
        let Some(key) = found.first().and_then(text) else {
            return Err(refused());
        };
        let reply = send(self.store.get_range(&key, challenge.offset, challenge.length)).await?;
        let total = reply
            .headers()
            .get(http::header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit('/').next())
            .and_then(|v| v.parse::<u64>().ok());
        let whole = reply.status() == StatusCode::OK && reply.body().len() as u64 == challenge.size;
        let matches = (reply.status() == StatusCode::PARTIAL_CONTENT && total == Some(challenge.size)) || whole;
        if !matches || reply.body().len() as u64 != challenge.length || !instant::is_answer(&challenge.nonce, reply.body(), given) {
            return Err(refused());
        }
        let etag = reply.headers().get(http::header::ETAG).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        let now = now_ms();
        let mut upload = Upload {
            id: edge_http::random_id(),
            owner: challenge.owner,
            key,
            filename: challenge.filename,
            size: Some(challenge.size),
            content_type: challenge.content_type,
            sha256: Some(challenge.sha256),
            layout: None,
            s3_upload_id: None,
            created_at: now,
            expires_at: now,
            state: State::Complete,
            receipt: None,
        };
        let receipt = self.receipt(&upload, etag)?;
        upload.receipt = Some(receipt.clone());
        self.save(&upload)?;
        Ok((upload, receipt))
    }

    /// Aborts up to a batch of expired unfinished uploads of any owner (the route admits only
    /// administrators). Answers how many were aborted and whether more are waiting.
    pub(crate) async fn cleanup(&self) -> Result<(u64, bool), Problem> {
        let due = self
            .redis
            .exec("ZRANGEBYSCORE", &[arg(EXPIRING), arg("-inf"), arg(now_ms()), arg("LIMIT"), arg(0u64), arg(CLEANUP_BATCH + 1)])?;
        let ids: Vec<String> = due.iter().filter_map(text).collect();
        let mut aborted = 0;
        for id in ids.iter().take(CLEANUP_BATCH as usize) {
            match self.read(id)? {
                Some(upload) if upload.state == State::Active => {
                    let owner = upload.owner.clone();
                    let s3_id = upload.s3_upload_id.clone().unwrap_or_default();
                    let reply = send(self.store.abort(&upload.key, &s3_id)).await?;
                    if !reply.status().is_success() && reply.status() != StatusCode::NOT_FOUND {
                        return Err(s3::bad_gateway(format!("the store refused to abort (HTTP {})", reply.status().as_u16())));
                    }
                    self.save(&Upload { state: State::Aborted, ..upload })?;
                    self.redis.run(&FINISH, &[active_key(&owner).as_str(), EXPIRING], vec![arg(id)])?;
                    aborted += 1;
                }
                _ => {
                    self.redis.exec("ZREM", &[arg(EXPIRING), arg(id)])?;
                }
            }
        }
        Ok((aborted, ids.len() as u64 > CLEANUP_BATCH))
    }
}
