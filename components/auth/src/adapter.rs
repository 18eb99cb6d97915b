//! The Spin side of auth: accounts in the key-value store, sessions and limits in Redis through
//! the scripts in [`crate::sessions`], for [`crate::flows`]'s ports and the handlers alike.

use edge_auth::{epoch_key, Session, INCARNATION_KEY, REVOCATION_MARKER_TTL_SECS};
use edge_http::Problem;
use edge_spin::kv_unavailable;
use edge_spin::redis::{arg, int, now_ms, text, Decision};
use spin_sdk::redis::RedisResult;

use crate::accounts::{self, User};
use crate::sessions::{self, RefreshToken, Rotation};
use crate::settings::Settings;
use crate::Auth;
use crate::{flows, keys};

/// Devices remembered per account, the most recent kept.
const KNOWN_DEVICES: i64 = 20;
/// How long a device stays remembered after its last sign-in: the `device_id` cookie's life.
const KNOWN_DEVICE_SECS: i64 = 365 * 24 * 60 * 60;

impl flows::Ports for Auth {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn random_id(&self) -> String {
        edge_http::random_id()
    }

    fn secret(&self) -> [u8; 32] {
        accounts::random_bytes::<32>()
    }

    fn settings(&self) -> &Settings<flows::Lookup> {
        &self.settings
    }

    fn user(&self, id: &str) -> Result<Option<User>, Problem> {
        Auth::user(self, id)
    }

    fn user_by_name(&self, username: &str) -> Result<Option<User>, Problem> {
        Auth::user_by_name(self, username)
    }

    fn name_taken(&self, username: &str) -> Result<bool, Problem> {
        self.store()?.exists(&keys::username(username)).map_err(kv_unavailable)
    }

    fn claim_name(&self, username: &str, id: &str) -> Result<bool, Problem> {
        let claimed = self.redis()?.exec("SET", &[arg(keys::name_claim(username)), arg(id), arg("NX"), arg("EX"), arg(60i64)])?;
        Ok(matches!(claimed.first(), Some(r) if text(r).as_deref() == Some("OK")))
    }

    fn add_user(&self, user: &mut User) -> Result<(), Problem> {
        self.save_user(user)?;
        self.store()?.set(&keys::username(&user.username), user.id.as_bytes()).map_err(kv_unavailable)
    }

    fn limit(&self, limits: &[(&str, u64)], window_ms: u64, attempt: &str) -> Result<Decision, Problem> {
        self.redis()?.limit(limits, window_ms, attempt)
    }

    fn failures_today(&self, username: &str) -> Result<u64, Problem> {
        let count = self.redis()?.exec("GET", &[arg(keys::failures_today(username))])?;
        Ok(count.first().and_then(text).and_then(|n| n.parse().ok()).unwrap_or(0))
    }

    fn count_failure(&self, username: &str) -> Result<(), Problem> {
        let day_ms = flows::FAILURE_MEMORY_MS;
        self.redis()?.run(&sessions::COUNT_FAILURE, &[keys::failures_today(username)], vec![arg(day_ms)]).map(drop)
    }

    fn forget_failures(&self, failure_key: &str, client_key: Option<&str>, attempt: &str) -> Result<(), Problem> {
        self.redis()?.del(&[failure_key])?;
        match client_key {
            Some(client_key) => self.redis()?.forget(client_key, attempt),
            None => Ok(()),
        }
    }

    fn known_device(&self, username: &str, device: &str) -> Result<bool, Problem> {
        let score = self.redis()?.exec("ZSCORE", &[arg(keys::known_devices(username)), arg(device)])?;
        Ok(score.first().and_then(text).is_some())
    }

    fn remember_device(&self, username: &str, device: &str, now_ms: u64) -> Result<(), Problem> {
        let args = vec![arg(device), arg(now_ms), arg(KNOWN_DEVICES), arg(KNOWN_DEVICE_SECS)];
        self.redis()?.run(&sessions::REMEMBER_DEVICE, &[keys::known_devices(username)], args).map(drop)
    }

    fn live_sessions(&self, user_id: &str) -> Result<Vec<String>, Problem> {
        Auth::live_sessions(self, user_id)
    }

    fn revoke(&self, user_id: &str, sids: Vec<String>) -> Result<i64, Problem> {
        Auth::revoke(self, user_id, sids)
    }

    fn create_session(&self, new: &flows::NewSession) -> Result<(u64, String), Problem> {
        let args = vec![
            arg(&new.user_id),
            arg(&new.device),
            arg(new.secret.to_vec()),
            arg(new.now),
            arg(new.lifetime_ms),
            arg(&new.name),
            arg(&new.agent),
            arg(&new.sid),
            arg(&new.incarnation),
        ];
        let (session_key, sessions_key, user_epoch_key) =
            (keys::session(&new.sid), keys::user_sessions(&new.user_id), epoch_key(&new.user_id));
        let keys = [session_key.as_str(), sessions_key.as_str(), user_epoch_key.as_str(), INCARNATION_KEY];
        let created = self.redis()?.run(&sessions::CREATE, &keys, args)?;
        Ok((created.first().and_then(int).unwrap_or(0).max(0) as u64, created.get(1).and_then(text).unwrap_or_default()))
    }

    fn session(&self, sid: &str) -> Result<Option<(Vec<u8>, String)>, Problem> {
        let stored = self.redis()?.exec("HMGET", &[arg(keys::session(sid)), arg("key"), arg("uid")])?;
        Ok(match (stored.first(), stored.get(1).and_then(text)) {
            (Some(RedisResult::Binary(secret)), Some(owner)) => Some((secret.clone(), owner)),
            _ => None,
        })
    }

    fn rotate(&self, token: &RefreshToken, rotate: &flows::Rotate) -> Result<Rotation, Problem> {
        let args = vec![
            arg(token.generation),
            arg(rotate.device),
            arg(rotate.now),
            arg(rotate.grace_ms),
            arg(rotate.idle_ms),
            arg(rotate.absolute_ms),
            arg(rotate.marker_ttl_secs),
        ];
        let (session_key, marker, owner_epoch_key) =
            (keys::session(&token.sid), edge_auth::revoked_session_key(&token.sid), epoch_key(rotate.owner));
        let keys = [session_key.as_str(), marker.as_str(), owner_epoch_key.as_str(), INCARNATION_KEY];
        Ok(Rotation::decode(&self.redis()?.run(&sessions::ROTATE, &keys, args)?))
    }

    fn issue(&self, user: &User, session: &Session) -> Result<String, Problem> {
        self.issuer()?.issue(&user.id, session, user.roles.clone()).map_err(cannot_sign)
    }

    fn issue_for_uploads(&self, user: &User, session: &Session) -> Result<String, Problem> {
        self.issuer()?.issue_for_uploads(&user.id, session).map_err(cannot_sign)
    }
}

fn cannot_sign(error: edge_auth::KeyError) -> Problem {
    Problem::misconfigured(format!("cannot sign tokens: {error}"))
}

/// Accounts and sessions as auth's handlers and flows use them.
impl Auth {
    /// The account `id`, with its roles as the settings give them now.
    pub(crate) fn user(&self, id: &str) -> Result<Option<User>, Problem> {
        let user = edge_spin::kv::get_json::<User>(self.store()?, &accounts::user_key(id))?;
        Ok(user.map(|user| User { roles: self.settings.roles_of(&user.id), ..user }))
    }

    /// Saves a new version of `user` and announces it to search (suspended users leave it).
    pub(crate) fn save_user(&self, user: &mut User) -> Result<(), Problem> {
        user.version += 1;
        edge_spin::kv::set_json(self.store()?, &accounts::user_key(&user.id), &*user)?;
        edge_spin::changes::announce(self.redis()?, "user", &user.id, user.version, user.banned)
    }

    pub(crate) fn user_by_name(&self, username: &str) -> Result<Option<User>, Problem> {
        let id = self.store()?.get(&keys::username(username)).map_err(kv_unavailable)?;
        match id.and_then(|id| String::from_utf8(id).ok()) {
            Some(id) => self.user(&id),
            None => Ok(None),
        }
    }

    /// Revokes these sessions of the user; returns how many were live.
    pub(crate) fn revoke(&self, user_id: &str, sids: Vec<String>) -> Result<i64, Problem> {
        if sids.is_empty() {
            return Ok(0);
        }
        let keys = sessions::revoke_keys(user_id, &sids);
        let mut args = vec![arg(REVOCATION_MARKER_TTL_SECS)];
        args.extend(sids.into_iter().map(arg));
        let reply = self.redis()?.run(&sessions::REVOKE, &keys, args)?;
        Ok(reply.first().and_then(int).unwrap_or(0))
    }

    /// The user's live session ids (the session set; revoked sessions leave it).
    pub(crate) fn live_sessions(&self, user_id: &str) -> Result<Vec<String>, Problem> {
        Ok(self.redis()?.exec("SMEMBERS", &[arg(keys::user_sessions(user_id))])?.iter().filter_map(text).collect())
    }

    /// Bumps the user's epoch (every access token issued so far dies) and revokes every
    /// session except `keep`.
    pub(crate) fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<u64, Problem> {
        let epoch = self.redis()?.exec("INCR", &[arg(epoch_key(user_id))])?.first().and_then(int).unwrap_or(0).max(0) as u64;
        let others = self.live_sessions(user_id)?.into_iter().filter(|sid| Some(sid.as_str()) != keep).collect();
        self.revoke(user_id, others)?;
        Ok(epoch)
    }
}
