//! The one interface every search backend implements, and the records that cross it.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use crate::params::{Kind, SearchQuery, SuggestQuery};
use crate::text::{self, Term};

/// Characters of description shown around a match.
pub(crate) const SNIPPET_CHARS: usize = 120;

/// One indexed record: a video or a user, or the tombstone of a deleted one.
///
/// Every write carries the record's version and an engine keeps a document only if its version
/// is newer than the one it holds, tombstones included: replays, duplicates and reordered
/// changes can never bring back an older state.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Video or user.
    pub kind: Kind,
    /// The record id (decimal for videos).
    pub id: String,
    /// The record's version.
    pub version: u64,
    /// False for a tombstone: the record was deleted (or the user suspended).
    pub live: bool,
    /// Owner's user id (the user's own id for users).
    pub author: String,
    /// Creation time, ms since the Unix epoch.
    pub created_at: u64,
    /// Title (videos) or display name (users).
    pub title: String,
    /// Description (videos).
    pub description: String,
    /// Tags, lowercased (videos).
    pub tags: Vec<String>,
    /// The author's username (videos) or the username (users).
    pub username: String,
    /// What a result shows: the public record.
    pub item: Value,
}

impl Doc {
    /// The document key: `video:<id>` or `user:<id>`.
    pub fn key(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.id)
    }

    /// A tombstone for `kind`/`id` at `version`.
    pub fn tombstone(kind: Kind, id: &str, version: u64) -> Doc {
        Doc {
            kind,
            id: id.to_owned(),
            version,
            live: false,
            author: String::new(),
            created_at: 0,
            title: String::new(),
            description: String::new(),
            tags: Vec::new(),
            username: String::new(),
            item: Value::Null,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Video or user.
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    /// The record id.
    pub id: String,
    /// The engine's relevance score (higher is better; engines differ in scale).
    pub score: f64,
    /// HTML with matches in `<mark>` (text escaped): `title`, `description`, `username`.
    pub highlight: serde_json::Map<String, Value>,
    /// The record, as stored (passed through without being parsed again).
    pub item: Box<RawValue>,
}

fn kind_name<S: serde::Serializer>(kind: &Kind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

impl Hit {
    /// A hit for `item`, highlighted by the proxy from the stored text (engines without their
    /// own highlighter, and the fallback).
    pub fn highlighted(kind: Kind, id: String, score: f64, item: Box<RawValue>, fields: &Fields<'_>, terms: &[Term]) -> Hit {
        let mut highlight = serde_json::Map::new();
        if let Some(h) = text::highlight(fields.title, terms) {
            highlight.insert("title".into(), h.into());
        }
        if let Some(h) = text::snippet(fields.description, terms, SNIPPET_CHARS) {
            highlight.insert("description".into(), h.into());
        }
        if let Some(h) = text::highlight(fields.username, terms) {
            highlight.insert("username".into(), h.into());
        }
        Hit { kind, id, score, highlight, item }
    }
}

/// The searchable text of a record, for highlighting.
pub struct Fields<'a> {
    /// Title or display name.
    pub title: &'a str,
    /// Description.
    pub description: &'a str,
    /// Username.
    pub username: &'a str,
}

/// A page of results.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// Results in order.
    pub hits: Vec<Hit>,
    /// Whether more results follow this page.
    pub more: bool,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The completed text (a title or a username).
    pub text: String,
    /// What it names.
    #[serde(serialize_with = "kind_name")]
    pub kind: Kind,
    /// The record id.
    pub id: String,
}

/// An engine that failed or could not be reached; counts towards the circuit breaker.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineError(pub String);

impl EngineError {
    /// Whether the index does not exist yet (SQLite's missing table, Elasticsearch's
    /// `index_not_found_exception`): preparing it and trying again will do.
    pub fn is_missing_index(&self) -> bool {
        self.0.contains("no such table") || self.0.contains("index_not_found_exception")
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of writing one document: `Err` carries why the engine refused that document
/// alone (it is retried and parked; the rest of the batch stands).
pub(crate) type DocResult = Result<(), String>;

/// A search backend. Queries are built by the implementation from checked parameters only.
#[allow(async_fn_in_trait)]
pub(crate) trait Engine {
    /// Creates the index (tables, mappings) if it does not exist yet.
    async fn prepare(&self) -> Result<(), EngineError>;
    /// One page of results.
    async fn search(&self, query: &SearchQuery) -> Result<Page, EngineError>;
    /// Completions of the query's last term.
    async fn suggest(&self, query: &SuggestQuery) -> Result<Vec<Suggestion>, EngineError>;
    /// Writes documents, each only if newer than what the index holds; one result per doc.
    /// `replace_equal` also rewrites a document of the same version (a reindex repairing it).
    async fn apply(&self, docs: &[Doc], replace_equal: bool) -> Result<Vec<DocResult>, EngineError>;
    /// Live document keys with their versions, in key order after `after`, at most `limit`
    /// (the reindex uses them to find documents whose record is gone).
    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError>;
}

/// A user as a result shows it.
pub(crate) fn public_user(id: &str, username: &str, display_name: &str, created_at: u64) -> Value {
    json!({ "id": id, "username": username, "display_name": display_name, "created_at": created_at })
}
