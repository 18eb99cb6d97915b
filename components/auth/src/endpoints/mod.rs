//! The handlers, one module per concern; [`crate::router`] maps each route to one of them.

pub(crate) mod account;
pub(crate) mod sign_in;
