//! The handlers: the native API and the Companion-style routes Uppy talks to; [`crate::router`]
//! maps each route to one of them.

pub(crate) mod native;
pub(crate) mod uppy;
