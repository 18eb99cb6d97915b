//! The signed-in account and its keys: `/auth/me`, `/auth/verify`, `/auth/sessions`,
//! `/auth/password`, `/auth/users/:id/ban` and `/.well-known/jwks.json`.

use edge_auth::{KeySet, Session, ACCESS_TOKEN_TTL_SECS};
use edge_http::handler::{Answer, Json, Path};
use edge_http::{json_response, no_content, Problem};
use edge_spin::auth::{Admin, Caller};
use edge_spin::redis::{arg, text, Decision};
use http::header::CACHE_CONTROL;
use http::{HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::{accounts, keys, password, sessions, Auth};

/// `POST /auth/password`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// `GET /.well-known/jwks.json`: the public keys every verifier uses.
pub(crate) async fn jwks(_: &Auth) -> Answer {
    let keys = KeySet::from_public_config(&edge_spin::setting(&edge_spin::settings::JWT_PUBLIC_KEYS)?)
        .map_err(|e| Problem::misconfigured(format!("jwt_public_keys: {e}")))?;
    let mut response = json_response(StatusCode::OK, &keys.jwks());
    // Verifiers may cache the keys; a rotation adds the new key well before it signs.
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(response)
}

/// `GET /auth/me`: the caller's account.
pub(crate) async fn me(auth: &Auth, Caller(principal): Caller) -> Answer {
    let user = auth.user(&principal.user_id)?.ok_or_else(|| Problem::not_found("no-such-user", "the account no longer exists"))?;
    Ok(json_response(StatusCode::OK, &json!({ "user": user.public(), "session_id": principal.session_id })))
}

/// `GET /auth/verify`: token introspection for services outside Spin: the principal of a
/// valid, unrevoked token, with nothing read beyond the revocation keys.
pub(crate) async fn verify(_: &Auth, Caller(p): Caller) -> Answer {
    let body = json!({ "user_id": p.user_id, "session_id": p.session_id, "roles": p.roles, "expires_at": p.expires_at });
    let mut response = json_response(StatusCode::OK, &body);
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /auth/sessions`: the caller's live sessions, most recently used first.
pub(crate) async fn list_sessions(auth: &Auth, Caller(principal): Caller) -> Answer {
    let set = keys::user_sessions(&principal.user_id);
    let sids = auth.live_sessions(&principal.user_id)?;
    let keys: Vec<String> = std::iter::once(set).chain(sids.iter().map(|sid| keys::session(sid))).collect();
    let reply = auth.redis()?.run(&sessions::LIST, &keys, sids.into_iter().map(arg).collect())?;
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

/// `DELETE /auth/sessions/:id`: signs one of the caller's devices out.
pub(crate) async fn revoke_session(auth: &Auth, Caller(principal): Caller, Path(sid): Path<String>) -> Answer {
    let not_found = || Problem::not_found("no-such-session", "you have no live session with this id");
    if !edge_http::is_random_id(&sid) {
        return Err(not_found());
    }
    if auth.revoke(&principal.user_id, vec![sid])? == 0 {
        return Err(not_found());
    }
    Ok(no_content())
}

/// `POST /auth/password`: checks the current password, signs every other device out.
pub(crate) async fn change_password(auth: &Auth, Caller(principal): Caller, Json(body): Json<PasswordBody>) -> Answer {
    let mut user = auth.user(&principal.user_id)?.ok_or_else(|| Problem::not_found("no-such-user", "the account no longer exists"))?;
    let account_key = keys::failures_from_unknown_devices(&user.username);
    let window_ms = auth.settings.failure_window_secs()? * 1000;
    if let Decision::Limited { retry_after } =
        auth.redis()?.limit(&[(&account_key, auth.settings.max_failures()?)], window_ms, &edge_http::random_id())?
    {
        return Err(Problem::too_many_requests("too-many-attempts", "too many wrong passwords; wait and retry", retry_after));
    }
    if !password::verify(&body.current_password, &user.password_hash) {
        return Err(Problem::bad_request("wrong-password", "the current password is wrong").with("field", "current_password"));
    }
    auth.redis()?.del(&[&account_key])?;
    accounts::check_password(&body.new_password, &user.username)?;
    user.password_hash = password::hash(&body.new_password);
    auth.save_user(&mut user)?;
    // Every other device is signed out; this one continues with a token of the new epoch.
    let epoch = auth.revoke_all(&user.id, Some(&principal.session_id))?;
    let access = auth
        .issuer()?
        .issue(&user.id, &Session { id: &principal.session_id, epoch, incarnation: &principal.incarnation }, user.roles.clone())
        .map_err(|e| Problem::misconfigured(format!("cannot sign tokens: {e}")))?;
    let body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_TTL_SECS });
    let mut response = json_response(StatusCode::OK, &body);
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /auth/users/:id/ban`: an administrator suspends an account and ends its sessions.
pub(crate) async fn ban(auth: &Auth, _: Admin, Path(user_id): Path<String>) -> Answer {
    let mut user = auth.user(&user_id)?.ok_or_else(|| Problem::not_found("no-such-user", "no account has this id"))?;
    user.banned = true;
    auth.save_user(&mut user)?;
    auth.revoke_all(&user.id, None)?;
    Ok(no_content())
}
