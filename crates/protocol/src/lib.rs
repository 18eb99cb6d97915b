//! The contracts between the components, and between them and the browser SDK, in one place
//! so no side keeps a copy: where records live in the stores and the URL of a video's cover
//! ([`keys`]), the change stream feed and auth write and search-proxy reads ([`changes`]), the
//! video id layout ([`ids`]), how a file is cut into upload parts ([`parts`]), the
//! instant-upload answer ([`instant`]), and the receipts and play tickets upload-sign and feed
//! sign for each other ([`receipt`]). Pure Rust: it builds for Spin, for the browser and natively.

pub mod changes;
pub mod ids;
pub mod instant;
pub mod keys;
pub mod parts;
pub mod receipt;
