//! The fallback used while the engine is down and no stale answer is cached: the most recent
//! videos (read from feed's Redis records) matched in the proxy. Narrower than the engine (recent
//! videos only, no users, newest first) and marked degraded, but never empty-handed. Pure.

use crate::engine::{Doc, Fields, Hit, Page, Suggestion};
use crate::params::{Kind, SearchQuery, SuggestQuery};
use crate::text::{self, Term};

/// How many of the newest videos the fallback looks through.
pub(crate) const RECENT: u64 = 500;

fn matches_all(doc: &Doc, terms: &[Term]) -> bool {
    let tags = doc.tags.join(" ");
    terms.iter().all(|term| {
        let one = std::slice::from_ref(term);
        [doc.title.as_str(), doc.description.as_str(), tags.as_str(), doc.username.as_str()]
            .iter()
            .any(|field| !text::match_ranges(field, one).is_empty())
    })
}

fn passes_filters(doc: &Doc, q: &SearchQuery) -> bool {
    q.kind.is_none_or(|k| k == Kind::Video)
        && q.author.as_ref().is_none_or(|a| *a == doc.author)
        && q.from_ms.is_none_or(|from| doc.created_at >= from)
        && q.to_ms.is_none_or(|to| doc.created_at < to)
        && q.tags.iter().all(|t| doc.tags.contains(t))
}

/// A page of `recent` (newest first) matching `q`.
pub(crate) fn search(recent: &[Doc], q: &SearchQuery) -> Page {
    let mut found = recent.iter().filter(|d| d.live && passes_filters(d, q) && matches_all(d, &q.terms)).skip(q.offset);
    let hits: Vec<Hit> = found
        .by_ref()
        .take(q.limit)
        .filter_map(|d| {
            let fields = Fields { title: &d.title, description: &d.description, username: &d.username };
            let item = serde_json::value::to_raw_value(&d.item).ok()?;
            Some(Hit::highlighted(d.kind, d.id.clone(), 0.0, item, &fields, &q.terms))
        })
        .collect();
    Page { hits, more: found.next().is_some() }
}

/// Titles of `recent` videos matching the prefix.
pub(crate) fn suggest(recent: &[Doc], q: &SuggestQuery) -> Vec<Suggestion> {
    if q.kind == Some(Kind::User) {
        return Vec::new();
    }
    let mut out: Vec<Suggestion> = Vec::new();
    for doc in recent.iter().filter(|d| d.live) {
        let all = q.terms.iter().all(|t| !text::match_ranges(&doc.title, std::slice::from_ref(t)).is_empty());
        if all && !out.iter().any(|s| s.text == doc.title) {
            out.push(Suggestion { text: doc.title.clone(), kind: Kind::Video, id: doc.id.clone() });
            if out.len() == q.limit {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{RawSearch, RawSuggest};
    use serde_json::json;

    fn doc(id: u64, title: &str, tags: &[&str]) -> Doc {
        Doc {
            kind: Kind::Video,
            id: id.to_string(),
            version: 1,
            live: true,
            author: "a".into(),
            created_at: id,
            title: title.into(),
            description: String::new(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            username: "ann".into(),
            item: json!({ "id": id }),
        }
    }

    #[test]
    fn matches_words_and_cjk_with_filters_and_paging() {
        let recent = vec![
            doc(4, "Rust 入门教程", &["rust"]),
            doc(3, "Cats", &[]),
            doc(2, "rusty bikes", &["bike"]),
            doc(1, "rust again", &["rust"]),
        ];
        let q = |s: &str| SearchQuery::parse(serde_urlencoded::from_str::<RawSearch>(s).unwrap()).unwrap();
        let ids = |p: Page| p.hits.into_iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(search(&recent, &q("q=rust"))), vec!["4", "2", "1"]);
        assert_eq!(ids(search(&recent, &q("q=教程"))), vec!["4"]);
        assert_eq!(ids(search(&recent, &q("q=rust&tags=rust"))), vec!["4", "1"]);
        let first = search(&recent, &q("q=rust&limit=1"));
        assert!(first.more);
        assert_eq!(first.hits[0].highlight["title"], "<mark>Rust</mark> 入门教程");
        assert!(search(&recent, &q("q=rust&type=user")).hits.is_empty());
        let s = SuggestQuery::parse(serde_urlencoded::from_str::<RawSuggest>("q=ca").unwrap()).unwrap();
        assert_eq!(suggest(&recent, &s).into_iter().map(|s| s.text).collect::<Vec<_>>(), vec!["Cats"]);
    }
}
