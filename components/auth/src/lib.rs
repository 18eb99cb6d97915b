//! auth: dual-JWT sign-in. Short-lived EdDSA access tokens (checked by every component with
//! `edge-auth`), rotating refresh tokens in an HttpOnly cookie with reuse detection, revocation
//! by per-user epoch and per-session markers, sign-in lockout, and the JWKS.
//!
//! Routes: `/auth/...` and `/.well-known/jwks.json`. Accounts live in the key-value store;
//! sessions, lockout windows and revocation state in Redis (changed only by Lua scripts).

mod accounts;
mod password;
pub mod sessions;
mod settings;

use edge_auth::{
    epoch_key, Issuer, KeySet, Principal, Session, SigningKey, Verifier, ACCESS_TOKEN_TTL_SECS, INCARNATION_KEY, REVOCATION_MARKER_TTL_SECS,
};
use edge_http::{json_body, json_response, no_content, Problem, Request, Response, Router};
use edge_spin::redis::{arg, int, now_ms, text, Decision, Redis};
use edge_spin::{auth as bearer, health, kv_unavailable, Lazy};
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, USER_AGENT};
use http::{HeaderValue, Method, StatusCode};
use serde::Deserialize;
use serde_json::json;
use spin_sdk::key_value::Store;

use crate::accounts::User;
use crate::sessions::{RefreshToken, Rotation};
use crate::settings::Settings;

/// Largest JSON body an auth endpoint reads.
pub const BODY_LIMIT: usize = 16 * 1024;

#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Health,
    Jwks,
    Register,
    Login,
    Refresh,
    Logout,
    LogoutAll,
    Me,
    Verify,
    Sessions,
    RevokeSession,
    Password,
    Ban,
}

/// Every route this component answers as `(method, pattern)`; the OpenAPI document is checked
/// against it.
pub fn routes() -> Vec<(Method, String)> {
    router().routes()
}

fn router() -> Router<Endpoint> {
    Router::new()
        .route(Method::GET, "/auth/health", Endpoint::Health)
        .route(Method::GET, "/.well-known/jwks.json", Endpoint::Jwks)
        .route(Method::POST, "/auth/register", Endpoint::Register)
        .route(Method::POST, "/auth/login", Endpoint::Login)
        .route(Method::POST, "/auth/refresh", Endpoint::Refresh)
        .route(Method::POST, "/auth/logout", Endpoint::Logout)
        .route(Method::POST, "/auth/logout-all", Endpoint::LogoutAll)
        .route(Method::GET, "/auth/me", Endpoint::Me)
        .route(Method::GET, "/auth/verify", Endpoint::Verify)
        .route(Method::GET, "/auth/sessions", Endpoint::Sessions)
        .route(Method::DELETE, "/auth/sessions/:id", Endpoint::RevokeSession)
        .route(Method::POST, "/auth/password", Endpoint::Password)
        .route(Method::POST, "/auth/users/:id/ban", Endpoint::Ban)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    let (endpoint, params) = router().find(request.method(), request.uri().path())?;
    if let Endpoint::Health = endpoint {
        let redis = edge_spin::variable("redis_address")?;
        return Ok(health::report("auth", vec![health::key_value("default"), health::redis(&redis)]));
    }
    let auth = Auth::new();
    match endpoint {
        Endpoint::Health => unreachable!("answered above"),
        Endpoint::Jwks => auth.jwks(),
        Endpoint::Register => auth.register(&request),
        Endpoint::Login => auth.login(&request),
        Endpoint::Refresh => auth.refresh(&request),
        Endpoint::Logout => auth.logout(&request),
        Endpoint::LogoutAll => auth.logout_all(&request),
        Endpoint::Me => auth.me(&request),
        Endpoint::Verify => auth.verify(&request),
        Endpoint::Sessions => auth.sessions(&request),
        Endpoint::RevokeSession => auth.revoke_session(&request, params.get("id").unwrap_or("")),
        Endpoint::Password => auth.change_password(&request),
        Endpoint::Ban => auth.ban(&request, params.get("id").unwrap_or("")),
    }
}

fn invalid_credentials() -> Problem {
    Problem::unauthorized("invalid-credentials", "the username or password is wrong")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
    device_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
    device_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Everything one request may need: backends, keys and settings, each opened or read on first
/// use, so an endpoint makes only the host calls it needs (the JWKS reads one variable).
struct Auth {
    redis: Lazy<Redis>,
    store: Lazy<Store>,
    issuer: Lazy<Issuer>,
    verifier: Lazy<Verifier>,
    settings: Settings<fn(&str) -> Option<String>>,
}

impl Auth {
    fn new() -> Self {
        Auth {
            redis: Lazy::default(),
            store: Lazy::default(),
            issuer: Lazy::default(),
            verifier: Lazy::default(),
            settings: Settings::new(|name| spin_sdk::variables::get(name).ok()),
        }
    }

    fn redis(&self) -> Result<&Redis, Problem> {
        self.redis.get_or_try(Redis::open)
    }

    fn store(&self) -> Result<&Store, Problem> {
        self.store.get_or_try(|| Store::open_default().map_err(kv_unavailable))
    }

    fn issuer(&self) -> Result<&Issuer, Problem> {
        self.issuer.get_or_try(|| {
            let (signing, _): (SigningKey, KeySet) = KeySet::from_signing_config(&edge_spin::variable("jwt_signing_keys")?)
                .map_err(|e| Problem::misconfigured(format!("jwt_signing_keys: {e}")))?;
            Ok(Issuer::new(signing, bearer::audience()?))
        })
    }

    fn verifier(&self) -> Result<&Verifier, Problem> {
        self.verifier.get_or_try(bearer::verifier)
    }

    fn jwks(&self) -> Result<Response, Problem> {
        let keys = KeySet::from_public_config(&edge_spin::variable("jwt_public_keys")?)
            .map_err(|e| Problem::misconfigured(format!("jwt_public_keys: {e}")))?;
        let mut response = json_response(StatusCode::OK, &keys.jwks());
        // Verifiers may cache the keys; a rotation adds the new key well before it signs.
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
        Ok(response)
    }

    fn principal(&self, request: &Request) -> Result<Principal, Problem> {
        bearer::principal(bearer::token(request)?, self.verifier()?, self.redis()?)
    }

    fn user(&self, id: &str) -> Result<Option<User>, Problem> {
        self.store()?.get_json::<User>(accounts::user_key(id)).map_err(kv_unavailable)
    }

    /// Saves a new version of `user` and announces it to search (suspended users leave it).
    fn save_user(&self, user: &mut User) -> Result<(), Problem> {
        user.version += 1;
        self.store()?.set_json(accounts::user_key(&user.id), &*user).map_err(kv_unavailable)?;
        edge_spin::changes::announce(self.redis()?, "user", &user.id, user.version, user.banned)
    }

    fn user_by_name(&self, username: &str) -> Result<Option<User>, Problem> {
        let id = self.store()?.get(&accounts::username_key(username)).map_err(kv_unavailable)?;
        match id.and_then(|id| String::from_utf8(id).ok()) {
            Some(id) => self.user(&id),
            None => Ok(None),
        }
    }

    fn register(&self, request: &Request) -> Result<Response, Problem> {
        let body: RegisterBody = json_body(request, BODY_LIMIT)?;
        let username = accounts::normalize_username(&body.username)?;
        accounts::check_password(&body.password, &username)?;
        let display_name = accounts::display_name(body.display_name.as_deref(), &username)?;
        let taken = || Problem::conflict("username-taken", format!("the username {username:?} is taken")).with("field", "username");
        if self.store()?.exists(&accounts::username_key(&username)).map_err(kv_unavailable)? {
            return Err(taken());
        }
        // The key-value store has no compare-and-set: a short Redis claim makes two concurrent
        // registrations of one name agree on a single winner.
        let id = edge_http::random_id();
        let claim = format!("auth:claim:{username}");
        let claimed = self.redis()?.exec("SET", &[arg(&claim), arg(&id), arg("NX"), arg("EX"), arg(60i64)])?;
        if !matches!(claimed.first(), Some(r) if text(r).as_deref() == Some("OK")) {
            return Err(taken());
        }
        let roles = if self.settings.admin_usernames().contains(&username) { vec!["admin".to_owned()] } else { Vec::new() };
        let mut user = User {
            id: id.clone(),
            username: username.clone(),
            display_name,
            password_hash: password::hash(&body.password),
            roles,
            banned: false,
            created_at: now_ms(),
            version: 0,
        };
        self.save_user(&mut user)?;
        self.store()?.set(&accounts::username_key(&username), id.as_bytes()).map_err(kv_unavailable)?;
        let mut response = self.start_session(request, &user, body.device_name.as_deref())?;
        *response.status_mut() = StatusCode::CREATED;
        Ok(response)
    }

    fn login(&self, request: &Request) -> Result<Response, Problem> {
        let body: LoginBody = json_body(request, BODY_LIMIT)?;
        let username = accounts::normalize_username(&body.username).map_err(|_| invalid_credentials())?;
        let client = edge_spin::client_addr(request).map(|a| a.rsplit_once(':').map_or(a, |(ip, _)| ip)).unwrap_or("unknown");
        let account_key = format!("auth:fail:user:{username}");
        let client_key = format!("auth:fail:client:{client}");
        let attempt = edge_http::random_id();
        let window_ms = self.settings.failure_window_secs()? * 1000;
        let limits =
            [(account_key.as_str(), self.settings.max_failures()?), (client_key.as_str(), self.settings.max_failures_per_client()?)];
        if let Decision::Limited { retry_after } = self.redis()?.limit(&limits, window_ms, &attempt)? {
            return Err(Problem::too_many_requests(
                "too-many-attempts",
                "too many failed sign-ins for this account or from this address; wait and retry",
                retry_after,
            ));
        }
        let Some(user) = self.user_by_name(&username)? else {
            password::verify_nobody(&body.password);
            return Err(invalid_credentials());
        };
        if !password::verify(&body.password, &user.password_hash) {
            return Err(invalid_credentials());
        }
        // A successful sign-in is not a failure: forget this attempt and the account's streak.
        self.redis()?.del(&[&account_key])?;
        self.redis()?.forget(&client_key, &attempt)?;
        if user.banned {
            return Err(Problem::forbidden("account-banned", "this account is suspended"));
        }
        self.start_session(request, &user, body.device_name.as_deref())
    }

    /// Creates a session on this device and answers with the tokens and cookies.
    fn start_session(&self, request: &Request, user: &User, device_name: Option<&str>) -> Result<Response, Problem> {
        let cookie_header = request.headers().get(COOKIE).and_then(|v| v.to_str().ok());
        let device = sessions::cookie(cookie_header, "device_id")
            .filter(|d| d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(str::to_owned)
            .unwrap_or_else(edge_http::random_id);
        let sessions_key = sessions::user_sessions_key(&user.id);
        if self.settings.single_device()? {
            let live = self.redis()?.exec("SMEMBERS", &[arg(&sessions_key)])?;
            self.revoke(&user.id, live.iter().filter_map(text).collect())?;
        }
        let sid = edge_http::random_id();
        let secret = accounts::random_bytes::<32>();
        let agent = request.headers().get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let name: String = device_name.unwrap_or("").chars().filter(|c| !c.is_control()).take(64).collect();
        let args = vec![
            arg(&user.id),
            arg(&device),
            arg(secret.to_vec()),
            arg(now_ms()),
            arg(self.settings.refresh_absolute_secs()? * 1000),
            arg(name),
            arg(agent.chars().take(200).collect::<String>()),
            arg(&sid),
            arg(edge_http::random_id()),
        ];
        let (session_key, user_epoch_key) = (sessions::session_key(&sid), epoch_key(&user.id));
        let keys = [session_key.as_str(), sessions_key.as_str(), user_epoch_key.as_str(), INCARNATION_KEY];
        let created = self.redis()?.run(&sessions::CREATE, &keys, args)?;
        let epoch = created.first().and_then(int).unwrap_or(0).max(0) as u64;
        let incarnation = created.get(1).and_then(text).unwrap_or_default();
        let refresh = sessions::token(&secret, &sid, 0);
        let session = Session { id: &sid, epoch, incarnation: &incarnation };
        let mut response = self.tokens(user, &session, &refresh)?;
        response.headers_mut().append(SET_COOKIE, header(&sessions::device_cookie(&device))?);
        Ok(response)
    }

    /// The token answer: an access token in the body, the refresh token in its cookie.
    fn tokens(&self, user: &User, session: &Session<'_>, refresh: &str) -> Result<Response, Problem> {
        let access = self
            .issuer()?
            .issue(&user.id, session, user.roles.clone())
            .map_err(|e| Problem::misconfigured(format!("cannot sign tokens: {e}")))?;
        let body = json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_TTL_SECS,
            "session_id": session.id,
            "user": user.public(),
        });
        let mut response = json_response(StatusCode::OK, &body);
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.append(SET_COOKIE, header(&sessions::refresh_cookie(refresh, self.settings.refresh_idle_secs()?))?);
        Ok(response)
    }

    fn refresh(&self, request: &Request) -> Result<Response, Problem> {
        edge_spin::cors().check_same_site(request.headers(), edge_spin::own_origin(request).as_deref())?;
        let cookie_header = request.headers().get(COOKIE).and_then(|v| v.to_str().ok());
        let raw = sessions::cookie(cookie_header, "refresh_token")
            .ok_or_else(|| Problem::unauthorized("missing-refresh-token", "no refresh token cookie; sign in again"))?;
        let token = RefreshToken::parse(raw)?;
        let device = sessions::cookie(cookie_header, "device_id").unwrap_or("");
        let rate_key = format!("auth:refresh-rate:{}", token.sid);
        if let Decision::Limited { retry_after } =
            self.redis()?.limit(&[(&rate_key, self.settings.refresh_per_minute()?)], 60_000, &edge_http::random_id())?
        {
            return Err(Problem::too_many_requests("refresh-rate-limited", "this session refreshes too often", retry_after));
        }
        let session_key = sessions::session_key(&token.sid);
        let stored = self.redis()?.exec("HMGET", &[arg(&session_key), arg("key"), arg("uid")])?;
        let (secret, owner) = match (stored.first(), stored.get(1).and_then(text)) {
            (Some(spin_sdk::redis::RedisResult::Binary(secret)), Some(owner)) => (secret.clone(), owner),
            _ => return Err(Problem::unauthorized("invalid-refresh-token", "this session does not exist; sign in again")),
        };
        if !token.is_genuine(&secret) {
            return Err(Problem::unauthorized("invalid-refresh-token", "the refresh token is not valid; sign in again"));
        }
        let args = vec![
            arg(token.generation),
            arg(device),
            arg(now_ms()),
            arg(self.settings.refresh_grace_secs()? * 1000),
            arg(self.settings.refresh_idle_secs()? * 1000),
            arg(self.settings.refresh_absolute_secs()? * 1000),
            arg(REVOCATION_MARKER_TTL_SECS),
        ];
        let marker = edge_auth::revoked_session_key(&token.sid);
        let owner_epoch_key = epoch_key(&owner);
        let keys = [session_key.as_str(), marker.as_str(), owner_epoch_key.as_str(), INCARNATION_KEY];
        let reply = self.redis()?.run(&sessions::ROTATE, &keys, args)?;
        let refused = |code: &'static str, detail: &str| Err(Problem::unauthorized(code, detail.to_owned()));
        let rotated = match Rotation::decode(&reply) {
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
            self.user(&rotated.user_id)?.ok_or_else(|| Problem::unauthorized("invalid-refresh-token", "the account no longer exists"))?;
        if user.banned {
            self.revoke(&user.id, vec![token.sid.clone()])?;
            return Err(Problem::forbidden("account-banned", "this account is suspended"));
        }
        let session = Session { id: &token.sid, epoch: rotated.epoch, incarnation: &rotated.incarnation };
        self.tokens(&user, &session, &sessions::token(&secret, &token.sid, rotated.generation))
    }

    /// Revokes these sessions of the user; returns how many were live.
    fn revoke(&self, user_id: &str, sids: Vec<String>) -> Result<i64, Problem> {
        if sids.is_empty() {
            return Ok(0);
        }
        let keys = sessions::revoke_keys(user_id, &sids);
        let mut args = vec![arg(REVOCATION_MARKER_TTL_SECS)];
        args.extend(sids.into_iter().map(arg));
        let reply = self.redis()?.run(&sessions::REVOKE, &keys, args)?;
        Ok(reply.first().and_then(int).unwrap_or(0))
    }

    /// Bumps the user's epoch (every access token issued so far dies) and revokes every
    /// session except `keep`.
    fn revoke_all(&self, user_id: &str, keep: Option<&str>) -> Result<u64, Problem> {
        let epoch = self.redis()?.exec("INCR", &[arg(epoch_key(user_id))])?.first().and_then(int).unwrap_or(0).max(0) as u64;
        let live = self.redis()?.exec("SMEMBERS", &[arg(sessions::user_sessions_key(user_id))])?;
        let others = live.iter().filter_map(text).filter(|sid| Some(sid.as_str()) != keep).collect();
        self.revoke(user_id, others)?;
        Ok(epoch)
    }

    fn signed_out(&self) -> Result<Response, Problem> {
        let mut response = no_content();
        response.headers_mut().append(SET_COOKIE, header(&sessions::refresh_cookie("", 0))?);
        Ok(response)
    }

    fn logout(&self, request: &Request) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        self.revoke(&principal.user_id, vec![principal.session_id])?;
        self.signed_out()
    }

    fn logout_all(&self, request: &Request) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        self.revoke_all(&principal.user_id, None)?;
        self.signed_out()
    }

    fn me(&self, request: &Request) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        let user = self.user(&principal.user_id)?.ok_or_else(|| Problem::not_found("no-such-user", "the account no longer exists"))?;
        Ok(json_response(StatusCode::OK, &json!({ "user": user.public(), "session_id": principal.session_id })))
    }

    /// Token introspection for services outside Spin: the principal of a valid, unrevoked
    /// token, with nothing read beyond the revocation keys.
    fn verify(&self, request: &Request) -> Result<Response, Problem> {
        let p = self.principal(request)?;
        let body = json!({ "user_id": p.user_id, "session_id": p.session_id, "roles": p.roles, "expires_at": p.expires_at });
        let mut response = json_response(StatusCode::OK, &body);
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    fn sessions(&self, request: &Request) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        let set = sessions::user_sessions_key(&principal.user_id);
        let sids: Vec<String> = self.redis()?.exec("SMEMBERS", &[arg(&set)])?.iter().filter_map(text).collect();
        let keys: Vec<String> = std::iter::once(set).chain(sids.iter().map(|sid| sessions::session_key(sid))).collect();
        let reply = self.redis()?.run(&sessions::LIST, &keys, sids.into_iter().map(arg).collect())?;
        let fields: Vec<String> = reply.iter().map(|r| text(r).unwrap_or_default()).collect();
        let mut list: Vec<serde_json::Value> = fields
            .chunks(5)
            .filter(|c| c.len() == 5)
            .map(|c| {
                json!({
                    "id": c[0],
                    "device_name": c[1],
                    "user_agent": c[2],
                    "created_at": c[3].parse::<u64>().unwrap_or(0),
                    "last_used_at": c[4].parse::<u64>().unwrap_or(0),
                    "current": c[0] == principal.session_id,
                })
            })
            .collect();
        list.sort_by_key(|s| std::cmp::Reverse(s["last_used_at"].as_u64()));
        Ok(json_response(StatusCode::OK, &json!({ "sessions": list })))
    }

    fn revoke_session(&self, request: &Request, sid: &str) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        let not_found = || Problem::not_found("no-such-session", "you have no live session with this id");
        if sid.len() != 32 || !sid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        if self.revoke(&principal.user_id, vec![sid.to_owned()])? == 0 {
            return Err(not_found());
        }
        Ok(no_content())
    }

    fn change_password(&self, request: &Request) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        let body: PasswordBody = json_body(request, BODY_LIMIT)?;
        let mut user = self.user(&principal.user_id)?.ok_or_else(|| Problem::not_found("no-such-user", "the account no longer exists"))?;
        let account_key = format!("auth:fail:user:{}", user.username);
        let window_ms = self.settings.failure_window_secs()? * 1000;
        if let Decision::Limited { retry_after } =
            self.redis()?.limit(&[(&account_key, self.settings.max_failures()?)], window_ms, &edge_http::random_id())?
        {
            return Err(Problem::too_many_requests("too-many-attempts", "too many wrong passwords; wait and retry", retry_after));
        }
        if !password::verify(&body.current_password, &user.password_hash) {
            return Err(Problem::bad_request("wrong-password", "the current password is wrong").with("field", "current_password"));
        }
        self.redis()?.del(&[&account_key])?;
        accounts::check_password(&body.new_password, &user.username)?;
        user.password_hash = password::hash(&body.new_password);
        self.save_user(&mut user)?;
        // Every other device is signed out; this one continues with a token of the new epoch.
        let epoch = self.revoke_all(&user.id, Some(&principal.session_id))?;
        let access = self
            .issuer()?
            .issue(&user.id, &Session { id: &principal.session_id, epoch, incarnation: &principal.incarnation }, user.roles.clone())
            .map_err(|e| Problem::misconfigured(format!("cannot sign tokens: {e}")))?;
        let body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL_SECS });
        let mut response = json_response(StatusCode::OK, &body);
        response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    fn ban(&self, request: &Request, user_id: &str) -> Result<Response, Problem> {
        let principal = self.principal(request)?;
        if !principal.has_role("admin") {
            return Err(Problem::forbidden("admin-only", "only administrators can suspend accounts"));
        }
        let mut user = self.user(user_id)?.ok_or_else(|| Problem::not_found("no-such-user", "no account has this id"))?;
        user.banned = true;
        self.save_user(&mut user)?;
        self.revoke_all(&user.id, None)?;
        Ok(no_content())
    }
}

fn header(value: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(value).map_err(|_| Problem::misconfigured("a cookie value is not a valid header"))
}
