//! Video ids: `(ms since FEED_EPOCH_MS) << SEQ_BITS | seq`, at most 53 bits, so an id is exact
//! as a JavaScript number and as a Redis sorted-set score (a double), and sorting by id is
//! sorting by creation time.
//!
//! Ids stay unique across any number of edge instances because one Redis script is the only
//! issuer: it reads Redis `TIME`, never the edge's clock, so skew between edges cannot matter,
//! and keeps the last millisecond and sequence it issued. When Redis's clock steps back it stays
//! on the last millisecond and bumps the sequence, borrowing the next millisecond when the 4,096
//! sequence numbers run out, so every id is strictly greater than the one before.

use edge_http::Problem;

/// Bits of the per-millisecond sequence (0 to 4,095).
pub const SEQ_BITS: u32 = 12;
/// 2025-01-01T00:00:00Z in ms since the Unix epoch; 41 bits of milliseconds last until 2094.
pub const FEED_EPOCH_MS: u64 = 1_735_689_600_000;
/// Largest id: 2^53 - 1, the largest integer a double holds exactly.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// When the id was issued, in ms since the Unix epoch (by Redis's clock).
pub fn timestamp_ms(id: u64) -> u64 {
    (id >> SEQ_BITS) + FEED_EPOCH_MS
}

/// A video id from a path segment or query value.
pub fn parse_id(s: &str) -> Result<u64, Problem> {
    decimal_id(s).ok_or_else(|| {
        Problem::bad_request("invalid-id", format!("a video id is a decimal number from 1 to {MAX_ID}"))
    })
}

/// An id in canonical decimal (digits only, no leading zero, 1 to [`MAX_ID`]), so each id has
/// one spelling; `+5`, `05` and ` 5` are refused rather than read as 5.
pub(crate) fn decimal_id(s: &str) -> Option<u64> {
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|id| *id <= MAX_ID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_timestamp() {
        let at = FEED_EPOCH_MS + 86_400_000;
        let id = (86_400_000 << SEQ_BITS) | 4095;
        assert_eq!(timestamp_ms(id), at);
        assert_eq!(timestamp_ms(id + 1), at + 1, "seq overflow moves to the next ms");
        assert!(timestamp_ms(MAX_ID) > 3_913_142_400_000, "ids last past 2094-01-01");
    }

    #[test]
    fn only_canonical_ids_in_range_parse() {
        assert_eq!(parse_id("1").unwrap(), 1);
        assert_eq!(parse_id("9007199254740991").unwrap(), MAX_ID);
        for bad in ["", "0", "007", "+5", "-1", " 5", "5x", "9007199254740992", "99999999999999999999999"] {
            assert_eq!(parse_id(bad).unwrap_err().code(), "invalid-id", "{bad:?}");
        }
    }
}
