//! When a failed request is worth repeating, and how long to wait first.

/// Exponential backoff with jitter: attempt `n` (0-based) waits a random time between half and
/// all of `min(base · 2ⁿ, max)`, so clients that failed together do not retry together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Wait before the first retry, in ms.
    pub base_ms: u32,
    /// Longest wait, in ms.
    pub max_ms: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { base_ms: 500, max_ms: 15_000 }
    }
}

impl Backoff {
    /// The wait before retry `attempt`, given `random` uniform in `[0, 1)`.
    pub fn delay_ms(&self, attempt: u32, random: f64) -> u32 {
        let ceiling = u64::from(self.base_ms).saturating_mul(1 << attempt.min(20)).min(u64::from(self.max_ms)) as f64;
        (ceiling * (0.5 + random.clamp(0.0, 1.0) / 2.0)) as u32
    }
}

/// What to do after a part `PUT` answered `status` (0: the network failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored.
    Done,
    /// Transient: wait and send again.
    Retry,
    /// The URL expired or its signature no longer holds: sign again, then send.
    Resign,
    /// The store refused these bytes for good.
    Fail,
}

/// Classifies a store's answer to a part upload.
pub fn classify(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Done,
        0 | 408 | 429 | 500..=599 => Outcome::Retry,
        403 => Outcome::Resign,
        _ => Outcome::Fail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_with_jitter() {
        let b = Backoff { base_ms: 100, max_ms: 1000 };
        assert_eq!(b.delay_ms(0, 0.0), 50);
        assert_eq!(b.delay_ms(0, 0.999_999), 99);
        assert_eq!(b.delay_ms(3, 0.0), 400);
        assert_eq!(b.delay_ms(10, 0.0), 500, "capped at max, then jittered");
        assert_eq!(b.delay_ms(40, 2.0), 1000, "huge attempts and bad randoms stay in range");
    }

    #[test]
    fn answers_map_to_what_to_do() {
        assert_eq!(classify(200), Outcome::Done);
        assert_eq!(classify(0), Outcome::Retry);
        assert_eq!(classify(503), Outcome::Retry);
        assert_eq!(classify(429), Outcome::Retry);
        assert_eq!(classify(403), Outcome::Resign);
        assert_eq!(classify(400), Outcome::Fail);
    }
}
