//! The circuit breaker around the engine, its state in Redis so every instance agrees: after
//! `breaker_failures` failures within a window it opens for `breaker_cooldown_ms`; then one
//! request probes the engine, closing the breaker on success and reopening it on failure.

use edge_spin::script::{Count, Script};

/// Failures count towards opening within this window.
pub(crate) const FAILURE_WINDOW_MS: u64 = 30_000;

/// The breaker as read at the start of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Breaker {
    /// When the breaker may be probed; `None` when closed.
    pub open_until: Option<u64>,
    /// Failures in the current window.
    pub failures: u64,
}

/// What a request may do with the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Call it.
    Closed,
    /// Do not call it: serve stale results or the fallback.
    Open,
    /// The cool-down has passed: one request (the one that wins [`crate::keys::BREAKER_PROBE`]) calls it.
    Probe,
}

impl Breaker {
    /// The gate at `now`.
    pub(crate) fn gate(&self, now: u64) -> Gate {
        match self.open_until {
            None => Gate::Closed,
            Some(until) if now < until => Gate::Open,
            Some(_) => Gate::Probe,
        }
    }

    /// Whether a success has anything to reset.
    pub(crate) fn needs_reset(&self) -> bool {
        self.open_until.is_some() || self.failures > 0
    }
}

/// Counts a failure (`KEYS`: [`FAILURES`], [`OPEN_UNTIL`], [`crate::keys::BREAKER_PROBE`]; `ARGV`: now, threshold,
/// cool-down, window, `probe` when the failed call was the probe) and opens the breaker when
/// the threshold is reached or a probe failed. Answers 1 when it opened.
pub(crate) static RECORD_FAILURE: Script =
    Script::new("breaker-record-failure", include_str!("scripts/breaker-record-failure.lua"), Count::Exactly(3), Count::Exactly(5));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_follows_the_cool_down() {
        assert_eq!(Breaker::default().gate(5), Gate::Closed);
        let open = Breaker { open_until: Some(100), failures: 0 };
        assert_eq!(open.gate(99), Gate::Open);
        assert_eq!(open.gate(100), Gate::Probe);
        assert!(open.needs_reset());
        assert!(Breaker { open_until: None, failures: 2 }.needs_reset());
        assert!(!Breaker::default().needs_reset());
    }
}
