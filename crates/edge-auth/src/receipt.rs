//! The upload receipt: proof, signed by upload-sign, that an object is complete in the store;
//! feed accepts it when a video record is created. Format: `base64url(JSON).base64url(HMAC)`,
//! HMAC-SHA256 with the `upload_receipt_key` variable shared with the verifier.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
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
    /// The SHA-256 the client declared, if any.
    pub sha256: Option<String>,
    /// The user who uploaded it.
    pub owner: String,
    /// MIME type.
    pub content_type: String,
    /// The store's ETag of the object.
    pub etag: String,
    /// When it completed, ms since the Unix epoch.
    pub completed_at: u64,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

impl Receipt {
    /// The signed form.
    pub fn sign(&self, key: &[u8]) -> String {
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default());
        let mut m = mac(key);
        m.update(payload.as_bytes());
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
    }

    /// The receipt in `signed`, if its signature is this key's.
    pub fn verify(signed: &str, key: &[u8]) -> Option<Receipt> {
        let (payload, signature) = signed.split_once('.')?;
        let mut m = mac(key);
        m.update(payload.as_bytes());
        m.verify_slice(&URL_SAFE_NO_PAD.decode(signature).ok()?).ok()?;
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()
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
            sha256: None,
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
}
