//! `fermyon:spin/key-value@2.0.0`: SQLite-backed stores with Spin's `spin_key_value` table, and
//! Redis-backed stores; a component may open only the labels in its `key_value_stores`.

use std::sync::Arc;

use redis::AsyncCommands;
use wasmtime::component::Resource;

use super::spin_interfaces::key_value::{Error, Host, HostStore};
use super::sqlite::SqliteFile;
use super::HostState;

/// A key-value store backend shared by every instance.
pub(crate) enum KvStore {
    /// Rows of Spin's `spin_key_value` table, keyed by `(label, key)`.
    Sqlite { file: SqliteFile, label: String },
    /// Plain keys in a Redis database, through the app's shared [`super::redis::RedisPool`].
    Redis { url: String },
}

/// A store a guest has opened.
#[allow(unreachable_pub, reason = "wasmtime's bindgen re-exports resource types from public generated modules")]
pub struct OpenStore(Arc<KvStore>);

impl KvStore {
    /// Creates the table Spin uses, so data is compatible with `spin up`'s files.
    pub(crate) fn sqlite(file: SqliteFile, label: &str) -> anyhow::Result<Self> {
        file.blocking(|c| {
            c.execute_batch(
                "CREATE TABLE IF NOT EXISTS spin_key_value (
                   store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                   PRIMARY KEY (store, key))",
            )
        })?;
        Ok(KvStore::Sqlite { file, label: label.to_owned() })
    }
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

impl HostState {
    /// The store behind `handle` and the shared backends (for Redis), owned so no borrow of the instance
    /// state is held across an await.
    fn store(&self, handle: &Resource<OpenStore>) -> wasmtime::Result<(Arc<KvStore>, Arc<super::Backends>)> {
        Ok((self.table_ref().get(handle)?.0.clone(), self.backends.clone()))
    }
}

impl Host for HostState {}

impl HostStore for HostState {
    async fn open(&mut self, label: String) -> wasmtime::Result<Result<Resource<OpenStore>, Error>> {
        self.calls.record("key-value.open");
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(store) = self.backends.kv_stores.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        Ok(self.open_resource(OpenStore(store))?.ok_or(Error::StoreTableFull))
    }

    async fn get(&mut self, this: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        self.calls.record("key-value.get");
        let (store, backends) = self.store(&this)?;
        Ok(match &*store {
            KvStore::Sqlite { file, label } => {
                let label = label.clone();
                file.run(move |c| {
                    c.query_row("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2", (label, key), |row| {
                        row.get::<_, Vec<u8>>(0)
                    })
                    .map(Some)
                    .or_else(|e| match e {
                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                        e => Err(e),
                    })
                })
                .await
                .map_err(other)
            }
            KvStore::Redis { url } => backends.redis.run(url, async |mut c| c.get(key).await).await.map_err(Error::Other),
        })
    }

    async fn set(&mut self, this: Resource<OpenStore>, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        self.calls.record("key-value.set");
        let (store, backends) = self.store(&this)?;
        Ok(match &*store {
            KvStore::Sqlite { file, label } => {
                let label = label.clone();
                file.run(move |c| {
                    c.execute(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT(store, key) DO UPDATE SET value = ?3",
                        (label, key, value),
                    )
                    .map(drop)
                })
                .await
                .map_err(other)
            }
            KvStore::Redis { url } => backends.redis.run(url, async |mut c| c.set(key, value).await).await.map_err(Error::Other),
        })
    }

    async fn delete(&mut self, this: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<(), Error>> {
        self.calls.record("key-value.delete");
        let (store, backends) = self.store(&this)?;
        Ok(match &*store {
            KvStore::Sqlite { file, label } => {
                let label = label.clone();
                file.run(move |c| c.execute("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2", (label, key)).map(drop))
                    .await
                    .map_err(other)
            }
            KvStore::Redis { url } => backends.redis.run(url, async |mut c| c.del::<_, ()>(key).await).await.map_err(Error::Other),
        })
    }

    async fn exists(&mut self, this: Resource<OpenStore>, key: String) -> wasmtime::Result<Result<bool, Error>> {
        self.calls.record("key-value.exists");
        let (store, backends) = self.store(&this)?;
        Ok(match &*store {
            KvStore::Sqlite { file, label } => {
                let label = label.clone();
                file.run(move |c| {
                    c.query_row("SELECT EXISTS(SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)", (label, key), |row| row.get(0))
                })
                .await
                .map_err(other)
            }
            KvStore::Redis { url } => backends.redis.run(url, async |mut c| c.exists(key).await).await.map_err(Error::Other),
        })
    }

    async fn get_keys(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<Result<Vec<String>, Error>> {
        self.calls.record("key-value.get-keys");
        let (store, backends) = self.store(&this)?;
        Ok(match &*store {
            KvStore::Sqlite { file, label } => {
                let label = label.clone();
                file.run(move |c| {
                    let mut statement = c.prepare("SELECT key FROM spin_key_value WHERE store = ?1")?;
                    let keys = statement.query_map([label], |row| row.get(0))?;
                    keys.collect::<Result<Vec<String>, _>>()
                })
                .await
                .map_err(other)
            }
            KvStore::Redis { url } => backends.redis.run(url, async |mut c| c.keys("*").await).await.map_err(Error::Other),
        })
    }

    async fn drop(&mut self, this: Resource<OpenStore>) -> wasmtime::Result<()> {
        self.close_resource(this)
    }
}
