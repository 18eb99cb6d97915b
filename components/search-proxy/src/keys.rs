//! Every key search-proxy reads or writes, one function (or constant) per family. Cached
//! answers live in the key-value store; the rest in Redis, where a loss costs only a cold cache
//! and a resync (README, "State").

/// The change stream feed and auth append to, which the indexer consumes.
pub(crate) use edge_protocol::changes::STREAM as CHANGES;

/// Key-value store: the cached answer of the request with this hash.
pub(crate) fn cached_answer(hash: &str) -> String {
    format!("search:cache:{hash}")
}

/// The lock the one request computing the answer with this hash holds.
pub(crate) fn answer_lock(hash: &str) -> String {
    format!("search:lock:{hash}")
}

/// Sorted set: cached answers' hashes by `stale_until`, for removing old entries.
pub(crate) const CACHE_EXPIRY: &str = "search:cache:expiry";

/// The index generation, moved by every pass that changed the index (cached answers of an
/// older generation are stale).
pub(crate) const GENERATION: &str = "search:generation";

/// The lease a running indexer pass holds.
pub(crate) const SYNC_LEASE: &str = "search:sync:lease";
/// Sorted set: change entry ids waiting for a retry, scored by when it is due.
pub(crate) const SYNC_RETRY: &str = "search:sync:retry";
/// Hash: entry id → the failure of a waiting retry.
pub(crate) const SYNC_RETRY_DATA: &str = "search:sync:retry:data";
/// Hash: entry id → the failure of a parked change.
pub(crate) const SYNC_PARKED: &str = "search:sync:parked";
/// Hash of pass statistics (`last_pass_at`, `applied`).
pub(crate) const SYNC_STATS: &str = "search:sync:stats";

/// When the open breaker may be probed (ms since the Unix epoch); absent = closed.
pub(crate) const BREAKER_OPEN_UNTIL: &str = "search:breaker:open_until";
/// Engine failures counted in the breaker's current window.
pub(crate) const BREAKER_FAILURES: &str = "search:breaker:failures";
/// The one probe a half-open breaker lets through.
pub(crate) const BREAKER_PROBE: &str = "search:breaker:probe";

// The rate-limit windows, each `<prefix>:<client>`.

/// Searches per client address.
pub(crate) const SEARCHES_PER_CLIENT: &str = "limit:searches";
/// Suggestion requests per client address.
pub(crate) const SUGGESTIONS_PER_CLIENT: &str = "limit:suggestions";
