//! Auth's settings, each a Spin variable whose default and description are in spin.toml, and
//! [`Settings`], which reads them on first use and checks them with a clear error, so an
//! endpoint reads only the settings it uses (every variable read is a host call on Spin). The
//! shared ones are [`edge_spin::settings`].

use std::cell::OnceCell;

use edge_http::setting::{Flag, Number, Once, Source, Text};
use edge_http::Problem;

/// The private keys access tokens are signed with (see `edge_auth::KeySet`).
pub(crate) const JWT_SIGNING_KEYS: Text = Text::new("jwt_signing_keys");
/// Failed sign-ins per account within the window before 429.
pub(crate) const LOGIN_MAX_FAILURES: Number = Number::new("login_max_failures", 1, 1000);
/// Sign-in attempts per client address within the window before 429.
pub(crate) const LOGIN_MAX_FAILURES_PER_CLIENT: Number = Number::new("login_max_failures_per_client", 1, 100_000);
/// The sliding window of both, in seconds.
pub(crate) const LOGIN_WINDOW_SECS: Number = Number::new("login_window_secs", 1, 86_400);
/// A refresh token unused this long expires (sliding), in seconds.
pub(crate) const REFRESH_IDLE_SECS: Number = Number::new("refresh_idle_secs", 60, 90 * 86_400);
/// No session outlives this, refreshed or not, in seconds.
pub(crate) const REFRESH_ABSOLUTE_SECS: Number = Number::new("refresh_absolute_secs", 60, 365 * 86_400);
/// How long after a rotation the previous token still yields the same successor.
pub(crate) const REFRESH_GRACE_SECS: Number = Number::new("refresh_grace_secs", 0, 120);
/// Refreshes allowed per session per minute.
pub(crate) const REFRESH_PER_MINUTE: Number = Number::new("refresh_per_minute", 1, 10_000);
/// `true`: a new sign-in signs out every other session of the user.
pub(crate) const SINGLE_DEVICE: Flag = Flag::new("single_device");
/// The ids of the accounts that are admins, comma-separated.
pub(crate) const ADMIN_USER_IDS: Text = Text::new("admin_user_ids");
/// Sign-ups per client address per hour.
pub(crate) const REGISTER_PER_CLIENT_PER_HOUR: Number = Number::new("register_per_client_per_hour", 1, 1_000_000_000);

/// Everything auth reads from variables besides keys, read lazily through `get`.
pub(crate) struct Settings<G> {
    get: G,
    max_failures: Once<u64>,
    max_failures_per_client: Once<u64>,
    failure_window_secs: Once<u64>,
    refresh_idle_secs: Once<u64>,
    refresh_absolute_secs: Once<u64>,
    refresh_grace_secs: Once<u64>,
    refresh_per_minute: Once<u64>,
    single_device: Once<bool>,
    admin_user_ids: OnceCell<Vec<String>>,
}

impl<G: Source> Settings<G> {
    /// Settings read from `get`, none read yet.
    pub(crate) fn new(get: G) -> Self {
        Settings {
            get,
            max_failures: Once::default(),
            max_failures_per_client: Once::default(),
            failure_window_secs: Once::default(),
            refresh_idle_secs: Once::default(),
            refresh_absolute_secs: Once::default(),
            refresh_grace_secs: Once::default(),
            refresh_per_minute: Once::default(),
            single_device: Once::default(),
            admin_user_ids: OnceCell::new(),
        }
    }

    /// Failed sign-ins per account within the window before 429.
    pub(crate) fn max_failures(&self) -> Result<u64, Problem> {
        self.max_failures.get(&self.get, &LOGIN_MAX_FAILURES)
    }

    /// Sign-in attempts per client address within the window before 429.
    pub(crate) fn max_failures_per_client(&self) -> Result<u64, Problem> {
        self.max_failures_per_client.get(&self.get, &LOGIN_MAX_FAILURES_PER_CLIENT)
    }

    /// The sliding window for both, in seconds.
    pub(crate) fn failure_window_secs(&self) -> Result<u64, Problem> {
        self.failure_window_secs.get(&self.get, &LOGIN_WINDOW_SECS)
    }

    /// A refresh token unused this long expires (sliding), in seconds; never more than
    /// [`Settings::refresh_absolute_secs`].
    pub(crate) fn refresh_idle_secs(&self) -> Result<u64, Problem> {
        let idle = self.refresh_idle_secs.get(&self.get, &REFRESH_IDLE_SECS)?;
        if idle > self.refresh_absolute_secs()? {
            return Err(Problem::misconfigured("refresh_idle_secs cannot exceed refresh_absolute_secs"));
        }
        Ok(idle)
    }

    /// No session outlives this, refreshed or not, in seconds.
    pub(crate) fn refresh_absolute_secs(&self) -> Result<u64, Problem> {
        self.refresh_absolute_secs.get(&self.get, &REFRESH_ABSOLUTE_SECS)
    }

    /// How long after a rotation the previous token still yields the same successor.
    pub(crate) fn refresh_grace_secs(&self) -> Result<u64, Problem> {
        self.refresh_grace_secs.get(&self.get, &REFRESH_GRACE_SECS)
    }

    /// Refreshes allowed per session per minute.
    pub(crate) fn refresh_per_minute(&self) -> Result<u64, Problem> {
        self.refresh_per_minute.get(&self.get, &REFRESH_PER_MINUTE)
    }

    /// A new sign-in signs out every other session of the user.
    pub(crate) fn single_device(&self) -> Result<bool, Problem> {
        self.single_device.get(&self.get, &SINGLE_DEVICE)
    }

    /// The roles of the account `user_id` now: `admin` when `admin_user_ids` names its id. Roles
    /// are never stored with the account, so every sign-in and refresh asks again, and removing
    /// an id takes the role away within one access-token lifetime. A username grants nothing:
    /// anyone may register any free name.
    pub(crate) fn roles_of(&self, user_id: &str) -> Vec<String> {
        let admins = self.admin_user_ids.get_or_init(|| {
            self.get
                .raw(ADMIN_USER_IDS.name)
                .unwrap_or_default()
                .split(',')
                .map(|id| id.trim().to_owned())
                .filter(|id| !id.is_empty())
                .collect()
        });
        if admins.iter().any(|id| id == user_id) {
            vec!["admin".to_owned()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    fn detail(problem: Problem) -> String {
        format!("{problem:?}")
    }

    #[test]
    fn values_are_read_and_missing_ones_name_their_variable() {
        let custom = Settings::new(|k: &str| match k {
            "login_max_failures" => Some("3".into()),
            "single_device" => Some("true".into()),
            "admin_user_ids" => Some(" 0123abcd, 4567ef ".into()),
            _ => None,
        });
        assert_eq!(custom.max_failures().unwrap(), 3);
        assert!(custom.single_device().unwrap());
        assert_eq!((custom.roles_of("4567ef"), custom.roles_of("root")), (vec!["admin".to_owned()], Vec::new()));
        assert!(detail(custom.failure_window_secs().unwrap_err()).contains("login_window_secs"), "no default in Rust");
        assert!(Settings::new(|_: &str| None).single_device().is_err());
    }

    #[test]
    fn each_setting_is_read_once_and_only_when_used() {
        let reads = RefCell::new(Vec::new());
        let settings = Settings::new(|k: &str| {
            reads.borrow_mut().push(k.to_owned());
            Some("600".into())
        });
        settings.max_failures().unwrap();
        settings.max_failures().unwrap();
        settings.refresh_idle_secs().unwrap();
        settings.refresh_idle_secs().unwrap();
        assert_eq!(*reads.borrow(), ["login_max_failures", "refresh_idle_secs", "refresh_absolute_secs"]);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = Settings::new(|k: &str| (k == "login_window_secs").then(|| "soon".into())).failure_window_secs().unwrap_err();
        assert!(detail(err).contains("login_window_secs"));
        assert!(Settings::new(|k: &str| (k == "single_device").then(|| "yes".into())).single_device().is_err());
        let inverted = Settings::new(|k: &str| match k {
            "refresh_idle_secs" => Some("7200".into()),
            "refresh_absolute_secs" => Some("3600".into()),
            _ => None,
        });
        assert!(inverted.refresh_idle_secs().is_err());
    }
}
