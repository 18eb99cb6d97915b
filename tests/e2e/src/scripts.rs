//! Runs the components' Redis scripts natively against a real Redis, the way the Spin adapter
//! does (`EVALSHA`, `EVAL` on `NOSCRIPT`, replies flattened as Spin flattens them), so each
//! script's decisions get a fast test of their own with time passed in.

use edge_spin::script::{is_noscript, Script};
use spin_sdk::redis::{RedisParameter, RedisResult};

/// A synchronous connection that runs [`Script`]s.
pub struct ScriptRunner(redis::Connection);

impl ScriptRunner {
    /// Connects to `url` (`redis://127.0.0.1:<port>`).
    pub fn connect(url: &str) -> ScriptRunner {
        ScriptRunner(redis::Client::open(url).unwrap().get_connection().unwrap())
    }

    /// Runs `script`; panics on a Redis error (a broken script is a failed test).
    pub fn run<K: AsRef<str>>(&mut self, script: &Script, keys: &[K], args: Vec<RedisParameter>) -> Vec<RedisResult> {
        let rest = script.call_args(keys, args).unwrap();
        let command = |name: &str, first: &str| {
            let mut command = redis::cmd(name);
            command.arg(first);
            for parameter in &rest {
                match parameter {
                    RedisParameter::Int64(i) => command.arg(*i),
                    RedisParameter::Binary(bytes) => command.arg(bytes.as_slice()),
                };
            }
            command
        };
        let reply = match command("EVALSHA", script.sha1()).query::<redis::Value>(&mut self.0) {
            Err(e) if is_noscript(&e.to_string()) => command("EVAL", script.source()).query(&mut self.0),
            other => other,
        };
        let mut out = Vec::new();
        flatten(reply.unwrap_or_else(|e| panic!("script {} failed: {e}", script.name())), &mut out);
        out
    }

    /// Runs one plain command.
    pub fn command(&mut self, args: &[&str]) -> redis::Value {
        let mut command = redis::cmd(args[0]);
        command.arg(&args[1..]);
        command.query(&mut self.0).unwrap()
    }
}

fn flatten(value: redis::Value, out: &mut Vec<RedisResult>) {
    match value {
        redis::Value::Nil => out.push(RedisResult::Nil),
        redis::Value::Int(i) => out.push(RedisResult::Int64(i)),
        redis::Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        redis::Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        redis::Value::Okay => out.push(RedisResult::Status("OK".into())),
        redis::Value::Array(items) | redis::Value::Set(items) => items.into_iter().for_each(|item| flatten(item, out)),
        other => panic!("unexpected script reply {other:?}"),
    }
}
