//! The browser adapter: wasm-bindgen classes over `fetch`, `XMLHttpRequest`, `EventSource`,
//! Web Locks, `BroadcastChannel`, `localStorage` and a hashing worker.

mod client;
mod cover;
mod error;
mod feed;
mod hash;
mod js;
mod live;
mod search;
mod types;
mod upload;

pub use client::Client;
pub use feed::Feed;
pub use hash::hash_file;
pub use live::LiveDanmaku;
pub use search::Search;
pub use upload::Uploader;
