//! Instant upload ("miao chuan"). Pure: the adapter stores challenges and reads the ranges.
//!
//! **What may be indexed.** An object enters the index only under the content key computed
//! from the part digests the store itself checked ([`verified_key`]), and only if the key has no
//! entry yet. A client that declares someone else's key and sends other bytes gets its upload
//! completed, indexed (if at all) under its own bytes' key, never under the declaration.
//!
//! **What a client must know to be granted a copy.** A content key and size are not enough:
//! the server names [`RANGES`] byte ranges, one at a random place in each quarter of the file
//! (each up to [`RANGE_BYTES`]), and a fresh nonce; the client answers
//! `hex(HMAC-SHA256(nonce, the ranges' bytes in order))`, and the server computes the same over
//! ranged reads of the stored object. The ranges are unknown until the challenge is issued, a
//! challenge is bound to the declared size, answered once and lives five minutes, so passing
//! needs the bytes at four unpredictable places spread over the whole file: in practice, the
//! file. A challenge is issued whether or not a matching object exists, and a wrong answer and
//! a missing object are refused alike, so the endpoint does not reveal which files are stored.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

pub(crate) use edge_protocol::instant::{is_answer, RANGES, RANGE_BYTES};

use crate::plan::Layout;
use crate::s3::StoredPart;

/// An issued challenge, kept server-side until answered once or expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Challenge {
    /// Who may answer it.
    pub owner: String,
    /// The content key the client claims its file has.
    pub content_key: String,
    /// Its size in bytes.
    pub size: u64,
    /// The display filename for the upload record, already cleaned.
    pub filename: String,
    /// MIME type.
    pub content_type: String,
    /// `(offset, length)` of each range asked about, in file order.
    pub ranges: Vec<(u64, u64)>,
    /// Hex nonce, the HMAC key.
    pub nonce: String,
}

/// The ranges to ask about for a `size`-byte file: the whole file when it is at most
/// `RANGES × RANGE_BYTES`, else one range in each quarter, placed by `random`.
pub(crate) fn pick_ranges(size: u64, random: [u64; RANGES as usize]) -> Vec<(u64, u64)> {
    if size <= RANGES * RANGE_BYTES {
        return vec![(0, size)];
    }
    let span = size / RANGES;
    random
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let start = i as u64 * span;
            let end = if i as u64 == RANGES - 1 { size } else { start + span };
            (start + r % (end - start - RANGE_BYTES + 1), RANGE_BYTES)
        })
        .collect()
}

/// The content key of a completed upload, from the digests the store checked: `None` unless the
/// upload used the default layout and the store lists a SHA-256 for every part.
pub(crate) fn verified_key(size: u64, layout: Option<&Layout>, parts: &[StoredPart]) -> Option<String> {
    let default = edge_protocol::parts::default_part_size(size);
    if layout.map(|l| l.part_size) != Some(default) {
        return None;
    }
    let digests =
        parts.iter().map(|p| Base64::decode_vec(p.checksum.as_deref()?).ok()?.try_into().ok()).collect::<Option<Vec<[u8; 32]>>>()?;
    Some(edge_protocol::instant::content_key(size, &digests))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_files_are_asked_whole() {
        assert_eq!(pick_ranges(10, [7; 4]), [(0, 10)]);
        assert_eq!(pick_ranges(RANGES * RANGE_BYTES, [7; 4]), [(0, RANGES * RANGE_BYTES)]);
    }

    #[test]
    fn ranges_are_one_per_quarter_inside_the_file() {
        let size = 1_000_003;
        for random in [[0; 4], [u64::MAX; 4], [1, 2, 3, 987_654_321]] {
            let ranges = pick_ranges(size, random);
            assert_eq!(ranges.len(), 4);
            for (i, (offset, length)) in ranges.iter().enumerate() {
                assert_eq!(*length, RANGE_BYTES);
                let quarter = size / 4;
                assert!(*offset >= i as u64 * quarter, "{ranges:?}");
                assert!(offset + length <= if i == 3 { size } else { (i as u64 + 1) * quarter }, "{ranges:?}");
            }
        }
        let smallest = RANGES * RANGE_BYTES + 1;
        assert!(pick_ranges(smallest, [u64::MAX; 4]).iter().all(|(o, l)| o + l <= smallest));
    }

    fn part(number: u64, digest: u8) -> StoredPart {
        StoredPart { number, etag: "e".into(), size: 1, checksum: Some(Base64::encode_string([digest; 32].as_ref())) }
    }

    #[test]
    fn the_key_comes_from_the_stores_digests_under_the_default_layout_only() {
        let size = 12 * 1024 * 1024;
        let layout = crate::plan::layout(size, None).unwrap();
        let parts = [part(1, 1), part(2, 2), part(3, 3)];
        assert_eq!(
            verified_key(size, Some(&layout), &parts),
            Some(edge_protocol::instant::content_key(size, &[[1; 32], [2; 32], [3; 32]]))
        );
        let other = Layout { part_size: 6 * 1024 * 1024, part_count: 2 };
        assert_eq!(verified_key(size, Some(&other), &parts[..2]), None, "another layout has no content key");
        let mut unchecked = parts.clone();
        unchecked[1].checksum = None;
        assert_eq!(verified_key(size, Some(&layout), &unchecked), None, "a part without the store's digest");
        unchecked[1].checksum = Some("not base64!".into());
        assert_eq!(verified_key(size, Some(&layout), &unchecked), None);
        assert_eq!(verified_key(size, None, &parts), None);
    }
}
