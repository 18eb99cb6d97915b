//! Rebuilding feed's Redis state from the key-value store after Redis lost it (`FLUSHALL`, a new
//! empty instance, failover to an empty replica): which records come back and where, and the
//! scripts the rebuild runs. Pure; the component's handler makes the host calls.
//!
//! The state comes back in two [`Phase`]s, in order: videos (records, timelines, id issuer),
//! then comments (records, each video's orders and count, threads, their id issuer). Each phase
//! has a marker ([`Phase::built`]) that marks it complete. Every feed script that reads a
//! timeline or a comment list, or finds a record missing, checks its phase's marker in the same
//! call and answers [`crate::store::REBUILD`] when it is gone, so the check costs no round trip;
//! video scripts check only theirs, so videos serve as soon as their phase is done. Then one
//! request takes the phase's lease ([`START`]), lists its keys of the key-value store into the
//! phase's pending set ([`LIST`], [`LIST_COMMENTS`]), and restores them [`BATCH`] at a time in id
//! order ([`RESTORE`], [`RESTORE_COMMENTS`]): a video with one upsert change, so search-proxy's
//! consumer (whose group is recreated at the stream's start) syncs it again; a root before its
//! replies. Every step checks the lease and takes its members off the pending set atomically
//! with what it restored, so a rebuild that dies midway is continued by the next request, and a
//! retried step restores nothing twice.
//!
//! Likes of comments live in Redis only, as those of videos, and read 0 after a loss; hot
//! scores are recomputed from the restored replies.
//!
//! The steps ([`run`]) are pure over [`Ports`]; the Spin adapter is `adapter.rs`.

use std::collections::BTreeSet;

use edge_http::Problem;
use edge_protocol::keys::{Record, VIDEO_PREFIX};
use edge_spin::redis::arg;
use edge_spin::script::{Count, Script};
use http::HeaderValue;
use spin_sdk::redis::RedisParameter;

use crate::comments::Comment;
use crate::ids::decimal_id;
use crate::keys::{
    self, BUILT, CHANGES, COMMENTS_BUILT, COMMENTS_REBUILD_LISTED, COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENT_LAST_ID,
    LAST_ID, LATEST, REBUILD_LISTED, REBUILD_LOCK, REBUILD_PENDING,
};
use crate::store::CHANGES_MAXLEN;
use crate::video::Video;

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

/// The video ids of a key-value store's keys (`video:<id>`, canonical ids only).
pub(crate) fn video_ids(keys: &[String]) -> Vec<u64> {
    keys.iter()
        .filter_map(|key| match Record::parse(key)? {
            Record::Video(id) => Some(id),
            Record::User(_) => None,
        })
        .collect()
}

/// The comments of a key-value store's keys (`comment:<video>:<id>`, canonical ids only) as
/// `(id, "<video>:<id>")`, and how many were left out because their video is not stored (it was
/// deleted; its comments' keys stay behind).
pub(crate) fn comment_members(keys: &[String]) -> (Vec<(u64, String)>, usize) {
    let videos: BTreeSet<u64> = video_ids(keys).into_iter().collect();
    let (mut members, mut orphans) = (Vec::new(), 0);
    for key in keys {
        let ids = key.strip_prefix(keys::STORED_COMMENT_PREFIX).and_then(|rest| rest.split_once(':'));
        let Some((video, id)) = ids.and_then(|(video, id)| Some((decimal_id(video)?, decimal_id(id)?))) else { continue };
        if videos.contains(&video) {
            members.push((id, format!("{video}:{id}")));
        } else {
            orphans += 1;
        }
    }
    (members, orphans)
}

/// One kind of state a rebuild restores, in the order of [`Phase::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Video records, timelines and the id issuer.
    Videos,
    /// Comments, each video's orders and count, threads, and their id issuer.
    Comments,
}

impl Phase {
    /// Every phase, in the order they are restored: a comment needs its video.
    pub(crate) const ALL: [Phase; 2] = [Phase::Videos, Phase::Comments];

    /// The marker set while this phase's state is complete.
    pub(crate) fn built(self) -> &'static str {
        match self {
            Phase::Videos => BUILT,
            Phase::Comments => COMMENTS_BUILT,
        }
    }

    /// The keys [`START`] takes: built marker, lease, listed marker, id issuer.
    pub(crate) fn start_keys(self) -> [&'static str; 4] {
        match self {
            Phase::Videos => [BUILT, REBUILD_LOCK, REBUILD_LISTED, LAST_ID],
            Phase::Comments => [COMMENTS_BUILT, COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_LISTED, COMMENT_LAST_ID],
        }
    }

    /// The pending-set members of a key-value store's keys, as `(id, member)`: a video's id, or
    /// a comment's `<video>:<id>` (its stored key's tail). Comments of videos no longer stored
    /// are left out and logged.
    pub(crate) fn members(self, keys: &[String]) -> Vec<(u64, String)> {
        match self {
            Phase::Videos => video_ids(keys).into_iter().map(|id| (id, id.to_string())).collect(),
            Phase::Comments => {
                let (members, orphans) = comment_members(keys);
                if orphans > 0 {
                    eprintln!("feed rebuild: {orphans} comments of deleted videos are not restored");
                }
                members
            }
        }
    }

    /// The key-value key of a pending member.
    pub(crate) fn stored_key(self, member: &str) -> String {
        match self {
            Phase::Videos => format!("{VIDEO_PREFIX}{member}"),
            Phase::Comments => format!("{}{member}", keys::STORED_COMMENT_PREFIX),
        }
    }

    /// What restoring `member`, stored as `bytes`, takes, or why it cannot be restored.
    pub(crate) fn parse(self, member: &str, bytes: &[u8]) -> Result<Restore, String> {
        match self {
            Phase::Videos => {
                let id = decimal_id(member).ok_or_else(|| format!("{member} is not a video id"))?;
                Restore::video(id, bytes)
            }
            Phase::Comments => {
                let ids = member.split_once(':').and_then(|(video, id)| Some((decimal_id(video)?, decimal_id(id)?)));
                let (video, id) = ids.ok_or_else(|| format!("{member} is not <video>:<id>"))?;
                Restore::comment(video, id, bytes)
            }
        }
    }

    /// Script, keys and arguments of one listing call: `members` are added to the pending set;
    /// `last` marks listing done.
    pub(crate) fn list_call(
        self,
        token: &str,
        members: &[(u64, String)],
        last: bool,
    ) -> (&'static Script, Vec<String>, Vec<RedisParameter>) {
        let mut args = vec![arg(token), arg(LEASE_MS), arg(if last { "1" } else { "0" })];
        let (script, keys) = match self {
            Phase::Videos => {
                args.extend(members.iter().map(|(id, _)| arg(*id)));
                (&LIST, [REBUILD_LOCK, REBUILD_PENDING, REBUILD_LISTED])
            }
            Phase::Comments => {
                args.extend(members.iter().flat_map(|(id, member)| [arg(*id), arg(member.as_str())]));
                (&LIST_COMMENTS, [COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENTS_REBUILD_LISTED])
            }
        };
        (script, keys.map(str::to_owned).into(), args)
    }

    /// Script, keys and arguments of one restore step: `batch` (the readable records among
    /// `members`) is restored and every member taken off the pending set; `release` hands the
    /// lease back if more remain.
    pub(crate) fn restore_call(
        self,
        token: &str,
        release: bool,
        batch: &[Restore],
        members: &[String],
    ) -> (&'static Script, Vec<String>, Vec<RedisParameter>) {
        let release = arg(if release { "1" } else { "0" });
        let (script, mut keys, mut args): (_, Vec<&str>, _) = match self {
            Phase::Videos => (
                &RESTORE,
                vec![REBUILD_LOCK, REBUILD_PENDING, CHANGES, LAST_ID, BUILT, REBUILD_LISTED],
                vec![arg(token), arg(LEASE_MS), arg(BATCH), arg(CHANGES_MAXLEN), release],
            ),
            Phase::Comments => (
                &RESTORE_COMMENTS,
                vec![COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_PENDING, COMMENT_LAST_ID, COMMENTS_BUILT, COMMENTS_REBUILD_LISTED],
                vec![arg(token), arg(LEASE_MS), arg(BATCH), release],
            ),
        };
        for restore in batch {
            keys.extend(restore.keys.iter().map(String::as_str));
            args.extend(restore.args.iter().map(arg));
        }
        args.extend(members.iter().map(arg));
        (script, keys.into_iter().map(str::to_owned).collect(), args)
    }
}

/// A record to restore, as read from the key-value store: the keys and arguments its part of
/// the phase's restore script takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Restore {
    /// The record's id.
    pub id: u64,
    /// Its keys: for a video its record and timelines; for a comment its record, its video's
    /// record, count and orders, then its thread's replies, likes and root record.
    pub keys: Vec<String>,
    /// Its arguments: for a video id, JSON and version (the restored change carries it, so search
    /// keeps what it has at that version); for a comment id, JSON and its root (empty for a root).
    pub args: Vec<String>,
}

impl Restore {
    /// The video stored under `video:<id>`, or why it cannot be restored. Every stored record is
    /// listed on the latest and its author's timeline: a delete removes the record with its
    /// timeline entries, and an edit changes neither.
    pub(crate) fn video(id: u64, bytes: &[u8]) -> Result<Restore, String> {
        let video: Video = serde_json::from_slice(bytes).map_err(|e| format!("not a video record ({e})"))?;
        if video.id != id {
            return Err(format!("the record says id {}", video.id));
        }
        if video.author.is_empty() || video.version == 0 {
            return Err("the record has no author or no version".into());
        }
        let json = serde_json::to_string(&video).map_err(|e| e.to_string())?;
        Ok(Restore {
            id,
            keys: vec![keys::video(id), LATEST.to_owned(), keys::author(&video.author)],
            args: vec![id.to_string(), json, video.version.to_string()],
        })
    }

    /// The comment stored under `comment:<video>:<id>`, or why it cannot be restored.
    pub(crate) fn comment(video: u64, id: u64, bytes: &[u8]) -> Result<Restore, String> {
        let comment = std::str::from_utf8(bytes).ok().and_then(Comment::parse).ok_or("not a comment record")?;
        if (comment.id, comment.video) != (id, video) {
            return Err(format!("the record says comment {} of video {}", comment.id, comment.video));
        }
        if comment.author.is_empty() || comment.root.is_some_and(|root| root >= id) {
            return Err("the record has no author, or a root that is not older".into());
        }
        let thread = comment.thread();
        let json = serde_json::to_string(&comment).map_err(|e| e.to_string())?;
        Ok(Restore {
            id,
            keys: vec![
                keys::comment(id),
                keys::video(video),
                keys::comment_count(video),
                keys::comments_new(video),
                keys::comments_hot(video),
                keys::replies(thread),
                keys::comment_likes(thread),
                keys::comment(thread),
            ],
            args: vec![id.to_string(), json, comment.root.map_or_else(String::new, |root| root.to_string())],
        })
    }
}

/// The code of the 503 answered while feed's Redis state is being rebuilt.
pub(crate) const REBUILDING: &str = "feed-rebuilding";

/// The 503 answered while the state is being rebuilt (by this request or another).
pub(crate) fn rebuilding() -> Problem {
    Problem::unavailable(REBUILDING, "feed is restoring its videos, timelines and comments after its Redis lost them; retry shortly")
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
    /// [`START`] for `phase`.
    fn start(&self, phase: Phase, token: &str) -> Result<Start, Problem>;
    /// Every key of the key-value store.
    fn stored_keys(&self) -> Result<Vec<String>, Problem>;
    /// [`Phase::list_call`]'s call: false when the lease was lost.
    fn list(&self, phase: Phase, token: &str, members: &[(u64, String)], last: bool) -> Result<bool, Problem>;
    /// [`Phase::restore_call`]'s call.
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

/// Takes a phase's lease unless its state is complete: KEYS = built marker, lease, listed, last
/// id ([`Phase::start_keys`]); ARGV = token, lease ms. Answers `built`, `busy` (another request
/// holds the lease), `list` or `listed` (the lease is taken; list first, or restore). A Redis
/// with the phase's id issuer but neither marker nor a rebuild under way was never lost: it
/// predates the marker.
pub(crate) static START: Script =
    Script::new("rebuild-start", include_str!("scripts/rebuild-start.lua"), Count::Exactly(4), Count::Exactly(2));

/// Adds listed video ids to the pending set: KEYS = lease, pending, listed; ARGV = token, lease
/// ms, last chunk (`1`/`0`), ids. Answers 1, or 0 when the lease was lost.
pub(crate) static LIST: Script =
    Script::new("rebuild-list", include_str!("scripts/rebuild-list.lua"), Count::Exactly(3), Count::AtLeast(3));

/// [`LIST`] for comments: ARGV = token, lease ms, last chunk, then `id, <video>:<id>` pairs.
pub(crate) static LIST_COMMENTS: Script =
    Script::new("rebuild-comments-list", include_str!("scripts/rebuild-comments-list.lua"), Count::Exactly(3), Count::AtLeast(3));

/// Restores a batch of videos: KEYS = lease, pending, changes, last id, built marker, listed,
/// then per record [`Restore::keys`]; ARGV = token, lease ms, batch size, stream length, release
/// (`1`/`0`), then per record [`Restore::args`], then every id to take off the pending set. A
/// record still in Redis is kept (it is newer or the same) and not announced twice; the id issuer
/// moves to at least the largest id. Answers `lost` (the lease is gone), `built` (nothing
/// pending: the marker is set and the lease released), or `more` and the next ids.
pub(crate) static RESTORE: Script =
    Script::new("rebuild-restore", include_str!("scripts/rebuild-restore.lua"), Count::AtLeast(6), Count::AtLeast(5));

/// Restores a batch of comments: KEYS = lease, pending, last id, built marker, listed, then per
/// record [`Restore::keys`]; ARGV = token, lease ms, batch size, release, then per record
/// [`Restore::args`], then every member to take off the pending set. A comment whose video, or
/// whose thread's root, is not in Redis is skipped; one already there is kept and counted once.
/// Answers as [`RESTORE`].
pub static RESTORE_COMMENTS: Script = Script::new(
    "rebuild-comments",
    concat!(include_str!("scripts/comment-hot.lua"), include_str!("scripts/rebuild-comments.lua")),
    Count::AtLeast(5),
    Count::AtLeast(4),
);

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::BTreeMap;

    use super::*;
    use crate::ids;

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

    fn record(id: u64, author: &str, version: u64) -> String {
        format!(
            r#"{{"id":{id},"author":"{author}","title":"t","description":"","tags":["a"],"cover_key":null,"object_key":"k","size":1,"content_type":"video/mp4","sha256":null,"created_at":5,"updated_at":6,"version":{version}}}"#
        )
    }

    fn comment(video: u64, id: u64, root: Option<u64>) -> String {
        let root = root.map_or("null".to_owned(), |r| r.to_string());
        format!(r#"{{"id":{id},"video":{video},"root":{root},"reply_to":{root},"author":"ann","text":"hi","created_at":1}}"#)
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

    #[test]
    fn only_canonical_video_and_comment_keys_are_listed() {
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
            "comment:12:5",
            "comment:12:05",
            "comment:12:",
            "comment:12:5:6",
            "comment:13:6",
            "comments:12:7",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(video_ids(&keys), [12, ids::MAX_ID]);
        assert_eq!(comment_members(&keys), (vec![(5, "12:5".to_owned())], 1));
        assert_eq!(Phase::Videos.members(&keys), [(12, "12".to_owned()), (ids::MAX_ID, ids::MAX_ID.to_string())]);
        assert_eq!((Phase::Videos.stored_key("12"), Phase::Comments.stored_key("12:5")), ("video:12".into(), "comment:12:5".into()));
    }

    #[test]
    fn a_video_comes_back_on_the_latest_and_its_authors_timeline() {
        let restore = Phase::Videos.parse("42", record(42, "u1", 3).as_bytes()).unwrap();
        assert_eq!((restore.id, restore.keys.clone()), (42, vec!["video:42".to_owned(), LATEST.to_owned(), "feed:author:u1".to_owned()]));
        let [id, json, version] = &restore.args[..] else { panic!("{:?}", restore.args) };
        assert_eq!((id.as_str(), version.as_str()), ("42", "3"));
        assert!(json.starts_with(r#"{"id":42,"#), "the scripts' id-first layout: {json}");
        let back: Video = serde_json::from_str(json).unwrap();
        assert_eq!(back, serde_json::from_str::<Video>(&record(42, "u1", 3)).unwrap());
    }

    #[test]
    fn a_comment_comes_back_with_its_video_and_thread() {
        let root = Phase::Comments.parse("7:10", comment(7, 10, None).as_bytes()).unwrap();
        let keys = ["cm:rec:10", "video:7", "cm:count:7", "cm:new:7", "cm:hot:7", "cm:replies:10", "cm:likes:10", "cm:rec:10"];
        assert_eq!((root.id, root.keys.clone(), root.args[2].as_str()), (10, keys.map(str::to_owned).to_vec(), ""));
        let reply = Phase::Comments.parse("7:30", comment(7, 30, Some(10)).as_bytes()).unwrap();
        assert_eq!(
            (&reply.keys[5..], reply.args[2].as_str()),
            (&["cm:replies:10".to_owned(), "cm:likes:10".to_owned(), "cm:rec:10".to_owned()][..], "10")
        );
        let json: serde_json::Value = serde_json::from_str(&reply.args[1]).unwrap();
        assert_eq!((json["root"].as_u64(), json["created_at"].as_u64()), (Some(10), Some(ids::timestamp_ms(30))));
    }

    #[test]
    fn records_that_are_not_their_keys_are_refused() {
        assert!(Phase::Videos.parse("43", record(42, "u1", 1).as_bytes()).unwrap_err().contains("42"));
        assert!(Phase::Videos.parse("42", record(42, "", 1).as_bytes()).is_err());
        assert!(Phase::Videos.parse("42", record(42, "u1", 0).as_bytes()).is_err());
        assert!(Phase::Videos.parse("42", b"{not json").is_err());
        assert!(Phase::Videos.parse("42", br#"{"id":42}"#).is_err());
        assert!(Phase::Comments.parse("7:11", comment(7, 10, None).as_bytes()).is_err());
        assert!(Phase::Comments.parse("8:10", comment(7, 10, None).as_bytes()).is_err());
        assert!(Phase::Comments.parse("7:10", comment(7, 10, Some(10)).as_bytes()).is_err(), "its own root");
        assert!(Phase::Comments.parse("7:10", comment(7, 10, Some(12)).as_bytes()).is_err(), "a root newer than the reply");
        assert!(Phase::Comments.parse("7", comment(7, 10, None).as_bytes()).is_err());
        assert!(Phase::Comments.parse("7:10", b"\xff").is_err());
    }

    #[test]
    fn restore_and_list_calls_pass_every_key_they_touch() {
        let a = Phase::Videos.parse("7", record(7, "u1", 2).as_bytes()).unwrap();
        let b = Phase::Videos.parse("9", record(9, "u2", 1).as_bytes()).unwrap();
        let (script, keys, args) = Phase::Videos.restore_call("t", false, &[a, b], &["7".into(), "8".into(), "9".into()]);
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
        let (_, keys, args) = Phase::Videos.restore_call("t", true, &[], &[]);
        assert_eq!((keys.len(), args.len()), (6, 5));

        let c = Phase::Comments.parse("7:10", comment(7, 10, None).as_bytes()).unwrap();
        let (script, keys, args) = Phase::Comments.restore_call("t", false, &[c], &["7:10".into(), "7:11".into()]);
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
        let (script, keys, args) = Phase::Comments.list_call("t", &members, true);
        assert_eq!(
            (script.name(), keys, args.len()),
            (
                "rebuild-comments-list",
                vec![COMMENTS_REBUILD_LOCK.to_owned(), COMMENTS_REBUILD_PENDING.to_owned(), COMMENTS_REBUILD_LISTED.to_owned()],
                3 + 4
            )
        );
        let (script, keys, args) = Phase::Videos.list_call("t", &members, false);
        assert_eq!((script.name(), keys[0].as_str(), args.len()), ("rebuild-list", REBUILD_LOCK, 3 + 2));
        assert_eq!(Phase::Comments.start_keys(), [COMMENTS_BUILT, COMMENTS_REBUILD_LOCK, COMMENTS_REBUILD_LISTED, COMMENT_LAST_ID]);
    }
}
