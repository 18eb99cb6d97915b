//! `runtime-config.toml`: which backend serves each key-value store and SQLite database label.
//!
//! Like Spin, the `default` key-value store and `default` database exist without configuration,
//! as SQLite files in the state directory (`.spin/` beside the manifest unless `--state-dir`
//! says otherwise). As in Spin, a relative key-value `path` resolves against the file's own
//! directory but a relative SQLite database `path` against the working directory; a `spin`
//! store or database without `path` lives in memory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

/// Where a key-value store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KvBackend {
    /// A SQLite file (or memory when `None`), Spin's `type = "spin"`.
    Sqlite(Option<PathBuf>),
    /// A Redis server, Spin's `type = "redis"`.
    Redis(String),
}

/// The backends by label, defaults included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RuntimeConfig {
    /// Key-value stores by label.
    pub key_value_stores: BTreeMap<String, KvBackend>,
    /// SQLite databases by label (`None` = in memory).
    pub sqlite_databases: BTreeMap<String, Option<PathBuf>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawStore>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawDatabase>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawStore {
    Spin { path: Option<PathBuf> },
    Redis { url: String },
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum RawDatabase {
    Spin { path: Option<PathBuf> },
}

impl RuntimeConfig {
    /// The configuration from `file` when given, with default stores in `state_dir`.
    pub(crate) fn load(state_dir: &Path, file: Option<&Path>) -> Result<Self> {
        let (raw, file_dir) = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("cannot read runtime config {}", path.display()))?;
                let raw = toml::from_str(&text).with_context(|| format!("invalid runtime config {}", path.display()))?;
                (raw, path.parent().map(Path::to_path_buf).unwrap_or_default())
            }
            None => (Raw::default(), state_dir.to_path_buf()),
        };
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        Ok(Self::from_raw(raw, state_dir, &file_dir, &cwd))
    }

    fn from_raw(raw: Raw, state: &Path, file_dir: &Path, cwd: &Path) -> Self {
        let mut key_value_stores = BTreeMap::new();
        key_value_stores.insert("default".to_owned(), KvBackend::Sqlite(Some(state.join("sqlite_key_value.db"))));
        for (label, store) in raw.key_value_store {
            let backend = match store {
                RawStore::Spin { path } => KvBackend::Sqlite(path.map(|p| file_dir.join(p))),
                RawStore::Redis { url } => KvBackend::Redis(url),
            };
            key_value_stores.insert(label, backend);
        }
        let mut sqlite_databases = BTreeMap::new();
        sqlite_databases.insert("default".to_owned(), Some(state.join("sqlite_db.db")));
        for (label, RawDatabase::Spin { path }) in raw.sqlite_database {
            sqlite_databases.insert(label, path.map(|p| cwd.join(p)));
        }
        RuntimeConfig { key_value_stores, sqlite_databases }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_exist_and_relative_paths_resolve_as_in_spin() {
        let raw: Raw = toml::from_str(
            r#"
[key_value_store.cache]
type = "redis"
url = "redis://127.0.0.1:6379"
[key_value_store.mem]
type = "spin"
[sqlite_database.search]
type = "spin"
path = "data/search.db"
"#,
        )
        .unwrap();
        let config = RuntimeConfig::from_raw(raw, Path::new("/app/.spin"), Path::new("/cfg"), Path::new("/cwd"));
        assert_eq!(config.key_value_stores["default"], KvBackend::Sqlite(Some("/app/.spin/sqlite_key_value.db".into())));
        assert_eq!(config.key_value_stores["cache"], KvBackend::Redis("redis://127.0.0.1:6379".into()));
        assert_eq!(config.key_value_stores["mem"], KvBackend::Sqlite(None));
        assert_eq!(config.sqlite_databases["default"], Some("/app/.spin/sqlite_db.db".into()));
        assert_eq!(config.sqlite_databases["search"], Some("/cwd/data/search.db".into()));
    }

    #[test]
    fn unknown_types_are_errors() {
        assert!(toml::from_str::<Raw>("[key_value_store.x]\ntype = \"azure\"").is_err());
        assert!(toml::from_str::<Raw>("[key_value_stor.x]\ntype = \"spin\"").is_err());
    }
}
