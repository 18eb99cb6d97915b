//! Redis for components: one connection per request to the `redis_address` variable, results
//! mapped to problems (a Redis failure is a 503 the client may retry), and the one sliding-window
//! rate limiter every component uses.

use edge_http::Problem;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

use crate::script::{Count, Script};

/// A connection to the app's Redis.
pub struct Redis(pub(crate) Connection);

pub(crate) fn unavailable(error: spin_sdk::redis::Error) -> Problem {
    Problem::unavailable("redis-unavailable", format!("the state store did not answer ({}); retry shortly", describe(&error)))
}

/// A Redis error in words (the SDK's own `Display` shows the variant's Rust name).
pub fn describe(error: &spin_sdk::redis::Error) -> String {
    use spin_sdk::redis::Error;
    match error {
        Error::Other(message) => message.clone(),
        Error::InvalidAddress => "the Redis address is malformed or not in allowed_outbound_hosts".into(),
        Error::TooManyConnections => "too many open Redis connections".into(),
        Error::TypeError => "a key holds a value of the wrong type".into(),
    }
}

/// A Redis argument.
pub fn arg(value: impl Into<Arg>) -> RedisParameter {
    match value.into() {
        Arg::Int(i) => RedisParameter::Int64(i),
        Arg::Bytes(b) => RedisParameter::Binary(b),
    }
}

/// Something that can be a Redis argument.
pub enum Arg {
    /// An integer.
    Int(i64),
    /// Bytes (strings included).
    Bytes(Vec<u8>),
}

impl From<i64> for Arg {
    fn from(i: i64) -> Self {
        Arg::Int(i)
    }
}
impl From<u64> for Arg {
    fn from(i: u64) -> Self {
        Arg::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Bytes(s.as_bytes().to_vec())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Bytes(s.into_bytes())
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Self {
        Arg::Bytes(s.as_bytes().to_vec())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(b: Vec<u8>) -> Self {
        Arg::Bytes(b)
    }
}

/// A reply value as text, for scripts that answer with strings and numbers.
pub fn text(result: &RedisResult) -> Option<String> {
    match result {
        RedisResult::Binary(b) => String::from_utf8(b.clone()).ok(),
        RedisResult::Status(s) => Some(s.clone()),
        RedisResult::Int64(i) => Some(i.to_string()),
        RedisResult::Nil => None,
    }
}

/// A reply value as an integer.
pub fn int(result: &RedisResult) -> Option<i64> {
    match result {
        RedisResult::Int64(i) => Some(*i),
        other => text(other)?.parse().ok(),
    }
}

impl Redis {
    /// Connects to the `redis_address` variable's server.
    pub fn open() -> Result<Self, Problem> {
        let address = crate::setting(&crate::settings::REDIS_ADDRESS)?;
        Connection::open(&address).map(Redis).map_err(unavailable)
    }

    /// Runs one command.
    pub fn exec(&self, command: &str, args: &[RedisParameter]) -> Result<Vec<RedisResult>, Problem> {
        self.0.execute(command, args).map_err(unavailable)
    }

    /// `MGET` of `keys`, each value or `None`.
    pub fn mget(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, Problem> {
        let args: Vec<RedisParameter> = keys.iter().map(|k| arg(*k)).collect();
        let results = self.exec("MGET", &args)?;
        Ok(results
            .into_iter()
            .map(|r| match r {
                RedisResult::Binary(b) => Some(b),
                _ => None,
            })
            .collect())
    }
}

/// The answer of [`Redis::limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; the attempt was counted.
    Allowed,
    /// Over the limit; retry after this many seconds. Nothing was counted.
    Limited {
        /// Seconds until the oldest counted attempt leaves the window.
        retry_after: u64,
    },
}

/// Sliding-window log over sorted sets: for every key, drop members older than the window, and
/// if any key holds `limit` or more, refuse with the time until its oldest member expires;
/// otherwise add the attempt to every key. One script, so concurrent attempts cannot overshoot.
/// KEYS = the windows; ARGV = now ms, window ms, attempt id, then each key's limit ([`limit_args`]);
/// the reply is a [`Decision`] ([`Decision::decode`]).
pub static SLIDING_WINDOW: Script =
    Script::new("sliding-window", include_str!("scripts/sliding-window.lua"), Count::AtLeast(1), Count::AtLeast(4));

/// [`SLIDING_WINDOW`]'s arguments for one attempt at `now_ms`.
pub fn limit_args(keys: &[(&str, u64)], now_ms: u64, window_ms: u64, member: &str) -> Vec<RedisParameter> {
    let mut args = vec![arg(now_ms), arg(window_ms), arg(member)];
    args.extend(keys.iter().map(|(_, limit)| arg(*limit)));
    args
}

impl Decision {
    /// Reads [`SLIDING_WINDOW`]'s reply: 0, or the milliseconds to wait (rounded up to whole
    /// seconds for `Retry-After`).
    pub fn decode(reply: &[RedisResult]) -> Decision {
        let wait_ms = reply.first().and_then(int).unwrap_or(0).max(0) as u64;
        if wait_ms == 0 {
            Decision::Allowed
        } else {
            Decision::Limited { retry_after: wait_ms.div_ceil(1000).max(1) }
        }
    }
}

impl Redis {
    /// Counts one attempt `member` against every `(key, limit)` within `window_ms`, all or
    /// nothing. Use a unique `member` per attempt (it can be [`Redis::forget`]-ed later).
    pub fn limit(&self, keys: &[(&str, u64)], window_ms: u64, member: &str) -> Result<Decision, Problem> {
        let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        let reply = self.run(&SLIDING_WINDOW, &names, limit_args(keys, now_ms(), window_ms, member))?;
        Ok(Decision::decode(&reply))
    }

    /// Removes one counted attempt from a window (a login that succeeded).
    pub fn forget(&self, key: &str, member: &str) -> Result<(), Problem> {
        self.exec("ZREM", &[arg(key), arg(member)]).map(drop)
    }

    /// Deletes keys.
    pub fn del(&self, keys: &[&str]) -> Result<(), Problem> {
        let args: Vec<RedisParameter> = keys.iter().map(|k| arg(*k)).collect();
        self.exec("DEL", &args).map(drop)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
