//! The Spin side of the upload operations ([`uploads::Ports`]): variables, upload records in
//! the key-value store, limits and indexes in Redis (typed scripts below), and S3 requests built
//! by [`crate::s3`] and sent with Spin's outbound HTTP.

use edge_http::setting::Source;
use edge_http::Problem;
use edge_spin::kv_unavailable;
use edge_spin::redis::{arg, int, now_ms, text, Decision};
use edge_spin::script::{Count, Script};
use edge_spin::settings::Variables;
use http::StatusCode;

use crate::instant::Challenge;
use crate::keys;
use crate::s3::{self, Store, StoredPart};
use crate::uploads::{self, Admission, RangeRead, Reservation, Upload};
use crate::Sign;

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

/// Deletes a key if it still holds the value given. KEYS: the key; ARGV: the value.
static DROP_IF: Script = Script::new("drop_if", include_str!("scripts/drop_if.lua"), Count::Exactly(1), Count::Exactly(1));

/// How long an instant-upload challenge may wait for its answer.
const CHALLENGE_TTL_SECS: u64 = 300;

/// Sends one request to the object store.
async fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, Problem> {
    edge_spin::outbound::send(request)
        .await
        .map_err(|e| Problem::unavailable("storage-unavailable", format!("the object store did not answer ({e}); retry shortly")))
}

impl Source for Sign {
    fn raw(&self, name: &str) -> Option<String> {
        Variables.raw(name)
    }
}

impl uploads::Ports for Sign {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn random_id(&self) -> String {
        edge_http::random_id()
    }

    fn store(&self) -> Result<&Store, Problem> {
        Sign::store(self)
    }

    fn read(&self, id: &str) -> Result<Option<Upload>, Problem> {
        edge_spin::kv::get_json(self.kv()?, &keys::upload(id))
    }

    fn save(&self, upload: &Upload) -> Result<(), Problem> {
        edge_spin::kv::set_json(self.kv()?, &keys::upload(&upload.id), upload)
    }

    fn admit(&self, new: &Reservation, max_active: u64, max_daily: u64) -> Result<Admission, Problem> {
        let names = [keys::active(&new.owner), keys::daily_bytes(&new.owner, new.day), keys::EXPIRING.to_owned()];
        let args = vec![arg(&new.id), arg(new.bytes), arg(max_active), arg(max_daily), arg(new.expires_at)];
        Ok(match self.backends.redis()?.run(&ADMIT, &names, args)?.first().and_then(int) {
            Some(0) => Admission::Admitted,
            Some(1) => Admission::TooManyActive,
            _ => Admission::OverDaily,
        })
    }

    fn charge(&self, owner: &str, day: u64, bytes: u64, max_daily: u64) -> Result<bool, Problem> {
        let reply = self.backends.redis()?.run(&CHARGE, &[keys::daily_bytes(owner, day)], vec![arg(bytes), arg(max_daily)])?;
        Ok(reply.first().and_then(int) == Some(0))
    }

    fn refund(&self, owner: &str, day: u64, bytes: u64) -> Result<(), Problem> {
        self.backends.redis()?.exec("DECRBY", &[arg(keys::daily_bytes(owner, day)), arg(bytes)]).map(drop)
    }

    fn finish(&self, owner: &str, id: &str) -> Result<(), Problem> {
        self.backends.redis()?.run(&FINISH, &[keys::active(owner).as_str(), keys::EXPIRING], vec![arg(id)]).map(drop)
    }

    fn due(&self, now: u64, limit: u64) -> Result<Vec<String>, Problem> {
        let due = self
            .backends
            .redis()?
            .exec("ZRANGEBYSCORE", &[arg(keys::EXPIRING), arg("-inf"), arg(now), arg("LIMIT"), arg(0u64), arg(limit)])?;
        Ok(due.iter().filter_map(text).collect())
    }

    fn unindex(&self, id: &str) -> Result<(), Problem> {
        self.backends.redis()?.exec("ZREM", &[arg(keys::EXPIRING), arg(id)]).map(drop)
    }

    fn index_content(&self, content_key: &str, size: u64, key: &str) -> Result<(), Problem> {
        self.backends.redis()?.exec("SET", &[arg(keys::content(content_key, size)), arg(key), arg("NX")]).map(drop)
    }

    fn find(&self, content_key: &str, size: u64) -> Result<Option<String>, Problem> {
        Ok(self.backends.redis()?.exec("GET", &[arg(keys::content(content_key, size))])?.first().and_then(text))
    }

    fn drop_content(&self, content_key: &str, size: u64, key: &str) -> Result<(), Problem> {
        self.backends.redis()?.run(&DROP_IF, &[keys::content(content_key, size)], vec![arg(key)]).map(drop)
    }

    fn mark_cover(&self, key: &str, content_type: &str) -> Result<(), Problem> {
        self.kv()?.set(&edge_protocol::keys::checked_cover(key), content_type.as_bytes()).map_err(kv_unavailable)
    }

    fn limit(&self, key: &str, limit: u64) -> Result<Decision, Problem> {
        self.backends.redis()?.limit(&[(key, limit)], 60_000, &edge_http::random_id())
    }

    fn keep_challenge(&self, id: &str, challenge: &Challenge) -> Result<(), Problem> {
        let stored = serde_json::to_string(challenge).unwrap_or_default();
        self.backends.redis()?.exec("SET", &[arg(keys::challenge(id)), arg(stored), arg("EX"), arg(CHALLENGE_TTL_SECS)]).map(drop)
    }

    fn take_challenge(&self, id: &str) -> Result<Option<Challenge>, Problem> {
        let taken = self.backends.redis()?.exec("GETDEL", &[arg(keys::challenge(id))])?;
        Ok(taken.first().and_then(text).and_then(|t| serde_json::from_str(&t).ok()))
    }

    async fn create_multipart(&self, key: &str, content_type: &str, checksummed: bool) -> Result<String, Problem> {
        let reply = send(self.store()?.create_multipart(key, content_type, checksummed)).await?;
        if !reply.status().is_success() {
            return Err(s3::bad_gateway(format!("the store refused to start the upload (HTTP {})", reply.status().as_u16())));
        }
        Store::parse_create(reply.body())
    }

    async fn list_parts(&self, key: &str, s3_id: &str) -> Result<Vec<StoredPart>, Problem> {
        let mut parts = Vec::new();
        let mut marker = None;
        loop {
            let reply = send(self.store()?.list_parts(key, s3_id, marker)).await?;
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

    async fn complete_multipart(&self, key: &str, s3_id: &str, parts: &[StoredPart]) -> Result<String, Problem> {
        let reply = send(self.store()?.complete(key, s3_id, parts)).await?;
        if !reply.status().is_success() {
            return Err(s3::bad_gateway(format!("the store refused to complete (HTTP {})", reply.status().as_u16())));
        }
        Store::parse_complete(reply.body())
    }

    async fn abort_multipart(&self, key: &str, s3_id: &str) -> Result<(), Problem> {
        let reply = send(self.store()?.abort(key, s3_id)).await?;
        if !reply.status().is_success() && reply.status() != StatusCode::NOT_FOUND {
            return Err(s3::bad_gateway(format!("the store refused to abort (HTTP {})", reply.status().as_u16())));
        }
        Ok(())
    }

    async fn delete_object(&self, key: &str) -> Result<(), Problem> {
        let reply = send(self.store()?.delete_object(key)).await?;
        if !reply.status().is_success() && reply.status() != StatusCode::NOT_FOUND {
            return Err(s3::bad_gateway(format!("the store refused to delete (HTTP {})", reply.status().as_u16())));
        }
        Ok(())
    }

    async fn read_range(&self, key: &str, offset: u64, length: u64) -> Result<RangeRead, Problem> {
        let reply = send(self.store()?.get_range(key, offset, length)).await?;
        let header = |name| reply.headers().get(name).and_then(|v: &http::HeaderValue| v.to_str().ok());
        Ok(RangeRead {
            status: reply.status().as_u16(),
            total: header(http::header::CONTENT_RANGE).and_then(|v| v.rsplit('/').next()).and_then(|v| v.parse().ok()),
            etag: header(http::header::ETAG).unwrap_or_default().to_owned(),
            body: reply.body().clone(),
        })
    }
}
