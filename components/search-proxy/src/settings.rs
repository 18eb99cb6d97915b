//! Search-proxy's settings, each a Spin variable whose default and description are in
//! spin.toml; read with [`edge_spin::setting`] by the route that uses it (the tuning through
//! [`crate::ports::Settings`], each when a request first needs it). The shared ones are
//! [`edge_spin::settings`].

use edge_http::setting::{Number, Text};

/// The engine: `sqlite` (FTS5 in Spin's SQLite), `elasticsearch` or `opensearch`.
pub(crate) const SEARCH_BACKEND: Text = Text::new("search_backend");
/// The Elasticsearch or OpenSearch base URL.
pub(crate) const SEARCH_URL: Text = Text::new("search_url");
/// The Elasticsearch or OpenSearch index.
pub(crate) const SEARCH_INDEX: Text = Text::new("search_index");
/// How long an answer is fresh.
pub(crate) const SEARCH_CACHE_SECS: Number = Number::new("search_cache_secs", 0, 86_400);
/// How long an answer may stand in while the engine is down.
pub(crate) const SEARCH_STALE_SECS: Number = Number::new("search_stale_secs", 0, 7 * 86_400);
/// How long a request waits for another one computing its answer.
pub(crate) const SEARCH_COALESCE_WAIT_MS: Number = Number::new("search_coalesce_wait_ms", 0, 10_000);
/// Searches per client address per minute.
pub(crate) const SEARCH_PER_CLIENT_PER_MINUTE: Number = Number::new("search_per_client_per_minute", 1, 1_000_000_000);
/// Suggestion requests per client address per minute.
pub(crate) const SUGGEST_PER_CLIENT_PER_MINUTE: Number = Number::new("suggest_per_client_per_minute", 1, 1_000_000_000);
/// Engine failures within 30 s that open the breaker.
pub(crate) const SEARCH_BREAKER_FAILURES: Number = Number::new("search_breaker_failures", 1, 1000);
/// How long an open breaker keeps the engine out.
pub(crate) const SEARCH_BREAKER_COOLDOWN_MS: Number = Number::new("search_breaker_cooldown_ms", 0, 3_600_000);
/// Changes a search that misses the cache applies first.
pub(crate) const SEARCH_SYNC_BATCH: Number = Number::new("search_sync_batch", 1, 1000);
/// The first retry delay of a failing change (doubling each time).
pub(crate) const SEARCH_SYNC_RETRY_MS: Number = Number::new("search_sync_retry_ms", 1, 3_600_000);
/// Attempts before a failing change is parked.
pub(crate) const SEARCH_SYNC_ATTEMPTS: Number = Number::new("search_sync_attempts", 1, 100);
