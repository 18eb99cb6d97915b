//! How `GET /search` and `GET /search/suggest` are answered: from a fresh cache entry; else one
//! request computes (after applying pending index changes) while the others wait for its answer;
//! while the engine is out (breaker open, or it failed), a stale answer or the fallback, marked
//! degraded.
//!
//! The steps are pure over [`Ports`] and [`Base`]: the Spin adapter ([`crate::adapter::Search`]) backs them
//! with the key-value store, the Redis scripts and the engine; the tests below with memory.

use edge_http::{json_response, Problem, Response};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use crate::breaker::{Breaker, Gate};
use crate::cache::{self, Entry, Started};
use crate::engine::{Doc, EngineError, Page};
use crate::params::{SearchQuery, SuggestQuery};
use crate::ports::Base;
use crate::ports::State;
use crate::{fallback, keys};

/// A question a client asks.
pub(crate) enum Ask {
    /// `GET /search`.
    Search(SearchQuery),
    /// `GET /search/suggest`.
    Suggest(SuggestQuery),
}

impl Ask {
    /// The cache key of the question.
    pub(crate) fn hash(&self) -> String {
        match self {
            Ask::Search(q) => q.cache_key(),
            Ask::Suggest(q) => q.cache_key(),
        }
    }

    fn fallback(&self, recent: &[Doc]) -> Value {
        match self {
            Ask::Search(q) => render_page(fallback::search(recent, q), q),
            Ask::Suggest(q) => json!({ "suggestions": fallback::suggest(recent, q), "degraded": false }),
        }
    }
}

/// A search answer as the API shows it.
pub(crate) fn render_page(page: Page, q: &SearchQuery) -> Value {
    json!({ "items": page.hits, "next_cursor": if page.more { q.next_cursor() } else { None }, "degraded": false })
}

/// What answering needs beyond [`Base`]: waiting, the answer cache, the cache scripts and the
/// engine's answers.
pub(crate) trait Ports: Base {
    /// Waits `ms` before looking again for another request's answer.
    fn pause(&self, ms: u64);
    /// The cached answer to `hash`, if any.
    fn cached(&self, hash: &str) -> Option<Entry>;
    /// Caches `entry`; false when the store refused it.
    fn keep(&self, hash: &str, entry: &Entry) -> bool;
    /// The cache-start script: shared state, and the lock on `hash` taken on a miss.
    fn start(&self, hash: &str, entry: Option<&Entry>, now: u64, token: &str) -> Result<Started, Problem>;
    /// `SET key token NX PX ttl`.
    fn take(&self, key: &str, token: &str, ttl_ms: u64) -> Result<bool, Problem>;
    /// The cache-finish script: counts the engine query, indexes the entry's expiry (unless
    /// `stale_until` is 0), releases the lock, and closes the breaker when `reset`.
    fn finish(&self, stale_until: u64, hash: &str, lock: &str, token: &str, reset: bool);
    /// The newest videos, for the fallback.
    fn recent_videos(&self) -> Result<Vec<Doc>, Problem>;
    /// Asks the engine (creating a missing index first).
    async fn ask(&self, ask: &Ask) -> Result<Value, EngineError>;
    /// Applies pending index changes (a [`crate::pass`]); the generation after them
    /// (`state`'s when the pass did nothing or failed).
    async fn sync(&self, state: &State) -> u64;
}

/// Answers `ask`. A hit costs one key-value read and one script call, which also takes the
/// lock on a miss and tells whether changes wait; a miss adds one script call (finish) around
/// the engine call.
pub(crate) async fn answer<P: Ports>(ports: &P, ask: &Ask) -> Result<Response, Problem> {
    let hash = ask.hash();
    let started = ports.now_ms();
    let entry = ports.cached(&hash);
    let lock = keys::answer_lock(&hash);
    let token = ports.token();
    let start = ports.start(&hash, entry.as_ref(), started, &token)?;
    let breaker = Breaker { open_until: start.open_until, failures: start.failures };
    let state = State { generation: start.generation, breaker };
    if let (Some(entry), true) = (entry.as_ref(), start.fresh) {
        return Ok(raw(entry.body.clone(), "hit"));
    }
    let mut holding = start.holding;
    // A miss needs both; a misconfigured one is the operator's 500, not a degraded answer.
    let settings = ports.settings();
    settings.for_a_miss()?;
    ports.check_engine()?;
    // A request that waited for the lock does not know; it lets the pass find out.
    let mut sync_work = start.sync_work;
    let probing = match breaker.gate(started) {
        Gate::Closed => false,
        Gate::Probe if ports.take(keys::BREAKER_PROBE, "1", settings.breaker_cooldown_ms()?.max(1000))? => true,
        _ => {
            if holding {
                ports.release(&lock, &token)?;
            }
            return degraded(ports, ask, entry, "engine-unavailable");
        }
    };
    let fresh = |ports: &P| ports.cached(&hash).filter(|e| e.is_fresh(state.generation, ports.now_ms()));
    if !holding {
        let (mut pause, wait_ms) = (2, settings.coalesce_wait_ms()?);
        while ports.now_ms() < started + wait_ms {
            ports.pause(pause);
            pause = (pause * 2).min(20);
            if let Some(e) = fresh(ports) {
                return Ok(raw(e.body, "coalesced"));
            }
            if ports.take(&lock, &token, cache::LOCK_MS)? {
                holding = true;
                sync_work = true;
                break;
            }
        }
    }
    // Another request may have finished between our read and our lock.
    if let Some(e) = fresh(ports) {
        if holding {
            ports.release(&lock, &token)?;
        }
        return Ok(raw(e.body, "hit"));
    }
    let sync_first = !probing && (sync_work || !holding);
    match compute(ports, ask, &state, sync_first, probing, &lock, &token).await {
        Ok(response) => Ok(response),
        Err(error) => {
            eprintln!("search engine failed: {error}");
            degraded(ports, ask, entry, "engine-failed")
        }
    }
}

/// Computes an answer with the engine (after applying pending changes), caches it, and
/// releases the lock.
async fn compute<P: Ports>(
    ports: &P,
    ask: &Ask,
    state: &State,
    sync_first: bool,
    probing: bool,
    lock: &str,
    token: &str,
) -> Result<Response, EngineError> {
    let read = |value: Result<u64, Problem>| value.map_err(|problem| EngineError(problem.detail().to_owned()));
    let (cache_ms, stale_ms) = (read(ports.settings().cache_ms())?, read(ports.settings().stale_ms())?);
    let generation = if sync_first { ports.sync(state).await } else { state.generation };
    let value = match ports.ask(ask).await {
        Ok(value) => value,
        Err(error) => {
            ports.record_failure(ports.now_ms(), probing);
            ports.finish(0, "", lock, token, false);
            return Err(error);
        }
    };
    let body = serde_json::to_vec(&value).unwrap_or_default();
    let now = ports.now_ms();
    let hash = ask.hash();
    let entry = Entry { generation, fresh_until: now + cache_ms, stale_until: now + stale_ms, body };
    let cached = cache_ms > 0 && ports.keep(&hash, &entry);
    ports.finish(if cached { entry.stale_until } else { 0 }, &hash, lock, token, probing || state.breaker.needs_reset());
    Ok(raw(entry.body, "miss"))
}

/// A stale answer if one is cached, else the fallback; marked degraded either way.
fn degraded<P: Ports>(ports: &P, ask: &Ask, entry: Option<Entry>, reason: &'static str) -> Result<Response, Problem> {
    let stale = entry.filter(|e| e.is_usable_stale(ports.now_ms())).and_then(|e| serde_json::from_slice::<Value>(&e.body).ok());
    let (mut value, source) = match stale {
        Some(value) => (value, "stale-cache"),
        None => (ask.fallback(&ports.recent_videos()?), "fallback"),
    };
    value["degraded"] = json!(true);
    value["degraded_reason"] = json!(reason);
    value["served_from"] = json!(source);
    let mut response = json_response(StatusCode::OK, &value);
    response.headers_mut().insert("x-search-degraded", HeaderValue::from_static(source));
    response.headers_mut().insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A JSON answer from bytes already rendered, with how the cache served it.
pub(crate) fn raw(body: Vec<u8>, cache: &'static str) -> Response {
    let mut response = json_response(StatusCode::OK, &());
    *response.body_mut() = body;
    response.headers_mut().insert("x-cache", HeaderValue::from_static(cache));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::Memory;
    use crate::params::RawSearch;

    fn ask() -> Ask {
        Ask::Search(SearchQuery::parse(serde_json::from_value::<RawSearch>(json!({ "q": "cats" })).unwrap()).unwrap())
    }

    /// Runs `answer` to completion (every port answers at once).
    fn run(ports: &Memory) -> Response {
        futures::executor::block_on(answer(ports, &ask())).expect("an answer")
    }

    /// How the answer was served (`x-cache`, or `x-search-degraded` when degraded) and its body.
    fn served(response: Response) -> (String, Value) {
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let how = header("x-cache").or(header("x-search-degraded")).unwrap_or("none").to_owned();
        (how, serde_json::from_slice(response.body()).unwrap())
    }

    #[test]
    fn a_fresh_entry_is_served_without_the_engine_or_the_lock() {
        let m = Memory::new(Vec::new());
        m.keep(&ask().hash(), &m.entry(r#"{"items":["cached"]}"#, 1000, 60_000));
        let (how, body) = served(run(&m));
        assert_eq!((how.as_str(), body["items"][0].as_str()), ("hit", Some("cached")));
        assert_eq!((m.engine_calls.get(), m.syncs.get()), (0, 0));
        assert!(m.locks.borrow().is_empty());
    }

    #[test]
    fn a_miss_computes_once_caches_for_the_settings_and_releases_the_lock() {
        let m = Memory::new(Vec::new());
        let (how, body) = served(run(&m));
        assert_eq!((how.as_str(), body["items"][0].as_str()), ("miss", Some("from the engine")));
        assert_eq!(m.engine_calls.get(), 1);
        assert_eq!(m.syncs.get(), 0, "no change was waiting, so no pass ran first");
        let entry = m.cached(&ask().hash()).unwrap();
        assert_eq!((entry.fresh_until, entry.stale_until), (1_000_000 + 30_000, 1_000_000 + 600_000));
        assert_eq!(*m.finished.borrow(), [(entry.stale_until, false)]);
        assert!(m.locks.borrow().is_empty());
        assert_eq!(served(run(&m)).0, "hit");
    }

    #[test]
    fn waiting_changes_are_applied_before_the_engine_answers_and_the_entry_has_their_generation() {
        let m = Memory::new(Vec::new());
        m.changes_waiting.set(true);
        let (_, body) = served(run(&m));
        assert_eq!((m.syncs.get(), body["generation"].as_u64()), (1, Some(8)));
        assert_eq!(m.cached(&ask().hash()).unwrap().generation, 8);
    }

    #[test]
    fn an_entry_older_than_the_index_is_a_miss() {
        let m = Memory::new(Vec::new());
        let mut old = m.entry(r#"{"items":["old"]}"#, 1000, 60_000);
        old.generation = 3;
        m.keep(&ask().hash(), &old);
        assert_eq!(served(run(&m)).0, "miss");
    }

    #[test]
    fn a_request_behind_the_lock_gets_the_holders_answer_without_the_engine() {
        let m = Memory::new(Vec::new());
        m.locks.borrow_mut().insert(keys::answer_lock(&ask().hash()), "holder".into());
        let hash = ask().hash();
        *m.meanwhile.borrow_mut() = Some(Box::new(move |m: &Memory| {
            if m.now.get() >= 1_000_000 + 6 {
                m.keep(&hash, &m.entry(r#"{"items":["holder's"]}"#, 1000, 60_000));
            }
        }));
        let (how, body) = served(run(&m));
        assert_eq!((how.as_str(), body["items"][0].as_str()), ("coalesced", Some("holder's")));
        assert_eq!(m.engine_calls.get(), 0);
        assert_eq!(m.locks.borrow().get(&keys::answer_lock(&ask().hash())).map(String::as_str), Some("holder"));
    }

    #[test]
    fn a_waiter_takes_over_a_lock_its_holder_gave_up_and_syncs_first() {
        let m = Memory::new(Vec::new());
        let lock = keys::answer_lock(&ask().hash());
        m.locks.borrow_mut().insert(lock.clone(), "holder".into());
        *m.meanwhile.borrow_mut() = Some(Box::new(move |m: &Memory| {
            m.locks.borrow_mut().remove(&lock);
        }));
        assert_eq!(served(run(&m)).0, "miss");
        assert_eq!((m.engine_calls.get(), m.syncs.get()), (1, 1), "a waiter cannot know whether changes wait, so it lets the pass look");
    }

    #[test]
    fn a_waiter_whose_wait_runs_out_computes_without_the_lock() {
        let m = Memory::new(Vec::new());
        m.locks.borrow_mut().insert(keys::answer_lock(&ask().hash()), "holder".into());
        assert_eq!(served(run(&m)).0, "miss");
        assert!(m.now.get() >= 1_000_000 + m.settings.coalesce_wait_ms().unwrap());
        assert_eq!((m.engine_calls.get(), m.syncs.get()), (1, 1));
    }

    #[test]
    fn an_open_breaker_serves_a_stale_answer_or_the_fallback_and_frees_the_lock() {
        let m = Memory::new(Vec::new());
        m.open_until.set(Some(m.now.get() + 1000));
        m.keep(&ask().hash(), &m.entry(r#"{"items":["stale"]}"#, -1, 60_000));
        let (how, body) = served(run(&m));
        assert_eq!(
            (how.as_str(), body["items"][0].as_str(), body["degraded_reason"].as_str()),
            ("stale-cache", Some("stale"), Some("engine-unavailable"))
        );
        assert_eq!(m.engine_calls.get(), 0);
        assert!(m.locks.borrow().is_empty());
        m.cache.borrow_mut().clear();
        let (how, body) = served(run(&m));
        assert_eq!((how.as_str(), body["degraded"].as_bool()), ("fallback", Some(true)));
    }

    #[test]
    fn failures_open_the_breaker_after_the_threshold_and_each_failed_request_is_degraded() {
        let m = Memory::new(Vec::new());
        m.engine_down.set(true);
        for _ in 0..3 {
            let (how, body) = served(run(&m));
            assert_eq!((how.as_str(), body["degraded_reason"].as_str()), ("fallback", Some("engine-failed")));
        }
        assert_eq!(*m.failed.borrow(), [false, false, false]);
        assert_eq!(m.open_until.get(), Some(1_000_000 + 5_000));
        assert_eq!(served(run(&m)).1["degraded_reason"], "engine-unavailable");
        assert_eq!(m.engine_calls.get(), 3, "an open breaker keeps requests off the engine");
        assert!(m.finished.borrow().iter().all(|&(stale_until, _)| stale_until == 0), "nothing was cached");
    }

    #[test]
    fn after_the_cool_down_one_probe_closes_the_breaker_or_reopens_it() {
        let m = Memory::new(Vec::new());
        m.open_until.set(Some(m.now.get() - 1));
        m.engine_down.set(true);
        served(run(&m));
        assert_eq!(*m.failed.borrow(), [true], "the failed call was the probe");
        assert_eq!(m.open_until.get(), Some(1_000_000 + 5_000), "a failed probe reopens at once");
        m.now.set(1_000_000 + 5_000);
        m.engine_down.set(false);
        assert_eq!(served(run(&m)).0, "miss");
        assert_eq!(m.finished.borrow().last().map(|&(_, reset)| reset), Some(true));
        assert_eq!(m.open_until.get(), None);
        assert_eq!(m.syncs.get(), 0, "the probe asks the engine only the question");
    }

    #[test]
    fn a_second_request_during_a_probe_is_degraded() {
        let m = Memory::new(Vec::new());
        m.open_until.set(Some(m.now.get() - 1));
        m.locks.borrow_mut().insert(keys::BREAKER_PROBE.to_owned(), "1".into());
        assert_eq!(served(run(&m)).1["degraded_reason"], "engine-unavailable");
        assert_eq!(m.engine_calls.get(), 0);
    }

    #[test]
    fn with_caching_off_nothing_is_kept_or_indexed_for_expiry() {
        let mut m = Memory::new(Vec::new());
        m.settings = crate::memory::settings(&[("search_cache_secs", "0")]);
        assert_eq!(served(run(&m)).0, "miss");
        assert!(m.cache.borrow().is_empty());
        assert_eq!(*m.finished.borrow(), [(0, false)]);
    }
}
