//! The viewer scenario: each viewer an EventSource (hyper for HTTP/1.1, sse-stream for the
//! blocks, [`Source`] for `retry:` and the `Last-Event-ID` of reconnects), logging what arrived
//! and when.

use super::*;

pub(crate) struct Shared {
    pub(crate) start: Instant,
    pub(crate) addr: SocketAddr,
    pub(crate) path: String,
    /// One client for every viewer; each open stream holds its own connection.
    pub(crate) client: Client<HttpConnector, Empty<Bytes>>,
    pub(crate) stop: AtomicBool,
    /// Viewers that got their first `hello`.
    pub(crate) hellos: AtomicU64,
    /// Viewers whose first open failed or was refused.
    pub(crate) failed: AtomicU64,
    /// Streams with a 200 head whose body is being read now.
    pub(crate) open_streams: AtomicI64,
    /// The latest viewer count the server announced.
    pub(crate) server_viewers: AtomicU64,
    /// Viewers that gave up reconnecting.
    pub(crate) gave_up: AtomicU64,
    /// Stream opens (first or reconnect) that did not give a 200 event stream, by status and
    /// problem code, or by network error.
    pub(crate) opens_not_ok: Mutex<BTreeMap<String, u64>>,
}

impl Shared {
    /// Microseconds since this size's start: every instant of posts and deliveries.
    pub(crate) fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    pub(crate) fn count(&self, label: String) {
        *self.opens_not_ok.lock().unwrap_or_else(std::sync::PoisonError::into_inner).entry(label).or_insert(0) += 1;
    }

    pub(crate) fn failed_open(&self, label: String) -> Outcome {
        self.count(label);
        Outcome::OpenFailed
    }
}

#[derive(Default)]
pub(crate) struct ViewerLog {
    /// When each connection was opened (µs), the first included.
    pub(crate) opens: Vec<u64>,
    /// (danmaku id, µs) for every item received.
    pub(crate) got: Vec<(u64, u64)>,
    pub(crate) hello: bool,
    pub(crate) dropped: bool,
    pub(crate) batches: u64,
    pub(crate) ends: u64,
    pub(crate) closes_without_end: u64,
    pub(crate) stalls: u64,
    pub(crate) skipped: u64,
    pub(crate) merged: u64,
    pub(crate) id_mismatch: u64,
    pub(crate) bad_events: u64,
    pub(crate) bad_framing: u64,
    pub(crate) other_events: u64,
    pub(crate) reconnects_without_id: u64,
}

/// How one connection ended.
pub(crate) enum Outcome {
    /// `end`, a close, or silence: reconnect after the retry delay.
    Ended,
    /// A network failure before a 200 head: a reconnect tries again, a first open gives up.
    OpenFailed,
    /// An answer other than a 200 event stream: EventSource gives up.
    Refused,
    Stopped,
}

pub(crate) enum Wait<T> {
    Done(T),
    TimedOut,
    Stopped,
}

/// `fut` within `limit`, or until the stop flag is set.
pub(crate) async fn wait<F: Future>(stop: &AtomicBool, limit: Duration, fut: F) -> Wait<F::Output> {
    let deadline = Instant::now() + limit;
    let mut fut = std::pin::pin!(fut);
    loop {
        if stop.load(Relaxed) {
            return Wait::Stopped;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Wait::TimedOut;
        }
        if let Ok(output) = tokio::time::timeout(left.min(SLICE), fut.as_mut()).await {
            return Wait::Done(output);
        }
    }
}

pub(crate) struct Viewer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) log: ViewerLog,
    /// EventSource's last event ID string (sent as `Last-Event-ID` when not empty) and
    /// reconnection time.
    pub(crate) source: Source,
}

impl Viewer {
    pub(crate) fn new(shared: Arc<Shared>) -> Viewer {
        Viewer { shared, log: ViewerLog::default(), source: Source::default() }
    }

    pub(crate) async fn run(mut self) -> ViewerLog {
        let mut failures = 0;
        loop {
            let first = self.log.opens.is_empty();
            if !first && self.source.last_event_id().is_empty() {
                self.log.reconnects_without_id += 1;
            }
            self.log.opens.push(self.shared.now_us());
            match self.connection().await {
                Outcome::Stopped => break,
                Outcome::Ended => failures = 0,
                Outcome::Refused | Outcome::OpenFailed if first => {
                    self.shared.failed.fetch_add(1, Relaxed);
                    break;
                }
                Outcome::Refused => {
                    self.log.dropped = true;
                    break;
                }
                Outcome::OpenFailed => {
                    failures += 1;
                    if failures >= RECONNECT_ATTEMPTS {
                        self.log.dropped = true;
                        break;
                    }
                }
            }
            let pause = Duration::from_millis(self.source.retry_ms().unwrap_or(DEFAULT_RETRY_MS));
            if matches!(wait(&self.shared.stop, pause, std::future::pending::<()>()).await, Wait::Stopped) {
                break;
            }
        }
        if self.log.dropped {
            self.shared.gave_up.fetch_add(1, Relaxed);
        }
        self.log
    }

    /// One request: connect, send, read the head, then the event stream until it ends.
    pub(crate) async fn connection(&mut self) -> Outcome {
        let shared = self.shared.clone();
        let last_event_id = self.source.last_event_id().to_owned();
        let mut headers = vec![("cache-control", "no-cache")];
        if !last_event_id.is_empty() {
            headers.push(("last-event-id", &last_event_id));
        }
        let request = sse::request(shared.addr, &shared.path, &headers);
        let response = match wait(&shared.stop, CONNECT_LIMIT + HEAD_LIMIT, shared.client.request(request)).await {
            Wait::Stopped => return Outcome::Stopped,
            Wait::TimedOut => return shared.failed_open("no answer within 25 s".to_owned()),
            Wait::Done(Err(e)) => return shared.failed_open(error_label(&e)),
            Wait::Done(Ok(response)) => response,
        };
        let (head, body) = response.into_parts();
        if head.status != 200 {
            let body = tokio::time::timeout(Duration::from_secs(2), body.collect()).await;
            let body = body.ok().and_then(Result::ok).map(|b| b.to_bytes()).unwrap_or_default();
            shared.count(refusal_label(head.status.as_u16(), &body));
            return Outcome::Refused;
        }
        let content_type = head.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !content_type.to_ascii_lowercase().starts_with("text/event-stream") {
            shared.count(format!("200 with content-type {content_type:?}"));
            return Outcome::Refused;
        }
        shared.open_streams.fetch_add(1, Relaxed);
        let outcome = self.events(SseStream::new(body)).await;
        shared.open_streams.fetch_sub(1, Relaxed);
        outcome
    }

    /// Reads the event stream until `end`, a close, silence or the stop.
    pub(crate) async fn events(&mut self, mut blocks: Blocks) -> Outcome {
        let shared = self.shared.clone();
        loop {
            match wait(&shared.stop, IDLE_LIMIT, blocks.next()).await {
                Wait::Stopped => return Outcome::Stopped,
                Wait::TimedOut => {
                    self.log.stalls += 1;
                    return Outcome::Ended;
                }
                Wait::Done(Some(Ok(block))) => {
                    let at = shared.now_us();
                    if self.source.dispatch(block).is_some_and(|event| self.handle(&event, at)) {
                        self.log.ends += 1;
                        return Outcome::Ended;
                    }
                }
                Wait::Done(Some(Err(e))) if is_framing(&e) => {
                    self.log.bad_framing += 1;
                    return Outcome::Ended;
                }
                Wait::Done(None | Some(Err(_))) => {
                    self.log.closes_without_end += 1;
                    return Outcome::Ended;
                }
            }
        }
    }

    /// Handles one event; true for `end`.
    pub(crate) fn handle(&mut self, event: &Event, at: u64) -> bool {
        match event.name.as_str() {
            "hello" => {
                if !self.log.hello {
                    self.log.hello = true;
                    self.shared.hellos.fetch_add(1, Relaxed);
                }
                self.note_viewers(&event.data);
            }
            "viewers" => self.note_viewers(&event.data),
            "danmaku" => self.danmaku(event, at),
            "skipped" => self.log.skipped += 1,
            "end" => return true,
            _ => self.log.other_events += 1,
        }
        false
    }

    pub(crate) fn note_viewers(&mut self, data: &str) {
        match serde_json::from_str::<Value>(data).ok().and_then(|v| v["viewers"].as_u64()) {
            Some(n) => self.shared.server_viewers.store(n, Relaxed),
            None => self.log.bad_events += 1,
        }
    }

    pub(crate) fn danmaku(&mut self, event: &Event, at: u64) {
        self.log.batches += 1;
        let parsed = serde_json::from_str::<Value>(&event.data);
        let Some(items) = parsed.as_ref().ok().and_then(|v| v["items"].as_array()) else {
            self.log.bad_events += 1;
            return;
        };
        let mut newest = None;
        for item in items {
            let Some(id) = item["id"].as_u64() else {
                self.log.bad_events += 1;
                continue;
            };
            if item["count"].as_u64() != Some(1) {
                self.log.merged += 1;
            }
            newest = newest.max(Some(id));
            self.log.got.push((id, at));
        }
        if newest.is_some() && event.last_id.parse::<u64>().ok() != newest {
            self.log.id_mismatch += 1;
        }
    }
}

/// A label for a stream open answered with something other than 200: status and problem code
/// (`503 live-full`), or status and the start of a plain body (Spin's own `503`).
pub(crate) fn refusal_label(status: u16, body: &[u8]) -> String {
    if let Some(code) = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["code"].as_str().map(str::to_owned)) {
        return format!("{status} {code}");
    }
    let text = String::from_utf8_lossy(body);
    let short: String = text.trim().chars().take(40).collect();
    if short.is_empty() {
        status.to_string()
    } else {
        format!("{status} {short:?}")
    }
}

/// A failed open in the words of each error in its chain (`client error (Connect): tcp
/// connect error: Connection refused`).
pub(crate) fn error_label(error: &(dyn std::error::Error + 'static)) -> String {
    let mut label = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        label.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    label
}

/// Whether a stream's error is a malformed body (chunk framing or text), not a connection that
/// went away.
pub(crate) fn is_framing(error: &sse_stream::Error) -> bool {
    match error {
        sse_stream::Error::Body(cause) => cause.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_parse),
        _ => true,
    }
}
