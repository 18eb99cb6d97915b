//! What tests publish and sign with: unique names, receipts and tokens signed as the app's own,
//! and deterministic file contents.

use crate::*;

/// The receipt key every app of the tests uses.
pub const UPLOAD_RECEIPT_KEY: &str = "e2e-receipt-key";

/// A name unique within this test run: `prefix`, this process's id and a counter.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}{}x{}", std::process::id() % 100_000, N.fetch_add(1, Ordering::Relaxed))
}

/// A receipt as upload-sign signs it, for a fresh upload by `owner` (for tests and benchmarks
/// that create videos without uploading).
pub fn receipt(owner: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let upload_id = format!("{nanos:016x}{:016x}", N.fetch_add(1, Ordering::Relaxed));
    edge_protocol::receipt::Receipt {
        upload_id: upload_id.clone(),
        key: format!("uploads/{owner}/{upload_id}.mp4"),
        size: 1234,
        content_key: None,
        owner: owner.to_owned(),
        content_type: "video/mp4".into(),
        etag: "\"e\"".into(),
        completed_at: nanos / 1_000_000,
    }
    .sign(UPLOAD_RECEIPT_KEY.as_bytes())
}

/// The first 32 bytes of an MP4 file, its `ftyp` box: upload-sign's content check wants a
/// `video/*` upload to start like a video.
pub const MP4_FTYP: [u8; 32] = *b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";

/// What the browser SDK computes for instant upload in its hashing pass: the file's content key
/// and each part's base64 SHA-256 under the default layout, by part number (`"1"`, `"2"`, …).
pub fn content_key(bytes: &[u8]) -> (String, serde_json::Map<String, Value>) {
    use base64::Engine;
    use sha2::Digest;
    let digests: Vec<[u8; 32]> = edge_protocol::instant::default_parts(bytes.len() as u64)
        .map(|(a, b)| sha2::Sha256::digest(&bytes[a as usize..b as usize]).into())
        .collect();
    let checksums = digests
        .iter()
        .enumerate()
        .map(|(i, d)| ((i + 1).to_string(), base64::engine::general_purpose::STANDARD.encode(d).into()))
        .collect();
    (edge_protocol::instant::content_key(bytes.len() as u64, &digests), checksums)
}

/// `len` pseudo-random bytes from `seed` (xorshift) after [`MP4_FTYP`] (cut short for a shorter
/// file): the same file every run, for uploads whose stored bytes a test compares.
pub fn seeded_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    let prefix = len.min(MP4_FTYP.len());
    bytes[..prefix].copy_from_slice(&MP4_FTYP[..prefix]);
    bytes
}

/// The session-store incarnation every test Redis starts with ([`Services::seed_incarnation`]).
pub const TEST_INCARNATION: &str = "e2e";

/// An access token for `user_id` signed with this test binary's key, as auth would issue it
/// (for tests that need many users without signing each one in).
pub fn access_token(user_id: &str) -> String {
    token_with_roles(user_id, Vec::new())
}

/// Like [`access_token`], for an administrator.
pub fn admin_token(user_id: &str) -> String {
    token_with_roles(user_id, vec!["admin".to_owned()])
}

pub(crate) fn token_with_roles(user_id: &str, roles: Vec<String>) -> String {
    let audience = edge_auth::Audience { issuer: "video-edge".into(), audience: "video-edge-api".into() };
    let (active, _) = edge_auth::KeySet::from_signing_config(&signing_key().to_config()).unwrap();
    let session = format!("{:032x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    let session = edge_auth::Session { id: &session, epoch: 0, incarnation: TEST_INCARNATION };
    edge_auth::Issuer::new(active, audience).issue(user_id, &session, roles).unwrap()
}

/// The signing key every app of this test binary uses (kid `e2e`).
pub fn signing_key() -> &'static edge_auth::SigningKey {
    static KEY: OnceLock<edge_auth::SigningKey> = OnceLock::new();
    KEY.get_or_init(|| edge_auth::SigningKey::generate("e2e"))
}

/// The bytes of `data` an instant-upload challenge asks about (its `ranges`), concatenated in
/// order: what the answer's HMAC covers.
pub fn challenged_bytes(data: &[u8], challenge: &Value) -> Vec<u8> {
    let ranges = challenge["ranges"].as_array().unwrap();
    ranges.iter().flat_map(|r| &data[r[0].as_u64().unwrap() as usize..][..r[1].as_u64().unwrap() as usize]).copied().collect()
}
