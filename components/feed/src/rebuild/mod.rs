//! Rebuilding feed's Redis state from the key-value store after Redis lost it (`FLUSHALL`, a new
//! empty instance, failover to an empty replica). Pure: the rules are [`records`] (which keys
//! are records, what restoring one takes), the steps are [`run`] over [`Ports`], and the Spin
//! side (scripts in `store.rs`, their calls in `adapter.rs`) is not here.
//!
//! The state comes back in two [`Phase`]s, in order: videos (records, timelines, id issuer),
//! then comments (records, each video's orders and count, threads, their id issuer). Each phase
//! has a marker ([`Phase::built`]) that marks it complete. Every feed script that reads a
//! timeline or a comment list, or finds a record missing, checks its phase's marker in the same
//! call and answers [`crate::store::REBUILD`] when it is gone, so the check costs no round trip;
//! video scripts check only theirs, so videos serve as soon as their phase is done. The request
//! that sees it is marked ([`crate::Feed::lost`]) and runs the rebuild before trying again.
//!
//! One request takes the phase's lease ([`Ports::start`]), lists the phase's keys of the
//! key-value store into its pending set ([`Ports::list`]), and restores them [`BATCH`] at a time
//! in id order ([`Ports::restore`]): a video with one upsert change, so search-proxy's consumer
//! (whose group is recreated at the stream's start) syncs it again; a root before its replies.
//! Every step checks the lease and takes its members off the pending set atomically with what
//! it restored, so a rebuild that dies midway is continued by the next request, and a retried
//! step restores nothing twice.
//!
//! Likes of comments live in Redis only, as those of videos, and read 0 after a loss; hot
//! scores are recomputed from the restored replies.

pub(crate) mod records;

use edge_http::Problem;
use http::HeaderValue;

pub(crate) use records::{Phase, Restore};

/// How long the lease lasts without a step: a holder that died blocks the rebuild this long.
pub(crate) const LEASE_MS: u64 = 15_000;
/// Records restored per script call (and key-value reads between two calls).
pub(crate) const BATCH: u64 = 100;
/// Members added to a pending set per script call while listing.
pub(crate) const LIST_CHUNK: usize = 1000;
/// How long one request keeps restoring before it hands the rest to the next request, well
/// under any request timeout.
pub(crate) const BUDGET_MS: u64 = 5_000;
/// How long a request waits for another one's rebuild to finish before answering 503: a
/// fresh install's rebuild (an empty store) takes milliseconds.
pub(crate) const WAIT_MS: u64 = 2_000;
/// The `Retry-After` of a 503 during a rebuild.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// The code of the 503 answered while feed's Redis state is being rebuilt.
pub(crate) const REBUILDING: &str = "feed-rebuilding";

/// The 503 answered while the state is being rebuilt (by this request or another).
pub(crate) fn rebuilding() -> Problem {
    Problem::unavailable(REBUILDING, "feed is restoring its videos, timelines and comments after its Redis lost them; retry shortly")
        .with("retry_after", RETRY_AFTER_SECS)
        .header(http::header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS))
}

/// What [`Ports::start`] found.
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

/// What a restore step answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// The lease is gone (expired, or taken by another request).
    Lost,
    /// Nothing is pending: the state is complete.
    Built,
    /// The next members to restore.
    More(Vec<String>),
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
    /// Takes `phase`'s lease unless its state is complete (`store::REBUILD_START`).
    fn start(&self, phase: Phase, token: &str) -> Result<Start, Problem>;
    /// Every key of the key-value store.
    fn stored_keys(&self) -> Result<Vec<String>, Problem>;
    /// Adds `members` to `phase`'s pending set, marking listing done when `last`
    /// (`store::REBUILD_LIST`); false when the lease was lost.
    fn list(&self, phase: Phase, token: &str, members: &[(u64, String)], last: bool) -> Result<bool, Problem>;
    /// Restores `batch` (the readable records among `members`) and takes every member off the
    /// pending set; `release` hands the lease back if more remain (`store::REBUILD_RESTORE`).
    fn restore(&self, phase: Phase, token: &str, release: bool, batch: &[Restore], members: &[String]) -> Result<Step, Problem>;
    /// The value of key-value key `key`.
    fn stored(&self, key: &str) -> Result<Option<Vec<u8>>, Problem>;
    /// Whether `phase`'s built marker is set.
    fn is_built(&self, phase: Phase) -> Result<bool, Problem>;
}

/// Restores feed's Redis state, phase by phase, within [`BUDGET_MS`], or waits up to
/// [`WAIT_MS`] for the request doing so. `Ok` once the state is complete, else the 503 to answer
/// (the next request continues).
pub(crate) fn run<P: Ports>(ports: &P) -> Result<(), Problem> {
    let started = ports.now_ms();
    let token = ports.token();
    Phase::ALL.into_iter().try_for_each(|phase| run_phase(ports, phase, &token, started))
}

fn run_phase<P: Ports>(ports: &P, phase: Phase, token: &str, started: u64) -> Result<(), Problem> {
    match ports.start(phase, token)? {
        Start::Built => return Ok(()),
        Start::Busy => return wait(ports, phase, started),
        Start::List => list(ports, phase, token)?,
        Start::Listed => {}
    }
    let (mut batch, mut members) = (Vec::new(), Vec::new());
    loop {
        let out_of_time = ports.now_ms() >= started + BUDGET_MS;
        match ports.restore(phase, token, out_of_time, &batch, &members)? {
            Step::Built => return Ok(()),
            Step::More(next) if !out_of_time => members = next,
            _ => return Err(rebuilding()),
        }
        batch.clear();
        for member in &members {
            let key = phase.stored_key(member);
            let Some(record) = ports.stored(&key)? else { continue };
            match phase.parse(member, &record) {
                Ok(restore) => batch.push(restore),
                Err(error) => eprintln!("feed rebuild: {key} is not restored: {error}"),
            }
        }
    }
}

/// Lists the phase's records of the key-value store into its pending set, [`LIST_CHUNK`] at a
/// time.
fn list<P: Ports>(ports: &P, phase: Phase, token: &str) -> Result<(), Problem> {
    let members = phase.members(&ports.stored_keys()?);
    let mut chunks: Vec<&[(u64, String)]> = members.chunks(LIST_CHUNK).collect();
    if chunks.is_empty() {
        // An empty store is listed too: the call records that listing is done.
        chunks.push(&[]);
    }
    for (n, chunk) in chunks.iter().enumerate() {
        if !ports.list(phase, token, chunk, n + 1 == chunks.len())? {
            return Err(rebuilding());
        }
    }
    Ok(())
}

/// Polls for the phase's marker while another request rebuilds it.
fn wait<P: Ports>(ports: &P, phase: Phase, started: u64) -> Result<(), Problem> {
    let mut pause = 10;
    while ports.now_ms() + pause < started + WAIT_MS {
        ports.pause(pause);
        pause = (pause * 2).min(200);
        if ports.is_built(phase)? {
            return Ok(());
        }
    }
    Err(rebuilding())
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::{BTreeMap, BTreeSet};

    use super::records::tests::{comment, record};
    use super::*;

    /// One phase's state in [`Memory`].
    #[derive(Default)]
    struct Side {
        built: Cell<bool>,
        lease: RefCell<Option<String>>,
        listed: Cell<bool>,
        pending: RefCell<BTreeMap<u64, String>>,
        restored: RefCell<Vec<u64>>,
        list_calls: RefCell<Vec<(usize, bool)>>,
        releases: Cell<u32>,
    }

    /// The ports in memory, with the rebuild scripts' semantics (`scripts/rebuild-*.lua`, run
    /// for real when `tests/e2e/tests/recovery.rs` flushes Redis).
    #[derive(Default)]
    struct Memory {
        now: Cell<u64>,
        stored: BTreeMap<String, Vec<u8>>,
        sides: [Side; 2],
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

        fn side(&self, phase: Phase) -> &Side {
            &self.sides[phase as usize]
        }

        fn videos(&self) -> &Side {
            self.side(Phase::Videos)
        }

        fn comments(&self) -> &Side {
            self.side(Phase::Comments)
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
                self.sides.iter().for_each(|side| side.built.set(true));
            }
        }

        fn start(&self, phase: Phase, token: &str) -> Result<Start, Problem> {
            let side = self.side(phase);
            if side.built.get() {
                return Ok(Start::Built);
            }
            let mut lease = side.lease.borrow_mut();
            if lease.is_some() {
                return Ok(Start::Busy);
            }
            *lease = Some(token.to_owned());
            Ok(if side.listed.get() { Start::Listed } else { Start::List })
        }

        fn stored_keys(&self) -> Result<Vec<String>, Problem> {
            Ok(self.stored.keys().cloned().collect())
        }

        fn list(&self, phase: Phase, token: &str, members: &[(u64, String)], last: bool) -> Result<bool, Problem> {
            let side = self.side(phase);
            side.list_calls.borrow_mut().push((members.len(), last));
            side.pending.borrow_mut().extend(members.iter().cloned());
            side.listed.set(side.listed.get() || last);
            Ok(side.lease.borrow().as_deref() == Some(token))
        }

        fn restore(&self, phase: Phase, token: &str, release: bool, batch: &[Restore], members: &[String]) -> Result<Step, Problem> {
            let side = self.side(phase);
            self.now.set(self.now.get() + self.step_ms);
            self.steps.set(self.steps.get() + 1);
            if self.lease_lost_after.is_some_and(|n| self.steps.get() > n) {
                *side.lease.borrow_mut() = Some("theirs".into());
            }
            if side.lease.borrow().as_deref() != Some(token) {
                return Ok(Step::Lost);
            }
            side.restored.borrow_mut().extend(batch.iter().map(|r| r.id));
            let mut pending = side.pending.borrow_mut();
            pending.retain(|_, member| !members.contains(member));
            let next: Vec<String> = pending.values().take(BATCH as usize).cloned().collect();
            if next.is_empty() {
                side.built.set(true);
                *side.lease.borrow_mut() = None;
                return Ok(Step::Built);
            }
            if release {
                side.releases.set(side.releases.get() + 1);
                *side.lease.borrow_mut() = None;
            }
            Ok(Step::More(next))
        }

        fn stored(&self, key: &str) -> Result<Option<Vec<u8>>, Problem> {
            Ok(self.stored.get(key).cloned())
        }

        fn is_built(&self, phase: Phase) -> Result<bool, Problem> {
            Ok(self.side(phase).built.get())
        }
    }

    #[test]
    fn a_rebuild_lists_every_stored_video_in_chunks_and_restores_the_readable_ones() {
        let mut m = Memory::with_videos(1..=2500);
        m.stored.insert("video:2501".into(), b"{broken".to_vec());
        m.stored.insert("user:u1".into(), b"{}".to_vec());
        run(&m).unwrap();
        assert_eq!(*m.videos().list_calls.borrow(), [(1000, false), (1000, false), (501, true)]);
        assert_eq!(m.videos().restored.borrow().len(), 2500, "the unreadable record is skipped, not retried forever");
        assert!(m.videos().built.get() && m.videos().lease.borrow().is_none() && m.videos().pending.borrow().is_empty());
        assert_eq!(run(&m), Ok(()), "a built state is left alone");
        assert_eq!(m.videos().list_calls.borrow().len(), 3);
    }

    #[test]
    fn an_empty_store_is_listed_too_so_the_state_counts_as_built() {
        let m = Memory::with_videos([]);
        run(&m).unwrap();
        for side in [m.videos(), m.comments()] {
            assert_eq!((side.list_calls.borrow().clone(), side.built.get()), (vec![(0, true)], true));
        }
    }

    #[test]
    fn a_rebuild_out_of_time_hands_the_lease_back_and_the_next_request_continues_without_listing_again() {
        let m = Memory { step_ms: 1_000, ..Memory::with_videos(1..=1000) };
        let first = run(&m).unwrap_err();
        assert_eq!((first.status().as_u16(), first.code()), (503, REBUILDING));
        assert_eq!(first.extension("retry_after").and_then(|v| v.as_u64()), Some(RETRY_AFTER_SECS));
        assert_eq!((m.videos().releases.get(), m.videos().built.get()), (1, false));
        assert!(m.comments().list_calls.borrow().is_empty(), "comments wait for the videos");
        let restored = m.videos().restored.borrow().len();
        assert!((400..1000).contains(&restored), "about five steps of 100 within the 5 s budget: {restored}");
        run(&m).unwrap();
        assert_eq!(m.videos().list_calls.borrow().len(), 1, "listing is done once");
        assert_eq!(m.videos().restored.borrow().iter().collect::<BTreeSet<_>>().len(), 1000);
        assert!(m.comments().built.get());
    }

    #[test]
    fn a_request_behind_another_rebuild_waits_for_it_or_answers_503() {
        let m = Memory { built_after_pauses: Some(3), ..Memory::with_videos([1]) };
        *m.videos().lease.borrow_mut() = Some("theirs".into());
        assert_eq!(run(&m), Ok(()));
        assert!(m.videos().restored.borrow().is_empty());
        let m = Memory::with_videos([1]);
        *m.videos().lease.borrow_mut() = Some("theirs".into());
        assert_eq!(run(&m).unwrap_err().code(), REBUILDING);
        assert!(m.now.get() <= 1_000_000 + WAIT_MS, "it gives up within the wait");
        let m = Memory::with_videos([1]);
        *m.comments().lease.borrow_mut() = Some("theirs".into());
        assert_eq!(run(&m).unwrap_err().code(), REBUILDING, "the videos are restored, the comments are another request's");
        assert!(m.videos().built.get() && !m.comments().built.get());
    }

    #[test]
    fn a_lost_lease_stops_the_rebuild_at_once() {
        let m = Memory { lease_lost_after: Some(2), ..Memory::with_videos(1..=300) };
        assert_eq!(run(&m).unwrap_err().code(), REBUILDING);
        assert_eq!(m.videos().restored.borrow().len(), 100, "the batch read after the lease expired is not written");
    }

    #[test]
    fn comments_come_back_after_the_videos_in_id_order_without_those_of_deleted_videos() {
        let mut m = Memory::with_videos([7, 8]);
        for (video, id, root) in [(7, 30, Some(10)), (7, 10, None), (8, 20, None), (9, 40, None)] {
            m.stored.insert(format!("comment:{video}:{id}"), comment(video, id, root).into_bytes());
        }
        m.stored.insert("comment:7:50".into(), comment(8, 50, None).into_bytes());
        m.stored.insert("comment:7:x".into(), b"{}".to_vec());
        run(&m).unwrap();
        assert_eq!(*m.comments().list_calls.borrow(), [(4, true)], "video 9 is gone, 7:x is no comment key");
        assert_eq!(*m.comments().restored.borrow(), [10, 20, 30], "roots before their replies; a record of another video is not");
        assert!(m.videos().built.get() && m.comments().built.get());
    }
}
