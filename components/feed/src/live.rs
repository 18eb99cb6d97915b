//! Live danmaku: who may open a stream and where it starts ([`plan`]), what one viewer's
//! Server-Sent Events stream sends, and when ([`run`]). Pure: the admission script's answer
//! arrives as an [`Admission`], and a stream runs over [`Ports`] (Redis and the clock on Spin,
//! in `adapter.rs`).
//!
//! A stream replays what the viewer missed (up to [`REPLAY_DEPTH`] items, beyond that a
//! `skipped` event), then waits on the video's doorbell (a Redis stream every post rings) and
//! sends each batch of new danmaku as one event whose `id:` is the newest id in it, so a
//! browser's automatic reconnect with `Last-Event-ID` resumes exactly after it. Floods merge
//! into counted items ([`Merger`]). It ends at its deadline with an `end` event, or at the first
//! write the client no longer takes.

use std::collections::HashMap;

use edge_http::stream::{event, retry, Gone, Sink};
use edge_http::Problem;
use serde_json::json;

use crate::danmaku::{dedup_key_text, Danmaku, Merged};

/// Most missed danmaku a reconnecting viewer is sent; older ones are reported as skipped.
pub(crate) const REPLAY_DEPTH: u64 = 1000;
/// Most danmaku read (and sent in one event) at a time.
pub(crate) const READ_MAX: u64 = 250;
/// Longest wait without a write: the heartbeat (a `viewers` event), which also finds a client
/// that has gone.
pub(crate) const HEARTBEAT_MS: u64 = 10_000;
/// Shortest gap between two batches of new danmaku on one stream, so a hot room sends a few
/// merged events a second instead of one per post.
pub(crate) const BATCH_GAP_MS: u64 = 200;
/// A copy of the same text posted less than this after the previous copy joins its group.
pub(crate) const MERGE_GAP_MS: u64 = 1000;
/// Shortest gap between two viewer counts sent while danmaku keep the stream busy.
const VIEWERS_GAP_MS: u64 = 5000;

/// Where a stream starts and how long it lives, from the admission script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    /// The viewer has everything up to this danmaku id.
    pub after: u64,
    /// The newest danmaku id when the stream opened.
    pub newest: u64,
    /// The doorbell's position when the stream opened.
    pub cursor: String,
    /// Viewers of this video, this one included.
    pub viewers: u64,
    /// When the stream ends, ms since the Unix epoch.
    pub ends_at_ms: u64,
    /// The reconnect delay browsers are told, ms.
    pub retry_ms: u64,
}

/// Slack after a stream's longest life before its place counts as free, should its instance
/// die without ending it.
const PLACE_SLACK_MS: u64 = 30_000;

/// What a stream may hold, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The longest life of a stream, ms (`danmaku_live_secs`).
    pub lifetime_ms: u64,
    /// Streams one client address may hold (`live_streams_per_client`).
    pub per_client: u64,
    /// Streams one edge instance may hold (`live_streams_per_instance`).
    pub per_instance: u64,
}

impl Limits {
    /// When a place taken at `now` frees itself if its stream never ends it.
    pub(crate) fn place_expiry(&self, now: u64) -> u64 {
        now + self.lifetime_ms + PLACE_SLACK_MS
    }
}

/// What the admission script found, having taken a place for the stream when it answers
/// [`Admission::Open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Admitted: the newest danmaku id, the doorbell's position, the viewers (this one included).
    Open {
        /// The newest danmaku id.
        newest: u64,
        /// The doorbell's position.
        cursor: String,
        /// Viewers of the video.
        viewers: u64,
    },
    /// The client address holds its most streams; the first frees in `wait_ms`.
    ClientFull {
        /// Until a place frees, ms.
        wait_ms: u64,
    },
    /// This instance holds its most streams; the first frees in `wait_ms`.
    InstanceFull {
        /// Until a place frees, ms.
        wait_ms: u64,
    },
    /// There is no such video.
    NoVideo,
}

/// Where a viewer resumes: after the danmaku id in `Last-Event-ID` (a browser's reconnect), else
/// in `?after=`; `None` (from the newest) when neither is given.
pub(crate) fn resume_point(last_event_id: Option<&str>, after: Option<&str>) -> Result<Option<u64>, Problem> {
    match last_event_id.or(after).map(str::trim) {
        None | Some("") => Ok(None),
        Some(value) => value.parse::<u64>().map(Some).map_err(|_| {
            Problem::bad_request("invalid-query", "Last-Event-ID and after= are danmaku ids: whole numbers").with("field", "after")
        }),
    }
}

/// The plan of a stream `admission` let in at `now`, or its refusal. The stream ends before
/// its longest life by up to a quarter, and browsers are told to reconnect after 1 to 3 s, both
/// drawn from `random`, so viewers who arrived together do not all reconnect together.
pub(crate) fn plan(admission: Admission, after: Option<u64>, now: u64, limits: &Limits, random: u64) -> Result<Plan, Problem> {
    let retry_secs = |wait_ms: u64| wait_ms.div_ceil(1000).max(1);
    match admission {
        Admission::Open { newest, cursor, viewers } => Ok(Plan {
            after: after.unwrap_or(newest),
            newest,
            cursor,
            viewers,
            ends_at_ms: now + limits.lifetime_ms - (random & 0xffff_ffff) % (limits.lifetime_ms / 4).max(1),
            retry_ms: 1000 + (random >> 32) % 2000,
        }),
        Admission::ClientFull { wait_ms } => Err(Problem::too_many_requests(
            "too-many-streams",
            format!("at most {} live streams per client address (live_streams_per_client); close one or retry later", limits.per_client),
            retry_secs(wait_ms),
        )
        .with("limit", limits.per_client)),
        Admission::InstanceFull { wait_ms } => Err(Problem::unavailable(
            "live-full",
            format!("this edge instance holds its most live streams ({}); retry shortly or elsewhere", limits.per_instance),
        )
        .header(http::header::RETRY_AFTER, retry_secs(wait_ms).into())),
        Admission::NoVideo => Err(crate::no_video()),
    }
}

/// What [`Ports::read`] finds.
#[derive(Debug, Clone, Default)]
pub(crate) struct Read {
    /// Danmaku after the asked id, oldest first.
    pub items: Vec<Danmaku>,
    /// The doorbell's position at the time of the read.
    pub cursor: String,
    /// Viewers of this video.
    pub viewers: u64,
}

/// What a stream needs from the platform.
pub(crate) trait Ports {
    /// Wall-clock time, ms since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Parks until the doorbell rings after `cursor` (true) or `timeout_ms` passes (false).
    fn wait(&self, cursor: &str, timeout_ms: u64) -> Result<bool, Problem>;
    /// Up to `limit` danmaku after id `after`, with the doorbell's position and the viewers.
    fn read(&self, after: u64, limit: u64) -> Result<Read, Problem>;
    /// Parks for `ms`.
    fn pause(&self, ms: u64);
}

/// Why a stream stopped before its deadline.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The client went away.
    Gone,
    /// Redis failed; the client reconnects and is answered there.
    Store(Problem),
}

impl From<Gone> for Stop {
    fn from(_: Gone) -> Self {
        Stop::Gone
    }
}

impl From<Problem> for Stop {
    fn from(problem: Problem) -> Self {
        Stop::Store(problem)
    }
}

/// Runs one stream to its end.
pub(crate) fn run(ports: &impl Ports, sink: &mut dyn Sink, plan: Plan) -> Result<(), Stop> {
    let mut last = plan.after.min(plan.newest);
    let hello = json!({
        "viewers": plan.viewers,
        "last_id": last,
        "ends_in_ms": plan.ends_at_ms.saturating_sub(ports.now_ms()),
        "replay_depth": REPLAY_DEPTH,
    });
    // `hello` and `skipped` carry the position too, so a stream that drops before its first
    // danmaku still resumes from it.
    sink.write(format!("{}{}", retry(plan.retry_ms), event(Some(last), "hello", &hello.to_string())).as_bytes())?;
    if plan.newest - last > REPLAY_DEPTH {
        let to = plan.newest - REPLAY_DEPTH;
        let skipped = json!({ "from": last + 1, "to": to, "count": to - last });
        sink.write(event(Some(to), "skipped", &skipped.to_string()).as_bytes())?;
        last = to;
    }
    let mut owed = last < plan.newest;
    let mut cursor = plan.cursor;
    let mut merger = Merger::default();
    let (mut batch_at, mut viewers, mut viewers_at) = (0, plan.viewers, ports.now_ms());
    loop {
        let now = ports.now_ms();
        if now >= plan.ends_at_ms {
            break;
        }
        let mut heartbeat = false;
        if !owed {
            heartbeat = !ports.wait(&cursor, (plan.ends_at_ms - now).min(HEARTBEAT_MS))?;
            let since = ports.now_ms().saturating_sub(batch_at);
            if !heartbeat && since < BATCH_GAP_MS {
                ports.pause(BATCH_GAP_MS - since);
            }
        }
        let read = ports.read(last, READ_MAX)?;
        cursor = read.cursor;
        owed = read.items.len() as u64 >= READ_MAX;
        if let Some(newest) = read.items.last().map(|d| d.id) {
            last = newest;
            batch_at = ports.now_ms();
            let items = merger.add(read.items);
            sink.write(event(Some(last), "danmaku", &json!({ "items": items }).to_string()).as_bytes())?;
        }
        let now = ports.now_ms();
        if heartbeat || (read.viewers != viewers && now.saturating_sub(viewers_at) >= VIEWERS_GAP_MS) {
            (viewers, viewers_at) = (read.viewers, now);
            sink.write(event(None, "viewers", &json!({ "viewers": viewers }).to_string()).as_bytes())?;
        }
    }
    sink.write(event(None, "end", "{}").as_bytes())?;
    Ok(())
}

/// Merges floods on the live path: a copy of the same normalised text ([`dedup_key_text`])
/// posted less than [`MERGE_GAP_MS`] after the group's previous copy joins the group, which is
/// sent again with the same `id` (its first copy's) and the grown count.
#[derive(Debug, Default)]
pub(crate) struct Merger {
    groups: HashMap<String, Group>,
}

#[derive(Debug)]
struct Group {
    item: Merged,
    last_posted_at: u64,
}

impl Merger {
    /// The items to send for `batch` (oldest first): new items, and groups that grew with
    /// their count so far, each once, in the order they first appear in the batch.
    pub(crate) fn add(&mut self, batch: Vec<Danmaku>) -> Vec<Merged> {
        let mut out: Vec<Merged> = Vec::new();
        let newest = batch.iter().map(|d| d.posted_at).max().unwrap_or_default();
        for danmaku in batch {
            let key = dedup_key_text(&danmaku.text);
            let posted_at = danmaku.posted_at;
            let item = match self.groups.get_mut(&key) {
                Some(group) if posted_at.saturating_sub(group.last_posted_at) < MERGE_GAP_MS => {
                    group.item.count += 1;
                    group.item.user = None;
                    group.last_posted_at = group.last_posted_at.max(posted_at);
                    group.item.clone()
                }
                _ => {
                    let item = Merged::from(danmaku);
                    self.groups.insert(key, Group { item: item.clone(), last_posted_at: posted_at });
                    item
                }
            };
            match out.iter_mut().find(|sent| sent.id == item.id) {
                Some(sent) => *sent = item,
                None => out.push(item),
            }
        }
        // Groups no later copy can join are forgotten, so memory follows the room's last second.
        self.groups.retain(|_, group| newest.saturating_sub(group.last_posted_at) < MERGE_GAP_MS);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::danmaku::Mode;

    fn danmaku(id: u64, posted_at: u64, text: &str) -> Danmaku {
        Danmaku { id, time_ms: 0, user: format!("u{id}"), text: text.into(), color: None, mode: Mode::Scroll, posted_at }
    }

    const LIMITS: Limits = Limits { lifetime_ms: 40_000, per_client: 8, per_instance: 800 };

    fn open(newest: u64) -> Admission {
        Admission::Open { newest, cursor: "5-0".into(), viewers: 3 }
    }

    #[test]
    fn a_viewer_resumes_after_last_event_id_else_after_the_query_else_from_the_newest() {
        assert_eq!(resume_point(Some(" 42 "), Some("7")).unwrap(), Some(42));
        assert_eq!(resume_point(None, Some("7")).unwrap(), Some(7));
        assert_eq!((resume_point(None, None).unwrap(), resume_point(Some(""), None).unwrap()), (None, None));
        assert_eq!(resume_point(Some("x"), None).unwrap_err().code(), "invalid-query");
        assert_eq!(plan(open(90), Some(42), 0, &LIMITS, 0).unwrap().after, 42);
        assert_eq!(plan(open(90), None, 0, &LIMITS, 0).unwrap().after, 90);
    }

    #[test]
    fn streams_end_within_the_last_quarter_of_their_life_and_reconnect_after_one_to_three_seconds() {
        for random in [0, 1, 9_999, u64::MAX, 0x1234_5678_9abc_def0] {
            let plan = plan(open(1), None, 1_000, &LIMITS, random).unwrap();
            assert!((1_000 + 30_001..=1_000 + 40_000).contains(&plan.ends_at_ms), "{random}: {}", plan.ends_at_ms);
            assert!((1000..3000).contains(&plan.retry_ms), "{random}: {}", plan.retry_ms);
            assert_eq!((plan.newest, plan.cursor.as_str(), plan.viewers), (1, "5-0", 3));
        }
        assert_eq!(LIMITS.place_expiry(1_000), 1_000 + 40_000 + PLACE_SLACK_MS, "a place outlives its stream");
    }

    #[test]
    fn a_full_address_is_a_429_and_a_full_instance_a_503_each_saying_when_to_retry() {
        let client = plan(Admission::ClientFull { wait_ms: 1_001 }, None, 0, &LIMITS, 0).unwrap_err();
        assert_eq!(
            (client.status().as_u16(), client.code(), client.extension("limit").cloned()),
            (429, "too-many-streams", Some(8.into()))
        );
        assert_eq!(client.extension("retry_after").and_then(|v| v.as_u64()), Some(2));
        let instance = plan(Admission::InstanceFull { wait_ms: 0 }, None, 0, &LIMITS, 0).unwrap_err();
        assert_eq!((instance.status().as_u16(), instance.code()), (503, "live-full"));
        let response = instance.into_response("r");
        assert_eq!(response.headers()[http::header::RETRY_AFTER], "1");
        assert_eq!(plan(Admission::NoVideo, None, 0, &LIMITS, 0).unwrap_err().code(), "no-such-video");
    }

    /// A video's danmaku and doorbell on a fake clock: `wait` jumps the clock to the next
    /// scheduled post (or the timeout) and posts it.
    struct Room {
        now: RefCell<u64>,
        posted: RefCell<Vec<Danmaku>>,
        schedule: RefCell<Vec<Danmaku>>,
        waits: RefCell<Vec<u64>>,
        fail_reads: bool,
    }

    impl Room {
        fn new(posted: u64, schedule: Vec<Danmaku>) -> Room {
            Room {
                now: RefCell::new(1_000_000),
                posted: RefCell::new((1..=posted).map(|id| danmaku(id, 0, &format!("old {id}"))).collect()),
                schedule: RefCell::new(schedule),
                waits: RefCell::default(),
                fail_reads: false,
            }
        }

        fn plan(&self, after: u64, lifetime_ms: u64) -> Plan {
            let newest = self.posted.borrow().last().map_or(0, |d| d.id);
            Plan { after, newest, cursor: "0-0".into(), viewers: 2, ends_at_ms: *self.now.borrow() + lifetime_ms, retry_ms: 1500 }
        }
    }

    impl Ports for Room {
        fn now_ms(&self) -> u64 {
            *self.now.borrow()
        }

        fn wait(&self, _cursor: &str, timeout_ms: u64) -> Result<bool, Problem> {
            self.waits.borrow_mut().push(timeout_ms);
            let mut schedule = self.schedule.borrow_mut();
            let now = *self.now.borrow();
            match schedule.first() {
                Some(next) if next.posted_at <= now + timeout_ms => {
                    *self.now.borrow_mut() = next.posted_at.max(now);
                    let at = *self.now.borrow();
                    while schedule.first().is_some_and(|d| d.posted_at <= at) {
                        self.posted.borrow_mut().push(schedule.remove(0));
                    }
                    Ok(true)
                }
                _ => {
                    *self.now.borrow_mut() += timeout_ms;
                    Ok(false)
                }
            }
        }

        fn read(&self, after: u64, limit: u64) -> Result<Read, Problem> {
            if self.fail_reads {
                return Err(Problem::unavailable("redis-unavailable", "down"));
            }
            let items: Vec<Danmaku> = self.posted.borrow().iter().filter(|d| d.id > after).take(limit as usize).cloned().collect();
            Ok(Read { items, cursor: "1-0".into(), viewers: 2 })
        }

        fn pause(&self, ms: u64) {
            let until = *self.now.borrow() + ms;
            let mut schedule = self.schedule.borrow_mut();
            while schedule.first().is_some_and(|d| d.posted_at <= until) {
                self.posted.borrow_mut().push(schedule.remove(0));
            }
            *self.now.borrow_mut() = until;
        }
    }

    /// The events a stream wrote, as (id, name, data).
    fn events(body: &[u8]) -> Vec<(Option<u64>, String, serde_json::Value)> {
        let text = String::from_utf8(body.to_vec()).unwrap();
        text.split("\n\n")
            .filter(|block| !block.is_empty() && !block.starts_with("retry:"))
            .map(|block| {
                let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
                (
                    field("id: ").map(|id| id.parse().unwrap()),
                    field("event: ").unwrap(),
                    serde_json::from_str(&field("data: ").unwrap()).unwrap(),
                )
            })
            .collect()
    }

    fn ids(events: &[(Option<u64>, String, serde_json::Value)]) -> Vec<u64> {
        events
            .iter()
            .filter(|(_, name, _)| name == "danmaku")
            .flat_map(|(_, _, data)| data["items"].as_array().unwrap().iter().map(|i| i["id"].as_u64().unwrap()).collect::<Vec<_>>())
            .collect()
    }

    #[test]
    fn a_reconnect_gets_exactly_what_it_missed_then_live_posts() {
        let room = Room::new(10, vec![danmaku(11, 1_003_000, "new")]);
        let mut body = Vec::new();
        run(&room, &mut body, room.plan(7, 30_000)).unwrap();
        assert!(body.starts_with(b"retry: 1500\n\nid: 7\nevent: hello\n"));
        let events = events(&body);
        assert_eq!(events[0].2["last_id"], 7);
        assert_eq!(ids(&events), [8, 9, 10, 11]);
        let danmaku: Vec<_> = events.iter().filter(|e| e.1 == "danmaku").map(|e| e.0).collect();
        assert_eq!(danmaku, [Some(10), Some(11)], "each event's id is the newest danmaku in it");
        assert_eq!(events.last().unwrap().1, "end");
    }

    #[test]
    fn a_viewer_too_far_behind_is_told_what_was_skipped() {
        let room = Room::new(1300, vec![]);
        let mut body = Vec::new();
        run(&room, &mut body, room.plan(50, 1_000)).unwrap();
        let events = events(&body);
        assert_eq!(events[1].1, "skipped");
        assert_eq!(events[1].2, json!({ "from": 51, "to": 300, "count": 250 }));
        let got = ids(&events);
        assert_eq!((got.len() as u64, got[0], *got.last().unwrap()), (REPLAY_DEPTH, 301, 1300));
        assert!(got.windows(2).all(|w| w[1] == w[0] + 1), "in order, no gaps or repeats");
    }

    #[test]
    fn an_idle_room_only_heartbeats_and_the_stream_ends_on_time() {
        let room = Room::new(3, vec![]);
        let mut body = Vec::new();
        run(&room, &mut body, room.plan(3, 25_000)).unwrap();
        let names: Vec<_> = events(&body).into_iter().map(|e| e.1).collect();
        assert_eq!(names, ["hello", "viewers", "viewers", "viewers", "end"]);
        assert_eq!(*room.waits.borrow(), [HEARTBEAT_MS, HEARTBEAT_MS, 5_000], "parked on the doorbell, never beyond the end");
        assert_eq!(room.now_ms(), 1_025_000);
    }

    #[test]
    fn a_flood_goes_out_merged_with_a_growing_count() {
        let start = 1_001_000;
        let flood: Vec<Danmaku> = (1..=50).map(|i| danmaku(i, start + i * 30, if i % 2 == 0 { "666" } else { "６６６!" })).collect();
        let room = Room::new(0, flood);
        let mut body = Vec::new();
        run(&room, &mut body, room.plan(0, 10_000)).unwrap();
        let events = events(&body);
        let items: Vec<_> = events.iter().filter(|e| e.1 == "danmaku").flat_map(|e| e.2["items"].as_array().unwrap().clone()).collect();
        assert!(items.iter().all(|i| i["id"] == 1), "one group, known by its first id: {items:?}");
        assert!(items.len() < 20, "batched, not one event per copy: {}", items.len());
        assert!(items.windows(2).all(|w| w[0]["count"].as_u64() < w[1]["count"].as_u64()));
        assert_eq!(items.last().unwrap()["count"], 50);
        assert!(items.last().unwrap()["user"].is_null());
    }

    #[test]
    fn a_client_that_goes_away_or_a_failing_store_ends_the_stream() {
        struct Closed;
        impl Sink for Closed {
            fn write(&mut self, _: &[u8]) -> Result<(), Gone> {
                Err(Gone)
            }
        }
        let room = Room::new(0, vec![]);
        assert!(matches!(run(&room, &mut Closed, room.plan(0, 30_000)), Err(Stop::Gone)));
        let failing = Room { fail_reads: true, ..Room::new(0, vec![danmaku(1, 1_000_100, "x")]) };
        let mut body = Vec::new();
        assert!(matches!(run(&failing, &mut body, failing.plan(0, 30_000)), Err(Stop::Store(_))));
    }

    #[test]
    fn merging_joins_copies_less_than_a_second_apart() {
        let mut merger = Merger::default();
        let first = merger.add(vec![danmaku(1, 0, "hi"), danmaku(2, 100, "Hi!"), danmaku(3, 200, "other")]);
        let summary: Vec<_> = first.iter().map(|m| (m.id, m.count, m.user.is_some())).collect();
        assert_eq!(summary, [(1, 2, false), (3, 1, true)]);
        let next = merger.add(vec![danmaku(4, 1_050, "hi")]);
        assert_eq!((next[0].id, next[0].count), (1, 3), "950 ms after the previous copy");
        let later = merger.add(vec![danmaku(5, 2_100, "hi")]);
        assert_eq!((later[0].id, later[0].count), (5, 1), "over a second later: a new item");
    }
}
