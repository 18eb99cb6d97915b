//! Where records live. The key-value store holds each record as JSON under its key (the truth
//! a Redis loss rebuilds from); Redis holds the feed's timelines under the same ids.

/// The key of user `id`'s account record (written by auth, read by feed and search-proxy).
pub fn user_key(id: &str) -> String {
    format!("{USER_PREFIX}{id}")
}

/// The key of video `id`'s record (written by feed, read by search-proxy).
pub fn video_key(id: u64) -> String {
    format!("{VIDEO_PREFIX}{id}")
}

/// What a user record's key starts with.
pub const USER_PREFIX: &str = "user:";
/// What a video record's key starts with.
pub const VIDEO_PREFIX: &str = "video:";

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
    fn keys_round_trip() {
        assert_eq!(Record::parse(&video_key(12)), Some(Record::Video(12)));
        assert_eq!(Record::parse(&user_key("u1")), Some(Record::User("u1")));
        for odd in ["video:012", "video:x", "video:", "user:", "username:a", "feed:latest"] {
            assert_eq!(Record::parse(odd), None, "{odd}");
        }
    }
}
