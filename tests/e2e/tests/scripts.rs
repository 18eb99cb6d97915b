//! Redis scripts' decisions against a real Redis, natively and with time passed in: each
//! outcome of refresh rotation, revocation and listing, the shared rate limiter and the start of
//! a search answer (cache, lock, sync work, breaker), decoded by the components' own types.

use auth::sessions::{self, Rotated, Rotation, CREATE, LIST, REMEMBER_DEVICE, REVOKE, ROTATE};
use e2e::scripts::ScriptRunner;
use e2e::{unique, Services, TEST_INCARNATION};
use edge_auth::{epoch_key, revoked_session_key, INCARNATION_KEY};
use edge_spin::redis::{arg, int, text};

const GRACE_MS: i64 = 10_000;
const IDLE_MS: i64 = 7 * 24 * 3_600_000;
const ABSOLUTE_MS: i64 = 30 * 24 * 3_600_000;
const MARKER_TTL_SECS: i64 = 900;

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

struct Session {
    uid: String,
    sid: String,
    device: String,
    created: i64,
}

fn create(redis: &mut ScriptRunner, uid: &str, device: &str) -> Session {
    let sid = format!("{:0>32}", unique("s"));
    let created = now_ms();
    let keys = [auth::keys::session(&sid), auth::keys::user_sessions(uid), epoch_key(uid), INCARNATION_KEY.to_owned()];
    let args = vec![
        arg(uid),
        arg(device),
        arg(b"secret".to_vec()),
        arg(created),
        arg(ABSOLUTE_MS),
        arg("phone"),
        arg("test agent"),
        arg(&sid),
        arg("another-incarnation"),
    ];
    let reply = redis.run(&CREATE, &keys, args);
    assert_eq!(reply.first().and_then(int), Some(0), "a new user starts at epoch 0");
    assert_eq!(reply.get(1).and_then(text).as_deref(), Some(TEST_INCARNATION), "an existing incarnation is kept");
    Session { uid: uid.to_owned(), sid, device: device.to_owned(), created }
}

fn rotate(redis: &mut ScriptRunner, session: &Session, generation: u64, device: &str, at: i64) -> Rotation {
    let keys = [auth::keys::session(&session.sid), revoked_session_key(&session.sid), epoch_key(&session.uid), INCARNATION_KEY.to_owned()];
    let args = vec![arg(generation), arg(device), arg(at), arg(GRACE_MS), arg(IDLE_MS), arg(ABSOLUTE_MS), arg(MARKER_TTL_SECS)];
    Rotation::decode(&redis.run(&ROTATE, &keys, args))
}

fn runner() -> ScriptRunner {
    ScriptRunner::connect(&Services::shared().redis_url)
}

fn rotated(session: &Session, generation: u64) -> Rotated {
    Rotated { user_id: session.uid.clone(), generation, epoch: 0, incarnation: TEST_INCARNATION.to_owned() }
}

#[test]
fn the_current_token_rotates_and_the_previous_one_is_honoured_only_within_the_grace_period() {
    let mut redis = runner();
    let s = create(&mut redis, &unique("u"), "dev-1");
    let t = s.created;
    assert_eq!(rotate(&mut redis, &s, 0, "dev-1", t + 1_000), Rotation::Rotated(rotated(&s, 1)));
    assert_eq!(rotate(&mut redis, &s, 0, "dev-1", t + 1_000 + GRACE_MS), Rotation::Grace(rotated(&s, 1)), "a concurrent refresh");
    assert_eq!(rotate(&mut redis, &s, 1, "dev-1", t + 2_000 + GRACE_MS), Rotation::Rotated(rotated(&s, 2)));
    assert_eq!(rotate(&mut redis, &s, 2, "dev-1", t + 3_000 + GRACE_MS), Rotation::Rotated(rotated(&s, 3)));
}

#[test]
fn an_older_token_after_the_grace_period_revokes_the_session_and_marks_its_access_tokens() {
    let mut redis = runner();
    let s = create(&mut redis, &unique("u"), "dev-1");
    let t = s.created;
    assert_eq!(rotate(&mut redis, &s, 0, "dev-1", t + 1_000), Rotation::Rotated(rotated(&s, 1)));
    let late = t + 2_000 + GRACE_MS;
    assert_eq!(rotate(&mut redis, &s, 0, "dev-1", late), Rotation::Reuse { user_id: s.uid.clone(), current: 1 });
    let ttl = redis.command(&["TTL", &revoked_session_key(&s.sid)]);
    assert!(matches!(ttl, redis::Value::Int(secs) if secs > 0 && secs <= MARKER_TTL_SECS), "marker TTL {ttl:?}");
    assert_eq!(rotate(&mut redis, &s, 1, "dev-1", late + 1), Rotation::Revoked, "the thief's and the owner's tokens both die");
}

#[test]
fn another_device_an_idle_or_old_session_and_unknown_tokens_are_refused_without_change() {
    let mut redis = runner();
    let s = create(&mut redis, &unique("u"), "dev-1");
    let t = s.created;
    assert_eq!(rotate(&mut redis, &s, 0, "dev-2", t + 1), Rotation::Device);
    assert_eq!(rotate(&mut redis, &s, 0, "dev-1", t + IDLE_MS + 1), Rotation::Expired, "idle too long");
    assert_eq!(rotate(&mut redis, &s, 5, "dev-1", t + 1), Rotation::Unknown, "a generation from the future");
    let missing = Session { uid: s.uid.clone(), sid: format!("{:0>32}", unique("gone")), device: s.device.clone(), created: t };
    assert_eq!(rotate(&mut redis, &missing, 0, "dev-1", t + 1), Rotation::Unknown);
    assert_eq!(rotate(&mut redis, &s, 0, "dev-1", t + 2), Rotation::Rotated(rotated(&s, 1)), "refusals changed nothing");
    // Refreshed every six days (never idle for seven), the session still ends at thirty.
    let day = 24 * 3_600_000;
    for (generation, days) in [(1, 6), (2, 12), (3, 18), (4, 24)] {
        assert_eq!(rotate(&mut redis, &s, generation, "dev-1", t + days * day), Rotation::Rotated(rotated(&s, generation + 1)));
    }
    assert_eq!(rotate(&mut redis, &s, 5, "dev-1", t + ABSOLUTE_MS + 1), Rotation::Expired, "past the absolute lifetime");
}

#[test]
fn revoking_counts_only_the_users_live_sessions_and_listing_drops_them() {
    let mut redis = runner();
    let uid = unique("u");
    let (a, b) = (create(&mut redis, &uid, "dev-1"), create(&mut redis, &uid, "dev-2"));
    let stranger = create(&mut redis, &unique("u"), "dev-3");
    let list = |redis: &mut ScriptRunner| {
        let set = auth::keys::user_sessions(&uid);
        let mut sids: Vec<String> = match redis.command(&["SMEMBERS", &set]) {
            redis::Value::Array(items) | redis::Value::Set(items) => {
                items.into_iter().map(|v| redis::from_redis_value::<String>(v.clone()).unwrap()).collect()
            }
            other => panic!("{other:?}"),
        };
        sids.sort();
        let keys: Vec<String> = std::iter::once(set).chain(sids.iter().map(|sid| auth::keys::session(sid))).collect();
        let reply = redis.run(&LIST, &keys, sids.into_iter().map(arg).collect());
        reply.iter().filter_map(text).collect::<Vec<_>>().chunks(5).map(|c| c[0].clone()).collect::<Vec<_>>()
    };
    let mut both = vec![a.sid.clone(), b.sid.clone()];
    both.sort();
    assert_eq!(list(&mut redis), both);
    let sids = vec![a.sid.clone(), stranger.sid.clone()];
    let mut args = vec![arg(MARKER_TTL_SECS)];
    args.extend(sids.iter().map(arg));
    let revoked = redis.run(&REVOKE, &sessions::revoke_keys(&uid, &sids), args.clone());
    assert_eq!(revoked.first().and_then(int), Some(1), "another user's session is not this user's to revoke");
    assert_eq!(rotate(&mut redis, &a, 0, "dev-1", a.created + 1), Rotation::Revoked);
    assert_eq!(rotate(&mut redis, &stranger, 0, "dev-3", stranger.created + 1), Rotation::Rotated(rotated(&stranger, 1)));
    assert_eq!(list(&mut redis), vec![b.sid.clone()]);
    let again = redis.run(&REVOKE, &sessions::revoke_keys(&uid, &sids), args);
    assert_eq!(again.first().and_then(int), Some(0), "revoking twice counts nothing");
}

mod limiter {
    use e2e::scripts::ScriptRunner;
    use e2e::{unique, Services};
    use edge_spin::redis::{limit_args, Decision, SLIDING_WINDOW};

    fn attempt(redis: &mut ScriptRunner, keys: &[(&str, u64)], at: u64) -> Decision {
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        Decision::decode(&redis.run(&SLIDING_WINDOW, &names, limit_args(keys, at, 10_000, &unique("attempt"))))
    }

    #[test]
    fn the_window_slides_and_a_refused_attempt_counts_nowhere() {
        let mut redis = ScriptRunner::connect(&Services::shared().redis_url);
        let (user, client) = (unique("limit:user:"), unique("limit:client:"));
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let both = [(user.as_str(), 2), (client.as_str(), 3)];
        assert_eq!(attempt(&mut redis, &both, t), Decision::Allowed);
        assert_eq!(attempt(&mut redis, &both, t + 1_000), Decision::Allowed);
        // The user's window is full: refused until its oldest attempt (at t) leaves, 8.5 s on.
        assert_eq!(attempt(&mut redis, &both, t + 1_500), Decision::Limited { retry_after: 9 });
        // The refusal was not counted against the client: one more attempt fits there.
        assert_eq!(attempt(&mut redis, &[(client.as_str(), 3)], t + 1_600), Decision::Allowed);
        assert_eq!(attempt(&mut redis, &[(client.as_str(), 3)], t + 1_700), Decision::Limited { retry_after: 9 });
        // Ten seconds after the first attempt it has slid out of the user's window.
        assert_eq!(attempt(&mut redis, &[(user.as_str(), 2)], t + 10_001), Decision::Allowed);
    }
}

mod search_cache {
    use e2e::scripts::ScriptRunner;
    use e2e::{unique, Services};
    use search_proxy::cache::{start_args, start_keys, Started, START};

    fn start(redis: &mut ScriptRunner, hash: &str, entry: Option<(u64, u64)>, now: u64) -> Started {
        Started::decode(&redis.run(&START, &start_keys(hash), start_args(entry, now, &unique("token"))))
    }

    /// One test, as every query shares the index generation, the breaker and the change stream.
    #[test]
    fn a_current_entry_is_fresh_one_request_computes_and_only_real_work_triggers_a_sync() {
        let mut redis = ScriptRunner::connect(&Services::shared().redis_url);
        let now = 1_000_000;
        let hash = unique("q");
        let miss = start(&mut redis, &hash, None, now);
        assert_eq!((miss.generation, miss.open_until, miss.fresh, miss.holding), (0, None, false, true));
        assert!(miss.sync_work, "no indexer group yet: a pass must look");
        let waiting = start(&mut redis, &hash, None, now + 1);
        assert_eq!((waiting.fresh, waiting.holding, waiting.sync_work), (false, false, false), "the lock is taken");

        let other = unique("q");
        assert!(start(&mut redis, &other, Some((0, now + 500)), now).fresh, "current generation, before fresh-until");
        assert!(!start(&mut redis, &other, Some((0, now + 500)), now + 500).fresh, "at fresh-until it is not");
        redis.command(&["SET", "search:generation", "3"]);
        let moved = start(&mut redis, &unique("q"), Some((2, now + 500)), now);
        assert_eq!((moved.generation, moved.fresh), (3, false), "the index changed since");

        // An indexer group that has read everything and nothing due: no work.
        redis.command(&["XGROUP", "CREATE", "feed:changes", "search", "$", "MKSTREAM"]);
        assert!(!start(&mut redis, &unique("q"), None, now).sync_work);
        redis.command(&["XADD", "feed:changes", "*", "kind", "video", "id", "1", "version", "1", "op", "upsert"]);
        assert!(start(&mut redis, &unique("q"), None, now).sync_work, "an unread change");
        redis.command(&["XREADGROUP", "GROUP", "search", "indexer", "COUNT", "10", "STREAMS", "feed:changes", ">"]);
        assert!(start(&mut redis, &unique("q"), None, now).sync_work, "a read but unacknowledged change");

        redis.command(&["SET", "search:breaker:open_until", "2000000"]);
        redis.command(&["SET", "search:breaker:failures", "5"]);
        let open = start(&mut redis, &unique("q"), None, now);
        assert_eq!((open.open_until, open.failures), (Some(2_000_000), 5));
    }
}

#[test]
fn remembered_devices_keep_the_most_recent_and_expire() {
    let mut redis = runner();
    let key = unique("auth:devices:");
    for n in 0..22u64 {
        redis.run(&REMEMBER_DEVICE, &[&key], vec![arg(format!("{n:032x}")), arg(1_000 + n), arg(20i64), arg(3_600i64)]);
    }
    let kept = redis.command(&["ZRANGE", &key, "0", "-1"]);
    let kept: Vec<String> = match kept {
        redis::Value::Array(items) => items.iter().map(|v| redis::from_redis_value::<String>(v.clone()).unwrap()).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(kept, (2..22u64).map(|n| format!("{n:032x}")).collect::<Vec<_>>(), "the 20 most recent, oldest first");
    let ttl = redis::from_redis_value::<i64>(redis.command(&["TTL", &key])).unwrap();
    assert!((3_590..=3_600).contains(&ttl), "{ttl}");
}
