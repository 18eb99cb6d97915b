//! Feed state in Redis: key names and the Lua scripts that change or read several keys at once.
//! Every multi-step change is one script, so concurrent requests on many edge instances never
//! interleave inside it and nothing is half-written. Scripts touch record keys they derive from
//! ids they read (`video:<id>`), which a single Redis (or one with all feed keys on one shard)
//! allows.
//!
//! Keys:
//! - `video:<id>`: the record (JSON); a mirror is kept in the key-value store for reindexing.
//! - `feed:latest`, `feed:author:<user>`: timelines, sorted sets scored by id.
//! - `feed:follows:<user>`: who a user follows, scored by when.
//! - `feed:changes`: the change stream search-proxy consumes (`kind id version op`).
//! - `likes:<video>:<shard>`, `plays:<video>:<shard>`: sharded like sets and play counters.
//! - `rank:h:<hour>`: hourly ranking buckets; `rank:json:<limit>`: the rendered 24 h ranking.
//! - `dm:<video>:<segment>`, `dm:recent:<video>`, `dm:seq:<video>`: danmaku by playback
//!   minute, by id (for reconnects), and their id counter; `dm:dup:...` repeat markers.
//! - `feed:built`: set while the records and timelines are complete; `feed:rebuild:...`: a
//!   rebuild from the key-value store under way (see [`crate::rebuild`]).
//!
//! Scripts that create a video, read a timeline or find a record missing check `feed:built` in
//! the same call and answer [`REBUILD`] without it, so a Redis that lost its data is noticed at
//! no extra round trip (a missing record then means "not restored yet", not "no such video").
//! The ranking needs no check: its buckets are not rebuilt, and it shows records that exist.

/// The change stream (shared with auth, read by search-proxy).
pub(crate) use edge_spin::changes::{MAXLEN as CHANGES_MAXLEN, STREAM as CHANGES};
/// The latest-videos timeline.
pub(crate) const LATEST: &str = "feed:latest";
/// The id issuer's last id.
pub(crate) const LAST_ID: &str = "feed:id:last";
/// Set while feed's Redis state is complete: gone with everything else when Redis loses its data.
pub(crate) const BUILT: &str = "feed:built";
/// What a script answers when [`BUILT`] is gone.
pub(crate) const REBUILD: &str = "rebuild";

/// The record key of video `id`.
pub(crate) fn video_key(id: u64) -> String {
    format!("video:{id}")
}

/// An author's timeline.
pub(crate) fn author_key(user: &str) -> String {
    format!("feed:author:{user}")
}

/// Who `user` follows.
pub(crate) fn follows_key(user: &str) -> String {
    format!("feed:follows:{user}")
}

/// Issues the next id and stores a new video: KEYS = last id, receipt marker, latest, author
/// timeline, changes, built marker; ARGV = epoch ms, record JSON after its `{"id":0` prefix,
/// stream length. Answers the id as text, or -1 when the receipt was used already. The id is
/// issued in the same script that inserts it, so timelines only ever grow at the top: a reader
/// paging down with a cursor can neither skip nor repeat an item. Without the marker it creates
/// nothing: the id issuer may not be restored yet.
pub(crate) const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[6]) == 0 then return 'rebuild' end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local id = ms * 4096
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if id <= last then id = last + 1 end
local sid = string.format('%d', id)
redis.call('SET', KEYS[1], sid)
redis.call('SET', KEYS[2], sid)
redis.call('SET', 'video:' .. sid, '{"id":' .. sid .. ARGV[2])
redis.call('ZADD', KEYS[3], sid, sid)
redis.call('ZADD', KEYS[4], sid, sid)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[3], '*', 'kind', 'video', 'id', sid, 'version', '1', 'op', 'upsert')
return sid
"#;

/// Replaces a record if it is still at the version the edit was made against: KEYS = record,
/// changes, built marker; ARGV = author, expected version, new JSON, stream length. Answers
/// `ok`, `missing`, `not-owner` or `conflict:<current version>`.
pub(crate) const UPDATE: &str = r#"
local current = redis.call('GET', KEYS[1])
if not current then
  if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
  return 'missing'
end
local record = cjson.decode(current)
if record.author ~= ARGV[1] then return 'not-owner' end
if record.version ~= tonumber(ARGV[2]) then return 'conflict:' .. record.version end
redis.call('SET', KEYS[1], ARGV[3])
local id = string.match(KEYS[1], '%d+$')
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'kind', 'video', 'id', id, 'version', tostring(record.version + 1), 'op', 'upsert')
return 'ok'
"#;

/// Deletes a record and takes it off the timelines: KEYS = record, latest, author timeline,
/// changes, built marker; ARGV = author, stream length. Answers `ok`, `missing` or `not-owner`.
pub(crate) const DELETE: &str = r#"
local current = redis.call('GET', KEYS[1])
if not current then
  if redis.call('EXISTS', KEYS[5]) == 0 then return 'rebuild' end
  return 'missing'
end
local record = cjson.decode(current)
if record.author ~= ARGV[1] then return 'not-owner' end
local id = string.match(KEYS[1], '%d+$')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[3], id)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'kind', 'video', 'id', id, 'version', tostring(record.version + 1), 'op', 'delete')
return 'ok'
"#;

/// A page of a timeline: KEYS = timeline, built marker; ARGV = upper bound (`(<id>` or
/// `+inf`), limit. Answers `id, record` pairs, newest first.
pub(crate) const PAGE: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, id in ipairs(ids) do
  out[#out + 1] = id
  out[#out + 1] = redis.call('GET', 'video:' .. id) or false
end
return out
"#;

/// The following feed, fanned out on read: KEYS = the follow set, built marker; ARGV = upper
/// bound, limit, most authors read. Reads at most `limit` ids from each of the most recently
/// followed authors, merges them newest first and answers `id, record` pairs for the top
/// `limit`.
pub(crate) const FOLLOWING: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
local limit = tonumber(ARGV[2])
local authors = redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[3]) - 1)
local ids = {}
for _, author in ipairs(authors) do
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', 'feed:author:' .. author, ARGV[1], '-inf', 'LIMIT', 0, limit)) do
    ids[#ids + 1] = tonumber(id)
  end
end
table.sort(ids, function(a, b) return a > b end)
local out = {}
for i = 1, math.min(#ids, limit) do
  local sid = string.format('%d', ids[i])
  out[#out + 1] = sid
  out[#out + 1] = redis.call('GET', 'video:' .. sid) or false
end
return out
"#;

/// Follows an author unless the follow set is full: KEYS = the follow set; ARGV = author, now,
/// most follows. Answers 1 (following), or 0 (full; following again is not refused).
pub(crate) const FOLLOW: &str = r#"
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) and not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return 1
"#;

/// One video with its counters: KEYS = record, built marker; ARGV = video id, shards, caller
/// (may be empty), caller's shard. Answers record, likes, plays, liked (0/1); nil record when
/// missing.
pub(crate) const VIDEO: &str = r#"
local record = redis.call('GET', KEYS[1])
if not record then
  if redis.call('EXISTS', KEYS[2]) == 0 then return 'rebuild' end
  return {false}
end
local likes, plays = 0, 0
for i = 0, tonumber(ARGV[2]) - 1 do
  likes = likes + redis.call('SCARD', 'likes:' .. ARGV[1] .. ':' .. i)
  plays = plays + tonumber(redis.call('GET', 'plays:' .. ARGV[1] .. ':' .. i) or '0')
end
local liked = 0
if ARGV[3] ~= '' then liked = redis.call('SISMEMBER', 'likes:' .. ARGV[1] .. ':' .. ARGV[4], ARGV[3]) end
return {record, likes, plays, liked}
"#;

/// Likes or unlikes: KEYS = record, the caller's like shard, the current ranking bucket,
/// built marker; ARGV = caller, `like`/`unlike`, ranking weight, bucket lifetime, video id,
/// shards. A change counts once per user; answers the exact total, or -1 for a missing video.
pub(crate) const LIKE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[4]) == 0 then return 'rebuild' end
  return -1
end
local changed
if ARGV[2] == 'like' then changed = redis.call('SADD', KEYS[2], ARGV[1]) else changed = redis.call('SREM', KEYS[2], ARGV[1]) end
if changed == 1 then
  local weight = tonumber(ARGV[3])
  if ARGV[2] ~= 'like' then weight = -weight end
  redis.call('ZINCRBY', KEYS[3], weight, ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[4])
end
local total = 0
for i = 0, tonumber(ARGV[6]) - 1 do total = total + redis.call('SCARD', 'likes:' .. ARGV[5] .. ':' .. i) end
return total
"#;

/// Counts a play at most once per user per window: KEYS = record, the user's play marker, the
/// user's play shard, the current ranking bucket, built marker; ARGV = window secs, weight,
/// bucket lifetime, video id. Answers 1 (counted), 0 (already counted) or -1 (no such video).
pub(crate) const PLAY: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[5]) == 0 then return 'rebuild' end
  return -1
end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
redis.call('INCR', KEYS[3])
redis.call('ZINCRBY', KEYS[4], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[4], ARGV[3])
return 1
"#;

/// The top of the 24 h window: KEYS = the 24 hourly buckets, then a scratch key for their
/// union; ARGV = limit. Answers `id, score, record` triples, best first. (The rendered answer is
/// cached by the caller, so this runs once per cache lifetime.)
pub(crate) const RANKING: &str = r#"
local union = KEYS[#KEYS]
redis.call('ZUNIONSTORE', union, #KEYS - 1, unpack(KEYS, 1, #KEYS - 1))
local top = redis.call('ZREVRANGEBYSCORE', union, '+inf', '(0', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
redis.call('DEL', union)
local out = {}
for i = 1, #top, 2 do
  out[#out + 1] = top[i]
  out[#out + 1] = top[i + 1]
  out[#out + 1] = redis.call('GET', 'video:' .. top[i]) or false
end
return out
"#;

/// Posts a danmaku unless the same user said the same thing lately: KEYS = record, repeat
/// marker, id counter, segment, recent, built marker; ARGV = repeat window secs, JSON after its
/// `{"id":0` prefix, playback ms, recent kept. Answers the id, 0 (a repeat) or -1 (no such
/// video).
pub(crate) const DANMAKU: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[6]) == 0 then return 'rebuild' end
  return -1
end
if not redis.call('SET', KEYS[2], '1', 'NX', 'EX', tonumber(ARGV[1])) then return 0 end
local id = redis.call('INCR', KEYS[3])
local json = '{"id":' .. id .. ARGV[2]
redis.call('ZADD', KEYS[4], ARGV[3], json)
redis.call('ZADD', KEYS[5], id, json)
redis.call('ZREMRANGEBYRANK', KEYS[5], 0, -tonumber(ARGV[4]) - 1)
return id
"#;

/// Reads danmaku: KEYS = record, a sorted set (segment or recent), built marker; ARGV = min,
/// max, limit. Answers `missing` alone, or `ok` then the items.
pub(crate) const READ_DANMAKU: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('EXISTS', KEYS[3]) == 0 then return 'rebuild' end
  return {'missing'}
end
local items = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
table.insert(items, 1, 'ok')
return items
"#;

/// Splits a serialised record into the prefix `{"id":0` the scripts replace with the issued id
/// and the rest; `None` if the record does not start with its id (a programming error).
pub(crate) fn after_id_placeholder(json: &str) -> Option<&str> {
    json.strip_prefix(r#"{"id":0"#)
}

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
