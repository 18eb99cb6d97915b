//! Feed's settings, each a Spin variable whose default and description are in spin.toml; read
//! with [`edge_spin::setting`] by the route that uses it. The shared ones (Redis, tokens, CORS,
//! proxies) are [`edge_spin::settings`]; the limits built on these are [`crate::limits`].

use edge_http::setting::{Number, Text};

/// The HMAC key of upload receipts and checked-cover marks, shared with upload-sign.
pub(crate) const UPLOAD_RECEIPT_KEY: Text = Text::new("upload_receipt_key");
/// Words no danmaku may contain, comma-separated (see [`crate::danmaku::parse_blocklist`]).
pub(crate) const DANMAKU_BLOCKLIST: Text = Text::new("danmaku_blocklist");
/// Danmaku one user may post per 10 seconds.
pub(crate) const DANMAKU_PER_TEN_SECONDS: Number = Number::new("danmaku_per_ten_seconds", 1, 1_000_000_000);
/// How long the same text from the same user on the same video counts as a repeat.
pub(crate) const DANMAKU_REPEAT_SECS: Number = Number::new("danmaku_repeat_secs", 1, 86_400);
/// How long one play of a user counts once.
pub(crate) const PLAY_WINDOW_SECS: Number = Number::new("play_window_secs", 1, 30 * 86_400);
/// How long the rendered ranking is cached (0: not cached).
pub(crate) const RANKING_CACHE_SECS: Number = Number::new("ranking_cache_secs", 0, 3600);
/// How long one live stream lasts before the browser reconnects.
pub(crate) const DANMAKU_LIVE_SECS: Number = Number::new("danmaku_live_secs", 10, 300);
/// Live streams open at once from one client address.
pub(crate) const LIVE_STREAMS_PER_CLIENT: Number = Number::new("live_streams_per_client", 1, 1_000_000);
/// Live streams open at once on one edge instance ([`LIVE_INSTANCE`]).
pub(crate) const LIVE_STREAMS_PER_INSTANCE: Number = Number::new("live_streams_per_instance", 1, 1_000_000);
/// The name this edge instance counts its live streams under.
pub(crate) const LIVE_INSTANCE: Text = Text::new("live_instance");
/// The least time between two like changes of one user on one video or comment (0: unpaced).
pub(crate) const LIKE_INTERVAL_MS: Number = Number::new("like_interval_ms", 0, 60_000);
/// Likes and unlikes per client address per minute.
pub(crate) const LIKE_PER_CLIENT_PER_MINUTE: Number = Number::new("like_per_client_per_minute", 1, 1_000_000_000);
/// Follows and unfollows per client address per minute.
pub(crate) const FOLLOW_PER_CLIENT_PER_MINUTE: Number = Number::new("follow_per_client_per_minute", 1, 1_000_000_000);
/// Comments per client address per minute.
pub(crate) const COMMENT_PER_CLIENT_PER_MINUTE: Number = Number::new("comment_per_client_per_minute", 1, 1_000_000_000);
/// Comments one user may post per minute.
pub(crate) const COMMENT_PER_MINUTE: Number = Number::new("comment_per_minute", 1, 1_000_000_000);
/// How long the same comment text from the same user on the same video counts as a repeat.
pub(crate) const COMMENT_REPEAT_SECS: Number = Number::new("comment_repeat_secs", 1, 86_400);
