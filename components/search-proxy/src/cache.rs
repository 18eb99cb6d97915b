//! Cached answers in the key-value store: one entry per normalised query, stamped with the
//! index generation it was computed at and two deadlines. Pure.
//!
//! The generation (a Redis counter) moves whenever a sync pass or reindex changes the index, so
//! an entry is fresh only while its generation is current and its short TTL has not passed;
//! older entries are kept until `stale_until` to answer while the engine is down.

/// Key-value key of a cached answer.
pub fn key(hash: &str) -> String {
    format!("search:cache:{hash}")
}

/// Redis key of the lock the one request computing an answer holds.
pub fn lock_key(hash: &str) -> String {
    format!("search:lock:{hash}")
}

/// Redis sorted set of cached hashes by `stale_until`, for removing old entries.
pub const EXPIRY_INDEX: &str = "search:cache:expiry";

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
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
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("v1 {} {} {}\n", self.generation, self.fresh_until, self.stale_until).into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// Reads [`Entry::encode`]'s bytes; anything else is no entry.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
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
    pub fn is_fresh(&self, generation: u64, now: u64) -> bool {
        self.generation >= generation && now < self.fresh_until
    }

    /// Whether it may still be served, marked degraded, while the engine is down.
    pub fn is_usable_stale(&self, now: u64) -> bool {
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
