//! What feed limits per client address ([`PerClient`](edge_spin::limit::PerClient)) and per
//! user ([`Limit::check`]), and the like pacing's refusal; each setting is in [`crate::settings`].

use edge_http::Problem;
use edge_spin::limit::{ClientLimit, Limit};
use edge_spin::redis::int;
use spin_sdk::redis::RedisResult;

use crate::{keys, settings};

/// Likes and unlikes of videos and comments.
pub(crate) struct Likes;

impl ClientLimit for Likes {
    const LIMIT: Limit =
        Limit::per_address(settings::LIKE_PER_CLIENT_PER_MINUTE, 60_000, "likes per minute from one address", keys::LIKES_PER_CLIENT);
}

/// Follows and unfollows.
pub(crate) struct Follows;

impl ClientLimit for Follows {
    const LIMIT: Limit =
        Limit::per_address(settings::FOLLOW_PER_CLIENT_PER_MINUTE, 60_000, "follows per minute from one address", keys::FOLLOWS_PER_CLIENT);
}

/// Comments posted.
pub(crate) struct Comments;

impl ClientLimit for Comments {
    const LIMIT: Limit = Limit::per_address(
        settings::COMMENT_PER_CLIENT_PER_MINUTE,
        60_000,
        "comments per minute from one address",
        keys::COMMENTS_PER_CLIENT,
    );
}

/// Danmaku one user may post per 10 seconds.
pub(crate) const DANMAKU_PER_USER: Limit = Limit {
    setting: settings::DANMAKU_PER_TEN_SECONDS,
    window_ms: 10_000,
    counted: "danmaku per 10 seconds",
    code: "danmaku-rate-limited",
    key: keys::DANMAKU_PER_USER,
};

/// Comments one user may post per minute.
pub(crate) const COMMENTS_PER_USER: Limit = Limit {
    setting: settings::COMMENT_PER_MINUTE,
    window_ms: 60_000,
    counted: "comments per minute",
    code: "comment-rate-limited",
    key: keys::COMMENTS_PER_USER,
};

/// The refusal of a like script's `{-2, wait ms}`: the caller changed their like on this
/// `target` ("video", "comment") less than `like_interval_ms` ago.
pub(crate) fn like_too_fast(reply: &[RedisResult], interval: u64, target: &str) -> Problem {
    let wait_ms = reply.get(1).and_then(int).map_or(interval, |ms| ms.max(1) as u64);
    Problem::too_many_requests(
        "like-too-fast",
        format!("change a like at most once per {interval} ms on the same {target} ({})", settings::LIKE_INTERVAL_MS.name),
        wait_ms.div_ceil(1000),
    )
    .with("limit", interval)
    .with("variable", settings::LIKE_INTERVAL_MS.name)
}
