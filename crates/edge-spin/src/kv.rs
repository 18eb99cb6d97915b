//! JSON records in Spin's key-value store. spin-sdk's own `get_json` and `set_json` return
//! `anyhow` errors, and an `anyhow::Error` brings std's backtrace printer and symbol demangler
//! into the component (about 40 KB); these read and write the same bytes with the store's error.

use edge_http::Problem;
use serde::de::DeserializeOwned;
use serde::Serialize;
use spin_sdk::key_value::Store;

use crate::kv_unavailable;

/// The record under `key`, if there is one; a store that does not answer, or a record that is
/// not a `T`, is a 503.
pub fn get_json<T: DeserializeOwned>(store: &Store, key: &str) -> Result<Option<T>, Problem> {
    match store.get(key).map_err(kv_unavailable)? {
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(kv_unavailable),
        None => Ok(None),
    }
}

/// Stores `value` under `key` as JSON.
pub fn set_json<T: Serialize + ?Sized>(store: &Store, key: &str, value: &T) -> Result<(), Problem> {
    let bytes = serde_json::to_vec(value).map_err(kv_unavailable)?;
    store.set(key, &bytes).map_err(kv_unavailable)
}
