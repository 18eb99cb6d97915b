//! Index sync from the app's change stream (`feed:changes`: videos from feed, users from auth):
//! what a change is, which changes of a batch to apply, and when a failing one is retried or
//! parked. Pure, plus the Redis scripts the pass runs.
//!
//! A pass reads through the consumer group `search`: first retries that are due, then its own
//! pending entries (a pass that died midway), then new entries. Every entry read is settled in
//! one script: acknowledged, scheduled for retry with exponential backoff, or parked with its
//! error. Documents carry record versions, so replays and reordering are harmless.

use edge_protocol::changes;
use edge_spin::script::{Count, Script};
use serde::{Deserialize, Serialize};

use crate::params::Kind;

/// The consumer group of the indexer.
pub(crate) const GROUP: &str = "search";
/// The one consumer name: a lease makes passes run one at a time, so a pass that died leaves
/// its pending entries to the next pass under the same name.
pub(crate) const CONSUMER: &str = "indexer";
/// Longest a pass may hold the lease.
pub(crate) const LEASE_MS: u64 = 30_000;
/// Longest wait between retries.
pub(crate) const BACKOFF_CAP_MS: u64 = 300_000;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Change {
    /// `video` or `user`.
    pub kind: String,
    /// Record id.
    pub id: String,
    /// The record's version after the change.
    pub version: u64,
    /// `upsert` or `delete`.
    pub op: String,
}

impl Change {
    /// A change from a stream entry's field-value list; `Err` says what is wrong with it.
    pub(crate) fn from_fields(fields: &[String]) -> Result<Change, String> {
        let get = |name: &str| fields.chunks(2).find(|kv| kv[0] == name).and_then(|kv| kv.get(1)).cloned();
        let kind = get(changes::KIND).filter(|k| Kind::parse(k).is_some()).ok_or("kind is missing or not video/user")?;
        let id = get(changes::ID).filter(|id| !id.is_empty() && id.len() <= 64).ok_or("id is missing")?;
        let version = get(changes::VERSION).and_then(|v| v.parse().ok()).ok_or("version is missing or not a number")?;
        let op =
            get(changes::OP).filter(|op| op == changes::UPSERT || op == changes::DELETE).ok_or("op is missing or not upsert/delete")?;
        Ok(Change { kind, id, version, op })
    }

    /// The record kind.
    pub(crate) fn kind(&self) -> Kind {
        Kind::parse(&self.kind).unwrap_or(Kind::Video)
    }

    /// The document key it changes.
    pub(crate) fn key(&self) -> String {
        format!("{}:{}", self.kind, self.id)
    }

    /// Whether the record was deleted.
    pub(crate) fn is_delete(&self) -> bool {
        self.op == changes::DELETE
    }
}

/// A change that failed, as kept for a retry or parked for inspection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Failure {
    /// The change; `None` when the entry itself was unreadable.
    pub change: Option<Change>,
    /// The entry's fields as read, when unreadable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error.
    pub error: String,
    /// When it last failed (ms since the Unix epoch).
    pub failed_at: u64,
}

/// One entry read by a pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Read {
    /// Stream entry id.
    pub entry: String,
    /// The change, or why the entry is unreadable (it is parked at once).
    pub change: Result<Change, String>,
    /// Failed attempts before this one.
    pub attempts: u32,
    /// The raw fields (kept when parking an unreadable entry).
    pub fields: Vec<String>,
}

/// Entries from the [`BEGIN`] script's flat reply: `retry, <id>, <failure json>` for due retries
/// and `<id>, <fields json>` for stream entries (`false` fields: the entry was trimmed away).
pub(crate) fn parse_read(reply: &[Option<String>]) -> Vec<Read> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < reply.len() {
        if reply[i].as_deref() == Some("retry") {
            let entry = reply.get(i + 1).cloned().flatten().unwrap_or_default();
            let failure = reply.get(i + 2).cloned().flatten().and_then(|j| serde_json::from_str::<Failure>(&j).ok());
            if let Some(f) = failure {
                let change = f.change.clone().ok_or_else(|| f.error.clone());
                out.push(Read { entry, change, attempts: f.attempts, fields: f.fields });
            } else {
                out.push(Read { entry, change: Err("retry record unreadable".into()), attempts: 0, fields: Vec::new() });
            }
            i += 3;
        } else {
            let entry = reply[i].clone().unwrap_or_default();
            let fields: Option<Vec<String>> = reply.get(i + 1).cloned().flatten().and_then(|j| serde_json::from_str(&j).ok());
            let change = match &fields {
                Some(f) => Change::from_fields(f),
                None => Err("the entry is no longer in the stream (trimmed)".into()),
            };
            out.push(Read { entry, change, attempts: 0, fields: fields.unwrap_or_default() });
            i += 2;
        }
    }
    out
}

/// The changes to apply: for each document key, the readable change with the highest version
/// (the others are superseded and only acknowledged). Indexes into `reads`.
pub(crate) fn winners(reads: &[Read]) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::new();
    for (i, read) in reads.iter().enumerate() {
        let Ok(change) = &read.change else { continue };
        match best.iter().position(|&j| reads[j].change.as_ref().map(Change::key).ok() == Some(change.key())) {
            Some(slot) => {
                let current = reads[best[slot]].change.as_ref().map(|c| c.version).unwrap_or(0);
                if change.version > current {
                    best[slot] = i;
                }
            }
            None => best.push(i),
        }
    }
    best
}

/// How long to wait before attempt `attempts + 1` after `attempts` failures.
pub(crate) fn backoff_ms(attempts: u32, base_ms: u64) -> u64 {
    base_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(20)).min(BACKOFF_CAP_MS)
}

/// What happens to an entry after a pass.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Settle {
    /// Done (applied, superseded, or nothing to do).
    Ack,
    /// Try again at this time.
    Retry(u64, Failure),
    /// Give up and keep it for inspection.
    Park(Failure),
}

/// The settlement of an entry that failed with `error`: retried with backoff until it has
/// failed `max_attempts` times, then parked. Unreadable entries park at once.
pub(crate) fn after_failure(read: &Read, error: String, now: u64, base_ms: u64, max_attempts: u32) -> Settle {
    let attempts = read.attempts + 1;
    let failure = Failure { change: read.change.clone().ok(), fields: read.fields.clone(), attempts, error, failed_at: now };
    if read.change.is_err() || attempts >= max_attempts {
        Settle::Park(failure)
    } else {
        Settle::Retry(now + backoff_ms(attempts, base_ms), failure)
    }
}

/// Starts a pass (`KEYS`: stream, retry set, retry data, lease, cache expiry index; `ARGV`:
/// group, consumer, count, now, lease token, lease ms, cache entries to drop). Without the lease
/// it answers `{0}`. With it: takes cache entries past their stale time off the expiry index
/// (the caller deletes them), creates the group the first time (from the start of the stream),
/// and reads due retries, then this consumer's pending entries, then new ones. Answers
/// `{1, n, <n hashes>, <entries>}` with entries as [`parse_read`] reads them; with no entries it
/// has already released the lease.
pub(crate) static BEGIN: Script = Script::new("sync-begin", include_str!("scripts/sync-begin.lua"), Count::Exactly(5), Count::Exactly(7));

/// Settles a pass (`KEYS`: stream, retry set, retry data, parked, generation, stats; `ARGV`:
/// group, applied count, now, then `op, entry, score, json` per entry with op `ack`, `retry` or
/// `park`). Moves the generation when documents were applied; answers it.
pub(crate) static SETTLE: Script =
    Script::new("sync-settle", include_str!("scripts/sync-settle.lua"), Count::Exactly(6), Count::AtLeast(3));

/// The indexer's position (`KEYS`: stream, retry set, parked, generation, stats; `ARGV`:
/// group): pending, lag (-1 when Redis cannot tell), stream length, retrying, parked,
/// generation, last pass time, documents applied.
pub(crate) static STATUS: Script =
    Script::new("sync-status", include_str!("scripts/sync-status.lua"), Count::Exactly(5), Count::Exactly(1));

/// Deletes a key if it still holds `ARGV[1]` (releasing a lease or lock only its holder holds).
pub(crate) static RELEASE: Script =
    Script::new("sync-release", include_str!("scripts/sync-release.lua"), Count::Exactly(1), Count::Exactly(1));

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn read(entry: &str, id: &str, version: u64) -> Read {
        let change = Change { kind: "video".into(), id: id.into(), version, op: "upsert".into() };
        Read { entry: entry.into(), change: Ok(change), attempts: 0, fields: Vec::new() }
    }

    #[test]
    fn changes_are_read_from_entry_fields() {
        let change = Change::from_fields(&fields(&["kind", "video", "id", "12", "version", "3", "op", "delete"])).unwrap();
        assert_eq!((change.key(), change.version, change.is_delete()), ("video:12".to_owned(), 3, true));
        assert!(Change::from_fields(&fields(&["kind", "video", "id", "12", "version", "x", "op", "upsert"])).is_err());
        assert!(Change::from_fields(&fields(&["kind", "post", "id", "12", "version", "1", "op", "upsert"])).is_err());
        assert!(Change::from_fields(&fields(&["kind", "video", "id"])).is_err());
    }

    #[test]
    fn read_replies_parse_entries_retries_and_trimmed_entries() {
        let failure = Failure { change: read("", "7", 2).change.ok(), fields: Vec::new(), attempts: 2, error: "e".into(), failed_at: 1 };
        let reply: Vec<Option<String>> = vec![
            Some("retry".into()),
            Some("1-0".into()),
            Some(serde_json::to_string(&failure).unwrap()),
            Some("2-0".into()),
            Some(r#"["kind","user","id","u1","version","1","op","upsert"]"#.into()),
            Some("3-0".into()),
            Some("false".into()),
        ];
        let reads = parse_read(&reply);
        assert_eq!(reads.len(), 3);
        assert_eq!((reads[0].entry.as_str(), reads[0].attempts), ("1-0", 2));
        assert_eq!(reads[1].change.as_ref().unwrap().key(), "user:u1");
        assert!(reads[2].change.is_err());
    }

    #[test]
    fn the_newest_change_per_record_wins_whatever_the_order() {
        let reads = vec![read("1", "a", 3), read("2", "b", 1), read("3", "a", 5), read("4", "a", 4)];
        assert_eq!(winners(&reads), vec![2, 1]);
    }

    #[test]
    fn failures_back_off_then_park() {
        assert_eq!([1, 2, 3, 4].map(|a| backoff_ms(a, 1000)), [1000, 2000, 4000, 8000]);
        assert_eq!(backoff_ms(40, 1000), BACKOFF_CAP_MS);
        let mut r = read("1", "a", 1);
        assert!(matches!(after_failure(&r, "x".into(), 100, 1000, 3), Settle::Retry(1100, _)));
        r.attempts = 2;
        assert!(matches!(after_failure(&r, "x".into(), 100, 1000, 3), Settle::Park(f) if f.attempts == 3 && f.error == "x"));
        let unreadable = Read { entry: "2".into(), change: Err("bad".into()), attempts: 0, fields: fields(&["k"]) };
        assert!(matches!(after_failure(&unreadable, "bad".into(), 0, 1000, 3), Settle::Park(f) if f.fields == ["k"]));
    }
}
