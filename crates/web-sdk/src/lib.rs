//! The browser SDK for video-edge, built with wasm-bindgen for `wasm32-unknown-unknown`.
//!
//! JavaScript sees four classes (see `README.md`, "Browser SDK", and the generated `.d.ts`):
//!
//! - `Client`: sign-up, sign-in and the session. The access token stays in memory; it is
//!   refreshed silently a minute before it expires and after a `401`, by one request at a time
//!   across every tab of the origin (a Web Lock, with the new token shared over a
//!   `BroadcastChannel`), and the failed request is retried once.
//! - `Uploader`: one file to the object store: SHA-256 in a worker, instant upload with the
//!   possession proof, parts in parallel with retries, progress, pause/resume/cancel, resume
//!   after a reload, and the receipt; `Uploader.playable(file)` tells the page whether this
//!   browser can play the file, to warn before uploading it; `Uploader.cover(client, file)`
//!   uploads the user's picture, or a frame grabbed from the file, as the video's cover.
//! - `Feed` and `Search`: thin typed calls over the feed and search-proxy endpoints.
//!
//! The rules are plain Rust modules, unit-tested natively; the browser adapter is [`web`]
//! (compiled for wasm32 only).

pub mod challenge;
pub mod cover;
pub mod live;
pub mod media;
pub use edge_protocol::parts;
pub mod progress;
pub mod resume;
pub mod retry;
pub mod token;

#[cfg(target_arch = "wasm32")]
pub mod web;
