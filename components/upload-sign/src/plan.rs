//! Planning an upload: validating what the client declares, choosing the object key and the
//! part layout within S3's rules, and checking the parts a client signs and completes. Pure.

use std::collections::BTreeMap;

use edge_http::Problem;
use serde::{Deserialize, Serialize};

use crate::s3::StoredPart;

pub(crate) use edge_protocol::parts::{MAX_PART, MAX_PARTS, MIN_PART};
/// Longest filename kept (characters).
pub(crate) const MAX_FILENAME: usize = 255;
/// Largest file a single form (`POST` policy) upload may carry; larger files go multipart.
pub(crate) const MAX_FORM_UPLOAD: u64 = 20 * 1024 * 1024;

/// What a client asks for.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    /// The name the user sees (kept for display, never used in the object key).
    pub filename: String,
    /// Total bytes. Optional because some clients (Uppy) do not declare it: such an upload is
    /// checked against the limits when it completes instead.
    pub size: Option<u64>,
    /// MIME type.
    pub content_type: String,
    /// The file's content key ([`edge_protocol::instant::content_key`], 64 hex), when the
    /// client wants it to become available for instant upload. The upload then uses the default
    /// part layout and every part must be signed with its SHA-256.
    pub content_key: Option<String>,
    /// Preferred part size in bytes.
    pub part_size: Option<u64>,
}

/// Limits from configuration.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Largest object accepted.
    pub max_size: u64,
    /// Allowed content types; an entry ending in `/*` allows a whole family.
    pub content_types: Vec<String>,
}

/// The layout of an accepted upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Layout {
    /// Bytes per part (the last part may be smaller).
    pub part_size: u64,
    /// Number of parts.
    pub part_count: u64,
}

impl Layout {
    /// The expected size of part `n` (1-based), or `None` outside the layout.
    pub(crate) fn part_len(&self, n: u64, total: u64) -> Option<u64> {
        if n == 0 || n > self.part_count {
            return None;
        }
        Some(if n < self.part_count { self.part_size } else { total - self.part_size * (self.part_count - 1) })
    }
}

/// Part size and count for `size` bytes: the client's suggestion when it fits S3's rules,
/// else the smallest whole-MiB size that keeps the count within 10,000.
pub(crate) fn layout(size: u64, suggested: Option<u64>) -> Result<Layout, Problem> {
    if let Some(p) = suggested {
        if !(MIN_PART..=MAX_PART).contains(&p) {
            return Err(Problem::bad_request("invalid-part-size", "part_size must be between 5 MiB and 5 GiB")
                .with("min", MIN_PART)
                .with("max", MAX_PART)
                .with("field", "part_size"));
        }
    }
    let default = edge_protocol::parts::default_part_size(size);
    let part_size = suggested.unwrap_or(default).max(default);
    if part_size > MAX_PART {
        return Err(Problem::bad_request("too-large", "the file is larger than S3 can hold"));
    }
    Ok(Layout { part_size, part_count: size.div_ceil(part_size).max(1) })
}

/// Validates a create request against `limits`; returns the cleaned filename.
pub(crate) fn validate(request: &CreateRequest, limits: &Limits) -> Result<String, Problem> {
    if let Some(size) = request.size {
        check_size(size, limits.max_size)?;
    }
    check_content_type(&request.content_type, limits)?;
    if let Some(key) = &request.content_key {
        if !edge_protocol::instant::is_content_key(key) {
            return Err(Problem::bad_request("invalid-content-key", "content_key must be 64 hex digits").with("field", "content_key"));
        }
        let default = request.size.map(edge_protocol::parts::default_part_size);
        if request.part_size.is_some() && request.part_size != default {
            return Err(Problem::bad_request(
                "invalid-part-size",
                "a content key is defined over the default part layout: leave part_size out when sending content_key",
            )
            .with("field", "part_size"));
        }
    }
    clean_filename(&request.filename)
}

/// Refuses an empty file or one over `max_size` (naming the variable that sets it).
pub(crate) fn check_size(size: u64, max_size: u64) -> Result<(), Problem> {
    if size == 0 {
        return Err(Problem::bad_request("empty-file", "size must be at least 1 byte").with("field", "size"));
    }
    if size > max_size {
        return Err(Problem::new(
            http::StatusCode::PAYLOAD_TOO_LARGE,
            "file-too-large",
            format!("files are limited to {max_size} bytes (max_upload_bytes)"),
        )
        .with("limit", max_size)
        .with("field", "size"));
    }
    Ok(())
}

/// Refuses a content type outside the allowed list.
pub(crate) fn check_content_type(raw: &str, limits: &Limits) -> Result<(), Problem> {
    let content_type = raw.trim().to_ascii_lowercase();
    let token = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b".+-_".contains(&b));
    let well_formed = content_type.split_once('/').is_some_and(|(family, sub)| token(family) && token(sub));
    let allowed = well_formed
        && limits.content_types.iter().any(|allowed| match allowed.strip_suffix("/*") {
            Some(family) => content_type.split('/').next() == Some(family) && content_type.contains('/'),
            None => *allowed == content_type,
        });
    if !allowed {
        return Err(Problem::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type-not-allowed",
            format!("{content_type:?} is not accepted; allowed: {}", limits.content_types.join(", ")),
        )
        .with("field", "content_type"));
    }
    // Pictures are shown to other users straight from the store's origin: an SVG there runs
    // its script when opened, so only raster types that carry none are stored.
    if content_type.starts_with("image/") && !PICTURE_TYPES.contains(&content_type.as_str()) {
        return Err(Problem::new(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "picture-type-not-allowed",
            format!("{content_type:?} is not accepted for a picture; use {}", PICTURE_TYPES.join(", ")),
        )
        .with("field", "content_type"));
    }
    Ok(())
}

/// The only picture types stored (covers): raster formats no browser runs script from.
pub(crate) const PICTURE_TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// A filename safe to store and show: no path, no control characters, at most 255 characters.
/// Unicode is kept. `../x`, `a/b` and names with NUL are refused rather than silently changed.
pub(crate) fn clean_filename(raw: &str) -> Result<String, Problem> {
    let name = raw.trim();
    let bad = name.is_empty()
        || name.chars().count() > MAX_FILENAME
        || name.chars().any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == "..";
    if bad {
        return Err(Problem::bad_request("invalid-filename", "a filename is 1 to 255 characters without '/', '\\' or control characters")
            .with("field", "filename"));
    }
    Ok(name.to_owned())
}

/// The object key: chosen by the server from the owner and upload id, with an extension taken
/// from the content type, so nothing the client names reaches the key. Images (covers) go under
/// `covers/`, everything else under `uploads/`.
pub(crate) fn object_key(owner: &str, upload_id: &str, content_type: &str) -> String {
    let folder = if content_type.starts_with("image/") { "covers" } else { "uploads" };
    let subtype = content_type.split('/').nth(1).unwrap_or("");
    let ext: String = subtype.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect::<String>().to_ascii_lowercase();
    let ext = if ext.is_empty() { "bin".to_owned() } else { ext };
    format!("{folder}/{owner}/{upload_id}.{ext}")
}

/// The picture type of `key` when it is one of `owner`'s cover keys as [`object_key`] makes
/// them (`covers/<owner>/<32 hex>.<jpeg|png|webp>`), else `None`.
pub(crate) fn cover_type(key: &str, owner: &str) -> Option<&'static str> {
    let name = key.strip_prefix("covers/")?.strip_prefix(owner)?.strip_prefix('/')?;
    let (id, ext) = name.split_once('.')?;
    if !edge_http::is_random_id(id) {
        return None;
    }
    PICTURE_TYPES.into_iter().find(|t| t.strip_prefix("image/") == Some(ext))
}

/// The parts a sign request may name: 1 to `max` numbers, each within the upload, each
/// optional checksum the base64 SHA-256 S3 binds into that part's signature.
pub(crate) fn check_part_numbers(numbers: &[u64], checksums: &BTreeMap<String, String>, max: u64) -> Result<(), Problem> {
    if numbers.is_empty() || numbers.len() as u64 > max {
        return Err(Problem::bad_request("invalid-part-numbers", format!("ask for 1 to {max} part numbers")));
    }
    for &n in numbers {
        if n == 0 || n > max {
            return Err(Problem::bad_request("invalid-part-number", format!("part numbers run from 1 to {max}")).with("part_number", n));
        }
        if let Some(sum) = checksums.get(&n.to_string()) {
            let valid = sum.len() == 44 && sum.ends_with('=') && sum.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
            if !valid {
                return Err(
                    Problem::bad_request("invalid-checksum", "a part checksum is the base64 SHA-256 of its bytes").with("part_number", n)
                );
            }
        }
    }
    Ok(())
}

/// What completing an upload sends the store: the stored parts in part order, and the bytes
/// they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Checked {
    /// The parts as the store lists them, 1 to n.
    pub parts: Vec<StoredPart>,
    /// The object's size.
    pub total: u64,
}

/// Checks the client's `(part number, ETag)` list against the parts the store holds and the
/// plan (`layout` and `declared` size, when the upload was planned): every part from 1 to the
/// count listed once, held by the store with that ETag, each of the planned size (unplanned:
/// every part but the last at least 5 MiB), and the total as declared.
pub(crate) fn check_parts(
    layout: Option<&Layout>,
    declared: Option<u64>,
    claimed: &[(u64, String)],
    stored: &[StoredPart],
) -> Result<Checked, Problem> {
    let count = layout.map_or(claimed.len() as u64, |l| l.part_count);
    let mut parts = Vec::with_capacity(count as usize);
    let mut total = 0;
    for n in 1..=count {
        let (_, etag) = claimed.iter().find(|(number, _)| *number == n).ok_or_else(|| {
            Problem::bad_request("missing-part", format!("part {n} is not in the list; every part from 1 to {count} is needed"))
                .with("part_number", n)
        })?;
        let held = stored.iter().find(|p| p.number == n).ok_or_else(|| {
            Problem::conflict("part-not-uploaded", format!("the store has no part {n}; upload it, then complete")).with("part_number", n)
        })?;
        if held.etag.trim_matches('"') != etag.trim_matches('"') {
            return Err(Problem::conflict(
                "etag-mismatch",
                format!("part {n}'s ETag differs from the store's; upload it again or send the store's ETag"),
            )
            .with("part_number", n));
        }
        let expected = match (layout, declared) {
            (Some(layout), Some(size)) => layout.part_len(n, size).unwrap_or(0),
            // Unplanned parts: S3's rule, every part but the last at least 5 MiB.
            _ if n < count && held.size < MIN_PART => MIN_PART,
            _ => held.size,
        };
        if held.size != expected {
            return Err(Problem::conflict("part-size-mismatch", format!("part {n} holds {} bytes, the plan says {expected}", held.size))
                .with("part_number", n));
        }
        total += held.size;
        parts.push(held.clone());
    }
    if claimed.len() as u64 != count || claimed.iter().any(|(n, _)| *n == 0 || *n > count) {
        return Err(Problem::bad_request("invalid-part-list", format!("list each part from 1 to {count} exactly once")));
    }
    match declared {
        Some(size) if total != size => {
            Err(Problem::conflict("size-mismatch", format!("the parts hold {total} bytes, {size} were declared")))
        }
        _ => Ok(Checked { parts, total }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u64, etag: &str, size: u64) -> StoredPart {
        StoredPart { number, etag: format!("\"{etag}\""), size, checksum: None }
    }

    fn claim(list: &[(u64, &str)]) -> Vec<(u64, String)> {
        list.iter().map(|(n, e)| (*n, (*e).to_owned())).collect()
    }

    /// A planned 12 MiB upload: parts of 5, 5 and 2 MiB, all stored.
    fn planned() -> (Layout, u64, Vec<StoredPart>) {
        let size = 12 * MIB;
        (layout(size, None).unwrap(), size, vec![part(1, "a", 5 * MIB), part(2, "b", 5 * MIB), part(3, "c", 2 * MIB)])
    }

    fn refusal(result: Result<Checked, Problem>) -> (&'static str, Option<u64>) {
        let problem = result.unwrap_err();
        (problem.code(), problem.extension("part_number").and_then(|v| v.as_u64()))
    }

    #[test]
    fn a_complete_planned_upload_passes_with_the_stores_etags_in_order() {
        let (layout, size, stored) = planned();
        let checked = check_parts(Some(&layout), Some(size), &claim(&[(3, "c"), (1, "\"a\""), (2, "b")]), &stored).unwrap();
        assert_eq!(checked, Checked { parts: stored, total: size });
    }

    #[test]
    fn each_part_problem_names_its_part() {
        let (layout, size, stored) = planned();
        let check =
            |claimed: &[(u64, &str)], stored: &[StoredPart]| refusal(check_parts(Some(&layout), Some(size), &claim(claimed), stored));
        assert_eq!(check(&[(1, "a"), (3, "c")], &stored), ("missing-part", Some(2)));
        assert_eq!(check(&[(1, "a"), (2, "b"), (3, "c")], &stored[..2]), ("part-not-uploaded", Some(3)));
        assert_eq!(check(&[(1, "a"), (2, "x"), (3, "c")], &stored), ("etag-mismatch", Some(2)));
        let short = [part(1, "a", 5 * MIB), part(2, "b", 5 * MIB - 1), part(3, "c", 2 * MIB)];
        assert_eq!(check(&[(1, "a"), (2, "b"), (3, "c")], &short), ("part-size-mismatch", Some(2)));
        assert_eq!(check(&[(1, "a"), (2, "b"), (3, "c"), (4, "d")], &stored), ("invalid-part-list", None));
        assert_eq!(check(&[(1, "a"), (2, "b"), (3, "c"), (3, "c")], &stored), ("invalid-part-list", None));
    }

    #[test]
    fn unplanned_uploads_follow_s3s_rules_and_declared_sizes_must_match() {
        let small_middle = [part(1, "a", 5 * MIB), part(2, "b", MIB), part(3, "c", MIB)];
        let claimed = claim(&[(1, "a"), (2, "b"), (3, "c")]);
        assert_eq!(refusal(check_parts(None, None, &claimed, &small_middle)), ("part-size-mismatch", Some(2)));
        let fine = [part(1, "a", 5 * MIB), part(2, "b", 6 * MIB), part(3, "c", 1)];
        assert_eq!(check_parts(None, None, &claimed, &fine).unwrap().total, 11 * MIB + 1);
        assert_eq!(refusal(check_parts(None, Some(11 * MIB), &claimed, &fine)), ("size-mismatch", None));
    }

    #[test]
    fn sign_requests_name_parts_of_the_upload_with_well_formed_checksums() {
        let none = BTreeMap::new();
        assert!(check_part_numbers(&[1, 2, 3], &none, 3).is_ok());
        assert_eq!(check_part_numbers(&[], &none, 3).unwrap_err().code(), "invalid-part-numbers");
        assert_eq!(check_part_numbers(&[1, 2, 3, 1], &none, 3).unwrap_err().code(), "invalid-part-numbers");
        assert_eq!(check_part_numbers(&[0], &none, 3).unwrap_err().code(), "invalid-part-number");
        assert_eq!(check_part_numbers(&[4], &none, 3).unwrap_err().code(), "invalid-part-number");
        let good = BTreeMap::from([("1".to_owned(), format!("{}=", "A".repeat(43)))]);
        assert!(check_part_numbers(&[1], &good, 3).is_ok());
        let bad = BTreeMap::from([("2".to_owned(), "not base64".to_owned())]);
        assert_eq!(check_part_numbers(&[1, 2], &bad, 3).unwrap_err().code(), "invalid-checksum");
    }

    const MIB: u64 = 1024 * 1024;

    fn limits() -> Limits {
        Limits { max_size: 50 * 1024 * MIB, content_types: vec!["video/*".into(), "image/png".into()] }
    }

    fn request(filename: &str, size: u64, content_type: &str) -> CreateRequest {
        CreateRequest { filename: filename.into(), size: Some(size), content_type: content_type.into(), content_key: None, part_size: None }
    }

    #[test]
    fn layouts_follow_s3_rules() {
        assert_eq!(layout(1, None).unwrap(), Layout { part_size: 5 * MIB, part_count: 1 });
        assert_eq!(layout(15 * MIB + 1, None).unwrap(), Layout { part_size: 5 * MIB, part_count: 4 });
        assert_eq!(layout(100 * MIB, Some(8 * MIB)).unwrap(), Layout { part_size: 8 * MIB, part_count: 13 });
        let big = layout(100 * 1024 * MIB, None).unwrap();
        assert!(big.part_count <= MAX_PARTS && big.part_size.is_multiple_of(MIB), "{big:?}");
        assert_eq!(layout(10 * MIB, Some(MIB)).unwrap_err().code(), "invalid-part-size");
        let l = Layout { part_size: 5 * MIB, part_count: 4 };
        assert_eq!(l.part_len(4, 15 * MIB + 1), Some(1));
        assert_eq!(l.part_len(1, 15 * MIB + 1), Some(5 * MIB));
        assert_eq!((l.part_len(0, 1), l.part_len(5, 1)), (None, None));
    }

    #[test]
    fn pictures_are_only_raster_types_that_carry_no_script() {
        let limits = Limits { max_size: MIB, content_types: vec!["image/*".into()] };
        for picture in PICTURE_TYPES {
            assert!(check_content_type(picture, &limits).is_ok(), "{picture}");
        }
        for other in ["image/svg+xml", "image/gif", "image/x-icon", "IMAGE/SVG+XML"] {
            assert_eq!(check_content_type(other, &limits).unwrap_err().code(), "picture-type-not-allowed", "{other}");
        }
    }

    #[test]
    fn limits_and_types_are_enforced() {
        assert_eq!(validate(&request("a.mp4", 0, "video/mp4"), &limits()).unwrap_err().code(), "empty-file");
        let too_big = validate(&request("a.mp4", 51 * 1024 * MIB, "video/mp4"), &limits()).unwrap_err();
        assert_eq!((too_big.status().as_u16(), too_big.code()), (413, "file-too-large"));
        assert_eq!(validate(&request("a.exe", 10, "application/x-msdownload"), &limits()).unwrap_err().code(), "content-type-not-allowed");
        assert!(validate(&request("a.png", 10, "image/png"), &limits()).is_ok());
        assert!(validate(&request("a.jpg", 10, "image/jpeg"), &limits()).is_err());
        assert!(validate(&request("a.mp4", 10, "video/mp4\r\nx-evil: 1"), &limits()).is_err());
        assert!(validate(&request("a.mp4", 10, "video/"), &limits()).is_err());
        let mut bad_key = request("a.mp4", 10, "video/mp4");
        bad_key.content_key = Some("xyz".into());
        assert_eq!(validate(&bad_key, &limits()).unwrap_err().code(), "invalid-content-key");
        let mut keyed = request("a.mp4", 10, "video/mp4");
        keyed.content_key = Some("a".repeat(64));
        assert!(validate(&keyed, &limits()).is_ok());
        keyed.part_size = Some(8 * MIB);
        assert_eq!(validate(&keyed, &limits()).unwrap_err().code(), "invalid-part-size", "a keyed upload keeps the default layout");
    }

    #[test]
    fn hostile_filenames_are_refused_and_unicode_kept() {
        for bad in ["../etc/passwd", "a/b.mp4", "a\\b", "nul\0.mp4", "", "..", &"x".repeat(1024)] {
            assert_eq!(clean_filename(bad).unwrap_err().code(), "invalid-filename", "{bad:?}");
        }
        assert_eq!(clean_filename(" 我的视频 🎬.mp4 ").unwrap(), "我的视频 🎬.mp4");
    }

    #[test]
    fn cover_keys_name_their_owner_and_picture_type() {
        let id = "a".repeat(32);
        assert_eq!(cover_type(&object_key("u1", &id, "image/png"), "u1"), Some("image/png"));
        assert_eq!(cover_type(&format!("covers/u1/{id}.jpeg"), "u1"), Some("image/jpeg"));
        assert_eq!(cover_type(&format!("covers/u1/{id}.webp"), "u1"), Some("image/webp"));
        for other in [
            format!("covers/u2/{id}.png"),
            format!("covers/u1/{id}.svgxml"),
            format!("covers/u1/{id}.png/x"),
            format!("uploads/u1/{id}.png"),
            "covers/u1/short.png".to_owned(),
            format!("covers/u10/{id}.png"),
        ] {
            assert_eq!(cover_type(&other, "u1"), None, "{other}");
        }
    }

    #[test]
    fn object_keys_ignore_the_filename() {
        assert_eq!(object_key("u1", "abc", "video/mp4"), "uploads/u1/abc.mp4");
        assert_eq!(object_key("u1", "abc", "video/x-matroska"), "uploads/u1/abc.xmatrosk");
        assert_eq!(object_key("u1", "abc", "video/../../x"), "uploads/u1/abc.bin");
        assert_eq!(object_key("u1", "abc", "weird"), "uploads/u1/abc.bin");
        assert_eq!(object_key("u1", "abc", "image/png"), "covers/u1/abc.png");
    }
}
