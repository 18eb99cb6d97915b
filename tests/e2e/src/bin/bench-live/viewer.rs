//! The viewer scenario: each viewer an EventSource written over raw HTTP/1.1 (chunked bodies,
//! SSE lines, `retry:`, reconnects with `Last-Event-ID`), logging what arrived and when.

use super::*;

pub(crate) struct Shared {
    pub(crate) start: Instant,
    pub(crate) addr: SocketAddr,
    pub(crate) host: String,
    pub(crate) path: String,
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

pub(crate) async fn read_some(stream: &TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        stream.readable().await?;
        match stream.try_read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            result => return result,
        }
    }
}

pub(crate) async fn write_all(stream: &TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        stream.writable().await?;
        match stream.try_write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(crate) struct Viewer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) log: ViewerLog,
    /// EventSource's last event ID string: sent as `Last-Event-ID` when not empty.
    pub(crate) last_event_id: String,
    /// EventSource's reconnection time.
    pub(crate) retry_ms: u64,
    pub(crate) buf: Vec<u8>,
}

impl Viewer {
    pub(crate) fn new(shared: Arc<Shared>) -> Viewer {
        Viewer { shared, log: ViewerLog::default(), last_event_id: String::new(), retry_ms: DEFAULT_RETRY_MS, buf: vec![0; 16 * 1024] }
    }

    pub(crate) async fn run(mut self) -> ViewerLog {
        let mut failures = 0;
        loop {
            let first = self.log.opens.is_empty();
            if !first && self.last_event_id.is_empty() {
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
            let pause = Duration::from_millis(self.retry_ms);
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
        let stream = match wait(&shared.stop, CONNECT_LIMIT, TcpStream::connect(shared.addr)).await {
            Wait::Stopped => return Outcome::Stopped,
            Wait::TimedOut => return shared.failed_open("connect: no connection within 10 s".to_owned()),
            Wait::Done(Err(e)) => return shared.failed_open(format!("connect: {e}")),
            Wait::Done(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        let mut request =
            format!("GET {} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n", shared.path, shared.host);
        if !self.last_event_id.is_empty() {
            let _ = write!(request, "Last-Event-ID: {}\r\n", self.last_event_id);
        }
        request.push_str("\r\n");
        match wait(&shared.stop, HEAD_LIMIT, write_all(&stream, request.as_bytes())).await {
            Wait::Stopped => return Outcome::Stopped,
            Wait::TimedOut => return shared.failed_open("send: not written within 15 s".to_owned()),
            Wait::Done(Err(e)) => return shared.failed_open(format!("send: {e}")),
            Wait::Done(Ok(())) => {}
        }
        let deadline = Instant::now() + HEAD_LIMIT;
        let mut raw: Vec<u8> = Vec::new();
        let head_len = loop {
            if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if raw.len() > 64 * 1024 {
                return shared.failed_open("answer head over 64 KiB".to_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match wait(&shared.stop, left, read_some(&stream, &mut self.buf)).await {
                Wait::Stopped => return Outcome::Stopped,
                Wait::TimedOut => return shared.failed_open("no answer within 15 s".to_owned()),
                Wait::Done(Err(e)) => return shared.failed_open(format!("read answer: {e}")),
                Wait::Done(Ok(0)) => return shared.failed_open("closed before answering".to_owned()),
                Wait::Done(Ok(n)) => raw.extend_from_slice(&self.buf[..n]),
            }
        };
        let head = Head::parse(&raw[..head_len]);
        let rest = raw.split_off(head_len);
        let mut decoder = Body::new(head.chunked, head.content_length);
        if head.status != 200 {
            let body = self.small_body(&stream, &mut decoder, &rest).await;
            shared.count(refusal_label(&head, &body));
            return Outcome::Refused;
        }
        if !head.content_type.to_ascii_lowercase().starts_with("text/event-stream") {
            shared.count(format!("200 with content-type {:?}", head.content_type));
            return Outcome::Refused;
        }
        shared.open_streams.fetch_add(1, Relaxed);
        let outcome = self.events(&stream, decoder, rest).await;
        shared.open_streams.fetch_sub(1, Relaxed);
        outcome
    }

    /// Up to 16 KiB of an error answer's body, within 2 s.
    pub(crate) async fn small_body(&mut self, stream: &TcpStream, decoder: &mut Body, first: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut done = decoder.feed(first, &mut body).unwrap_or(true);
        let deadline = Instant::now() + Duration::from_secs(2);
        while !done && body.len() < 16 * 1024 {
            let left = deadline.saturating_duration_since(Instant::now());
            match wait(&self.shared.stop, left, read_some(stream, &mut self.buf)).await {
                Wait::Done(Ok(n)) if n > 0 => done = decoder.feed(&self.buf[..n], &mut body).unwrap_or(true),
                _ => break,
            }
        }
        body
    }

    /// Reads the event stream, `first` being body bytes that came with the head.
    pub(crate) async fn events(&mut self, stream: &TcpStream, mut decoder: Body, first: Vec<u8>) -> Outcome {
        let shared = self.shared.clone();
        let mut parser = Parser::new(&self.last_event_id);
        let mut input = first;
        let mut body = Vec::new();
        let mut events = Vec::new();
        let mut at = shared.now_us();
        loop {
            body.clear();
            let done = match decoder.feed(&input, &mut body) {
                Ok(done) => done,
                Err(_) => {
                    self.log.bad_framing += 1;
                    return Outcome::Ended;
                }
            };
            parser.feed(&body, &mut events);
            if let Some(retry) = parser.take_retry() {
                self.retry_ms = retry;
            }
            for event in events.drain(..) {
                self.last_event_id.clone_from(&event.last_id);
                if self.handle(&event, at) {
                    self.log.ends += 1;
                    return Outcome::Ended;
                }
            }
            self.last_event_id = parser.last_event_id().to_owned();
            if done {
                self.log.closes_without_end += 1;
                return Outcome::Ended;
            }
            match wait(&shared.stop, IDLE_LIMIT, read_some(stream, &mut self.buf)).await {
                Wait::Stopped => return Outcome::Stopped,
                Wait::TimedOut => {
                    self.log.stalls += 1;
                    return Outcome::Ended;
                }
                Wait::Done(Ok(0) | Err(_)) => {
                    self.log.closes_without_end += 1;
                    return Outcome::Ended;
                }
                Wait::Done(Ok(n)) => {
                    at = shared.now_us();
                    input.clear();
                    input.extend_from_slice(&self.buf[..n]);
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
pub(crate) fn refusal_label(head: &Head, body: &[u8]) -> String {
    if let Some(code) = serde_json::from_slice::<Value>(body).ok().and_then(|v| v["code"].as_str().map(str::to_owned)) {
        return format!("{} {code}", head.status);
    }
    let text = String::from_utf8_lossy(body);
    let short: String = text.trim().chars().take(40).collect();
    if short.is_empty() {
        head.status.to_string()
    } else {
        format!("{} {short:?}", head.status)
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 response framing and the SSE parser.

pub(crate) struct Head {
    pub(crate) status: u16,
    pub(crate) chunked: bool,
    pub(crate) content_length: Option<u64>,
    pub(crate) content_type: String,
}

impl Head {
    pub(crate) fn parse(raw: &[u8]) -> Head {
        let text = String::from_utf8_lossy(raw);
        let mut lines = text.split("\r\n");
        let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut head = Head { status, chunked: false, content_length: None, content_type: String::new() };
        for line in lines {
            let Some((name, value)) = line.split_once(':') else { continue };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "transfer-encoding" => head.chunked = value.to_ascii_lowercase().contains("chunked"),
                "content-length" => head.content_length = value.parse().ok(),
                "content-type" => value.clone_into(&mut head.content_type),
                _ => {}
            }
        }
        head
    }
}
