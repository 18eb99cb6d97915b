//! How an upload ends: completed after every part is checked against the store's own list and
//! its first bytes against its declared type (then a receipt and, when the store checked every
//! part's digest, an instant-upload index entry; else rejected and deleted), aborted by its
//! owner, or aborted by cleanup once expired (both give its reserved bytes back).

use edge_http::Problem;

use super::{day, Ports, State, Upload, Uploads};
use crate::{instant, plan, s3, sniff};

/// Expired uploads one cleanup call aborts at most (each costs a store round trip).
const CLEANUP_BATCH: u64 = 50;

impl<P: Ports> Uploads<'_, P> {
    /// Checks the claimed `(part number, ETag)` list against the store and the plan, completes
    /// the object, checks that its content fits its declared type and issues the receipt; an
    /// object whose parts the store checksummed is indexed for instant upload under the key
    /// their digests give (whatever the client declared), unless that key is taken.
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
        let verified = upload.verified_key.take();
        if sniff::checked(&upload.content_type) {
            let found = match self.head(&upload).await {
                Ok(head) => sniff::detect(&head),
                Err(problem) => {
                    upload.etag = Some(etag);
                    upload.verified_key = verified;
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
        let receipt = self.receipt(&upload, etag, verified.clone())?;
        upload.state = State::Complete;
        upload.receipt = Some(receipt.clone());
        self.ports.save(&upload)?;
        self.ports.finish(&upload.owner, &upload.id)?;
        if let (Some(key), Some(size)) = (&verified, upload.size) {
            self.ports.index_content(key, size, &upload.key)?;
        }
        Ok((upload, receipt))
    }

    /// Checks the parts against the plan and completes the object in the store; its ETag, with
    /// the content key the store's digests give kept in `upload.verified_key`.
    async fn assemble(&self, upload: &mut Upload, claimed: &[(u64, String)]) -> Result<String, Problem> {
        if upload.size.is_none() {
            return Err(Problem::conflict("upload-unsized", "this upload declared no size; abort it and start a new one with its size"));
        }
        let stored = self.stored_parts(upload).await?;
        let plan::Checked { parts, total } = plan::check_parts(upload.layout.as_ref(), upload.size, claimed, &stored)?;
        let s3_id = upload.s3_upload_id.clone().unwrap_or_default();
        let etag = self.ports.complete_multipart(&upload.key, &s3_id, &parts).await?;
        upload.verified_key = instant::verified_key(total, upload.layout.as_ref(), &parts);
        Ok(etag)
    }

    /// Frees an unfinished upload's place and gives back the bytes it reserved, if they still
    /// count (the limit is per day).
    fn release(&self, upload: &Upload) -> Result<(), Problem> {
        self.ports.finish(&upload.owner, &upload.id)?;
        let reserved = day(upload.created_at);
        if reserved != day(self.ports.now_ms()) {
            return Ok(());
        }
        self.ports.refund(&upload.owner, reserved, upload.size.unwrap_or(0))
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
        self.release(&upload)?;
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
                    let upload = Upload { state: State::Aborted, ..upload };
                    self.ports.save(&upload)?;
                    self.release(&upload)?;
                    aborted += 1;
                }
                _ => self.ports.unindex(id)?,
            }
        }
        Ok((aborted, ids.len() as u64 > CLEANUP_BATCH))
    }
}
