//! A Server-Sent Events client for tests and benchmarks: [`Body`] decodes a response body as it
//! arrives (chunked, a content length, or until the close), [`Parser`] turns its bytes into
//! events as a browser's `EventSource` would (both pure, fed by any reader), and [`Stream`] is
//! a blocking HTTP/1.1 connection reading one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

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

enum Framing {
    Chunked,
    Length(u64),
    UntilClose,
}

#[derive(Clone, Copy)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailer,
    Done,
}

/// Decodes a response body as it arrives: chunked, a content length, or until the close.
pub struct Body {
    framing: Framing,
    chunk: Chunk,
    /// Raw chunked bytes not consumed yet (a size line cut by a read).
    pending: Vec<u8>,
}

impl Body {
    /// The body of an answer whose head said `chunked` or gave `content_length`.
    pub fn new(chunked: bool, content_length: Option<u64>) -> Body {
        let framing = match (chunked, content_length) {
            (true, _) => Framing::Chunked,
            (false, Some(n)) => Framing::Length(n),
            (false, None) => Framing::UntilClose,
        };
        Body { framing, chunk: Chunk::Size, pending: Vec::new() }
    }

    /// Appends the body bytes in `input` to `out`; true once the body is complete, an error
    /// for broken chunk framing.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<bool, String> {
        match &mut self.framing {
            Framing::Chunked => {
                self.pending.extend_from_slice(input);
                self.chunks(out)
            }
            Framing::Length(left) => {
                let take = input.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                out.extend_from_slice(&input[..take]);
                *left -= take as u64;
                Ok(*left == 0)
            }
            Framing::UntilClose => {
                out.extend_from_slice(input);
                Ok(false)
            }
        }
    }

    fn chunks(&mut self, out: &mut Vec<u8>) -> Result<bool, String> {
        let mut pos = 0;
        let result = loop {
            let rest = &self.pending[pos..];
            match self.chunk {
                Chunk::Done => break Ok(true),
                Chunk::Data(left) => {
                    if rest.is_empty() {
                        break Ok(false);
                    }
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    out.extend_from_slice(&rest[..take]);
                    pos += take;
                    let left = left - take as u64;
                    self.chunk = if left == 0 { Chunk::DataEnd } else { Chunk::Data(left) };
                }
                Chunk::Size | Chunk::DataEnd | Chunk::Trailer => {
                    let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() > 4096 {
                            break Err("chunk line over 4 KiB".to_owned());
                        }
                        break Ok(false);
                    };
                    let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
                    pos += nl + 1;
                    match self.chunk {
                        Chunk::Size => {
                            let digits = line.split(|&b| b == b';').next().unwrap_or_default();
                            let size = std::str::from_utf8(digits).ok().and_then(|s| u64::from_str_radix(s.trim(), 16).ok());
                            let Some(size) = size else {
                                break Err(format!("bad chunk size line {:?}", String::from_utf8_lossy(line)));
                            };
                            self.chunk = if size == 0 { Chunk::Trailer } else { Chunk::Data(size) };
                        }
                        Chunk::DataEnd => {
                            if !line.is_empty() {
                                break Err("chunk data not followed by CRLF".to_owned());
                            }
                            self.chunk = Chunk::Size;
                        }
                        _ => {
                            if line.is_empty() {
                                self.chunk = Chunk::Done;
                            }
                        }
                    }
                }
            }
        };
        self.pending.drain(..pos);
        result
    }
}

/// The event-stream interpretation of the HTML standard: lines end in CRLF, LF or CR; a blank
/// line dispatches; `event`, `data`, `id` (no NUL) and `retry` (digits only) fields; `:`
/// comments.
pub struct Parser {
    line: Vec<u8>,
    after_cr: bool,
    name: String,
    data: String,
    id_buffer: String,
    last_event_id: String,
    retry: Option<u64>,
}

impl Parser {
    /// A parser for a stream opened with `last_event_id` (empty for none).
    pub fn new(last_event_id: &str) -> Parser {
        Parser {
            line: Vec::new(),
            after_cr: false,
            name: String::new(),
            data: String::new(),
            id_buffer: last_event_id.to_owned(),
            last_event_id: last_event_id.to_owned(),
            retry: None,
        }
    }

    /// Takes decoded body bytes; the events they complete go to `out`.
    pub fn feed(&mut self, bytes: &[u8], out: &mut Vec<Event>) {
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match b {
                b'\n' if after_cr => {}
                b'\n' => self.end_line(out),
                b'\r' => {
                    self.after_cr = true;
                    self.end_line(out);
                }
                _ => self.line.push(b),
            }
        }
    }

    /// The `retry:` the server sent since this was last asked, in ms.
    pub fn take_retry(&mut self) -> Option<u64> {
        self.retry.take()
    }

    /// What a reconnect sends as `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    fn end_line(&mut self, out: &mut Vec<Event>) {
        if self.line.is_empty() {
            self.dispatch(out);
            return;
        }
        let line = String::from_utf8_lossy(&self.line).into_owned();
        self.line.clear();
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "event" => value.clone_into(&mut self.name),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => value.clone_into(&mut self.id_buffer),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => self.retry = value.parse().ok(),
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<Event>) {
        self.last_event_id.clone_from(&self.id_buffer);
        let name = std::mem::take(&mut self.name);
        let mut data = std::mem::take(&mut self.data);
        if data.is_empty() {
            return;
        }
        data.pop();
        out.push(Event { name: if name.is_empty() { "message".to_owned() } else { name }, data, last_id: self.last_event_id.clone() });
    }
}

/// An open event stream over a blocking socket.
pub struct Stream {
    reader: BufReader<TcpStream>,
    body: Body,
    parser: Parser,
    queued: std::collections::VecDeque<Event>,
    ended: bool,
    retry_ms: Option<u64>,
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
    pub fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Stream> {
        let mut socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        socket.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(socket);
        reader.get_ref().set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut line = String::new();
        reader.read_line(&mut line)?;
        let status = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut head = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            match line.trim_end().split_once(':') {
                Some((name, value)) => head.push((name.to_ascii_lowercase(), value.trim().to_owned())),
                None => break,
            }
        }
        let find = |name: &str| head.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let chunked = find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let body = Body::new(chunked, find("content-length").and_then(|v| v.parse().ok()));
        let last_event_id = headers.iter().find(|(n, _)| n.eq_ignore_ascii_case("last-event-id")).map_or("", |(_, v)| *v);
        let mut stream = Stream {
            reader,
            body,
            parser: Parser::new(last_event_id),
            queued: Default::default(),
            ended: false,
            retry_ms: None,
            status,
            headers: head,
            text: String::new(),
        };
        if stream.header("content-type") != Some("text/event-stream") {
            let mut text = Vec::new();
            while !stream.ended {
                stream.read(Instant::now() + Duration::from_secs(10), &mut text)?;
            }
            stream.text = String::from_utf8_lossy(&text).into_owned();
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
            if let Some(event) = self.queued.pop_front() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            let mut decoded = Vec::new();
            self.read(deadline, &mut decoded).ok()?;
            let mut events = Vec::new();
            self.parser.feed(&decoded, &mut events);
            self.retry_ms = self.parser.take_retry().or(self.retry_ms);
            self.queued.extend(events);
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

    /// The body has ended (its last chunk, or the connection closed).
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The last `retry:` the server sent, ms.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Reads what arrives before `deadline` and decodes it into `out`.
    fn read(&mut self, deadline: Instant, out: &mut Vec<u8>) -> std::io::Result<()> {
        let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
        let left = left.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline passed"))?;
        self.reader.get_ref().set_read_timeout(Some(left))?;
        let mut buf = [0u8; 16 * 1024];
        let n = self.reader.read(&mut buf)?;
        self.ended = n == 0 || self.body.feed(&buf[..n], out).map_err(std::io::Error::other)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_events_split_anywhere() {
        let body = "retry: 1500\n\nid: 3\nevent: danmaku\ndata: {\"a\":1}\r\n\r\n: comment\n\nevent: viewers\rdata: {}\r\revent: end\ndata: {}\n\n";
        let mut chunked = Vec::new();
        for piece in body.as_bytes().chunks(7) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let (mut decoder, mut parser) = (Body::new(true, None), Parser::new(""));
        let (mut events, mut done) = (Vec::new(), false);
        for bytes in chunked.chunks(5) {
            let mut decoded = Vec::new();
            done = decoder.feed(bytes, &mut decoded).unwrap();
            parser.feed(&decoded, &mut events);
        }
        assert!(done);
        assert_eq!(parser.take_retry(), Some(1500));
        let summary: Vec<_> = events.iter().map(|e| (e.name.as_str(), e.last_id.as_str())).collect();
        assert_eq!(summary, [("danmaku", "3"), ("viewers", "3"), ("end", "3")], "the last id carries over");
        assert_eq!(events[0].json()["a"], 1);
        assert!(Body::new(true, None).feed(b"zz\r\n", &mut Vec::new()).is_err());
    }
}
