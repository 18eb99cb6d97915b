//! The decisions of signing in: registering, password sign-in with its limits, starting a
//! session on a device, and refreshing (rotation outcomes, reuse, suspended accounts). Pure
//! over [`Ports`]: the Spin adapter (`adapter.rs`) keeps accounts in the key-value store and
//! sessions in Redis through the scripts in [`crate::sessions`]; the tests use memory. The HTTP
//! shapes (cookies, the same-site check, bodies) are the endpoints'.

use edge_auth::{Session, REVOCATION_MARKER_TTL_SECS};
use edge_http::Problem;
use edge_spin::redis::Decision;

use crate::accounts::{self, User};
use crate::sessions::{self, RefreshToken, Rotation};
use crate::settings::Settings;
use crate::{keys, password};

/// Settings read through a variable lookup.
pub(crate) type Lookup = fn(&str) -> Option<String>;

/// A session to create (the [`sessions::CREATE`] script's arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewSession {
    /// The owner.
    pub user_id: String,
    /// Session id.
    pub sid: String,
    /// The device's id (its cookie).
    pub device: String,
    /// The secret its refresh tokens are minted with.
    pub secret: [u8; 32],
    /// When it was created.
    pub now: u64,
    /// Its absolute lifetime.
    pub lifetime_ms: u64,
    /// The device name the user gave.
    pub name: String,
    /// The browser's user agent.
    pub agent: String,
    /// A fresh store incarnation, used if this is the store's first session.
    pub incarnation: String,
}

/// What the [`sessions::ROTATE`] script needs besides the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rotate<'a> {
    /// The session's owner.
    pub owner: &'a str,
    /// The device presenting the token.
    pub device: &'a str,
    /// Now, ms.
    pub now: u64,
    /// How long the previous generation stays honoured.
    pub grace_ms: u64,
    /// Idle lifetime.
    pub idle_ms: u64,
    /// Absolute lifetime.
    pub absolute_ms: u64,
    /// How long a revocation marker lives.
    pub marker_ttl_secs: u64,
}

/// What signing in needs from outside.
pub(crate) trait Ports {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// 32 random hex digits.
    fn random_id(&self) -> String;
    /// 32 random bytes.
    fn secret(&self) -> [u8; 32];
    /// The tunables.
    fn settings(&self) -> &Settings<Lookup>;
    /// The account `id`.
    fn user(&self, id: &str) -> Result<Option<User>, Problem>;
    /// The account named `username` (normalised).
    fn user_by_name(&self, username: &str) -> Result<Option<User>, Problem>;
    /// Whether an account has this name.
    fn name_taken(&self, username: &str) -> Result<bool, Problem>;
    /// Claims `username` for account `id` for a minute, so concurrent registrations agree.
    fn claim_name(&self, username: &str, id: &str) -> Result<bool, Problem>;
    /// Stores a new account and its name (and announces it to search).
    fn add_user(&self, user: &mut User) -> Result<(), Problem>;
    /// The shared limiter: one attempt against every `(key, limit)` within `window_ms`.
    fn limit(&self, limits: &[(&str, u64)], window_ms: u64, attempt: &str) -> Result<Decision, Problem>;
    /// Failed sign-ins to `username` from unknown devices within a day of the last one.
    fn failures_today(&self, username: &str) -> Result<u64, Problem>;
    /// Counts a failed sign-in to `username` from an unknown device.
    fn count_failure(&self, username: &str) -> Result<(), Problem>;
    /// After a successful sign-in: the failure streak counted under `failure_key` and this
    /// attempt under `client_key` (if it was counted per client) are forgotten.
    fn forget_failures(&self, failure_key: &str, client_key: Option<&str>, attempt: &str) -> Result<(), Problem>;
    /// Whether browser `device` signed in as `username` before (and is still remembered).
    fn known_device(&self, username: &str, device: &str) -> Result<bool, Problem>;
    /// Remembers that browser `device` signed in as `username` at `now_ms`.
    fn remember_device(&self, username: &str, device: &str, now_ms: u64) -> Result<(), Problem>;
    /// The user's live session ids.
    fn live_sessions(&self, user_id: &str) -> Result<Vec<String>, Problem>;
    /// Revokes these sessions; how many were live.
    fn revoke(&self, user_id: &str, sids: Vec<String>) -> Result<i64, Problem>;
    /// Creates a session; the owner's epoch and the store incarnation.
    fn create_session(&self, new: &NewSession) -> Result<(u64, String), Problem>;
    /// A session's secret and owner.
    fn session(&self, sid: &str) -> Result<Option<(Vec<u8>, String)>, Problem>;
    /// Rotates a genuine refresh token.
    fn rotate(&self, token: &RefreshToken, rotate: &Rotate) -> Result<Rotation, Problem>;
    /// Signs an access token.
    fn issue(&self, user: &User, session: &Session) -> Result<String, Problem>;
    /// Signs an upload-only token for the same session (the `upload_token` cookie).
    fn issue_for_uploads(&self, user: &User, session: &Session) -> Result<String, Problem>;
}

/// The device signing in, as its request describes it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Device<'a> {
    /// Its `device_id` cookie, if any.
    pub cookie: Option<&'a str>,
    /// The name the user gave it.
    pub name: Option<&'a str>,
    /// Its `User-Agent`.
    pub agent: &'a str,
}

/// A signed-in session: what the answer carries.
#[derive(Debug, Clone)]
pub(crate) struct SignedIn {
    /// The account.
    pub user: User,
    /// The access token.
    pub access_token: String,
    /// The upload-only token for the `upload_token` cookie (Uppy's companion mode).
    pub upload_token: String,
    /// The session id.
    pub session_id: String,
    /// The refresh token for its cookie.
    pub refresh_token: String,
    /// The device id to (re)set in its cookie; `None` on refresh.
    pub device_id: Option<String>,
}

/// What registering asks for.
#[derive(Debug, Clone)]
pub(crate) struct Registration<'a> {
    /// Username as typed.
    pub username: &'a str,
    /// Password.
    pub password: &'a str,
    /// Display name, if given.
    pub display_name: Option<&'a str>,
}

fn invalid_credentials() -> Problem {
    Problem::unauthorized("invalid-credentials", "the username or password is wrong")
}

fn banned() -> Problem {
    Problem::forbidden("account-banned", "this account is suspended")
}

/// Creates an account and signs it in on this device.
pub(crate) fn register<P: Ports>(ports: &P, new: &Registration, device: Device) -> Result<SignedIn, Problem> {
    let username = accounts::normalize_username(new.username)?;
    accounts::check_password(new.password, &username)?;
    let display_name = accounts::display_name(new.display_name, &username)?;
    let taken = || Problem::conflict("username-taken", format!("the username {username:?} is taken")).with("field", "username");
    if ports.name_taken(&username)? {
        return Err(taken());
    }
    let id = ports.random_id();
    if !ports.claim_name(&username, &id)? {
        return Err(taken());
    }
    let mut user = User {
        roles: ports.settings().roles_of(&id),
        id,
        username,
        display_name,
        password_hash: password::hash(new.password),
        banned: false,
        created_at: ports.now_ms(),
        version: 0,
    };
    ports.add_user(&mut user)?;
    start_session(ports, user, device)
}

/// How long failed sign-ins from unknown devices are remembered after the last one.
pub(crate) const FAILURE_MEMORY_MS: u64 = 24 * 60 * 60 * 1000;

/// The window unknown devices' failures are counted in, after `failures_today` of them: the
/// base window, doubled for every `max_failures` failures past the first `max_failures`, at
/// most a day. So each lock-out an attacker sits out is twice as long as the one before.
pub(crate) fn unknown_device_window_ms(base_ms: u64, failures_today: u64, max_failures: u64) -> u64 {
    let doublings = failures_today.saturating_sub(max_failures) / max_failures.max(1);
    base_ms.saturating_mul(1u64 << doublings.min(20)).min(FAILURE_MEMORY_MS).max(base_ms)
}

/// Password sign-in from `client` (an address). A browser that signed in as this account
/// before (its `device_id` cookie remembered, OWASP's device cookies) has a failure budget of
/// its own, so guesses from elsewhere can never lock it out; any other browser counts against
/// the account's budget for unknown devices and its address's, in a window that grows with the
/// day's failures ([`unknown_device_window_ms`]). A wrong password and an unknown account are
/// refused alike, at the same cost.
pub(crate) fn login<P: Ports>(ports: &P, username: &str, password: &str, client: &str, device: Device) -> Result<SignedIn, Problem> {
    let username = accounts::normalize_username(username).map_err(|_| invalid_credentials())?;
    let known = match device.cookie.filter(|d| edge_http::is_random_id(d)) {
        Some(device) if ports.known_device(&username, device)? => Some(device),
        _ => None,
    };
    let (failure_key, client_key) = match known {
        Some(device) => (keys::failures_on_device(&username, device), None),
        None => (keys::failures_from_unknown_devices(&username), Some(keys::failures_from_address(client))),
    };
    let attempt = ports.random_id();
    let settings = ports.settings();
    let (base_ms, max_failures) = (settings.failure_window_secs()? * 1000, settings.max_failures()?);
    let window_ms = match known {
        Some(_) => base_ms,
        None => unknown_device_window_ms(base_ms, ports.failures_today(&username)?, max_failures),
    };
    let mut limits = vec![(failure_key.as_str(), max_failures)];
    if let Some(client_key) = &client_key {
        limits.push((client_key.as_str(), settings.max_failures_per_client()?));
    }
    if let Decision::Limited { retry_after } = ports.limit(&limits, window_ms, &attempt)? {
        let detail = match known {
            Some(_) => "too many failed sign-ins on this device; wait and retry",
            None => "too many failed sign-ins for this account from unknown devices or from this address; wait and retry, or sign in on a device you used before",
        };
        return Err(Problem::too_many_requests("too-many-attempts", detail, retry_after));
    }
    let user = ports.user_by_name(&username)?;
    let genuine = match &user {
        Some(user) => password::verify(password, &user.password_hash),
        None => {
            password::verify_nobody(password);
            false
        }
    };
    let Some(user) = user.filter(|_| genuine) else {
        if known.is_none() {
            ports.count_failure(&username)?;
        }
        return Err(invalid_credentials());
    };
    // A successful sign-in is not a failure: forget this attempt and the streak it counted in.
    ports.forget_failures(&failure_key, client_key.as_deref(), &attempt)?;
    if user.banned {
        return Err(banned());
    }
    start_session(ports, user, device)
}

/// Creates a session on this device (ending the user's others under `single_device`).
fn start_session<P: Ports>(ports: &P, user: User, device: Device) -> Result<SignedIn, Problem> {
    let device_id = device.cookie.filter(|d| edge_http::is_random_id(d)).map(str::to_owned).unwrap_or_else(|| ports.random_id());
    if ports.settings().single_device()? {
        ports.revoke(&user.id, ports.live_sessions(&user.id)?)?;
    }
    let new = NewSession {
        user_id: user.id.clone(),
        sid: ports.random_id(),
        device: device_id.clone(),
        secret: ports.secret(),
        now: ports.now_ms(),
        lifetime_ms: ports.settings().refresh_absolute_secs()? * 1000,
        name: device.name.unwrap_or("").chars().filter(|c| !c.is_control()).take(64).collect(),
        agent: device.agent.chars().take(200).collect(),
        incarnation: ports.random_id(),
    };
    let (epoch, incarnation) = ports.create_session(&new)?;
    ports.remember_device(&user.username, &device_id, new.now)?;
    let session = Session { id: &new.sid, epoch, incarnation: &incarnation };
    let (access_token, upload_token) = (ports.issue(&user, &session)?, ports.issue_for_uploads(&user, &session)?);
    let refresh_token = sessions::token(&new.secret, &new.sid, 0);
    Ok(SignedIn { user, access_token, upload_token, session_id: new.sid, refresh_token, device_id: Some(device_id) })
}

/// Rotates the refresh token `raw` presented by device `device` for a new access token. A
/// reused token revokes its session; a suspended account's session is revoked.
pub(crate) fn refresh<P: Ports>(ports: &P, raw: Option<&str>, device: &str) -> Result<SignedIn, Problem> {
    let raw = raw.ok_or_else(|| Problem::unauthorized("missing-refresh-token", "no refresh token cookie; sign in again"))?;
    let token = RefreshToken::parse(raw)?;
    let settings = ports.settings();
    let Some((secret, owner)) = ports.session(&token.sid)? else {
        return Err(Problem::unauthorized("invalid-refresh-token", "this session does not exist; sign in again"));
    };
    if !token.is_genuine(&secret) {
        return Err(Problem::unauthorized("invalid-refresh-token", "the refresh token is not valid; sign in again"));
    }
    // Counted only once the token proved it belongs to the session: a forged token naming
    // someone's session id must not spend that session's budget.
    let rate_key = keys::refresh_rate(&token.sid);
    if let Decision::Limited { retry_after } = ports.limit(&[(&rate_key, settings.refresh_per_minute()?)], 60_000, &ports.random_id())? {
        return Err(Problem::too_many_requests("refresh-rate-limited", "this session refreshes too often", retry_after));
    }
    let rotate = Rotate {
        owner: &owner,
        device,
        now: ports.now_ms(),
        grace_ms: settings.refresh_grace_secs()? * 1000,
        idle_ms: settings.refresh_idle_secs()? * 1000,
        absolute_ms: settings.refresh_absolute_secs()? * 1000,
        marker_ttl_secs: REVOCATION_MARKER_TTL_SECS,
    };
    let refused = |code: &'static str, detail: &str| Err(Problem::unauthorized(code, detail.to_owned()));
    let rotated = match ports.rotate(&token, &rotate)? {
        Rotation::Rotated(rotated) | Rotation::Grace(rotated) => rotated,
        Rotation::Reuse { user_id, current } => {
            eprintln!(
                "security: refresh token reuse for session {} of user {user_id} (generation {} presented, {current} current); session revoked",
                token.sid, token.generation
            );
            return refused(
                "refresh-token-reused",
                "this refresh token was already used; the session is revoked for safety, sign in again",
            );
        }
        Rotation::Revoked => return refused("session-revoked", "this session was signed out; sign in again"),
        Rotation::Device => return refused("device-mismatch", "this refresh token belongs to another device; sign in again"),
        Rotation::Expired => return refused("session-expired", "this session expired; sign in again"),
        Rotation::Unknown => return refused("invalid-refresh-token", "the refresh token is not valid; sign in again"),
    };
    let user =
        ports.user(&rotated.user_id)?.ok_or_else(|| Problem::unauthorized("invalid-refresh-token", "the account no longer exists"))?;
    if user.banned {
        ports.revoke(&user.id, vec![token.sid.clone()])?;
        return Err(banned());
    }
    let session = Session { id: &token.sid, epoch: rotated.epoch, incarnation: &rotated.incarnation };
    let (access_token, upload_token) = (ports.issue(&user, &session)?, ports.issue_for_uploads(&user, &session)?);
    let refresh_token = sessions::token(&secret, &token.sid, rotated.generation);
    Ok(SignedIn { user, access_token, upload_token, session_id: token.sid, refresh_token, device_id: None })
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::OnceLock;

    use super::*;
    use crate::sessions::Rotated;

    const PASSWORD: &str = "correct horse battery";

    /// One Argon2 hash for every test account (hashing is the slow part of these tests).
    fn password_hash() -> String {
        static HASH: OnceLock<String> = OnceLock::new();
        HASH.get_or_init(|| password::hash(PASSWORD)).clone()
    }

    fn settings(name: &str) -> Option<String> {
        let value = match name {
            "login_max_failures" => "5",
            "login_max_failures_per_client" => "50",
            "login_window_secs" => "900",
            "refresh_idle_secs" => "86400",
            "refresh_absolute_secs" => "2592000",
            "refresh_grace_secs" => "30",
            "refresh_per_minute" => "10",
            "single_device" => "false",
            "admin_user_ids" => "id-ann, id-bob",
            _ => return None,
        };
        Some(value.to_owned())
    }

    fn no_admins(name: &str) -> Option<String> {
        if name == "admin_user_ids" {
            return Some(String::new());
        }
        settings(name)
    }

    fn single_device(name: &str) -> Option<String> {
        if name == "single_device" {
            return Some("true".into());
        }
        settings(name)
    }

    /// The ports in memory; the scripts' own outcomes are tested on a real Redis
    /// (`tests/e2e/tests/scripts.rs`), so rotation answers what a test sets.
    struct Memory {
        now: Cell<u64>,
        ids: Cell<u64>,
        settings: Settings<Lookup>,
        users: RefCell<BTreeMap<String, User>>,
        claims: RefCell<BTreeSet<String>>,
        limited: Cell<Option<u64>>,
        limits: RefCell<Vec<Vec<(String, u64)>>>,
        windows: RefCell<Vec<u64>>,
        failures_today: RefCell<BTreeMap<String, u64>>,
        forgotten: RefCell<Vec<String>>,
        sessions: RefCell<BTreeMap<String, (Vec<u8>, String)>>,
        live: RefCell<BTreeMap<String, BTreeSet<String>>>,
        revoked: RefCell<Vec<String>>,
        rotation: RefCell<Option<Rotation>>,
        rotations: RefCell<Vec<(u64, String)>>,
        devices: RefCell<BTreeSet<(String, String)>>,
    }

    impl Memory {
        fn new(lookup: Lookup) -> Memory {
            Memory {
                now: Cell::new(1_700_000_000_000),
                ids: Cell::new(0),
                settings: Settings::new(lookup),
                users: RefCell::default(),
                claims: RefCell::default(),
                limited: Cell::new(None),
                limits: RefCell::default(),
                windows: RefCell::default(),
                failures_today: RefCell::default(),
                forgotten: RefCell::default(),
                sessions: RefCell::default(),
                live: RefCell::default(),
                revoked: RefCell::default(),
                rotation: RefCell::new(None),
                rotations: RefCell::default(),
                devices: RefCell::default(),
            }
        }

        fn with_user(name: &str, banned: bool) -> Memory {
            let m = Memory::new(settings);
            let user = User {
                id: format!("id-{name}"),
                username: name.into(),
                display_name: name.into(),
                password_hash: password_hash(),
                roles: Vec::new(),
                banned,
                created_at: 1,
                version: 1,
            };
            m.users.borrow_mut().insert(user.id.clone(), user);
            m
        }

        fn live(&self, user: &str) -> usize {
            self.live.borrow().get(user).map_or(0, BTreeSet::len)
        }
    }

    impl Ports for Memory {
        fn now_ms(&self) -> u64 {
            self.now.get()
        }

        fn random_id(&self) -> String {
            self.ids.set(self.ids.get() + 1);
            format!("{:032x}", self.ids.get())
        }

        fn secret(&self) -> [u8; 32] {
            [self.ids.get() as u8; 32]
        }

        fn settings(&self) -> &Settings<Lookup> {
            &self.settings
        }

        // As the adapter does: roles from the settings at every load.
        fn user(&self, id: &str) -> Result<Option<User>, Problem> {
            Ok(self.users.borrow().get(id).cloned().map(|u| User { roles: self.settings.roles_of(&u.id), ..u }))
        }

        fn user_by_name(&self, username: &str) -> Result<Option<User>, Problem> {
            let id = self.users.borrow().values().find(|u| u.username == username).map(|u| u.id.clone());
            id.map_or(Ok(None), |id| self.user(&id))
        }

        fn name_taken(&self, username: &str) -> Result<bool, Problem> {
            Ok(self.user_by_name(username)?.is_some())
        }

        fn claim_name(&self, username: &str, _: &str) -> Result<bool, Problem> {
            Ok(self.claims.borrow_mut().insert(username.to_owned()))
        }

        fn add_user(&self, user: &mut User) -> Result<(), Problem> {
            user.version += 1;
            self.users.borrow_mut().insert(user.id.clone(), user.clone());
            Ok(())
        }

        fn limit(&self, limits: &[(&str, u64)], window_ms: u64, _: &str) -> Result<Decision, Problem> {
            self.limits.borrow_mut().push(limits.iter().map(|&(k, n)| (k.to_owned(), n)).collect());
            self.windows.borrow_mut().push(window_ms);
            Ok(match self.limited.get() {
                Some(retry_after) => Decision::Limited { retry_after },
                None => Decision::Allowed,
            })
        }

        fn failures_today(&self, username: &str) -> Result<u64, Problem> {
            Ok(self.failures_today.borrow().get(username).copied().unwrap_or(0))
        }

        fn count_failure(&self, username: &str) -> Result<(), Problem> {
            *self.failures_today.borrow_mut().entry(username.to_owned()).or_default() += 1;
            Ok(())
        }

        fn forget_failures(&self, failure_key: &str, _: Option<&str>, _: &str) -> Result<(), Problem> {
            self.forgotten.borrow_mut().push(failure_key.to_owned());
            Ok(())
        }

        fn known_device(&self, username: &str, device: &str) -> Result<bool, Problem> {
            Ok(self.devices.borrow().contains(&(username.to_owned(), device.to_owned())))
        }

        fn remember_device(&self, username: &str, device: &str, _: u64) -> Result<(), Problem> {
            self.devices.borrow_mut().insert((username.to_owned(), device.to_owned()));
            Ok(())
        }

        fn live_sessions(&self, user_id: &str) -> Result<Vec<String>, Problem> {
            Ok(self.live.borrow().get(user_id).into_iter().flatten().cloned().collect())
        }

        fn revoke(&self, user_id: &str, sids: Vec<String>) -> Result<i64, Problem> {
            let mut live = self.live.borrow_mut();
            let set = live.entry(user_id.to_owned()).or_default();
            let n = sids.iter().filter(|sid| set.remove(*sid)).count();
            self.revoked.borrow_mut().extend(sids);
            Ok(n as i64)
        }

        fn create_session(&self, new: &NewSession) -> Result<(u64, String), Problem> {
            self.sessions.borrow_mut().insert(new.sid.clone(), (new.secret.to_vec(), new.user_id.clone()));
            self.live.borrow_mut().entry(new.user_id.clone()).or_default().insert(new.sid.clone());
            Ok((3, "incarnation".into()))
        }

        fn session(&self, sid: &str) -> Result<Option<(Vec<u8>, String)>, Problem> {
            Ok(self.sessions.borrow().get(sid).cloned())
        }

        fn rotate(&self, token: &RefreshToken, rotate: &Rotate) -> Result<Rotation, Problem> {
            self.rotations.borrow_mut().push((token.generation, rotate.device.to_owned()));
            Ok(self.rotation.borrow().clone().unwrap_or(Rotation::Unknown))
        }

        fn issue(&self, user: &User, session: &Session) -> Result<String, Problem> {
            Ok(format!("access:{}:{}:{}", user.id, session.id, session.epoch))
        }

        fn issue_for_uploads(&self, user: &User, session: &Session) -> Result<String, Problem> {
            Ok(format!("uploads:{}:{}:{}", user.id, session.id, session.epoch))
        }
    }

    fn device() -> Device<'static> {
        Device { cookie: None, name: Some("laptop\u{7}"), agent: "test agent" }
    }

    fn signed_in(m: &Memory) -> SignedIn {
        login(m, "Ann", PASSWORD, "10.0.0.1", device()).unwrap()
    }

    #[test]
    fn a_right_password_starts_a_session_on_a_new_device_and_forgets_the_failures() {
        let m = Memory::with_user("ann", false);
        let done = signed_in(&m);
        assert_eq!(done.access_token, format!("access:id-ann:{}:3", done.session_id));
        assert_eq!(done.upload_token, format!("uploads:id-ann:{}:3", done.session_id), "an upload token for the same session");
        assert_eq!(done.device_id.as_deref().map(str::len), Some(32), "a new device gets an id");
        assert_eq!(*m.limits.borrow(), [vec![("auth:fail:user:ann".to_owned(), 5), ("auth:fail:client:10.0.0.1".to_owned(), 50)]]);
        assert_eq!(*m.forgotten.borrow(), ["auth:fail:user:ann"]);
        let (secret, owner) = m.session(&done.session_id).unwrap().unwrap();
        assert_eq!(owner, "id-ann");
        assert!(RefreshToken::parse(&done.refresh_token).unwrap().is_genuine(&secret));
        let known = Device { cookie: done.device_id.as_deref(), ..device() };
        assert_eq!(login(&m, "ann", PASSWORD, "10.0.0.1", known).unwrap().device_id, done.device_id, "a known device keeps its id");
        assert_eq!(m.live("id-ann"), 2);
    }

    #[test]
    fn a_wrong_password_and_an_unknown_account_are_refused_alike_and_counted() {
        let m = Memory::with_user("ann", false);
        let wrong = login(&m, "ann", "not the password", "10.0.0.1", device()).unwrap_err();
        let unknown = login(&m, "nobody", PASSWORD, "10.0.0.1", device()).unwrap_err();
        assert_eq!((wrong.code(), wrong.detail()), (unknown.code(), unknown.detail()));
        assert_eq!(wrong.code(), "invalid-credentials");
        assert!(m.forgotten.borrow().is_empty() && m.sessions.borrow().is_empty());
        assert_eq!(login(&m, "a b", PASSWORD, "x", device()).unwrap_err().code(), "invalid-credentials", "even an impossible name");
    }

    #[test]
    fn the_limiter_refuses_before_any_password_work_and_a_suspended_account_gets_no_session() {
        let m = Memory::with_user("ann", false);
        m.limited.set(Some(60));
        let limited = login(&m, "ann", PASSWORD, "10.0.0.1", device()).unwrap_err();
        assert_eq!((limited.status().as_u16(), limited.code()), (429, "too-many-attempts"));
        let m = Memory::with_user("ann", true);
        assert_eq!(login(&m, "ann", PASSWORD, "10.0.0.1", device()).unwrap_err().code(), "account-banned");
        assert!(m.sessions.borrow().is_empty());
    }

    #[test]
    fn under_single_device_a_sign_in_ends_the_other_sessions() {
        let m = Memory::with_user("ann", false);
        let first = signed_in(&m);
        let m2 = Memory { settings: Settings::new(single_device), ..m };
        let second = signed_in(&m2);
        assert_eq!(*m2.revoked.borrow(), [first.session_id]);
        assert_eq!(m2.live_sessions("id-ann").unwrap(), [second.session_id]);
    }

    #[test]
    fn registering_claims_the_name_once_and_no_name_grants_a_role() {
        let m = Memory::new(settings);
        let new = Registration { username: "Root", password: PASSWORD, display_name: None };
        let done = register(&m, &new, device()).unwrap();
        assert_eq!((done.user.username.as_str(), done.user.roles.clone(), done.user.version), ("root", Vec::<String>::new(), 1));
        assert_eq!(register(&m, &new, device()).unwrap_err().code(), "username-taken");
        m.users.borrow_mut().clear();
        assert_eq!(register(&m, &new, device()).unwrap_err().code(), "username-taken", "a concurrent claim holds the name");
        let weak = Registration { username: "bob", password: "bob", display_name: None };
        assert_eq!(register(&m, &weak, device()).unwrap_err().code(), "weak-password");
    }

    #[test]
    fn a_refresh_maps_every_rotation_outcome() {
        let m = Memory::with_user("ann", false);
        let session = signed_in(&m);
        let rotated = Rotated { user_id: "id-ann".into(), generation: 1, epoch: 4, incarnation: "i".into() };
        *m.rotation.borrow_mut() = Some(Rotation::Rotated(rotated.clone()));
        let done = refresh(&m, Some(&session.refresh_token), "device-1").unwrap();
        assert_eq!((done.device_id, done.access_token.ends_with(":4")), (None, true));
        assert_eq!(done.upload_token, format!("uploads:id-ann:{}:4", session.session_id), "a refresh renews the upload token too");
        assert_eq!(RefreshToken::parse(&done.refresh_token).unwrap().generation, 1);
        assert_eq!(*m.rotations.borrow(), [(0, "device-1".to_owned())]);
        *m.rotation.borrow_mut() = Some(Rotation::Grace(rotated));
        assert!(refresh(&m, Some(&session.refresh_token), "device-1").is_ok());
        for (rotation, code) in [
            (Rotation::Reuse { user_id: "id-ann".into(), current: 5 }, "refresh-token-reused"),
            (Rotation::Revoked, "session-revoked"),
            (Rotation::Device, "device-mismatch"),
            (Rotation::Expired, "session-expired"),
            (Rotation::Unknown, "invalid-refresh-token"),
        ] {
            *m.rotation.borrow_mut() = Some(rotation);
            let refused = refresh(&m, Some(&session.refresh_token), "device-1").unwrap_err();
            assert_eq!((refused.status().as_u16(), refused.code()), (401, code));
        }
    }

    #[test]
    fn each_lock_out_of_unknown_devices_lasts_twice_the_one_before_up_to_a_day() {
        let (base, day) = (15 * 60_000, 24 * 60 * 60_000);
        let windows: Vec<u64> = (0..45).step_by(5).map(|failures| unknown_device_window_ms(base, failures, 5)).collect();
        assert_eq!(windows, [base, base, 2 * base, 4 * base, 8 * base, 16 * base, 32 * base, 64 * base, day]);
        assert_eq!(unknown_device_window_ms(base, u64::MAX, 1), day);
        assert_eq!(unknown_device_window_ms(2 * day, 0, 5), 2 * day, "never shorter than the configured window");
    }

    #[test]
    fn unknown_devices_failures_grow_their_window_and_known_devices_keep_theirs() {
        let m = Memory::with_user("ann", false);
        let device_id = signed_in(&m).device_id.unwrap();
        let known = Device { cookie: Some(&device_id), ..device() };
        let base = 15 * 60_000;
        for _ in 0..10 {
            login(&m, "ann", "a guess", "10.0.0.9", device()).unwrap_err();
        }
        login(&m, "nobody", "a guess", "10.0.0.9", device()).unwrap_err();
        assert_eq!(m.failures_today("ann").unwrap(), 10);
        assert_eq!(m.failures_today("nobody").unwrap(), 1, "an unknown account is counted alike");
        login(&m, "ann", "a guess", "10.0.0.1", known).unwrap_err();
        assert_eq!(m.failures_today("ann").unwrap(), 10, "a known device's failures are its own");
        let windows = m.windows.borrow().clone();
        assert_eq!(windows[..11], [base; 11], "the first lock-out lasts the configured window");
        m.windows.borrow_mut().clear();
        login(&m, "ann", "a guess", "10.0.0.9", device()).unwrap_err();
        login(&m, "ann", "a guess", "10.0.0.1", known).unwrap_err();
        assert_eq!(*m.windows.borrow(), [2 * base, base], "10 failures double the unknown devices' window only");
    }

    #[test]
    fn a_device_that_signed_in_before_keeps_a_failure_budget_of_its_own() {
        let m = Memory::with_user("ann", false);
        let device_id = signed_in(&m).device_id.unwrap();
        let wrong = |device: Device| {
            m.limits.borrow_mut().clear();
            assert_eq!(login(&m, "ann", "a wrong password", "10.0.0.9", device).unwrap_err().code(), "invalid-credentials");
            m.limits.borrow().clone()
        };
        let known = Device { cookie: Some(&device_id), ..device() };
        assert_eq!(wrong(known), [vec![(format!("auth:fail:device:ann:{device_id}"), 5)]], "counted apart, not per address");
        let forged = "f".repeat(32);
        let stranger = Device { cookie: Some(&forged), ..device() };
        let unknown = vec![("auth:fail:user:ann".to_owned(), 5), ("auth:fail:client:10.0.0.9".to_owned(), 50)];
        assert_eq!(wrong(stranger), std::slice::from_ref(&unknown), "a made-up device id is an unknown device");
        assert_eq!(wrong(device()), [unknown], "so is a browser without the cookie");
        m.limited.set(Some(60));
        let locked = login(&m, "ann", PASSWORD, "10.0.0.9", known).unwrap_err();
        assert_eq!(locked.detail(), "too many failed sign-ins on this device; wait and retry");
    }

    #[test]
    fn roles_come_from_the_settings_at_every_sign_in_and_refresh() {
        let m = Memory::with_user("ann", false);
        let session = signed_in(&m);
        assert_eq!(session.user.roles, ["admin"], "admin_user_ids names id-ann");
        *m.rotation.borrow_mut() =
            Some(Rotation::Rotated(Rotated { user_id: "id-ann".into(), generation: 1, epoch: 1, incarnation: "i".into() }));
        let removed = Memory { settings: Settings::new(no_admins), ..m };
        assert!(refresh(&removed, Some(&session.refresh_token), "").unwrap().user.roles.is_empty(), "removed: no role at the refresh");
        assert!(signed_in(&removed).user.roles.is_empty(), "nor at the next sign-in");
    }

    #[test]
    fn a_refresh_without_a_genuine_token_never_reaches_the_rotation() {
        let m = Memory::with_user("ann", false);
        let session = signed_in(&m);
        let limited_before = m.limits.borrow().len();
        assert_eq!(refresh(&m, None, "").unwrap_err().code(), "missing-refresh-token");
        assert_eq!(refresh(&m, Some("garbage"), "").unwrap_err().code(), "invalid-refresh-token");
        let forged = sessions::token(&[9; 32], &session.session_id, 0);
        assert_eq!(refresh(&m, Some(&forged), "").unwrap_err().code(), "invalid-refresh-token");
        let unknown = sessions::token(&[9; 32], &"f".repeat(32), 0);
        assert_eq!(refresh(&m, Some(&unknown), "").unwrap_err().detail(), "this session does not exist; sign in again");
        assert_eq!(m.limits.borrow().len(), limited_before, "no forged token spent the session's refresh budget");
        m.limited.set(Some(7));
        assert_eq!(refresh(&m, Some(&session.refresh_token), "").unwrap_err().code(), "refresh-rate-limited");
        assert!(m.rotations.borrow().is_empty());
    }

    #[test]
    fn a_suspended_account_loses_the_session_it_refreshes() {
        let m = Memory::with_user("ann", false);
        let session = signed_in(&m);
        m.users.borrow_mut().get_mut("id-ann").unwrap().banned = true;
        *m.rotation.borrow_mut() =
            Some(Rotation::Rotated(Rotated { user_id: "id-ann".into(), generation: 1, epoch: 1, incarnation: "i".into() }));
        assert_eq!(refresh(&m, Some(&session.refresh_token), "").unwrap_err().code(), "account-banned");
        assert_eq!(*m.revoked.borrow(), [session.session_id]);
    }
}
