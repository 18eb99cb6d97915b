//! When an access token should be replaced.

/// Refresh this long before the token expires, so a request never leaves with a token that
/// dies in flight and clock differences of a few seconds do not matter.
pub const REFRESH_MARGIN_MS: f64 = 60_000.0;

/// The expiry, in ms since the Unix epoch, of a token issued at `now_ms` that lives
/// `expires_in_secs`.
pub fn expires_at(now_ms: f64, expires_in_secs: f64) -> f64 {
    now_ms + expires_in_secs * 1000.0
}

/// Whether a token expiring at `expires_at_ms` should be refreshed before use at `now_ms`.
pub fn needs_refresh(now_ms: f64, expires_at_ms: f64) -> bool {
    now_ms + REFRESH_MARGIN_MS >= expires_at_ms
}

/// When to refresh in the background: the margin before expiry, but not sooner than in a
/// second (a token that is already due is refreshed on its next use instead).
pub fn refresh_delay_ms(now_ms: f64, expires_at_ms: f64) -> f64 {
    (expires_at_ms - REFRESH_MARGIN_MS - now_ms).max(1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshes_a_minute_before_expiry() {
        let exp = expires_at(0.0, 900.0);
        assert_eq!(exp, 900_000.0);
        assert!(!needs_refresh(0.0, exp));
        assert!(!needs_refresh(839_999.0, exp));
        assert!(needs_refresh(840_000.0, exp));
        assert_eq!(refresh_delay_ms(0.0, exp), 840_000.0);
        assert_eq!(refresh_delay_ms(899_000.0, exp), 1000.0);
    }
}
