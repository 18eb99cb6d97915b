//! The Spin side of the cores: [`crate::rebuild`] (the rebuild scripts and the key-value store)
//! and [`crate::live`] (a live stream's Redis).

use edge_http::Problem;
use edge_spin::kv_unavailable;
use edge_spin::redis::{arg, int, now_ms, text, Redis};
use spin_sdk::redis::RedisResult;

use crate::danmaku::Danmaku;
use crate::live::{self, Read};
use crate::rebuild::{self, Phase, Restore};
use crate::{keys, store, Feed};

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
        let reply = self.redis()?.run(&rebuild::START, &phase.start_keys(), vec![arg(token), arg(rebuild::LEASE_MS)])?;
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
        let (script, keys, args) = phase.list_call(token, members, last);
        Ok(self.redis()?.run(script, &keys, args)?.first().and_then(int) == Some(1))
    }

    fn restore(&self, phase: Phase, token: &str, release: bool, batch: &[Restore], members: &[String]) -> Result<rebuild::Step, Problem> {
        let (script, keys, args) = phase.restore_call(token, release, batch, members);
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
