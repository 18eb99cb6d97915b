//! Per-client-address limits: the [`PerClient`] extractor counts a request against the shared
//! sliding window ([`crate::redis::SLIDING_WINDOW`]) before the handler reads anything else, so
//! a refusal costs one script call and no parsing, hashing or writing.

use std::marker::PhantomData;

use edge_http::handler::{FromInput, Input, Shape};
use edge_http::Problem;

use crate::auth::Authenticates;
use crate::redis::Decision;

/// The length of a limit's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// 60 seconds.
    Minute,
    /// 3,600 seconds.
    Hour,
}

impl Window {
    fn millis(self) -> u64 {
        match self {
            Window::Minute => 60_000,
            Window::Hour => 3_600_000,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Window::Minute => "minute",
            Window::Hour => "hour",
        }
    }
}

/// One action limited per client address; a component names it with a unit type.
pub trait ClientLimit {
    /// The variable holding how many attempts one address may make per window (its default is
    /// in spin.toml); the refusal names it so an operator knows what to raise.
    const VARIABLE: &'static str;
    /// The window the attempts are counted in.
    const WINDOW: Window;
    /// What is counted, in the refusal's words ("sign-ups"); also the Redis key's middle part,
    /// so each action has its own window.
    const ACTION: &'static str;
}

/// Taken first among a handler's arguments: the request counts against `L` for its client
/// address ([`crate::client_key`]), and over the limit it gets a 429 `rate-limited` problem
/// with `Retry-After`, `limit` and `variable`. Redis down is a 503, never an unlimited pass.
pub struct PerClient<L>(PhantomData<L>);

impl<S: Authenticates, L: ClientLimit> FromInput<S> for PerClient<L> {
    fn from_input(input: &Input<'_, S>) -> Result<Self, Problem> {
        let limit = crate::number_variable(L::VARIABLE, 1..=1_000_000_000)?;
        let key = format!("limit:{}:{}", L::ACTION, crate::client_key(input.request.headers()));
        let redis = input.state.backends().redis()?;
        match redis.limit(&[(&key, limit)], L::WINDOW.millis(), &edge_http::random_id())? {
            Decision::Allowed => Ok(PerClient(PhantomData)),
            Decision::Limited { retry_after } => Err(Problem::too_many_requests(
                "rate-limited",
                format!(
                    "at most {limit} {} per {} from one address ({}); retry after {retry_after} s",
                    L::ACTION,
                    L::WINDOW.name(),
                    L::VARIABLE
                ),
                retry_after,
            )
            .with("limit", limit)
            .with("variable", L::VARIABLE)),
        }
    }

    fn shape(shape: &mut Shape) {
        shape.limited = true;
    }
}
