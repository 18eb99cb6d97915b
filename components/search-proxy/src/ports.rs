//! What every step of the search core needs from outside (time, randomness, settings, the
//! shared breaker) and the values the cores share. The Spin adapter is [`crate::adapter::Search`]; the cores are [`crate::answer`]
//! and [`crate::pass`], each with its own further ports and in-memory tests.

use edge_http::Problem;

use crate::breaker::Breaker;

/// Tuning from variables.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `search_cache_secs`: how long an answer is fresh.
    pub cache_ms: u64,
    /// `search_stale_secs`: how long an answer may stand in while the engine is down.
    pub stale_ms: u64,
    /// `search_coalesce_wait_ms`: how long a request waits for another one computing its answer.
    pub coalesce_wait_ms: u64,
    /// `search_breaker_failures`: failures within 30 s that open the breaker.
    pub breaker_failures: u64,
    /// `search_breaker_cooldown_ms`: how long an open breaker keeps the engine out.
    pub breaker_cooldown_ms: u64,
    /// `search_sync_batch`: changes a search that misses the cache applies first.
    pub sync_batch: u64,
    /// `search_sync_retry_ms`: first retry delay of a failing change (doubling each time).
    pub retry_base_ms: u64,
    /// `search_sync_attempts`: attempts before a failing change is parked.
    pub max_attempts: u32,
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
    /// The tuning variables; `Err` (the operator's 500) when misconfigured.
    fn settings(&self) -> Result<&Settings, Problem>;
    /// `Err` (the operator's 500) when the engine is misconfigured.
    fn check_engine(&self) -> Result<(), Problem>;
    /// Deletes `key` if `token` still holds it (a lock or the pass lease).
    fn release(&self, key: &str, token: &str) -> Result<(), Problem>;
    /// The breaker script: counts an engine failure at `now` (the probe's failure reopens it).
    fn record_failure(&self, now: u64, probing: bool);
}
