//! Publishing: an upload becomes a video once, by its uploader, proven by upload-sign's receipt
//! (signed with the shared `upload_receipt_key`, at most a day old), with a cover upload-sign has
//! checked to be a picture. The receipt is spent twice over: in Redis, atomically with the id
//! the record gets, and in the key-value store, which survives a Redis loss that would otherwise
//! let it publish again. Pure over [`Ports`].

use edge_http::Problem;
use edge_protocol::receipt::Receipt;

use crate::ids;
use crate::video::{CreateVideo, UploadedObject, Video};

/// What publishing needs from outside.
pub(crate) trait Ports {
    /// Wall-clock time, ms since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Whether the key-value store marks the receipt of `upload_id` spent.
    fn receipt_spent(&self, upload_id: &str) -> Result<bool, Problem>;
    /// Whether upload-sign checked the picture under `cover_key`.
    fn cover_checked(&self, cover_key: &str) -> Result<bool, Problem>;
    /// In one step: unless the receipt of `upload_id` was spent, spends it, issues the next id
    /// and lists `video` under it on the timelines; `None` when it was spent.
    fn create(&self, upload_id: &str, video: &Video) -> Result<Option<u64>, Problem>;
    /// Keeps the record's copy in the key-value store (the truth a rebuild restores) and marks
    /// the receipt of `upload_id` spent there.
    fn keep(&self, upload_id: &str, video: &Video) -> Result<(), Problem>;
}

/// Publishes what `body` describes for `author`, with `receipt_key` to verify its receipt.
pub(crate) fn publish(ports: &impl Ports, receipt_key: &[u8], author: &str, body: &CreateVideo) -> Result<Video, Problem> {
    let receipt = Receipt::verify(&body.receipt, receipt_key).ok_or_else(|| {
        Problem::bad_request("invalid-receipt", "the receipt is not one upload-sign issued; complete an upload and send its receipt")
            .with("field", "receipt")
    })?;
    let now = ports.now_ms();
    if !receipt.is_current(now) {
        return Err(Problem::bad_request(
            "receipt-expired",
            "the receipt is more than 24 hours old; upload the file again (an instant upload of the same file gives a new receipt)",
        )
        .with("field", "receipt"));
    }
    if ports.receipt_spent(&receipt.upload_id)? {
        return Err(receipt_spent());
    }
    let upload_id = receipt.upload_id.clone();
    let object = UploadedObject {
        owner: receipt.owner,
        key: receipt.key,
        size: receipt.size,
        content_type: receipt.content_type,
        content_key: receipt.content_key,
    };
    let mut video = Video::create(0, author, body, object)?;
    if let Some(cover) = &video.cover_key {
        require_checked_cover(ports, cover)?;
    }
    video.updated_at = now;
    let id = ports.create(&upload_id, &video)?.ok_or_else(receipt_spent)?;
    video.id = id;
    video.created_at = ids::timestamp_ms(id);
    video.updated_at = video.updated_at.max(video.created_at);
    ports.keep(&upload_id, &video)?;
    Ok(video)
}

/// Refuses a cover upload-sign has not read and found to be the picture its key names (its
/// bytes could be anything the form upload carried); an edit that sets a new cover asks too.
pub(crate) fn require_checked_cover(ports: &impl Ports, cover_key: &str) -> Result<(), Problem> {
    if ports.cover_checked(cover_key)? {
        return Ok(());
    }
    Err(Problem::bad_request("cover-not-checked", "check the picture first: POST /uploads/covers with its key, then publish")
        .with("field", "cover_key"))
}

fn receipt_spent() -> Problem {
    Problem::conflict("receipt-used", "this upload already has a video").with("field", "receipt")
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    use super::*;

    const KEY: &[u8] = b"receipt key";
    const NOW: u64 = 1_800_000_000_000;

    /// The ports in memory: Redis's spent receipts and id issuer, the key-value store's marks.
    #[derive(Default)]
    struct Memory {
        spent_in_redis: RefCell<BTreeSet<String>>,
        spent_in_store: RefCell<BTreeSet<String>>,
        kept: RefCell<Vec<Video>>,
        checked_covers: BTreeSet<String>,
    }

    impl Ports for Memory {
        fn now_ms(&self) -> u64 {
            NOW
        }

        fn receipt_spent(&self, upload_id: &str) -> Result<bool, Problem> {
            Ok(self.spent_in_store.borrow().contains(upload_id))
        }

        fn cover_checked(&self, cover_key: &str) -> Result<bool, Problem> {
            Ok(self.checked_covers.contains(cover_key))
        }

        fn create(&self, upload_id: &str, _: &Video) -> Result<Option<u64>, Problem> {
            let mut spent = self.spent_in_redis.borrow_mut();
            let fresh = spent.insert(upload_id.to_owned());
            Ok(fresh.then(|| (1000 << edge_protocol::ids::SEQ_BITS) | spent.len() as u64))
        }

        fn keep(&self, upload_id: &str, video: &Video) -> Result<(), Problem> {
            self.spent_in_store.borrow_mut().insert(upload_id.to_owned());
            self.kept.borrow_mut().push(video.clone());
            Ok(())
        }
    }

    fn receipt(upload_id: &str, owner: &str, completed_at: u64) -> Receipt {
        Receipt {
            upload_id: upload_id.into(),
            key: format!("uploads/{owner}/{upload_id}/v.mp4"),
            size: 42,
            content_key: None,
            owner: owner.into(),
            content_type: "video/mp4".into(),
            etag: "\"e\"".into(),
            completed_at,
        }
    }

    fn body(receipt: &str, cover: Option<&str>) -> CreateVideo {
        let cover = cover.map_or("null".to_owned(), |c| format!("{c:?}"));
        serde_json::from_str(&format!(r#"{{"receipt":{receipt:?},"title":"t","cover_key":{cover}}}"#)).unwrap()
    }

    #[test]
    fn a_receipt_publishes_once_with_the_id_the_store_issued_and_is_spent_in_both_stores() {
        let m = Memory::default();
        let signed = receipt("up1", "ann", NOW - 1000).sign(KEY);
        let video = publish(&m, KEY, "ann", &body(&signed, None)).unwrap();
        assert_eq!((video.author.as_str(), video.object_key.as_str(), video.size), ("ann", "uploads/ann/up1/v.mp4", 42));
        assert_eq!((video.created_at, video.updated_at), (ids::timestamp_ms(video.id), NOW.max(ids::timestamp_ms(video.id))));
        assert_eq!(*m.kept.borrow(), [video]);
        assert_eq!(publish(&m, KEY, "ann", &body(&signed, None)).unwrap_err().code(), "receipt-used", "the store's mark");
        m.spent_in_store.borrow_mut().clear();
        assert_eq!(publish(&m, KEY, "ann", &body(&signed, None)).unwrap_err().code(), "receipt-used", "Redis's, atomically");
        assert_eq!(m.kept.borrow().len(), 1, "nothing kept for a spent receipt");
    }

    #[test]
    fn forged_foreign_and_old_receipts_and_unchecked_covers_publish_nothing() {
        let mut m = Memory::default();
        let forged = receipt("up1", "ann", NOW).sign(b"another key");
        assert_eq!(publish(&m, KEY, "ann", &body(&forged, None)).unwrap_err().code(), "invalid-receipt");
        let old = receipt("up2", "ann", NOW - 24 * 3_600_000).sign(KEY);
        assert_eq!(publish(&m, KEY, "ann", &body(&old, None)).unwrap_err().code(), "receipt-expired");
        let bobs = receipt("up3", "bob", NOW).sign(KEY);
        assert_eq!(publish(&m, KEY, "ann", &body(&bobs, None)).unwrap_err().code(), "receipt-not-yours");
        let mine = receipt("up4", "ann", NOW).sign(KEY);
        let cover = "covers/ann/0123456789abcdef0123456789abcdef.png";
        assert_eq!(publish(&m, KEY, "ann", &body(&mine, Some(cover))).unwrap_err().code(), "cover-not-checked");
        assert!(m.spent_in_redis.borrow().is_empty() && m.kept.borrow().is_empty());
        m.checked_covers.insert(cover.to_owned());
        assert_eq!(publish(&m, KEY, "ann", &body(&mine, Some(cover))).unwrap().cover_key.as_deref(), Some(cover));
    }
}
