//! Video records: what clients send to create and edit one, the checks on every field, and the
//! stored record with its version for optimistic concurrency. Pure.

use edge_http::Problem;
use serde::{Deserialize, Deserializer, Serialize};

use crate::ids;

/// Longest title, in characters.
pub(crate) const TITLE_MAX: usize = 80;
/// Longest description, in characters.
pub(crate) const DESCRIPTION_MAX: usize = 2000;
/// Most tags on one video.
pub(crate) const TAGS_MAX: usize = 10;
/// Longest tag, in characters.
pub(crate) const TAG_MAX: usize = 24;

/// Body of `POST /videos`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateVideo {
    /// The receipt upload-sign issued for the completed upload.
    pub receipt: String,
    /// Title.
    pub title: String,
    /// Description; empty when absent.
    pub description: Option<String>,
    /// Tags; none when absent.
    pub tags: Option<Vec<String>>,
    /// Object key of a cover image.
    pub cover_key: Option<String>,
}

/// Body of an edit. Absent fields stay as they are; `"cover_key": null` removes the cover.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateVideo {
    /// The version the client last read: the edit is refused if the record has moved on since.
    pub version: u64,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New tags (replacing all of them).
    pub tags: Option<Vec<String>>,
    /// New cover: `Some(None)` removes it.
    #[serde(default, deserialize_with = "present")]
    pub cover_key: Option<Option<String>>,
}

/// Reads a field that is present, `null` included, as `Some`; `default` makes absent `None`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::deserialize(d).map(Some)
}

/// The completed upload a verified receipt describes.
#[derive(Debug, Clone)]
pub(crate) struct UploadedObject {
    /// The user who uploaded it.
    pub owner: String,
    /// Object key in the bucket.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub content_type: String,
    /// Its content key, when the store checked its parts' digests.
    pub content_key: Option<String>,
}

/// A stored video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Video {
    /// Id (see [`crate::ids`]); at most 2^53 - 1, so JSON clients read it exactly.
    pub id: u64,
    /// User id of the author.
    pub author: String,
    /// Title.
    pub title: String,
    /// Description (may be empty).
    pub description: String,
    /// Normalised tags, in the author's order.
    pub tags: Vec<String>,
    /// Object key of the cover image.
    pub cover_key: Option<String>,
    /// Object key of the video file.
    pub object_key: String,
    /// Size in bytes.
    pub size: u64,
    /// MIME type.
    pub content_type: String,
    /// Content key of the file (see `edge_protocol::instant`), when the store checked its
    /// parts' digests.
    #[serde(alias = "sha256")]
    pub content_key: Option<String>,
    /// Creation time, ms since the Unix epoch (the id's timestamp).
    pub created_at: u64,
    /// Last edit, ms since the Unix epoch.
    pub updated_at: u64,
    /// Starts at 1 and grows with every edit that changes something.
    pub version: u64,
}

/// A video as the API shows it: the stored record and where a browser loads its cover from
/// ([`edge_protocol::keys::cover_url`]). The stored record itself carries no URL.
#[derive(Debug, Serialize)]
pub(crate) struct View<'a> {
    /// The record.
    #[serde(flatten)]
    pub video: &'a Video,
    /// `/videos/<id>/cover?v=<version>`, or `None` without a cover.
    pub cover_url: Option<String>,
}

impl Video {
    /// The record as the API shows it.
    pub(crate) fn view(&self) -> View<'_> {
        View { video: self, cover_url: edge_protocol::keys::cover_url(self.id, self.version, self.cover_key.as_deref()) }
    }

    /// A new record for `author` from a create request and the upload its receipt names.
    /// `created_at` is the id's timestamp, so ordering by id and by creation time agree.
    pub(crate) fn create(id: u64, author: &str, request: &CreateVideo, object: UploadedObject) -> Result<Video, Problem> {
        if object.owner != author {
            return Err(Problem::forbidden("receipt-not-yours", "this receipt is for another user's upload").with("field", "receipt"));
        }
        let title = clean_title(&request.title)?;
        let description = clean_description(request.description.as_deref().unwrap_or(""))?;
        let tags = clean_tags(request.tags.as_deref().unwrap_or(&[]))?;
        if let Some(key) = &request.cover_key {
            check_cover_key(key, author)?;
        }
        let created_at = ids::timestamp_ms(id);
        Ok(Video {
            id,
            author: author.to_owned(),
            title,
            description,
            tags,
            cover_key: request.cover_key.clone(),
            object_key: object.key,
            size: object.size,
            content_type: object.content_type,
            content_key: object.content_key,
            created_at,
            updated_at: created_at,
            version: 1,
        })
    }

    /// Applies an edit made against `update.version`: every field is checked before any is
    /// changed. Returns whether anything changed; only then are `version` and `updated_at`
    /// moved on. A stale version is 409 `version-conflict` carrying the current version.
    pub(crate) fn apply(&mut self, update: &UpdateVideo, now_ms: u64) -> Result<bool, Problem> {
        if update.version != self.version {
            return Err(Problem::conflict(
                "version-conflict",
                "the video was edited since you read it; fetch it again and reapply your edit",
            )
            .with("version", self.version));
        }
        let mut next = self.clone();
        if let Some(title) = &update.title {
            next.title = clean_title(title)?;
        }
        if let Some(description) = &update.description {
            next.description = clean_description(description)?;
        }
        if let Some(tags) = &update.tags {
            next.tags = clean_tags(tags)?;
        }
        if let Some(cover) = &update.cover_key {
            if let Some(key) = cover {
                check_cover_key(key, &self.author)?;
            }
            next.cover_key = cover.clone();
        }
        if next == *self {
            return Ok(false);
        }
        next.version += 1;
        // Edge clocks may disagree; never let an edit move updated_at backwards.
        next.updated_at = now_ms.max(self.updated_at);
        *self = next;
        Ok(true)
    }
}

/// A title: trimmed, 1 to 80 characters, no control characters (so no line breaks).
pub(crate) fn clean_title(raw: &str) -> Result<String, Problem> {
    let title = raw.trim();
    let len = title.chars().count();
    if len == 0 || len > TITLE_MAX || title.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "invalid-title",
            format!("a title is 1 to {TITLE_MAX} characters on one line, without control characters"),
        )
        .with("field", "title")
        .with("limit", TITLE_MAX));
    }
    Ok(title.to_owned())
}

/// A description: trimmed, at most 2,000 characters; line breaks and tabs are the only control
/// characters kept. `\r\n` (what browser forms send) counts as one `\n`.
pub(crate) fn clean_description(raw: &str) -> Result<String, Problem> {
    let description = raw.replace("\r\n", "\n");
    let description = description.trim();
    let bad_char = description.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
    if bad_char || description.chars().count() > DESCRIPTION_MAX {
        return Err(Problem::bad_request(
            "invalid-description",
            format!("a description is at most {DESCRIPTION_MAX} characters, with no control characters but line breaks and tabs"),
        )
        .with("field", "description")
        .with("limit", DESCRIPTION_MAX));
    }
    Ok(description.to_owned())
}

/// Tags: each trimmed and lowercased, 1 to 24 characters without `#`, `,` (the separators
/// clients display and type), whitespace or control characters; repeats are dropped keeping
/// the first; at most 10 remain.
pub(crate) fn clean_tags(raw: &[String]) -> Result<Vec<String>, Problem> {
    let mut tags: Vec<String> = Vec::new();
    for (index, raw_tag) in raw.iter().enumerate() {
        let tag = raw_tag.trim().to_lowercase();
        let len = tag.chars().count();
        if len == 0 || len > TAG_MAX || tag.chars().any(|c| c == '#' || c == ',' || c.is_whitespace() || c.is_control()) {
            return Err(Problem::bad_request(
                "invalid-tag",
                format!("a tag is 1 to {TAG_MAX} characters without '#', ',', spaces or control characters"),
            )
            .with("field", "tags")
            .with("index", index)
            .with("limit", TAG_MAX));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
        // Checked as tags are added, so a huge list costs no more than eleven tags.
        if tags.len() > TAGS_MAX {
            return Err(Problem::bad_request("too-many-tags", format!("a video has at most {TAGS_MAX} different tags"))
                .with("field", "tags")
                .with("limit", TAGS_MAX));
        }
    }
    Ok(tags)
}

/// A cover must be one of `owner`'s own pictures, in the shape upload-sign issues them
/// (`covers/<owner>/<32 lowercase hex>.<jpeg|png|webp>`, the only picture types it stores), so
/// it cannot point at someone else's upload, at any other key in the bucket, or at a file of
/// another type.
pub(crate) fn check_cover_key(key: &str, owner: &str) -> Result<(), Problem> {
    let file = key.strip_prefix("covers/").and_then(|rest| rest.strip_prefix(owner)?.strip_prefix('/'));
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let valid = file.and_then(|f| f.split_once('.')).is_some_and(|(name, ext)| hex(name) && ["jpeg", "png", "webp"].contains(&ext));
    if !valid {
        return Err(Problem::bad_request(
            "invalid-cover-key",
            "cover_key must be the key of a JPEG, PNG or WebP picture you uploaded (covers/<you>/...)",
        )
        .with("field", "cover_key"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef";

    fn object(owner: &str) -> UploadedObject {
        UploadedObject {
            owner: owner.into(),
            key: format!("uploads/{owner}/{HEX}.mp4"),
            size: 42,
            content_type: "video/mp4".into(),
            content_key: None,
        }
    }

    fn create(json: &str) -> Result<Video, Problem> {
        let request: CreateVideo = serde_json::from_str(json).unwrap();
        Video::create((1000 << edge_protocol::ids::SEQ_BITS) | 7, "u1", &request, object("u1"))
    }

    fn update(json: &str) -> UpdateVideo {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn create_cleans_fields_and_takes_the_object_from_the_receipt() {
        let video = create(r#"{"receipt":"r","title":"  Hello ","tags":["Rust","rust"," Wasm "]}"#).unwrap();
        assert_eq!((video.title.as_str(), video.description.as_str()), ("Hello", ""));
        assert_eq!(video.tags, ["rust", "wasm"]);
        assert_eq!((video.object_key.as_str(), video.size, video.version), (object("u1").key.as_str(), 42, 1));
        assert_eq!((video.created_at, video.updated_at), (ids::FEED_EPOCH_MS + 1000, ids::FEED_EPOCH_MS + 1000));
        let request: CreateVideo = serde_json::from_str(r#"{"receipt":"r","title":"t"}"#).unwrap();
        let stolen = Video::create(1, "u1", &request, object("u2")).unwrap_err();
        assert_eq!((stolen.status().as_u16(), stolen.code()), (403, "receipt-not-yours"));
        let cover = format!(r#"{{"receipt":"r","title":"t","cover_key":"covers/u2/{HEX}.png"}}"#);
        assert_eq!(create(&cover).unwrap_err().code(), "invalid-cover-key");
    }

    #[test]
    fn bodies_refuse_unknown_fields_and_tell_null_from_absent() {
        assert!(serde_json::from_str::<CreateVideo>(r#"{"receipt":"r","title":"t","author":"x"}"#).is_err());
        assert!(serde_json::from_str::<UpdateVideo>(r#"{"title":"t"}"#).is_err(), "version is required");
        assert_eq!(update(r#"{"version":1}"#).cover_key, None);
        assert_eq!(update(r#"{"version":1,"cover_key":null}"#).cover_key, Some(None));
        assert_eq!(update(r#"{"version":1,"cover_key":"k"}"#).cover_key, Some(Some("k".into())));
    }

    #[test]
    fn edits_check_the_version_and_apply_all_or_nothing() {
        let cover = format!("covers/u1/{HEX}.jpeg");
        let mut video = create(&format!(r#"{{"receipt":"r","title":"t","cover_key":"{cover}"}}"#)).unwrap();
        let original = video.clone();

        let stale = video.apply(&update(r#"{"version":2,"title":"x"}"#), 5).unwrap_err();
        assert_eq!((stale.status().as_u16(), stale.code()), (409, "version-conflict"));
        let half_bad = update(r#"{"version":1,"title":"new","tags":["a b"]}"#);
        assert_eq!(video.apply(&half_bad, 5).unwrap_err().code(), "invalid-tag");
        assert_eq!(video, original, "a refused edit changes nothing");

        assert!(!video.apply(&update(r#"{"version":1,"title":" t "}"#), 5).unwrap(), "same title is no change");
        assert_eq!(video, original);

        let later = original.updated_at + 10;
        assert!(video.apply(&update(r#"{"version":1,"title":"new","cover_key":null}"#), later).unwrap());
        assert_eq!((video.title.as_str(), video.cover_key.clone(), video.version, video.updated_at), ("new", None, 2, later));
        assert!(video.apply(&update(r#"{"version":2,"description":"d"}"#), 1).unwrap());
        assert_eq!((video.version, video.updated_at), (3, later), "updated_at never goes back");
    }

    #[test]
    fn views_add_the_cover_url_and_records_stay_as_stored() {
        let cover = format!("covers/u1/{HEX}.jpeg");
        let mut video = create(&format!(r#"{{"receipt":"r","title":"t","cover_key":"{cover}"}}"#)).unwrap();
        let view = serde_json::to_value(video.view()).unwrap();
        assert_eq!(view["cover_url"], format!("/videos/{}/cover?v=1", video.id));
        assert_eq!((view["cover_key"].as_str(), view["title"].as_str()), (Some(cover.as_str()), Some("t")));
        assert!(serde_json::to_value(&video).unwrap().get("cover_url").is_none(), "the stored record has no URL");
        assert!(video.apply(&update(r#"{"version":1,"cover_key":null}"#), 5).unwrap());
        assert_eq!(serde_json::to_value(video.view()).unwrap()["cover_url"], serde_json::Value::Null);
    }

    #[test]
    fn titles_and_descriptions() {
        assert_eq!(clean_title(" 我的视频 🎬 ").unwrap(), "我的视频 🎬");
        assert!(clean_title(&"é".repeat(80)).is_ok());
        for bad in ["", "   ", "a\nb", "a\u{7}", &"x".repeat(81)] {
            let problem = clean_title(bad).unwrap_err();
            assert_eq!(problem.code(), "invalid-title", "{bad:?}");
        }
        let problem = clean_title("").unwrap_err().into_response("r");
        let body: serde_json::Value = serde_json::from_slice(problem.body()).unwrap();
        assert_eq!((body["field"].as_str(), body["limit"].as_u64()), (Some("title"), Some(80)));

        assert_eq!(clean_description(" line 1\r\n\tline 2 ").unwrap(), "line 1\n\tline 2");
        assert_eq!(clean_description("").unwrap(), "");
        assert!(clean_description(&"x".repeat(2000)).is_ok());
        for bad in ["a\rb", "a\u{0}b", "a\u{1b}[31m", &"x".repeat(2001)] {
            assert_eq!(clean_description(bad).unwrap_err().code(), "invalid-description", "{bad:?}");
        }
    }

    #[test]
    fn tags_are_normalised_deduplicated_and_bounded() {
        let tags = |list: &[&str]| clean_tags(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(tags(&[" Rust ", "游戏", "RUST", "ÉTÉ"]).unwrap(), ["rust", "游戏", "été"]);
        for bad in ["", "  ", "#rust", "a,b", "two words", "tab\there", &"x".repeat(25)] {
            assert_eq!(tags(&["ok", bad]).unwrap_err().code(), "invalid-tag", "{bad:?}");
        }
        let ten: Vec<String> = (0..10).map(|i| format!("t{i}")).collect();
        assert_eq!(clean_tags(&[ten.clone(), ten.clone()].concat()).unwrap(), ten, "repeats do not count");
        let eleven: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(clean_tags(&eleven).unwrap_err().code(), "too-many-tags");
    }

    #[test]
    fn cover_keys_must_be_the_owners_objects() {
        for ext in ["jpeg", "png", "webp"] {
            assert!(check_cover_key(&format!("covers/u1/{HEX}.{ext}"), "u1").is_ok(), "{ext}");
        }
        let bad = [
            format!("uploads/u1/{HEX}.webp"),
            format!("covers/u1/{HEX}.svgxml"),
            format!("covers/u1/{HEX}.gif"),
            format!("covers/u2/{HEX}.png"),
            format!("covers/u1x/{HEX}.png"),
            format!("covers/u1/{}.png", HEX.to_uppercase()),
            format!("covers/u1/{}.png", &HEX[1..]),
            format!("covers/u1/{HEX}"),
            format!("covers/u1/{HEX}."),
            format!("covers/u1/{HEX}.toolongext"),
            format!("covers/u1/{HEX}.p/g"),
            format!("covers/u1/../u2/{HEX}.png"),
            format!("avatars/u1/{HEX}.png"),
            format!("/covers/u1/{HEX}.png"),
        ];
        for key in bad {
            assert_eq!(check_cover_key(&key, "u1").unwrap_err().code(), "invalid-cover-key", "{key}");
        }
    }
}
