//! Which key-value records a rebuild restores and what restoring each takes: the keys and
//! arguments of its part of a restore script. Pure.

use std::collections::BTreeSet;

use edge_protocol::keys::{Record, VIDEO_PREFIX};

use crate::comments::Comment;
use crate::ids::decimal_id;
use crate::keys::{
    self, BUILT, COMMENTS_BUILT, COMMENTS_REBUILD_LISTED, COMMENTS_REBUILD_LOCK, COMMENT_LAST_ID, LAST_ID, LATEST, REBUILD_LISTED,
    REBUILD_LOCK,
};
use crate::video::Video;

/// The video ids of a key-value store's keys (`video:<id>`, canonical ids only).
pub(crate) fn video_ids(keys: &[String]) -> Vec<u64> {
    keys.iter()
        .filter_map(|key| match Record::parse(key)? {
            Record::Video(id) => Some(id),
            Record::User(_) => None,
        })
        .collect()
}

/// The comments of a key-value store's keys (`comment:<video>:<id>`, canonical ids only) as
/// `(id, "<video>:<id>")`, and how many were left out because their video is not stored (it was
/// deleted; its comments' keys stay behind).
pub(crate) fn comment_members(keys: &[String]) -> (Vec<(u64, String)>, usize) {
    let videos: BTreeSet<u64> = video_ids(keys).into_iter().collect();
    let (mut members, mut orphans) = (Vec::new(), 0);
    for key in keys {
        let ids = key.strip_prefix(keys::STORED_COMMENT_PREFIX).and_then(|rest| rest.split_once(':'));
        let Some((video, id)) = ids.and_then(|(video, id)| Some((decimal_id(video)?, decimal_id(id)?))) else { continue };
        if videos.contains(&video) {
            members.push((id, format!("{video}:{id}")));
        } else {
            orphans += 1;
        }
    }
    (members, orphans)
}

/// One kind of state a rebuild restores, in the order of [`Phase::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Video records, timelines and the id issuer.
    Videos,
    /// Comments, each video's orders and count, threads, and their id issuer.
    Comments,
}

impl Phase {
    /// Every phase, in the order they are restored: a comment needs its video.
    pub(crate) const ALL: [Phase; 2] = [Phase::Videos, Phase::Comments];

    /// The marker set while this phase's state is complete.
    pub(crate) fn built(self) -> &'static str {
        match self {
            Phase::Videos => BUILT,
            Phase::Comments => COMMENTS_BUILT,
        }
    }

    /// The keys [`crate::store::REBUILD_START`] takes: built marker, lease, listed marker, id issuer.
    pub(crate) fn start_keys(self) -> [&'static str; 4] {
        match self {
            Phase::Videos => [BUILT, REBUILD_LOCK, REBUILD_LISTED, LAST_ID],
            Phase::Comments => [COMMENTS_BUILT, COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_LISTED, COMMENT_LAST_ID],
        }
    }

    /// The pending-set members of a key-value store's keys, as `(id, member)`: a video's id, or
    /// a comment's `<video>:<id>` (its stored key's tail). Comments of videos no longer stored
    /// are left out and logged.
    pub(crate) fn members(self, keys: &[String]) -> Vec<(u64, String)> {
        match self {
            Phase::Videos => video_ids(keys).into_iter().map(|id| (id, id.to_string())).collect(),
            Phase::Comments => {
                let (members, orphans) = comment_members(keys);
                if orphans > 0 {
                    eprintln!("feed rebuild: {orphans} comments of deleted videos are not restored");
                }
                members
            }
        }
    }

    /// The key-value key of a pending member.
    pub(crate) fn stored_key(self, member: &str) -> String {
        match self {
            Phase::Videos => format!("{VIDEO_PREFIX}{member}"),
            Phase::Comments => format!("{}{member}", keys::STORED_COMMENT_PREFIX),
        }
    }

    /// What restoring `member`, stored as `bytes`, takes, or why it cannot be restored.
    pub(crate) fn parse(self, member: &str, bytes: &[u8]) -> Result<Restore, String> {
        match self {
            Phase::Videos => {
                let id = decimal_id(member).ok_or_else(|| format!("{member} is not a video id"))?;
                Restore::video(id, bytes)
            }
            Phase::Comments => {
                let ids = member.split_once(':').and_then(|(video, id)| Some((decimal_id(video)?, decimal_id(id)?)));
                let (video, id) = ids.ok_or_else(|| format!("{member} is not <video>:<id>"))?;
                Restore::comment(video, id, bytes)
            }
        }
    }
}

/// A record to restore, as read from the key-value store: the keys and arguments its part of
/// the phase's restore script takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restore {
    /// The record's id.
    pub id: u64,
    /// Its keys: for a video its record and timelines; for a comment its record, its video's
    /// record, count and orders, then its thread's replies, likes and root record.
    pub keys: Vec<String>,
    /// Its arguments: for a video id, JSON and version (the restored change carries it, so search
    /// keeps what it has at that version); for a comment id, JSON and its root (empty for a root).
    pub args: Vec<String>,
}

impl Restore {
    /// The video stored under `video:<id>`, or why it cannot be restored. Every stored record is
    /// listed on the latest and its author's timeline: a delete removes the record with its
    /// timeline entries, and an edit changes neither.
    pub(crate) fn video(id: u64, bytes: &[u8]) -> Result<Restore, String> {
        let video: Video = serde_json::from_slice(bytes).map_err(|e| format!("not a video record ({e})"))?;
        if video.id != id {
            return Err(format!("the record says id {}", video.id));
        }
        if video.author.is_empty() || video.version == 0 {
            return Err("the record has no author or no version".into());
        }
        let json = serde_json::to_string(&video).map_err(|e| e.to_string())?;
        Ok(Restore {
            id,
            keys: vec![keys::video(id), LATEST.to_owned(), keys::author(&video.author)],
            args: vec![id.to_string(), json, video.version.to_string()],
        })
    }

    /// The comment stored under `comment:<video>:<id>`, or why it cannot be restored.
    pub(crate) fn comment(video: u64, id: u64, bytes: &[u8]) -> Result<Restore, String> {
        let comment = std::str::from_utf8(bytes).ok().and_then(Comment::parse).ok_or("not a comment record")?;
        if (comment.id, comment.video) != (id, video) {
            return Err(format!("the record says comment {} of video {}", comment.id, comment.video));
        }
        if comment.author.is_empty() || comment.root.is_some_and(|root| root >= id) {
            return Err("the record has no author, or a root that is not older".into());
        }
        let thread = comment.thread();
        let json = serde_json::to_string(&comment).map_err(|e| e.to_string())?;
        Ok(Restore {
            id,
            keys: vec![
                keys::comment(id),
                keys::video(video),
                keys::comment_count(video),
                keys::comments_new(video),
                keys::comments_hot(video),
                keys::replies(thread),
                keys::comment_likes(thread),
                keys::comment(thread),
            ],
            args: vec![id.to_string(), json, comment.root.map_or_else(String::new, |root| root.to_string())],
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ids;

    /// A stored video record.
    pub(crate) fn record(id: u64, author: &str, version: u64) -> String {
        format!(
            r#"{{"id":{id},"author":"{author}","title":"t","description":"","tags":["a"],"cover_key":null,"object_key":"k","size":1,"content_type":"video/mp4","sha256":null,"created_at":5,"updated_at":6,"version":{version}}}"#
        )
    }

    /// A stored comment record.
    pub(crate) fn comment(video: u64, id: u64, root: Option<u64>) -> String {
        let root = root.map_or("null".to_owned(), |r| r.to_string());
        format!(r#"{{"id":{id},"video":{video},"root":{root},"reply_to":{root},"author":"ann","text":"hi","created_at":1}}"#)
    }

    #[test]
    fn only_canonical_video_and_comment_keys_are_listed() {
        let keys: Vec<String> = [
            "video:12",
            "video:012",
            "video:x",
            "video:",
            "user:5",
            "videos:3",
            "search:cache:video:1",
            "video:9007199254740992",
            "video:9007199254740991",
            "comment:12:5",
            "comment:12:05",
            "comment:12:",
            "comment:12:5:6",
            "comment:13:6",
            "comments:12:7",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(video_ids(&keys), [12, ids::MAX_ID]);
        assert_eq!(comment_members(&keys), (vec![(5, "12:5".to_owned())], 1));
        assert_eq!(Phase::Videos.members(&keys), [(12, "12".to_owned()), (ids::MAX_ID, ids::MAX_ID.to_string())]);
        assert_eq!((Phase::Videos.stored_key("12"), Phase::Comments.stored_key("12:5")), ("video:12".into(), "comment:12:5".into()));
    }

    #[test]
    fn a_video_comes_back_on_the_latest_and_its_authors_timeline() {
        let restore = Phase::Videos.parse("42", record(42, "u1", 3).as_bytes()).unwrap();
        assert_eq!((restore.id, restore.keys.clone()), (42, vec!["video:42".to_owned(), LATEST.to_owned(), "feed:author:u1".to_owned()]));
        let [id, json, version] = &restore.args[..] else { panic!("{:?}", restore.args) };
        assert_eq!((id.as_str(), version.as_str()), ("42", "3"));
        assert!(json.starts_with(r#"{"id":42,"#), "the scripts' id-first layout: {json}");
        let back: Video = serde_json::from_str(json).unwrap();
        assert_eq!(back, serde_json::from_str::<Video>(&record(42, "u1", 3)).unwrap());
    }

    #[test]
    fn a_comment_comes_back_with_its_video_and_thread() {
        let root = Phase::Comments.parse("7:10", comment(7, 10, None).as_bytes()).unwrap();
        let keys = ["cm:rec:10", "video:7", "cm:count:7", "cm:new:7", "cm:hot:7", "cm:replies:10", "cm:likes:10", "cm:rec:10"];
        assert_eq!((root.id, root.keys.clone(), root.args[2].as_str()), (10, keys.map(str::to_owned).to_vec(), ""));
        let reply = Phase::Comments.parse("7:30", comment(7, 30, Some(10)).as_bytes()).unwrap();
        assert_eq!(
            (&reply.keys[5..], reply.args[2].as_str()),
            (&["cm:replies:10".to_owned(), "cm:likes:10".to_owned(), "cm:rec:10".to_owned()][..], "10")
        );
        let json: serde_json::Value = serde_json::from_str(&reply.args[1]).unwrap();
        assert_eq!((json["root"].as_u64(), json["created_at"].as_u64()), (Some(10), Some(ids::timestamp_ms(30))));
    }

    #[test]
    fn records_that_are_not_their_keys_are_refused() {
        assert!(Phase::Videos.parse("43", record(42, "u1", 1).as_bytes()).unwrap_err().contains("42"));
        assert!(Phase::Videos.parse("42", record(42, "", 1).as_bytes()).is_err());
        assert!(Phase::Videos.parse("42", record(42, "u1", 0).as_bytes()).is_err());
        assert!(Phase::Videos.parse("42", b"{not json").is_err());
        assert!(Phase::Videos.parse("42", br#"{"id":42}"#).is_err());
        assert!(Phase::Comments.parse("7:11", comment(7, 10, None).as_bytes()).is_err());
        assert!(Phase::Comments.parse("8:10", comment(7, 10, None).as_bytes()).is_err());
        assert!(Phase::Comments.parse("7:10", comment(7, 10, Some(10)).as_bytes()).is_err(), "its own root");
        assert!(Phase::Comments.parse("7:10", comment(7, 10, Some(12)).as_bytes()).is_err(), "a root newer than the reply");
        assert!(Phase::Comments.parse("7", comment(7, 10, None).as_bytes()).is_err());
        assert!(Phase::Comments.parse("7:10", b"\xff").is_err());
    }
}
