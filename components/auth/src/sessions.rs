//! Sessions and refresh tokens.
//!
//! A session is one sign-in on one device. Its refresh token is `<sid>.<generation>.<mac>` where
//! `mac` = HMAC-SHA256(session key, `<sid>.<generation>`): any generation's token can be checked
//! without storing it, so a token that is genuine but no longer current is recognised as reuse
//! (theft) and revokes the session, while a forged one is merely refused (knowing a session id
//! is not enough to sign anyone out). Rotation state lives in a Redis hash changed only by Lua
//! scripts, so concurrent refreshes cannot both rotate.

use base64ct::{Base64UrlUnpadded, Encoding};
use edge_http::Problem;
use edge_spin::script::{Count, Script};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use spin_sdk::redis::RedisResult;

use crate::keys;

/// A refresh token, parsed but not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefreshToken {
    /// Session id.
    pub sid: String,
    /// Generation (0 at sign-in, +1 per rotation).
    pub generation: u64,
    mac: Vec<u8>,
}

fn mac(session_secret: &[u8], sid: &str, generation: u64) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_secret).expect("HMAC takes any key length");
    mac.update(format!("{sid}.{generation}").as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The refresh token of `generation` for a session.
pub(crate) fn token(session_secret: &[u8], sid: &str, generation: u64) -> String {
    format!("{sid}.{generation}.{}", Base64UrlUnpadded::encode_string(mac(session_secret, sid, generation).as_ref()))
}

fn refused() -> Problem {
    Problem::unauthorized("invalid-refresh-token", "the refresh token is not valid; sign in again")
}

impl RefreshToken {
    /// Parses `<sid>.<generation>.<mac>`.
    pub(crate) fn parse(raw: &str) -> Result<Self, Problem> {
        let mut parts = raw.trim().splitn(3, '.');
        let (Some(sid), Some(generation), Some(mac)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(refused());
        };
        let valid_sid = edge_http::is_random_id(sid);
        let generation = generation.parse().map_err(|_| refused())?;
        let mac = Base64UrlUnpadded::decode_vec(mac).map_err(|_| refused())?;
        if !valid_sid || mac.len() != 32 {
            return Err(refused());
        }
        Ok(RefreshToken { sid: sid.to_owned(), generation, mac })
    }

    /// Whether the token was minted with this session's secret (constant-time comparison).
    pub(crate) fn is_genuine(&self, session_secret: &[u8]) -> bool {
        let mut check = Hmac::<Sha256>::new_from_slice(session_secret).expect("HMAC takes any key length");
        check.update(format!("{}.{}", self.sid, self.generation).as_bytes());
        check.verify_slice(&self.mac).is_ok()
    }
}

/// Creates a session: KEYS = [session hash, user's session set, user's epoch, incarnation];
/// ARGV = uid, device, secret, now ms, absolute lifetime ms, device name, user agent, session
/// id, a fresh incarnation id. Answers `{epoch, incarnation}`, which the first access token
/// carries; the first session of a new (or emptied) store starts its incarnation.
pub static CREATE: Script = Script::new("create", include_str!("scripts/create.lua"), Count::Exactly(4), Count::Exactly(9));

/// Rotates a refresh token: KEYS = [session hash, revocation marker, user's epoch,
/// incarnation]; ARGV = presented generation, device id, now ms, grace ms, idle ms, absolute
/// ms, marker TTL s. Its answer is a [`Rotation`].
pub static ROTATE: Script = Script::new("rotate", include_str!("scripts/rotate.lua"), Count::Exactly(4), Count::Exactly(7));

/// Counts one failed sign-in from an unknown device: KEYS = [the account's day counter];
/// ARGV = how long the counter lives after its last failure, in ms.
pub static COUNT_FAILURE: Script =
    Script::new("count-failure", include_str!("scripts/count-failure.lua"), Count::Exactly(1), Count::Exactly(1));

/// Remembers a browser that signed in: KEYS = [the account's known devices]; ARGV = device id,
/// now ms, how many devices to keep (the most recent), how long the set lives in seconds.
pub static REMEMBER_DEVICE: Script =
    Script::new("remember-device", include_str!("scripts/remember-device.lua"), Count::Exactly(1), Count::Exactly(4));

/// What [`ROTATE`] decided about a presented refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: the session moves to a new generation.
    Rotated(Rotated),
    /// The token was the one just rotated, within the grace period (a concurrent refresh from
    /// the same device): the current generation is handed out again.
    Grace(Rotated),
    /// An older genuine token came back: someone holds a copy, so the session is revoked.
    Reuse {
        /// The session's owner.
        user_id: String,
        /// The session's current generation.
        current: u64,
    },
    /// The session was signed out.
    Revoked,
    /// The token belongs to another device.
    Device,
    /// The session passed its idle or absolute lifetime.
    Expired,
    /// No such session, or a generation from the future.
    Unknown,
}

/// The state a refreshed session continues with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    /// The session's owner.
    pub user_id: String,
    /// The generation of the refresh token to hand out.
    pub generation: u64,
    /// The owner's revocation epoch, carried by the access token.
    pub epoch: u64,
    /// The store incarnation, carried by the access token.
    pub incarnation: String,
}

impl Rotation {
    /// Reads [`ROTATE`]'s reply `{outcome, uid, generation[, epoch, incarnation]}`.
    pub fn decode(reply: &[RedisResult]) -> Rotation {
        let text = |i: usize| reply.get(i).and_then(edge_spin::redis::text).unwrap_or_default();
        let number = |i: usize| reply.get(i).and_then(edge_spin::redis::int).unwrap_or(0).max(0) as u64;
        let rotated = || Rotated { user_id: text(1), generation: number(2), epoch: number(3), incarnation: text(4) };
        match text(0).as_str() {
            "rotated" => Rotation::Rotated(rotated()),
            "grace" => Rotation::Grace(rotated()),
            "reuse" => Rotation::Reuse { user_id: text(1), current: number(2) },
            "revoked" => Rotation::Revoked,
            "device" => Rotation::Device,
            "expired" => Rotation::Expired,
            _ => Rotation::Unknown,
        }
    }
}

/// Revokes sessions: KEYS = [user's session set, then for each session its hash and its
/// revocation marker]; ARGV = marker TTL s, then the session ids in the same order (see
/// [`revoke_keys`]). Each existing session of that user is marked revoked, gets a revocation
/// marker for its access tokens, and leaves the set. Answers how many were revoked.
pub static REVOKE: Script = Script::new("revoke", include_str!("scripts/revoke.lua"), Count::AtLeast(1), Count::AtLeast(1));

/// The keys [`REVOKE`] takes for these sessions of `user_id`.
pub fn revoke_keys(user_id: &str, sids: &[String]) -> Vec<String> {
    let mut names = vec![keys::user_sessions(user_id)];
    for sid in sids {
        names.push(keys::session(sid));
        names.push(edge_auth::revoked_session_key(sid));
    }
    names
}

/// Lists live sessions: KEYS = [user's session set, then each session's hash]; ARGV = the
/// session ids (the set's members, read just before). Drops ids whose hash expired or was
/// revoked, and answers `sid, name, ua, created, used` for each live one, flattened.
pub static LIST: Script = Script::new("list", include_str!("scripts/list.lua"), Count::AtLeast(1), Count::AtLeast(0));

/// The `Set-Cookie` value for the refresh token: HttpOnly, Secure, SameSite=Strict, sent only
/// to the refresh endpoint. `max_age` 0 deletes it.
pub(crate) fn refresh_cookie(token: &str, max_age_secs: u64) -> String {
    format!("refresh_token={token}; Path=/auth/refresh; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value for the upload-only token: HttpOnly, Secure, SameSite=Strict, sent
/// only to Uppy's companion routes, which also demand `Sec-Fetch-Site: same-origin`. It lives
/// as long as the access token it shadows (the SDK refreshes both); `max_age` 0 deletes it.
pub(crate) fn upload_cookie(token: &str, max_age_secs: u64) -> String {
    format!("upload_token={token}; Path=/uploads/s3; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value for the device id (a year; sent to the auth endpoints only).
pub(crate) fn device_cookie(device_id: &str) -> String {
    format!("device_id={device_id}; Path=/auth; Max-Age=31536000; HttpOnly; Secure; SameSite=Strict")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn tokens_round_trip_and_only_the_session_secret_makes_them() {
        let raw = token(b"secret-1", SID, 7);
        let parsed = RefreshToken::parse(&raw).unwrap();
        assert_eq!((parsed.sid.as_str(), parsed.generation), (SID, 7));
        assert!(parsed.is_genuine(b"secret-1"));
        assert!(!parsed.is_genuine(b"secret-2"));
        let bumped = raw.replacen(".7.", ".8.", 1);
        assert!(!RefreshToken::parse(&bumped).unwrap().is_genuine(b"secret-1"), "generation is signed");
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in ["", "a.b.c", &format!("{SID}.x.AAAA"), &format!("{SID}.1.!!"), &format!("{SID}.1.AAAA"), "zz.1.AAAA"] {
            assert_eq!(RefreshToken::parse(bad).unwrap_err().code(), "invalid-refresh-token", "{bad}");
        }
    }

    #[test]
    fn cookies_are_strict_and_scoped() {
        let c = refresh_cookie("t", 60);
        for part in ["Path=/auth/refresh", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=60"] {
            assert!(c.contains(part), "{c}");
        }
        assert!(device_cookie("d").contains("Path=/auth;"));
        let u = upload_cookie("t", 900);
        for part in ["upload_token=t;", "Path=/uploads/s3;", "HttpOnly", "Secure", "SameSite=Strict", "Max-Age=900"] {
            assert!(u.contains(part), "{u}");
        }
    }
}
