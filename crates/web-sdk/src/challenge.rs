//! Instant upload, browser side: the file's content key and its parts' digests from one
//! hashing pass, and the answer to a possession challenge.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use edge_protocol::instant::answer;
use edge_protocol::{instant, parts};

/// What one pass over a file gives: its content key and each part's SHA-256 (base64, as S3's
/// `x-amz-checksum-sha256` wants it) under the default layout, part 1 first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hashed {
    /// [`edge_protocol::instant::content_key`] of the file.
    pub content_key: String,
    /// Base64 SHA-256 of each part.
    pub checksums: Vec<String>,
}

/// The part digests of a `size`-byte file fed slice by slice (any slice size), so a large file
/// is never in memory at once.
pub struct ContentHash {
    size: u64,
    part_size: u64,
    fed: u64,
    part: Sha256,
    digests: Vec<[u8; 32]>,
}

impl ContentHash {
    /// A hash of a file of `size` bytes, cut by [`parts::default_part_size`].
    pub fn new(size: u64) -> Self {
        ContentHash { size, part_size: parts::default_part_size(size), fed: 0, part: Sha256::new(), digests: Vec::new() }
    }

    /// Adds the next bytes of the file.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let room = (self.part_size - self.fed % self.part_size) as usize;
            let (now, rest) = bytes.split_at(room.min(bytes.len()));
            self.part.update(now);
            self.fed += now.len() as u64;
            if self.fed.is_multiple_of(self.part_size) {
                self.digests.push(std::mem::take(&mut self.part).finalize().into());
            }
            bytes = rest;
        }
    }

    /// The content key and part digests.
    pub fn finish(mut self) -> Hashed {
        if !self.fed.is_multiple_of(self.part_size) || self.digests.is_empty() {
            self.digests.push(self.part.finalize().into());
        }
        Hashed {
            content_key: instant::content_key(self.size, &self.digests),
            checksums: self.digests.iter().map(|d| Base64::encode_string(d.as_ref())).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(bytes: &[u8]) -> Hashed {
        let digests: Vec<[u8; 32]> =
            instant::default_parts(bytes.len() as u64).map(|(a, b)| Sha256::digest(&bytes[a as usize..b as usize]).into()).collect();
        Hashed {
            content_key: instant::content_key(bytes.len() as u64, &digests),
            checksums: digests.iter().map(|d| Base64::encode_string(d.as_ref())).collect(),
        }
    }

    #[test]
    fn any_slicing_gives_the_parts_digests() {
        let bytes: Vec<u8> = (0..12 * 1024 * 1024 + 5).map(|i| (i % 253) as u8).collect();
        for slice in [1 << 20, 8 << 20, 5 << 20, 3_000_001] {
            let mut hash = ContentHash::new(bytes.len() as u64);
            bytes.chunks(slice).for_each(|c| hash.update(c));
            let hashed = hash.finish();
            assert_eq!(hashed, whole(&bytes), "slices of {slice}");
            assert_eq!(hashed.checksums.len(), 3);
        }
    }

    #[test]
    fn exact_multiples_and_empty_files_have_no_extra_part() {
        let five = vec![7u8; 5 * 1024 * 1024];
        let mut hash = ContentHash::new(five.len() as u64);
        hash.update(&five);
        assert_eq!(hash.finish(), whole(&five));
        let empty = ContentHash::new(0).finish();
        assert_eq!(empty.checksums, [Base64::encode_string(Sha256::digest(b"").as_ref())]);
    }
}
