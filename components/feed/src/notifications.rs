//! Notifications: likes, comments and replies on a user's videos and comments, grouped per kind
//! and target ("12 people liked X"), with an unread count against a read watermark rather than
//! a flag per item, so marking read is one write. Pure: the kinds and reading a page.
//!
//! They live in Redis only, for 30 days and the newest 200 groups per user; a total Redis loss
//! empties them (they are a courtesy, not a record). Pages are delivered by polling.

use edge_spin::redis::text;
use serde::Serialize;
use spin_sdk::redis::RedisResult;

/// Groups kept per user; older ones drop off.
pub(crate) const MAX_GROUPS: u64 = 200;
/// How long a group lives after its last activity.
pub(crate) const LIFETIME_SECS: u64 = 30 * 86_400;

/// What happened, which names a group together with its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Someone liked the recipient's video.
    LikeVideo,
    /// Someone commented on the recipient's video.
    Comment,
    /// Someone replied to the recipient's comment.
    Reply,
    /// Someone liked the recipient's comment.
    LikeComment,
}

impl Kind {
    /// The name in keys and answers.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::LikeVideo => "like-video",
            Kind::Comment => "comment",
            Kind::Reply => "reply",
            Kind::LikeComment => "like-comment",
        }
    }
}

/// One group as a client sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Notification {
    /// `like-video`, `comment`, `reply` or `like-comment`.
    pub kind: String,
    /// The video it is about.
    pub video_id: u64,
    /// The video's title, when it still exists.
    pub video_title: Option<String>,
    /// Its cover picture, when it has one.
    pub cover_url: Option<String>,
    /// The comment it is about (the liked comment, or the one replied to).
    pub comment_id: Option<u64>,
    /// Distinct people in the group.
    pub count: u64,
    /// The latest of them (at most three user ids), newest first.
    pub actors: Vec<String>,
    /// When the group last grew (ms since the Unix epoch, made unique per user).
    pub last_at: u64,
    /// It grew since the user last marked notifications read.
    pub unread: bool,
}

/// Reads [`crate::store::NOTIFICATIONS`]' `page` answer: the watermark, then six values per
/// group. Titles and covers are filled in later.
pub(crate) fn read_page(reply: &[RedisResult]) -> Vec<Notification> {
    let number = |r: &RedisResult| text(r).and_then(|t| t.parse::<f64>().ok()).map_or(0, |n| n as u64);
    let seen = reply.first().map_or(0, number);
    reply
        .get(1..)
        .unwrap_or_default()
        .chunks_exact(6)
        .filter_map(|group| {
            let last_at = number(&group[0]);
            Some(Notification {
                kind: text(&group[1]).filter(|k| !k.is_empty())?,
                video_id: text(&group[2])?.parse().ok()?,
                video_title: None,
                cover_url: None,
                comment_id: text(&group[3]).and_then(|c| c.parse().ok()),
                count: number(&group[4]),
                actors: text(&group[5]).map(|a| a.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default(),
                last_at,
                unread: last_at > seen,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(s: &str) -> RedisResult {
        RedisResult::Binary(s.as_bytes().to_vec())
    }

    #[test]
    fn a_page_reads_groups_and_marks_those_after_the_watermark_unread() {
        let reply = [
            bin("1000"),
            bin("1500"),
            bin("like-video"),
            bin("42"),
            bin(""),
            bin("12"),
            bin("u3,u2,u1"),
            bin("900"),
            bin("reply"),
            bin("42"),
            bin("77"),
            bin("1"),
            bin("u9"),
            bin("800"),
            bin(""),
            bin(""),
            bin(""),
            bin(""),
            bin(""),
        ];
        let page = read_page(&reply);
        assert_eq!(page.len(), 2, "a group whose hash expired is left out");
        assert_eq!((page[0].kind.as_str(), page[0].count, page[0].unread), ("like-video", 12, true));
        assert_eq!((page[0].comment_id, page[0].actors.len()), (None, 3));
        assert_eq!((page[1].comment_id, page[1].unread), (Some(77), false));
    }
}
