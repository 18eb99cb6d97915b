//! Instant upload's proof of possession and the whole-file hash.

use sha2::{Digest, Sha256};

pub use edge_protocol::instant::answer;

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
}
