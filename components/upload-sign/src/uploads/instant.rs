//! Instant upload: a challenge for a file the caller says it has, and its answer checked
//! against ranged reads of the stored copy (the rules are [`crate::instant`]).

use edge_http::Problem;
use edge_spin::redis::Decision;

use super::{Ports, State, Upload, Uploads};
use crate::instant::{self, Challenge};
use crate::keys;
use crate::plan::{self, CreateRequest};

/// Challenges a user may ask for per minute.
const CHALLENGES_PER_MINUTE: u64 = 20;

impl<P: Ports> Uploads<'_, P> {
    /// Issues an instant-upload challenge for a file the caller says it has (whether or not a
    /// copy is stored, so the answer reveals nothing).
    pub(crate) fn challenge(&self, body: &CreateRequest) -> Result<(String, Challenge), Problem> {
        let filename = plan::validate(body, &self.limits()?)?;
        let (Some(size), Some(content_key)) = (body.size, body.content_key.as_ref()) else {
            return Err(
                Problem::bad_request("missing-fields", "instant upload needs the file's size and content_key").with("field", "content_key")
            );
        };
        let limit_key = keys::challenge_rate(&self.principal.user_id);
        if let Decision::Limited { retry_after } = self.ports.limit(&limit_key, CHALLENGES_PER_MINUTE)? {
            return Err(Problem::too_many_requests(
                "too-many-challenges",
                format!("at most {CHALLENGES_PER_MINUTE} instant-upload attempts a minute"),
                retry_after,
            )
            .with("limit", CHALLENGES_PER_MINUTE));
        }
        let random = |i: usize| u64::from_str_radix(&self.ports.random_id()[..16], 16).unwrap_or(i as u64);
        let challenge = Challenge {
            owner: self.principal.user_id.clone(),
            content_key: content_key.to_ascii_lowercase(),
            size,
            filename,
            content_type: body.content_type.trim().to_ascii_lowercase(),
            ranges: instant::pick_ranges(size, std::array::from_fn(random)),
            nonce: self.ports.random_id(),
        };
        let id = self.ports.random_id();
        self.ports.keep_challenge(&id, &challenge)?;
        Ok((id, challenge))
    }

    /// Checks an answer against the stored object; on success the caller owns a complete
    /// upload of that object. Each challenge is answered at most once. An index entry whose
    /// object is gone is dropped.
    pub(crate) async fn answer(&self, challenge_id: &str, given: &str) -> Result<(Upload, String), Problem> {
        let gone = || Problem::not_found("no-such-challenge", "this challenge is unknown, used or expired; ask for a new one");
        if !edge_http::is_random_id(challenge_id) {
            return Err(gone());
        }
        let challenge = self.ports.take_challenge(challenge_id)?.ok_or_else(gone)?;
        if challenge.owner != self.principal.user_id {
            return Err(gone());
        }
        let refused = || Problem::forbidden("challenge-failed", "no stored file matches this answer; upload the file normally");
        let Some(key) = self.ports.find(&challenge.content_key, challenge.size)? else {
            return Err(refused());
        };
        let mut bytes = Vec::new();
        let mut etag = String::new();
        for &(offset, length) in &challenge.ranges {
            let read = self.ports.read_range(&key, offset, length).await?;
            if read.status == 404 {
                self.ports.drop_content(&challenge.content_key, challenge.size, &key)?;
                return Err(refused());
            }
            let whole = read.status == 200 && read.body.len() as u64 == challenge.size;
            let ranged = read.status == 206 && read.total == Some(challenge.size);
            if !(whole || ranged) || read.body.len() as u64 != length {
                return Err(refused());
            }
            bytes.extend_from_slice(&read.body);
            etag = read.etag;
        }
        if !instant::is_answer(&challenge.nonce, &bytes, given) {
            return Err(refused());
        }
        let now = self.ports.now_ms();
        let mut upload = Upload {
            id: self.ports.random_id(),
            owner: challenge.owner,
            key,
            filename: challenge.filename,
            size: Some(challenge.size),
            content_type: challenge.content_type,
            content_key: Some(challenge.content_key.clone()),
            layout: None,
            s3_upload_id: None,
            created_at: now,
            expires_at: now,
            state: State::Complete,
            receipt: None,
            etag: None,
            verified_key: None,
            detected: None,
        };
        let receipt = self.receipt(&upload, etag, Some(challenge.content_key))?;
        upload.receipt = Some(receipt.clone());
        self.ports.save(&upload)?;
        Ok((upload, receipt))
    }
}
