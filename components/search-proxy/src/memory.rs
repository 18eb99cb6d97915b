//! In-memory ports for the search core's tests: the sync scripts', the key-value store's and an
//! engine's semantics (versions kept, refused keys), with time pinned.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use edge_http::Problem;

use crate::engine::{Doc, DocResult, EngineError};
use crate::pass::{Begun, Ports};
use crate::ports::Base;
use crate::ports::Settings;
use crate::reindex;
use crate::sync::{Read, Settle};

/// The tuning the tests run with.
pub(crate) fn settings() -> Settings {
    Settings {
        cache_ms: 30_000,
        stale_ms: 600_000,
        coalesce_wait_ms: 100,
        breaker_failures: 3,
        breaker_cooldown_ms: 5_000,
        sync_batch: 100,
        retry_base_ms: 1000,
        max_attempts: 3,
    }
}

/// The ports in memory, with the sync scripts' semantics (their own tests run on a real
/// Redis end to end).
pub(crate) struct Memory {
    pub(crate) now: Cell<u64>,
    pub(crate) settings: Settings,
    pub(crate) begun: RefCell<Option<Begun>>,
    pub(crate) forgotten: RefCell<Vec<String>>,
    pub(crate) videos: BTreeMap<String, String>,
    pub(crate) records: BTreeMap<String, String>,
    pub(crate) engine_down: Cell<bool>,
    pub(crate) refused: Vec<String>,
    pub(crate) applied: RefCell<Vec<Doc>>,
    pub(crate) settled: RefCell<Vec<(String, Settle)>>,
    pub(crate) generation: Cell<u64>,
    pub(crate) released: RefCell<Vec<String>>,
    pub(crate) failures: Cell<u32>,
    /// The engine's documents: key → (version, live).
    pub(crate) index: RefCell<BTreeMap<String, (u64, bool)>>,
}

impl Memory {
    /// Ports whose next pass reads `reads`.
    pub(crate) fn new(reads: Vec<Read>) -> Memory {
        Memory {
            now: Cell::new(1_000_000),
            settings: settings(),
            begun: RefCell::new(Some(Begun::Leased { stale: Vec::new(), reads })),
            forgotten: RefCell::default(),
            videos: BTreeMap::new(),
            records: BTreeMap::new(),
            engine_down: Cell::new(false),
            refused: Vec::new(),
            applied: RefCell::default(),
            settled: RefCell::default(),
            generation: Cell::new(7),
            released: RefCell::default(),
            failures: Cell::new(0),
            index: RefCell::default(),
        }
    }

    /// How each entry was settled.
    pub(crate) fn settled(&self) -> Vec<(String, &'static str)> {
        let kind = |s: &Settle| match s {
            Settle::Ack => "ack",
            Settle::Retry(..) => "retry",
            Settle::Park(_) => "park",
        };
        self.settled.borrow().iter().map(|(entry, settle)| (entry.clone(), kind(settle))).collect()
    }
}

impl Base for Memory {
    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn token(&self) -> String {
        "lease-token".into()
    }

    fn settings(&self) -> Result<&Settings, Problem> {
        Ok(&self.settings)
    }

    fn check_engine(&self) -> Result<(), Problem> {
        Ok(())
    }

    fn release(&self, key: &str, token: &str) -> Result<(), Problem> {
        self.released.borrow_mut().push(format!("{key} {token}"));
        Ok(())
    }

    fn record_failure(&self, _: u64, _: bool) {
        self.failures.set(self.failures.get() + 1);
    }
}

impl Ports for Memory {
    fn begin(&self, _: u64, _: u64, _: &str) -> Result<Begun, Problem> {
        Ok(self.begun.borrow_mut().take().unwrap_or(Begun::Busy))
    }

    fn forget(&self, hash: &str) {
        self.forgotten.borrow_mut().push(hash.to_owned());
    }

    fn videos(&self, keys: &[String]) -> Result<Vec<Option<String>>, Problem> {
        Ok(keys.iter().map(|key| self.videos.get(key).cloned()).collect())
    }

    fn record(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.records.get(key).cloned())
    }

    async fn prepare(&self) -> Result<(), EngineError> {
        Ok(())
    }

    async fn apply(&self, docs: &[Doc]) -> Result<Vec<DocResult>, EngineError> {
        self.write(docs, false)
    }

    fn settle(&self, applied: u64, _: u64, settles: &[(&Read, &Settle)]) -> Result<u64, Problem> {
        self.settled.borrow_mut().extend(settles.iter().map(|(read, settle)| (read.entry.clone(), (*settle).clone())));
        if applied > 0 {
            self.generation.set(self.generation.get() + 1);
        }
        Ok(self.generation.get())
    }
}

impl Memory {
    /// The engine's write: a document replaces one of a lower version (or an equal one when
    /// `replace_equal`); refused keys fail alone.
    fn write(&self, docs: &[Doc], replace_equal: bool) -> Result<Vec<DocResult>, EngineError> {
        if self.engine_down.get() {
            return Err(EngineError("connection refused".into()));
        }
        self.applied.borrow_mut().extend(docs.iter().cloned());
        let mut index = self.index.borrow_mut();
        Ok(docs
            .iter()
            .map(|doc| {
                if self.refused.contains(&doc.key()) {
                    return Err("mapping conflict".to_owned());
                }
                let newer = index.get(&doc.key()).is_none_or(|&(v, _)| doc.version > v || (replace_equal && doc.version == v));
                if newer {
                    index.insert(doc.key(), (doc.version, doc.live));
                }
                Ok(())
            })
            .collect())
    }
}

impl reindex::Ports for Memory {
    fn stored_keys(&self) -> Result<Vec<String>, Problem> {
        Ok(self.records.keys().cloned().collect())
    }

    async fn replace(&self, docs: &[Doc]) -> Result<Vec<DocResult>, EngineError> {
        self.write(docs, true)
    }

    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError> {
        let index = self.index.borrow();
        let live = index.iter().filter(|(key, (_, live))| *live && key.as_str() > after).map(|(key, &(version, _))| (key.clone(), version));
        Ok(live.take(limit).collect())
    }

    fn bump_generation(&self) -> Result<u64, Problem> {
        self.generation.set(self.generation.get() + 1);
        Ok(self.generation.get())
    }
}
