//! Planning an upload: validating what the client declares, choosing the object key and the
//! part layout within S3's rules. Pure.

use edge_http::Problem;
use serde::{Deserialize, Serialize};

pub(crate) use edge_protocol::parts::{MAX_PART, MAX_PARTS, MIN_PART};
/// Longest filename kept (characters).
pub(crate) const MAX_FILENAME: usize = 255;
/// Largest file a single form (`POST` policy) upload may carry; larger files go multipart.
pub(crate) const MAX_FORM_UPLOAD: u64 = 20 * 1024 * 1024;

/// What a client asks for.
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
    /// Hex SHA-256 of the whole file, if the client computed it.
    pub sha256: Option<String>,
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
    let needed = size.div_ceil(MAX_PARTS).div_ceil(1024 * 1024) * 1024 * 1024;
    let part_size = suggested.unwrap_or(MIN_PART).max(needed).max(MIN_PART);
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
    if let Some(sha) = &request.sha256 {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Problem::bad_request("invalid-sha256", "sha256 must be 64 hex digits").with("field", "sha256"));
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
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn limits() -> Limits {
        Limits { max_size: 50 * 1024 * MIB, content_types: vec!["video/*".into(), "image/png".into()] }
    }

    fn request(filename: &str, size: u64, content_type: &str) -> CreateRequest {
        CreateRequest { filename: filename.into(), size: Some(size), content_type: content_type.into(), sha256: None, part_size: None }
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
    fn limits_and_types_are_enforced() {
        assert_eq!(validate(&request("a.mp4", 0, "video/mp4"), &limits()).unwrap_err().code(), "empty-file");
        let too_big = validate(&request("a.mp4", 51 * 1024 * MIB, "video/mp4"), &limits()).unwrap_err();
        assert_eq!((too_big.status().as_u16(), too_big.code()), (413, "file-too-large"));
        assert_eq!(validate(&request("a.exe", 10, "application/x-msdownload"), &limits()).unwrap_err().code(), "content-type-not-allowed");
        assert!(validate(&request("a.png", 10, "image/png"), &limits()).is_ok());
        assert!(validate(&request("a.jpg", 10, "image/jpeg"), &limits()).is_err());
        assert!(validate(&request("a.mp4", 10, "video/mp4\r\nx-evil: 1"), &limits()).is_err());
        assert!(validate(&request("a.mp4", 10, "video/"), &limits()).is_err());
        let mut bad_sha = request("a.mp4", 10, "video/mp4");
        bad_sha.sha256 = Some("xyz".into());
        assert_eq!(validate(&bad_sha, &limits()).unwrap_err().code(), "invalid-sha256");
    }

    #[test]
    fn hostile_filenames_are_refused_and_unicode_kept() {
        for bad in ["../etc/passwd", "a/b.mp4", "a\\b", "nul\0.mp4", "", "..", &"x".repeat(1024)] {
            assert_eq!(clean_filename(bad).unwrap_err().code(), "invalid-filename", "{bad:?}");
        }
        assert_eq!(clean_filename(" 我的视频 🎬.mp4 ").unwrap(), "我的视频 🎬.mp4");
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
