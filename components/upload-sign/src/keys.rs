//! Every key upload-sign reads or writes, one function per family. Records live in the
//! key-value store; everything else in Redis, where a loss costs only what the README's state
//! table says (quotas restart, instant upload forgets older files, challenges end).

/// Key-value store: upload `id`'s record ([`crate::uploads::Upload`] as JSON).
pub(crate) fn upload(id: &str) -> String {
    format!("upload:{id}")
}

/// Redis set: `owner`'s unfinished upload ids (`max_active_uploads` counts them).
pub(crate) fn active(owner: &str) -> String {
    format!("uploads:active:{owner}")
}

/// Redis counter: bytes `owner` reserved on `day` (days since the Unix epoch).
pub(crate) fn daily_bytes(owner: &str, day: u64) -> String {
    format!("uploads:bytes:{owner}:{day}")
}

/// Redis sorted set: unfinished upload ids by expiry time, which cleanup reads.
pub(crate) const EXPIRING: &str = "uploads:expiring";

/// Redis string: the object holding the file with this content key and size (instant upload;
/// versioned with the content key's definition).
pub(crate) fn content(content_key: &str, size: u64) -> String {
    format!("uploads:content:v{}:{content_key}:{size}", edge_protocol::instant::CONTENT_KEY_VERSION)
}

/// Redis string: instant-upload challenge `id` until answered or expired.
pub(crate) fn challenge(id: &str) -> String {
    format!("uploads:challenge:{id}")
}

/// Redis sliding window: `user`'s instant-upload challenges in the last minute.
pub(crate) fn challenge_rate(user: &str) -> String {
    format!("uploads:challenges:{user}")
}
