//! Bearer authentication with the shared verifier: signature and claims locally, then one
//! Redis round trip (`MGET`) for revocation and the session store's incarnation. Uppy's
//! companion routes also take the upload-only cookie ([`Uploader`]).

use edge_auth::{check_revocation, revocation_keys, Audience, AuthError, KeySet, Principal, Verifier};
use edge_http::handler::{Access, FromInput, Input, Shape};
use edge_http::{Problem, Request};

use std::rc::Rc;

use crate::redis::Redis;
use crate::Lazy;

/// A 401 problem for a refused token.
pub fn problem(error: AuthError) -> Problem {
    Problem::unauthorized(error.code(), error.to_string())
}

/// Issuer and audience from the `jwt_issuer` and `jwt_audience` variables.
pub fn audience() -> Result<Audience, Problem> {
    Ok(Audience { issuer: crate::setting(&crate::settings::JWT_ISSUER)?, audience: crate::setting(&crate::settings::JWT_AUDIENCE)? })
}

/// The verifier for the `jwt_public_keys` variable.
pub fn verifier() -> Result<Verifier, Problem> {
    Ok(Verifier::new(public_keys()?, audience()?))
}

/// The verifier of upload-only tokens ([`Audience::uploads`]), the same keys.
pub fn upload_verifier() -> Result<Verifier, Problem> {
    Ok(Verifier::new(public_keys()?, audience()?.uploads()))
}

fn public_keys() -> Result<KeySet, Problem> {
    KeySet::from_public_config(&crate::setting(&crate::settings::JWT_PUBLIC_KEYS)?)
        .map_err(|e| Problem::misconfigured(format!("jwt_public_keys: {e}")))
}

/// The principal of a request's bearer token, revocation included.
pub fn authenticate(request: &Request, verifier: &Verifier, redis: &Redis) -> Result<Principal, Problem> {
    principal(token(request)?, verifier, redis)
}

/// The request's bearer token, or the 401 for a request without one. Endpoints call this
/// before reading keys or opening Redis, so a request with no token costs no host call.
pub fn token(request: &Request) -> Result<&str, Problem> {
    let header = request.headers().get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    Verifier::bearer(header).map_err(problem)
}

/// The principal of a bearer token: signature and claims, then revocation.
pub fn principal(token: &str, verifier: &Verifier, redis: &Redis) -> Result<Principal, Problem> {
    let principal = verifier.verify(token).map_err(problem)?;
    let values = redis.mget(&revocation_keys(&principal).each_ref().map(String::as_str))?;
    let value = |i: usize| values.get(i).and_then(|v| v.as_deref());
    check_revocation(&principal, value(0), value(1), value(2)).map_err(problem)?;
    Ok(principal)
}

/// Redis and the verifier, each opened on first use: what a component's state lends the auth
/// extractors (and its own Redis calls).
#[derive(Default)]
pub struct Backends {
    redis: Lazy<Rc<Redis>>,
    verifier: Lazy<Verifier>,
    upload_verifier: Lazy<Verifier>,
}

impl Backends {
    /// Redis, opened on first use.
    pub fn redis(&self) -> Result<&Redis, Problem> {
        self.redis.get_or_try(|| Redis::open().map(Rc::new)).map(|redis| &**redis)
    }

    /// The same connection, for a component's own state that outlives a borrow (one request
    /// opens one connection and reads `redis_address` once).
    pub fn shared_redis(&self) -> Result<Rc<Redis>, Problem> {
        self.redis.get_or_try(|| Redis::open().map(Rc::new)).cloned()
    }

    /// The verifier for the `jwt_public_keys` variable, read on first use.
    pub fn verifier(&self) -> Result<&Verifier, Problem> {
        self.verifier.get_or_try(verifier)
    }

    /// The verifier of upload-only tokens, read on first use.
    pub fn upload_verifier(&self) -> Result<&Verifier, Problem> {
        self.upload_verifier.get_or_try(upload_verifier)
    }
}

/// A component state the auth extractors ([`Caller`], [`MaybeCaller`], [`Admin`]) can use.
pub trait Authenticates {
    /// The state's Redis and verifier.
    fn backends(&self) -> &Backends;
}

/// The signed-in caller; a request without a valid, unrevoked bearer token gets a 401. The
/// token's presence is checked before any key or connection is opened.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl<S: Authenticates> FromInput<S> for Caller {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        let token = token(input.request)?;
        let backends = input.state.backends();
        principal(token, backends.verifier()?, backends.redis()?).map(Caller)
    }

    fn shape(shape: &mut Shape) {
        shape.access = Access::Bearer;
    }
}

/// The caller when the request sends a token (which must then be valid), else `None`: public
/// endpoints that personalise their answer.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Principal>);

impl<S: Authenticates> FromInput<S> for MaybeCaller {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        if !input.request.headers().contains_key(http::header::AUTHORIZATION) {
            return Ok(MaybeCaller(None));
        }
        Caller::from_input(input).map(|Caller(principal)| MaybeCaller(Some(principal)))
    }

    fn shape(shape: &mut Shape) {
        shape.access = Access::Optional;
    }
}

/// A caller with the `admin` role (given at sign-in to the accounts `admin_user_ids` names);
/// others get a 403.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl<S: Authenticates> FromInput<S> for Admin {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        let Caller(principal) = Caller::from_input(input)?;
        if !principal.has_role("admin") {
            return Err(Problem::forbidden("admin-only", "this endpoint is for administrators (accounts named in admin_user_ids)"));
        }
        Ok(Admin(principal))
    }

    fn shape(shape: &mut Shape) {
        shape.access = Access::Admin;
    }
}

/// The cookie auth sets with the upload-only token, scoped to `/uploads/s3`.
pub const UPLOAD_COOKIE: &str = "upload_token";

/// The caller of Uppy's companion routes: a bearer token as for [`Caller`], or else the
/// upload-only cookie, which stock `@uppy/aws-s3` 6 sends because it cannot add headers.
///
/// The cookie counts only on a request the browser marks `Sec-Fetch-Site: same-origin`.
/// SameSite=Strict keeps it from other sites, but a page on another port of the same host is the
/// same site and would still send it (an `<img>` pointing at `/uploads/s3/params` would spend
/// the caller's quota); only Fetch Metadata names the origin, and no page script can forge it.
#[derive(Debug, Clone)]
pub struct Uploader(pub Principal);

impl<S: Authenticates> FromInput<S> for Uploader {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        let headers = input.request.headers();
        if headers.contains_key(http::header::AUTHORIZATION) {
            return Caller::from_input(input).map(|Caller(principal)| Uploader(principal));
        }
        let token = edge_http::cookie(headers, UPLOAD_COOKIE).ok_or_else(|| {
            Problem::unauthorized(
                "missing-token",
                "send an access token as `Authorization: Bearer <token>`, or sign in on this origin so the upload cookie is set",
            )
        })?;
        if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) != Some("same-origin") {
            return Err(Problem::forbidden(
                "cross-origin-cookie",
                "the upload cookie is accepted only from this origin's own pages (Sec-Fetch-Site: same-origin); send a bearer token instead",
            ));
        }
        let backends = input.state.backends();
        principal(token, backends.upload_verifier()?, backends.redis()?).map(Uploader)
    }

    fn shape(shape: &mut Shape) {
        shape.access = Access::BearerOrUploadCookie;
    }
}
