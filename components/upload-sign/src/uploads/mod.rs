//! The upload operations: every rule about upload records, the object store and the per-user
//! limits, one file per action (`create`, `parts`, `finish`, `form`, `instant`). Both route
//! sets, the native API and the Uppy-compatible one, are thin shapes over these methods.
//!
//! The operations are pure over [`Ports`]: the Spin adapter ([`crate::adapter`]) keeps records
//! in the key-value store (`upload:<id>`), the per-user limits, the expiry index, the SHA-256
//! index and open challenges in Redis, and talks S3 to the store; the tests use memory.

mod create;
mod finish;
mod form;
mod instant;
mod parts;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use edge_auth::Principal;
use edge_http::setting::Source;
use edge_http::Problem;
use edge_protocol::receipt::Receipt;
use edge_spin::redis::Decision;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::instant::Challenge;
use crate::plan::{self, Layout, Limits};
use crate::s3::{Store, StoredPart};
use crate::settings;
use crate::sniff::Format;

/// How long a download URL stays valid.
pub(crate) const DOWNLOAD_URL_TTL: Duration = Duration::from_secs(5 * 60);

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
    /// Completed, but its content did not fit its declared type: the object is deleted and no
    /// receipt issued.
    Rejected,
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
    /// Size in bytes: declared for a multipart upload (its parts are signed for exactly these
    /// bytes); `None` only for records written before sizes were required.
    pub size: Option<u64>,
    /// MIME type.
    pub content_type: String,
    /// The content key the client declared: the upload is checksummed (every part signed with
    /// its SHA-256) so that completion can compute the real one.
    pub content_key: Option<String>,
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
    /// The object's ETag once the store completed it, kept only while its content check
    /// waits for a retry (the read failed), so the retry needs no parts.
    #[serde(default)]
    pub etag: Option<String>,
    /// The content key computed from the store's part digests at completion, kept with `etag`.
    #[serde(default)]
    pub verified_key: Option<String>,
    /// What the content check found when it refused the file.
    #[serde(default)]
    pub detected: Option<Format>,
}

impl Upload {
    /// The record as clients see it.
    pub(crate) fn view(&self) -> serde_json::Value {
        json!({
            "id": self.id, "key": self.key, "filename": self.filename, "size": self.size,
            "content_type": self.content_type, "content_key": self.content_key,
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
    /// Bytes this part must hold (signed: the store refuses any other length).
    pub size: u64,
}

/// Whether [`Ports::admit`] let a new upload in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Counted as active, its bytes charged to the day.
    Admitted,
    /// The owner has `max_active_uploads` unfinished uploads.
    TooManyActive,
    /// The bytes would pass `max_upload_bytes_per_day`.
    OverDaily,
}

/// What a new upload reserves of its owner's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reservation {
    /// The owner.
    pub owner: String,
    /// The upload id.
    pub id: String,
    /// The day its bytes count on.
    pub day: u64,
    /// Its bytes.
    pub bytes: u64,
    /// When cleanup may abort it.
    pub expires_at: u64,
}

/// A ranged read of a stored object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RangeRead {
    /// HTTP status: 206 for the range, 200 when the store sent the whole object.
    pub status: u16,
    /// The object's size from `Content-Range`.
    pub total: Option<u64>,
    /// The bytes.
    pub body: Vec<u8>,
    /// The object's ETag.
    pub etag: String,
}

/// What the operations need from outside: time, randomness, settings (the [`Source`] of
/// [`crate::settings`]), records, the per-user limits and indexes, and the object store.
pub(crate) trait Ports: Source {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// 32 random hex digits.
    fn random_id(&self) -> String;
    /// The bucket and credentials, to presign URLs (no I/O).
    fn store(&self) -> Result<&Store, Problem>;

    /// The upload record `id`.
    fn read(&self, id: &str) -> Result<Option<Upload>, Problem>;
    /// Saves an upload record.
    fn save(&self, upload: &Upload) -> Result<(), Problem>;

    /// Admits a new upload within `max_active` unfinished uploads and `max_daily` bytes, all or
    /// nothing: active count, daily bytes, and the expiry index (cleanup's).
    fn admit(&self, new: &Reservation, max_active: u64, max_daily: u64) -> Result<Admission, Problem>;
    /// Charges `bytes` to `owner`'s `day` unless that passes `max_daily`; false when it would.
    fn charge(&self, owner: &str, day: u64, bytes: u64, max_daily: u64) -> Result<bool, Problem>;
    /// Gives back `bytes` charged on `day`.
    fn refund(&self, owner: &str, day: u64, bytes: u64) -> Result<(), Problem>;
    /// Takes upload `id` out of the owner's active set and the expiry index.
    fn finish(&self, owner: &str, id: &str) -> Result<(), Problem>;
    /// Uploads whose expiry is before `now`, at most `limit`.
    fn due(&self, now: u64, limit: u64) -> Result<Vec<String>, Problem>;
    /// Takes `id` off the expiry index.
    fn unindex(&self, id: &str) -> Result<(), Problem>;
    /// Indexes the object `key` under its verified content key and size for instant upload,
    /// unless an object is indexed there already (the first stays).
    fn index_content(&self, content_key: &str, size: u64, key: &str) -> Result<(), Problem>;
    /// The object indexed under this content key and size.
    fn find(&self, content_key: &str, size: u64) -> Result<Option<String>, Problem>;
    /// Drops the entry for this content key and size if it still names `key` (its object is
    /// gone).
    fn drop_content(&self, content_key: &str, size: u64, key: &str) -> Result<(), Problem>;
    /// Records that the cover picture `key` was read and is `content_type` (feed attaches only
    /// recorded covers).
    fn mark_cover(&self, key: &str, content_type: &str) -> Result<(), Problem>;
    /// The shared limiter: one attempt on `key`, at most `limit` a minute.
    fn limit(&self, key: &str, limit: u64) -> Result<Decision, Problem>;
    /// Keeps a challenge until answered or expired.
    fn keep_challenge(&self, id: &str, challenge: &Challenge) -> Result<(), Problem>;
    /// Takes a challenge (each is answered at most once).
    fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, Problem>;

    /// Starts a multipart upload, `checksummed` or not; the store's upload id.
    async fn create_multipart(&self, key: &str, content_type: &str, checksummed: bool) -> Result<String, Problem>;
    /// Every part the store holds, in part order; `upload-gone` when it has no such upload.
    async fn list_parts(&self, key: &str, s3_id: &str) -> Result<Vec<StoredPart>, Problem>;
    /// Completes a multipart upload from these parts; the object's ETag.
    async fn complete_multipart(&self, key: &str, s3_id: &str, parts: &[StoredPart]) -> Result<String, Problem>;
    /// Aborts a multipart upload (one the store no longer has counts as aborted).
    async fn abort_multipart(&self, key: &str, s3_id: &str) -> Result<(), Problem>;
    /// Deletes an object (one the store does not have counts as deleted).
    async fn delete_object(&self, key: &str) -> Result<(), Problem>;
    /// Reads `length` bytes at `offset` of an object.
    async fn read_range(&self, key: &str, offset: u64, length: u64) -> Result<RangeRead, Problem>;
}

/// The day `now` falls in, which the daily byte limit counts.
fn day(now: u64) -> u64 {
    now / 86_400_000
}

fn over_daily(max_daily: u64) -> Problem {
    Problem::too_many_requests("daily-upload-limit", format!("you can upload {max_daily} bytes per day (max_upload_bytes_per_day)"), 3600)
        .with("limit", max_daily)
}

fn no_upload() -> Problem {
    Problem::not_found("no-such-upload", "you have no upload with this id")
}

/// The operations for one authenticated caller.
pub(crate) struct Uploads<'a, P> {
    ports: &'a P,
    principal: Principal,
}

impl<'a, P: Ports> Uploads<'a, P> {
    /// The operations acting for `principal`.
    pub(crate) fn new(ports: &'a P, principal: Principal) -> Self {
        Uploads { ports, principal }
    }

    /// How long a signed part URL stays valid (`part_url_ttl_secs`).
    pub(crate) fn part_url_ttl(&self) -> Result<Duration, Problem> {
        Ok(Duration::from_secs(self.ports.get(&settings::PART_URL_TTL_SECS)?))
    }

    fn limits(&self) -> Result<Limits, Problem> {
        Ok(Limits {
            max_size: self.ports.get(&settings::MAX_UPLOAD_BYTES)?,
            content_types: self
                .ports
                .get(&settings::ALLOWED_CONTENT_TYPES)?
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect(),
        })
    }

    fn max_daily(&self) -> Result<u64, Problem> {
        self.ports.get(&settings::MAX_UPLOAD_BYTES_PER_DAY)
    }

    fn read(&self, id: &str) -> Result<Option<Upload>, Problem> {
        if !edge_http::is_random_id(id) {
            return Ok(None);
        }
        self.ports.read(id)
    }

    /// The caller's upload; someone else's (or none) is 404 alike.
    pub(crate) fn load(&self, id: &str) -> Result<Upload, Problem> {
        match self.read(id)? {
            Some(upload) if upload.owner == self.principal.user_id => Ok(upload),
            _ => Err(no_upload()),
        }
    }

    /// Refuses an upload that can no longer take parts.
    fn usable(&self, upload: &Upload) -> Result<(), Problem> {
        match upload.state {
            State::Active if self.ports.now_ms() > upload.expires_at => {
                Err(Problem::conflict("upload-expired", "this upload expired; start a new one"))
            }
            State::Active => Ok(()),
            State::Complete => Err(Problem::conflict("upload-complete", "this upload is already complete")),
            State::Aborted => Err(Problem::conflict("upload-aborted", "this upload was aborted; start a new one")),
            State::Rejected => Err(Problem::conflict("upload-rejected", "this upload's content was refused; start a new one")),
        }
    }

    /// The receipt feed accepts for a complete upload, stating its `verified` content key.
    fn receipt(&self, upload: &Upload, etag: String, verified: Option<String>) -> Result<String, Problem> {
        Ok(Receipt {
            upload_id: upload.id.clone(),
            key: upload.key.clone(),
            size: upload.size.unwrap_or(0),
            content_key: verified,
            owner: upload.owner.clone(),
            content_type: upload.content_type.clone(),
            etag,
            completed_at: self.ports.now_ms(),
        }
        .sign(self.ports.get(&settings::UPLOAD_RECEIPT_KEY)?.as_bytes()))
    }
}
