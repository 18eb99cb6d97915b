//! `POST /search/reindex`: rewrites the index from the key-value store, the records' truth, a
//! batch of keys per call, and turns live documents whose record is gone into tombstones. Pure
//! over [`Ports`] (with [`pass::Ports`] for records and the engine's writes).

use std::collections::BTreeSet;

use edge_http::Problem;
use serde_json::{json, Value};

use crate::engine::{Doc, DocResult, EngineError};
use crate::params::Kind;
use crate::pass::{self, UserNames};
use crate::records;

/// Records a reindex call handles at most.
pub(crate) const BATCH: usize = 1000;
/// Live document keys read from the engine per page.
const LIVE_PAGE: usize = 500;

/// What a reindex needs beyond a pass's ports.
pub(crate) trait Ports: pass::Ports {
    /// Every key of the key-value store.
    fn stored_keys(&self) -> Result<Vec<String>, Problem>;
    /// Writes documents, replacing those of equal version too (a record rewritten in place).
    async fn replace(&self, docs: &[Doc]) -> Result<Vec<DocResult>, EngineError>;
    /// Keys and versions of live documents after `after`, in key order, at most `limit`.
    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError>;
    /// Moves the index generation, so cached answers from before are not served.
    fn bump_generation(&self) -> Result<u64, Problem>;
}

fn failed(error: EngineError) -> Problem {
    Problem::unavailable("search-unavailable", format!("the search engine failed ({error}); retry shortly"))
}

/// Rewrites the documents of up to [`BATCH`] records after key `after`, and tombstones live
/// documents in that key range whose record is gone. Answers the report, with the key to
/// continue after, if any.
pub(crate) async fn run<P: Ports>(ports: &P, after: &str) -> Result<Value, Problem> {
    ports.check_engine()?;
    ports.prepare().await.map_err(failed)?;
    let mut keys: Vec<String> =
        ports.stored_keys()?.into_iter().filter(|k| edge_protocol::keys::Record::parse(k).is_some() && k.as_str() > after).collect();
    keys.sort();
    let more = keys.len() > BATCH;
    keys.truncate(BATCH);
    let mut names = UserNames::default();
    let mut docs = Vec::new();
    let mut unreadable = Vec::new();
    for key in &keys {
        let Some(record) = ports.record(key).map_err(edge_spin::kv_unavailable)? else { continue };
        let doc = if key.starts_with(edge_protocol::keys::VIDEO_PREFIX) {
            records::video_doc(&record, |author| names.get(ports, author))
        } else {
            records::user_doc(&record, 1)
        };
        match doc {
            Ok(doc) => docs.push(doc),
            Err(error) => unreadable.push(json!({ "key": key, "error": error })),
        }
    }
    let results = ports.replace(&docs).await.map_err(failed)?;
    let refused: Vec<Value> =
        docs.iter().zip(&results).filter_map(|(d, r)| r.as_ref().err().map(|e| json!({ "key": d.key(), "error": e }))).collect();
    // Documents in the range just covered whose record no longer exists.
    let last = if more { keys.last().cloned().unwrap_or_default() } else { String::from("\u{10ffff}") };
    let present: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let mut orphans = Vec::new();
    let mut cursor = after.to_owned();
    loop {
        let page = ports.live_keys(&cursor, LIVE_PAGE).await.map_err(failed)?;
        let done = page.len() < LIVE_PAGE;
        for (key, version) in &page {
            if key.as_str() > last.as_str() {
                break;
            }
            if !present.contains(key.as_str()) {
                if let Some((kind, id)) = key.split_once(':').and_then(|(k, id)| Some((Kind::parse(k)?, id))) {
                    orphans.push(Doc::tombstone(kind, id, version + 1));
                }
            }
        }
        match page.last() {
            Some((key, _)) if !done && key.as_str() <= last.as_str() => cursor = key.clone(),
            _ => break,
        }
    }
    if !orphans.is_empty() {
        ports.apply(&orphans).await.map_err(failed)?;
    }
    let generation = ports.bump_generation()?;
    Ok(json!({
        "indexed": docs.len() - refused.len(),
        "removed": orphans.len(),
        "failed": refused,
        "unreadable": unreadable,
        "generation": generation,
        "next_after": if more { keys.last().cloned() } else { None },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;
    use futures::executor::block_on;

    fn video(id: u64, author: &str) -> String {
        format!(r#"{{"id":{id},"author":"{author}","title":"t{id}","version":2}}"#)
    }

    fn stored(videos: impl IntoIterator<Item = u64>) -> Memory {
        let mut m = Memory::new(Vec::new());
        m.records.insert("user:u1".into(), r#"{"id":"u1","username":"ann","display_name":"Ann","created_at":5,"version":3}"#.into());
        for id in videos {
            m.records.insert(format!("video:{id}"), video(id, "u1"));
        }
        m
    }

    #[test]
    fn every_record_is_rewritten_and_documents_without_a_record_become_tombstones() {
        let mut m = stored([1, 2]);
        m.records.insert("video:3".into(), "{broken".into());
        m.records.insert("search:cache:x".into(), "not a record".into());
        m.index.borrow_mut().insert("video:9".into(), (4, true));
        let report = block_on(run(&m, "")).unwrap();
        assert_eq!((report["indexed"].as_u64(), report["removed"].as_u64(), report["generation"].as_u64()), (Some(3), Some(1), Some(8)));
        assert_eq!(report["unreadable"][0]["key"], "video:3");
        assert_eq!(report["next_after"], Value::Null);
        let index = m.index.borrow();
        assert_eq!(index["video:9"], (5, false), "a tombstone one version above the orphan");
        assert_eq!(index["video:1"], (2, true));
        assert_eq!(m.applied.borrow().iter().find(|d| d.key() == "video:1").unwrap().username, "ann");
    }

    #[test]
    fn a_call_covers_one_batch_and_only_tombstones_orphans_within_it() {
        let m = stored(1..=(BATCH as u64 + 5));
        m.index.borrow_mut().insert("zzz:1".into(), (1, true));
        m.index.borrow_mut().insert("video:99999".into(), (1, true));
        let first = block_on(run(&m, "")).unwrap();
        let next = first["next_after"].as_str().unwrap().to_owned();
        assert_eq!(first["indexed"].as_u64(), Some(BATCH as u64));
        let second = block_on(run(&m, &next)).unwrap();
        assert_eq!((second["indexed"].as_u64(), second["next_after"].clone()), (Some(6), Value::Null));
        assert_eq!(m.index.borrow()["video:99999"], (2, false), "gone, so tombstoned by the call whose range holds it");
        assert_eq!(m.index.borrow()["zzz:1"], (1, true), "not a record key, never touched");
    }

    #[test]
    fn an_engine_that_fails_fails_the_call_with_503() {
        let m = stored([1]);
        m.engine_down.set(true);
        let problem = block_on(run(&m, "")).unwrap_err();
        assert_eq!((problem.status().as_u16(), problem.code()), (503, "search-unavailable"));
    }
}
