//! The instant-upload answer. Knowing a file's SHA-256 and size is not enough to obtain a
//! stored copy: upload-sign names a random byte range and a fresh nonce, and the browser answers
//! `hex(HMAC-SHA256(key = nonce, message = those bytes))`, which upload-sign checks against a
//! ranged read of the stored object.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Most bytes a challenge asks about: enough that guessing is hopeless, small enough to read
/// from the store (and from the user's disk) in a moment.
pub const MAX_RANGE: u64 = 64 * 1024;

fn mac(nonce: &str, bytes: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(nonce.as_bytes()).expect("HMAC takes any key length");
    mac.update(bytes);
    mac
}

/// The answer a client holding `bytes` gives to the challenge with `nonce`.
pub fn answer(nonce: &str, bytes: &[u8]) -> String {
    mac(nonce, bytes).finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
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
}
