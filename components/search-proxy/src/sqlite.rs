//! The embedded backend: SQLite FTS5 through Spin's sqlite API (the `default` database), no
//! extra service.
//!
//! `search_docs` holds one row per document (tombstones included, so versions survive
//! deletes); `search_fts` is an external-content FTS5 index over its `*_ix` columns, kept in
//! step by triggers. The `*_ix` columns hold the text as [`text::index_text`] prepares it (CJK
//! as character pairs); results are ranked by bm25 with title > tags = username > description
//! and highlighted by the proxy from the original text. Statements are built here from checked
//! values with every value bound as a parameter, and each is one implicit transaction (the
//! connection may be shared, so no multi-statement transactions).

use spin_sdk::sqlite::{QueryResult, Value};

use crate::engine::{Doc, DocResult, Engine, EngineError, Fields, Hit, Page, Suggestion};
use crate::params::{Kind, SearchQuery, Sort, SuggestQuery};
use crate::text::{self, Term};

/// Statements that create the index; each is idempotent.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS search_docs (
        key TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, id TEXT NOT NULL,
        version INTEGER NOT NULL, live INTEGER NOT NULL, author TEXT NOT NULL,
        created_at INTEGER NOT NULL, tags TEXT NOT NULL, title TEXT NOT NULL,
        description TEXT NOT NULL, username TEXT NOT NULL, item TEXT NOT NULL,
        title_ix TEXT NOT NULL, tags_ix TEXT NOT NULL, username_ix TEXT NOT NULL,
        description_ix TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS search_docs_recent ON search_docs (live, kind, created_at)",
    "CREATE INDEX IF NOT EXISTS search_docs_author ON search_docs (author, created_at)",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5(
        title_ix, tags_ix, username_ix, description_ix,
        content = 'search_docs', tokenize = 'unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS search_docs_ai AFTER INSERT ON search_docs BEGIN
        INSERT INTO search_fts (rowid, title_ix, tags_ix, username_ix, description_ix)
        VALUES (new.rowid, new.title_ix, new.tags_ix, new.username_ix, new.description_ix);
    END",
    "CREATE TRIGGER IF NOT EXISTS search_docs_ad AFTER DELETE ON search_docs BEGIN
        INSERT INTO search_fts (search_fts, rowid, title_ix, tags_ix, username_ix, description_ix)
        VALUES ('delete', old.rowid, old.title_ix, old.tags_ix, old.username_ix, old.description_ix);
    END",
    "CREATE TRIGGER IF NOT EXISTS search_docs_au AFTER UPDATE ON search_docs BEGIN
        INSERT INTO search_fts (search_fts, rowid, title_ix, tags_ix, username_ix, description_ix)
        VALUES ('delete', old.rowid, old.title_ix, old.tags_ix, old.username_ix, old.description_ix);
        INSERT INTO search_fts (rowid, title_ix, tags_ix, username_ix, description_ix)
        VALUES (new.rowid, new.title_ix, new.tags_ix, new.username_ix, new.description_ix);
    END",
];

/// bm25 weights of title, tags, username, description.
const RANK: &str = "bm25(search_fts, 10.0, 4.0, 4.0, 1.0)";
/// Documents written per statement (16 parameters each, well under SQLite's limit).
pub const UPSERT_ROWS: usize = 200;
const COLUMNS: &str = "key, kind, id, version, live, author, created_at, tags, title, description, username, item, title_ix, tags_ix, username_ix, description_ix";

/// A statement and its parameters.
pub type Statement = (String, Vec<Value>);

/// The FTS5 expression for `terms`: every term must match; words as quoted tokens (the last
/// one also as a prefix when `prefix_last`), CJK runs as the phrase of their pairs, a single
/// CJK character as a prefix over pairs. Terms hold letters and digits only, so nothing a
/// client typed can act as FTS5 syntax.
pub fn match_expression(terms: &[Term], prefix_last: bool) -> String {
    let last = terms.len().saturating_sub(1);
    let parts: Vec<String> = terms
        .iter()
        .enumerate()
        .map(|(i, term)| match term {
            Term::Word(w) if prefix_last && i == last => format!("\"{}\"*", quote(w)),
            Term::Word(w) => format!("\"{}\"", quote(w)),
            Term::Cjk(run) if run.chars().nth(1).is_none() => format!("\"{}\"*", quote(run)),
            Term::Cjk(run) => format!("\"{}\"", quote(&text::bigrams(run).join(" "))),
        })
        .collect();
    parts.join(" AND ")
}

fn quote(s: &str) -> String {
    s.replace('"', "\"\"")
}

fn text_value(s: impl Into<String>) -> Value {
    Value::Text(s.into())
}

fn int(n: u64) -> Value {
    Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

/// `WHERE` conditions on `d` for the query's filters, with their parameters.
fn filters(q: &SearchQuery, params: &mut Vec<Value>) -> String {
    let mut sql = String::from("d.live = 1");
    if let Some(kind) = q.kind {
        sql.push_str(" AND d.kind = ?");
        params.push(text_value(kind.as_str()));
    }
    if let Some(author) = &q.author {
        sql.push_str(" AND d.author = ?");
        params.push(text_value(author.as_str()));
    }
    if let Some(from) = q.from_ms {
        sql.push_str(" AND d.created_at >= ?");
        params.push(int(from));
    }
    if let Some(to) = q.to_ms {
        sql.push_str(" AND d.created_at < ?");
        params.push(int(to));
    }
    for tag in &q.tags {
        sql.push_str(" AND EXISTS (SELECT 1 FROM json_each(d.tags) WHERE json_each.value = ?)");
        params.push(text_value(tag.as_str()));
    }
    sql
}

/// The page query: `limit + 1` rows so the caller knows whether more follow.
pub fn search_statement(q: &SearchQuery) -> Statement {
    let mut params = Vec::new();
    let from = if q.terms.is_empty() {
        "search_docs d".to_owned()
    } else {
        params.push(text_value(match_expression(&q.terms, true)));
        "search_fts JOIN search_docs d ON d.rowid = search_fts.rowid".to_owned()
    };
    let matched = if q.terms.is_empty() { "" } else { "search_fts MATCH ? AND " };
    let score = if q.terms.is_empty() { "0.0".to_owned() } else { format!("-{RANK}") };
    let conditions = filters(q, &mut params);
    let order = match q.sort {
        Sort::Relevance if !q.terms.is_empty() => format!("{RANK}, d.created_at DESC"),
        _ => "d.created_at DESC, d.rowid DESC".to_owned(),
    };
    params.push(int(q.limit as u64 + 1));
    params.push(int(q.offset as u64));
    let sql = format!(
        "SELECT d.kind, d.id, d.item, d.title, d.description, d.username, {score} AS score FROM {from} \
         WHERE {matched}{conditions} ORDER BY {order} LIMIT ? OFFSET ?"
    );
    (sql, params)
}

/// The completion query: the prefix against titles and usernames only.
pub fn suggest_statement(q: &SuggestQuery) -> Statement {
    let mut params = vec![text_value(format!("{{title_ix username_ix}} : ({})", match_expression(&q.terms, true)))];
    let mut sql = String::from(
        "SELECT d.kind, d.id, d.title, d.username FROM search_fts JOIN search_docs d ON d.rowid = search_fts.rowid \
         WHERE search_fts MATCH ? AND d.live = 1",
    );
    if let Some(kind) = q.kind {
        sql.push_str(" AND d.kind = ?");
        params.push(text_value(kind.as_str()));
    }
    sql.push_str(&format!(" ORDER BY {RANK} LIMIT ?"));
    // Extra rows make up for titles that repeat.
    params.push(int(q.limit as u64 * 2));
    (sql, params)
}

/// Upserts of `docs` in statements of [`UPSERT_ROWS`]: a row is replaced only by a newer
/// version (or an equal one when `replace_equal`).
pub fn upsert_statements(docs: &[Doc], replace_equal: bool) -> Vec<Statement> {
    let newer = if replace_equal { ">=" } else { ">" };
    let updates = COLUMNS.split(", ").skip(1).map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ");
    docs.chunks(UPSERT_ROWS)
        .map(|chunk| {
            let row = format!("({})", ["?"; 16].join(", "));
            let rows = vec![row; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO search_docs ({COLUMNS}) VALUES {rows} \
                 ON CONFLICT (key) DO UPDATE SET {updates} WHERE excluded.version {newer} search_docs.version"
            );
            let mut params = Vec::with_capacity(chunk.len() * 16);
            for doc in chunk {
                let tags_text = doc.tags.join(" ");
                params.extend([
                    text_value(doc.key()),
                    text_value(doc.kind.as_str()),
                    text_value(doc.id.as_str()),
                    int(doc.version),
                    Value::Integer(i64::from(doc.live)),
                    text_value(doc.author.as_str()),
                    int(doc.created_at),
                    text_value(serde_json::to_string(&doc.tags).unwrap_or_else(|_| "[]".into())),
                    text_value(doc.title.as_str()),
                    text_value(doc.description.as_str()),
                    text_value(doc.username.as_str()),
                    text_value(doc.item.to_string()),
                    text_value(text::index_text(&doc.title)),
                    text_value(text::index_text(&tags_text)),
                    text_value(text::index_text(&doc.username)),
                    text_value(text::index_text(&doc.description)),
                ]);
            }
            (sql, params)
        })
        .collect()
}

/// Live keys after `after`, in key order.
pub fn live_keys_statement(after: &str, limit: usize) -> Statement {
    (
        "SELECT key, version FROM search_docs WHERE live = 1 AND key > ? ORDER BY key LIMIT ?".to_owned(),
        vec![text_value(after), int(limit as u64)],
    )
}

fn column(row: &[Value], i: usize) -> &str {
    match row.get(i) {
        Some(Value::Text(s)) => s,
        _ => "",
    }
}

/// The page in the rows of [`search_statement`].
pub fn page(result: &QueryResult, q: &SearchQuery) -> Page {
    let mut hits: Vec<Hit> = result
        .rows
        .iter()
        .filter_map(|row| {
            let v = &row.values;
            let kind = Kind::parse(column(v, 0))?;
            let item = serde_json::value::RawValue::from_string(column(v, 2).to_owned()).ok()?;
            let score = match v.get(6) {
                Some(Value::Real(r)) => *r,
                _ => 0.0,
            };
            let fields = Fields { title: column(v, 3), description: column(v, 4), username: column(v, 5) };
            Some(Hit::highlighted(kind, column(v, 1).to_owned(), score, item, &fields, &q.terms))
        })
        .collect();
    let more = hits.len() > q.limit;
    hits.truncate(q.limit);
    Page { hits, more }
}

/// The completions in the rows of [`suggest_statement`], without repeats.
pub fn suggestions(result: &QueryResult, limit: usize) -> Vec<Suggestion> {
    let mut out: Vec<Suggestion> = Vec::new();
    for row in &result.rows {
        let v = &row.values;
        let Some(kind) = Kind::parse(column(v, 0)) else { continue };
        let text = match kind {
            Kind::Video => column(v, 2),
            Kind::User => column(v, 3),
        };
        if out.len() < limit && !out.iter().any(|s| s.text == text) {
            out.push(Suggestion { text: text.to_owned(), kind, id: column(v, 1).to_owned() });
        }
    }
    out
}

/// The `default` SQLite database of the app.
pub struct Sqlite(spin_sdk::sqlite::Connection);

impl Sqlite {
    /// Opens the app's `default` database.
    pub fn open() -> Result<Sqlite, EngineError> {
        spin_sdk::sqlite::Connection::open_default().map(Sqlite).map_err(|e| EngineError(format!("SQLite did not open: {e}")))
    }

    fn run(&self, (sql, params): Statement) -> Result<QueryResult, EngineError> {
        self.0.execute(&sql, &params).map_err(|e| EngineError(format!("SQLite: {e}")))
    }
}

impl Engine for Sqlite {
    async fn prepare(&self) -> Result<(), EngineError> {
        for statement in SCHEMA {
            self.run((statement.to_string(), Vec::new()))?;
        }
        Ok(())
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page, EngineError> {
        Ok(page(&self.run(search_statement(query))?, query))
    }

    async fn suggest(&self, query: &SuggestQuery) -> Result<Vec<Suggestion>, EngineError> {
        Ok(suggestions(&self.run(suggest_statement(query))?, query.limit))
    }

    async fn apply(&self, docs: &[Doc], replace_equal: bool) -> Result<Vec<DocResult>, EngineError> {
        for statement in upsert_statements(docs, replace_equal) {
            self.run(statement)?;
        }
        Ok(vec![Ok(()); docs.len()])
    }

    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError> {
        let result = self.run(live_keys_statement(after, limit))?;
        Ok(result
            .rows
            .iter()
            .map(|row| {
                let version = match row.values.get(1) {
                    Some(Value::Integer(v)) => *v as u64,
                    _ => 0,
                };
                (column(&row.values, 0).to_owned(), version)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    //! The statements run on a real SQLite (rusqlite, bundled like Spin's) with FTS5.

    use super::*;
    use crate::params::{RawSearch, RawSuggest};
    use rusqlite::types::{Value as Sql, ValueRef};
    use serde_json::json;
    use spin_sdk::sqlite::RowResult;

    fn db() -> rusqlite::Connection {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        for s in SCHEMA {
            c.execute_batch(s).unwrap();
        }
        c
    }

    fn run(c: &rusqlite::Connection, (sql, params): Statement) -> QueryResult {
        let params: Vec<Sql> = params
            .into_iter()
            .map(|v| match v {
                Value::Integer(i) => Sql::Integer(i),
                Value::Real(r) => Sql::Real(r),
                Value::Text(t) => Sql::Text(t),
                Value::Blob(b) => Sql::Blob(b),
                Value::Null => Sql::Null,
            })
            .collect();
        let mut stmt = c.prepare(&sql).unwrap();
        let columns: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let n = columns.len();
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |row| {
                Ok(RowResult {
                    values: (0..n)
                        .map(|i| match row.get_ref(i).unwrap() {
                            ValueRef::Integer(i) => Value::Integer(i),
                            ValueRef::Real(r) => Value::Real(r),
                            ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into()),
                            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                            ValueRef::Null => Value::Null,
                        })
                        .collect(),
                })
            })
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        QueryResult { columns, rows }
    }

    fn video(id: u64, version: u64, title: &str, description: &str, tags: &[&str], author: &str) -> Doc {
        Doc {
            kind: Kind::Video,
            id: id.to_string(),
            version,
            live: true,
            author: author.into(),
            created_at: 1000 + id,
            title: title.into(),
            description: description.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            username: format!("{author}name"),
            item: json!({ "id": id, "title": title, "version": version }),
        }
    }

    fn write(c: &rusqlite::Connection, docs: &[Doc], replace_equal: bool) {
        for s in upsert_statements(docs, replace_equal) {
            run(c, s);
        }
    }

    fn search(c: &rusqlite::Connection, query: &str) -> Page {
        let q = SearchQuery::parse(serde_urlencoded::from_str::<RawSearch>(query).unwrap()).unwrap();
        page(&run(c, search_statement(&q)), &q)
    }

    fn ids(page: &Page) -> Vec<&str> {
        page.hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn finds_english_and_chinese_ranked_and_highlighted() {
        let c = db();
        write(
            &c,
            &[
                video(1, 1, "Rust web tutorial", "Build an API server", &["rust"], "a"),
                video(2, 1, "Cooking pasta", "A rust-coloured sauce, briefly", &[], "b"),
                video(3, 1, "学习Rust视频教程", "从零开始的编程课程", &["编程"], "c"),
                video(4, 1, "猫咪日常", "可爱的猫", &[], "c"),
            ],
            false,
        );
        let found = search(&c, "q=rust");
        assert_eq!(ids(&found), vec!["1", "3", "2"], "title matches rank above description matches");
        assert_eq!(found.hits[0].highlight["title"], "<mark>Rust</mark> web tutorial");
        assert_eq!(ids(&search(&c, "q=视频教程")), vec!["3"]);
        assert_eq!(search(&c, "q=视频教程").hits[0].highlight["title"], "学习Rust<mark>视频教程</mark>");
        assert_eq!(ids(&search(&c, "q=编程")), vec!["3"], "two-character words are found");
        assert_eq!(ids(&search(&c, "q=猫")), vec!["4"], "and single characters");
        assert_eq!(ids(&search(&c, "q=频视")), Vec::<&str>::new(), "characters must be in order");
        assert_eq!(ids(&search(&c, "q=tutor")), vec!["1"], "the last word is a prefix");
        assert_eq!(ids(&search(&c, "q=rust+server")), vec!["1"], "every word must match");
        assert_eq!(ids(&search(&c, "q=aname")), vec!["1"], "author names are searchable");
    }

    #[test]
    fn filters_sort_and_page() {
        let c = db();
        let docs: Vec<Doc> =
            (1..=5).map(|i| video(i, 1, &format!("clip {i}"), "", if i % 2 == 0 { &["even", "x"] } else { &["x"] }, "a")).collect();
        write(&c, &docs, false);
        assert_eq!(ids(&search(&c, "q=clip&sort=date&limit=2")), vec!["5", "4"]);
        let page2 = search(&c, "q=clip&sort=date&limit=2&cursor=o2");
        assert_eq!((ids(&page2), page2.more), (vec!["3", "2"], true));
        assert!(!search(&c, "q=clip&sort=date&limit=2&cursor=o4").more);
        assert_eq!(ids(&search(&c, "tags=even,x")), vec!["4", "2"]);
        assert_eq!(ids(&search(&c, "q=clip&from=1003&to=1005&sort=date")), vec!["4", "3"]);
        assert_eq!(search(&c, "author=b").hits.len(), 0);
        assert_eq!(search(&c, "q=clip&type=user").hits.len(), 0);
    }

    #[test]
    fn older_versions_and_replays_never_regress_a_document() {
        let c = db();
        write(&c, &[video(1, 2, "new title", "", &[], "a")], false);
        write(&c, &[video(1, 1, "old title", "", &[], "a")], false);
        assert_eq!(ids(&search(&c, "q=new")), vec!["1"]);
        assert!(search(&c, "q=old").hits.is_empty());
        write(&c, &[Doc::tombstone(Kind::Video, "1", 3)], false);
        write(&c, &[video(1, 2, "new title", "", &[], "a")], false);
        assert!(search(&c, "q=new").hits.is_empty(), "a replayed upsert cannot undo a delete");
        assert!(run(&c, live_keys_statement("", 10)).rows.is_empty());
        write(&c, &[video(1, 4, "reborn", "", &[], "a"), video(1, 3, "stale", "", &[], "a")], false);
        assert_eq!(ids(&search(&c, "q=reborn")), vec!["1"], "within one statement the newest wins too");
        write(&c, &[video(1, 4, "repaired", "", &[], "a")], true);
        assert_eq!(ids(&search(&c, "q=repaired")), vec!["1"], "a reindex rewrites an equal version");
        let count: i64 = c.query_row("SELECT count(*) FROM search_docs", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 1);
    }

    #[test]
    fn suggests_titles_and_usernames_by_prefix() {
        let c = db();
        let mut user = video(9, 1, "Ann Example", "", &[], "9");
        user.kind = Kind::User;
        user.username = "annie".into();
        write(
            &c,
            &[
                video(1, 1, "Annual report", "", &[], "a"),
                video(2, 1, "Annual report", "", &[], "b"),
                video(3, 1, "音乐现场", "", &[], "a"),
                user,
            ],
            false,
        );
        let suggest = |q: &str| {
            let q = SuggestQuery::parse(serde_urlencoded::from_str::<RawSuggest>(q).unwrap()).unwrap();
            suggestions(&run(&c, suggest_statement(&q)), q.limit).into_iter().map(|s| s.text).collect::<Vec<_>>()
        };
        let mut ann = suggest("q=ann");
        ann.sort();
        assert_eq!(ann, vec!["Annual report", "annie"]);
        assert_eq!(suggest("q=ann&type=user"), vec!["annie"]);
        assert_eq!(suggest("q=音乐"), vec!["音乐现场"]);
        assert_eq!(suggest("q=音"), vec!["音乐现场"]);
    }

    #[test]
    fn hostile_text_is_only_ever_a_bound_value() {
        let c = db();
        write(&c, &[video(1, 1, "Robert'); DROP TABLE search_docs;--", "\"quoted\" NEAR(x y) *", &[], "a")], false);
        for q in [
            "q=%27%29%3B%20DROP%20TABLE%20search_docs%3B--",
            "q=%22quoted%22%20NEAR%28x%20y%29%20%2A",
            "q=AND%20OR%20NOT",
            "q=%7Btitle_ix%7D%20%3A%20x",
        ] {
            search(&c, q);
        }
        assert_eq!(ids(&search(&c, "q=drop+table")), vec!["1"]);
        assert_eq!(match_expression(&text::terms("a\"b OR c*"), true), "\"a\" AND \"b\" AND \"or\" AND \"c\"*");
    }
}
