//! What every edge component needs around its handlers, as pure functions over
//! [`http`] types so it is unit-tested natively and shared rather than copied:
//!
//! - [`Problem`]: the one RFC 9457 `application/problem+json` error with stable codes;
//! - [`Exchange`]: request-id propagation and CORS around a handler;
//! - [`json_body`] and [`query`]: JSON bodies and query strings into typed values, with clear
//!   400/413/415 errors;
//! - [`Router`]: method + path routing with `:param` segments and 404/405 answers;
//! - [`handler`]: the one handler model, `async fn`s whose arguments are extractors;
//! - [`setting`]: settings' text checked, with defaults only in spin.toml;
//! - [`stream`]: answers whose body is written after the head (Server-Sent Events).

mod body;
mod cors;
mod exchange;
pub mod handler;
mod problem;
mod router;
pub mod setting;
pub mod stream;
pub mod text;

pub use body::{cookie, json_body, json_response, no_content, query};
pub use cors::{Cors, CorsConfigError};
pub use exchange::{is_random_id, random_id, request_id, Exchange, REQUEST_ID};
pub use problem::Problem;
pub use router::{Params, Router};

/// A request as the components see it: the whole body is in memory.
pub type Request = http::Request<Vec<u8>>;
/// A response as the components produce it.
pub type Response = http::Response<Vec<u8>>;
