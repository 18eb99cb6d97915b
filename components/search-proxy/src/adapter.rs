//! The Spin side of search: the ports of [`crate::answer`], [`crate::pass`] and
//! [`crate::reindex`] backed by the key-value store, the Redis scripts and the configured
//! engine, and the status reports. Host calls live here; every decision is made by the cores.

use std::rc::Rc;
use std::time::Duration;

use edge_http::setting::Source;
use edge_http::Problem;
use edge_spin::redis::{arg, int, now_ms, text, Redis};
use edge_spin::settings::Variables;
use edge_spin::{setting, Lazy};
use serde_json::{json, Value};
use spin_sdk::key_value::Store;

use crate::answer::{render_page, Ask, Ports};
use crate::breaker::{self, Breaker, Gate};
use crate::cache::{self, Entry, Started};
use crate::elastic::Elastic;
use crate::engine::{Doc, DocResult, Engine, EngineError, Page, Suggestion};
use crate::params::{SearchQuery, SuggestQuery};
use crate::pass::{self, Begun};
use crate::ports::{Base, Settings, State};
use crate::reindex;
use crate::sqlite::Sqlite;
use crate::sync::{self, Read, Settle};
use crate::{fallback, keys, records, settings};

/// Redis counter of calls to the engine for searches and suggestions (coalescing is observable
/// through it).
pub(crate) const ENGINE_QUERIES: &str = "search:engine:queries";
/// Stale cache entries removed per pass.
const CACHE_GC_BATCH: u64 = 50;

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
        match setting(&settings::SEARCH_BACKEND)?.as_str() {
            "sqlite" => Sqlite::open().map(Backend::Sqlite).map_err(engine_error),
            "elasticsearch" | "opensearch" => {
                let url = setting(&settings::SEARCH_URL)?;
                let index = setting(&settings::SEARCH_INDEX)?;
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

/// A problem inside engine work (a Redis failure in a sync pass), which fails it like an engine
/// failure would.
fn pass_failed(problem: Problem) -> EngineError {
    EngineError(problem.detail().to_owned())
}

fn kv_error(error: impl std::fmt::Display) -> Problem {
    edge_spin::kv_unavailable(error)
}

/// One request's view of search.
///
/// The engine and the tuning variables are read on first use, so a cache hit touches neither.
pub(crate) struct Search {
    redis: Rc<Redis>,
    kv: Store,
    engine: Lazy<Backend>,
    settings: Settings,
}

fn number_at(reply: &[spin_sdk::redis::RedisResult], i: usize) -> Option<u64> {
    reply.get(i).and_then(int).map(|v| v.max(0) as u64)
}

impl Search {
    /// Uses the request's Redis connection and opens the key-value store.
    pub(crate) fn open(redis: Rc<Redis>) -> Result<Search, Problem> {
        let kv = Store::open_default().map_err(kv_error)?;
        Ok(Search { redis, kv, engine: Lazy::default(), settings: Settings::new(|name| Variables.raw(name)) })
    }

    fn engine(&self) -> Result<&Backend, Problem> {
        self.engine.get_or_try(Backend::configured)
    }

    /// The generation and the breaker (one Redis round trip).
    pub(crate) fn state(&self) -> Result<State, Problem> {
        let reply = self.redis.exec("MGET", &[arg(keys::GENERATION), arg(keys::BREAKER_OPEN_UNTIL), arg(keys::BREAKER_FAILURES)])?;
        let breaker = Breaker { open_until: number_at(&reply, 1), failures: number_at(&reply, 2).unwrap_or(0) };
        Ok(State { generation: number_at(&reply, 0).unwrap_or(0), breaker })
    }

    /// The indexer's and the breaker's state.
    pub(crate) fn status(&self) -> Result<Value, Problem> {
        let keys = [keys::CHANGES, keys::SYNC_RETRY, keys::SYNC_PARKED, keys::GENERATION, keys::SYNC_STATS];
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
                "stream": keys::CHANGES,
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
        let reply = self.redis.exec("HSCAN", &[arg(keys::SYNC_PARKED), arg("0"), arg("COUNT"), arg(100u64)])?;
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

/// Time, randomness and the breaker for every core step.
impl Base for Search {
    fn now_ms(&self) -> u64 {
        now_ms()
    }

    fn token(&self) -> String {
        edge_http::random_id()
    }

    fn settings(&self) -> &Settings {
        &self.settings
    }

    fn check_engine(&self) -> Result<(), Problem> {
        self.engine().map(drop)
    }

    fn release(&self, key: &str, token: &str) -> Result<(), Problem> {
        self.redis.run(&sync::RELEASE, &[key], vec![arg(token)]).map(drop)
    }

    fn record_failure(&self, now: u64, probing: bool) {
        let (Ok(failures), Ok(cooldown_ms)) = (self.settings.breaker_failures(), self.settings.breaker_cooldown_ms()) else { return };
        let args =
            vec![arg(now), arg(failures), arg(cooldown_ms), arg(breaker::FAILURE_WINDOW_MS), arg(if probing { "probe" } else { "" })];
        if let Err(e) =
            self.redis.run(&breaker::RECORD_FAILURE, &[keys::BREAKER_FAILURES, keys::BREAKER_OPEN_UNTIL, keys::BREAKER_PROBE], args)
        {
            eprintln!("could not record an engine failure: {}", e.detail());
        }
    }
}

/// The Spin side of answering: the key-value store caches answers, Redis scripts keep the
/// shared state, the configured engine answers.
impl Ports for Search {
    fn pause(&self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn cached(&self, hash: &str) -> Option<Entry> {
        self.kv.get(&keys::cached_answer(hash)).ok().flatten().and_then(|bytes| Entry::decode(&bytes))
    }

    fn keep(&self, hash: &str, entry: &Entry) -> bool {
        self.kv.set(&keys::cached_answer(hash), &entry.encode()).is_ok()
    }

    fn start(&self, hash: &str, entry: Option<&Entry>, now: u64, token: &str) -> Result<Started, Problem> {
        let args = cache::start_args(entry.map(|e| (e.generation, e.fresh_until)), now, token);
        Ok(Started::decode(&self.redis.run(&cache::START, &cache::start_keys(hash), args)?))
    }

    fn take(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, Problem> {
        let reply = self.redis.exec("SET", &[arg(key), arg(token), arg("NX"), arg("PX"), arg(ttl_ms.max(1))])?;
        Ok(reply.first().and_then(text).as_deref() == Some("OK"))
    }

    fn finish(&self, stale_until: u64, hash: &str, lock: &str, token: &str, reset: bool) {
        let keys = [ENGINE_QUERIES, keys::CACHE_EXPIRY, lock, keys::BREAKER_OPEN_UNTIL, keys::BREAKER_FAILURES, keys::BREAKER_PROBE];
        let args = vec![arg(stale_until), arg(hash), arg(token), arg(u64::from(reset))];
        if let Err(e) = self.redis.run(&cache::FINISH, &keys, args) {
            eprintln!("could not finish a search: {}", e.detail());
        }
    }

    /// Two reads rather than a script naming record keys inside: a video deleted in between is
    /// simply missing from a degraded answer.
    fn recent_videos(&self) -> Result<Vec<Doc>, Problem> {
        let ids = self.redis.exec("ZREVRANGE", &[arg(edge_protocol::keys::LATEST), arg(0i64), arg(fallback::RECENT as i64 - 1)])?;
        let keys: Vec<String> = ids.iter().filter_map(|id| Some(format!("{}{}", edge_protocol::keys::VIDEO_PREFIX, text(id)?))).collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let stored = self.redis.mget(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(stored.into_iter().flatten().filter_map(|r| records::video_doc(&String::from_utf8(r).ok()?, |_| None).ok()).collect())
    }

    async fn ask(&self, ask: &Ask) -> Result<Value, EngineError> {
        let engine = self.engine().map_err(pass_failed)?;
        let query = async || match ask {
            Ask::Search(q) => Ok::<_, EngineError>(render_page(engine.search(q).await?, q)),
            Ask::Suggest(q) => Ok(json!({ "suggestions": engine.suggest(q).await?, "degraded": false })),
        };
        match query().await {
            Err(e) if e.is_missing_index() => {
                engine.prepare().await?;
                query().await
            }
            other => other,
        }
    }

    async fn sync(&self, state: &State) -> u64 {
        let Ok(batch) = self.settings.sync_batch() else { return state.generation };
        pass::run(self, batch, state).await.map(|r| r.generation).unwrap_or(state.generation)
    }
}

/// The Spin side of a sync pass: the sync scripts, feed's records in Redis, the key-value
/// store, the configured engine.
impl pass::Ports for Search {
    fn begin(&self, batch: u64, now: u64, token: &str) -> Result<Begun, Problem> {
        let keys = [keys::CHANGES, keys::SYNC_RETRY, keys::SYNC_RETRY_DATA, keys::SYNC_LEASE, keys::CACHE_EXPIRY];
        let args = vec![arg(sync::GROUP), arg(sync::CONSUMER), arg(batch), arg(now), arg(token), arg(sync::LEASE_MS), arg(CACHE_GC_BATCH)];
        let reply = self.redis.run(&sync::BEGIN, &keys, args)?;
        if number_at(&reply, 0) != Some(1) {
            return Ok(Begun::Busy);
        }
        let stale = number_at(&reply, 1).unwrap_or(0) as usize;
        Ok(Begun::Leased {
            stale: reply.iter().skip(2).take(stale).filter_map(text).collect(),
            reads: sync::parse_read(&reply.iter().skip(2 + stale).map(text).collect::<Vec<_>>()),
        })
    }

    fn forget(&self, hash: &str) {
        let _ = self.kv.delete(&keys::cached_answer(hash));
    }

    fn videos(&self, keys: &[String]) -> Result<Vec<Option<String>>, Problem> {
        let values = self.redis.mget(&keys.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(values.into_iter().map(|value| value.and_then(|v| String::from_utf8(v).ok())).collect())
    }

    fn record(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.kv.get(key).map_err(|e| e.to_string())?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    async fn prepare(&self) -> Result<(), EngineError> {
        self.engine().map_err(pass_failed)?.prepare().await
    }

    async fn apply(&self, docs: &[Doc]) -> Result<Vec<DocResult>, EngineError> {
        self.engine().map_err(pass_failed)?.apply(docs, false).await
    }

    fn settle(&self, applied: u64, now: u64, settles: &[(&Read, &Settle)]) -> Result<u64, Problem> {
        let mut args = vec![arg(sync::GROUP), arg(applied), arg(now)];
        for (read, settle) in settles {
            let (op, score, json) = match settle {
                Settle::Ack => ("ack", 0, String::new()),
                Settle::Retry(at, failure) => ("retry", *at, serde_json::to_string(failure).unwrap_or_default()),
                Settle::Park(failure) => ("park", 0, serde_json::to_string(failure).unwrap_or_default()),
            };
            args.extend([arg(op), arg(read.entry.as_str()), arg(score), arg(json)]);
        }
        let keys = [keys::CHANGES, keys::SYNC_RETRY, keys::SYNC_RETRY_DATA, keys::SYNC_PARKED, keys::GENERATION, keys::SYNC_STATS];
        Ok(self.redis.run(&sync::SETTLE, &keys, args)?.first().and_then(int).unwrap_or(0).max(0) as u64)
    }
}

/// The Spin side of a reindex: the key-value store's keys and the configured engine.
impl reindex::Ports for Search {
    fn stored_keys(&self) -> Result<Vec<String>, Problem> {
        self.kv.get_keys().map_err(kv_error)
    }

    async fn replace(&self, docs: &[Doc]) -> Result<Vec<DocResult>, EngineError> {
        self.engine().map_err(pass_failed)?.apply(docs, true).await
    }

    async fn live_keys(&self, after: &str, limit: usize) -> Result<Vec<(String, u64)>, EngineError> {
        self.engine().map_err(pass_failed)?.live_keys(after, limit).await
    }

    fn bump_generation(&self) -> Result<u64, Problem> {
        Ok(self.redis.exec("INCR", &[arg(keys::GENERATION)])?.first().and_then(int).unwrap_or(0).max(0) as u64)
    }
}
