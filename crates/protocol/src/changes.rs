//! The app's change stream: every change to a searchable record (videos from feed, users from
//! auth) is appended to one Redis stream, which search-proxy consumes in order.

/// The stream's key.
pub const STREAM: &str = "feed:changes";
/// Entries kept (approximately): a consumer may fall this many changes behind before it must
/// reindex.
pub const MAXLEN: u64 = 1_000_000;

/// Field: the record's kind, `video` or `user`.
pub const KIND: &str = "kind";
/// Field: the record's id.
pub const ID: &str = "id";
/// Field: the record's version after the change.
pub const VERSION: &str = "version";
/// Field: [`UPSERT`] or [`DELETE`].
pub const OP: &str = "op";
/// The record exists in this version (or a newer one).
pub const UPSERT: &str = "upsert";
/// The record is gone (or hidden from search).
pub const DELETE: &str = "delete";
