//! Feed state in Redis: key names and the Lua scripts that change or read several keys at once.
//! Every multi-step change is one script, so concurrent requests on many edge instances never
//! interleave inside it and nothing is half-written. Every key a script touches arrives in
//! `KEYS`, except the new record's in [`CREATE`]: it issues the id and writes `video:<id>` in one
//! step, so timelines only ever grow at the head. On a Redis Cluster all feed keys would share
//! one hash tag for that reason, and for the comment scripts: they issue ids the same way, and
//! reach the `cm:rec:`, `cm:likes:` and `cm:replies:` keys of the comments they find (a page's
//! roots, a reply's root, a deleted root's replies), which no caller knows beforehand.
//!
//! The keys themselves are named in [`crate::keys`].
//!
//! Scripts that create a video, read a timeline or find a record missing check `feed:built` in
//! the same call and answer [`REBUILD`] without it, so a Redis that lost its data is noticed at
//! no extra round trip (a missing record then means "not restored yet", not "no such video").
//! The ranking needs no check: its buckets are not rebuilt, and it shows records that exist.

use edge_spin::script::{Count, Script};

/// The change stream's length (its key is [`crate::keys::CHANGES`]).
pub(crate) use edge_protocol::changes::MAXLEN as CHANGES_MAXLEN;
/// What a script answers when [`crate::keys::BUILT`] is gone.
pub const REBUILD: &str = "rebuild";

/// Issues the next id and stores a new video: KEYS = last id, receipt marker, latest, author
/// timeline, changes, built marker; ARGV = epoch ms, record JSON after its `{"id":0` prefix,
/// stream length. Answers the id as text, or -1 when the receipt was used already. The id is
/// issued in the same script that inserts it, so timelines only ever grow at the top: a reader
/// paging down with a cursor can neither skip nor repeat an item. Without the marker it creates
/// nothing: the id issuer may not be restored yet.
pub static CREATE: Script = Script::new("create", include_str!("scripts/create.lua"), Count::Exactly(6), Count::Exactly(3));

/// Replaces a record if it is still at the version the edit was made against: KEYS = record,
/// changes, built marker; ARGV = author, expected version, new JSON, stream length. Answers
/// `ok`, `missing`, `not-owner` or `conflict:<current version>`.
pub static UPDATE: Script = Script::new("update", include_str!("scripts/update.lua"), Count::Exactly(3), Count::Exactly(4));

/// Deletes a record and takes it off the timelines: KEYS = record, latest, author timeline,
/// changes, built marker; ARGV = author, stream length. Answers `ok`, `missing` or `not-owner`.
pub(crate) static DELETE: Script = Script::new("delete", include_str!("scripts/delete.lua"), Count::Exactly(5), Count::Exactly(2));

/// A page of a timeline: KEYS = timeline, built marker; ARGV = upper bound (`(<id>` or
/// `+inf`), limit. Answers the ids, newest first (the records are read after, in one `MGET`).
pub(crate) static PAGE: Script = Script::new("page", include_str!("scripts/page.lua"), Count::Exactly(2), Count::Exactly(2));

/// The following feed, fanned out on read: KEYS = built marker, then the timelines of the most
/// recently followed authors; ARGV = upper bound, limit. A k-way merge answering the newest
/// `limit` ids: one single-entry read per author, then one per id taken (authors + limit reads,
/// not authors × limit entries).
pub static FOLLOWING: Script = Script::new("following", include_str!("scripts/following.lua"), Count::AtLeast(1), Count::Exactly(2));

/// Follows an author unless the follow set is full: KEYS = the follow set; ARGV = author, now,
/// most follows. Answers 1 (following), or 0 (full; following again is not refused).
pub(crate) static FOLLOW: Script = Script::new("follow", include_str!("scripts/follow.lua"), Count::Exactly(1), Count::Exactly(3));

/// One video with its counters: KEYS = record, built marker, then every like shard, every play
/// shard and the comment count ([`counter_keys`]); ARGV = shards, caller (may be empty),
/// caller's shard. Answers record, likes, plays, liked (0/1), comments; nil record when
/// missing.
pub(crate) static VIDEO: Script = Script::new("video", include_str!("scripts/video.lua"), Count::AtLeast(2), Count::Exactly(3));

/// Likes or unlikes: KEYS = record, the caller's like shard, the current ranking bucket,
/// built marker, the caller's pacing key for this video, then every like shard; ARGV = caller,
/// `like`/`unlike`, ranking weight, bucket lifetime, video id, the least milliseconds between
/// two changes (0: unpaced). A change counts once per user; answers the exact total, -1 for a
/// missing video, or `{-2, wait ms}` for a change sooner than the interval after the last.
pub static LIKE: Script = Script::new("like", include_str!("scripts/like.lua"), Count::AtLeast(5), Count::Exactly(6));

/// Tells the author of the record an action is on (a like, comment or reply): KEYS = that
/// record (`video:<id>` or `cm:rec:<id>`); ARGV = actor, kind, video id, comment id (empty for
/// the video), now ms, groups kept, lifetime secs. The recipient's `ntf:<user>...` keys come
/// from the record's author (see [`crate::notifications`]). Answers 1 when a new actor was
/// counted, else 0 (a repeat, one's own action, a record gone).
pub(crate) static NOTIFY: Script = Script::new("notify", include_str!("scripts/notify.lua"), Count::Exactly(1), Count::Exactly(7));

/// A user's notifications: KEYS = `ntf:<user>`, `ntf:<user>:seen`; ARGV = `unread`; `read`,
/// lifetime secs; or `page`, bound score, limit (see [`crate::notifications::read_page`]).
pub(crate) static NOTIFICATIONS: Script =
    Script::new("notifications", include_str!("scripts/notifications.lua"), Count::Exactly(2), Count::AtLeast(1));

/// Counts a play at most once per user per window: KEYS = record, the user's play marker, the
/// user's play shard, the current ranking bucket, built marker; ARGV = window secs, weight,
/// bucket lifetime, video id. Answers 1 (counted), 0 (already counted) or -1 (no such video).
pub(crate) static PLAY: Script = Script::new("play", include_str!("scripts/play.lua"), Count::Exactly(5), Count::Exactly(4));

/// The top of the 24 h window: KEYS = the 24 hourly buckets, then a scratch key for their
/// union; ARGV = limit. Answers `id, score` pairs, best first. (The rendered answer is
/// cached by the caller, so this runs once per cache lifetime.)
pub(crate) static RANKING: Script = Script::new("ranking", include_str!("scripts/ranking.lua"), Count::AtLeast(0), Count::Exactly(1));

/// Posts a danmaku unless the same user said the same thing lately: KEYS = record, repeat marker,
/// id counter, segment, recent, built marker, live doorbell; ARGV = repeat window secs, JSON after
/// its `{"id":0` prefix, playback ms, recent kept. Answers the id, 0 (a repeat) or -1 (no such
/// video).
pub static DANMAKU: Script = Script::new("danmaku", include_str!("scripts/danmaku.lua"), Count::Exactly(7), Count::Exactly(4));

/// Reads danmaku: KEYS = record, a sorted set (segment or recent), built marker; ARGV = min,
/// max, limit. Answers `missing` alone, or `ok` then the items.
pub(crate) static READ_DANMAKU: Script =
    Script::new("read-danmaku", include_str!("scripts/read-danmaku.lua"), Count::Exactly(3), Count::Exactly(3));

/// Admits a live stream: KEYS = record, built marker, id counter, live doorbell, then the open
/// streams of the video, of the client address and of this instance; ARGV = now ms, expiry ms,
/// stream id, most streams per address, most per instance. Expired entries go first, so a
/// stream whose instance died frees its place by itself. Answers `missing` alone,
/// `client`/`instance` with the ms until a place frees, or `ok`, the newest danmaku id, the
/// doorbell's position and the video's viewers.
pub static LIVE_OPEN: Script = Script::new("live-open", include_str!("scripts/live-open.lua"), Count::Exactly(7), Count::Exactly(5));

/// What a live stream sends next: KEYS = recent, live doorbell, the video's open streams;
/// ARGV = after id, limit, now ms. Answers the doorbell's position, the viewers, then the
/// danmaku after the id, in one step so no post falls between the read and the next wait.
pub static LIVE_READ: Script = Script::new("live-read", include_str!("scripts/live-read.lua"), Count::Exactly(3), Count::Exactly(3));

/// Ends a live stream: KEYS = the open-stream sets it joined; ARGV = stream id.
pub(crate) static LIVE_CLOSE: Script =
    Script::new("live-close", include_str!("scripts/live-close.lua"), Count::Exactly(3), Count::Exactly(1));

/// The hot score of a comment (see the function); `comment-hot.lua` computes it in the scripts
/// that re-score, and their tests check them against this.
pub use crate::comments::hot_score;

/// Posts a comment: KEYS = video record, built marker, comments' built marker, comment id
/// issuer, repeat marker, the video's roots by id and by hot score, its count; ARGV = epoch ms,
/// repeat window secs, video id, parent id (empty for a root), the record's JSON after its
/// `reply_to` field. A reply to a reply joins its root's thread. Answers the id and the
/// thread's root (empty for a root), 0 (a repeat), -1 (no such video) or -2 (no such parent on
/// this video); [`REBUILD`] without the comments' marker.
pub static COMMENT_POST: Script = Script::new(
    "comment-post",
    concat!(include_str!("scripts/comment-hot.lua"), include_str!("scripts/comment-post.lua")),
    Count::Exactly(8),
    Count::Exactly(5),
);

/// A page of a video's roots: KEYS = video record, built marker, comments' built marker, the
/// order (roots by id or by hot score), the count; ARGV = bound score (empty for the first
/// page), bound id, limit, caller (may be empty), replies shown per root. Roots after the bound
/// in descending (score, id) order; the answer is [`crate::comments::read_page`]'s, or `missing`.
pub static COMMENT_PAGE: Script =
    Script::new("comment-page", include_str!("scripts/comment-page.lua"), Count::Exactly(5), Count::Exactly(5));

/// A page of one thread's replies, oldest first: KEYS = video record, built marker, comments'
/// built marker, the comment's record, its replies; ARGV = the id to start after (empty for the
/// first page), limit, caller (may be empty). The answer is
/// [`crate::comments::read_replies`]'s, `missing` (no video) or `no-comment`.
pub(crate) static COMMENT_REPLIES: Script =
    Script::new("comment-replies", include_str!("scripts/comment-replies.lua"), Count::Exactly(5), Count::Exactly(3));

/// Deletes a comment for its author or the video's: KEYS = video record, built marker,
/// comments' built marker, the comment's record, the video's roots by id and by hot score, its
/// count, the comment's likes, its replies; ARGV = caller, video id, comment id. A root takes
/// its thread with it; a reply re-scores its root. Answers `ok` and the ids of the replies
/// removed with it, `missing-video`, `missing` or `forbidden`.
pub static COMMENT_DELETE: Script = Script::new(
    "comment-delete",
    concat!(include_str!("scripts/comment-hot.lua"), include_str!("scripts/comment-delete.lua")),
    Count::Exactly(9),
    Count::Exactly(3),
);

/// Likes or unlikes a comment: KEYS = video record, built marker, comments' built marker, the
/// comment's record, its likes, the video's roots by hot score, its replies, the caller's pacing
/// key; ARGV = caller, `like`/`unlike`, video id, the least ms between two changes (0:
/// unpaced), comment id. A root's change re-scores it. Answers the likes, -1 (no such video),
/// -3 (no such comment on it) or `{-2, wait ms}` (a change within the interval).
pub static COMMENT_LIKE: Script = Script::new(
    "comment-like",
    concat!(include_str!("scripts/comment-hot.lua"), include_str!("scripts/comment-like.lua")),
    Count::Exactly(8),
    Count::Exactly(5),
);

/// Splits a serialised record into the prefix `{"id":0` the scripts replace with the issued id
/// and the rest; `None` if the record does not start with its id (a programming error).
pub(crate) fn after_id_placeholder(json: &str) -> Option<&str> {
    json.strip_prefix(r#"{"id":0"#)
}

/// Takes a phase's lease unless its state is complete: KEYS = built marker, lease, listed, last id
/// ([`crate::rebuild::Phase::start_keys`]); ARGV = token, lease ms. Answers `built`, `busy`
/// (another request holds the lease), `list` or `listed` (the lease is taken; list first, or
/// restore). A Redis with the phase's id issuer but neither marker nor a rebuild under way was
/// never lost: it predates the marker.
pub(crate) static REBUILD_START: Script =
    Script::new("rebuild-start", include_str!("scripts/rebuild-start.lua"), Count::Exactly(4), Count::Exactly(2));

/// Adds listed video ids to the pending set: KEYS = lease, pending, listed; ARGV = token, lease
/// ms, last chunk (`1`/`0`), ids. Answers 1, or 0 when the lease was lost.
pub(crate) static REBUILD_LIST: Script =
    Script::new("rebuild-list", include_str!("scripts/rebuild-list.lua"), Count::Exactly(3), Count::AtLeast(3));

/// [`REBUILD_LIST`] for comments: ARGV = token, lease ms, last chunk, then `id, <video>:<id>` pairs.
pub(crate) static REBUILD_LIST_COMMENTS: Script =
    Script::new("rebuild-comments-list", include_str!("scripts/rebuild-comments-list.lua"), Count::Exactly(3), Count::AtLeast(3));

/// Restores a batch of videos: KEYS = lease, pending, changes, last id, built marker, listed, then
/// per record [`crate::rebuild::Restore::keys`]; ARGV = token, lease ms, batch size, stream length,
/// release (`1`/`0`), then per record [`crate::rebuild::Restore::args`], then every id to take off
/// the pending set. A record still in Redis is kept (it is newer or the same) and not announced
/// twice; the id issuer moves to at least the largest id. Answers `lost` (the lease is gone),
/// `built` (nothing pending: the marker is set and the lease released), or `more` and the next ids.
pub(crate) static REBUILD_RESTORE: Script =
    Script::new("rebuild-restore", include_str!("scripts/rebuild-restore.lua"), Count::AtLeast(6), Count::AtLeast(5));

/// Restores a batch of comments: KEYS = lease, pending, last id, built marker, listed, then per
/// record [`crate::rebuild::Restore::keys`]; ARGV = token, lease ms, batch size, release, then per
/// record [`crate::rebuild::Restore::args`], then every member to take off the pending set. A
/// comment whose video, or whose thread's root, is not in Redis is skipped; one already there is
/// kept and counted once. Answers as [`REBUILD_RESTORE`].
pub static RESTORE_COMMENTS: Script = Script::new(
    "rebuild-comments",
    concat!(include_str!("scripts/comment-hot.lua"), include_str!("scripts/rebuild-comments.lua")),
    Count::AtLeast(5),
    Count::AtLeast(4),
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_serialise_with_the_id_first() {
        let danmaku = crate::danmaku::Danmaku {
            id: 0,
            time_ms: 5,
            user: "u".into(),
            text: "hi".into(),
            color: None,
            mode: crate::danmaku::Mode::Scroll,
            posted_at: 1,
        };
        let json = serde_json::to_string(&danmaku).unwrap();
        let rest = after_id_placeholder(&json).unwrap();
        let rebuilt: crate::danmaku::Danmaku = serde_json::from_str(&format!(r#"{{"id":42{rest}"#)).unwrap();
        assert_eq!(rebuilt.id, 42);
        assert!(after_id_placeholder(r#"{"id":7,"x":1}"#).is_none());
    }
}
