//! Signing in and out: `/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/auth/logout-all`. The decisions are [`crate::flows`]; these handlers read the request
//! (body, cookies, device) and write the answer (tokens, cookies).

use edge_auth::ACCESS_TOKEN_TTL_SECS;
use edge_http::handler::{Answer, Headers, Json};
use edge_http::{cookie, json_response, no_content};
use edge_spin::auth::Caller;
use edge_spin::limit::{ClientLimit, Limit, PerClient};
use http::header::{CACHE_CONTROL, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::flows::{self, Device, Registration, SignedIn};
use crate::{header, keys, sessions, settings, Auth};

/// `POST /auth/register`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    username: String,
    password: String,
    display_name: Option<String>,
    device_name: Option<String>,
}

/// `POST /auth/login`.
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginBody {
    username: String,
    password: String,
    device_name: Option<String>,
}

/// Sign-ups from one client address: each costs a password hash and a stored account, so the
/// limit is checked before the body is even parsed.
pub(crate) struct Registrations;

impl ClientLimit for Registrations {
    const LIMIT: Limit = Limit::per_address(
        settings::REGISTER_PER_CLIENT_PER_HOUR,
        3_600_000,
        "sign-ups per hour from one address",
        keys::SIGN_UPS_PER_CLIENT,
    );
}

/// `POST /auth/register`: a new account, signed in on this device.
pub(crate) async fn register(
    auth: &Auth,
    _: PerClient<Registrations>,
    Json(body): Json<RegisterBody>,
    Headers(headers): Headers,
) -> Answer {
    let new = Registration { username: &body.username, password: &body.password, display_name: body.display_name.as_deref() };
    let mut response = signed_in(auth, flows::register(auth, &new, device(&headers, body.device_name.as_deref()))?)?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `POST /auth/login`: password sign-in, limited per account and per client address.
pub(crate) async fn login(auth: &Auth, Json(body): Json<LoginBody>, Headers(headers): Headers) -> Answer {
    let client = edge_spin::client_key(&headers);
    let device = device(&headers, body.device_name.as_deref());
    signed_in(auth, flows::login(auth, &body.username, &body.password, &client, device)?)
}

/// `POST /auth/refresh`: rotates the refresh cookie (same site only) for a new access token;
/// a reused token revokes its session.
pub(crate) async fn refresh(auth: &Auth, Headers(headers): Headers) -> Answer {
    edge_spin::cors().check_same_site(&headers, edge_spin::own_origin(&headers).as_deref())?;
    let device = cookie(&headers, "device_id").unwrap_or("");
    signed_in(auth, flows::refresh(auth, cookie(&headers, "refresh_token"), device)?)
}

/// The device as its request describes it.
fn device<'a>(headers: &'a HeaderMap, name: Option<&'a str>) -> Device<'a> {
    Device { cookie: cookie(headers, "device_id"), name, agent: headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("") }
}

/// The token answer: an access token in the body, the refresh token in its cookie, the
/// upload-only token in another (and the device's id in its own, for a new session).
fn signed_in(auth: &Auth, signed_in: SignedIn) -> Answer {
    let body = json!({
        "access_token": signed_in.access_token,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_TTL_SECS,
        "session_id": signed_in.session_id,
        "user": signed_in.user.public(),
    });
    let mut response = json_response(StatusCode::OK, &body);
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.append(SET_COOKIE, header(&sessions::refresh_cookie(&signed_in.refresh_token, auth.settings.refresh_idle_secs()?))?);
    headers.append(SET_COOKIE, header(&sessions::upload_cookie(&signed_in.upload_token, ACCESS_TOKEN_TTL_SECS))?);
    if let Some(device) = &signed_in.device_id {
        headers.append(SET_COOKIE, header(&sessions::device_cookie(device))?);
    }
    Ok(response)
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
    response.headers_mut().append(SET_COOKIE, header(&sessions::upload_cookie("", 0))?);
    Ok(response)
}
