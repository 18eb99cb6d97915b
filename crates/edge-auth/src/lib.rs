//! Access tokens for every component: one [`Verifier`] (signature, algorithm, key id, issuer,
//! audience, expiry and not-before with a small leeway, then revocation), one [`Issuer`] used by
//! the auth component, and the [`Principal`] a verified token yields.
//!
//! Tokens are EdDSA (Ed25519) JWTs (`jws.rs`, on ed25519-compact); the header carries `kid` so
//! several keys can be valid at once during a rotation. Revocation needs no per-token state: the token
//! carries the user's revocation epoch (`ep`), its session id (`sid`) and the incarnation of
//! the Redis holding that state (`inc`), and [`revocation_keys`] names the three Redis keys to
//! read in one `MGET`, judged by [`check_revocation`]. The incarnation makes revocation fail
//! closed: a Redis that lost its data (a new instance, `FLUSHALL`, failover to an empty
//! replica) also lost every revocation, so it starts a new incarnation and every token issued
//! before is refused. Everything here is pure; the caller does the I/O.

mod jws;
mod keys;

use base64ct::{Base64UrlUnpadded, Encoding};
use serde::{Deserialize, Serialize};

pub use keys::{KeyError, KeySet, SigningKey};

/// How long an access token lives.
pub const ACCESS_TOKEN_TTL_SECS: u64 = 15 * 60;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// Longest token accepted; anything longer is refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Why a token was refused. Every variant is a 401 for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization: Bearer` header.
    #[error("send an access token as `Authorization: Bearer <token>`")]
    Missing,
    /// Not a well-formed, correctly signed token from a known key.
    #[error("the access token is invalid: {0}")]
    Invalid(String),
    /// Past `exp` (beyond the leeway).
    #[error("the access token has expired; refresh it")]
    Expired,
    /// Before `nbf` (beyond the leeway).
    #[error("the access token is not valid yet")]
    NotYetValid,
    /// Its session was signed out or revoked.
    #[error("this session was signed out; sign in again")]
    SessionRevoked,
    /// Issued before the user's latest revocation (sign-out everywhere, password change, ban).
    #[error("this token was revoked; sign in again")]
    EpochRevoked,
    /// Issued before the session store lost its data, so whether it was revoked is unknown.
    #[error("the session store was reset, which ended every earlier sign-in; sign in again")]
    SessionLost,
}

impl AuthError {
    /// The stable problem code.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::Missing => "missing-token",
            AuthError::Invalid(_) => "invalid-token",
            AuthError::Expired => "token-expired",
            AuthError::NotYetValid => "token-not-yet-valid",
            AuthError::SessionRevoked => "session-revoked",
            AuthError::EpochRevoked => "token-revoked",
            AuthError::SessionLost => "session-lost",
        }
    }
}

/// Every claim a token carries: the registered ones (RFC 7519), then this product's own.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: Option<String>,
    /// A string or an array of them.
    aud: Option<serde_json::Value>,
    sub: Option<String>,
    iat: Option<u64>,
    nbf: Option<u64>,
    exp: Option<u64>,
    jti: Option<String>,
    /// Session id (one per sign-in on one device).
    sid: String,
    /// The user's revocation epoch when the token was issued.
    ep: u64,
    /// Roles, for example `admin`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    roles: Vec<String>,
    /// The session store's incarnation when the token was issued ([`INCARNATION_KEY`]).
    #[serde(default)]
    inc: String,
}

/// Whether `aud`, one audience or several (RFC 7519, 4.1.3), names `audience`.
fn names(aud: Option<&serde_json::Value>, audience: &str) -> bool {
    match aud {
        Some(serde_json::Value::String(one)) => one == audience,
        Some(serde_json::Value::Array(many)) => many.iter().any(|a| a.as_str() == Some(audience)),
        _ => false,
    }
}

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user id (`sub`).
    pub user_id: String,
    /// The session id (`sid`).
    pub session_id: String,
    /// The revocation epoch the token carries.
    pub epoch: u64,
    /// The session store's incarnation the token was issued in.
    pub incarnation: String,
    /// Roles granted.
    pub roles: Vec<String>,
    /// When the token expires, seconds since the Unix epoch.
    pub expires_at: u64,
}

impl Principal {
    /// Whether the principal has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Issuer and audience every token names.
#[derive(Debug, Clone)]
pub struct Audience {
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
}

impl Audience {
    /// The audience of upload-only tokens, `<aud>#uploads`: what the `upload_token` cookie
    /// carries for Uppy's companion mode. A verifier for this audience accepts only them, and
    /// every other verifier refuses them, so a leaked cookie can upload but do nothing else.
    pub fn uploads(&self) -> Audience {
        Audience { issuer: self.issuer.clone(), audience: format!("{}#uploads", self.audience) }
    }
}

/// Signs access tokens (the auth component's half).
pub struct Issuer {
    key: SigningKey,
    audience: Audience,
}

impl Issuer {
    /// An issuer signing with `key`.
    pub fn new(key: SigningKey, audience: Audience) -> Self {
        Issuer { key, audience }
    }

    /// A signed access token for `user_id` in session `session_id`, with a fresh `jti`, issued now.
    pub fn issue(&self, user_id: &str, session: &Session<'_>, roles: Vec<String>) -> Result<String, KeyError> {
        self.issue_at(user_id, session, roles, unix_now())
    }

    /// The same token issued at `now_secs` (Unix seconds): valid from then for
    /// [`ACCESS_TOKEN_TTL_SECS`].
    pub fn issue_at(&self, user_id: &str, session: &Session<'_>, roles: Vec<String>, now_secs: u64) -> Result<String, KeyError> {
        self.sign(&self.audience, user_id, session, roles, now_secs)
    }

    /// An upload-only token ([`Audience::uploads`]) for the same session, issued now: as
    /// revocable as the access token and as short-lived, but without roles.
    pub fn issue_for_uploads(&self, user_id: &str, session: &Session<'_>) -> Result<String, KeyError> {
        self.issue_for_uploads_at(user_id, session, unix_now())
    }

    /// [`Issuer::issue_for_uploads`] issued at `now_secs`.
    pub fn issue_for_uploads_at(&self, user_id: &str, session: &Session<'_>, now_secs: u64) -> Result<String, KeyError> {
        self.sign(&self.audience.uploads(), user_id, session, Vec::new(), now_secs)
    }

    fn sign(
        &self,
        audience: &Audience,
        user_id: &str,
        session: &Session<'_>,
        roles: Vec<String>,
        now_secs: u64,
    ) -> Result<String, KeyError> {
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).expect("the host provides randomness");
        let claims = Claims {
            iss: Some(audience.issuer.clone()),
            aud: Some(audience.audience.clone().into()),
            sub: Some(user_id.to_owned()),
            iat: Some(now_secs),
            nbf: Some(now_secs),
            exp: Some(now_secs + ACCESS_TOKEN_TTL_SECS),
            jti: Some(Base64UrlUnpadded::encode_string(&jti)),
            sid: session.id.to_owned(),
            ep: session.epoch,
            roles,
            inc: session.incarnation.to_owned(),
        };
        self.key.sign(&claims)
    }
}

/// Verifies access tokens (every component's half).
pub struct Verifier {
    keys: KeySet,
    audience: Audience,
}

impl Verifier {
    /// A verifier accepting tokens signed by any key in `keys`.
    pub fn new(keys: KeySet, audience: Audience) -> Self {
        Verifier { keys, audience }
    }

    /// The keys it accepts (for publishing them as a JWKS).
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The token from an `Authorization` header value (`Bearer <token>`).
    pub fn bearer(header: Option<&str>) -> Result<&str, AuthError> {
        let value = header.ok_or(AuthError::Missing)?;
        let (scheme, token) = value.split_once(' ').ok_or(AuthError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(AuthError::Missing);
        }
        Ok(token.trim())
    }

    /// Checks signature, algorithm, key id, issuer, audience, expiry and not-before against the
    /// wall clock. The caller must still check revocation ([`revocation_keys`],
    /// [`check_revocation`]).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_at(token, unix_now())
    }

    /// [`Verifier::verify`] as if the time were `now_secs` (Unix seconds).
    pub fn verify_at(&self, token: &str, now_secs: u64) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid(format!("longer than {MAX_TOKEN_BYTES} bytes")));
        }
        let parts = jws::Parts::split(token)?;
        if parts.header.alg != jws::ALGORITHM {
            return Err(AuthError::Invalid(format!("algorithm {:?} is not accepted", parts.header.alg)));
        }
        let kid = parts.header.kid.as_deref().ok_or_else(|| AuthError::Invalid("no key id (kid)".into()))?;
        let key = self.keys.public(kid).ok_or_else(|| AuthError::Invalid(format!("unknown key id {kid:?}")))?;
        if !parts.signed_by(key) {
            return Err(AuthError::Invalid("the signature does not match".into()));
        }
        let claims: Claims = serde_json::from_slice(&parts.payload).map_err(|e| AuthError::Invalid(format!("unreadable claims: {e}")))?;
        if claims.iss.as_deref() != Some(self.audience.issuer.as_str()) {
            return Err(AuthError::Invalid("issued by someone else (iss)".into()));
        }
        if !names(claims.aud.as_ref(), &self.audience.audience) {
            return Err(AuthError::Invalid("meant for another audience (aud)".into()));
        }
        let expires_at = claims.exp.ok_or_else(|| AuthError::Invalid("no expiry".into()))?;
        if now_secs > expires_at.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::Expired);
        }
        let earliest = claims.nbf.into_iter().chain(claims.iat).max().unwrap_or(0);
        if earliest > now_secs.saturating_add(LEEWAY_SECS) {
            return Err(AuthError::NotYetValid);
        }
        let user_id = claims.sub.filter(|s| !s.is_empty()).ok_or_else(|| AuthError::Invalid("no subject".into()))?;
        if claims.sid.is_empty() {
            return Err(AuthError::Invalid("no session id".into()));
        }
        Ok(Principal { user_id, session_id: claims.sid, epoch: claims.ep, incarnation: claims.inc, roles: claims.roles, expires_at })
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Redis key holding a user's revocation epoch (absent = 0).
pub fn epoch_key(user_id: &str) -> String {
    format!("auth:epoch:{user_id}")
}

/// Redis key marking a revoked session (kept as long as its access tokens could live).
pub fn revoked_session_key(session_id: &str) -> String {
    format!("auth:revoked:{session_id}")
}

/// How long a session revocation marker must live: past any access token of that session.
pub const REVOCATION_MARKER_TTL_SECS: u64 = ACCESS_TOKEN_TTL_SECS + LEEWAY_SECS;

/// The keys to `MGET` in one round trip: `[epoch, revoked-session marker]`.
pub fn revocation_keys(principal: &Principal) -> [String; 3] {
    [epoch_key(&principal.user_id), revoked_session_key(&principal.session_id), INCARNATION_KEY.to_owned()]
}

/// Redis key holding the session store's incarnation: a random id set (`SET NX`) by the first
/// sign-in, gone with every other key when the store loses its data.
pub const INCARNATION_KEY: &str = "auth:incarnation";

/// What an access token is issued for: a session, the user's revocation epoch, and the session
/// store's incarnation ([`INCARNATION_KEY`]).
#[derive(Debug, Clone, Copy)]
pub struct Session<'a> {
    /// The session id.
    pub id: &'a str,
    /// The user's revocation epoch.
    pub epoch: u64,
    /// The session store's incarnation.
    pub incarnation: &'a str,
}

/// Judges the `MGET` answer for [`revocation_keys`]: epoch, revocation marker, incarnation. A
/// token from another incarnation (or a store with none) is refused, whatever else it says:
/// the store that would know of its revocation is gone.
pub fn check_revocation(
    principal: &Principal,
    epoch: Option<&[u8]>,
    revoked: Option<&[u8]>,
    incarnation: Option<&[u8]>,
) -> Result<(), AuthError> {
    if principal.incarnation.is_empty() || incarnation != Some(principal.incarnation.as_bytes()) {
        return Err(AuthError::SessionLost);
    }
    if revoked.is_some() {
        return Err(AuthError::SessionRevoked);
    }
    let current: u64 = epoch.and_then(|e| std::str::from_utf8(e).ok()?.parse().ok()).unwrap_or(0);
    if principal.epoch < current {
        return Err(AuthError::EpochRevoked);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
