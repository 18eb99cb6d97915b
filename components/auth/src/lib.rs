//! auth: dual-JWT sign-in. Short-lived EdDSA access tokens (checked by every component with
//! `edge-auth`), rotating refresh tokens in an HttpOnly cookie with reuse detection, an
//! upload-only token in another cookie for Uppy's companion mode, revocation
//! by per-user epoch and per-session markers, sign-in lockout, and the JWKS.
//!
//! Routes: `/auth/...` and `/.well-known/jwks.json`. Accounts live in the key-value store;
//! sessions, lockout windows and revocation state in Redis (changed only by Lua scripts).

mod accounts;
mod adapter;
mod endpoints;
mod flows;
pub mod keys;
mod password;
pub mod sessions;
mod settings;

use edge_auth::{Issuer, KeySet, SigningKey};
use edge_http::handler::{Answer, Routes, Shape};
use edge_http::setting::Source;
use edge_http::{Problem, Request};
use edge_spin::auth::{self as bearer, Authenticates, Backends};
use edge_spin::health::{self, Operator};
use edge_spin::redis::Redis;
use edge_spin::settings::Variables;
use edge_spin::{kv_unavailable, Lazy};
use http::{HeaderValue, Method};
use spin_sdk::key_value::Store;

use crate::endpoints::{account, sign_in};
use crate::settings::Settings;

/// Largest JSON body an auth endpoint reads.
pub const BODY_LIMIT: usize = 16 * 1024;

/// Every route this component answers as `(method, pattern, shape)`; the OpenAPI document is
/// checked against it.
pub fn operations() -> Vec<(Method, String, Shape)> {
    router().operations()
}

fn router() -> Routes<Auth> {
    Routes::new()
        .on(Method::GET, "/auth/health", health)
        .on(Method::GET, "/.well-known/jwks.json", account::jwks)
        .on(Method::POST, "/auth/register", sign_in::register)
        .on(Method::POST, "/auth/login", sign_in::login)
        .on(Method::POST, "/auth/refresh", sign_in::refresh)
        .on(Method::POST, "/auth/logout", sign_in::logout)
        .on(Method::POST, "/auth/logout-all", sign_in::logout_all)
        .on(Method::GET, "/auth/me", account::me)
        .on(Method::GET, "/auth/verify", account::verify)
        .on(Method::GET, "/auth/sessions", account::list_sessions)
        .on(Method::DELETE, "/auth/sessions/:id", account::revoke_session)
        .on(Method::POST, "/auth/password", account::change_password)
        .on(Method::POST, "/auth/users/:id/ban", account::ban)
}

/// The JSON schema of every request body a handler reads, by type name (the OpenAPI document
/// is checked against them).
#[cfg(feature = "schema")]
pub fn body_schemas() -> Vec<(&'static str, serde_json::Value)> {
    use edge_http::handler::body_schema;
    vec![
        body_schema::<endpoints::sign_in::RegisterBody>(),
        body_schema::<endpoints::sign_in::LoginBody>(),
        body_schema::<endpoints::account::PasswordBody>(),
    ]
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Answer {
    router().answer(&Auth::new(), &request).await
}

/// `GET /auth/health`: the key-value store and Redis.
async fn health(_: &Auth, Operator(detailed): Operator) -> Answer {
    let redis = edge_spin::setting(&edge_spin::settings::REDIS_ADDRESS)?;
    Ok(health::report("auth", vec![health::key_value("default"), health::redis(&redis)], detailed))
}

/// Everything one request may need: backends, keys and settings, each opened or read on first
/// use, so an endpoint makes only the host calls it needs (the JWKS reads one variable).
struct Auth {
    backends: Backends,
    store: Lazy<Store>,
    issuer: Lazy<Issuer>,
    settings: Settings<fn(&str) -> Option<String>>,
}

impl Authenticates for Auth {
    fn backends(&self) -> &Backends {
        &self.backends
    }
}

impl Auth {
    fn new() -> Self {
        Auth {
            backends: Backends::default(),
            store: Lazy::default(),
            issuer: Lazy::default(),
            settings: Settings::new(|name| Variables.raw(name)),
        }
    }

    fn redis(&self) -> Result<&Redis, Problem> {
        self.backends.redis()
    }

    fn store(&self) -> Result<&Store, Problem> {
        self.store.get_or_try(|| Store::open_default().map_err(kv_unavailable))
    }

    fn issuer(&self) -> Result<&Issuer, Problem> {
        self.issuer.get_or_try(|| {
            let (signing, _): (SigningKey, KeySet) = KeySet::from_signing_config(&edge_spin::setting(&settings::JWT_SIGNING_KEYS)?)
                .map_err(|e| Problem::misconfigured(format!("jwt_signing_keys: {e}")))?;
            Ok(Issuer::new(signing, bearer::audience()?))
        })
    }
}

fn header(value: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(value).map_err(|_| Problem::misconfigured("a cookie value is not a valid header"))
}
