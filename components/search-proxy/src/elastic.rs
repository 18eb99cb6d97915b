//! The Elasticsearch / OpenSearch backend, sans-IO: every request is built and every answer is
//! parsed by a pure function; the [`Engine`] methods of [`Elastic`] only send one to get the other.
//!
//! No Elasticsearch server can run on the machines that build this project, so the unit tests
//! check the request bodies against the documented formats and parse answers shaped like the
//! examples of the Elasticsearch reference (`_search`, `_bulk`, index creation errors).
//!
//! Writes use external versioning: Elasticsearch itself refuses a document older than the one it
//! holds, so replayed and reordered changes are harmless. A deletion is written as a `live: false`
//! document, not a `delete` action, because Elasticsearch forgets a deleted document's version
//! after `index.gc_deletes` (60 s by default) and a late, older write would then bring it back.

use base64ct::{Base64, Encoding};
use http::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

use crate::engine::{Doc, DocResult, Engine, EngineError, Hit, Page, Suggestion, SNIPPET_CHARS};
use crate::params::{Kind, SearchQuery, Sort, SuggestQuery};
use crate::text::Term;

/// Fields a search matches, with their weights. `tags` is a keyword field: it matches when the
/// whole query is one of the tags.
const SEARCH_FIELDS: [&str; 4] = ["title^3", "tags^2", "username^2", "description"];
/// The `search_as_you_type` subfields a suggestion matches.
const SUGGEST_FIELDS: [&str; 6] = [
    "title.suggest",
    "title.suggest._2gram",
    "title.suggest._3gram",
    "username.suggest",
    "username.suggest._2gram",
    "username.suggest._3gram",
];
/// Fields Elasticsearch highlights, under the names [`Hit::highlight`] uses.
const HIGHLIGHTED: [&str; 3] = ["title", "description", "username"];
/// Most characters of an Elasticsearch error kept in a message.
const DETAIL_MAX_CHARS: usize = 300;
const JSON: &str = "application/json";
const NDJSON: &str = "application/x-ndjson";

/// One Elasticsearch or OpenSearch index, reached over HTTP.
#[derive(Debug, Clone)]
pub(crate) struct Elastic {
    /// `scheme://host[:port][/path]`, without credentials or trailing slash.
    base: String,
    index: String,
    /// `Basic ...` from the URL's credentials; marked sensitive, so `Debug` does not show it.
    auth: Option<HeaderValue>,
}

impl Elastic {
    /// An engine for `index` at `url` (the `search_url` variable). Credentials in the URL
    /// (`http://user:password@host:9200`, percent-encoded) are sent as HTTP Basic auth; index
    /// names are lowercase letters, digits, `-` and `_`. Errors never repeat the credentials.
    pub(crate) fn new(url: &str, index: &str) -> Result<Elastic, String> {
        let bad_url = || "search_url must look like http(s)://[user:password@]host[:port][/path]".to_owned();
        let (scheme, rest) = url.trim().split_once("://").ok_or_else(bad_url)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(bad_url());
        }
        let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        if path.contains(['?', '#']) {
            return Err("search_url must not have a query or fragment".to_owned());
        }
        let (credentials, host) = match authority.rsplit_once('@') {
            Some((credentials, host)) => (Some(credentials), host),
            None => (None, authority),
        };
        let base = format!("{scheme}://{host}{}", path.trim_end_matches('/'));
        // Checked once here, so that building a request later cannot fail on the URL.
        if host.is_empty() || base.parse::<http::Uri>().is_err() {
            return Err(bad_url());
        }
        let valid_index = (1..=255).contains(&index.len())
            && !index.starts_with(['-', '_'])
            && index.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_index {
            return Err(format!("search index {index:?} must be lowercase letters, digits, - and _"));
        }
        Ok(Elastic { base, index: index.to_owned(), auth: credentials.map(basic_auth).transpose()? })
    }

    /// The HTTP request for `method` `path` with `body`.
    fn request(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Vec<u8>,
    ) -> Result<http::Request<Vec<u8>>, EngineError> {
        let mut builder = http::Request::builder().method(method).uri(format!("{}{path}", self.base)).header(CONTENT_TYPE, content_type);
        if let Some(auth) = &self.auth {
            builder = builder.header(AUTHORIZATION, auth.clone());
        }
        builder.body(body).map_err(|e| EngineError(format!("Elasticsearch request could not be built: {e}")))
    }

    /// Sends one request: the only I/O of this backend.
    async fn exchange(
        &self,
        what: &str,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: String,
    ) -> Result<(StatusCode, Vec<u8>), EngineError> {
        let request = self.request(method, path, content_type, body.into_bytes())?;
        let response = edge_spin::outbound::send(request).await.map_err(|e| EngineError(format!("Elasticsearch {what} failed: {e}")))?;
        Ok((response.status(), response.into_body()))
    }

    /// Sends `body` to the index's `_search`.
    async fn search_index(&self, what: &str, body: &Value) -> Result<(StatusCode, Vec<u8>), EngineError> {
        self.exchange(what, Method::POST, &format!("/{}/_search", self.index), JSON, body.to_string()).await
    }
}

impl Engine for Elastic {
    async fn prepare(&self) -> Result<(), EngineError> {
        let path = format!("/{}", self.index);
        let (status, body) = self.exchange("index creation", Method::PUT, &path, JSON, index_body().to_string()).await?;
        parse_prepare(status, &body)
    }

    async fn search(&self, query: &SearchQuery) -> Result<Page, EngineError> {
        let (status, body) = self.search_index("search", &search_body(query)).await?;
        parse_search(status, &body, query.limit)
    }

    async fn suggest(&self, query: &SuggestQuery) -> Result<Vec<Suggestion>, EngineError> {
        let (status, body) = self.search_index("suggest", &suggest_body(query)).await?;
        parse_suggest(status, &body, query.limit)
    }

    async fn apply(&self, docs: &[Doc], replace_equal: bool) -> Result<Vec<DocResult>, EngineError> {
        if docs.is_empty() {
            // Elasticsearch refuses an empty bulk request.
            return Ok(Vec::new());
        }
        let body = bulk_body(&self.index, docs, replace_equal);
        let (status, body) = self.exchange("bulk write", Method::POST, "/_bulk", NDJSON, body).await?;
        parse_bulk(status, &body, docs.len())
    }

    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError> {
        let (status, body) = self.search_index("key listing", &live_keys_body(after, limit)).await?;
        parse_live_keys(status, &body)
    }
}

/// The `Authorization` value for the `user:password` of a URL.
fn basic_auth(credentials: &str) -> Result<HeaderValue, String> {
    let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
    let decode = |s| percent_decode(s).ok_or_else(|| "search_url credentials are not valid percent-encoded UTF-8".to_owned());
    let token = Base64::encode_string(format!("{}:{}", decode(user)?, decode(password)?).as_bytes());
    let mut value = HeaderValue::try_from(format!("Basic {token}")).map_err(|_| "search_url credentials are not valid".to_owned())?;
    value.set_sensitive(true);
    Ok(value)
}

/// `text` with its `%XX` escapes decoded, as URL credentials are written; `None` if malformed.
fn percent_decode(text: &str) -> Option<String> {
    let mut parts = text.split('%');
    let mut out = parts.next().unwrap_or_default().as_bytes().to_vec();
    for part in parts {
        let hex = part.get(..2).filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))?;
        out.push(u8::from_str_radix(hex, 16).ok()?);
        out.extend_from_slice(&part.as_bytes()[2..]);
    }
    String::from_utf8(out).ok()
}

/// Settings and mappings of a new index.
fn index_body() -> Value {
    let text = json!({ "type": "text", "analyzer": "cjk" });
    // The completion subfield keeps the standard analyzer: it splits Chinese and Japanese into
    // single characters, whose shingles complete a CJK prefix; the cjk analyzer's pairs would not.
    let completed = json!({ "type": "text", "analyzer": "cjk", "fields": { "suggest": { "type": "search_as_you_type" } } });
    let keyword = json!({ "type": "keyword" });
    json!({
        // Scores are computed per shard: one shard keeps relevance and paging consistent.
        "settings": { "index": { "number_of_shards": 1 } },
        "mappings": {
            // A misspelt field fails its document instead of quietly growing the mapping.
            "dynamic": "strict",
            "properties": {
                "key": keyword, "kind": keyword, "author": keyword, "tags": keyword,
                "live": { "type": "boolean" }, "created_at": { "type": "long" }, "version": { "type": "long" },
                "item": { "type": "object", "enabled": false },
                "title": completed, "username": completed, "description": text,
            }
        }
    })
}

/// The terms as one string for a `match`-family query, which only analyses it into words.
fn words(terms: &[Term]) -> String {
    terms.iter().map(Term::as_str).collect::<Vec<_>>().join(" ")
}

/// Filters every query shares: live documents, of one kind if asked.
fn base_filter(kind: Option<Kind>) -> Vec<Value> {
    let mut filter = vec![json!({ "term": { "live": true } })];
    filter.extend(kind.map(|k| json!({ "term": { "kind": k.as_str() } })));
    filter
}

/// The `_search` body of a search: one more hit than the page, to know whether more follow.
fn search_body(query: &SearchQuery) -> Value {
    let mut filter = base_filter(query.kind);
    filter.extend(query.tags.iter().map(|tag| json!({ "term": { "tags": tag } })));
    filter.extend(query.author.iter().map(|author| json!({ "term": { "author": author } })));
    if query.from_ms.is_some() || query.to_ms.is_some() {
        let mut range = Map::new();
        range.extend(query.from_ms.map(|ms| ("gte".to_owned(), ms.into())));
        range.extend(query.to_ms.map(|ms| ("lt".to_owned(), ms.into())));
        filter.push(json!({ "range": { "created_at": range } }));
    }
    // `key` last makes the order total, so that pages neither repeat nor skip a hit.
    let sort = match query.sort {
        Sort::Relevance => json!([{ "_score": "desc" }, { "created_at": "desc" }, { "key": "asc" }]),
        Sort::Date => json!([{ "created_at": "desc" }, { "key": "asc" }]),
    };
    let mut body = json!({
        "query": { "bool": { "filter": filter } },
        "from": query.offset, "size": query.limit + 1, "sort": sort, "track_total_hits": false, "_source": ["item"],
    });
    if !query.terms.is_empty() {
        // cross_fields looks for each term in any field: with best_fields, "and" would require
        // every term in the same field. The text is analysed only, never parsed as a query.
        body["query"]["bool"]["must"] = json!([{ "multi_match": {
            "query": words(&query.terms), "fields": SEARCH_FIELDS, "type": "cross_fields", "operator": "and",
        } }]);
        body["highlight"] = json!({
            "pre_tags": ["<mark>"], "post_tags": ["</mark>"], "encoder": "html",
            "fields": {
                "title": { "number_of_fragments": 0 }, "username": { "number_of_fragments": 0 },
                "description": { "fragment_size": SNIPPET_CHARS, "number_of_fragments": 1 },
            }
        });
    }
    body
}

/// The `_search` body of a completion: the documented `search_as_you_type` query.
fn suggest_body(query: &SuggestQuery) -> Value {
    json!({
        "query": { "bool": {
            "filter": base_filter(query.kind),
            "must": [{ "multi_match": {
                "query": words(&query.terms), "type": "bool_prefix", "fields": SUGGEST_FIELDS, "operator": "and",
            } }],
        } },
        // Extra hits make up for titles that repeat.
        "size": query.limit * 2, "track_total_hits": false, "_source": ["title", "username"],
    })
}

/// The `_bulk` body: one `index` action per document, tombstones included, newline-terminated.
fn bulk_body(index: &str, docs: &[Doc], replace_equal: bool) -> String {
    let version_type = if replace_equal { "external_gte" } else { "external" };
    let mut out = String::new();
    for doc in docs {
        let key = doc.key();
        let action = json!({ "index": { "_index": index, "_id": key, "version": doc.version, "version_type": version_type } });
        let source = json!({
            "key": key, "kind": doc.kind.as_str(), "live": doc.live, "author": doc.author,
            "created_at": doc.created_at, "tags": doc.tags, "version": doc.version,
            "title": doc.title, "description": doc.description, "username": doc.username, "item": doc.item,
        });
        for line in [action, source] {
            out.push_str(&line.to_string());
            out.push('\n');
        }
    }
    out
}

/// The `_search` body listing live keys in key order after `after`.
fn live_keys_body(after: &str, limit: usize) -> Value {
    // Sorted on the `key` field: Elasticsearch advises against sorting on `_id`.
    let mut body = json!({
        "query": { "term": { "live": true } },
        "size": limit, "sort": [{ "key": "asc" }], "track_total_hits": false, "_source": ["version"],
    });
    if !after.is_empty() {
        body["search_after"] = json!([after]);
    }
    body
}

/// The JSON of a successful answer, or an error saying what failed.
fn answer(what: &str, status: StatusCode, body: &[u8]) -> Result<Value, EngineError> {
    if !status.is_success() {
        return Err(EngineError(format!("Elasticsearch {what} answered HTTP {}: {}", status.as_u16(), error_detail(body))));
    }
    serde_json::from_slice(body)
        .map_err(|e| EngineError(format!("Elasticsearch {what} answered HTTP {} with invalid JSON: {e}", status.as_u16())))
}

/// `type: reason` of an Elasticsearch error body, or the start of a body that is not one.
fn error_detail(body: &[u8]) -> String {
    let detail = match serde_json::from_slice::<Value>(body).map(|v| v["error"].clone()) {
        Ok(Value::Object(error)) => format!("{}: {}", error["type"].as_str().unwrap_or("error"), error["reason"].as_str().unwrap_or("")),
        Ok(Value::String(error)) => error,
        _ if body.is_empty() => "empty body".to_owned(),
        _ => String::from_utf8_lossy(body).trim().to_owned(),
    };
    detail.chars().take(DETAIL_MAX_CHARS).collect()
}

/// Index creation succeeded, or the index already exists.
fn parse_prepare(status: StatusCode, body: &[u8]) -> Result<(), EngineError> {
    let exists = || serde_json::from_slice::<Value>(body).is_ok_and(|v| v["error"]["type"] == "resource_already_exists_exception");
    if status == StatusCode::BAD_REQUEST && exists() {
        return Ok(());
    }
    answer("index creation", status, body).map(drop)
}

/// `hits.hits` of a `_search` answer.
fn hits<'a>(what: &str, answer: &'a Value) -> Result<&'a [Value], EngineError> {
    answer["hits"]["hits"].as_array().map(Vec::as_slice).ok_or_else(|| EngineError(format!("Elasticsearch {what} answer has no hits.hits")))
}

/// The kind and id of a hit, from its `_id` `<kind>:<id>`.
fn key_of(what: &str, hit: &Value) -> Result<(Kind, String), EngineError> {
    let key = hit["_id"].as_str().unwrap_or("");
    key.split_once(':')
        .and_then(|(kind, id)| Some((Kind::parse(kind)?, id.to_owned())))
        .ok_or_else(|| EngineError(format!("Elasticsearch {what} answer has a hit with _id {key:?}, not <kind>:<id>")))
}

/// A page from a `_search` answer asked for `limit + 1` hits.
fn parse_search(status: StatusCode, body: &[u8], limit: usize) -> Result<Page, EngineError> {
    let answer = answer("search", status, body)?;
    let found = hits("search", &answer)?;
    let mut page = Page { hits: Vec::with_capacity(found.len().min(limit)), more: found.len() > limit };
    for hit in found.iter().take(limit) {
        let (kind, id) = key_of("search", hit)?;
        let mut highlight = Map::new();
        for field in HIGHLIGHTED {
            if let Some(html) = hit["highlight"][field][0].as_str() {
                highlight.insert(field.to_owned(), html.into());
            }
        }
        // `_score` is null when sorting by date.
        let score = hit["_score"].as_f64().unwrap_or(0.0);
        let item = serde_json::value::to_raw_value(&hit["_source"]["item"])
            .map_err(|e| EngineError(format!("Elasticsearch search answer: {e}")))?;
        page.hits.push(Hit { kind, id, score, highlight, item });
    }
    Ok(page)
}

/// Completions from a `_search` answer: titles of videos, usernames of users, each text once.
fn parse_suggest(status: StatusCode, body: &[u8], limit: usize) -> Result<Vec<Suggestion>, EngineError> {
    let answer = answer("suggest", status, body)?;
    let mut out: Vec<Suggestion> = Vec::new();
    for hit in hits("suggest", &answer)? {
        let (kind, id) = key_of("suggest", hit)?;
        let field = if kind == Kind::Video { "title" } else { "username" };
        let text = hit["_source"][field].as_str().unwrap_or("");
        if !text.is_empty() && out.len() < limit && !out.iter().any(|s| s.text == text) {
            out.push(Suggestion { text: text.to_owned(), kind, id });
        }
    }
    Ok(out)
}

/// One result per document from a `_bulk` answer to `count` actions.
fn parse_bulk(status: StatusCode, body: &[u8], count: usize) -> Result<Vec<DocResult>, EngineError> {
    let answer = answer("bulk write", status, body)?;
    let items = answer["items"].as_array().ok_or_else(|| EngineError("Elasticsearch bulk answer has no items".to_owned()))?;
    if items.len() != count {
        return Err(EngineError(format!("Elasticsearch bulk answer has {} items for {count} documents", items.len())));
    }
    Ok(items.iter().map(item_result).collect())
}

/// The outcome of one `{"index": {...}}` item of a `_bulk` answer.
fn item_result(item: &Value) -> DocResult {
    let outcome = item.as_object().and_then(|o| o.values().next()).ok_or("malformed bulk item")?;
    let error_type = outcome["error"]["type"].as_str().unwrap_or("");
    match outcome["status"].as_u64() {
        Some(200..=299) => Ok(()),
        // The index already holds this version or a newer one: the write is rightly skipped.
        Some(409) if error_type == "version_conflict_engine_exception" => Ok(()),
        Some(status) if error_type.is_empty() => Err(format!("HTTP {status}")),
        Some(_) => Err(format!("{error_type}: {}", outcome["error"]["reason"].as_str().unwrap_or(""))),
        None => Err("malformed bulk item".to_owned()),
    }
}

/// `(key, version)` pairs from a `_search` answer.
fn parse_live_keys(status: StatusCode, body: &[u8]) -> Result<Vec<(String, u64)>, EngineError> {
    let answer = answer("key listing", status, body)?;
    hits("key listing", &answer)?
        .iter()
        .map(|hit| match (hit["_id"].as_str(), hit["_source"]["version"].as_u64()) {
            (Some(key), Some(version)) => Ok((key.to_owned(), version)),
            _ => Err(EngineError("Elasticsearch key listing answer has a hit without _id or version".to_owned())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(terms: &[&str]) -> SearchQuery {
        let terms = terms.iter().map(|t| Term::Word((*t).to_owned())).collect();
        SearchQuery {
            terms,
            kind: None,
            tags: vec![],
            author: None,
            from_ms: None,
            to_ms: None,
            sort: Sort::Relevance,
            limit: 20,
            offset: 0,
        }
    }

    fn ok(body: Value) -> (StatusCode, Vec<u8>) {
        (StatusCode::OK, body.to_string().into_bytes())
    }

    #[test]
    fn new_moves_credentials_into_a_basic_header() {
        let es = Elastic::new("http://elastic:p%40ss:w@127.0.0.1:9200/", "videos").unwrap();
        let request = es.request(Method::POST, "/videos/_search", JSON, b"{}".to_vec()).unwrap();
        assert_eq!(request.uri(), "http://127.0.0.1:9200/videos/_search");
        assert_eq!(request.headers()[AUTHORIZATION], "Basic ZWxhc3RpYzpwQHNzOnc="); // elastic:p@ss:w
        assert_eq!(request.headers()[CONTENT_TYPE], JSON);
        assert!(!format!("{es:?}").contains("ZWxhc3RpYzpwQHNzOnc="), "Debug hides the credentials");
        let es = Elastic::new("HTTPS://es.example:9200/prefix/", "search_1").unwrap();
        let request = es.request(Method::PUT, "/search_1", JSON, Vec::new()).unwrap();
        assert_eq!(request.uri(), "https://es.example:9200/prefix/search_1");
        assert!(request.headers().get(AUTHORIZATION).is_none());
    }

    #[test]
    fn new_refuses_bad_urls_and_index_names_without_echoing_secrets() {
        for index in ["", "Videos", "-x", "_x", "a/b", "a*", "a b", "é"] {
            assert!(Elastic::new("http://h:9200", index).is_err(), "{index:?}");
        }
        for url in ["ftp://h", "h:9200", "http://", "http://u:secret@", "http://u:secret@h?x=1", "http://u:sec%zzret@h", "http://h h"] {
            let error = Elastic::new(url, "videos").unwrap_err();
            assert!(!error.contains("secret") && !error.contains("sec%"), "{url}: {error}");
        }
    }

    #[test]
    fn search_with_terms_filters_date_sort_and_paging() {
        let q = SearchQuery {
            terms: vec![Term::Word("rust".into()), Term::Cjk("视频".into())],
            kind: Some(Kind::Video),
            tags: vec!["fun".into(), "pets".into()],
            author: Some("u1".into()),
            from_ms: Some(1_700_000_000_000),
            to_ms: Some(1_800_000_000_000),
            sort: Sort::Date,
            offset: 40,
            ..query(&[])
        };
        let expected = json!({
            "query": { "bool": {
                "filter": [
                    { "term": { "live": true } }, { "term": { "kind": "video" } },
                    { "term": { "tags": "fun" } }, { "term": { "tags": "pets" } }, { "term": { "author": "u1" } },
                    { "range": { "created_at": { "gte": 1_700_000_000_000_u64, "lt": 1_800_000_000_000_u64 } } },
                ],
                "must": [{ "multi_match": {
                    "query": "rust 视频", "fields": ["title^3", "tags^2", "username^2", "description"], "type": "cross_fields", "operator": "and",
                } }],
            } },
            "from": 40, "size": 21, "sort": [{ "created_at": "desc" }, { "key": "asc" }], "track_total_hits": false, "_source": ["item"],
            "highlight": {
                "pre_tags": ["<mark>"], "post_tags": ["</mark>"], "encoder": "html",
                "fields": {
                    "title": { "number_of_fragments": 0 }, "username": { "number_of_fragments": 0 },
                    "description": { "fragment_size": 120, "number_of_fragments": 1 },
                },
            },
        });
        assert_eq!(search_body(&q), expected);
        assert_eq!(search_body(&query(&["a"]))["sort"], json!([{ "_score": "desc" }, { "created_at": "desc" }, { "key": "asc" }]));
    }

    #[test]
    fn browsing_without_terms_only_filters() {
        let q = SearchQuery { kind: Some(Kind::Video), tags: vec!["music".into()], to_ms: Some(5), sort: Sort::Date, ..query(&[]) };
        let expected = json!({
            "query": { "bool": { "filter": [
                { "term": { "live": true } }, { "term": { "kind": "video" } }, { "term": { "tags": "music" } },
                { "range": { "created_at": { "lt": 5 } } },
            ] } },
            "from": 0, "size": 21, "sort": [{ "created_at": "desc" }, { "key": "asc" }], "track_total_hits": false, "_source": ["item"],
        });
        assert_eq!(search_body(&q), expected);
    }

    #[test]
    fn hostile_text_stays_inside_the_match_query_string() {
        let hostile = r#"" OR * {"query":{"match_all":{}}} title:x^9"#;
        let terms = vec![Term::Word(hostile.into()), Term::Word("*".into())];
        let search = search_body(&SearchQuery { terms: terms.clone(), ..query(&[]) });
        let suggest = suggest_body(&SuggestQuery { terms, kind: None, limit: 5 });
        for mut body in [search, suggest] {
            let text = &mut body["query"]["bool"]["must"][0]["multi_match"]["query"];
            assert_eq!(*text, format!("{hostile} *"));
            *text = json!("");
            let rest = body.to_string();
            assert!(!rest.contains("match_all") && !rest.contains('*') && !rest.contains("x^9"), "{rest}");
        }
    }

    #[test]
    fn suggest_is_a_bool_prefix_over_search_as_you_type_fields() {
        let q = SuggestQuery { terms: vec![Term::Word("rust".into()), Term::Word("tu".into())], kind: Some(Kind::User), limit: 8 };
        let expected = json!({
            "query": { "bool": {
                "filter": [{ "term": { "live": true } }, { "term": { "kind": "user" } }],
                "must": [{ "multi_match": { "query": "rust tu", "type": "bool_prefix", "operator": "and", "fields": [
                    "title.suggest", "title.suggest._2gram", "title.suggest._3gram",
                    "username.suggest", "username.suggest._2gram", "username.suggest._3gram",
                ] } }],
            } },
            "size": 16, "track_total_hits": false, "_source": ["title", "username"],
        });
        assert_eq!(suggest_body(&q), expected);
    }

    #[test]
    fn bulk_indexes_documents_and_tombstones_with_external_versions() {
        let (title, item) = ("Cats\n\"live\"".to_owned(), json!({ "id": "7" }));
        let video = Doc {
            live: true,
            author: "u1".into(),
            created_at: 1000,
            title,
            tags: vec!["pets".into()],
            item,
            ..Doc::tombstone(Kind::Video, "7", 3)
        };
        let docs = [video, Doc::tombstone(Kind::User, "u9", 4)];
        let body = bulk_body("videos", &docs, true);
        assert!(body.ends_with('\n'));
        let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(
            lines,
            [
                json!({ "index": { "_index": "videos", "_id": "video:7", "version": 3, "version_type": "external_gte" } }),
                json!({ "key": "video:7", "kind": "video", "live": true, "author": "u1", "created_at": 1000, "tags": ["pets"],
                    "version": 3, "title": "Cats\n\"live\"", "description": "", "username": "", "item": { "id": "7" } }),
                json!({ "index": { "_index": "videos", "_id": "user:u9", "version": 4, "version_type": "external_gte" } }),
                json!({ "key": "user:u9", "kind": "user", "live": false, "author": "", "created_at": 0, "tags": [],
                    "version": 4, "title": "", "description": "", "username": "", "item": null }),
            ]
        );
        assert!(bulk_body("videos", &docs, false).contains(r#""version_type":"external""#));
    }

    #[test]
    fn index_maps_every_bulk_field() {
        let properties = index_body()["mappings"]["properties"].clone();
        let source: Value =
            serde_json::from_str(bulk_body("i", &[Doc::tombstone(Kind::Video, "1", 1)], false).lines().nth(1).unwrap()).unwrap();
        assert!(properties.as_object().unwrap().keys().eq(source.as_object().unwrap().keys()));
        assert_eq!(properties["item"], json!({ "type": "object", "enabled": false }));
        assert_eq!(properties["title"]["analyzer"], "cjk");
        assert_eq!(properties["username"]["fields"]["suggest"]["type"], "search_as_you_type");
    }

    #[test]
    fn live_keys_page_on_the_key_field() {
        let first = json!({ "query": { "term": { "live": true } }, "size": 100, "sort": [{ "key": "asc" }], "track_total_hits": false, "_source": ["version"] });
        assert_eq!(live_keys_body("", 100), first);
        assert_eq!(live_keys_body("video:12", 100)["search_after"], json!(["video:12"]));
        let (status, body) = ok(json!({ "hits": { "hits": [
            { "_index": "videos", "_id": "user:a", "_score": null, "_source": { "version": 2 }, "sort": ["user:a"] },
            { "_index": "videos", "_id": "video:1", "_score": null, "_source": { "version": 9 }, "sort": ["video:1"] },
        ] } }));
        assert_eq!(parse_live_keys(status, &body).unwrap(), [("user:a".into(), 2), ("video:1".into(), 9)]);
    }

    #[test]
    fn parses_a_search_answer_with_highlights_and_sort_values() {
        let (status, body) = ok(json!({
            "took": 5, "timed_out": false, "_shards": { "total": 1, "successful": 1, "skipped": 0, "failed": 0 },
            "hits": { "max_score": null, "hits": [
                { "_index": "videos", "_id": "video:42", "_score": 1.25, "_source": { "item": { "id": "42" } },
                  "highlight": { "title": ["<mark>Rust</mark> &amp; cats"], "description": ["… learn <mark>rust</mark>"] },
                  "sort": [1.25, 1_700_000_000_000_u64, "video:42"] },
                { "_index": "videos", "_id": "user:u1", "_score": null, "_source": { "item": { "id": "u1" } }, "sort": [1_600_000_000_000_u64, "user:u1"] },
                { "_index": "videos", "_id": "video:43", "_score": null, "_source": { "item": {} } },
            ] }
        }));
        let page = parse_search(status, &body, 2).unwrap();
        assert!(page.more);
        assert_eq!(page.hits.len(), 2);
        let first = &page.hits[0];
        assert_eq!((first.kind, first.id.as_str(), first.score, first.item.get()), (Kind::Video, "42", 1.25, r#"{"id":"42"}"#));
        assert_eq!(
            Value::Object(first.highlight.clone()),
            json!({ "title": "<mark>Rust</mark> &amp; cats", "description": "… learn <mark>rust</mark>" })
        );
        assert_eq!((page.hits[1].kind, page.hits[1].score, page.hits[1].highlight.len()), (Kind::User, 0.0, 0));
        assert!(!parse_search(status, &body, 3).unwrap().more);
        let (status, odd) = ok(json!({ "hits": { "hits": [{ "_id": "channel:1" }] } }));
        assert!(parse_search(status, &odd, 3).is_err());
    }

    #[test]
    fn suggestions_name_titles_and_usernames_once() {
        let (status, body) = ok(json!({ "hits": { "hits": [
            { "_id": "video:1", "_score": 3.0, "_source": { "title": "Rust tutorial", "username": "bob" } },
            { "_id": "video:2", "_score": 2.0, "_source": { "title": "Rust tutorial", "username": "ann" } },
            { "_id": "user:u7", "_score": 1.0, "_source": { "title": "Rusty Ann", "username": "rusty" } },
        ] } }));
        let texts: Vec<_> = parse_suggest(status, &body, 10).unwrap().into_iter().map(|s| (s.text, s.kind, s.id)).collect();
        assert_eq!(texts, [("Rust tutorial".into(), Kind::Video, "1".into()), ("rusty".into(), Kind::User, "u7".into())]);
    }

    #[test]
    fn bulk_conflicts_are_success_and_other_item_errors_are_per_document() {
        let (status, body) = ok(json!({ "took": 30, "errors": true, "items": [
            { "index": { "_index": "videos", "_id": "video:1", "_version": 3, "result": "created", "status": 201,
                         "_shards": { "total": 2, "successful": 1, "failed": 0 }, "_seq_no": 0, "_primary_term": 1 } },
            { "index": { "_index": "videos", "_id": "video:2", "status": 409, "error": {
                "type": "version_conflict_engine_exception",
                "reason": "[video:2]: version conflict, current version [5] is higher or equal to the one provided [4]",
                "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0", "index": "videos" } } },
            { "index": { "_index": "videos", "_id": "video:3", "status": 400, "error": {
                "type": "mapper_parsing_exception", "reason": "failed to parse field [created_at] of type [long]" } } },
        ] }));
        let expected = [Ok(()), Ok(()), Err("mapper_parsing_exception: failed to parse field [created_at] of type [long]".to_owned())];
        assert_eq!(parse_bulk(status, &body, 3).unwrap(), expected);
        assert!(parse_bulk(status, &body, 4).unwrap_err().0.contains("3 items for 4"));
        let (status, empty) = ok(json!({ "took": 1, "errors": false }));
        assert!(parse_bulk(status, &empty, 0).is_err());
        assert_eq!(item_result(&json!({ "index": { "status": 429 } })), Err("HTTP 429".into()));
        assert!(item_result(&json!("x")).is_err());
    }

    #[test]
    fn creating_an_existing_index_is_success() {
        let exists = json!({
            "error": {
                "root_cause": [{ "type": "resource_already_exists_exception", "reason": "index [videos/x1] already exists", "index": "videos" }],
                "type": "resource_already_exists_exception", "reason": "index [videos/x1] already exists", "index_uuid": "x1", "index": "videos"
            },
            "status": 400
        });
        assert_eq!(parse_prepare(StatusCode::BAD_REQUEST, exists.to_string().as_bytes()), Ok(()));
        let (status, created) = ok(json!({ "acknowledged": true, "shards_acknowledged": true, "index": "videos" }));
        assert_eq!(parse_prepare(status, &created), Ok(()));
        let other = json!({ "error": { "type": "mapper_parsing_exception", "reason": "unknown analyzer" }, "status": 400 }).to_string();
        let error = parse_prepare(StatusCode::BAD_REQUEST, other.as_bytes()).unwrap_err();
        assert_eq!(error.0, "Elasticsearch index creation answered HTTP 400: mapper_parsing_exception: unknown analyzer");
    }

    #[test]
    fn failures_and_garbage_are_engine_errors() {
        let unavailable = StatusCode::SERVICE_UNAVAILABLE;
        assert!(parse_search(unavailable, b"<html>503 Service Unavailable</html>", 20).unwrap_err().0.contains("HTTP 503: <html>"));
        let busy = json!({ "error": { "type": "cluster_block_exception", "reason": "blocked" }, "status": 503 }).to_string();
        assert!(parse_bulk(unavailable, busy.as_bytes(), 1).unwrap_err().0.ends_with("HTTP 503: cluster_block_exception: blocked"));
        let missing = json!({ "error": { "type": "index_not_found_exception", "reason": "no such index [videos]" }, "status": 404 });
        assert!(parse_suggest(StatusCode::NOT_FOUND, missing.to_string().as_bytes(), 10).unwrap_err().is_missing_index());
        assert!(parse_live_keys(StatusCode::NOT_FOUND, b"").unwrap_err().0.contains("empty body"));
        assert!(parse_prepare(StatusCode::BAD_REQUEST, b"not json").is_err());
        for garbage in [&b"not json"[..], b"{}", b"{\"hits\":{\"hits\":7}}"] {
            assert!(parse_search(StatusCode::OK, garbage, 20).is_err());
            assert!(parse_suggest(StatusCode::OK, garbage, 10).is_err());
            assert!(parse_live_keys(StatusCode::OK, garbage).is_err());
            assert!(parse_bulk(StatusCode::OK, garbage, 1).is_err());
        }
    }
}
