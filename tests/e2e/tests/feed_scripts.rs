//! feed's Redis scripts' decisions against a real Redis, natively, each on keys of its own:
//! ids that only grow whatever the clock does, a receipt used once, edits at the version read,
//! likes counted once per user, danmaku repeats refused, live streams admitted within their
//! limits and reading what came after their position.

use e2e::scripts::ScriptRunner;
use e2e::{unique, Services};
use edge_spin::redis::{arg, int, text};
use feed::store::{COMMENT_DELETE, COMMENT_LIKE, COMMENT_PAGE, COMMENT_POST, RESTORE_COMMENTS};
use feed::store::{CREATE, DANMAKU, FOLLOWING, LIKE, LIVE_OPEN, LIVE_READ, REBUILD, UPDATE};
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

/// One test's comment keys; the records, reply lists and like sets the scripts find by id
/// (`cm:rec:<id>`, ...) are shared, and ids come from the one comment id issuer, so they never
/// collide across tests.
struct Thread {
    video: u64,
    record: String,
    built: String,
    comments_built: String,
    new: String,
    hot: String,
    count: String,
}

impl Thread {
    /// A video (record `{"author":"owner"}`) with both markers set.
    fn new(redis: &mut ScriptRunner) -> Thread {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let p = unique("cm");
        let video = u64::from(std::process::id()) * 1_000_000 + NEXT.fetch_add(1, Ordering::Relaxed);
        let thread = Thread {
            video,
            record: format!("{p}:video"),
            built: format!("{p}:built"),
            comments_built: format!("{p}:cmbuilt"),
            new: format!("{p}:new"),
            hot: format!("{p}:hot"),
            count: format!("{p}:count"),
        };
        for key in [&thread.built, &thread.comments_built] {
            redis.command(&["SET", key, "1"]);
        }
        redis.command(&["SET", &thread.record, r#"{"author":"owner"}"#]);
        thread
    }

    /// Posts as `user`: the script's answer as text.
    fn post(&self, redis: &mut ScriptRunner, user: &str, said: &str, parent: Option<u64>) -> Vec<String> {
        let keys = [
            self.record.clone(),
            self.built.clone(),
            self.comments_built.clone(),
            "cm:id:last".to_owned(),
            format!("{}:dup:{user}:{said}", self.record),
            self.new.clone(),
            self.hot.clone(),
            self.count.clone(),
        ];
        let tail = format!(r#","author":"{user}","text":"{said}"}}"#);
        let args = vec![
            arg(edge_protocol::ids::FEED_EPOCH_MS),
            arg(60u64),
            arg(self.video),
            arg(parent.map_or(String::new(), |p| p.to_string())),
            arg(tail),
        ];
        redis.run(&COMMENT_POST, &keys, args).iter().map(|r| text(r).unwrap_or_default()).collect()
    }

    /// Posts and answers the new id.
    fn posted(&self, redis: &mut ScriptRunner, user: &str, text: &str, parent: Option<u64>) -> u64 {
        let reply = self.post(redis, user, text, parent);
        reply[0].parse().unwrap_or_else(|_| panic!("posting {text:?}: {reply:?}"))
    }

    fn like(&self, redis: &mut ScriptRunner, comment: u64, user: &str, op: &str, interval_ms: u64) -> Vec<RedisResult> {
        let keys = [
            self.record.clone(),
            self.built.clone(),
            self.comments_built.clone(),
            format!("cm:rec:{comment}"),
            format!("cm:likes:{comment}"),
            self.hot.clone(),
            format!("cm:replies:{comment}"),
            format!("{}:gap:{comment}:{user}", self.record),
        ];
        redis.run(&COMMENT_LIKE, &keys, vec![arg(user), arg(op), arg(self.video), arg(interval_ms), arg(comment)])
    }

    fn delete(&self, redis: &mut ScriptRunner, comment: u64, user: &str) -> Vec<String> {
        let keys = [
            self.record.clone(),
            self.built.clone(),
            self.comments_built.clone(),
            format!("cm:rec:{comment}"),
            self.new.clone(),
            self.hot.clone(),
            self.count.clone(),
            format!("cm:likes:{comment}"),
            format!("cm:replies:{comment}"),
        ];
        let reply = redis.run(&COMMENT_DELETE, &keys, vec![arg(user), arg(self.video), arg(comment)]);
        reply.iter().map(|r| text(r).unwrap_or_default()).collect()
    }

    /// A page of `order` below `(score, id)` as the caller `user` sees it.
    fn page(&self, redis: &mut ScriptRunner, order: &str, bound: Option<(&str, &str)>, limit: u64, user: &str) -> Vec<String> {
        let keys = [self.record.clone(), self.built.clone(), self.comments_built.clone(), order.to_owned(), self.count.clone()];
        let (score, id) = bound.unwrap_or(("", ""));
        let reply = redis.run(&COMMENT_PAGE, &keys, vec![arg(score), arg(id), arg(limit), arg(user), arg(3u64)]);
        reply.iter().map(|r| text(r).unwrap_or_default()).collect()
    }

    fn number(redis: &mut ScriptRunner, args: &[&str]) -> u64 {
        match redis.command(args) {
            redis::Value::Int(n) => n as u64,
            redis::Value::BulkString(b) => String::from_utf8(b).unwrap().parse().unwrap(),
            other => panic!("{args:?}: {other:?}"),
        }
    }
}

#[test]
fn comments_file_replies_under_their_root_and_refuse_repeats_and_foreign_parents() {
    let mut redis = runner();
    let t = Thread::new(&mut redis);
    let root = t.posted(&mut redis, "ann", "first", None);
    assert_eq!(t.post(&mut redis, "ann", "first", None), ["0"], "a repeat within the window");
    let reply = t.posted(&mut redis, "bob", "hi ann", Some(root));
    let nested = t.posted(&mut redis, "carl", "hi bob", Some(reply));
    assert!(root < reply && reply < nested, "ids grow");
    assert_eq!(t.post(&mut redis, "dora", "late", Some(nested))[1], root.to_string(), "answers the thread's root");
    let record: serde_json::Value =
        serde_json::from_slice(&redis::from_redis_value::<Vec<u8>>(redis.command(&["GET", &format!("cm:rec:{nested}")])).unwrap()).unwrap();
    assert_eq!((record["root"].as_u64(), record["reply_to"].as_u64(), record["video"].as_u64()), (Some(root), Some(reply), Some(t.video)));
    assert_eq!((record["author"].as_str(), record["text"].as_str()), (Some("carl"), Some("hi bob")));
    let redis::Value::Array(thread) = redis.command(&["ZRANGE", &format!("cm:replies:{root}"), "0", "-1"]) else { panic!() };
    assert_eq!(thread.len(), 3, "one level: a reply to a reply is in the root's thread");
    assert_eq!(Thread::number(&mut redis, &["ZCARD", &t.new]), 1, "only roots are listed by the video");
    assert_eq!(Thread::number(&mut redis, &["GET", &t.count]), 4);
    assert_eq!(
        Thread::number(&mut redis, &["ZSCORE", &t.hot, &root.to_string()]),
        feed::store::hot_score(root, 0, 3),
        "re-scored per reply"
    );

    let other = Thread::new(&mut redis);
    assert_eq!(other.post(&mut redis, "ann", "there", Some(root)), ["-2"], "a parent on another video");
    assert_eq!(t.post(&mut redis, "ann", "nowhere", Some(1)), ["-2"], "no such parent");
    redis.command(&["DEL", &t.record]);
    assert_eq!(t.post(&mut redis, "ann", "gone", None), ["-1"], "no such video");
    redis.command(&["DEL", &t.built]);
    assert_eq!(t.post(&mut redis, "ann", "lost", None), [REBUILD], "a missing video may be one not restored yet");
    redis.command(&["DEL", &other.comments_built]);
    assert_eq!(other.post(&mut redis, "ann", "lost", None), [REBUILD], "comments not restored yet");
    assert_eq!(Thread::number(&mut redis, &["GET", &t.count]), 4, "refusals count nothing");
}

#[test]
fn comment_likes_count_once_re_score_roots_and_are_paced() {
    let mut redis = runner();
    let t = Thread::new(&mut redis);
    let root = t.posted(&mut redis, "ann", "like me", None);
    let reply = t.posted(&mut redis, "bob", "me too", Some(root));
    let likes = |redis: &mut ScriptRunner, comment: u64, user: &str, op: &str| int(&t.like(redis, comment, user, op, 0)[0]).unwrap();
    assert_eq!(likes(&mut redis, root, "carl", "like"), 1);
    assert_eq!(likes(&mut redis, root, "carl", "like"), 1, "liking twice counts once");
    assert_eq!(likes(&mut redis, root, "dora", "like"), 2);
    assert_eq!(Thread::number(&mut redis, &["ZSCORE", &t.hot, &root.to_string()]), feed::store::hot_score(root, 2, 1));
    assert_eq!(likes(&mut redis, root, "carl", "unlike"), 1);
    assert_eq!(likes(&mut redis, root, "carl", "unlike"), 1, "unliking twice counts once");
    assert_eq!(Thread::number(&mut redis, &["ZSCORE", &t.hot, &root.to_string()]), feed::store::hot_score(root, 1, 1));
    assert_eq!(likes(&mut redis, reply, "carl", "like"), 1);
    assert_eq!(Thread::number(&mut redis, &["ZCARD", &t.hot]), 1, "a liked reply stays out of the hot order");

    let paced = |redis: &mut ScriptRunner, op: &str| t.like(redis, reply, "erin", op, 60_000);
    assert_eq!(int(&paced(&mut redis, "like")[0]), Some(2));
    assert_eq!(int(&paced(&mut redis, "like")[0]), Some(2), "repeating the current state is answered");
    let refused = paced(&mut redis, "unlike");
    assert_eq!(int(&refused[0]), Some(-2), "a change within the interval");
    assert!((1..=60_000).contains(&int(&refused[1]).unwrap()), "with the wait in ms: {refused:?}");

    let other = Thread::new(&mut redis);
    assert_eq!(int(&other.like(&mut redis, root, "carl", "like", 0)[0]), Some(-3), "a comment of another video");
    assert_eq!(int(&t.like(&mut redis, 1, "carl", "like", 0)[0]), Some(-3), "no such comment");
}

#[test]
fn a_page_lists_roots_below_its_bound_with_their_first_replies() {
    let mut redis = runner();
    let t = Thread::new(&mut redis);
    let roots: Vec<u64> = (0..5).map(|i| t.posted(&mut redis, "ann", &format!("root {i}"), None)).collect();
    let replies: Vec<u64> = (0..4).map(|i| t.posted(&mut redis, "bob", &format!("reply {i}"), Some(roots[1]))).collect();
    t.like(&mut redis, replies[0], "carl", "like", 0);

    let r = |i: usize| roots[i].to_string();
    let has = |word: &str, id: u64| word.contains(&format!(r#""id":{id},"#));
    let first = t.page(&mut redis, &t.new, None, 2, "carl");
    assert_eq!(first[..5], ["ok", "9", "2", r(3).as_str(), r(3).as_str()], "total, picked, then the last score and id");
    assert!(has(&first[5], roots[4]), "newest first: {first:?}");
    let second = t.page(&mut redis, &t.new, Some((&first[3], &first[4])), 2, "carl");
    assert_eq!(second[..5], ["ok", "9", "2", r(1).as_str(), r(1).as_str()]);
    assert!(has(&second[5], roots[2]), "{second:?}");
    assert_eq!(second[6..10], ["0", "0", "0", "0"], "likes, liked, reply count, replies shown");
    assert!(has(&second[10], roots[1]), "{second:?}");
    assert_eq!(second[11..15], ["0", "0", "4", "3"]);
    assert!(has(&second[15], replies[0]), "the oldest replies first: {second:?}");
    assert_eq!(second[16..18], ["1", "1"], "the reply's likes and the caller's like");
    assert_eq!(second.len(), 15 + 3 * 3);
    let third = t.page(&mut redis, &t.new, Some((&second[3], &second[4])), 2, "");
    assert_eq!(third[..5], ["ok", "9", "1", r(0).as_str(), r(0).as_str()], "a short page: the list has ended");

    // Equal scores are paged in Redis's order, by member bytes, none twice.
    let ties = format!("{}:ties", t.hot);
    for member in ["30", "20", "100"] {
        redis.command(&["ZADD", &ties, "5", member]);
    }
    let page = t.page(&mut redis, &ties, None, 2, "");
    assert_eq!((page[2].as_str(), page[3].as_str(), page[4].as_str()), ("2", "5", "20"), "30 then 20");
    let rest = t.page(&mut redis, &ties, Some(("5", "20")), 2, "");
    assert_eq!((rest[2].as_str(), rest[4].as_str()), ("1", "100"));
    redis.command(&["DEL", &t.record]);
    assert_eq!(t.page(&mut redis, &t.new, None, 2, ""), ["missing"]);
}

#[test]
fn deleting_a_root_takes_its_thread_and_a_reply_re_scores_its_root() {
    let mut redis = runner();
    let t = Thread::new(&mut redis);
    let root = t.posted(&mut redis, "ann", "root", None);
    let replies: Vec<u64> = (0..3).map(|i| t.posted(&mut redis, "bob", &format!("reply {i}"), Some(root))).collect();
    assert_eq!(t.delete(&mut redis, replies[0], "carl"), ["forbidden"]);
    assert_eq!(t.delete(&mut redis, replies[0], "bob"), ["ok"], "its author");
    assert_eq!(Thread::number(&mut redis, &["ZSCORE", &t.hot, &root.to_string()]), feed::store::hot_score(root, 0, 2));
    assert_eq!(t.delete(&mut redis, replies[0], "bob"), ["missing"]);
    assert_eq!(
        t.delete(&mut redis, root, "owner"),
        ["ok".to_owned(), replies[1].to_string(), replies[2].to_string()],
        "the video's author"
    );
    assert_eq!(Thread::number(&mut redis, &["GET", &t.count]), 0);
    for key in [format!("cm:rec:{}", replies[2]), format!("cm:replies:{root}"), format!("cm:rec:{root}")] {
        assert_eq!(Thread::number(&mut redis, &["EXISTS", &key]), 0, "{key}");
    }
    assert_eq!(Thread::number(&mut redis, &["ZCARD", &t.hot]) + Thread::number(&mut redis, &["ZCARD", &t.new]), 0);
    let other = Thread::new(&mut redis);
    let theirs = other.posted(&mut redis, "ann", "elsewhere", None);
    assert_eq!(t.delete(&mut redis, theirs, "ann"), ["missing"], "a comment of another video");
}

#[test]
fn a_comment_restore_brings_threads_back_once_and_skips_what_lost_its_video_or_root() {
    let mut redis = runner();
    let t = Thread::new(&mut redis);
    let gone = Thread::new(&mut redis);
    redis.command(&["DEL", &gone.record]);
    let p = unique("cmrebuild");
    let [lock, pending, last, built, listed] = ["lock", "pending", "last", "built", "listed"].map(|k| format!("{p}:{k}"));
    redis.command(&["SET", &lock, "us"]);
    let base = 1u64 << 40;
    let (root, reply, orphan, lost) = (base + 1, base + 2, base + 3, base + 4);
    for id in [root, reply, orphan, lost] {
        redis.command(&["ZADD", &pending, &id.to_string(), &format!("v:{id}")]);
    }
    let json = |video: u64, id: u64, root: Option<u64>| {
        let root = root.map_or("null".to_owned(), |r| r.to_string());
        format!(r#"{{"id":{id},"video":{video},"root":{root},"reply_to":{root},"author":"ann","text":"t","created_at":0}}"#)
    };
    let batch = [(&t, root, None), (&t, reply, Some(root)), (&t, orphan, Some(base)), (&gone, lost, None)];
    let restore = |redis: &mut ScriptRunner| {
        let mut keys = vec![lock.clone(), pending.clone(), last.clone(), built.clone(), listed.clone()];
        let mut args = vec![arg("us"), arg(15_000u64), arg(100u64), arg("0")];
        for (thread, id, parent) in batch {
            let top = parent.unwrap_or(id);
            keys.extend([
                format!("cm:rec:{id}"),
                thread.record.clone(),
                thread.count.clone(),
                thread.new.clone(),
                thread.hot.clone(),
                format!("cm:replies:{top}"),
                format!("cm:likes:{top}"),
                format!("cm:rec:{top}"),
            ]);
            args.extend([arg(id), arg(json(thread.video, id, parent)), arg(parent.map_or(String::new(), |r| r.to_string()))]);
        }
        args.extend([root, reply, orphan, lost].map(|id| arg(format!("v:{id}"))));
        redis.run(&RESTORE_COMMENTS, &keys, args).iter().map(|r| text(r).unwrap_or_default()).collect::<Vec<_>>()
    };
    assert_eq!(restore(&mut redis), ["built"]);
    assert_eq!(Thread::number(&mut redis, &["GET", &t.count]), 2, "the root and its reply");
    assert_eq!(Thread::number(&mut redis, &["ZSCORE", &t.hot, &root.to_string()]), feed::store::hot_score(root, 0, 1));
    assert_eq!(Thread::number(&mut redis, &["ZCARD", &format!("cm:replies:{root}")]), 1);
    for skipped in [orphan, lost] {
        assert_eq!(Thread::number(&mut redis, &["EXISTS", &format!("cm:rec:{skipped}")]), 0, "{skipped}");
    }
    assert_eq!((Thread::number(&mut redis, &["GET", &last]), Thread::number(&mut redis, &["EXISTS", &built])), (lost, 1));
    assert_eq!(Thread::number(&mut redis, &["EXISTS", &lock]), 0, "the lease is released");
    redis.command(&["SET", &lock, "us"]);
    assert_eq!(restore(&mut redis), ["built"]);
    assert_eq!(Thread::number(&mut redis, &["GET", &t.count]), 2, "a retried step counts nothing twice");
    redis.command(&["SET", &lock, "them"]);
    assert_eq!(restore(&mut redis), ["lost"]);
}

/// The following feed merges the followed authors' timelines newest first below the cursor,
/// whatever their sizes, without repeats, and stops at the page size.
#[test]
fn the_following_feed_merges_timelines_below_the_cursor() {
    let mut redis = runner();
    let p = unique("following");
    let built = format!("{p}:built");
    let timelines: Vec<String> = (0..3).map(|i| format!("{p}:author:{i}")).collect();
    let ids: [&[u64]; 3] = [&[1, 4, 7, 10, 13], &[2, 5], &[9_007_199_254_740_990, 3]];
    for (key, ids) in timelines.iter().zip(ids) {
        for id in ids {
            redis.command(&["ZADD", key, &id.to_string(), &id.to_string()]);
        }
    }
    let page = |redis: &mut ScriptRunner, bound: &str, limit: u64| -> Vec<String> {
        let keys: Vec<&str> = std::iter::once(built.as_str()).chain(timelines.iter().map(String::as_str)).collect();
        redis.run(&FOLLOWING, &keys, vec![arg(bound), arg(limit)]).iter().filter_map(text).collect()
    };
    assert_eq!(page(&mut redis, "+inf", 5), ["rebuild"], "an unbuilt store asks for a rebuild");
    redis.command(&["SET", &built, "1"]);
    assert_eq!(page(&mut redis, "+inf", 5), ["9007199254740990", "13", "10", "7", "5"], "ids beyond 2^32 stay exact");
    assert_eq!(page(&mut redis, "(5", 4), ["4", "3", "2", "1"]);
    assert_eq!(page(&mut redis, "(3", 10), ["2", "1"], "a short last page");
    assert!(page(&mut redis, "(1", 10).is_empty());
}
