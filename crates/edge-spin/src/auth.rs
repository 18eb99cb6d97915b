//! Bearer authentication with the shared verifier: signature and claims locally, then one
//! Redis round trip (`MGET`) for revocation and the session store's incarnation.

use edge_auth::{check_revocation, revocation_keys, Audience, AuthError, KeySet, Principal, Verifier};
use edge_http::{Problem, Request};

use crate::redis::Redis;

/// A 401 problem for a refused token.
pub fn problem(error: AuthError) -> Problem {
    Problem::unauthorized(error.code(), error.to_string())
}

/// Issuer and audience from the `jwt_issuer` and `jwt_audience` variables.
pub fn audience() -> Result<Audience, Problem> {
    Ok(Audience { issuer: crate::variable("jwt_issuer")?, audience: crate::variable("jwt_audience")? })
}

/// The verifier for the `jwt_public_keys` variable.
pub fn verifier() -> Result<Verifier, Problem> {
    let keys = KeySet::from_public_config(&crate::variable("jwt_public_keys")?)
        .map_err(|e| Problem::misconfigured(format!("jwt_public_keys: {e}")))?;
    Ok(Verifier::new(keys, audience()?))
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
