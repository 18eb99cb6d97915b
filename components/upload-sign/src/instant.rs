//! Instant upload ("miao chuan") by proof of possession. Knowing a file's SHA-256 and size is
//! not enough to obtain a stored copy: the server names a random byte range and a fresh nonce,
//! the client answers `hex(HMAC-SHA256(key = nonce, message = those bytes))`, and the server
//! computes the same over a ranged read of the stored object. Pure: the adapter stores the
//! challenge and does the read.
//!
//! A challenge is issued whether or not a matching object exists, and a wrong answer and a
//! missing object are refused alike, so the endpoint does not reveal which files are stored.

use serde::{Deserialize, Serialize};

pub(crate) use edge_protocol::instant::{is_answer, MAX_RANGE};

/// An issued challenge, kept server-side until answered once or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Challenge {
    /// Who may answer it.
    pub owner: String,
    /// The file the client claims to have.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// The display filename for the upload record, already cleaned.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// First byte of the range.
    pub offset: u64,
    /// Bytes in the range.
    pub length: u64,
    /// Hex nonce, the HMAC key.
    pub nonce: String,
}

/// The range to ask about for a `size`-byte file, placed by the `random` value.
pub(crate) fn pick_range(size: u64, random: u64) -> (u64, u64) {
    let length = size.min(MAX_RANGE);
    (random % (size - length + 1), length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_stay_inside_the_file() {
        assert_eq!(pick_range(10, 12345), (0, 10));
        for random in [0, 1, u64::MAX, 987_654_321] {
            let (offset, length) = pick_range(1_000_000, random);
            assert_eq!(length, MAX_RANGE);
            assert!(offset + length <= 1_000_000, "{offset}");
        }
        assert_eq!(pick_range(MAX_RANGE + 1, 1), (1, MAX_RANGE));
    }
}
