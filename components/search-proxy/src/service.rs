//! The Spin side of search: answering through the cache, coalescing and the breaker; sync
//! passes; reindexing. Host calls live here; every decision is made by the pure modules.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use edge_http::{json_response, Problem, Response};
use edge_spin::redis::{arg, int, now_ms, text, Redis};
use edge_spin::{number_variable as number, Lazy};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};
use spin_sdk::key_value::Store;

use crate::breaker::{self, Breaker, Gate};
use crate::cache::{self, Entry};
use crate::elastic::Elastic;
use crate::engine::{Doc, DocResult, Engine, EngineError, Page, Suggestion};
use crate::params::{Kind, SearchQuery, SuggestQuery};
use crate::sqlite::Sqlite;
use crate::sync::{self, Read, Settle};
use crate::{fallback, records};

/// Redis counter of calls to the engine for searches and suggestions (coalescing is observable
/// through it).
pub(crate) const ENGINE_QUERIES: &str = "search:engine:queries";
/// Records a reindex call handles at most.
pub(crate) const REINDEX_BATCH: usize = 1000;
/// Stale cache entries removed per pass.
const CACHE_GC_BATCH: u64 = 50;

/// Tuning from variables.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// `search_cache_secs`: how long an answer is fresh.
    pub cache_ms: u64,
    /// `search_stale_secs`: how long an answer may stand in while the engine is down.
    pub stale_ms: u64,
    /// `search_coalesce_wait_ms`: how long a request waits for another one computing its answer.
    pub coalesce_wait_ms: u64,
    /// `search_breaker_failures`: failures within 30 s that open the breaker.
    pub breaker_failures: u64,
    /// `search_breaker_cooldown_ms`: how long an open breaker keeps the engine out.
    pub breaker_cooldown_ms: u64,
    /// `search_sync_batch`: changes a search that misses the cache applies first.
    pub sync_batch: u64,
    /// `search_sync_retry_ms`: first retry delay of a failing change (doubling each time).
    pub retry_base_ms: u64,
    /// `search_sync_attempts`: attempts before a failing change is parked.
    pub max_attempts: u32,
}

impl Settings {
    /// Reads the variables, with defaults for unset ones.
    pub(crate) fn read() -> Result<Settings, Problem> {
        Ok(Settings {
            cache_ms: number("search_cache_secs", 0..=86_400)? * 1000,
            stale_ms: number("search_stale_secs", 0..=7 * 86_400)? * 1000,
            coalesce_wait_ms: number("search_coalesce_wait_ms", 0..=10_000)?,
            breaker_failures: number("search_breaker_failures", 1..=1000)?,
            breaker_cooldown_ms: number("search_breaker_cooldown_ms", 0..=3_600_000)?,
            sync_batch: number("search_sync_batch", 1..=1000)?,
            retry_base_ms: number("search_sync_retry_ms", 1..=3_600_000)?,
            max_attempts: number("search_sync_attempts", 1..=100)? as u32,
        })
    }
}

/// The configured engine.
pub(crate) enum Backend {
    /// SQLite FTS5 (default).
    Sqlite(Sqlite),
    /// Elasticsearch or OpenSearch.
    Elastic(Elastic),
}

impl Backend {
    /// The engine the `search_backend` variable names.
    pub(crate) fn configured() -> Result<Backend, Problem> {
        let engine_error = |e: EngineError| Problem::unavailable("search-unavailable", e.to_string());
        match edge_spin::variable("search_backend")?.as_str() {
            "sqlite" => Sqlite::open().map(Backend::Sqlite).map_err(engine_error),
            "elasticsearch" | "opensearch" => {
                let url = edge_spin::variable("search_url")?;
                let index = edge_spin::variable("search_index")?;
                Elastic::new(&url, &index)
                    .map(Backend::Elastic)
                    .map_err(|e| Problem::misconfigured(format!("search_url or search_index: {e}")))
            }
            other => Err(Problem::misconfigured(format!("search_backend {other:?} is unknown: use sqlite or elasticsearch"))),
        }
    }
}

impl Engine for Backend {
    async fn prepare(&self) -> Result<(), EngineError> {
        match self {
            Backend::Sqlite(e) => e.prepare().await,
            Backend::Elastic(e) => e.prepare().await,
        }
    }
    async fn search(&self, query: &SearchQuery) -> Result<Page, EngineError> {
        match self {
            Backend::Sqlite(e) => e.search(query).await,
            Backend::Elastic(e) => e.search(query).await,
        }
    }
    async fn suggest(&self, query: &SuggestQuery) -> Result<Vec<Suggestion>, EngineError> {
        match self {
            Backend::Sqlite(e) => e.suggest(query).await,
            Backend::Elastic(e) => e.suggest(query).await,
        }
    }
    async fn apply(&self, docs: &[Doc], replace_equal: bool) -> Result<Vec<DocResult>, EngineError> {
        match self {
            Backend::Sqlite(e) => e.apply(docs, replace_equal).await,
            Backend::Elastic(e) => e.apply(docs, replace_equal).await,
        }
    }
    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError> {
        match self {
            Backend::Sqlite(e) => e.live_keys(after, limit).await,
            Backend::Elastic(e) => e.live_keys(after, limit).await,
        }
    }
}

/// A question a client asks.
pub(crate) enum Ask {
    /// `GET /search`.
    Search(SearchQuery),
    /// `GET /search/suggest`.
    Suggest(SuggestQuery),
}

impl Ask {
    fn hash(&self) -> String {
        match self {
            Ask::Search(q) => q.cache_key(),
            Ask::Suggest(q) => q.cache_key(),
        }
    }

    async fn ask(&self, engine: &Backend) -> Result<Value, EngineError> {
        Ok(match self {
            Ask::Search(q) => render_page(engine.search(q).await?, q),
            Ask::Suggest(q) => json!({ "suggestions": engine.suggest(q).await?, "degraded": false }),
        })
    }

    fn fallback(&self, recent: &[Doc]) -> Value {
        match self {
            Ask::Search(q) => render_page(fallback::search(recent, q), q),
            Ask::Suggest(q) => json!({ "suggestions": fallback::suggest(recent, q), "degraded": false }),
        }
    }
}

fn render_page(page: Page, q: &SearchQuery) -> Value {
    json!({ "items": page.hits, "next_cursor": if page.more { q.next_cursor() } else { None }, "degraded": false })
}

fn engine_problem(error: &EngineError) -> Problem {
    Problem::unavailable("search-unavailable", format!("the search engine failed ({error}); retry shortly"))
}

/// A problem inside engine work (a Redis failure in a sync pass), which fails it like an engine
/// failure would.
fn pass_failed(problem: Problem) -> EngineError {
    EngineError(problem.detail().to_owned())
}

fn kv_error(error: impl std::fmt::Display) -> Problem {
    edge_spin::kv_unavailable(error)
}

/// What a sync pass did.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct PassReport {
    /// Another pass held the lease, so this one did nothing.
    pub busy: bool,
    /// Entries read (retries included).
    pub read: usize,
    /// Documents written.
    pub applied: usize,
    /// Entries scheduled for a retry.
    pub retried: usize,
    /// Entries parked.
    pub parked: usize,
    /// The index generation after the pass.
    pub generation: u64,
}

/// The shared state a request starts from: the index generation and the breaker.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct State {
    /// The index generation.
    pub generation: u64,
    /// The circuit breaker.
    pub breaker: Breaker,
}

/// One request's view of search.
///
/// The engine and the tuning variables are read on first use, so a cache hit touches neither.
pub(crate) struct Search {
    redis: Redis,
    kv: Store,
    engine: Lazy<Backend>,
    settings: Lazy<Settings>,
}

fn number_at(reply: &[spin_sdk::redis::RedisResult], i: usize) -> Option<u64> {
    reply.get(i).and_then(int).map(|v| v.max(0) as u64)
}

impl Search {
    /// Connects to Redis and the key-value store.
    pub(crate) fn open() -> Result<Search, Problem> {
        let redis = Redis::open()?;
        let kv = Store::open_default().map_err(kv_error)?;
        Ok(Search { redis, kv, engine: Lazy::default(), settings: Lazy::default() })
    }

    fn engine(&self) -> Result<&Backend, Problem> {
        self.engine.get_or_try(Backend::configured)
    }

    fn settings(&self) -> Result<&Settings, Problem> {
        self.settings.get_or_try(Settings::read)
    }

    /// The generation and the breaker (one Redis round trip).
    pub(crate) fn state(&self) -> Result<State, Problem> {
        let reply = self.redis.exec("MGET", &[arg(sync::GENERATION), arg(breaker::OPEN_UNTIL), arg(breaker::FAILURES)])?;
        let breaker = Breaker { open_until: number_at(&reply, 1), failures: number_at(&reply, 2).unwrap_or(0) };
        Ok(State { generation: number_at(&reply, 0).unwrap_or(0), breaker })
    }

    fn cached(&self, hash: &str) -> Option<Entry> {
        self.kv.get(&cache::key(hash)).ok().flatten().and_then(|bytes| Entry::decode(&bytes))
    }

    fn take(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, Problem> {
        let reply = self.redis.exec("SET", &[arg(key), arg(token), arg("NX"), arg("PX"), arg(ttl_ms.max(1))])?;
        Ok(reply.first().and_then(text).as_deref() == Some("OK"))
    }

    fn release(&self, key: &str, token: &str) -> Result<(), Problem> {
        self.redis.run(&sync::RELEASE, &[key], vec![arg(token)]).map(drop)
    }

    /// Answers `ask`: fresh cache; else one request computes (the others wait for its answer);
    /// while the engine is down, a stale answer or the fallback, marked degraded.
    ///
    /// A hit costs one key-value read and one Redis round trip, which also takes the lock on a
    /// miss and tells whether changes wait; a miss with nothing to sync adds one round trip
    /// (finish) around the engine call.
    pub(crate) async fn answer(&self, ask: &Ask) -> Result<Response, Problem> {
        let hash = ask.hash();
        let started = now_ms();
        let entry = self.cached(&hash);
        let lock = cache::lock_key(&hash);
        let token = edge_http::random_id();
        let args = cache::start_args(entry.as_ref().map(|e| (e.generation, e.fresh_until)), started, &token);
        let start = cache::Started::decode(&self.redis.run(&cache::START, &cache::start_keys(&hash), args)?);
        let breaker = Breaker { open_until: start.open_until, failures: start.failures };
        let state = State { generation: start.generation, breaker };
        if let (Some(entry), true) = (entry.as_ref(), start.fresh) {
            return Ok(raw(entry.body.clone(), "hit"));
        }
        let mut holding = start.holding;
        // A miss needs both; a misconfigured one is the operator's 500, not a degraded answer.
        let settings = self.settings()?;
        self.engine()?;
        // A request that waited for the lock does not know; it lets the pass find out.
        let mut sync_work = start.sync_work;
        let probing = match breaker.gate(started) {
            Gate::Closed => false,
            Gate::Probe if self.take(breaker::PROBE, "1", settings.breaker_cooldown_ms.max(1000))? => true,
            _ => {
                if holding {
                    self.release(&lock, &token)?;
                }
                return self.degraded(ask, entry, "engine-unavailable");
            }
        };
        if !holding {
            let mut pause = 2;
            while now_ms() < started + settings.coalesce_wait_ms {
                std::thread::sleep(Duration::from_millis(pause));
                pause = (pause * 2).min(20);
                if let Some(e) = self.cached(&hash).filter(|e| e.is_fresh(state.generation, now_ms())) {
                    return Ok(raw(e.body, "coalesced"));
                }
                if self.take(&lock, &token, cache::LOCK_MS)? {
                    holding = true;
                    sync_work = true;
                    break;
                }
            }
        }
        // Another request may have finished between our read and our lock.
        if let Some(e) = self.cached(&hash).filter(|e| e.is_fresh(state.generation, now_ms())) {
            if holding {
                self.release(&lock, &token)?;
            }
            return Ok(raw(e.body, "hit"));
        }
        let sync_first = !probing && (sync_work || !holding);
        match self.compute(ask, &state, sync_first, probing, &lock, &token).await {
            Ok(response) => Ok(response),
            Err(error) => {
                eprintln!("search engine failed: {error}");
                self.degraded(ask, entry, "engine-failed")
            }
        }
    }

    /// Computes an answer with the engine (after applying pending changes), caches it, and
    /// releases the lock.
    async fn compute(
        &self,
        ask: &Ask,
        state: &State,
        sync_first: bool,
        probing: bool,
        lock: &str,
        token: &str,
    ) -> Result<Response, EngineError> {
        let (engine, settings) = (self.engine().map_err(pass_failed)?, self.settings().map_err(pass_failed)?);
        let generation = if sync_first {
            self.pass(settings.sync_batch, state).await.map(|r| r.generation).unwrap_or(state.generation)
        } else {
            state.generation
        };
        let outcome = match ask.ask(engine).await {
            Err(e) if e.is_missing_index() => match engine.prepare().await {
                Ok(()) => ask.ask(engine).await,
                Err(e) => Err(e),
            },
            other => other,
        };
        let finish = |stale_until: u64, hash: &str, reset: bool| {
            let keys = [ENGINE_QUERIES, cache::EXPIRY_INDEX, lock, breaker::OPEN_UNTIL, breaker::FAILURES, breaker::PROBE];
            let args = vec![arg(stale_until), arg(hash), arg(token), arg(u64::from(reset))];
            if let Err(e) = self.redis.run(&cache::FINISH, &keys, args) {
                eprintln!("could not finish a search: {}", e.detail());
            }
        };
        let value = match outcome {
            Ok(value) => value,
            Err(error) => {
                self.record_failure(probing);
                finish(0, "", false);
                return Err(error);
            }
        };
        let body = serde_json::to_vec(&value).unwrap_or_default();
        let now = now_ms();
        let hash = ask.hash();
        let entry = Entry { generation, fresh_until: now + settings.cache_ms, stale_until: now + settings.stale_ms, body };
        let cached = settings.cache_ms > 0 && self.kv.set(&cache::key(&hash), &entry.encode()).is_ok();
        finish(if cached { entry.stale_until } else { 0 }, &hash, probing || state.breaker.needs_reset());
        Ok(raw(entry.body, "miss"))
    }

    fn record_failure(&self, probing: bool) {
        let Ok(s) = self.settings() else { return };
        let args = vec![
            arg(now_ms()),
            arg(s.breaker_failures),
            arg(s.breaker_cooldown_ms),
            arg(breaker::FAILURE_WINDOW_MS),
            arg(if probing { "probe" } else { "" }),
        ];
        if let Err(e) = self.redis.run(&breaker::RECORD_FAILURE, &[breaker::FAILURES, breaker::OPEN_UNTIL, breaker::PROBE], args) {
            eprintln!("could not record an engine failure: {}", e.detail());
        }
    }

    /// A stale answer if one is cached, else the fallback; marked degraded either way.
    fn degraded(&self, ask: &Ask, entry: Option<Entry>, reason: &'static str) -> Result<Response, Problem> {
        let stale = entry.filter(|e| e.is_usable_stale(now_ms())).and_then(|e| serde_json::from_slice::<Value>(&e.body).ok());
        let (mut value, source) = match stale {
            Some(value) => (value, "stale-cache"),
            None => (ask.fallback(&self.recent_videos()?), "fallback"),
        };
        value["degraded"] = json!(true);
        value["degraded_reason"] = json!(reason);
        value["served_from"] = json!(source);
        let mut response = json_response(StatusCode::OK, &value);
        response.headers_mut().insert("x-search-degraded", HeaderValue::from_static(source));
        response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(response)
    }

    /// The newest videos from feed's Redis records, for the fallback.
    fn recent_videos(&self) -> Result<Vec<Doc>, Problem> {
        // Two reads rather than a script naming record keys inside: a video deleted in between
        // is simply missing from a degraded answer.
        let ids = self.redis.exec("ZREVRANGE", &[arg(edge_protocol::keys::LATEST), arg(0i64), arg(fallback::RECENT as i64 - 1)])?;
        let keys: Vec<String> = ids.iter().filter_map(|id| Some(format!("{}{}", edge_protocol::keys::VIDEO_PREFIX, text(id)?))).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let stored = self.redis.mget(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(stored.into_iter().flatten().filter_map(|r| records::video_doc(&String::from_utf8(r).ok()?, |_| None).ok()).collect())
    }

    /// One sync pass of at most `batch` changes; skipped while another pass runs or the
    /// breaker keeps the engine out. Also drops cache entries past their stale time.
    pub(crate) async fn pass(&self, batch: u64, state: &State) -> Result<PassReport, Problem> {
        let mut report = PassReport { generation: state.generation, ..PassReport::default() };
        if state.breaker.gate(now_ms()) != Gate::Closed {
            report.busy = true;
            return Ok(report);
        }
        // Misconfiguration is the operator's 500, not an engine failure.
        self.engine()?;
        self.settings()?;
        let token = edge_http::random_id();
        let now = now_ms();
        let keys = [sync::STREAM, sync::RETRY, sync::RETRY_DATA, sync::LEASE, cache::EXPIRY_INDEX];
        let args = vec![
            arg(sync::GROUP),
            arg(sync::CONSUMER),
            arg(batch),
            arg(now),
            arg(token.as_str()),
            arg(sync::LEASE_MS),
            arg(CACHE_GC_BATCH),
        ];
        let reply = self.redis.run(&sync::BEGIN, &keys, args)?;
        if number_at(&reply, 0) != Some(1) {
            report.busy = true;
            return Ok(report);
        }
        let stale = number_at(&reply, 1).unwrap_or(0) as usize;
        for hash in reply.iter().skip(2).take(stale).filter_map(text) {
            let _ = self.kv.delete(&cache::key(&hash));
        }
        let reads = sync::parse_read(&reply.iter().skip(2 + stale).map(text).collect::<Vec<_>>());
        report.read = reads.len();
        if reads.is_empty() {
            // The script released the lease itself.
            return Ok(report);
        }
        let result = self.apply_reads(&reads, now, &mut report).await;
        let _ = self.release(sync::LEASE, &token);
        match result {
            Ok(()) => Ok(report),
            Err(error) => {
                self.record_failure(false);
                Err(Problem::unavailable("search-unavailable", format!("the sync pass failed ({error}); it is retried on the next pass")))
            }
        }
    }

    async fn apply_reads(&self, reads: &[Read], now: u64, report: &mut PassReport) -> Result<(), EngineError> {
        let (engine, settings) = (self.engine().map_err(pass_failed)?, self.settings().map_err(pass_failed)?);
        let after_failure =
            |read: &Read, error: String| sync::after_failure(read, error, now, settings.retry_base_ms, settings.max_attempts);
        engine.prepare().await?;
        let winners = sync::winners(reads);
        let mut settles: Vec<Settle> = vec![Settle::Ack; reads.len()];
        let mut docs = Vec::new();
        let mut doc_reads = Vec::new();
        let built = self.documents(reads, &winners).map_err(pass_failed)?;
        for (i, doc) in winners.into_iter().zip(built) {
            match doc {
                Ok(doc) => {
                    docs.push(doc);
                    doc_reads.push(i);
                }
                Err(error) => settles[i] = after_failure(&reads[i], error),
            }
        }
        for (i, read) in reads.iter().enumerate() {
            if let Err(error) = &read.change {
                settles[i] = after_failure(read, error.clone());
            }
        }
        let results = engine.apply(&docs, false).await?;
        for (i, result) in doc_reads.into_iter().zip(results) {
            match result {
                Ok(()) => report.applied += 1,
                Err(error) => settles[i] = after_failure(&reads[i], error),
            }
        }
        let mut args = vec![arg(sync::GROUP), arg(report.applied as u64), arg(now)];
        for (read, settle) in reads.iter().zip(&settles) {
            let (op, score, json) = match settle {
                Settle::Ack => ("ack", 0, String::new()),
                Settle::Retry(at, failure) => {
                    report.retried += 1;
                    ("retry", *at, serde_json::to_string(failure).unwrap_or_default())
                }
                Settle::Park(failure) => {
                    report.parked += 1;
                    ("park", 0, serde_json::to_string(failure).unwrap_or_default())
                }
            };
            args.extend([arg(op), arg(read.entry.as_str()), arg(score), arg(json)]);
        }
        let keys = [sync::STREAM, sync::RETRY, sync::RETRY_DATA, sync::PARKED, sync::GENERATION, sync::STATS];
        let settled = self.redis.run(&sync::SETTLE, &keys, args).map_err(pass_failed)?;
        report.generation = settled.first().and_then(int).unwrap_or(0).max(0) as u64;
        Ok(())
    }

    /// The documents of the winning changes, in order: tombstones for deletes (and for records
    /// gone since), else the current record (videos from feed's Redis records, users from the
    /// key-value store). `Err` for a record that cannot be read as a document.
    fn documents(&self, reads: &[Read], winners: &[usize]) -> Result<Vec<Result<Doc, String>>, Problem> {
        let changes: Vec<&sync::Change> = winners.iter().filter_map(|&i| reads[i].change.as_ref().ok()).collect();
        let video_keys: Vec<String> =
            changes.iter().filter(|c| c.kind() == Kind::Video && !c.is_delete()).map(|c| format!("video:{}", c.id)).collect();
        let mut videos: BTreeMap<String, Option<String>> = BTreeMap::new();
        if !video_keys.is_empty() {
            let refs: Vec<&str> = video_keys.iter().map(String::as_str).collect();
            for (key, value) in video_keys.iter().zip(self.redis.mget(&refs)?) {
                videos.insert(key.clone(), value.and_then(|v| String::from_utf8(v).ok()));
            }
        }
        let mut names = UserNames::default();
        Ok(changes
            .iter()
            .map(|change| {
                if change.is_delete() {
                    return Ok(Doc::tombstone(change.kind(), &change.id, change.version));
                }
                let record = match change.kind() {
                    Kind::Video => videos.get(&change.key()).cloned().flatten(),
                    Kind::User => {
                        self.kv.get(&change.key()).map_err(|e| format!("key-value store: {e}"))?.and_then(|v| String::from_utf8(v).ok())
                    }
                };
                let Some(record) = record else {
                    // Deleted since; its delete change follows with a higher version.
                    return Ok(Doc::tombstone(change.kind(), &change.id, change.version));
                };
                match change.kind() {
                    Kind::Video => records::video_doc(&record, |author| names.get(&self.kv, author)),
                    Kind::User => records::user_doc(&record, change.version),
                }
            })
            .collect())
    }

    /// Rewrites the documents of up to [`REINDEX_BATCH`] records after key `after` from the
    /// key-value store, and turns live documents in that key range whose record is gone into
    /// tombstones. Answers the report and the key to continue after, if any.
    pub(crate) async fn reindex(&self, after: &str) -> Result<Value, Problem> {
        let engine = self.engine()?;
        let failed_engine = |e: EngineError| engine_problem(&e);
        engine.prepare().await.map_err(failed_engine)?;
        let mut keys: Vec<String> = self
            .kv
            .get_keys()
            .map_err(kv_error)?
            .into_iter()
            .filter(|k| edge_protocol::keys::Record::parse(k).is_some() && k.as_str() > after)
            .collect();
        keys.sort();
        let more = keys.len() > REINDEX_BATCH;
        keys.truncate(REINDEX_BATCH);
        let mut names = UserNames::default();
        let mut docs = Vec::new();
        let mut unreadable = Vec::new();
        for key in &keys {
            let Some(bytes) = self.kv.get(key).map_err(kv_error)? else { continue };
            let record = String::from_utf8_lossy(&bytes);
            let doc = if key.starts_with("video:") {
                records::video_doc(&record, |author| names.get(&self.kv, author))
            } else {
                records::user_doc(&record, 1)
            };
            match doc {
                Ok(doc) => docs.push(doc),
                Err(error) => unreadable.push(json!({ "key": key, "error": error })),
            }
        }
        let results = engine.apply(&docs, true).await.map_err(failed_engine)?;
        let failed: Vec<Value> =
            docs.iter().zip(&results).filter_map(|(d, r)| r.as_ref().err().map(|e| json!({ "key": d.key(), "error": e }))).collect();
        // Documents in the range just covered whose record no longer exists.
        let last = if more { keys.last().cloned().unwrap_or_default() } else { String::from("\u{10ffff}") };
        let present: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
        let mut orphans = Vec::new();
        let mut cursor = after.to_owned();
        loop {
            let page = engine.live_keys(&cursor, 500).await.map_err(failed_engine)?;
            let done = page.len() < 500;
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
            engine.apply(&orphans, false).await.map_err(failed_engine)?;
        }
        let generation = self.redis.exec("INCR", &[arg(sync::GENERATION)])?.first().and_then(int).unwrap_or(0);
        Ok(json!({
            "indexed": docs.len() - failed.len(),
            "removed": orphans.len(),
            "failed": failed,
            "unreadable": unreadable,
            "generation": generation,
            "next_after": if more { keys.last().cloned() } else { None },
        }))
    }

    /// The indexer's and the breaker's state.
    pub(crate) fn status(&self) -> Result<Value, Problem> {
        let keys = [sync::STREAM, sync::RETRY, sync::PARKED, sync::GENERATION, sync::STATS];
        let reply = self.redis.run(&sync::STATUS, &keys, vec![arg(sync::GROUP)])?;
        let n = |i: usize| reply.get(i).and_then(int).unwrap_or(0);
        let queries = self.redis.exec("GET", &[arg(ENGINE_QUERIES)])?.first().and_then(int).unwrap_or(0);
        let state = self.state()?;
        let breaker = match state.breaker.gate(now_ms()) {
            Gate::Closed => "closed",
            Gate::Open => "open",
            Gate::Probe => "half-open",
        };
        let backend = match self.engine()? {
            Backend::Sqlite(_) => "sqlite",
            Backend::Elastic(_) => "elasticsearch",
        };
        Ok(json!({
            "backend": backend,
            "generation": n(5),
            "sync": {
                "stream": sync::STREAM,
                "pending": n(0),
                "lag": if n(1) < 0 { Value::Null } else { json!(n(1)) },
                "stream_length": n(2),
                "retrying": n(3),
                "parked": n(4),
                "last_pass_at": if n(6) > 0 { json!(n(6)) } else { Value::Null },
                "applied": n(7),
            },
            "breaker": { "state": breaker, "open_until": state.breaker.open_until, "failures": state.breaker.failures },
            "engine_queries": queries,
        }))
    }

    /// Up to 100 parked changes with their errors.
    pub(crate) fn parked(&self) -> Result<Value, Problem> {
        let reply = self.redis.exec("HSCAN", &[arg(sync::PARKED), arg("0"), arg("COUNT"), arg(100u64)])?;
        let fields: Vec<Option<String>> = reply.iter().skip(1).map(text).collect();
        let items: Vec<Value> = fields
            .chunks(2)
            .filter_map(|kv| {
                let failure: Value = serde_json::from_str(kv.get(1)?.as_deref()?).ok()?;
                Some(json!({ "entry": kv[0], "failure": failure }))
            })
            .collect();
        Ok(json!({ "items": items }))
    }
}

/// Authors' usernames, read once per pass.
#[derive(Default)]
struct UserNames(BTreeMap<String, Option<String>>);

impl UserNames {
    fn get(&mut self, kv: &Store, user_id: &str) -> Option<String> {
        if user_id.is_empty() {
            return None;
        }
        self.0
            .entry(user_id.to_owned())
            .or_insert_with(|| {
                kv.get(&edge_protocol::keys::user_key(user_id)).ok().flatten().and_then(|b| records::username(&String::from_utf8_lossy(&b)))
            })
            .clone()
    }
}

/// A JSON answer from bytes already rendered, with how the cache served it.
fn raw(body: Vec<u8>, cache: &'static str) -> Response {
    let mut response = json_response(StatusCode::OK, &());
    *response.body_mut() = body;
    response.headers_mut().insert("x-cache", HeaderValue::from_static(cache));
    response
}
