//! feed's Redis scripts' decisions against a real Redis, natively, each on keys of its own:
//! ids that only grow whatever the clock does, a receipt used once, edits at the version read,
//! likes counted once per user, danmaku repeats refused, live streams admitted within their
//! limits and reading what came after their position.

use e2e::scripts::ScriptRunner;
use e2e::{unique, Services};
use edge_spin::redis::{arg, int, text};
use feed::store::{CREATE, DANMAKU, LIKE, LIVE_OPEN, LIVE_READ, REBUILD, UPDATE};
use spin_sdk::redis::RedisResult;

fn runner() -> ScriptRunner {
    ScriptRunner::connect(&Services::shared().redis_url)
}

/// One test's feed keys: last id, latest, author timeline, changes, built marker.
struct Keys {
    last: String,
    latest: String,
    author: String,
    changes: String,
    built: String,
}

impl Keys {
    fn new(redis: &mut ScriptRunner, built: bool) -> Keys {
        let p = unique("feedscripts");
        let keys = Keys {
            last: format!("{p}:last"),
            latest: format!("{p}:latest"),
            author: format!("{p}:author"),
            changes: format!("{p}:changes"),
            built: format!("{p}:built"),
        };
        if built {
            redis.command(&["SET", &keys.built, "1"]);
        }
        keys
    }

    fn create(&self, redis: &mut ScriptRunner, receipt: &str) -> RedisResult {
        let keys = [&self.last, receipt, &self.latest, &self.author, &self.changes, &self.built];
        let record = r#","author":"ann","version":1}"#;
        redis.run(&CREATE, &keys, vec![arg(edge_protocol::ids::FEED_EPOCH_MS), arg(record), arg(1000u64)]).remove(0)
    }
}

fn stream_versions(redis: &mut ScriptRunner, stream: &str) -> Vec<String> {
    let redis::Value::Array(entries) = redis.command(&["XRANGE", stream, "-", "+"]) else { panic!("XRANGE answers an array") };
    entries
        .into_iter()
        .filter_map(|entry| {
            let redis::Value::Array(parts) = entry else { return None };
            let redis::Value::Array(fields) = parts.into_iter().nth(1)? else { return None };
            let fields: Vec<String> = fields.into_iter().filter_map(|f| redis::from_redis_value(f).ok()).collect();
            let at = fields.iter().position(|f| f == "version")?;
            Some(format!("{}:{}", fields.get(at - 1)?, fields.get(at + 1)?))
        })
        .collect()
}

#[test]
fn ids_only_grow_a_receipt_publishes_once_and_a_lost_state_creates_nothing() {
    let mut redis = runner();
    let lost = Keys::new(&mut redis, false);
    assert_eq!(text(&lost.create(&mut redis, &unique("receipt"))).as_deref(), Some(REBUILD));
    let keys = Keys::new(&mut redis, true);
    let first: u64 = text(&keys.create(&mut redis, &unique("receipt"))).unwrap().parse().unwrap();
    // A Redis whose clock stepped back: the issuer is ahead of TIME, and still only grows.
    let ahead = first + 1_000_000_000;
    redis.command(&["SET", &keys.last, &ahead.to_string()]);
    let receipt = unique("receipt");
    let second: u64 = text(&keys.create(&mut redis, &receipt)).unwrap().parse().unwrap();
    assert_eq!(second, ahead + 1);
    assert_eq!(int(&keys.create(&mut redis, &receipt)), Some(-1), "a used receipt publishes nothing");
    let redis::Value::Array(latest) = redis.command(&["ZREVRANGE", &keys.latest, "0", "-1"]) else { panic!() };
    assert_eq!(latest.len(), 2);
    assert_eq!(stream_versions(&mut redis, &keys.changes), [format!("{first}:1"), format!("{second}:1")]);
}

#[test]
fn an_edit_applies_only_at_the_version_read_and_only_for_its_author() {
    let mut redis = runner();
    let keys = Keys::new(&mut redis, true);
    let record = format!("{}:video:7", unique("edit"));
    redis.command(&["SET", &record, r#"{"id":7,"author":"ann","version":2}"#]);
    let update = |redis: &mut ScriptRunner, author: &str, expected: u64| {
        let args = vec![arg(author), arg(expected), arg(r#"{"id":7,"author":"ann","version":3}"#), arg(1000u64)];
        text(&redis.run(&UPDATE, &[&record, &keys.changes, &keys.built], args)[0]).unwrap()
    };
    assert_eq!(update(&mut redis, "bob", 2), "not-owner");
    assert_eq!(update(&mut redis, "ann", 1), "conflict:2");
    assert_eq!(update(&mut redis, "ann", 2), "ok");
    assert_eq!(update(&mut redis, "ann", 2), "conflict:3", "the same edit twice applies once");
    let missing = format!("{record}0");
    let args = vec![arg("ann"), arg(1u64), arg("{}"), arg(1000u64)];
    assert_eq!(text(&redis.run(&UPDATE, &[&missing, &keys.changes, &keys.built], args.clone())[0]).as_deref(), Some("missing"));
    let lost = Keys::new(&mut redis, false);
    assert_eq!(text(&redis.run(&UPDATE, &[&missing, &lost.changes, &lost.built], args)[0]).as_deref(), Some(REBUILD));
    assert_eq!(stream_versions(&mut redis, &keys.changes).len(), 1);
}

#[test]
fn a_like_counts_once_per_user_and_moves_the_ranking_once() {
    let mut redis = runner();
    let keys = Keys::new(&mut redis, true);
    let p = unique("like");
    let (record, bucket) = (format!("{p}:video"), format!("{p}:bucket"));
    let shards = [format!("{p}:shard0"), format!("{p}:shard1")];
    redis.command(&["SET", &record, "{}"]);
    let like = |redis: &mut ScriptRunner, user: &str, shard: usize, op: &str| {
        let mut k = vec![record.clone(), shards[shard].clone(), bucket.clone(), keys.built.clone(), format!("{p}:gap:{user}")];
        k.extend(shards.iter().cloned());
        int(&redis.run(&LIKE, &k, vec![arg(user), arg(op), arg("2"), arg(3600u64), arg(42u64), arg(0u64)])[0]).unwrap()
    };
    assert_eq!(like(&mut redis, "ann", 0, "like"), 1);
    assert_eq!(like(&mut redis, "ann", 0, "like"), 1, "liking twice counts once");
    assert_eq!(like(&mut redis, "bob", 1, "like"), 2, "the total spans every shard");
    assert_eq!(like(&mut redis, "ann", 0, "unlike"), 1);
    assert_eq!(like(&mut redis, "ann", 0, "unlike"), 1, "unliking twice counts once");
    let redis::Value::BulkString(score) = redis.command(&["ZSCORE", &bucket, "42"]) else { panic!("the bucket holds the video") };
    assert_eq!(String::from_utf8(score).unwrap(), "2", "one like left, weight 2");
    redis.command(&["DEL", &record]);
    assert_eq!(like(&mut redis, "carl", 0, "like"), -1, "no such video");
}

#[test]
fn a_like_change_sooner_than_the_interval_is_refused_and_a_repeat_is_not() {
    let mut redis = runner();
    let keys = Keys::new(&mut redis, true);
    let p = unique("likegap");
    let (record, shard, gap) = (format!("{p}:video"), format!("{p}:shard0"), format!("{p}:gap"));
    redis.command(&["SET", &record, "{}"]);
    let like = |redis: &mut ScriptRunner, op: &str| {
        let k = [record.clone(), shard.clone(), format!("{p}:bucket"), keys.built.clone(), gap.clone(), shard.clone()];
        redis.run(&LIKE, &k, vec![arg("ann"), arg(op), arg("2"), arg(3600u64), arg(42u64), arg(60_000u64)])
    };
    assert_eq!(int(&like(&mut redis, "like")[0]), Some(1));
    assert_eq!(int(&like(&mut redis, "like")[0]), Some(1), "repeating the current state is answered");
    let refused = like(&mut redis, "unlike");
    assert_eq!(int(&refused[0]), Some(-2), "a change within the interval is refused");
    assert!((1..=60_000).contains(&int(&refused[1]).unwrap()), "with the wait in ms: {refused:?}");
    assert_eq!(redis.command(&["SISMEMBER", &shard, "ann"]), redis::Value::Int(1), "and changes nothing");
    redis.command(&["DEL", &gap]);
    assert_eq!(int(&like(&mut redis, "unlike")[0]), Some(0), "once the interval is over, the change counts");
}

#[test]
fn a_repeated_danmaku_is_refused_and_ids_follow_each_other() {
    let mut redis = runner();
    let keys = Keys::new(&mut redis, true);
    let p = unique("dm");
    let record = format!("{p}:video");
    redis.command(&["SET", &record, "{}"]);
    let post = |redis: &mut ScriptRunner, user: &str| {
        let k = [
            record.clone(),
            format!("{p}:dup:{user}"),
            format!("{p}:seq"),
            format!("{p}:seg0"),
            format!("{p}:recent"),
            keys.built.clone(),
            format!("{p}:live"),
        ];
        int(&redis.run(&DANMAKU, &k, vec![arg(30u64), arg(r#","text":"666"}"#), arg(1500u64), arg(2u64)])[0]).unwrap()
    };
    assert_eq!(post(&mut redis, "ann"), 1);
    assert_eq!(post(&mut redis, "ann"), 0, "the same user repeating within the window");
    assert_eq!(post(&mut redis, "bob"), 2);
    assert_eq!(post(&mut redis, "carl"), 3);
    let redis::Value::Array(recent) = redis.command(&["ZRANGE", &format!("{p}:recent"), "0", "-1"]) else { panic!() };
    assert_eq!(recent.len(), 2, "only the newest are kept for reconnecting clients");
    let redis::Value::Int(rings) = redis.command(&["XLEN", &format!("{p}:live")]) else { panic!() };
    assert_eq!(rings, 3, "each stored danmaku rings the live doorbell once; the refused repeat does not");
    redis.command(&["DEL", &record]);
    assert_eq!(post(&mut redis, "dora"), -1, "no such video");
}

#[test]
fn live_streams_are_admitted_within_their_limits_and_places_expire() {
    let mut redis = runner();
    let keys = Keys::new(&mut redis, true);
    let p = unique("live");
    let record = format!("{p}:video");
    redis.command(&["SET", &record, "{}"]);
    redis.command(&["SET", &format!("{p}:seq"), "41"]);
    let bell = format!("{p}:bell");
    let open = |redis: &mut ScriptRunner, now: u64, member: &str, client: &str| {
        let k = [
            record.clone(),
            keys.built.clone(),
            format!("{p}:seq"),
            bell.clone(),
            format!("{p}:room"),
            format!("{p}:addr:{client}"),
            format!("{p}:inst"),
        ];
        let reply = redis.run(&LIVE_OPEN, &k, vec![arg(now), arg(now + 60_000), arg(member), arg(2u64), arg(3u64)]);
        reply.iter().map(|r| text(r).unwrap_or_default()).collect::<Vec<_>>()
    };
    assert_eq!(open(&mut redis, 1_000, "a", "one"), ["ok", "41", "0-0", "1"], "newest id, no doorbell yet, one viewer");
    assert_eq!(open(&mut redis, 1_000, "b", "one")[3], "2");
    assert_eq!(open(&mut redis, 2_000, "c", "one"), ["client", "59000"], "the address is full until its first place expires");
    assert_eq!(open(&mut redis, 2_000, "c", "two")[0], "ok");
    assert_eq!(open(&mut redis, 3_000, "d", "three"), ["instance", "58000"]);
    assert_eq!(open(&mut redis, 61_000, "d", "one"), ["ok", "41", "0-0", "2"], "expired places are free again");

    let dm = |id: u64| format!(r#"{{"id":{id},"text":"t{id}"}}"#);
    for id in 42..=45 {
        redis.command(&["ZADD", &format!("{p}:recent"), &id.to_string(), &dm(id)]);
        redis.command(&["XADD", &bell, "*", "id", &id.to_string()]);
    }
    let reply =
        redis.run(&LIVE_READ, &[format!("{p}:recent"), bell.clone(), format!("{p}:room")], vec![arg(42u64), arg(2u64), arg(61_000u64)]);
    let reply: Vec<String> = reply.iter().map(|r| text(r).unwrap_or_default()).collect();
    let redis::Value::Array(top) = redis.command(&["XREVRANGE", &bell, "+", "-", "COUNT", "1"]) else { panic!() };
    let redis::Value::Array(entry) = &top[0] else { panic!() };
    let newest: String = redis::from_redis_value(entry[0].clone()).unwrap();
    assert_eq!(reply, [newest, "2".into(), dm(43), dm(44)], "the doorbell's position, viewers, then what came after 42, at most 2");
}
