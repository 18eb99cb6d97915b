//! Where records live, and where a video's cover is served. The key-value store holds each
//! record as JSON under its key (the truth a Redis loss rebuilds from); Redis holds the feed's
//! timelines under the same ids.

/// The key of user `id`'s account record (written by auth, read by feed and search-proxy).
pub fn user_key(id: &str) -> String {
    format!("{USER_PREFIX}{id}")
}

/// The key of video `id`'s record (written by feed, read by search-proxy).
pub fn video_key(id: u64) -> String {
    format!("{VIDEO_PREFIX}{id}")
}

/// The key-value entry upload-sign writes once it has read a form-uploaded cover picture and
/// found it is the picture its key names; feed attaches only covers that have one.
pub fn checked_cover(cover_key: &str) -> String {
    format!("cover-checked:{cover_key}")
}

/// What a user record's key starts with.
pub const USER_PREFIX: &str = "user:";
/// What a video record's key starts with.
pub const VIDEO_PREFIX: &str = "video:";

/// The URL a browser loads video `id`'s cover picture from, or `None` when the video has no
/// cover (`cover_key`). The URL is feed's own and stable (a list answer cached or indexed keeps
/// working); feed redirects it to a short-lived signed one. `version` is the record's, which
/// every edit moves on, so a new cover is a new URL and no cache shows the old one.
pub fn cover_url(id: u64, version: u64, cover_key: Option<&str>) -> Option<String> {
    cover_key.map(|_| format!("/videos/{id}/cover?v={version}"))
}

/// The Redis sorted set of every public video id, newest first by score (feed writes it,
/// search-proxy reads it when its engine is down).
pub const LATEST: &str = "feed:latest";

/// A record a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record<'a> {
    /// A user, by id.
    User(&'a str),
    /// A video, by id.
    Video(u64),
}

impl<'a> Record<'a> {
    /// The record `key` names, if it names one in canonical form.
    pub fn parse(key: &'a str) -> Option<Record<'a>> {
        if let Some(id) = key.strip_prefix(USER_PREFIX) {
            return (!id.is_empty()).then_some(Record::User(id));
        }
        crate::ids::decimal_id(key.strip_prefix(VIDEO_PREFIX)?).map(Record::Video)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cover_urls_exist_for_covers_and_change_with_the_version() {
        assert_eq!(cover_url(12, 3, Some("covers/u1/x.jpg")).as_deref(), Some("/videos/12/cover?v=3"));
        assert_ne!(cover_url(12, 3, Some("k")), cover_url(12, 4, Some("k")));
        assert_eq!(cover_url(12, 3, None), None);
    }

    #[test]
    fn keys_round_trip() {
        assert_eq!(Record::parse(&video_key(12)), Some(Record::Video(12)));
        assert_eq!(Record::parse(&user_key("u1")), Some(Record::User("u1")));
        for odd in ["video:012", "video:x", "video:", "user:", "username:a", "feed:latest"] {
            assert_eq!(Record::parse(odd), None, "{odd}");
        }
    }
}
