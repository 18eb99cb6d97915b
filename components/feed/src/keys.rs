//! Every key feed reads or writes, one function (or constant) per family; handlers, the
//! rebuild and the script callers take their names from here, and the Lua scripts reach only
//! keys that arrive in `KEYS` (or, where a script finds records no caller knows beforehand, the
//! `cm:rec:`, `cm:likes:` and `cm:replies:` families named below). In Redis unless marked
//! "key-value store".

/// The change stream search-proxy consumes (`kind id version op`; shared with auth).
pub(crate) use edge_protocol::changes::STREAM as CHANGES;
/// The record of video `id` (shared with search-proxy); the key-value store holds the truth
/// under the same key.
pub(crate) use edge_protocol::keys::video_key as video;
/// Every public video id, newest first (shared with search-proxy).
pub(crate) use edge_protocol::keys::LATEST;

/// The video id issuer's last id.
pub(crate) const LAST_ID: &str = "feed:id:last";
/// Set while feed's Redis state is complete: gone with everything else when Redis loses its data.
pub(crate) const BUILT: &str = "feed:built";

/// An author's timeline: their video ids, scored by id.
pub(crate) fn author(user: &str) -> String {
    format!("feed:author:{user}")
}

/// Who `user` follows, scored by when.
pub(crate) fn follows(user: &str) -> String {
    format!("feed:follows:{user}")
}

/// Redis: marks the receipt of upload `upload_id` used, set by the script that creates its
/// video, so concurrent requests agree.
pub(crate) fn receipt_used(upload_id: &str) -> String {
    format!("feed:receipt:{upload_id}")
}

/// Key-value store: the receipt of upload `upload_id` is spent (holds the video's id); it
/// outlives a Redis loss, so a receipt publishes once ever.
pub(crate) fn receipt_spent(upload_id: &str) -> String {
    format!("receipt:{upload_id}")
}

/// The like set of shard `shard` of video `id`.
pub(crate) fn likes(id: u64, shard: u32) -> String {
    format!("likes:{id}:{shard}")
}

/// The play counter of shard `shard` of video `id`.
pub(crate) fn plays(id: u64, shard: u32) -> String {
    format!("plays:{id}:{shard}")
}

/// Every like shard of video `id`, then (with `plays`) every play shard and the comment count.
pub(crate) fn counters(id: u64, shards: u32, with_plays: bool) -> Vec<String> {
    let likes = (0..shards).map(|shard| likes(id, shard));
    let rest = (0..shards).filter(|_| with_plays).map(|shard| plays(id, shard)).chain(with_plays.then(|| comment_count(id)));
    likes.chain(rest).collect()
}

/// `user`'s last like change on video `id`, which paces the next.
pub(crate) fn like_gap(id: u64, user: &str) -> String {
    format!("like:gap:{id}:{user}")
}

/// Marks `user`'s play of video `id` counted within the window.
pub(crate) fn play_seen(id: u64, user: &str) -> String {
    format!("plays:seen:{id}:{user}")
}

/// The ranking bucket of hour `bucket` (hours since the Unix epoch).
pub(crate) fn ranking_bucket(bucket: u64) -> String {
    format!("rank:h:{bucket}")
}

/// The ranking script's scratch key for the union of the buckets (scripts run one at a time,
/// so one serves every request).
pub(crate) const RANKING_UNION: &str = "rank:union";

/// The rendered 24 h ranking of `limit` videos.
pub(crate) fn ranking_rendered(limit: usize) -> String {
    format!("rank:json:{limit}")
}

/// The danmaku of video `id` posted at playback minute `segment`, by playback time.
pub(crate) fn danmaku_segment(id: u64, segment: u64) -> String {
    format!("dm:{id}:{segment}")
}

/// The recent danmaku of video `id` by id (5,000 kept), for reconnects.
pub(crate) fn danmaku_recent(id: u64) -> String {
    format!("dm:recent:{id}")
}

/// Video `id`'s danmaku id counter.
pub(crate) fn danmaku_seq(id: u64) -> String {
    format!("dm:seq:{id}")
}

/// Marks `user`'s danmaku of this normalised text on video `id` within the repeat window.
pub(crate) fn danmaku_repeat(id: u64, user: &str, text: &str) -> String {
    format!("dm:dup:{id}:{user}:{text}")
}

/// The doorbell video `id`'s live streams wait on (a short stream, one entry per post).
pub(crate) fn doorbell(id: u64) -> String {
    format!("dm:live:{id}")
}

/// The open live streams of video `id` (its viewers), scored by when each expires.
pub(crate) fn room(id: u64) -> String {
    format!("live:room:{id}")
}

/// The open live streams of client address `client`, scored by when each expires.
pub(crate) fn live_address(client: &str) -> String {
    format!("live:addr:{client}")
}

/// The open live streams of edge instance `instance`, scored by when each expires.
pub(crate) fn live_instance(instance: &str) -> String {
    format!("live:inst:{instance}")
}

/// Set while the comments are complete (see [`crate::rebuild`]).
pub(crate) const COMMENTS_BUILT: &str = "cm:built";
/// The comment id issuer's last id.
pub(crate) const COMMENT_LAST_ID: &str = "cm:id:last";

/// Comment `id`'s record (the scripts spell `cm:rec:` too).
pub(crate) fn comment(id: u64) -> String {
    format!("cm:rec:{id}")
}

/// What the key-value store's comment keys start with.
pub(crate) const STORED_COMMENT_PREFIX: &str = "comment:";

/// Key-value store: comment `id` of video `video`, one key per comment so no two writers share
/// a document. Not a `video:`/`user:` key, so search never indexes it.
pub(crate) fn stored_comment(video: u64, id: u64) -> String {
    format!("{STORED_COMMENT_PREFIX}{video}:{id}")
}

/// Video `video`'s roots by id.
pub(crate) fn comments_new(video: u64) -> String {
    format!("cm:new:{video}")
}

/// Video `video`'s roots by hot score.
pub(crate) fn comments_hot(video: u64) -> String {
    format!("cm:hot:{video}")
}

/// Thread `root`'s replies by id (the scripts spell `cm:replies:` too).
pub(crate) fn replies(root: u64) -> String {
    format!("cm:replies:{root}")
}

/// Who likes comment `id` (the scripts spell `cm:likes:` too).
pub(crate) fn comment_likes(id: u64) -> String {
    format!("cm:likes:{id}")
}

/// Comments on video `video`, replies included.
pub(crate) fn comment_count(video: u64) -> String {
    format!("cm:count:{video}")
}

/// Marks `user`'s comment of this normalised text on video `video` within the repeat window.
pub(crate) fn comment_repeat(video: u64, user: &str, text: &str) -> String {
    format!("cm:dup:{video}:{user}:{text}")
}

/// `user`'s last like change on comment `id`, which paces the next.
pub(crate) fn comment_like_gap(id: u64, user: &str) -> String {
    format!("cm:gap:{id}:{user}")
}

/// `user`'s notification groups by last activity, and their read watermark (the scripts derive
/// `ntf:<user>:g:<group>` and its `:a`/`:r` sets from the first).
pub(crate) fn notifications(user: &str) -> [String; 2] {
    [format!("ntf:{user}"), format!("ntf:{user}:seen")]
}

/// Key-value store: `user`'s favorites.
pub(crate) fn favorites(user: &str) -> String {
    format!("favorites:{user}")
}

/// Key-value store: `user`'s watch history.
pub(crate) fn history(user: &str) -> String {
    format!("history:{user}")
}

/// The lease of the request rebuilding videos.
pub(crate) const REBUILD_LOCK: &str = "feed:rebuild:lock";
/// Video ids listed from the key-value store and not restored yet, scored by id.
pub(crate) const REBUILD_PENDING: &str = "feed:rebuild:pending";
/// Set once [`REBUILD_PENDING`] holds every listed id.
pub(crate) const REBUILD_LISTED: &str = "feed:rebuild:listed";
/// [`REBUILD_LOCK`] of the comments.
pub(crate) const COMMENTS_REBUILD_LOCK: &str = "feed:rebuild:c:lock";
/// [`REBUILD_PENDING`] of the comments: `<video>:<id>` members, scored by id.
pub(crate) const COMMENTS_REBUILD_PENDING: &str = "feed:rebuild:c:pending";
/// [`REBUILD_LISTED`] of the comments.
pub(crate) const COMMENTS_REBUILD_LISTED: &str = "feed:rebuild:c:listed";

// The rate-limit windows ([`crate::limits`]), each `<prefix>:<subject>`.

/// Likes and unlikes per client address.
pub(crate) const LIKES_PER_CLIENT: &str = "limit:likes";
/// Follows and unfollows per client address.
pub(crate) const FOLLOWS_PER_CLIENT: &str = "limit:follows";
/// Comments per client address.
pub(crate) const COMMENTS_PER_CLIENT: &str = "limit:comments";
/// Danmaku per user.
pub(crate) const DANMAKU_PER_USER: &str = "dm:rate";
/// Comments per user.
pub(crate) const COMMENTS_PER_USER: &str = "cm:rate";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_list_likes_then_plays_and_the_comment_count() {
        assert_eq!(counters(7, 2, false), ["likes:7:0", "likes:7:1"]);
        assert_eq!(counters(7, 2, true), ["likes:7:0", "likes:7:1", "plays:7:0", "plays:7:1", "cm:count:7"]);
        assert_eq!(stored_comment(12, 5), "comment:12:5");
    }
}
