//! Instant upload's proof of possession and the whole-file hash.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The answer to a challenge: hex HMAC-SHA256 of the named bytes, keyed with the nonce string.
pub fn answer(nonce: &str, bytes: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(nonce.as_bytes()).expect("HMAC takes any key length");
    mac.update(bytes);
    hex(&mac.finalize().into_bytes())
}

/// SHA-256 fed slice by slice, so a large file is never in memory at once.
#[derive(Default)]
pub struct FileHash(Sha256);

impl FileHash {
    /// Adds the next slice.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        hex(&self.0.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_hash_equals_the_whole() {
        let mut h = FileHash::default();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(h.finish(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn answers_match_rfc_4231_style_hmac() {
        // RFC 4231 test case 2: key "Jefe".
        assert_eq!(answer("Jefe", b"what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
