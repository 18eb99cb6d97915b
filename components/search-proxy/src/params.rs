//! What a client may ask: `GET /search` and `GET /search/suggest` query strings checked and
//! normalised into [`SearchQuery`] and [`SuggestQuery`], and the cache key of each. Pure.
//!
//! The client sends words and filters only; every engine query is built from these values, so
//! no engine syntax can pass through.

use edge_http::Problem;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::text::{self, Term};

/// Longest `q`, in bytes.
pub const QUERY_MAX_BYTES: usize = 200;
/// Most terms in `q`.
pub const TERMS_MAX: usize = 12;
/// Most `tags` filters.
pub const TAG_FILTERS_MAX: usize = 5;
/// Longest tag or author filter, in bytes.
pub const FILTER_MAX_BYTES: usize = 64;
/// Default and largest page of results.
pub const PAGE_DEFAULT: usize = 20;
/// Largest page of results.
pub const PAGE_MAX: usize = 50;
/// How deep paging goes: results past this many are not served (refine the query instead).
pub const DEPTH_MAX: usize = 1000;
/// Default and largest number of suggestions.
pub const SUGGEST_DEFAULT: usize = 8;
/// Largest number of suggestions.
pub const SUGGEST_MAX: usize = 20;

/// What is searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Videos (title, description, tags, author's username).
    Video,
    /// Users (username, display name).
    User,
}

impl Kind {
    /// The name used in URLs, keys and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Video => "video",
            Kind::User => "user",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "video" => Some(Kind::Video),
            "user" => Some(Kind::User),
            _ => None,
        }
    }
}

/// Result order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Best match first (bm25 in SQLite, `_score` in Elasticsearch), newest first among equals.
    Relevance,
    /// Newest first.
    Date,
}

/// A checked `GET /search`.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// Terms, all of which must match; the last one also matches as a prefix. May be empty
    /// when a filter is given (browsing by tag or author).
    pub terms: Vec<Term>,
    /// Only this kind; both when `None`.
    pub kind: Option<Kind>,
    /// Videos carrying every one of these tags (lowercased).
    pub tags: Vec<String>,
    /// Videos by this user id.
    pub author: Option<String>,
    /// Created at or after (ms since the Unix epoch).
    pub from_ms: Option<u64>,
    /// Created before (ms since the Unix epoch).
    pub to_ms: Option<u64>,
    /// Order.
    pub sort: Sort,
    /// Page size.
    pub limit: usize,
    /// Results skipped (from the cursor).
    pub offset: usize,
}

/// A checked `GET /search/suggest`.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestQuery {
    /// Terms; the last one is a prefix.
    pub terms: Vec<Term>,
    /// Only this kind; both when `None`.
    pub kind: Option<Kind>,
    /// How many.
    pub limit: usize,
}

/// The raw `GET /search` query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSearch {
    q: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    tags: Option<String>,
    author: Option<String>,
    from: Option<String>,
    to: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

/// The raw `GET /search/suggest` query string.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSuggest {
    q: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    limit: Option<String>,
}

fn invalid(field: &'static str, detail: impl Into<String>) -> Problem {
    Problem::bad_request("invalid-query", detail).with("field", field)
}

fn query_terms(q: &str, field: &'static str) -> Result<Vec<Term>, Problem> {
    if q.len() > QUERY_MAX_BYTES {
        return Err(Problem::bad_request("query-too-long", format!("q is at most {QUERY_MAX_BYTES} bytes"))
            .with("field", field)
            .with("max", QUERY_MAX_BYTES));
    }
    let terms = text::terms(q);
    if terms.len() > TERMS_MAX {
        return Err(Problem::bad_request("too-many-terms", format!("q has at most {TERMS_MAX} words"))
            .with("field", field)
            .with("max", TERMS_MAX));
    }
    Ok(terms)
}

fn kind(raw: Option<&str>) -> Result<Option<Kind>, Problem> {
    match raw {
        None | Some("") | Some("all") => Ok(None),
        Some(name) => Kind::parse(name).map(Some).ok_or_else(|| invalid("type", "type is video, user or all")),
    }
}

fn limit(raw: Option<&str>, default: usize, max: usize) -> Result<usize, Problem> {
    let Some(raw) = raw else { return Ok(default) };
    match raw.parse::<usize>() {
        Ok(n) if raw.bytes().all(|b| b.is_ascii_digit()) && (1..=max).contains(&n) => Ok(n),
        _ => Err(invalid("limit", format!("limit is a whole number from 1 to {max}")).with("max", max)),
    }
}

/// A time bound: milliseconds since the Unix epoch, or a `YYYY-MM-DD` date (midnight UTC).
fn time(raw: Option<&str>, field: &'static str) -> Result<Option<u64>, Problem> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return Ok(None) };
    let bad = || invalid(field, format!("{field} is a date (YYYY-MM-DD) or milliseconds since 1970"));
    if raw.len() <= 15 && raw.bytes().all(|b| b.is_ascii_digit()) {
        return raw.parse().map(Some).map_err(|_| bad());
    }
    let parts: Vec<&str> = raw.split('-').collect();
    let [y, m, d] = parts[..] else { return Err(bad()) };
    let num = |s: &str, len: usize| if s.len() == len && s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<i64>().ok() } else { None };
    match (num(y, 4), num(m, 2), num(d, 2)) {
        (Some(y), Some(m @ 1..=12), Some(d @ 1..=31)) if y >= 1970 => Ok(Some(days_from_civil(y, m, d) as u64 * 86_400_000)),
        _ => Err(bad()),
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn filter_value(raw: &str, field: &'static str) -> Result<String, Problem> {
    let value = raw.trim().to_lowercase();
    if value.is_empty() || value.len() > FILTER_MAX_BYTES || value.chars().any(char::is_control) {
        return Err(invalid(field, format!("each {field} value is 1 to {FILTER_MAX_BYTES} bytes")));
    }
    Ok(value)
}

impl SearchQuery {
    /// Checks a `GET /search` query string.
    pub fn parse(raw: RawSearch) -> Result<SearchQuery, Problem> {
        let terms = query_terms(raw.q.as_deref().unwrap_or(""), "q")?;
        let mut tags = Vec::new();
        for tag in raw.tags.as_deref().unwrap_or("").split(',').filter(|t| !t.trim().is_empty()) {
            tags.push(filter_value(tag, "tags")?);
        }
        if tags.len() > TAG_FILTERS_MAX {
            return Err(invalid("tags", format!("at most {TAG_FILTERS_MAX} tags")).with("max", TAG_FILTERS_MAX));
        }
        tags.sort();
        tags.dedup();
        let author = match raw.author.as_deref() {
            Some(a) if !a.trim().is_empty() => Some(a.trim().to_owned())
                .filter(|a| a.len() <= FILTER_MAX_BYTES && a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
            _ => None,
        };
        if raw.author.as_deref().is_some_and(|a| !a.trim().is_empty()) && author.is_none() {
            return Err(invalid("author", "author is a user id"));
        }
        let mut kind = kind(raw.kind.as_deref())?;
        if (!tags.is_empty() || author.is_some()) && kind.is_none() {
            // Tags and authors belong to videos.
            kind = Some(Kind::Video);
        }
        if kind == Some(Kind::User) && (!tags.is_empty() || author.is_some()) {
            return Err(invalid("type", "tags and author filter videos; use type=video"));
        }
        let (from_ms, to_ms) = (time(raw.from.as_deref(), "from")?, time(raw.to.as_deref(), "to")?);
        if let (Some(from), Some(to)) = (from_ms, to_ms) {
            if from >= to {
                return Err(invalid("to", "to must be later than from"));
            }
        }
        if terms.is_empty() && tags.is_empty() && author.is_none() {
            return Err(Problem::bad_request("missing-query", "give q (words to search for) or a tags or author filter").with("field", "q"));
        }
        let sort = match raw.sort.as_deref() {
            None | Some("") | Some("relevance") if !terms.is_empty() => Sort::Relevance,
            None | Some("") | Some("relevance") | Some("date") => Sort::Date,
            Some(_) => return Err(invalid("sort", "sort is relevance or date")),
        };
        let limit = limit(raw.limit.as_deref(), PAGE_DEFAULT, PAGE_MAX)?;
        let offset = match raw.cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => decode_cursor(c)?,
        };
        if offset + limit > DEPTH_MAX {
            return Err(Problem::bad_request("too-deep", format!("results past the first {DEPTH_MAX} are not served; refine the query"))
                .with("field", "cursor")
                .with("max", DEPTH_MAX));
        }
        Ok(SearchQuery { terms, kind, tags, author, from_ms, to_ms, sort, limit, offset })
    }

    /// The cursor of the page after this one.
    pub fn next_cursor(&self) -> Option<String> {
        let next = self.offset + self.limit;
        (next < DEPTH_MAX).then(|| encode_cursor(next))
    }

    /// The cache key: the same for every spelling of the same search.
    pub fn cache_key(&self) -> String {
        let terms: Vec<&str> = self.terms.iter().map(Term::as_str).collect();
        let sort = match self.sort {
            Sort::Relevance => "r",
            Sort::Date => "d",
        };
        let kind = self.kind.map_or("all", Kind::as_str);
        let canonical = format!(
            "search\n{}\n{kind}\n{}\n{}\n{:?}\n{:?}\n{sort}\n{}\n{}",
            terms.join("\u{1f}"),
            self.tags.join("\u{1f}"),
            self.author.as_deref().unwrap_or(""),
            self.from_ms,
            self.to_ms,
            self.limit,
            self.offset
        );
        digest(&canonical)
    }
}

impl SuggestQuery {
    /// Checks a `GET /search/suggest` query string.
    pub fn parse(raw: RawSuggest) -> Result<SuggestQuery, Problem> {
        let terms = query_terms(raw.q.as_deref().unwrap_or(""), "q")?;
        if terms.is_empty() {
            return Err(Problem::bad_request("missing-query", "give q, the start of what the user is typing").with("field", "q"));
        }
        Ok(SuggestQuery { terms, kind: kind(raw.kind.as_deref())?, limit: limit(raw.limit.as_deref(), SUGGEST_DEFAULT, SUGGEST_MAX)? })
    }

    /// The cache key.
    pub fn cache_key(&self) -> String {
        let terms: Vec<&str> = self.terms.iter().map(Term::as_str).collect();
        digest(&format!("suggest\n{}\n{}\n{}", terms.join("\u{1f}"), self.kind.map_or("all", Kind::as_str), self.limit))
    }
}

fn digest(canonical: &str) -> String {
    let hash = Sha256::digest(canonical.as_bytes());
    hash[..16].iter().map(|b| format!("{b:02x}")).collect()
}

fn encode_cursor(offset: usize) -> String {
    format!("o{offset}")
}

fn decode_cursor(cursor: &str) -> Result<usize, Problem> {
    cursor
        .strip_prefix('o')
        .filter(|n| !n.is_empty() && n.len() <= 6 && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            Problem::bad_request("invalid-cursor", "cursor must be a value returned as next_cursor; omit it for the first page")
                .with("field", "cursor")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(query: &str) -> Result<SearchQuery, Problem> {
        SearchQuery::parse(serde_urlencoded::from_str(query).map_err(|e| Problem::bad_request("invalid-query", e.to_string()))?)
    }

    #[test]
    fn spellings_of_one_search_share_a_cache_key() {
        let a = search("q=Rust%20%20Tutorial").unwrap();
        let b = search("q=rust,+tutorial!&sort=relevance&limit=20").unwrap();
        assert_eq!(a.cache_key(), b.cache_key());
        assert_ne!(a.cache_key(), search("q=rust+tutorials").unwrap().cache_key());
        assert_ne!(a.cache_key(), search("q=rust+tutorial&cursor=o20").unwrap().cache_key());
        assert_ne!(a.cache_key(), search("q=tutorial+rust").unwrap().cache_key());
    }

    #[test]
    fn filters_are_checked() {
        let q = search("q=cat&tags=Fun,%20pets,fun&from=2024-03-01&to=1800000000000").unwrap();
        assert_eq!(q.tags, vec!["fun", "pets"]);
        assert_eq!(q.kind, Some(Kind::Video));
        assert_eq!(q.from_ms, Some(1_709_251_200_000));
        assert_eq!(search("tags=music").unwrap().sort, Sort::Date);
        for (bad, code) in [
            ("q=", "missing-query"),
            ("type=video", "missing-query"),
            ("q=a&type=channel", "invalid-query"),
            ("q=a&from=2024-13-01", "invalid-query"),
            ("q=a&from=2024-03-02&to=2024-03-01", "invalid-query"),
            ("q=a&type=user&tags=x", "invalid-query"),
            ("q=a&author=x%27%20OR%201", "invalid-query"),
            ("q=a&sort=score", "invalid-query"),
            ("q=a&limit=0", "invalid-query"),
            ("q=a&limit=51", "invalid-query"),
            ("q=a&cursor=abc", "invalid-cursor"),
            ("q=a&cursor=o990", "too-deep"),
            ("q=a&tags=1,2,3,4,5,6", "invalid-query"),
        ] {
            assert_eq!(search(bad).unwrap_err().code(), code, "{bad}");
        }
    }

    #[test]
    fn hostile_queries_are_refused_or_reduced_to_words() {
        assert_eq!(search(&format!("q={}", "a".repeat(10_000))).unwrap_err().code(), "query-too-long");
        assert_eq!(search(&format!("q={}", "a ".repeat(20))).unwrap_err().code(), "too-many-terms");
        let q = search("q=%27%20OR%201%3D1%20--%20%22NEAR%22").unwrap();
        assert_eq!(q.terms.iter().map(Term::as_str).collect::<Vec<_>>(), vec!["or", "1", "1", "near"]);
    }

    #[test]
    fn cursors_page_until_the_depth_limit() {
        let q = search("q=a&limit=50").unwrap();
        assert_eq!(q.next_cursor().as_deref(), Some("o50"));
        assert_eq!(search("q=a&limit=50&cursor=o50").unwrap().offset, 50);
        assert_eq!(search("q=a&limit=50&cursor=o950").unwrap().next_cursor(), None);
    }

    #[test]
    fn suggest_needs_a_prefix() {
        let s = SuggestQuery::parse(serde_urlencoded::from_str("q=Ru&type=user").unwrap()).unwrap();
        assert_eq!(s.terms, vec![Term::Word("ru".into())]);
        assert_eq!(s.limit, SUGGEST_DEFAULT);
        assert_eq!(SuggestQuery::parse(serde_urlencoded::from_str("q=%2A").unwrap()).unwrap_err().code(), "missing-query");
    }
}
