//! The handlers, one module per resource; [`crate::router`] maps each route to one of them.

pub(crate) mod comments;
pub(crate) mod covers;
pub(crate) mod danmaku;
pub(crate) mod follows;
pub(crate) mod library;
pub(crate) mod live;
pub(crate) mod notifications;
pub(crate) mod share;
pub(crate) mod timelines;
pub(crate) mod videos;
