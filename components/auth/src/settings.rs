//! Tunables from Spin variables, parsed once per request with clear errors.

/// Everything auth reads from variables besides keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Failed sign-ins per account within the window before 429.
    pub max_failures: u64,
    /// Sign-in attempts per client address within the window before 429.
    pub max_failures_per_client: u64,
    /// The sliding window for both, in seconds.
    pub failure_window_secs: u64,
    /// A refresh token unused this long expires (sliding), in seconds.
    pub refresh_idle_secs: u64,
    /// No session outlives this, refreshed or not, in seconds.
    pub refresh_absolute_secs: u64,
    /// How long after a rotation the previous token still yields the same successor.
    pub refresh_grace_secs: u64,
    /// Refreshes allowed per session per minute.
    pub refresh_per_minute: u64,
    /// A new sign-in signs out every other session of the user.
    pub single_device: bool,
    /// Usernames that get the `admin` role when they register.
    pub admin_usernames: Vec<String>,
}

impl Settings {
    /// Reads the settings through `get` (a variable lookup).
    pub fn parse(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let number = |name: &str, default: u64, range: std::ops::RangeInclusive<u64>| -> Result<u64, String> {
            let Some(raw) = get(name).filter(|v| !v.trim().is_empty()) else {
                return Ok(default);
            };
            let value: u64 = raw.trim().parse().map_err(|_| format!("{name} must be a whole number, got {raw:?}"))?;
            if !range.contains(&value) {
                return Err(format!("{name} must be between {} and {}", range.start(), range.end()));
            }
            Ok(value)
        };
        let single_device = match get("single_device").as_deref().map(str::trim) {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => return Err(format!("single_device must be true or false, got {other:?}")),
        };
        let settings = Settings {
            max_failures: number("login_max_failures", 5, 1..=1000)?,
            max_failures_per_client: number("login_max_failures_per_client", 20, 1..=100_000)?,
            failure_window_secs: number("login_window_secs", 900, 1..=86_400)?,
            refresh_idle_secs: number("refresh_idle_secs", 7 * 86_400, 60..=90 * 86_400)?,
            refresh_absolute_secs: number("refresh_absolute_secs", 30 * 86_400, 60..=365 * 86_400)?,
            refresh_grace_secs: number("refresh_grace_secs", 10, 0..=120)?,
            refresh_per_minute: number("refresh_per_minute", 10, 1..=10_000)?,
            single_device,
            admin_usernames: get("admin_usernames")
                .unwrap_or_default()
                .split(',')
                .map(|u| u.trim().to_ascii_lowercase())
                .filter(|u| !u.is_empty())
                .collect(),
        };
        if settings.refresh_idle_secs > settings.refresh_absolute_secs {
            return Err("refresh_idle_secs cannot exceed refresh_absolute_secs".into());
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let defaults = Settings::parse(|_| None).unwrap();
        assert_eq!((defaults.max_failures, defaults.failure_window_secs, defaults.refresh_grace_secs), (5, 900, 10));
        assert!(!defaults.single_device);
        let custom = Settings::parse(|k| match k {
            "login_max_failures" => Some("3".into()),
            "single_device" => Some("true".into()),
            "admin_usernames" => Some(" Root, ops ".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(custom.max_failures, 3);
        assert!(custom.single_device);
        assert_eq!(custom.admin_usernames, vec!["root", "ops"]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Settings::parse(|k| (k == "login_window_secs").then(|| "soon".into())).unwrap_err();
        assert!(err.contains("login_window_secs"), "{err}");
        assert!(Settings::parse(|k| (k == "single_device").then(|| "yes".into())).is_err());
        let inverted = Settings::parse(|k| match k {
            "refresh_idle_secs" => Some("7200".into()),
            "refresh_absolute_secs" => Some("3600".into()),
            _ => None,
        });
        assert!(inverted.is_err());
    }
}
