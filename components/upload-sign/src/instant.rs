//! Instant upload ("miao chuan") by proof of possession. Knowing a file's SHA-256 and size is
//! not enough to obtain a stored copy: the server names a random byte range and a fresh nonce,
//! the client answers `hex(HMAC-SHA256(key = nonce, message = those bytes))`, and the server
//! computes the same over a ranged read of the stored object. Pure: the adapter stores the
//! challenge and does the read.
//!
//! A challenge is issued whether or not a matching object exists, and a wrong answer and a
//! missing object are refused alike, so the endpoint does not reveal which files are stored.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Most bytes a challenge asks about: enough that guessing is hopeless, small enough to read
/// from the store (and from the user's disk) in a moment.
pub(crate) const MAX_RANGE: u64 = 64 * 1024;

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

fn mac(nonce: &str, bytes: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(nonce.as_bytes()).expect("HMAC takes any key length");
    mac.update(bytes);
    mac
}

/// The answer a client holding `bytes` gives.
#[cfg(test)]
pub(crate) fn answer(nonce: &str, bytes: &[u8]) -> String {
    mac(nonce, bytes).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `given` (hex) is the answer for `bytes`, compared in constant time.
pub(crate) fn is_answer(nonce: &str, bytes: &[u8], given: &str) -> bool {
    let given = given.trim();
    if given.len() != 64 || !given.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let decoded: Vec<u8> = (0..64).step_by(2).filter_map(|i| u8::from_str_radix(&given[i..i + 2], 16).ok()).collect();
    mac(nonce, bytes).verify_slice(&decoded).is_ok()
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

    #[test]
    fn only_the_right_bytes_and_nonce_answer() {
        let bytes = b"the stored range";
        let good = answer("n1", bytes);
        assert!(is_answer("n1", bytes, &good));
        assert!(is_answer("n1", bytes, &good.to_ascii_uppercase()));
        assert!(!is_answer("n2", bytes, &good), "a new nonce needs a new answer");
        assert!(!is_answer("n1", b"the stored rangE", &good));
        assert!(!is_answer("n1", bytes, "zz"));
        assert!(!is_answer("n1", bytes, &"0".repeat(64)));
    }
}
