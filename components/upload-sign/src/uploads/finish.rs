//! How an upload ends: completed after every part is checked against the store's own list and
//! its first bytes against its declared type (then a receipt, else rejected and deleted),
//! aborted by its owner, or aborted by cleanup once expired.

use edge_http::Problem;

use super::{day, over_daily, Ports, State, Upload, Uploads};
use crate::{plan, s3, sniff};

/// Expired uploads one cleanup call aborts at most (each costs a store round trip).
const CLEANUP_BATCH: u64 = 50;

impl<P: Ports> Uploads<'_, P> {
    /// Checks the claimed `(part number, ETag)` list against the store and the plan, completes
    /// the object, checks that its content fits its declared type and issues the receipt.
    /// Completing a complete upload returns its receipt; a rejected one, the same refusal.
    pub(crate) async fn complete(&self, mut upload: Upload, claimed: &[(u64, String)]) -> Result<(Upload, String), Problem> {
        match (upload.state, &upload.receipt, upload.detected) {
            (State::Complete, Some(receipt), _) => {
                let receipt = receipt.clone();
                return Ok((upload, receipt));
            }
            (State::Rejected, _, Some(found)) => {
                // Deleted again, in case the store refused the first time.
                self.ports.delete_object(&upload.key).await?;
                return Err(sniff::unrecognised(&upload.content_type, found));
            }
            _ => {}
        }
        let etag = match (upload.state, upload.etag.take()) {
            // The object was completed by an earlier call whose content check could not read it.
            (State::Active, Some(etag)) => etag,
            _ => {
                self.usable(&upload)?;
                self.assemble(&mut upload, claimed).await?
            }
        };
        if sniff::checked(&upload.content_type) {
            let found = match self.head(&upload).await {
                Ok(head) => sniff::detect(&head),
                Err(problem) => {
                    upload.etag = Some(etag);
                    self.ports.save(&upload)?;
                    return Err(problem);
                }
            };
            if !sniff::fits(&upload.content_type, found) {
                // Recorded before the delete, so a retry after a failed delete deletes again.
                upload.state = State::Rejected;
                upload.detected = Some(found);
                self.ports.save(&upload)?;
                self.ports.finish(&upload.owner, &upload.id)?;
                self.ports.delete_object(&upload.key).await?;
                return Err(sniff::unrecognised(&upload.content_type, found));
            }
        }
        let receipt = self.receipt(&upload, etag)?;
        upload.state = State::Complete;
        upload.receipt = Some(receipt.clone());
        self.ports.save(&upload)?;
        self.ports.finish(&upload.owner, &upload.id)?;
        if let (Some(sha), Some(size)) = (&upload.sha256, upload.size) {
            self.ports.remember(sha, size, &upload.key)?;
        }
        Ok((upload, receipt))
    }

    /// Checks the parts, charges an upload of unknown size, and completes the object in the
    /// store; its ETag. The upload's size is then the stored one.
    async fn assemble(&self, upload: &mut Upload, claimed: &[(u64, String)]) -> Result<String, Problem> {
        let stored = self.stored_parts(upload).await?;
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
        match self.ports.complete_multipart(&upload.key, &s3_id, &etags).await {
            Ok(etag) => {
                upload.size = Some(total);
                Ok(etag)
            }
            Err(problem) => {
                if charged_now {
                    self.ports.refund(&upload.owner, today, total)?;
                }
                Err(problem)
            }
        }
    }

    /// The first bytes of the completed object (at most [`sniff::HEAD_BYTES`]), one ranged read.
    async fn head(&self, upload: &Upload) -> Result<Vec<u8>, Problem> {
        let length = upload.size.unwrap_or(sniff::HEAD_BYTES).clamp(1, sniff::HEAD_BYTES);
        let read = self.ports.read_range(&upload.key, 0, length).await?;
        if read.status != 200 && read.status != 206 {
            return Err(s3::bad_gateway(format!("the store did not return the object's first bytes (HTTP {})", read.status)));
        }
        let mut head = read.body;
        head.truncate(length as usize);
        Ok(head)
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
