//! The Spin side of the cores: [`crate::rebuild`] (the rebuild scripts and the key-value store),
//! [`crate::danmaku`] (a post's limit and its script), [`crate::follows`] (accounts and follow
//! sets), [`crate::publish`] (receipts, covers and the create script) and [`crate::live`] (a
//! stream's admission and its Redis).

use edge_http::Problem;
use edge_spin::kv_unavailable;
use edge_spin::redis::{arg, int, now_ms, text, Redis};
use edge_spin::script::Script;
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::danmaku::{self, Danmaku, Stored};
use crate::keys::{
    BUILT, CHANGES, COMMENTS_BUILT, COMMENTS_REBUILD_LISTED, COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENT_LAST_ID, LAST_ID,
    REBUILD_LISTED, REBUILD_LOCK, REBUILD_PENDING,
};
use crate::live::{self, Admission, Limits, Read};
use crate::rebuild::{self, Phase, Restore};
use crate::video::Video;
use crate::{follows, ids, keys, limits, publish, store, Feed};

/// Danmaku kept per video for reconnecting clients and live streams.
const DANMAKU_RECENT_KEPT: u64 = 5000;

impl rebuild::Ports for Feed {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn token(&self) -> String {
        edge_http::random_id()
    }

    fn pause(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    fn start(&self, phase: Phase, token: &str) -> Result<rebuild::Start, Problem> {
        let reply = self.redis()?.run(&store::REBUILD_START, &phase.start_keys(), vec![arg(token), arg(rebuild::LEASE_MS)])?;
        Ok(match reply.first().and_then(text).as_deref() {
            Some("built") => rebuild::Start::Built,
            Some("list") => rebuild::Start::List,
            Some("listed") => rebuild::Start::Listed,
            _ => rebuild::Start::Busy,
        })
    }

    fn stored_keys(&self) -> Result<Vec<String>, Problem> {
        self.kv()?.get_keys().map_err(kv_unavailable)
    }

    fn list(&self, phase: Phase, token: &str, members: &[(u64, String)], last: bool) -> Result<bool, Problem> {
        let (script, keys, args) = list_call(phase, token, members, last);
        Ok(self.redis()?.run(script, &keys, args)?.first().and_then(int) == Some(1))
    }

    fn restore(&self, phase: Phase, token: &str, release: bool, batch: &[Restore], members: &[String]) -> Result<rebuild::Step, Problem> {
        let (script, keys, args) = restore_call(phase, token, release, batch, members);
        let reply = self.redis()?.run(script, &keys, args)?;
        Ok(match reply.first().and_then(text).as_deref() {
            Some("built") => rebuild::Step::Built,
            Some("more") => rebuild::Step::More(reply.iter().skip(1).filter_map(text).collect()),
            _ => rebuild::Step::Lost,
        })
    }

    fn stored(&self, key: &str) -> Result<Option<Vec<u8>>, Problem> {
        self.kv()?.get(key).map_err(kv_unavailable)
    }

    fn is_built(&self, phase: Phase) -> Result<bool, Problem> {
        Ok(self.redis()?.exec("EXISTS", &[arg(phase.built())])?.first().and_then(int) == Some(1))
    }
}

/// Script, keys and arguments of one listing call: `members` are added to the pending set;
/// `last` marks listing done.
fn list_call(phase: Phase, token: &str, members: &[(u64, String)], last: bool) -> (&'static Script, Vec<String>, Vec<RedisParameter>) {
    let mut args = vec![arg(token), arg(rebuild::LEASE_MS), arg(if last { "1" } else { "0" })];
    let (script, keys) = match phase {
        Phase::Videos => {
            args.extend(members.iter().map(|(id, _)| arg(*id)));
            (&store::REBUILD_LIST, [REBUILD_LOCK, REBUILD_PENDING, REBUILD_LISTED])
        }
        Phase::Comments => {
            args.extend(members.iter().flat_map(|(id, member)| [arg(*id), arg(member.as_str())]));
            (&store::REBUILD_LIST_COMMENTS, [COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENTS_REBUILD_LISTED])
        }
    };
    (script, keys.map(str::to_owned).into(), args)
}

/// Script, keys and arguments of one restore step: `batch` (the readable records among
/// `members`) is restored and every member taken off the pending set; `release` hands the
/// lease back if more remain.
fn restore_call(
    phase: Phase,
    token: &str,
    release: bool,
    batch: &[Restore],
    members: &[String],
) -> (&'static Script, Vec<String>, Vec<RedisParameter>) {
    let release = arg(if release { "1" } else { "0" });
    let (script, mut keys, mut args): (_, Vec<&str>, _) = match phase {
        Phase::Videos => (
            &store::REBUILD_RESTORE,
            vec![REBUILD_LOCK, REBUILD_PENDING, CHANGES, LAST_ID, BUILT, REBUILD_LISTED],
            vec![arg(token), arg(rebuild::LEASE_MS), arg(rebuild::BATCH), arg(store::CHANGES_MAXLEN), release],
        ),
        Phase::Comments => (
            &store::RESTORE_COMMENTS,
            vec![COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENT_LAST_ID, COMMENTS_BUILT, COMMENTS_REBUILD_LISTED],
            vec![arg(token), arg(rebuild::LEASE_MS), arg(rebuild::BATCH), release],
        ),
    };
    for restore in batch {
        keys.extend(restore.keys.iter().map(String::as_str));
        args.extend(restore.args.iter().map(arg));
    }
    args.extend(members.iter().map(arg));
    (script, keys.into_iter().map(str::to_owned).collect(), args)
}

impl danmaku::Ports for Feed {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn count_post(&self, user: &str) -> Result<(), Problem> {
        limits::DANMAKU_PER_USER.check(self.redis()?, user)
    }

    fn store(&self, video: u64, item: &Danmaku, repeat: &str, repeat_secs: u64) -> Result<Stored, Problem> {
        let json = serde_json::to_string(item).unwrap_or_default();
        let rest = store::after_id_placeholder(&json).ok_or_else(|| Problem::misconfigured("danmaku must serialise with the id first"))?;
        let keys = [
            keys::video(video),
            keys::danmaku_repeat(video, &item.user, repeat),
            keys::danmaku_seq(video),
            keys::danmaku_segment(video, danmaku::segment(item.time_ms)),
            keys::danmaku_recent(video),
            keys::BUILT.to_owned(),
            keys::doorbell(video),
        ];
        let args = vec![arg(repeat_secs), arg(rest), arg(item.time_ms), arg(DANMAKU_RECENT_KEPT)];
        Ok(match self.run(&store::DANMAKU, &keys, args)?.first().and_then(int) {
            Some(id) if id > 0 => Stored::Posted(id as u64),
            Some(0) => Stored::Repeat,
            _ => Stored::NoVideo,
        })
    }
}

impl Feed {
    /// Runs [`store::LIVE_OPEN`]: takes a place for stream `member` of `video` in each of
    /// `places` (the video's room, the client address's and this instance's streams) within
    /// `limits`, unless one is full.
    pub(crate) fn admit(&self, video: u64, places: &[String; 3], member: &str, now: u64, limits: &Limits) -> Result<Admission, Problem> {
        let mut keys = vec![keys::video(video), keys::BUILT.to_owned(), keys::danmaku_seq(video), keys::doorbell(video)];
        keys.extend(places.iter().cloned());
        let args = vec![arg(now), arg(limits.place_expiry(now)), arg(member), arg(limits.per_client), arg(limits.per_instance)];
        let reply = self.run(&store::LIVE_OPEN, &keys, args)?;
        let number = |i: usize| reply.get(i).and_then(int).map_or(0, |n| n.max(0) as u64);
        Ok(match reply.first().and_then(text).as_deref() {
            Some("ok") => Admission::Open {
                newest: number(1),
                cursor: reply.get(2).and_then(text).unwrap_or_else(|| "0-0".into()),
                viewers: number(3),
            },
            Some("client") => Admission::ClientFull { wait_ms: number(1) },
            Some("instance") => Admission::InstanceFull { wait_ms: number(1) },
            _ => Admission::NoVideo,
        })
    }
}

impl follows::Ports for Feed {
    fn user_exists(&self, id: &str) -> Result<bool, Problem> {
        self.kv()?.exists(&edge_protocol::keys::user_key(id)).map_err(kv_unavailable)
    }

    fn add_follow(&self, user: &str, target: &str, most: u64) -> Result<bool, Problem> {
        let reply = self.redis()?.run(&store::FOLLOW, &[keys::follows(user)], vec![arg(target), arg(now_ms()), arg(most)])?;
        Ok(reply.first().and_then(int) == Some(1))
    }

    fn remove_follow(&self, user: &str, target: &str) -> Result<(), Problem> {
        self.redis()?.exec("ZREM", &[arg(keys::follows(user)), arg(target)]).map(drop)
    }
}

impl publish::Ports for Feed {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn receipt_spent(&self, upload_id: &str) -> Result<bool, Problem> {
        self.kv()?.exists(&keys::receipt_spent(upload_id)).map_err(kv_unavailable)
    }

    fn cover_checked(&self, cover_key: &str) -> Result<bool, Problem> {
        self.kv()?.exists(&edge_protocol::keys::checked_cover(cover_key)).map_err(kv_unavailable)
    }

    fn create(&self, upload_id: &str, video: &Video) -> Result<Option<u64>, Problem> {
        let json = serde_json::to_string(video).unwrap_or_default();
        let rest =
            store::after_id_placeholder(&json).ok_or_else(|| Problem::misconfigured("video records must serialise with the id first"))?;
        let keys = [
            keys::LAST_ID.to_owned(),
            keys::receipt_used(upload_id),
            keys::LATEST.to_owned(),
            keys::author(&video.author),
            keys::CHANGES.to_owned(),
            keys::BUILT.to_owned(),
        ];
        let reply = self.run(&store::CREATE, &keys, vec![arg(ids::FEED_EPOCH_MS), arg(rest), arg(store::CHANGES_MAXLEN)])?;
        Ok(reply.first().and_then(text).and_then(|t| t.parse::<i64>().ok()).filter(|id| *id > 0).map(|id| id as u64))
    }

    fn keep(&self, upload_id: &str, video: &Video) -> Result<(), Problem> {
        self.mirror(video)?;
        self.kv()?.set(&keys::receipt_spent(upload_id), video.id.to_string().as_bytes()).map_err(kv_unavailable)
    }
}

/// One live stream's view of its video: its own Redis connection, held for the stream's life
/// (on Spin every `open` is a connection, and a blocking wait needs one to itself).
pub(crate) struct LiveRoom {
    redis: Redis,
    video: u64,
}

impl LiveRoom {
    /// Connects for video `video`.
    pub(crate) fn open(video: u64) -> Result<Self, Problem> {
        Ok(LiveRoom { redis: Redis::open()?, video })
    }

    /// Gives up the stream's places in `places` ([`store::LIVE_OPEN`]'s sets); a failure leaves
    /// them to expire.
    pub(crate) fn leave(&self, places: &[String], member: &str) {
        let _ = self.redis.run(&store::LIVE_CLOSE, places, vec![arg(member)]);
    }
}

impl live::Ports for LiveRoom {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    /// `XREAD BLOCK` on the doorbell: the instance parks in Redis, costing no CPU and no
    /// traffic until a post rings or the timeout passes (`BLOCK 0` would mean forever).
    fn wait(&self, cursor: &str, timeout_ms: u64) -> Result<bool, Problem> {
        let args =
            [arg("BLOCK"), arg(timeout_ms.max(1)), arg("COUNT"), arg(1u64), arg("STREAMS"), arg(keys::doorbell(self.video)), arg(cursor)];
        let reply = self.redis.exec("XREAD", &args)?;
        Ok(!matches!(reply.as_slice(), [] | [RedisResult::Nil]))
    }

    fn read(&self, after: u64, limit: u64) -> Result<Read, Problem> {
        let keys = [keys::danmaku_recent(self.video), keys::doorbell(self.video), keys::room(self.video)];
        let reply = self.redis.run(&store::LIVE_READ, &keys, vec![arg(after), arg(limit), arg(now_ms())])?;
        Ok(Read {
            cursor: reply.first().and_then(text).unwrap_or_else(|| "0-0".into()),
            viewers: reply.get(1).and_then(int).map_or(0, |n| n.max(0) as u64),
            items: reply.iter().skip(2).filter_map(|r| serde_json::from_str::<Danmaku>(&text(r)?).ok()).collect(),
        })
    }

    fn pause(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::*;
    use crate::rebuild::records::tests::{comment, record};

    #[test]
    fn restore_and_list_calls_pass_every_key_they_touch() {
        let a = Phase::Videos.parse("7", record(7, "u1", 2).as_bytes()).unwrap();
        let b = Phase::Videos.parse("9", record(9, "u2", 1).as_bytes()).unwrap();
        let (script, keys, args) = restore_call(Phase::Videos, "t", false, &[a, b], &["7".into(), "8".into(), "9".into()]);
        assert_eq!(script.name(), "rebuild-restore");
        assert_eq!(
            keys,
            [
                REBUILD_LOCK,
                REBUILD_PENDING,
                CHANGES,
                LAST_ID,
                BUILT,
                REBUILD_LISTED,
                "video:7",
                LATEST,
                "feed:author:u1",
                "video:9",
                LATEST,
                "feed:author:u2"
            ]
        );
        assert_eq!(args.len(), 5 + 2 * 3 + 3, "fixed, per record, then every id of the batch");
        let (_, keys, args) = restore_call(Phase::Videos, "t", true, &[], &[]);
        assert_eq!((keys.len(), args.len()), (6, 5));

        let c = Phase::Comments.parse("7:10", comment(7, 10, None).as_bytes()).unwrap();
        let (script, keys, args) = restore_call(Phase::Comments, "t", false, &[c], &["7:10".into(), "7:11".into()]);
        assert_eq!(
            (script.name(), &keys[..5]),
            (
                "rebuild-comments",
                &[COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENT_LAST_ID, COMMENTS_BUILT, COMMENTS_REBUILD_LISTED]
                    .map(str::to_owned)[..]
            )
        );
        assert_eq!((keys.len(), args.len()), (5 + 8, 4 + 3 + 2));

        let members = [(10, "7:10".to_owned()), (11, "7:11".to_owned())];
        let (script, keys, args) = list_call(Phase::Comments, "t", &members, true);
        assert_eq!(
            (script.name(), keys, args.len()),
            (
                "rebuild-comments-list",
                vec![COMMENTS_REBUILD_LOCK.to_owned(), COMMENTS_REBUILD_PENDING.to_owned(), COMMENTS_REBUILD_LISTED.to_owned()],
                3 + 4
            )
        );
        let (script, keys, args) = list_call(Phase::Videos, "t", &members, false);
        assert_eq!((script.name(), keys[0].as_str(), args.len()), ("rebuild-list", REBUILD_LOCK, 3 + 2));
        assert_eq!(Phase::Comments.start_keys(), [COMMENTS_BUILT, COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_LISTED, COMMENT_LAST_ID]);
    }
}
