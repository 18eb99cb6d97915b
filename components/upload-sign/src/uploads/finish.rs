//! How an upload ends: completed after every part is checked against the store's own list
//! (then a receipt), aborted by its owner, or aborted by cleanup once expired.

use edge_http::Problem;

use super::{day, over_daily, Ports, State, Upload, Uploads};
use crate::plan;

/// Expired uploads one cleanup call aborts at most (each costs a store round trip).
const CLEANUP_BATCH: u64 = 50;

impl<P: Ports> Uploads<'_, P> {
    /// Checks the claimed `(part number, ETag)` list against the store and the plan, completes
    /// the object and issues the receipt. Completing a complete upload returns its receipt.
    pub(crate) async fn complete(&self, mut upload: Upload, claimed: &[(u64, String)]) -> Result<(Upload, String), Problem> {
        if let (State::Complete, Some(receipt)) = (upload.state, &upload.receipt) {
            let receipt = receipt.clone();
            return Ok((upload, receipt));
        }
        self.usable(&upload)?;
        let stored = self.stored_parts(&upload).await?;
        let plan::Checked { etags, total } = plan::check_parts(upload.layout.as_ref(), upload.size, claimed, &stored)?;
        let today = day(self.ports.now_ms());
        // An upload of unknown size is checked and charged now that its size is known.
        let charged_now = match upload.size {
            Some(_) => false,
            None => {
                plan::check_size(total, self.limits()?.max_size)?;
                let max_daily = self.max_daily()?;
                if !self.ports.charge(&upload.owner, today, total, max_daily)? {
                    return Err(over_daily(max_daily));
                }
                true
            }
        };
        let s3_id = upload.s3_upload_id.clone().unwrap_or_default();
        let etag = match self.ports.complete_multipart(&upload.key, &s3_id, &etags).await {
            Ok(etag) => etag,
            Err(problem) => {
                if charged_now {
                    self.ports.refund(&upload.owner, today, total)?;
                }
                return Err(problem);
            }
        };
        upload.size = Some(total);
        let receipt = self.receipt(&upload, etag)?;
        upload.state = State::Complete;
        upload.receipt = Some(receipt.clone());
        self.ports.save(&upload)?;
        self.ports.finish(&upload.owner, &upload.id)?;
        if let Some(sha) = &upload.sha256 {
            self.ports.remember(sha, total, &upload.key)?;
        }
        Ok((upload, receipt))
    }

    /// Aborts an active upload in the store and records it.
    pub(crate) async fn abort(&self, mut upload: Upload) -> Result<Upload, Problem> {
        if upload.state != State::Active {
            self.usable(&upload)?;
        }
        self.ports.abort_multipart(&upload.key, upload.s3_upload_id.as_deref().unwrap_or_default()).await?;
        upload.state = State::Aborted;
        self.ports.save(&upload)?;
        self.ports.finish(&upload.owner, &upload.id)?;
        Ok(upload)
    }

    /// Aborts up to a batch of expired unfinished uploads of any owner (the route admits only
    /// administrators). Answers how many were aborted and whether more are waiting.
    pub(crate) async fn cleanup(&self) -> Result<(u64, bool), Problem> {
        let ids = self.ports.due(self.ports.now_ms(), CLEANUP_BATCH + 1)?;
        let mut aborted = 0;
        for id in ids.iter().take(CLEANUP_BATCH as usize) {
            match self.read(id)? {
                Some(upload) if upload.state == State::Active => {
                    self.ports.abort_multipart(&upload.key, upload.s3_upload_id.as_deref().unwrap_or_default()).await?;
                    let owner = upload.owner.clone();
                    self.ports.save(&Upload { state: State::Aborted, ..upload })?;
                    self.ports.finish(&owner, id)?;
                    aborted += 1;
                }
                _ => self.ports.unindex(id)?,
            }
        }
        Ok((aborted, ids.len() as u64 > CLEANUP_BATCH))
    }
}
