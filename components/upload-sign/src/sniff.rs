//! The content check: what a completed upload holds, told by the magic bytes at its start, and
//! whether that fits its declared type. A `video/*` upload must be MP4/MOV, WebM/Matroska or
//! MPEG-TS, an `image/*` one PNG, JPEG, WebP or GIF; other families are not checked. This names
//! the container only: it is no antivirus and does not decode the media. Pure.

use edge_http::Problem;
use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Bytes read from the start of a completed object: enough for three MPEG-TS sync bytes.
pub(crate) const HEAD_BYTES: u64 = 512;

/// MPEG-TS packets are this long, each starting with the sync byte `0x47`.
const TS_PACKET: usize = 188;

/// What the first bytes of a file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    /// ISO base media (MP4, MOV, 3GP): an `ftyp` box first.
    Mp4,
    /// Matroska or WebM: the EBML magic `1A 45 DF A3`.
    Matroska,
    /// MPEG transport stream: `0x47` every 188 bytes.
    MpegTs,
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF87a or GIF89a.
    Gif,
    /// WebP (`RIFF` … `WEBP`).
    WebP,
    /// AVI (`RIFF` … `AVI `), a video container this service does not accept.
    Avi,
    /// Printable UTF-8 text.
    Text,
    /// Nothing recognised.
    Unknown,
}

impl Format {
    /// The name problems report as `detected` (as the record stores it).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Matroska => "matroska",
            Format::MpegTs => "mpegts",
            Format::Png => "png",
            Format::Jpeg => "jpeg",
            Format::Gif => "gif",
            Format::WebP => "webp",
            Format::Avi => "avi",
            Format::Text => "text",
            Format::Unknown => "unknown",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Format::Mp4 => "an MP4/MOV file",
            Format::Matroska => "a WebM/Matroska file",
            Format::MpegTs => "an MPEG-TS stream",
            Format::Png => "a PNG image",
            Format::Jpeg => "a JPEG image",
            Format::Gif => "a GIF image",
            Format::WebP => "a WebP image",
            Format::Avi => "an AVI file",
            Format::Text => "text",
            Format::Unknown => "no format we recognise",
        }
    }
}

/// What `head`, the first bytes of a file (all of it when shorter), holds.
pub(crate) fn detect(head: &[u8]) -> Format {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(4, b"ftyp") {
        Format::Mp4
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Format::Matroska
    } else if at(0, b"\x89PNG\r\n\x1a\n") {
        Format::Png
    } else if at(0, &[0xFF, 0xD8, 0xFF]) {
        Format::Jpeg
    } else if at(0, b"GIF87a") || at(0, b"GIF89a") {
        Format::Gif
    } else if at(0, b"RIFF") && at(8, b"WEBP") {
        Format::WebP
    } else if at(0, b"RIFF") && at(8, b"AVI ") {
        Format::Avi
    } else if is_transport_stream(head) {
        Format::MpegTs
    } else if is_text(head) {
        Format::Text
    } else {
        Format::Unknown
    }
}

/// At least one whole packet, and the sync byte at the start of every packet the bytes reach.
fn is_transport_stream(head: &[u8]) -> bool {
    head.len() >= TS_PACKET && head.iter().step_by(TS_PACKET).all(|&b| b == 0x47)
}

/// UTF-8 without control characters but whitespace; a character cut off by the end of the
/// read still counts.
fn is_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(text) => text,
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default(),
        Err(_) => return false,
    };
    !valid.is_empty() && valid.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// The formats a declared type's family must hold, and how the refusal names them; `None`
/// for a family that is not checked.
fn rule(content_type: &str) -> Option<(&'static [Format], &'static str)> {
    match content_type.split('/').next()? {
        "video" => Some((&[Format::Mp4, Format::Matroska, Format::MpegTs], "a video must be MP4/MOV, WebM/Matroska or MPEG-TS")),
        "image" => Some((&[Format::Png, Format::Jpeg, Format::WebP, Format::Gif], "an image must be PNG, JPEG, WebP or GIF")),
        _ => None,
    }
}

/// Whether uploads declared `content_type` are checked at all (so their first bytes are read).
pub(crate) fn checked(content_type: &str) -> bool {
    rule(content_type).is_some()
}

/// Whether content of `format` may be stored as `content_type` (lowercase, as recorded).
pub(crate) fn fits(content_type: &str, format: Format) -> bool {
    rule(content_type).is_none_or(|(allowed, _)| allowed.contains(&format))
}

/// Whether a cover picture stored as `content_type` holds exactly that format (a cover is shown
/// to everyone straight from the store, so its bytes must be what its type says).
pub(crate) fn is_picture(content_type: &str, format: Format) -> bool {
    matches!((content_type, format), ("image/jpeg", Format::Jpeg) | ("image/png", Format::Png) | ("image/webp", Format::WebP))
}

/// The refusal of content that does not fit its declared type.
pub(crate) fn unrecognised(content_type: &str, found: Format) -> Problem {
    let expected = rule(content_type).map_or("", |(_, text)| text);
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unrecognised-content",
        format!("the file was declared {content_type} but holds {}; {expected}. It was deleted: upload the right file", found.describe()),
    )
    .with("content_type", content_type)
    .with("detected", found.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `magic` at the start of 512 bytes of filler that matches no format.
    fn starting(magic: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0xB5; 512];
        bytes[..magic.len()].copy_from_slice(magic);
        bytes
    }

    const MP4: &[u8] = b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";
    const MOV: &[u8] = b"\0\0\0\x14ftypqt  \0\0\x02\0qt  ";
    const WEBM: &[u8] = &[0x1A, 0x45, 0xDF, 0xA3, 0x9F, 0x42, 0x86, 0x81, 0x01];
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F'];
    const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";
    const AVI: &[u8] = b"RIFF\x24\0\0\0AVI LIST";

    fn transport_stream(len: usize) -> Vec<u8> {
        (0..len).map(|i| if i % TS_PACKET == 0 { 0x47 } else { 0x1F }).collect()
    }

    #[test]
    fn each_format_is_told_by_its_magic_bytes() {
        for (head, format) in [
            (starting(MP4), Format::Mp4),
            (starting(MOV), Format::Mp4),
            (starting(WEBM), Format::Matroska),
            (starting(PNG), Format::Png),
            (starting(JPEG), Format::Jpeg),
            (starting(b"GIF87a"), Format::Gif),
            (starting(b"GIF89a"), Format::Gif),
            (starting(WEBP), Format::WebP),
            (starting(AVI), Format::Avi),
            (transport_stream(512), Format::MpegTs),
            (vec![0xB5; 512], Format::Unknown),
        ] {
            assert_eq!(detect(&head), format, "{:02x?}", &head[..12]);
        }
    }

    #[test]
    fn short_and_truncated_input() {
        assert_eq!(detect(&[]), Format::Unknown);
        assert_eq!(detect(&MP4[..7]), Format::Unknown, "ftyp cut off");
        assert_eq!(detect(&MP4[..8]), Format::Mp4);
        assert_eq!(detect(&PNG[..7]), Format::Unknown);
        assert_eq!(detect(&WEBP[..11]), Format::Unknown);
        assert_eq!(detect(&WEBM[..3]), Format::Unknown);
        assert_eq!(detect(&transport_stream(187)), Format::Unknown, "less than one packet");
        assert_eq!(detect(&transport_stream(188)), Format::MpegTs);
        assert_eq!(detect(&transport_stream(300)), Format::MpegTs, "the sync bytes the read reaches");
        let mut lost_sync = transport_stream(512);
        lost_sync[376] = 0x00;
        assert_eq!(detect(&lost_sync), Format::Unknown);
    }

    #[test]
    fn text_is_recognised_even_cut_mid_character() {
        assert_eq!(detect(b"This is not a video.\r\n\tNext line.\n"), Format::Text);
        let cut = "字幕".as_bytes();
        assert_eq!(detect(&cut[..4]), Format::Text, "the second character cut after one byte");
        assert_eq!(detect(b"<html>\0</html>"), Format::Unknown, "NUL is not text");
        assert_eq!(detect(&[b'a', 0xFF, b'b']), Format::Unknown, "invalid UTF-8");
        assert_eq!(detect(b"G".repeat(512).as_slice()), Format::MpegTs, "only the sync bytes are looked at");
    }

    #[test]
    fn each_family_accepts_its_own_containers_only() {
        for format in [Format::Mp4, Format::Matroska, Format::MpegTs] {
            assert!(fits("video/mp4", format) && fits("video/webm", format), "{format:?}");
            assert!(!fits("image/png", format), "{format:?}");
        }
        for format in [Format::Png, Format::Jpeg, Format::WebP, Format::Gif] {
            assert!(fits("image/png", format) && !fits("video/mp4", format), "{format:?}");
        }
        for format in [Format::Avi, Format::Text, Format::Unknown] {
            assert!(!fits("video/x-msvideo", format) && !fits("image/jpeg", format), "{format:?}");
        }
        assert!(fits("audio/mpeg", Format::Unknown), "other families are not checked");
        assert!(checked("video/mp4") && checked("image/png") && !checked("audio/mpeg"), "so their bytes are not even read");
    }

    #[test]
    fn the_refusal_names_the_declared_type_and_what_was_found() {
        let problem = unrecognised("video/mp4", Format::Text);
        assert_eq!((problem.status().as_u16(), problem.code()), (422, "unrecognised-content"));
        assert_eq!(problem.extension("content_type").and_then(|v| v.as_str()), Some("video/mp4"));
        assert_eq!(problem.extension("detected").and_then(|v| v.as_str()), Some("text"));
        assert!(problem.detail().contains("declared video/mp4 but holds text; a video must be MP4/MOV"), "{}", problem.detail());
    }

    #[test]
    fn records_store_the_names_problems_report() {
        let all = [
            Format::Mp4,
            Format::Matroska,
            Format::MpegTs,
            Format::Png,
            Format::Jpeg,
            Format::Gif,
            Format::WebP,
            Format::Avi,
            Format::Text,
            Format::Unknown,
        ];
        for format in all {
            assert_eq!(serde_json::to_value(format).unwrap(), format.name());
        }
    }
}
