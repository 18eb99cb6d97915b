//! Video ids, laid out as `edge_protocol::ids` says (time-ordered, at most 53 bits).
//!
//! Ids stay unique across any number of edge instances because one Redis script is the only
//! issuer: it reads Redis `TIME`, never the edge's clock, so skew between edges cannot matter,
//! and keeps the last millisecond and sequence it issued. When Redis's clock steps back it stays
//! on the last millisecond and bumps the sequence, borrowing the next millisecond when the 4,096
//! sequence numbers run out, so every id is strictly greater than the one before.

use edge_http::handler::FromParam;
use edge_http::Problem;

pub(crate) use edge_protocol::ids::{decimal_id, timestamp_ms, FEED_EPOCH_MS, MAX_ID};

/// A video id from a path segment or query value.
pub(crate) fn parse_id(s: &str) -> Result<u64, Problem> {
    decimal_id(s).ok_or_else(|| Problem::bad_request("invalid-id", format!("a video id is a decimal number from 1 to {MAX_ID}")))
}

/// A video id in a route (`/videos/:id`), checked as [`parse_id`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VideoId(pub(crate) u64);

impl FromParam for VideoId {
    fn from_param(_: &str, raw: &str) -> Result<Self, Problem> {
        parse_id(raw).map(VideoId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_ids_in_range_parse() {
        assert_eq!(parse_id("1").unwrap(), 1);
        assert_eq!(parse_id("9007199254740991").unwrap(), MAX_ID);
        for bad in ["", "0", "007", "+5", "-1", " 5", "5x", "9007199254740992", "99999999999999999999999"] {
            assert_eq!(parse_id(bad).unwrap_err().code(), "invalid-id", "{bad:?}");
        }
    }
}
