//! Statements upload-sign and feed sign for each other with the `upload_receipt_key` variable
//! they share. Format: `base64url(JSON).base64url(HMAC-SHA256)`; each kind's MAC also covers a
//! purpose label, so one kind can never be passed off as another.
//!
//! - [`Receipt`]: upload-sign's proof that an object is complete in the store; feed accepts it
//!   when a video record is created.
//! - [`PlayTicket`]: feed's permission to play a published video's object; upload-sign
//!   redirects its holder to a presigned `GET`.

use base64ct::{Base64UrlUnpadded, Encoding};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a receipt states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The upload id.
    pub upload_id: String,
    /// Object key in the bucket.
    pub key: String,
    /// Size in bytes, as listed by the store.
    pub size: u64,
    /// The object's content key ([`crate::instant::content_key`]) as computed from the digests
    /// the store checked; `None` when its parts were not checksummed.
    #[serde(alias = "sha256")]
    pub content_key: Option<String>,
    /// The user who uploaded it.
    pub owner: String,
    /// MIME type.
    pub content_type: String,
    /// The store's ETag of the object.
    pub etag: String,
    /// When it completed, ms since the Unix epoch.
    pub completed_at: u64,
}

/// A permission to read one object until a deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayTicket {
    /// Object key in the bucket.
    pub key: String,
    /// Valid until, ms since the Unix epoch.
    pub expires_at: u64,
}

fn mac(key: &[u8], purpose: &str, payload: &str) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(purpose.as_bytes());
    m.update(payload.as_bytes());
    m
}

fn sign<T: Serialize>(value: &T, key: &[u8], purpose: &str) -> String {
    let payload = Base64UrlUnpadded::encode_string(&serde_json::to_vec(value).unwrap_or_default());
    let signature = mac(key, purpose, &payload).finalize().into_bytes();
    format!("{payload}.{}", Base64UrlUnpadded::encode_string(signature.as_ref()))
}

fn verify<T: for<'de> Deserialize<'de>>(signed: &str, key: &[u8], purpose: &str) -> Option<T> {
    let (payload, signature) = signed.split_once('.')?;
    mac(key, purpose, payload).verify_slice(&Base64UrlUnpadded::decode_vec(signature).ok()?).ok()?;
    serde_json::from_slice(&Base64UrlUnpadded::decode_vec(payload).ok()?).ok()
}

/// Receipts sign with no label, as they did before tickets existed, so outstanding receipts stay valid.
const RECEIPT: &str = "";
const PLAY: &str = "play-ticket:";

/// How long a receipt publishes: 24 hours after its upload completed. Completing the same
/// upload again answers the same receipt; a later instant upload of the file gives a new one.
pub const RECEIPT_LIFETIME_MS: u64 = 24 * 60 * 60 * 1000;

impl Receipt {
    /// The signed form.
    pub fn sign(&self, key: &[u8]) -> String {
        sign(self, key, RECEIPT)
    }

    /// The receipt in `signed`, if its signature is this key's.
    pub fn verify(signed: &str, key: &[u8]) -> Option<Receipt> {
        verify(signed, key, RECEIPT)
    }

    /// Whether the receipt still publishes at `now_ms` ([`RECEIPT_LIFETIME_MS`]).
    pub fn is_current(&self, now_ms: u64) -> bool {
        now_ms < self.completed_at.saturating_add(RECEIPT_LIFETIME_MS)
    }
}

impl PlayTicket {
    /// The signed form.
    pub fn sign(&self, key: &[u8]) -> String {
        sign(self, key, PLAY)
    }

    /// The ticket in `signed`, if its signature is this key's and it is still valid at `now_ms`.
    pub fn verify(signed: &str, key: &[u8], now_ms: u64) -> Option<PlayTicket> {
        verify::<PlayTicket>(signed, key, PLAY).filter(|t| now_ms < t.expires_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipts_verify_only_with_the_key_and_untampered() {
        let receipt = Receipt {
            upload_id: "u".into(),
            key: "uploads/a/u.mp4".into(),
            size: 42,
            content_key: None,
            owner: "a".into(),
            content_type: "video/mp4".into(),
            etag: "\"e\"".into(),
            completed_at: 1,
        };
        let signed = receipt.sign(b"k1");
        assert_eq!(Receipt::verify(&signed, b"k1"), Some(receipt.clone()));
        assert_eq!(Receipt::verify(&signed, b"k2"), None);
        let mut forged = receipt;
        forged.owner = "b".into();
        let tampered = format!("{}.{}", forged.sign(b"x").split_once('.').unwrap().0, signed.split_once('.').unwrap().1);
        assert_eq!(Receipt::verify(&tampered, b"k1"), None);
        assert_eq!(Receipt::verify("garbage", b"k1"), None);
    }

    #[test]
    fn receipts_publish_for_a_day_after_completion() {
        let receipt = |completed_at| Receipt {
            upload_id: "u1".into(),
            key: "uploads/a/u1.mp4".into(),
            size: 1,
            content_key: None,
            owner: "a".into(),
            content_type: "video/mp4".into(),
            etag: "\"e\"".into(),
            completed_at,
        };
        assert!(receipt(1_000).is_current(1_000 + RECEIPT_LIFETIME_MS - 1));
        assert!(!receipt(1_000).is_current(1_000 + RECEIPT_LIFETIME_MS));
    }

    #[test]
    fn tickets_expire_and_are_not_receipts() {
        let ticket = PlayTicket { key: "uploads/a/u.mp4".into(), expires_at: 100 };
        let signed = ticket.sign(b"k1");
        assert_eq!(PlayTicket::verify(&signed, b"k1", 99), Some(ticket));
        assert_eq!(PlayTicket::verify(&signed, b"k1", 100), None);
        assert_eq!(PlayTicket::verify(&signed, b"k2", 1), None);
        // Same key, same format: the purpose label keeps the kinds apart.
        let receipt_shaped = sign(&serde_json::json!({"key": "uploads/a/u.mp4", "expires_at": 100}), b"k1", RECEIPT);
        assert_eq!(PlayTicket::verify(&receipt_shaped, b"k1", 1), None);
    }
}
