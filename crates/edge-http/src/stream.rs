//! Answers whose body is written after the head is sent: Server-Sent Events.
//!
//! A handler returns an ordinary [`Response`] (status and headers, which the exchange frame
//! completes as usual) carrying a [`Streamed`] writer; the runtime adapter sends the head,
//! then runs the writer against a [`Sink`] on the response body. Nothing here does I/O, so a
//! writer is unit-tested with a `Vec` sink.

use std::sync::{Arc, Mutex};

use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};

use crate::Response;

/// Where a streamed body goes.
pub trait Sink {
    /// Writes and flushes `chunk`; `Err(Gone)` once the client has gone (or stopped reading),
    /// after which the writer should stop.
    fn write(&mut self, chunk: &[u8]) -> Result<(), Gone>;
}

/// The client went away or stopped reading; nothing more can be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gone;

impl Sink for Vec<u8> {
    fn write(&mut self, chunk: &[u8]) -> Result<(), Gone> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

/// What writes a streamed body, run once after the head is sent.
pub type Writer = Box<dyn FnOnce(&mut dyn Sink) + Send>;

/// A writer riding in a response's extensions until the adapter takes it.
#[derive(Clone)]
pub struct Streamed(Arc<Mutex<Option<Writer>>>);

impl Streamed {
    /// A `200 text/event-stream` answer whose body `writer` produces. Proxies are told not to
    /// cache or buffer it.
    pub fn events(writer: impl FnOnce(&mut dyn Sink) + Send + 'static) -> Response {
        let mut response = Response::new(Vec::new());
        *response.status_mut() = StatusCode::OK;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        response.extensions_mut().insert(Streamed(Arc::new(Mutex::new(Some(Box::new(writer))))));
        response
    }

    /// The writer of a streamed `response`, taken out of it; `None` for an ordinary answer.
    pub fn take(response: &mut Response) -> Option<Writer> {
        let streamed = response.extensions_mut().remove::<Streamed>()?;
        let mut slot = streamed.0.lock().unwrap_or_else(|e| e.into_inner());
        slot.take()
    }
}

/// One Server-Sent Event: `id:` when given, `event:` name, and `data` split into one `data:`
/// line per line so a newline in it cannot end the event early.
pub fn event(id: Option<u64>, name: &str, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + name.len() + 32);
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push_str("event: ");
    out.push_str(name);
    out.push('\n');
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    out
}

/// The `retry:` field: how long a browser waits before reconnecting, in ms.
pub fn retry(ms: u64) -> String {
    format!("retry: {ms}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_so_data_cannot_break_out() {
        assert_eq!(event(Some(7), "danmaku", r#"{"a":1}"#), "id: 7\nevent: danmaku\ndata: {\"a\":1}\n\n");
        assert_eq!(event(None, "x", "one\r\ntwo\n\nid: 9"), "event: x\ndata: one\ndata: two\ndata: \ndata: id: 9\n\n");
        assert_eq!(retry(1500), "retry: 1500\n\n");
    }

    #[test]
    fn the_writer_rides_in_the_response_and_is_taken_once() {
        let mut response = Streamed::events(|sink| {
            sink.write(b"hello").unwrap();
        });
        assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
        let writer = Streamed::take(&mut response).expect("a writer");
        assert!(Streamed::take(&mut response).is_none());
        let mut body = Vec::new();
        writer(&mut body);
        assert_eq!(body, b"hello");
        assert!(Streamed::take(&mut Response::new(Vec::new())).is_none());
    }
}
