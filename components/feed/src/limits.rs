//! What feed limits per client address ([`PerClient`](edge_spin::limit::PerClient)) and per
//! user ([`UserLimit`]), and the like pacing's refusal; each variable's default is in spin.toml.

use edge_http::Problem;
use edge_spin::limit::{ClientLimit, Window};
use edge_spin::redis::{int, Decision, Redis};
use spin_sdk::redis::RedisResult;

/// Likes and unlikes of videos and comments.
pub(crate) struct Likes;

impl ClientLimit for Likes {
    const VARIABLE: &'static str = "like_per_client_per_minute";
    const WINDOW: Window = Window::Minute;
    const ACTION: &'static str = "likes";
}

/// Follows and unfollows.
pub(crate) struct Follows;

impl ClientLimit for Follows {
    const VARIABLE: &'static str = "follow_per_client_per_minute";
    const WINDOW: Window = Window::Minute;
    const ACTION: &'static str = "follows";
}

/// Comments posted.
pub(crate) struct Comments;

impl ClientLimit for Comments {
    const VARIABLE: &'static str = "comment_per_client_per_minute";
    const WINDOW: Window = Window::Minute;
    const ACTION: &'static str = "comments";
}

/// The refusal of a like script's `{-2, wait ms}`: the caller changed their like on this
/// `target` ("video", "comment") less than `like_interval_ms` ago.
pub(crate) fn like_too_fast(reply: &[RedisResult], interval: u64, target: &str) -> Problem {
    let wait_ms = reply.get(1).and_then(int).map_or(interval, |ms| ms.max(1) as u64);
    Problem::too_many_requests(
        "like-too-fast",
        format!("change a like at most once per {interval} ms on the same {target} (like_interval_ms)"),
        wait_ms.div_ceil(1000),
    )
    .with("limit", interval)
    .with("variable", "like_interval_ms")
}

/// What one user may post per window, counted in the shared sliding window under
/// `<key>:<user>`.
pub(crate) struct UserLimit {
    /// The variable holding how many per window.
    pub variable: &'static str,
    /// The window.
    pub window_ms: u64,
    /// The refusal's words: "danmaku per 10 seconds".
    pub per: &'static str,
    /// The refusal's problem code.
    pub code: &'static str,
    /// The window's key prefix.
    pub key: &'static str,
}

/// Danmaku one user may post per 10 seconds.
pub(crate) const DANMAKU_PER_USER: UserLimit = UserLimit {
    variable: "danmaku_per_ten_seconds",
    window_ms: 10_000,
    per: "danmaku per 10 seconds",
    code: "danmaku-rate-limited",
    key: "dm:rate",
};

/// Comments one user may post per minute.
pub(crate) const COMMENTS_PER_USER: UserLimit = UserLimit {
    variable: "comment_per_minute",
    window_ms: 60_000,
    per: "comments per minute",
    code: "comment-rate-limited",
    key: "cm:rate",
};

impl UserLimit {
    /// Counts one post of `user`; over the limit, a 429 with `Retry-After` naming the variable.
    pub(crate) fn check(&self, redis: &Redis, user: &str) -> Result<(), Problem> {
        let limit = edge_spin::number_variable(self.variable, 1..=1_000_000_000)?;
        match redis.limit(&[(&format!("{}:{user}", self.key), limit)], self.window_ms, &edge_http::random_id())? {
            Decision::Allowed => Ok(()),
            Decision::Limited { retry_after } => {
                Err(Problem::too_many_requests(self.code, format!("at most {limit} {} ({})", self.per, self.variable), retry_after)
                    .with("limit", limit)
                    .with("variable", self.variable))
            }
        }
    }
}
