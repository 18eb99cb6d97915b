//! Cached answers in the key-value store: one entry per normalised query, stamped with the
//! index generation it was computed at and two deadlines. Pure.
//!
//! The generation (a Redis counter) moves whenever a sync pass or reindex changes the index, so
//! an entry is fresh only while its generation is current and its short TTL has not passed;
//! older entries are kept until `stale_until` to answer while the engine is down.

use edge_spin::redis::{arg, int};
use edge_spin::script::{Count, Script};
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::{keys, sync};

/// How long a computing request holds its lock at most: longer than an engine call should take,
/// so the lock is released explicitly; a holder that died frees it then.
pub const LOCK_MS: u64 = 10_000;

/// Starts an answer in one round trip (`KEYS`: generation, breaker open-until, breaker
/// failures, the query's lock, the change stream, the retry set, [`crate::keys::CACHE_EXPIRY`]; `ARGV`: the
/// cached entry's generation (-1: none) and fresh-until, now, a lock token, the lock's time to
/// live, the indexer's group). Answers generation, open-until, failures, whether the entry is
/// fresh, whether this request took the lock, and (when it did) whether a sync pass has work:
/// unread or pending changes, due retries or cache entries to drop ([`Started`]).
pub static START: Script = Script::new("cache-start", include_str!("scripts/cache-start.lua"), Count::Exactly(7), Count::Exactly(6));

/// [`START`]'s keys for the query whose hash is `hash`.
pub fn start_keys(hash: &str) -> [String; 7] {
    [
        keys::GENERATION,
        keys::BREAKER_OPEN_UNTIL,
        keys::BREAKER_FAILURES,
        &keys::answer_lock(hash),
        keys::CHANGES,
        keys::SYNC_RETRY,
        keys::CACHE_EXPIRY,
    ]
    .map(str::to_owned)
}

/// [`START`]'s arguments: the cached entry's `(generation, fresh_until)` if there is one, the
/// time, and this request's lock token.
pub fn start_args(entry: Option<(u64, u64)>, now_ms: u64, token: &str) -> Vec<RedisParameter> {
    let (generation, fresh_until) = entry.map_or((-1, 0), |(g, f)| (g as i64, f));
    vec![arg(generation), arg(fresh_until), arg(now_ms), arg(token), arg(LOCK_MS), arg(sync::GROUP)]
}

/// What [`START`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Started {
    /// The index generation.
    pub generation: u64,
    /// When the breaker may be probed, if it is open.
    pub open_until: Option<u64>,
    /// Engine failures in the current window.
    pub failures: u64,
    /// The cached entry is current: answer with it.
    pub fresh: bool,
    /// This request took the query's lock and computes the answer.
    pub holding: bool,
    /// A sync pass has work (known only to the lock holder).
    pub sync_work: bool,
}

impl Started {
    /// Reads [`START`]'s reply.
    pub fn decode(reply: &[RedisResult]) -> Started {
        let number = |i: usize| reply.get(i).and_then(int).unwrap_or(0).max(0) as u64;
        Started {
            generation: number(0),
            open_until: Some(number(1)).filter(|&t| t > 0),
            failures: number(2),
            fresh: number(3) == 1,
            holding: number(4) == 1,
            sync_work: number(5) == 1,
        }
    }
}

/// Finishes an engine call in one round trip (`KEYS`: engine-query counter, [`crate::keys::CACHE_EXPIRY`],
/// the lock, breaker open-until, failures, probe; `ARGV`: stale-until of the cached entry (0:
/// nothing cached), its hash, the lock token, `1` to reset the breaker): counts the call,
/// indexes the entry for removal, releases the lock if held, resets the breaker after a success.
pub(crate) static FINISH: Script =
    Script::new("cache-finish", include_str!("scripts/cache-finish.lua"), Count::Exactly(6), Count::Exactly(4));

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Index generation it was computed at.
    pub generation: u64,
    /// Served as fresh until (ms since the Unix epoch).
    pub fresh_until: u64,
    /// Served, marked degraded, while the engine is down until (ms since the Unix epoch).
    pub stale_until: u64,
    /// The JSON answer.
    pub body: Vec<u8>,
}

impl Entry {
    /// The stored bytes: a one-line header, then the body as is (so a hit copies no JSON).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = format!("v1 {} {} {}\n", self.generation, self.fresh_until, self.stale_until).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads [`Entry::encode`]'s bytes; anything else is no entry.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Entry> {
        let newline = bytes.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(&bytes[..newline]).ok()?;
        let mut fields = header.split(' ');
        if fields.next()? != "v1" {
            return None;
        }
        let mut number = || fields.next()?.parse::<u64>().ok();
        let (generation, fresh_until, stale_until) = (number()?, number()?, number()?);
        Some(Entry { generation, fresh_until, stale_until, body: bytes[newline + 1..].to_vec() })
    }

    /// Whether it may be served as current: computed at `generation` or later, TTL not passed.
    pub(crate) fn is_fresh(&self, generation: u64, now: u64) -> bool {
        self.generation >= generation && now < self.fresh_until
    }

    /// Whether it may still be served, marked degraded, while the engine is down.
    pub(crate) fn is_usable_stale(&self, now: u64) -> bool {
        now < self.stale_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_age() {
        let entry = Entry { generation: 7, fresh_until: 100, stale_until: 1000, body: b"{\"a\":\n1}".to_vec() };
        let decoded = Entry::decode(&entry.encode()).unwrap();
        assert_eq!(decoded, entry);
        assert!(entry.is_fresh(7, 99));
        assert!(entry.is_fresh(6, 99), "a coalesced waiter accepts an answer from a later generation");
        assert!(!entry.is_fresh(8, 99), "the index changed since");
        assert!(!entry.is_fresh(7, 100));
        assert!(entry.is_usable_stale(999) && !entry.is_usable_stale(1000));
        assert_eq!(Entry::decode(b"garbage"), None);
        assert_eq!(Entry::decode(b"v2 1 2 3\n{}"), None);
        assert_eq!(Entry::decode(b"v1 1 x 3\n{}"), None);
    }
}
