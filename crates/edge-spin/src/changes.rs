//! The app's change stream: every change to a searchable record (videos from feed, users from
//! auth) is appended to one Redis stream, which search-proxy consumes in order.
//!
//! An entry's fields are `kind` (`video` or `user`), `id`, `version` (the record's version
//! after the change) and `op` (`upsert` or `delete`).

use edge_http::Problem;

use crate::redis::{arg, Redis};

/// The stream's key.
pub const STREAM: &str = "feed:changes";
/// Entries kept (approximately): a consumer may fall this many changes behind before it must
/// reindex.
pub const MAXLEN: u64 = 1_000_000;

/// Appends one change (for writers outside a script; feed appends inside its scripts).
pub fn announce(redis: &Redis, kind: &str, id: &str, version: u64, delete: bool) -> Result<(), Problem> {
    let op = if delete { "delete" } else { "upsert" };
    let args = [
        arg(STREAM),
        arg("MAXLEN"),
        arg("~"),
        arg(MAXLEN),
        arg("*"),
        arg("kind"),
        arg(kind),
        arg("id"),
        arg(id),
        arg("version"),
        arg(version),
        arg("op"),
        arg(op),
    ];
    redis.exec("XADD", &args).map(drop)
}
