//! What feed limits per client address ([`PerClient`](edge_spin::limit::PerClient)); each
//! variable's default is in spin.toml.

use edge_spin::limit::{ClientLimit, Window};

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
