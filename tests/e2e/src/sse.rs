//! A Server-Sent Events client for tests and benchmarks, on maintained crates: hyper (through
//! hyper-util's client) speaks HTTP/1.1 and decodes the body, sse-stream splits it into event
//! blocks, and [`Source`] keeps what a browser's `EventSource` keeps across blocks (the last
//! event id, the reconnection time). [`Stream`] is a blocking reader for tests; the live
//! benchmark drives [`client`] and [`Blocks`] on its own runtime.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sse_stream::{Sse, SseStream};

/// One event as `EventSource` dispatches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `event:` (`message` when absent).
    pub name: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
    /// The stream's last event id when the event was dispatched (`lastEventId`).
    pub last_id: String,
}

impl Event {
    /// The data as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_default()
    }
}

/// The event blocks of a response body.
pub type Blocks = SseStream<Incoming>;

/// What an `EventSource` keeps across the blocks of its streams: the last event id (sent as
/// `Last-Event-ID` on a reconnect) and the reconnection time.
#[derive(Debug, Clone, Default)]
pub struct Source {
    last_event_id: String,
    retry_ms: Option<u64>,
}

impl Source {
    /// A source whose last event id is `last_event_id` (empty for none).
    pub fn new(last_event_id: &str) -> Source {
        Source { last_event_id: last_event_id.to_owned(), retry_ms: None }
    }

    /// Takes one block: its `id` becomes the last event id, its `retry` the reconnection time,
    /// and a block with data dispatches an event (the HTML standard's rules).
    pub fn dispatch(&mut self, block: Sse) -> Option<Event> {
        if let Some(id) = block.id.filter(|id| !id.contains('\0')) {
            self.last_event_id = id;
        }
        if block.retry.is_some() {
            self.retry_ms = block.retry;
        }
        let data = block.data?;
        let name = block.event.filter(|name| !name.is_empty()).unwrap_or_else(|| "message".to_owned());
        Some(Event { name, data, last_id: self.last_event_id.clone() })
    }

    /// What a reconnect sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The last `retry:` the server sent, ms.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }
}

/// An HTTP/1.1 client without Nagle's delay, one connection per open stream.
pub fn client() -> Client<HttpConnector, Empty<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// `GET path` on `addr` asking for an event stream, with `headers`.
pub fn request(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> http::Request<Empty<Bytes>> {
    let mut request = http::Request::get(format!("http://{addr}{path}")).header("accept", "text/event-stream");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Empty::new()).expect("a valid request")
}

/// An open event stream, read blocking.
pub struct Stream {
    runtime: tokio::runtime::Runtime,
    blocks: Option<Blocks>,
    source: Source,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body when the answer was not an event stream (a problem), read whole.
    pub text: String,
}

impl Stream {
    /// `GET path` on `addr` with `headers`. The head is read; so is the body unless the answer
    /// is `text/event-stream`, whose events [`Stream::next_until`] reads.
    pub fn open(addr: SocketAddr, path: &str, sent: &[(&str, &str)]) -> std::io::Result<Stream> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let answer = runtime.block_on(async {
            let response = tokio::time::timeout(Duration::from_secs(30), client().request(request(addr, path, sent))).await;
            response.map_err(std::io::Error::other)?.map_err(std::io::Error::other)
        })?;
        let (head, body) = answer.into_parts();
        let headers: Vec<(String, String)> =
            head.headers.iter().map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
        let sent: &[(&str, &str)] = sent;
        let last_event_id = sent.iter().find(|(n, _)| n.eq_ignore_ascii_case("last-event-id")).map_or("", |(_, v)| *v);
        let events = head.headers.get("content-type").is_some_and(|v| v.as_bytes() == b"text/event-stream");
        let mut stream = Stream {
            source: Source::new(last_event_id),
            status: head.status.as_u16(),
            headers,
            text: String::new(),
            blocks: None,
            runtime,
        };
        if events {
            stream.blocks = Some(SseStream::new(body));
        } else {
            let bytes = stream.runtime.block_on(async { tokio::time::timeout(Duration::from_secs(10), body.collect()).await });
            let bytes = bytes.map_err(std::io::Error::other)?.map_err(std::io::Error::other)?.to_bytes();
            stream.text = String::from_utf8_lossy(&bytes).into_owned();
        }
        Ok(stream)
    }

    /// A header of the answer.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The next event, waiting until `deadline`; `None` when it passes or the stream ends.
    pub fn next_until(&mut self, deadline: Instant) -> Option<Event> {
        loop {
            let blocks = self.blocks.as_mut()?;
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.runtime.block_on(async { tokio::time::timeout(left, blocks.next()).await }) {
                Err(_) => return None,
                Ok(Some(Ok(block))) => {
                    if let Some(event) = self.source.dispatch(block) {
                        return Some(event);
                    }
                }
                Ok(None | Some(Err(_))) => {
                    self.blocks = None;
                    return None;
                }
            }
        }
    }

    /// The next event called `name` before `deadline`, skipping others.
    pub fn next_named(&mut self, name: &str, deadline: Instant) -> Option<Event> {
        loop {
            let event = self.next_until(deadline)?;
            if event.name == name {
                return Some(event);
            }
        }
    }

    /// The body has ended (its last chunk, or the connection closed), or was not events.
    pub fn ended(&self) -> bool {
        self.blocks.is_none()
    }

    /// The last `retry:` the server sent, ms.
    pub fn retry_ms(&self) -> Option<u64> {
        self.source.retry_ms()
    }
}

#[cfg(test)]
mod tests {
    use sse_stream::SseByteStream;

    use super::*;

    #[test]
    fn the_last_id_and_the_retry_carry_over_and_only_blocks_with_data_dispatch() {
        let body = "retry: 1500\n\nid: 3\nevent: danmaku\ndata: {\"a\":1}\r\n\r\n: comment\n\nevent: viewers\rdata: {}\r\revent: end\ndata: {}\n\n";
        let pieces: Vec<Result<Bytes, std::io::Error>> = body.as_bytes().chunks(7).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let blocks: Vec<Sse> = runtime.block_on(SseByteStream::new(futures_util::stream::iter(pieces)).map(Result::unwrap).collect());
        let mut source = Source::new("");
        let events: Vec<Event> = blocks.into_iter().filter_map(|block| source.dispatch(block)).collect();
        assert_eq!(source.retry_ms(), Some(1500));
        let summary: Vec<_> = events.iter().map(|e| (e.name.as_str(), e.last_id.as_str())).collect();
        assert_eq!(summary, [("danmaku", "3"), ("viewers", "3"), ("end", "3")], "the last id carries over");
        assert_eq!((events[0].json()["a"].as_u64(), source.last_event_id()), (Some(1), "3"));
    }
}
