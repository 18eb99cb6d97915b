//! Video ids: `(ms since FEED_EPOCH_MS) << SEQ_BITS | seq`, at most 53 bits, so an id is exact
//! as a JavaScript number and as a Redis sorted-set score (a double), and sorting by id is
//! sorting by creation time.
//!
//! feed issues them (one Redis script reading Redis `TIME`, see feed's `ids` module) and
//! search-proxy reads creation times from them.

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

/// An id in canonical decimal (digits only, no leading zero, 1 to [`MAX_ID`]), so each id has
/// one spelling; `+5`, `05` and ` 5` are refused rather than read as 5.
pub fn decimal_id(s: &str) -> Option<u64> {
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
    fn only_canonical_ids_in_range_are_read() {
        assert_eq!(decimal_id("1"), Some(1));
        assert_eq!(decimal_id("9007199254740991"), Some(MAX_ID));
        for bad in ["", "0", "007", "+5", "-1", " 5", "5x", "9007199254740992", "99999999999999999999999"] {
            assert_eq!(decimal_id(bad), None, "{bad:?}");
        }
    }
}
