//! Sessions and refresh tokens.
//!
//! A session is one sign-in on one device. Its refresh token is `<sid>.<generation>.<mac>` where
//! `mac` = HMAC-SHA256(session key, `<sid>.<generation>`): any generation's token can be checked
//! without storing it, so a token that is genuine but no longer current is recognised as reuse
//! (theft) and revokes the session, while a forged one is merely refused (knowing a session id
//! is not enough to sign anyone out). Rotation state lives in a Redis hash changed only by Lua
//! scripts, so concurrent refreshes cannot both rotate.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_http::Problem;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Redis hash of a session.
pub(crate) fn session_key(sid: &str) -> String {
    format!("auth:session:{sid}")
}

/// Redis set of a user's live session ids.
pub(crate) fn user_sessions_key(user_id: &str) -> String {
    format!("auth:sessions:{user_id}")
}

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
    format!("{sid}.{generation}.{}", URL_SAFE_NO_PAD.encode(mac(session_secret, sid, generation)))
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
        let valid_sid = sid.len() == 32 && sid.bytes().all(|b| b.is_ascii_hexdigit());
        let generation = generation.parse().map_err(|_| refused())?;
        let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| refused())?;
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
pub(crate) const CREATE: &str = r#"
redis.call('HSET', KEYS[1], 'uid', ARGV[1], 'dev', ARGV[2], 'key', ARGV[3], 'gen', 0,
  'rot', ARGV[4], 'used', ARGV[4], 'created', ARGV[4], 'name', ARGV[6], 'ua', ARGV[7])
redis.call('PEXPIREAT', KEYS[1], tonumber(ARGV[4]) + tonumber(ARGV[5]))
redis.call('SADD', KEYS[2], ARGV[8])
redis.call('SET', KEYS[4], ARGV[9], 'NX')
return {redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4])}
"#;

/// Rotates a refresh token: KEYS = [session hash, revocation marker, user's epoch,
/// incarnation]; ARGV = presented generation, device id, now ms, grace ms, idle ms, absolute
/// ms, marker TTL s. Answers `{outcome, uid, generation, epoch, incarnation}` with outcome
/// `rotated` (new generation), `grace` (the current
/// generation again: a concurrent refresh of the token just rotated), `reuse` (an older genuine
/// token: the session is revoked), `revoked`, `device`, `expired` or `unknown`.
pub(crate) const ROTATE: &str = r#"
local f = redis.call('HMGET', KEYS[1], 'uid', 'dev', 'gen', 'rot', 'used', 'created', 'revoked')
if not f[1] then return {'unknown', '', 0} end
local uid, dev, gen, rot, used, created = f[1], f[2], tonumber(f[3]), tonumber(f[4]), tonumber(f[5]), tonumber(f[6])
local pgen, now = tonumber(ARGV[1]), tonumber(ARGV[3])
if f[7] == '1' then return {'revoked', uid, gen} end
if ARGV[2] ~= dev then return {'device', uid, gen} end
if now - used > tonumber(ARGV[5]) or now - created > tonumber(ARGV[6]) then return {'expired', uid, gen} end
if pgen == gen then
  redis.call('HSET', KEYS[1], 'gen', gen + 1, 'rot', now, 'used', now)
  return {'rotated', uid, gen + 1, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4]) or ''}
end
if pgen == gen - 1 and now - rot <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'used', now)
  return {'grace', uid, gen, redis.call('GET', KEYS[3]) or '0', redis.call('GET', KEYS[4]) or ''}
end
if pgen < gen then
  redis.call('HSET', KEYS[1], 'revoked', '1')
  redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[7]))
  return {'reuse', uid, gen}
end
return {'unknown', uid, gen}
"#;

/// Revokes sessions: KEYS = [user's session set]; ARGV = marker TTL s, then session ids. Each
/// existing session of that user is marked revoked, gets a revocation marker for its access
/// tokens, and leaves the set. Answers how many were revoked.
pub(crate) const REVOKE: &str = r#"
local n = 0
for i = 2, #ARGV do
  local sid = ARGV[i]
  local key = 'auth:session:' .. sid
  if redis.call('SISMEMBER', KEYS[1], sid) == 1 then
    redis.call('SREM', KEYS[1], sid)
    if redis.call('EXISTS', key) == 1 and redis.call('HGET', key, 'revoked') ~= '1' then
      redis.call('HSET', key, 'revoked', '1')
      n = n + 1
    end
    redis.call('SET', 'auth:revoked:' .. sid, '1', 'EX', tonumber(ARGV[1]))
  end
end
return n
"#;

/// Lists live sessions: KEYS = [user's session set]. Drops ids whose hash expired or was
/// revoked, and answers `sid, name, ua, created, used` for each live one, flattened.
pub(crate) const LIST: &str = r#"
local out = {}
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local f = redis.call('HMGET', 'auth:session:' .. sid, 'uid', 'name', 'ua', 'created', 'used', 'revoked')
  if not f[1] or f[6] == '1' then
    redis.call('SREM', KEYS[1], sid)
  else
    for _, v in ipairs({sid, f[2] or '', f[3] or '', f[4], f[5]}) do table.insert(out, v) end
  end
end
return out
"#;

/// The `Set-Cookie` value for the refresh token: HttpOnly, Secure, SameSite=Strict, sent only
/// to the refresh endpoint. `max_age` 0 deletes it.
pub(crate) fn refresh_cookie(token: &str, max_age_secs: u64) -> String {
    format!("refresh_token={token}; Path=/auth/refresh; Max-Age={max_age_secs}; HttpOnly; Secure; SameSite=Strict")
}

/// The `Set-Cookie` value for the device id (a year; sent to the auth endpoints only).
pub(crate) fn device_cookie(device_id: &str) -> String {
    format!("device_id={device_id}; Path=/auth; Max-Age=31536000; HttpOnly; Secure; SameSite=Strict")
}

/// The value of cookie `name` in a `Cookie` header.
pub(crate) fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then_some(v)
    })
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
        assert_eq!(cookie(Some("a=1; refresh_token=xyz; b=2"), "refresh_token"), Some("xyz"));
        assert_eq!(cookie(Some("refresh_tokenx=1"), "refresh_token"), None);
        assert_eq!(cookie(None, "x"), None);
    }
}
