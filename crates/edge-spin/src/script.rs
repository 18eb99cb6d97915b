//! Typed Redis scripts: a Lua file, the number of keys and arguments it takes, and how it runs
//! (`EVALSHA`, falling back to `EVAL` the first time a server has not seen it).

use edge_http::Problem;
use spin_sdk::redis::{RedisParameter, RedisResult};

use crate::redis::{arg, Redis};

/// How many keys or arguments a script takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Exactly this many.
    Exactly(usize),
    /// This many or more (a script looping over `KEYS` or `ARGV`).
    AtLeast(usize),
}

impl Count {
    fn admits(self, n: usize) -> bool {
        match self {
            Count::Exactly(want) => n == want,
            Count::AtLeast(least) => n >= least,
        }
    }
}

/// A Lua script Redis runs atomically. Every key it touches arrives in `KEYS`, so a cluster
/// (or a proxy) can route it; its text lives in a `.lua` file next to the code that calls it:
///
/// ```ignore
/// static ROTATE: Script = Script::new("rotate", include_str!("scripts/rotate.lua"), Count::Exactly(4), Count::Exactly(7));
/// ```
#[derive(Debug)]
pub struct Script {
    name: &'static str,
    source: &'static str,
    keys: Count,
    args: Count,
    /// The hex SHA-1, computed by the compiler.
    sha1: [u8; 40],
}

impl Script {
    /// A script called `name` (for errors), with its Lua `source` and the keys and arguments
    /// it takes.
    pub const fn new(name: &'static str, source: &'static str, keys: Count, args: Count) -> Self {
        Script { name, source, keys, args, sha1: crate::sha1::hex_digest(source) }
    }

    /// The script's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The Lua text.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// The hex SHA-1 Redis knows the script by (`EVALSHA`, `SCRIPT EXISTS`).
    pub fn sha1(&self) -> &str {
        std::str::from_utf8(&self.sha1).unwrap_or_default()
    }

    /// The `EVALSHA`/`EVAL` arguments after the script itself: key count, keys, arguments.
    /// A call with the wrong number of keys or arguments is a bug in the caller, refused
    /// before anything reaches Redis.
    pub fn call_args<K: AsRef<str>>(&self, keys: &[K], args: Vec<RedisParameter>) -> Result<Vec<RedisParameter>, Problem> {
        if !self.keys.admits(keys.len()) || !self.args.admits(args.len()) {
            return Err(Problem::internal(format!(
                "script {} called with {} keys and {} arguments, it takes {:?} and {:?}",
                self.name,
                keys.len(),
                args.len(),
                self.keys,
                self.args
            )));
        }
        let mut all = Vec::with_capacity(1 + keys.len() + args.len());
        all.push(arg(keys.len() as i64));
        all.extend(keys.iter().map(|k| arg(k.as_ref())));
        all.extend(args);
        Ok(all)
    }
}

/// Whether a Redis error says the server does not hold the script (`NOSCRIPT`: first use since
/// it started, or after `SCRIPT FLUSH`), however the host words the error.
pub fn is_noscript(message: &str) -> bool {
    message.to_ascii_lowercase().contains("noscript")
}

impl Redis {
    /// Runs `script` with `keys` and `args`: `EVALSHA`, which sends only the digest, and `EVAL`
    /// when the server has not seen the script yet (which also caches it there).
    pub fn run<K: AsRef<str>>(&self, script: &Script, keys: &[K], args: Vec<RedisParameter>) -> Result<Vec<RedisResult>, Problem> {
        let rest = script.call_args(keys, args)?;
        let mut call = Vec::with_capacity(rest.len() + 1);
        call.push(arg(script.sha1()));
        call.extend(rest);
        match self.0.execute("EVALSHA", &call) {
            Err(spin_sdk::redis::Error::Other(message)) if is_noscript(&message) => {
                call[0] = arg(script.source());
                self.exec("EVAL", &call)
            }
            other => other.map_err(crate::redis::unavailable),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static PING: Script = Script::new("ping", "return 'PONG'", Count::Exactly(1), Count::AtLeast(1));

    #[test]
    fn the_digest_is_the_one_redis_computes() {
        // `redis-cli SCRIPT LOAD "return 'PONG'"` answers this digest.
        assert_eq!(PING.sha1(), "7814fe8768dc7e582b000899dbd910a0a03a95b4");
    }

    #[test]
    fn calls_with_the_wrong_number_of_keys_or_arguments_are_refused() {
        assert_eq!(PING.call_args(&["k"], vec![arg("a"), arg(2i64)]).unwrap().len(), 4);
        assert_eq!(PING.call_args(&["k", "l"], vec![arg("a")]).unwrap_err().status(), 500);
        assert_eq!(PING.call_args::<&str>(&[], vec![arg("a")]).unwrap_err().status(), 500);
        assert!(PING.call_args(&["k"], Vec::new()).is_err());
    }

    #[test]
    fn noscript_is_recognised_in_both_wordings() {
        assert!(is_noscript("NOSCRIPT No matching script. Please use EVAL."));
        assert!(is_noscript("NoScriptError: No matching script"));
        assert!(!is_noscript("ERR wrong number of arguments"));
    }
}
