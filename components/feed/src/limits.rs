//! What feed limits per client address ([`PerClient`](edge_spin::limit::PerClient)), and the
//! like pacing's refusal; each variable's default is in spin.toml.

use edge_http::Problem;
use edge_spin::limit::{ClientLimit, Window};
use edge_spin::redis::int;
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
