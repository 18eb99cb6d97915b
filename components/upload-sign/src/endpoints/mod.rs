//! The handlers: the native API, the Companion-style routes Uppy talks to, and the signer and
//! S3-speaking routes of Uppy 6's `signRequest` mode; [`crate::router`] maps each route to one
//! of them.

pub(crate) mod native;
pub(crate) mod uppy;
pub(crate) mod uppy_sign;
