//! One index sync pass (`POST /search/sync`, and a search that misses the cache with changes
//! waiting): under the lease, read a batch of changes, build the newest document of each record
//! (a tombstone for deletes and records gone since), apply them, and settle every entry read:
//! acknowledged, retried with backoff, or parked. Which change wins and when to retry or park
//! are [`crate::sync`]'s rules; the steps are pure over [`Ports`] and [`Base`].

use std::collections::BTreeMap;

use edge_http::Problem;

use crate::breaker::Gate;
use crate::engine::{Doc, DocResult, EngineError};
use crate::params::Kind;
use crate::ports::Base;
use crate::ports::{PassReport, State};
use crate::sync::{self, Read, Settle};
use crate::{keys, records};

/// What a pass found when it started.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Begun {
    /// Another pass holds the lease.
    Busy,
    /// This pass holds the lease (released by the script itself when nothing was read).
    Leased {
        /// Cache entries past their stale time, to delete.
        stale: Vec<String>,
        /// The entries read.
        reads: Vec<Read>,
    },
}

/// What a pass needs beyond [`Base`]: the sync scripts, the records, and the engine.
pub(crate) trait Ports: Base {
    /// The sync-begin script.
    fn begin(&self, batch: u64, now: u64, token: &str) -> Result<Begun, Problem>;
    /// Deletes a cached answer.
    fn forget(&self, hash: &str);
    /// feed's records of these `video:<id>` keys (from Redis), in order.
    fn videos(&self, keys: &[String]) -> Result<Vec<Option<String>>, Problem>;
    /// A record from the key-value store (users, and their names for video documents).
    fn record(&self, key: &str) -> Result<Option<String>, String>;
    /// Creates the index if missing.
    async fn prepare(&self) -> Result<(), EngineError>;
    /// Writes documents, keeping newer versions.
    async fn apply(&self, docs: &[Doc]) -> Result<Vec<DocResult>, EngineError>;
    /// The sync-settle script: the generation after it.
    fn settle(&self, applied: u64, now: u64, settles: &[(&Read, &Settle)]) -> Result<u64, Problem>;
}

/// Runs one pass of at most `batch` changes; busy while another pass runs or the breaker keeps
/// the engine out.
pub(crate) async fn run<P: Ports>(ports: &P, batch: u64, state: &State) -> Result<PassReport, Problem> {
    let mut report = PassReport { generation: state.generation, ..PassReport::default() };
    if state.breaker.gate(ports.now_ms()) != Gate::Closed {
        report.busy = true;
        return Ok(report);
    }
    // Misconfiguration is the operator's 500, not an engine failure.
    ports.check_engine()?;
    ports.settings().for_a_pass()?;
    let token = ports.token();
    let now = ports.now_ms();
    let (stale, reads) = match ports.begin(batch, now, &token)? {
        Begun::Busy => {
            report.busy = true;
            return Ok(report);
        }
        Begun::Leased { stale, reads } => (stale, reads),
    };
    for hash in &stale {
        ports.forget(hash);
    }
    report.read = reads.len();
    if reads.is_empty() {
        return Ok(report);
    }
    let result = apply(ports, &reads, now, &mut report).await;
    let _ = ports.release(keys::SYNC_LEASE, &token);
    match result {
        Ok(()) => Ok(report),
        Err(error) => {
            ports.record_failure(ports.now_ms(), false);
            Err(Problem::unavailable("search-unavailable", format!("the sync pass failed ({error}); it is retried on the next pass")))
        }
    }
}

async fn apply<P: Ports>(ports: &P, reads: &[Read], now: u64, report: &mut PassReport) -> Result<(), EngineError> {
    let failed = |problem: Problem| EngineError(problem.detail().to_owned());
    let (base_ms, attempts) = (ports.settings().retry_base_ms().map_err(failed)?, ports.settings().max_attempts().map_err(failed)?);
    let after_failure = |read: &Read, error: String| sync::after_failure(read, error, now, base_ms, attempts);
    ports.prepare().await?;
    let winners = sync::winners(reads);
    let mut settles: Vec<Settle> = vec![Settle::Ack; reads.len()];
    let mut docs = Vec::new();
    let mut doc_reads = Vec::new();
    for (i, doc) in winners.iter().copied().zip(documents(ports, reads, &winners).map_err(failed)?) {
        match doc {
            Ok(doc) => {
                docs.push(doc);
                doc_reads.push(i);
            }
            Err(error) => settles[i] = after_failure(&reads[i], error),
        }
    }
    for (i, read) in reads.iter().enumerate() {
        if let Err(error) = &read.change {
            settles[i] = after_failure(read, error.clone());
        }
    }
    for (i, result) in doc_reads.into_iter().zip(ports.apply(&docs).await?) {
        match result {
            Ok(()) => report.applied += 1,
            Err(error) => settles[i] = after_failure(&reads[i], error),
        }
    }
    for settle in &settles {
        match settle {
            Settle::Ack => {}
            Settle::Retry(..) => report.retried += 1,
            Settle::Park(_) => report.parked += 1,
        }
    }
    let pairs: Vec<(&Read, &Settle)> = reads.iter().zip(&settles).collect();
    report.generation = ports.settle(report.applied as u64, now, &pairs).map_err(failed)?;
    Ok(())
}

/// The documents of the winning changes, in order: tombstones for deletes (and for records
/// gone since), else the current record (videos from feed's Redis records, users from the
/// key-value store). `Err` for a record that cannot be read as a document.
fn documents<P: Ports>(ports: &P, reads: &[Read], winners: &[usize]) -> Result<Vec<Result<Doc, String>>, Problem> {
    let changes: Vec<&sync::Change> = winners.iter().filter_map(|&i| reads[i].change.as_ref().ok()).collect();
    let video_keys: Vec<String> = changes.iter().filter(|c| c.kind() == Kind::Video && !c.is_delete()).map(|c| c.key()).collect();
    let videos: BTreeMap<String, Option<String>> =
        if video_keys.is_empty() { BTreeMap::new() } else { video_keys.iter().cloned().zip(ports.videos(&video_keys)?).collect() };
    let mut names = UserNames::default();
    Ok(changes
        .iter()
        .map(|change| {
            if change.is_delete() {
                return Ok(Doc::tombstone(change.kind(), &change.id, change.version));
            }
            let record = match change.kind() {
                Kind::Video => videos.get(&change.key()).cloned().flatten(),
                Kind::User => ports.record(&change.key()).map_err(|e| format!("key-value store: {e}"))?,
            };
            let Some(record) = record else {
                // Deleted since; its delete change follows with a higher version.
                return Ok(Doc::tombstone(change.kind(), &change.id, change.version));
            };
            match change.kind() {
                Kind::Video => records::video_doc(&record, |author| names.get(ports, author)),
                Kind::User => records::user_doc(&record, change.version),
            }
        })
        .collect())
}

/// Authors' usernames, read once per pass (or reindex call).
#[derive(Default)]
pub(crate) struct UserNames(BTreeMap<String, Option<String>>);

impl UserNames {
    /// The username of `user_id`, from its record.
    pub(crate) fn get<P: Ports>(&mut self, ports: &P, user_id: &str) -> Option<String> {
        if user_id.is_empty() {
            return None;
        }
        self.0
            .entry(user_id.to_owned())
            .or_insert_with(|| ports.record(&edge_protocol::keys::user_key(user_id)).ok().flatten().and_then(|r| records::username(&r)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::breaker::Breaker;
    use crate::memory::Memory;
    use crate::sync::Change;
    use futures::executor::block_on;

    fn change(entry: &str, kind: &str, id: &str, version: u64, op: &str) -> Read {
        let change = Change { kind: kind.into(), id: id.into(), version, op: op.into() };
        Read { entry: entry.into(), change: Ok(change), attempts: 0, fields: Vec::new() }
    }

    fn video(id: u64, author: &str, version: u64) -> String {
        format!(r#"{{"id":{id},"author":"{author}","title":"t{id}","version":{version}}}"#)
    }

    fn pass(m: &Memory, state: State) -> Result<PassReport, Problem> {
        block_on(run(m, 100, &state))
    }

    fn state() -> State {
        State { generation: 7, breaker: Breaker::default() }
    }

    #[test]
    fn the_newest_change_per_record_is_applied_as_its_current_record_and_every_entry_is_settled() {
        let mut m = Memory::new(vec![
            change("1-0", "video", "10", 1, "upsert"),
            change("2-0", "video", "10", 2, "upsert"),
            change("3-0", "user", "u1", 4, "upsert"),
        ]);
        m.videos.insert("video:10".into(), video(10, "u1", 2));
        m.records.insert("user:u1".into(), r#"{"id":"u1","username":"ann","display_name":"Ann","created_at":5,"version":4}"#.into());
        let report = pass(&m, state()).unwrap();
        assert_eq!((report.read, report.applied, report.retried, report.parked, report.generation), (3, 2, 0, 0, 8));
        let applied = m.applied.borrow();
        assert_eq!(
            applied.iter().map(|d| (d.key(), d.version)).collect::<Vec<_>>(),
            [("video:10".to_owned(), 2), ("user:u1".to_owned(), 4)]
        );
        assert_eq!(applied[0].username, "ann", "the author's name comes from the user record");
        assert_eq!(m.settled(), [("1-0".to_owned(), "ack"), ("2-0".to_owned(), "ack"), ("3-0".to_owned(), "ack")]);
        assert_eq!(*m.released.borrow(), ["search:sync:lease token-1"]);
    }

    #[test]
    fn deletes_and_records_gone_since_become_tombstones() {
        let m = Memory::new(vec![change("1-0", "video", "10", 3, "delete"), change("2-0", "video", "11", 1, "upsert")]);
        pass(&m, state()).unwrap();
        let applied = m.applied.borrow();
        assert!(applied.iter().all(|d| !d.live), "{applied:?}");
        assert_eq!(
            applied.iter().map(|d| (d.key(), d.version)).collect::<Vec<_>>(),
            [("video:10".to_owned(), 3), ("video:11".to_owned(), 1)]
        );
    }

    #[test]
    fn failures_are_retried_with_backoff_then_parked_and_unreadable_entries_park_at_once() {
        let mut m = Memory::new(vec![
            change("1-0", "video", "10", 1, "upsert"),
            Read { attempts: 2, ..change("2-0", "video", "11", 1, "upsert") },
            Read { entry: "3-0".into(), change: Err("kind is missing".into()), attempts: 0, fields: vec!["x".into()] },
            change("4-0", "video", "12", 1, "upsert"),
        ]);
        m.refused = vec!["video:10".into(), "video:11".into()];
        m.videos.insert("video:10".into(), video(10, "", 1));
        m.videos.insert("video:11".into(), video(11, "", 1));
        m.videos.insert("video:12".into(), "{not json".into());
        let report = pass(&m, state()).unwrap();
        assert_eq!((report.applied, report.retried, report.parked), (0, 2, 2));
        assert_eq!(
            m.settled(),
            [("1-0".to_owned(), "retry"), ("2-0".to_owned(), "park"), ("3-0".to_owned(), "park"), ("4-0".to_owned(), "retry")]
        );
        let settled = m.settled.borrow();
        let Settle::Retry(at, failure) = &settled[0].1 else { unreachable!() };
        assert_eq!((*at, failure.attempts, failure.error.as_str()), (1_000_000 + 1000, 1, "mapping conflict"));
        assert_eq!(report.generation, 7, "nothing applied, the generation stays");
    }

    #[test]
    fn an_engine_failure_fails_the_pass_releases_the_lease_and_counts_for_the_breaker() {
        let mut m = Memory::new(vec![change("1-0", "video", "10", 1, "upsert")]);
        m.videos.insert("video:10".into(), video(10, "", 1));
        m.engine_down.set(true);
        let problem = pass(&m, state()).unwrap_err();
        assert_eq!((problem.status().as_u16(), problem.code()), (503, "search-unavailable"));
        assert!(m.settled.borrow().is_empty(), "nothing is settled, so the entries stay pending for the next pass");
        assert_eq!((m.failures.get(), m.released.borrow().len()), (1, 1));
    }

    #[test]
    fn a_pass_is_busy_while_another_holds_the_lease_or_the_breaker_is_open() {
        let m = Memory::new(Vec::new());
        *m.begun.borrow_mut() = Some(Begun::Busy);
        assert!(pass(&m, state()).unwrap().busy);
        let m = Memory::new(vec![change("1-0", "video", "10", 1, "upsert")]);
        let open = State { generation: 7, breaker: Breaker { open_until: Some(1_000_000 + 1), failures: 0 } };
        assert!(pass(&m, open).unwrap().busy);
        assert!(m.begun.borrow().is_some(), "an open breaker keeps the pass from reading anything");
    }

    #[test]
    fn stale_cache_entries_are_dropped_even_when_no_change_waits() {
        let m = Memory::new(Vec::new());
        *m.begun.borrow_mut() = Some(Begun::Leased { stale: vec!["h1".into(), "h2".into()], reads: Vec::new() });
        let report = pass(&m, state()).unwrap();
        assert_eq!((report.busy, report.read), (false, 0));
        assert_eq!(*m.forgotten.borrow(), ["h1", "h2"]);
        assert!(m.released.borrow().is_empty(), "the begin script released the lease itself");
    }
}
