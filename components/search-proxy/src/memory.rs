//! The one in-memory fake of the search core's ports, for its tests: the answer path's (cache,
//! locks, breaker: `scripts/cache-*.lua` and `scripts/breaker-record-failure.lua`), the sync
//! pass's and the reindex's (the sync scripts', the key-value store's and an engine's semantics:
//! versions kept, refused keys), with time pinned. The scripts' own tests run on a real Redis
//! in `tests/e2e/tests/scripts.rs`.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use edge_http::Problem;
use serde_json::{json, Value};

use crate::answer::{self, Ask};
use crate::cache::{self, Entry, Started};
use crate::engine::{Doc, DocResult, EngineError};
use crate::keys;
use crate::pass::{self, Begun};
use crate::ports::{Base, Settings, State};
use crate::reindex;
use crate::sync::{Read, Settle};

/// Another request's doing, while the one under test waits.
pub(crate) type Meanwhile = Box<dyn Fn(&Memory)>;

/// The tuning the tests run with, `overrides` replacing variables by name.
pub(crate) fn settings(overrides: &[(&str, &str)]) -> Settings {
    let mut values: BTreeMap<String, String> = [
        ("search_cache_secs", "30"),
        ("search_stale_secs", "600"),
        ("search_coalesce_wait_ms", "100"),
        ("search_breaker_failures", "3"),
        ("search_breaker_cooldown_ms", "5000"),
        ("search_sync_batch", "100"),
        ("search_sync_retry_ms", "1000"),
        ("search_sync_attempts", "3"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    values.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Settings::new(move |name| values.get(name).cloned())
}

/// The ports in memory.
pub(crate) struct Memory {
    pub(crate) now: Cell<u64>,
    pub(crate) settings: Settings,
    pub(crate) tokens: Cell<u32>,
    /// Locks and leases held: key → token.
    pub(crate) locks: RefCell<BTreeMap<String, String>>,
    pub(crate) cache: RefCell<BTreeMap<String, Entry>>,
    pub(crate) open_until: Cell<Option<u64>>,
    pub(crate) failed: RefCell<Vec<bool>>,
    pub(crate) changes_waiting: Cell<bool>,
    pub(crate) engine_calls: Cell<u32>,
    pub(crate) syncs: Cell<u32>,
    pub(crate) finished: RefCell<Vec<(u64, bool)>>,
    /// What other requests do while this one waits.
    pub(crate) meanwhile: RefCell<Option<Meanwhile>>,
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
    pub(crate) failures: Cell<u64>,
    /// The engine's documents: key → (version, live).
    pub(crate) index: RefCell<BTreeMap<String, (u64, bool)>>,
}

impl Memory {
    /// Ports whose next pass reads `reads`.
    pub(crate) fn new(reads: Vec<Read>) -> Memory {
        Memory {
            now: Cell::new(1_000_000),
            settings: settings(&[]),
            tokens: Cell::new(0),
            locks: RefCell::default(),
            cache: RefCell::default(),
            open_until: Cell::new(None),
            failed: RefCell::default(),
            changes_waiting: Cell::new(false),
            engine_calls: Cell::new(0),
            syncs: Cell::new(0),
            finished: RefCell::default(),
            meanwhile: RefCell::new(None),
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

    /// A cache entry of the current generation holding `body`, fresh and stale for these
    /// milliseconds from now.
    pub(crate) fn entry(&self, body: &str, fresh_for: i64, stale_for: i64) -> Entry {
        let at = |d: i64| (self.now.get() as i64 + d) as u64;
        Entry { generation: self.generation.get(), fresh_until: at(fresh_for), stale_until: at(stale_for), body: body.as_bytes().to_vec() }
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
        self.tokens.set(self.tokens.get() + 1);
        format!("token-{}", self.tokens.get())
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn check_engine(&self) -> Result<(), Problem> {
        Ok(())
    }

    fn release(&self, key: &str, token: &str) -> Result<(), Problem> {
        self.released.borrow_mut().push(format!("{key} {token}"));
        let mut locks = self.locks.borrow_mut();
        if locks.get(key).is_some_and(|t| t == token) {
            locks.remove(key);
        }
        Ok(())
    }

    fn record_failure(&self, now: u64, probing: bool) {
        self.failed.borrow_mut().push(probing);
        self.failures.set(self.failures.get() + 1);
        if self.failures.get() >= self.settings.breaker_failures().unwrap() || probing {
            self.open_until.set(Some(now + self.settings.breaker_cooldown_ms().unwrap()));
            self.failures.set(0);
            self.locks.borrow_mut().remove(keys::BREAKER_PROBE);
        }
    }
}

impl pass::Ports for Memory {
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

impl answer::Ports for Memory {
    fn pause(&self, ms: u64) {
        self.now.set(self.now.get() + ms);
        if let Some(meanwhile) = self.meanwhile.borrow().as_ref() {
            meanwhile(self);
        }
    }

    fn cached(&self, hash: &str) -> Option<Entry> {
        self.cache.borrow().get(hash).cloned()
    }

    fn keep(&self, hash: &str, entry: &Entry) -> bool {
        self.cache.borrow_mut().insert(hash.to_owned(), entry.clone());
        true
    }

    fn start(&self, hash: &str, entry: Option<&Entry>, now: u64, token: &str) -> Result<Started, Problem> {
        let mut started = Started {
            generation: self.generation.get(),
            open_until: self.open_until.get(),
            failures: self.failures.get(),
            fresh: false,
            holding: false,
            sync_work: false,
        };
        if entry.is_some_and(|e| e.generation >= self.generation.get() && now < e.fresh_until) {
            started.fresh = true;
        } else if self.take(&keys::answer_lock(hash), token, cache::LOCK_MS)? {
            started.holding = true;
            started.sync_work = self.changes_waiting.get();
        }
        Ok(started)
    }

    fn take(&self, key: &str, token: &str, _: u64) -> Result<bool, Problem> {
        let mut locks = self.locks.borrow_mut();
        if locks.contains_key(key) {
            return Ok(false);
        }
        locks.insert(key.to_owned(), token.to_owned());
        Ok(true)
    }

    fn finish(&self, stale_until: u64, _: &str, lock: &str, token: &str, reset: bool) {
        self.finished.borrow_mut().push((stale_until, reset));
        let _ = self.release(lock, token);
        if reset {
            self.open_until.set(None);
            self.failures.set(0);
            self.locks.borrow_mut().remove(keys::BREAKER_PROBE);
        }
    }

    fn recent_videos(&self) -> Result<Vec<Doc>, Problem> {
        Ok(Vec::new())
    }

    async fn ask(&self, _: &Ask) -> Result<Value, EngineError> {
        self.engine_calls.set(self.engine_calls.get() + 1);
        if self.engine_down.get() {
            return Err(EngineError("connection refused".into()));
        }
        Ok(json!({ "items": ["from the engine"], "generation": self.generation.get() }))
    }

    async fn sync(&self, _: &State) -> u64 {
        self.syncs.set(self.syncs.get() + 1);
        if self.changes_waiting.replace(false) {
            self.generation.set(self.generation.get() + 1);
        }
        self.generation.get()
    }
}
