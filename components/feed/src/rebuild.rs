//! Rebuilding feed's Redis state from the key-value store after Redis lost it (`FLUSHALL`, a new
//! empty instance, failover to an empty replica): which records come back and where, and the
//! scripts the rebuild runs. Pure; the component's handler makes the host calls.
//!
//! `feed:built` ([`BUILT`]) marks a Redis whose feed state is complete. Every feed script that
//! reads a timeline, or finds a record missing, checks it in the same call and answers
//! [`crate::store::REBUILD`] when it is gone, so the check costs no round trip. Then one request
//! takes the lease ([`START`]), lists every `video:<id>` key of the key-value store into
//! [`PENDING`] ([`LIST`]), and restores them [`BATCH`] at a time ([`RESTORE`]): record,
//! timelines, id issuer and one upsert change each, so search-proxy's consumer (whose group is
//! recreated at the stream's start) syncs them again. Every step checks the lease and takes its
//! ids off [`PENDING`] atomically with what it restored, so a rebuild that dies midway is
//! continued by the next request, and a retried step restores nothing twice.
//!
//! The steps ([`run`]) are pure over [`Ports`]; the Spin adapter is `adapter.rs`.

use edge_http::Problem;
use edge_protocol::keys::Record;
use edge_spin::redis::arg;
use edge_spin::script::{Count, Script};
use http::HeaderValue;
use spin_sdk::redis::RedisParameter;

use crate::store::{author_key, video_key, BUILT, CHANGES, CHANGES_MAXLEN, LAST_ID, LATEST};
use crate::video::Video;

/// Redis key: the lease of the request rebuilding.
pub(crate) const LOCK: &str = "feed:rebuild:lock";
/// Redis sorted set: ids listed from the key-value store and not restored yet, scored by id.
pub(crate) const PENDING: &str = "feed:rebuild:pending";
/// Redis key: set once [`PENDING`] holds every listed id.
pub(crate) const LISTED: &str = "feed:rebuild:listed";
/// How long the lease lasts without a step: a holder that died blocks the rebuild this long.
pub(crate) const LEASE_MS: u64 = 15_000;
/// Records restored per script call (and key-value reads between two calls).
pub(crate) const BATCH: u64 = 100;
/// Ids added to [`PENDING`] per script call while listing.
pub(crate) const LIST_CHUNK: usize = 1000;
/// How long one request keeps restoring before it hands the rest to the next request, well
/// under any request timeout.
pub(crate) const BUDGET_MS: u64 = 5_000;
/// How long a request waits for another one's rebuild to finish before answering 503: a
/// fresh install's rebuild (an empty store) takes milliseconds.
pub(crate) const WAIT_MS: u64 = 2_000;
/// The `Retry-After` of a 503 during a rebuild.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// The video ids of a key-value store's keys (`video:<id>`, canonical ids only).
pub(crate) fn video_ids(keys: &[String]) -> Vec<u64> {
    keys.iter()
        .filter_map(|key| match Record::parse(key)? {
            Record::Video(id) => Some(id),
            Record::User(_) => None,
        })
        .collect()
}

/// A record to restore, as read from the key-value store.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Restore {
    /// The video id.
    pub id: u64,
    /// Its author.
    pub author: String,
    /// Its version: the restored change carries it, so search keeps what it has at that version.
    pub version: u64,
    /// The record as stored in Redis.
    pub json: String,
}

impl Restore {
    /// The record stored under `video:<id>`, or why it cannot be restored.
    pub(crate) fn from_record(id: u64, bytes: &[u8]) -> Result<Restore, String> {
        let video: Video = serde_json::from_slice(bytes).map_err(|e| format!("not a video record ({e})"))?;
        if video.id != id {
            return Err(format!("the record says id {}", video.id));
        }
        if video.author.is_empty() || video.version == 0 {
            return Err("the record has no author or no version".into());
        }
        let json = serde_json::to_string(&video).map_err(|e| e.to_string())?;
        Ok(Restore { id, author: video.author, version: video.version, json })
    }

    /// The timelines the create path lists it in. Every stored record is listed: a delete
    /// removes the record with its timeline entries, and an edit changes neither.
    pub(crate) fn timelines(&self) -> [String; 2] {
        [LATEST.to_owned(), author_key(&self.author)]
    }
}

/// The code of the 503 answered while feed's Redis state is being rebuilt.
pub(crate) const REBUILDING: &str = "feed-rebuilding";

/// The 503 answered while the state is being rebuilt (by this request or another).
pub(crate) fn rebuilding() -> Problem {
    Problem::unavailable(REBUILDING, "feed is restoring its videos and timelines after its Redis lost them; retry shortly")
        .with("retry_after", RETRY_AFTER_SECS)
        .header(http::header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))
}

/// What [`START`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// The state is complete.
    Built,
    /// Another request holds the lease.
    Busy,
    /// The lease is ours; list the store first.
    List,
    /// The lease is ours; listing is done, restore.
    Listed,
}

/// What a [`RESTORE`] step answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The lease is gone (expired, or taken by another request).
    Lost,
    /// Nothing is pending: the state is complete.
    Built,
    /// The next ids to restore.
    More(Vec<u64>),
}

/// What a rebuild needs from outside: time, randomness, the rebuild scripts, and the
/// key-value store's records.
pub(crate) trait Ports {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A new random lease token.
    fn token(&self) -> String;
    /// Waits `ms` before looking again for another request's rebuild.
    fn pause(&self, ms: u64);
    /// [`START`].
    fn start(&self, token: &str) -> Result<Start, Problem>;
    /// Every key of the key-value store.
    fn stored_keys(&self) -> Result<Vec<String>, Problem>;
    /// [`LIST`]: false when the lease was lost.
    fn list(&self, token: &str, ids: &[u64], last: bool) -> Result<bool, Problem>;
    /// [`RESTORE`].
    fn restore(&self, token: &str, release: bool, batch: &[Restore], ids: &[u64]) -> Result<Step, Problem>;
    /// The stored record of video `id`.
    fn stored(&self, id: u64) -> Result<Option<Vec<u8>>, Problem>;
    /// Whether the built marker is set.
    fn is_built(&self) -> Result<bool, Problem>;
}

/// Restores feed's Redis state within [`BUDGET_MS`], or waits up to [`WAIT_MS`] for the
/// request doing so. `Ok` once the state is complete, else the 503 to answer (the next request
/// continues).
pub(crate) fn run<P: Ports>(ports: &P) -> Result<(), Problem> {
    let started = ports.now_ms();
    let token = ports.token();
    match ports.start(&token)? {
        Start::Built => return Ok(()),
        Start::Busy => return wait(ports, started),
        Start::List => list(ports, &token)?,
        Start::Listed => {}
    }
    let (mut batch, mut ids) = (Vec::new(), Vec::new());
    loop {
        let out_of_time = ports.now_ms() >= started + BUDGET_MS;
        match ports.restore(&token, out_of_time, &batch, &ids)? {
            Step::Built => return Ok(()),
            Step::More(next) if !out_of_time => ids = next,
            _ => return Err(rebuilding()),
        }
        batch.clear();
        for &id in &ids {
            let Some(record) = ports.stored(id)? else { continue };
            match Restore::from_record(id, &record) {
                Ok(restore) => batch.push(restore),
                Err(error) => eprintln!("feed rebuild: video:{id} is not restored: {error}"),
            }
        }
    }
}

/// Lists every video of the key-value store into the pending set, [`LIST_CHUNK`] at a time.
fn list<P: Ports>(ports: &P, token: &str) -> Result<(), Problem> {
    let ids = video_ids(&ports.stored_keys()?);
    let mut chunks: Vec<&[u64]> = ids.chunks(LIST_CHUNK).collect();
    if chunks.is_empty() {
        // An empty store is listed too: the call records that listing is done.
        chunks.push(&[]);
    }
    for (n, chunk) in chunks.iter().enumerate() {
        if !ports.list(token, chunk, n + 1 == chunks.len())? {
            return Err(rebuilding());
        }
    }
    Ok(())
}

/// Polls for the marker while another request rebuilds.
fn wait<P: Ports>(ports: &P, started: u64) -> Result<(), Problem> {
    let mut pause = 10;
    while ports.now_ms() + pause < started + WAIT_MS {
        ports.pause(pause);
        pause = (pause * 2).min(200);
        if ports.is_built()? {
            return Ok(());
        }
    }
    Err(rebuilding())
}

/// Keys and arguments of [`RESTORE`] for `batch` (the readable records among `ids`) and `ids`
/// (every id the batch takes off [`PENDING`]); `release` hands the lease back if more remain.
pub(crate) fn restore_call(token: &str, release: bool, batch: &[Restore], ids: &[u64]) -> (Vec<String>, Vec<RedisParameter>) {
    let mut keys: Vec<String> = [LOCK, PENDING, CHANGES, LAST_ID, BUILT, LISTED].map(str::to_owned).into();
    let mut args = vec![arg(token), arg(LEASE_MS), arg(BATCH), arg(CHANGES_MAXLEN), arg(if release { "1" } else { "0" })];
    for restore in batch {
        keys.push(video_key(restore.id));
        keys.extend(restore.timelines());
        args.extend([arg(restore.id), arg(restore.json.as_str()), arg(restore.version)]);
    }
    args.extend(ids.iter().map(|&id| arg(id)));
    (keys, args)
}

/// Takes the lease unless the state is complete: KEYS = built marker, lease, listed, last id;
/// ARGV = token, lease ms. Answers `built`, `busy` (another request holds the lease), `list`
/// or `listed` (the lease is taken; list first, or restore). A Redis with feed's id issuer but
/// neither marker nor a rebuild under way was never lost: it predates the marker.
pub(crate) static START: Script =
    Script::new("rebuild-start", include_str!("scripts/rebuild-start.lua"), Count::Exactly(4), Count::Exactly(2));

/// Adds listed ids to the pending set: KEYS = lease, pending, listed; ARGV = token, lease ms,
/// last chunk (`1`/`0`), ids. Answers 1, or 0 when the lease was lost.
pub(crate) static LIST: Script =
    Script::new("rebuild-list", include_str!("scripts/rebuild-list.lua"), Count::Exactly(3), Count::AtLeast(3));

/// Restores a batch: KEYS = lease, pending, changes, last id, built marker, listed, then per
/// record its key and its timelines; ARGV = token, lease ms, batch size, stream length, release
/// (`1`/`0`), then per record its id, JSON and version, then every id to take off the pending
/// set. A record still in Redis is kept (it is newer or the same) and not announced twice; the
/// id issuer moves to at least the largest id. Answers `lost` (the lease is gone), `built`
/// (nothing pending: the marker is set and the lease released), or `more` and the next ids.
pub(crate) static RESTORE: Script =
    Script::new("rebuild-restore", include_str!("scripts/rebuild-restore.lua"), Count::AtLeast(6), Count::AtLeast(5));

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::ids;

    /// The ports in memory, with the rebuild scripts' semantics (`scripts/rebuild-*.lua`, run
    /// for real when `tests/e2e/tests/recovery.rs` flushes Redis).
    #[derive(Default)]
    struct Memory {
        now: Cell<u64>,
        stored: BTreeMap<String, Vec<u8>>,
        built: Cell<bool>,
        lease: RefCell<Option<String>>,
        listed: Cell<bool>,
        pending: RefCell<BTreeSet<u64>>,
        restored: RefCell<Vec<u64>>,
        list_calls: RefCell<Vec<(usize, bool)>>,
        releases: Cell<u32>,
        /// Milliseconds each restore step takes.
        step_ms: u64,
        /// Another request finishes its rebuild after this many pauses.
        built_after_pauses: Option<u32>,
        pauses: Cell<u32>,
        /// The lease expires (another request takes it) after this many restore steps.
        lease_lost_after: Option<u32>,
        steps: Cell<u32>,
    }

    impl Memory {
        fn with_videos(ids: impl IntoIterator<Item = u64>) -> Memory {
            let stored = ids.into_iter().map(|id| (format!("video:{id}"), record(id, "u1", 1).into_bytes())).collect();
            Memory { stored, now: Cell::new(1_000_000), ..Memory::default() }
        }
    }

    impl Ports for Memory {
        fn now_ms(&self) -> u64 {
            self.now.get()
        }

        fn token(&self) -> String {
            "ours".into()
        }

        fn pause(&self, ms: u64) {
            self.now.set(self.now.get() + ms);
            self.pauses.set(self.pauses.get() + 1);
            if self.built_after_pauses == Some(self.pauses.get()) {
                self.built.set(true);
            }
        }

        fn start(&self, token: &str) -> Result<Start, Problem> {
            if self.built.get() {
                return Ok(Start::Built);
            }
            let mut lease = self.lease.borrow_mut();
            if lease.is_some() {
                return Ok(Start::Busy);
            }
            *lease = Some(token.to_owned());
            Ok(if self.listed.get() { Start::Listed } else { Start::List })
        }

        fn stored_keys(&self) -> Result<Vec<String>, Problem> {
            Ok(self.stored.keys().cloned().collect())
        }

        fn list(&self, token: &str, ids: &[u64], last: bool) -> Result<bool, Problem> {
            self.list_calls.borrow_mut().push((ids.len(), last));
            self.pending.borrow_mut().extend(ids);
            self.listed.set(self.listed.get() || last);
            Ok(self.lease.borrow().as_deref() == Some(token))
        }

        fn restore(&self, token: &str, release: bool, batch: &[Restore], ids: &[u64]) -> Result<Step, Problem> {
            self.now.set(self.now.get() + self.step_ms);
            self.steps.set(self.steps.get() + 1);
            if self.lease_lost_after.is_some_and(|n| self.steps.get() > n) {
                *self.lease.borrow_mut() = Some("theirs".into());
            }
            if self.lease.borrow().as_deref() != Some(token) {
                return Ok(Step::Lost);
            }
            self.restored.borrow_mut().extend(batch.iter().map(|r| r.id));
            let mut pending = self.pending.borrow_mut();
            for id in ids {
                pending.remove(id);
            }
            let next: Vec<u64> = pending.iter().take(BATCH as usize).copied().collect();
            if next.is_empty() {
                self.built.set(true);
                *self.lease.borrow_mut() = None;
                return Ok(Step::Built);
            }
            if release {
                self.releases.set(self.releases.get() + 1);
                *self.lease.borrow_mut() = None;
            }
            Ok(Step::More(next))
        }

        fn stored(&self, id: u64) -> Result<Option<Vec<u8>>, Problem> {
            Ok(self.stored.get(&format!("video:{id}")).cloned())
        }

        fn is_built(&self) -> Result<bool, Problem> {
            Ok(self.built.get())
        }
    }

    #[test]
    fn a_rebuild_lists_every_stored_video_in_chunks_and_restores_the_readable_ones() {
        let mut m = Memory::with_videos(1..=2500);
        m.stored.insert("video:2501".into(), b"{broken".to_vec());
        m.stored.insert("user:u1".into(), b"{}".to_vec());
        run(&m).unwrap();
        assert_eq!(*m.list_calls.borrow(), [(1000, false), (1000, false), (501, true)]);
        assert_eq!(m.restored.borrow().len(), 2500, "the unreadable record is skipped, not retried forever");
        assert!(m.built.get() && m.lease.borrow().is_none() && m.pending.borrow().is_empty());
        assert_eq!(run(&m), Ok(()), "a built state is left alone");
        assert_eq!(m.list_calls.borrow().len(), 3);
    }

    #[test]
    fn an_empty_store_is_listed_too_so_the_state_counts_as_built() {
        let m = Memory::with_videos([]);
        run(&m).unwrap();
        assert_eq!((m.list_calls.borrow().clone(), m.built.get()), (vec![(0, true)], true));
    }

    #[test]
    fn a_rebuild_out_of_time_hands_the_lease_back_and_the_next_request_continues_without_listing_again() {
        let m = Memory { step_ms: 1_000, ..Memory::with_videos(1..=1000) };
        let first = run(&m).unwrap_err();
        assert_eq!((first.status().as_u16(), first.code()), (503, REBUILDING));
        assert_eq!(first.extension("retry_after").and_then(|v| v.as_u64()), Some(RETRY_AFTER_SECS));
        assert_eq!((m.releases.get(), m.built.get()), (1, false));
        let restored = m.restored.borrow().len();
        assert!((400..1000).contains(&restored), "about five steps of 100 within the 5 s budget: {restored}");
        run(&m).unwrap();
        assert_eq!(m.list_calls.borrow().len(), 1, "listing is done once");
        assert_eq!(m.restored.borrow().iter().collect::<BTreeSet<_>>().len(), 1000);
    }

    #[test]
    fn a_request_behind_another_rebuild_waits_for_it_or_answers_503() {
        let m = Memory { built_after_pauses: Some(3), ..Memory::with_videos([1]) };
        *m.lease.borrow_mut() = Some("theirs".into());
        assert_eq!(run(&m), Ok(()));
        assert!(m.restored.borrow().is_empty());
        let m = Memory::with_videos([1]);
        *m.lease.borrow_mut() = Some("theirs".into());
        assert_eq!(run(&m).unwrap_err().code(), REBUILDING);
        assert!(m.now.get() <= 1_000_000 + WAIT_MS, "it gives up within the wait");
    }

    #[test]
    fn a_lost_lease_stops_the_rebuild_at_once() {
        let m = Memory { lease_lost_after: Some(2), ..Memory::with_videos(1..=300) };
        assert_eq!(run(&m).unwrap_err().code(), REBUILDING);
        assert_eq!(m.restored.borrow().len(), 100, "the batch read after the lease expired is not written");
    }

    fn record(id: u64, author: &str, version: u64) -> String {
        format!(
            r#"{{"id":{id},"author":"{author}","title":"t","description":"","tags":["a"],"cover_key":null,"object_key":"k","size":1,"content_type":"video/mp4","sha256":null,"created_at":5,"updated_at":6,"version":{version}}}"#
        )
    }

    #[test]
    fn only_canonical_video_keys_are_listed() {
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
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(video_ids(&keys), [12, ids::MAX_ID]);
    }

    #[test]
    fn a_record_comes_back_on_the_latest_and_its_authors_timeline() {
        let restore = Restore::from_record(42, record(42, "u1", 3).as_bytes()).unwrap();
        assert_eq!((restore.id, restore.author.as_str(), restore.version), (42, "u1", 3));
        assert_eq!(restore.timelines(), ["feed:latest", "feed:author:u1"]);
        assert!(restore.json.starts_with(r#"{"id":42,"#), "the scripts' id-first layout: {}", restore.json);
        let back: Video = serde_json::from_str(&restore.json).unwrap();
        assert_eq!(back, serde_json::from_str::<Video>(&record(42, "u1", 3)).unwrap());
    }

    #[test]
    fn records_that_are_not_the_keys_video_are_refused() {
        assert!(Restore::from_record(43, record(42, "u1", 1).as_bytes()).unwrap_err().contains("42"));
        assert!(Restore::from_record(42, record(42, "", 1).as_bytes()).is_err());
        assert!(Restore::from_record(42, record(42, "u1", 0).as_bytes()).is_err());
        assert!(Restore::from_record(42, b"{not json").is_err());
        assert!(Restore::from_record(42, br#"{"id":42}"#).is_err());
    }

    #[test]
    fn a_restore_call_passes_every_key_it_touches() {
        let a = Restore::from_record(7, record(7, "u1", 2).as_bytes()).unwrap();
        let b = Restore::from_record(9, record(9, "u2", 1).as_bytes()).unwrap();
        let (keys, args) = restore_call("t", false, &[a, b], &[7, 8, 9]);
        assert_eq!(
            keys,
            [LOCK, PENDING, CHANGES, LAST_ID, BUILT, LISTED, "video:7", LATEST, "feed:author:u1", "video:9", LATEST, "feed:author:u2"]
        );
        assert_eq!(args.len(), 5 + 2 * 3 + 3, "fixed, per record, then every id of the batch");
        let (keys, args) = restore_call("t", true, &[], &[]);
        assert_eq!((keys.len(), args.len()), (6, 5));
    }
}
