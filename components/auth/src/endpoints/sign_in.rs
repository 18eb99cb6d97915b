//! Signing in and out: `/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/auth/logout-all`. Session rules (cookies, refresh tokens, rotation outcomes) are
//! [`crate::sessions`]; account rules [`crate::accounts`].

use edge_auth::{epoch_key, Session, ACCESS_TOKEN_TTL_SECS, INCARNATION_KEY, REVOCATION_MARKER_TTL_SECS};
use edge_http::handler::{Answer, Headers, Json};
use edge_http::{json_response, no_content, Problem};
use edge_spin::auth::Caller;
use edge_spin::kv_unavailable;
use edge_spin::redis::{arg, int, now_ms, text, Decision};
use http::header::{CACHE_CONTROL, COOKIE, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::{self, User};
use crate::sessions::{self, RefreshToken, Rotation};
use crate::{header, invalid_credentials, password, Auth};

/// `POST /auth/register`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
    device_name: Option<String>,
}

/// `POST /auth/login`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
    device_name: Option<String>,
}

/// `POST /auth/register`: a new account, signed in on this device.
pub(crate) async fn register(auth: &Auth, Json(body): Json<RegisterBody>, Headers(headers): Headers) -> Answer {
    let username = accounts::normalize_username(&body.username)?;
    accounts::check_password(&body.password, &username)?;
    let display_name = accounts::display_name(body.display_name.as_deref(), &username)?;
    let taken = || Problem::conflict("username-taken", format!("the username {username:?} is taken")).with("field", "username");
    if auth.store()?.exists(&accounts::username_key(&username)).map_err(kv_unavailable)? {
        return Err(taken());
    }
    // The key-value store has no compare-and-set: a short Redis claim makes two concurrent
    // registrations of one name agree on a single winner.
    let id = edge_http::random_id();
    let claim = format!("auth:claim:{username}");
    let claimed = auth.redis()?.exec("SET", &[arg(&claim), arg(&id), arg("NX"), arg("EX"), arg(60i64)])?;
    if !matches!(claimed.first(), Some(r) if text(r).as_deref() == Some("OK")) {
        return Err(taken());
    }
    let roles = if auth.settings.admin_usernames().contains(&username) { vec!["admin".to_owned()] } else { Vec::new() };
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
    auth.save_user(&mut user)?;
    auth.store()?.set(&accounts::username_key(&username), id.as_bytes()).map_err(kv_unavailable)?;
    let mut response = start_session(auth, &headers, &user, body.device_name.as_deref())?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `POST /auth/login`: password sign-in, limited per account and per client address.
pub(crate) async fn login(auth: &Auth, Json(body): Json<LoginBody>, Headers(headers): Headers) -> Answer {
    let username = accounts::normalize_username(&body.username).map_err(|_| invalid_credentials())?;
    let client = edge_spin::client_addr(&headers).map(|a| a.rsplit_once(':').map_or(a, |(ip, _)| ip)).unwrap_or("unknown");
    let account_key = format!("auth:fail:user:{username}");
    let client_key = format!("auth:fail:client:{client}");
    let attempt = edge_http::random_id();
    let window_ms = auth.settings.failure_window_secs()? * 1000;
    let limits = [(account_key.as_str(), auth.settings.max_failures()?), (client_key.as_str(), auth.settings.max_failures_per_client()?)];
    if let Decision::Limited { retry_after } = auth.redis()?.limit(&limits, window_ms, &attempt)? {
        return Err(Problem::too_many_requests(
            "too-many-attempts",
            "too many failed sign-ins for this account or from this address; wait and retry",
            retry_after,
        ));
    }
    let Some(user) = auth.user_by_name(&username)? else {
        password::verify_nobody(&body.password);
        return Err(invalid_credentials());
    };
    if !password::verify(&body.password, &user.password_hash) {
        return Err(invalid_credentials());
    }
    // A successful sign-in is not a failure: forget this attempt and the account's streak.
    auth.redis()?.del(&[&account_key])?;
    auth.redis()?.forget(&client_key, &attempt)?;
    if user.banned {
        return Err(Problem::forbidden("account-banned", "this account is suspended"));
    }
    start_session(auth, &headers, &user, body.device_name.as_deref())
}

/// Creates a session on this device and answers with the tokens and cookies.
fn start_session(auth: &Auth, headers: &HeaderMap, user: &User, device_name: Option<&str>) -> Answer {
    let cookie_header = headers.get(COOKIE).and_then(|v| v.to_str().ok());
    let device = sessions::cookie(cookie_header, "device_id")
        .filter(|d| d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_owned)
        .unwrap_or_else(edge_http::random_id);
    let sessions_key = sessions::user_sessions_key(&user.id);
    if auth.settings.single_device()? {
        let live = auth.redis()?.exec("SMEMBERS", &[arg(&sessions_key)])?;
        auth.revoke(&user.id, live.iter().filter_map(text).collect())?;
    }
    let sid = edge_http::random_id();
    let secret = accounts::random_bytes::<32>();
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let name: String = device_name.unwrap_or("").chars().filter(|c| !c.is_control()).take(64).collect();
    let args = vec![
        arg(&user.id),
        arg(&device),
        arg(secret.to_vec()),
        arg(now_ms()),
        arg(auth.settings.refresh_absolute_secs()? * 1000),
        arg(name),
        arg(agent.chars().take(200).collect::<String>()),
        arg(&sid),
        arg(edge_http::random_id()),
    ];
    let (session_key, user_epoch_key) = (sessions::session_key(&sid), epoch_key(&user.id));
    let keys = [session_key.as_str(), sessions_key.as_str(), user_epoch_key.as_str(), INCARNATION_KEY];
    let created = auth.redis()?.run(&sessions::CREATE, &keys, args)?;
    let epoch = created.first().and_then(int).unwrap_or(0).max(0) as u64;
    let incarnation = created.get(1).and_then(text).unwrap_or_default();
    let refresh = sessions::token(&secret, &sid, 0);
    let session = Session { id: &sid, epoch, incarnation: &incarnation };
    let mut response = tokens(auth, user, &session, &refresh)?;
    response.headers_mut().append(SET_COOKIE, header(&sessions::device_cookie(&device))?);
    Ok(response)
}

/// The token answer: an access token in the body, the refresh token in its cookie.
fn tokens(auth: &Auth, user: &User, session: &Session<'_>, refresh: &str) -> Answer {
    let access = auth
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
    headers.append(SET_COOKIE, header(&sessions::refresh_cookie(refresh, auth.settings.refresh_idle_secs()?))?);
    Ok(response)
}

/// `POST /auth/refresh`: rotates the refresh cookie (same site only) for a new access token;
/// a reused token revokes its session.
pub(crate) async fn refresh(auth: &Auth, Headers(headers): Headers) -> Answer {
    edge_spin::cors().check_same_site(&headers, edge_spin::own_origin(&headers).as_deref())?;
    let cookie_header = headers.get(COOKIE).and_then(|v| v.to_str().ok());
    let raw = sessions::cookie(cookie_header, "refresh_token")
        .ok_or_else(|| Problem::unauthorized("missing-refresh-token", "no refresh token cookie; sign in again"))?;
    let token = RefreshToken::parse(raw)?;
    let device = sessions::cookie(cookie_header, "device_id").unwrap_or("");
    let rate_key = format!("auth:refresh-rate:{}", token.sid);
    if let Decision::Limited { retry_after } =
        auth.redis()?.limit(&[(&rate_key, auth.settings.refresh_per_minute()?)], 60_000, &edge_http::random_id())?
    {
        return Err(Problem::too_many_requests("refresh-rate-limited", "this session refreshes too often", retry_after));
    }
    let session_key = sessions::session_key(&token.sid);
    let stored = auth.redis()?.exec("HMGET", &[arg(&session_key), arg("key"), arg("uid")])?;
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
        arg(auth.settings.refresh_grace_secs()? * 1000),
        arg(auth.settings.refresh_idle_secs()? * 1000),
        arg(auth.settings.refresh_absolute_secs()? * 1000),
        arg(REVOCATION_MARKER_TTL_SECS),
    ];
    let marker = edge_auth::revoked_session_key(&token.sid);
    let owner_epoch_key = epoch_key(&owner);
    let keys = [session_key.as_str(), marker.as_str(), owner_epoch_key.as_str(), INCARNATION_KEY];
    let reply = auth.redis()?.run(&sessions::ROTATE, &keys, args)?;
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
        auth.user(&rotated.user_id)?.ok_or_else(|| Problem::unauthorized("invalid-refresh-token", "the account no longer exists"))?;
    if user.banned {
        auth.revoke(&user.id, vec![token.sid.clone()])?;
        return Err(Problem::forbidden("account-banned", "this account is suspended"));
    }
    let session = Session { id: &token.sid, epoch: rotated.epoch, incarnation: &rotated.incarnation };
    tokens(auth, &user, &session, &sessions::token(&secret, &token.sid, rotated.generation))
}

/// `POST /auth/logout`: ends this session.
pub(crate) async fn logout(auth: &Auth, Caller(principal): Caller) -> Answer {
    auth.revoke(&principal.user_id, vec![principal.session_id])?;
    signed_out()
}

/// `POST /auth/logout-all`: ends every session of the caller and kills its access tokens.
pub(crate) async fn logout_all(auth: &Auth, Caller(principal): Caller) -> Answer {
    auth.revoke_all(&principal.user_id, None)?;
    signed_out()
}

fn signed_out() -> Answer {
    let mut response = no_content();
    response.headers_mut().append(SET_COOKIE, header(&sessions::refresh_cookie("", 0))?);
    Ok(response)
}
