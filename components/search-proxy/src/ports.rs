//! What every step of the search core needs from outside (time, randomness, settings, the
//! shared breaker) and the values the cores share. The Spin adapter is [`crate::adapter::Search`]; the cores are [`crate::answer`]
//! and [`crate::pass`], each with its own further ports and in-memory tests.

use edge_http::setting::Once;
use edge_http::Problem;

use crate::breaker::Breaker;
use crate::settings;

/// A variable lookup: Spin's variables, or a map in the tests.
type Lookup = dyn Fn(&str) -> Option<String>;

/// The tuning, each setting read from its variable the first time a request needs it (on Spin
/// each read is a host call): a hit reads none, a miss the three it always uses
/// ([`Settings::for_a_miss`]), a sync pass two more ([`Settings::for_a_pass`]), and a wait, a
/// probe or an engine failure the one it needs.
pub(crate) struct Settings {
    read: Box<Lookup>,
    cache_ms: Once<u64>,
    stale_ms: Once<u64>,
    coalesce_wait_ms: Once<u64>,
    breaker_failures: Once<u64>,
    breaker_cooldown_ms: Once<u64>,
    sync_batch: Once<u64>,
    retry_base_ms: Once<u64>,
    max_attempts: Once<u64>,
}

impl Settings {
    /// Settings read through `read` (a variable lookup), none read yet.
    pub(crate) fn new(read: impl Fn(&str) -> Option<String> + 'static) -> Settings {
        Settings {
            read: Box::new(read),
            cache_ms: Once::default(),
            stale_ms: Once::default(),
            coalesce_wait_ms: Once::default(),
            breaker_failures: Once::default(),
            breaker_cooldown_ms: Once::default(),
            sync_batch: Once::default(),
            retry_base_ms: Once::default(),
            max_attempts: Once::default(),
        }
    }

    /// Reads what every miss uses, so a misconfigured one is the operator's 500 before the
    /// engine is asked, not a degraded answer after.
    pub(crate) fn for_a_miss(&self) -> Result<(), Problem> {
        self.cache_ms()?;
        self.stale_ms()?;
        self.sync_batch().map(drop)
    }

    /// Reads what a sync pass uses when a change fails.
    pub(crate) fn for_a_pass(&self) -> Result<(), Problem> {
        self.retry_base_ms()?;
        self.max_attempts().map(drop)
    }

    /// How long an answer is fresh, ms.
    pub(crate) fn cache_ms(&self) -> Result<u64, Problem> {
        self.cache_ms.get(&self.read, &settings::SEARCH_CACHE_SECS).map(|secs| secs * 1000)
    }

    /// How long an answer may stand in while the engine is down, ms.
    pub(crate) fn stale_ms(&self) -> Result<u64, Problem> {
        self.stale_ms.get(&self.read, &settings::SEARCH_STALE_SECS).map(|secs| secs * 1000)
    }

    /// How long a request waits for another one computing its answer, ms.
    pub(crate) fn coalesce_wait_ms(&self) -> Result<u64, Problem> {
        self.coalesce_wait_ms.get(&self.read, &settings::SEARCH_COALESCE_WAIT_MS)
    }

    /// Engine failures within 30 s that open the breaker.
    pub(crate) fn breaker_failures(&self) -> Result<u64, Problem> {
        self.breaker_failures.get(&self.read, &settings::SEARCH_BREAKER_FAILURES)
    }

    /// How long an open breaker keeps the engine out, ms.
    pub(crate) fn breaker_cooldown_ms(&self) -> Result<u64, Problem> {
        self.breaker_cooldown_ms.get(&self.read, &settings::SEARCH_BREAKER_COOLDOWN_MS)
    }

    /// Changes a search that misses the cache applies first.
    pub(crate) fn sync_batch(&self) -> Result<u64, Problem> {
        self.sync_batch.get(&self.read, &settings::SEARCH_SYNC_BATCH)
    }

    /// The first retry delay of a failing change (doubling each time), ms.
    pub(crate) fn retry_base_ms(&self) -> Result<u64, Problem> {
        self.retry_base_ms.get(&self.read, &settings::SEARCH_SYNC_RETRY_MS)
    }

    /// Attempts before a failing change is parked.
    pub(crate) fn max_attempts(&self) -> Result<u32, Problem> {
        self.max_attempts.get(&self.read, &settings::SEARCH_SYNC_ATTEMPTS).map(|n| n as u32)
    }
}

/// What a sync pass did.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct PassReport {
    /// Another pass held the lease, so this one did nothing.
    pub busy: bool,
    /// Entries read (retries included).
    pub read: usize,
    /// Documents written.
    pub applied: usize,
    /// Entries scheduled for a retry.
    pub retried: usize,
    /// Entries parked.
    pub parked: usize,
    /// The index generation after the pass.
    pub generation: u64,
}

/// The shared state a request starts from: the index generation and the breaker.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct State {
    /// The index generation.
    pub generation: u64,
    /// The circuit breaker.
    pub breaker: Breaker,
}

/// Time, randomness, settings and the breaker.
pub(crate) trait Base {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// A new random token (lock and lease ownership).
    fn token(&self) -> String;
    /// The tuning, read as it is needed.
    fn settings(&self) -> &Settings;
    /// `Err` (the operator's 500) when the engine is misconfigured.
    fn check_engine(&self) -> Result<(), Problem>;
    /// Deletes `key` if `token` still holds it (a lock or the pass lease).
    fn release(&self, key: &str, token: &str) -> Result<(), Problem>;
    /// The breaker script: counts an engine failure at `now` (the probe's failure reopens it).
    fn record_failure(&self, now: u64, probing: bool);
}
