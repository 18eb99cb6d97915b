//! Instant upload, shared by upload-sign and the browser SDK: the content key a file is
//! indexed by, and the answer that proves a client holds the file.
//!
//! The **content key** is computed from bytes the object store itself hashed: every part of an
//! instant-upload candidate carries its `x-amz-checksum-sha256`, the store checks it, and at
//! completion upload-sign reads the digests back from the store and derives the key. So an
//! index entry only ever names an object whose bytes have that key, whatever a client claims.
//!
//! The **answer** to a challenge is `hex(HMAC-SHA256(key = nonce, message = the bytes of every
//! range asked for, concatenated in order))`; upload-sign computes the same over ranged reads of
//! the stored object.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::parts;

/// The version of the content key's definition (the layout of [`parts::default_part_size`]
/// and the digest below). A new definition gets a new version and a new index.
pub const CONTENT_KEY_VERSION: u8 = 1;

/// Ranges a challenge asks about, one in each quarter of the file.
pub const RANGES: u64 = 4;
/// Most bytes of one range.
pub const RANGE_BYTES: u64 = 16 * 1024;

/// The content key (hex) of a file of `size` bytes whose parts under the default layout have
/// these SHA-256 digests, in part order: `SHA-256("content-key/v1" ‖ size as 8 bytes big-endian ‖
/// digest 1 ‖ … ‖ digest n)`.
pub fn content_key(size: u64, digests: &[[u8; 32]]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("content-key/v{CONTENT_KEY_VERSION}"));
    hash.update(size.to_be_bytes());
    for digest in digests {
        hash.update(digest);
    }
    hex(&hash.finalize())
}

/// The parts of a `size`-byte file under the default layout, as byte ranges `[start, end)`.
pub fn default_parts(size: u64) -> impl Iterator<Item = (u64, u64)> {
    let part_size = parts::default_part_size(size);
    (1..=size.div_ceil(part_size).max(1)).filter_map(move |n| parts::range(n, part_size, size))
}

/// Whether `text` is a well-formed content key (64 hex digits).
pub fn is_content_key(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mac(nonce: &str, bytes: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(nonce.as_bytes()).expect("HMAC takes any key length");
    mac.update(bytes);
    mac
}

/// The answer a client holding `bytes` (the asked ranges, concatenated) gives to the challenge
/// with `nonce`.
pub fn answer(nonce: &str, bytes: &[u8]) -> String {
    hex(&mac(nonce, bytes).finalize().into_bytes())
}

/// Whether `given` (hex) is the answer for `bytes`, compared in constant time.
pub fn is_answer(nonce: &str, bytes: &[u8], given: &str) -> bool {
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

    #[test]
    fn a_known_answer() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(answer("Jefe", b"what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn the_content_key_depends_on_every_part_and_the_size() {
        let (a, b) = ([1; 32], [2; 32]);
        let key = content_key(10, &[a, b]);
        assert!(is_content_key(&key));
        assert_ne!(key, content_key(10, &[b, a]), "order counts");
        assert_ne!(key, content_key(11, &[a, b]), "size counts");
        assert_ne!(key, content_key(10, &[a]));
        // Pinned, so a change to the definition cannot slip in without a new version.
        let mut expected = Sha256::new();
        expected.update(b"content-key/v1\0\0\0\0\0\0\0\x0a");
        expected.update([1; 32]);
        expected.update([2; 32]);
        assert_eq!(key, hex(&expected.finalize()));
    }

    #[test]
    fn default_parts_cover_the_file() {
        let mib = 1024 * 1024;
        assert_eq!(default_parts(12 * mib).collect::<Vec<_>>(), [(0, 5 * mib), (5 * mib, 10 * mib), (10 * mib, 12 * mib)]);
        assert_eq!(default_parts(3).collect::<Vec<_>>(), [(0, 3)]);
    }
}
