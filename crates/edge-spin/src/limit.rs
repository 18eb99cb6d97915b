//! Rate limits: one [`Limit`] describes an action counted in the shared sliding window
//! ([`crate::redis::SLIDING_WINDOW`]) per client address or per user, and one refusal format
//! serves them all. A per-address limit is the [`PerClient`] extractor, counted before the
//! handler reads anything else, so a refusal costs one script call and no parsing, hashing or
//! writing; a per-user limit is [`Limit::check`], called once the caller is known.

use std::marker::PhantomData;

use edge_http::handler::{FromInput, Input, Shape};
use edge_http::setting::Number;
use edge_http::Problem;

use crate::auth::Authenticates;
use crate::redis::{Decision, Redis};

/// One limited action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The setting holding how many attempts one subject may make per window (its default is
    /// in spin.toml); the refusal names it so an operator knows what to raise.
    pub setting: Number,
    /// The window the attempts are counted in, in milliseconds.
    pub window_ms: u64,
    /// What is counted, in the refusal's words: "sign-ups per hour from one address".
    pub counted: &'static str,
    /// The refusal's problem code.
    pub code: &'static str,
    /// The prefix of the window's Redis key, `<prefix>:<subject>`: each action has its own.
    pub key: &'static str,
}

impl Limit {
    /// A limit per client address, refused as `rate-limited`.
    pub const fn per_address(setting: Number, window_ms: u64, counted: &'static str, key: &'static str) -> Limit {
        Limit { setting, window_ms, counted, code: "rate-limited", key }
    }

    /// Counts one attempt of `subject` (a client key or a user id); over the limit, a 429 with
    /// `Retry-After`, `limit` and `variable`. Redis down is a 503, never an unlimited pass.
    pub fn check(&self, redis: &Redis, subject: &str) -> Result<(), Problem> {
        let limit = crate::setting(&self.setting)?;
        match redis.limit(&[(&format!("{}:{subject}", self.key), limit)], self.window_ms, &edge_http::random_id())? {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => Err(Problem::too_many_requests(
                self.code,
                format!("at most {limit} {} ({}); retry after {retry_after} s", self.counted, self.setting.name),
                retry_after,
            )
            .with("limit", limit)
            .with("variable", self.setting.name)),
        }
    }
}

/// One action limited per client address; a component names it with a unit type.
pub trait ClientLimit {
    /// The limit, counted per [`crate::client_key`].
    const LIMIT: Limit;
}

/// Taken first among a handler's arguments: the request counts against `L` for its client
/// address ([`crate::client_key`]).
pub struct PerClient<L>(PhantomData<L>);

impl<S: Authenticates, L: ClientLimit> FromInput<S> for PerClient<L> {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        L::LIMIT.check(input.state.backends().redis()?, &crate::client_key(input.request.headers()))?;
        Ok(PerClient(PhantomData))
    }

    fn shape(shape: &mut Shape) {
        shape.limited = true;
    }
}
