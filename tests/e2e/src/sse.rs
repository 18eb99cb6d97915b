//! A Server-Sent Events client for tests and benchmarks: [`Parser`] turns the bytes of a
//! chunked `text/event-stream` body into events (pure, fed by any reader), [`Stream`] is a
//! blocking HTTP/1.1 connection reading one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// One event as a browser's `EventSource` would dispatch it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `id:`, when the event had one.
    pub id: Option<String>,
    /// `event:` (`message` when absent).
    pub name: String,
    /// The `data:` lines joined with newlines.
    pub data: String,
}

impl Event {
    /// The data as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).unwrap_or_default()
    }
}

/// What a chunked `text/event-stream` body has delivered so far.
#[derive(Debug, Default)]
pub struct Parser {
    raw: Vec<u8>,
    text: String,
    /// `retry:` as last sent, ms.
    pub retry_ms: Option<u64>,
    /// The body's last chunk (size 0) has arrived.
    pub ended: bool,
}

impl Parser {
    /// Takes more bytes of the (chunked) body; answers the events completed by them.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<Event> {
        self.raw.extend_from_slice(bytes);
        while let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") {
            let size =
                std::str::from_utf8(&self.raw[..line_end]).ok().and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok());
            let Some(size) = size else { break };
            if size == 0 {
                self.ended = true;
                self.raw.clear();
                break;
            }
            let start = line_end + 2;
            if self.raw.len() < start + size + 2 {
                break;
            }
            self.text.push_str(&String::from_utf8_lossy(&self.raw[start..start + size]));
            self.raw.drain(..start + size + 2);
        }
        let mut events = Vec::new();
        while let Some(end) = self.text.find("\n\n") {
            let block: String = self.text.drain(..end + 2).collect();
            let mut event = Event { id: None, name: "message".into(), data: String::new() };
            let mut data = Vec::new();
            for line in block.lines() {
                let (field, value) = line.split_once(':').map_or((line, ""), |(f, v)| (f, v.strip_prefix(' ').unwrap_or(v)));
                match field {
                    "id" => event.id = Some(value.to_owned()),
                    "event" => event.name = value.to_owned(),
                    "data" => data.push(value),
                    "retry" => self.retry_ms = value.parse().ok(),
                    _ => {}
                }
            }
            if !data.is_empty() {
                event.data = data.join("\n");
                events.push(event);
            }
        }
        events
    }
}

/// An open event stream over a blocking socket.
pub struct Stream {
    reader: BufReader<TcpStream>,
    parser: Parser,
    queued: std::collections::VecDeque<Event>,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body when the answer was not a stream (a problem), read whole.
    pub body: String,
}

impl Stream {
    /// `GET path` on `addr` with `headers`; the head is read, the body left to [`Stream::next`]
    /// unless the answer is not `text/event-stream`.
    pub fn open(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> std::io::Result<Stream> {
        let mut socket = TcpStream::connect(addr)?;
        socket.set_nodelay(true)?;
        let mut request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        socket.write_all(request.as_bytes())?;
        socket.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut reader = BufReader::new(socket);
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
        let mut stream =
            Stream { reader, parser: Parser::default(), queued: Default::default(), status, headers: head, body: String::new() };
        if stream.header("content-type") != Some("text/event-stream") {
            stream.body = match stream.header("content-length").and_then(|l| l.parse().ok()) {
                Some(length) => {
                    let mut body = vec![0; length];
                    stream.reader.read_exact(&mut body)?;
                    String::from_utf8_lossy(&body).into_owned()
                }
                // Chunked: decoded by the parser, which finds no events in a JSON body.
                None => {
                    while stream.next_until(Instant::now() + Duration::from_secs(10)).is_some() {}
                    std::mem::take(&mut stream.parser.text)
                }
            };
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
            if self.parser.ended {
                return None;
            }
            let left = deadline.checked_duration_since(Instant::now()).filter(|d| !d.is_zero())?;
            self.reader.get_ref().set_read_timeout(Some(left)).ok()?;
            let mut buf = [0u8; 16 * 1024];
            match self.reader.read(&mut buf) {
                Ok(0) => {
                    self.parser.ended = true;
                    return None;
                }
                Ok(n) => self.queued.extend(self.parser.feed(&buf[..n])),
                Err(_) => return None,
            }
        }
    }

    /// The next event of kind `name` before `deadline`, skipping others.
    pub fn next_named(&mut self, name: &str, deadline: Instant) -> Option<Event> {
        loop {
            let event = self.next_until(deadline)?;
            if event.name == name {
                return Some(event);
            }
        }
    }

    /// The body ended with its last chunk.
    pub fn ended(&self) -> bool {
        self.parser.ended
    }

    /// The last `retry:` the server sent.
    pub fn retry_ms(&self) -> Option<u64> {
        self.parser.retry_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_events_split_anywhere() {
        let body = "retry: 1500\n\nid: 3\nevent: danmaku\ndata: {\"a\":1}\n\n: comment\n\nevent: end\ndata: {}\n\n";
        let mut chunked = Vec::new();
        for piece in body.as_bytes().chunks(7) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let mut parser = Parser::default();
        let events: Vec<Event> = chunked.chunks(5).flat_map(|bytes| parser.feed(bytes)).collect();
        assert_eq!(parser.retry_ms, Some(1500));
        assert!(parser.ended);
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].id.as_deref(), events[0].name.as_str(), events[0].json()["a"].as_u64()), (Some("3"), "danmaku", Some(1)));
        assert_eq!(events[1].name, "end");
    }
}
