//! How a file is cut into upload parts: S3's multipart limits, which upload-sign plans with and
//! the browser SDK slices files by.

/// Smallest part S3 accepts (except the last).
pub const MIN_PART: u64 = 5 * 1024 * 1024;
/// Largest part S3 accepts.
pub const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts in one upload.
pub const MAX_PARTS: u64 = 10_000;

/// The part size a file of `size` bytes is cut into unless a client asks otherwise: 5 MiB, or
/// the smallest whole MiB that keeps the count within 10,000. Instant upload's content key is
/// defined over this layout, so it must never change without a new
/// [`crate::instant::CONTENT_KEY_VERSION`].
pub fn default_part_size(size: u64) -> u64 {
    const MIB: u64 = 1024 * 1024;
    (size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB).max(MIN_PART)
}

/// Byte range `[start, end)` of 1-based `part_number` in a file of `size` bytes cut into
/// `part_size` pieces (the last may be shorter). `None` for a part the file does not have.
pub fn range(part_number: u64, part_size: u64, size: u64) -> Option<(u64, u64)> {
    let start = part_number.checked_sub(1)?.checked_mul(part_size)?;
    (part_size > 0 && start < size.max(1)).then(|| (start, (start + part_size).min(size)))
}

/// Slices of at most `slice` bytes covering `[0, size)`, in order: what a hasher reads.
pub fn slices(size: u64, slice: u64) -> impl Iterator<Item = (u64, u64)> {
    let slice = slice.max(1);
    (0..size.div_ceil(slice)).map(move |i| (i * slice, ((i + 1) * slice).min(size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_file_exactly_once() {
        let (size, part) = (12 * 1024 * 1024 + 7, 5 * 1024 * 1024);
        let ranges: Vec<_> = (1..=3).map(|n| range(n, part, size).unwrap()).collect();
        assert_eq!(ranges[0], (0, part));
        assert_eq!(ranges[1], (part, 2 * part));
        assert_eq!(ranges[2], (2 * part, size));
        assert_eq!(range(4, part, size), None);
        assert_eq!(range(0, part, size), None);
        assert_eq!(range(1, 0, size), None);
    }

    #[test]
    fn the_default_layout_is_5_mib_until_10000_parts_need_more() {
        assert_eq!(default_part_size(1), MIN_PART);
        assert_eq!(default_part_size(MAX_PARTS * MIN_PART), MIN_PART);
        assert_eq!(default_part_size(MAX_PARTS * MIN_PART + 1), 6 * 1024 * 1024);
    }

    #[test]
    fn an_empty_file_is_one_empty_part() {
        assert_eq!(range(1, 5, 0), Some((0, 0)));
        assert_eq!(range(2, 5, 0), None);
    }

    #[test]
    fn slices_cover_the_file_in_order() {
        assert_eq!(slices(10, 4).collect::<Vec<_>>(), [(0, 4), (4, 8), (8, 10)]);
        assert_eq!(slices(8, 4).collect::<Vec<_>>(), [(0, 4), (4, 8)]);
        assert_eq!(slices(0, 4).count(), 0);
    }
}
