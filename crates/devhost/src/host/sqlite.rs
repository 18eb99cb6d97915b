//! `fermyon:spin/sqlite@2.0.0` over rusqlite (bundled SQLite with FTS5), and the shared
//! [`SqliteFile`] that the key-value stores use too.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::types::{Value as SqlValue, ValueRef};
use wasmtime::component::Resource;

use super::spin_interfaces::sqlite::{Error, Host, HostConnection, QueryResult, RowResult, Value};
use super::HostState;

/// One SQLite database file (or in-memory database) shared by every instance.
#[derive(Clone)]
pub(crate) struct SqliteFile(Arc<Mutex<rusqlite::Connection>>);

impl SqliteFile {
    /// Opens `path` (creating it and its directory), or a private in-memory database.
    pub(crate) fn open(path: Option<&Path>) -> anyhow::Result<Self> {
        let connection = match path {
            Some(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let c = rusqlite::Connection::open(path)?;
                // WAL lets readers proceed while one instance writes; waits instead of failing.
                // NORMAL syncs at checkpoints rather than every commit (SQLite's advice for
                // WAL): a crash of devhost loses nothing, a power cut at most the last commits.
                c.pragma_update(None, "journal_mode", "WAL")?;
                c.pragma_update(None, "synchronous", "NORMAL")?;
                c
            }
            None => rusqlite::Connection::open_in_memory()?,
        };
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(SqliteFile(Arc::new(Mutex::new(connection))))
    }

    /// Runs `f` on this thread (for startup work).
    pub(crate) fn blocking<R>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> R) -> R {
        let mut guard = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut guard)
    }

    /// Runs `f` on the blocking pool so SQLite I/O never stalls the async workers.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        let file = self.clone();
        Ok(tokio::task::spawn_blocking(move || file.blocking(f)).await??)
    }
}

/// A database a guest has opened.
#[allow(unreachable_pub, reason = "wasmtime's bindgen re-exports resource types from public generated modules")]
pub struct OpenDatabase(SqliteFile);

fn to_sql(value: Value) -> SqlValue {
    match value {
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
        Value::Null => SqlValue::Null,
    }
}

fn from_sql(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

/// Runs one statement with positional parameters and collects every row.
pub(crate) fn execute(c: &mut rusqlite::Connection, statement: &str, parameters: Vec<Value>) -> rusqlite::Result<QueryResult> {
    let mut prepared = c.prepare_cached(statement)?;
    let columns: Vec<String> = prepared.column_names().into_iter().map(str::to_owned).collect();
    let params: Vec<SqlValue> = parameters.into_iter().map(to_sql).collect();
    let mut rows = prepared.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len()).map(|i| row.get_ref(i).map(from_sql)).collect::<rusqlite::Result<_>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

impl Host for HostState {}

impl HostConnection for HostState {
    async fn open(&mut self, database: String) -> wasmtime::Result<Result<Resource<OpenDatabase>, Error>> {
        self.calls.record("sqlite.open");
        if !self.component.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(file) = self.backends.sqlite_databases.get(&database).cloned() else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        Ok(self.open_resource(OpenDatabase(file))?.ok_or_else(|| Error::Io("too many connections opened".into())))
    }

    async fn execute(
        &mut self,
        this: Resource<OpenDatabase>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        self.calls.record("sqlite.execute");
        let file = match self.table_ref().get(&this) {
            Ok(db) => db.0.clone(),
            Err(_) => return Ok(Err(Error::InvalidConnection)),
        };
        let result = file.run(move |c| execute(c, &statement, parameters)).await;
        Ok(result.map_err(|e| Error::Io(e.to_string())))
    }

    async fn drop(&mut self, this: Resource<OpenDatabase>) -> wasmtime::Result<()> {
        self.close_resource(this)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executes_with_parameters_and_fts5_is_available() {
        let file = SqliteFile::open(None).unwrap();
        file.blocking(|c| {
            execute(c, "CREATE VIRTUAL TABLE docs USING fts5(title, tokenize = 'trigram')", vec![]).unwrap();
            execute(c, "INSERT INTO docs (title) VALUES (?)", vec![Value::Text("你好世界 hello".into())]).unwrap();
            let result = execute(c, "SELECT title, 1.5, NULL FROM docs WHERE docs MATCH ?", vec![Value::Text("你好世".into())]).unwrap();
            assert_eq!(result.columns.len(), 3);
            assert_eq!(result.rows.len(), 1);
            assert!(matches!(&result.rows[0].values[0], Value::Text(t) if t.contains("hello")));
            assert!(matches!(result.rows[0].values[1], Value::Real(r) if r == 1.5));
            assert!(matches!(result.rows[0].values[2], Value::Null));
            assert!(execute(c, "SELEC nonsense", vec![]).is_err());
        });
    }
}
