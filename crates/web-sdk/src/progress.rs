//! Upload progress: bytes and parts done, the recent rate and the time left.

use serde::Serialize;

/// What an upload reports to its `onProgress` listener.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Progress {
    /// `hashing`, `checking` (instant upload), `uploading`, `paused`, `completing`, `done`.
    pub phase: &'static str,
    /// Bytes hashed or stored so far.
    pub bytes: u64,
    /// Bytes in the file.
    pub total: u64,
    /// Parts stored.
    pub parts_done: u64,
    /// Parts in the upload (0 until planned).
    pub parts_total: u64,
    /// Recent bytes per second.
    pub rate: f64,
    /// Seconds left at that rate, when there is one.
    pub eta_secs: Option<f64>,
}

/// Rate over a sliding window of samples, so a stall shows quickly and one burst does not
/// dominate.
#[derive(Debug, Default)]
pub struct Meter {
    samples: std::collections::VecDeque<(f64, u64)>,
}

/// How far back the rate looks, in ms.
const WINDOW_MS: f64 = 5000.0;

impl Meter {
    /// Records that `bytes` were done at `now_ms`, and answers the rate in bytes per second.
    pub fn sample(&mut self, now_ms: f64, bytes: u64) -> f64 {
        self.samples.push_back((now_ms, bytes));
        while self.samples.len() > 2 && self.samples.front().is_some_and(|(t, _)| now_ms - t > WINDOW_MS) {
            self.samples.pop_front();
        }
        let (t0, b0) = self.samples.front().copied().unwrap_or((now_ms, bytes));
        let elapsed = now_ms - t0;
        if elapsed < 1.0 {
            0.0
        } else {
            bytes.saturating_sub(b0) as f64 * 1000.0 / elapsed
        }
    }

    /// Forgets the history (after a pause, the old rate means nothing).
    pub fn reset(&mut self) {
        self.samples.clear();
    }
}

/// Seconds to move `remaining` bytes at `rate` bytes per second.
pub fn eta_secs(remaining: u64, rate: f64) -> Option<f64> {
    (rate > 0.0).then(|| remaining as f64 / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_follows_the_recent_window() {
        let mut m = Meter::default();
        assert_eq!(m.sample(0.0, 0), 0.0);
        assert_eq!(m.sample(1000.0, 1000), 1000.0);
        assert_eq!(m.sample(2000.0, 3000), 1500.0);
        // Ten seconds later at a new pace: the old samples have left the window.
        m.sample(11_000.0, 3000);
        assert_eq!(m.sample(12_000.0, 13_000), 10_000.0);
        m.reset();
        assert_eq!(m.sample(13_000.0, 13_000), 0.0);
    }

    #[test]
    fn eta_needs_a_rate() {
        assert_eq!(eta_secs(1000, 500.0), Some(2.0));
        assert_eq!(eta_secs(1000, 0.0), None);
    }
}
