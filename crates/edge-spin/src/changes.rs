//! Appending to the app's change stream (its layout: [`edge_protocol::changes`]).

use edge_http::Problem;

use crate::redis::{arg, Redis};

use edge_protocol::changes::{DELETE, ID, KIND, OP, UPSERT, VERSION};
pub use edge_protocol::changes::{MAXLEN, STREAM};

/// Appends one change (for writers outside a script; feed appends inside its scripts).
pub fn announce(redis: &Redis, kind: &str, id: &str, version: u64, delete: bool) -> Result<(), Problem> {
    let op = if delete { DELETE } else { UPSERT };
    let args = [
        arg(STREAM),
        arg("MAXLEN"),
        arg("~"),
        arg(MAXLEN),
        arg("*"),
        arg(KIND),
        arg(kind),
        arg(ID),
        arg(id),
        arg(VERSION),
        arg(version),
        arg(OP),
        arg(op),
    ];
    redis.exec("XADD", &args).map(drop)
}
