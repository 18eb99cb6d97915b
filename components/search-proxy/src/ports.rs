//! What every step of the search core needs from outside: time, randomness, settings, and the
//! shared breaker. The Spin adapter is [`crate::service::Search`]; the cores are [`crate::answer`]
//! and [`crate::pass`], each with its own further ports and in-memory tests.

use edge_http::Problem;

use crate::service::Settings;

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
