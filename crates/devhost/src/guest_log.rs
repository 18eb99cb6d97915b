//! Guest stdout and stderr, forwarded line by line to devhost's stdout as the guest writes,
//! each line prefixed with the component id (as `spin up` shows component output). A line
//! reaches the log before the request's own log line, which is printed once the guest has
//! answered.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// The longest line kept whole; longer output is cut into lines of this size.
const MAX_LINE: usize = 16 * 1024;

/// One instance's output stream (stdout and stderr share it).
#[derive(Clone)]
pub(crate) struct GuestLog(Arc<Inner>);

struct Inner {
    component: String,
    partial: Mutex<Vec<u8>>,
}

impl GuestLog {
    /// Output of one instance of `component`.
    pub(crate) fn new(component: &str) -> Self {
        GuestLog(Arc::new(Inner { component: component.to_owned(), partial: Mutex::new(Vec::new()) }))
    }
}

impl Inner {
    fn write(&self, bytes: &[u8]) {
        let mut partial = self.partial.lock().unwrap_or_else(|e| e.into_inner());
        partial.extend_from_slice(bytes);
        let mut out = std::io::stdout().lock();
        loop {
            let cut = match partial.iter().position(|&b| b == b'\n') {
                Some(newline) => newline + 1,
                None if partial.len() >= MAX_LINE => MAX_LINE,
                None => break,
            };
            let line: Vec<u8> = partial.drain(..cut).collect();
            let text = String::from_utf8_lossy(&line);
            // A closed stdout leaves nothing to tell; the guest must not fail for it.
            let _ = writeln!(out, "[{}] {}", self.component, text.trim_end_matches(['\n', '\r']));
        }
        let _ = out.flush();
    }
}

impl Drop for Inner {
    /// The last line, when the guest did not end it with a newline.
    fn drop(&mut self) {
        let partial = self.partial.get_mut().unwrap_or_else(|e| e.into_inner());
        if !partial.is_empty() {
            let text = String::from_utf8_lossy(partial);
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "[{}] {text}", self.component);
            let _ = out.flush();
        }
    }
}

impl AsyncWrite for GuestLog {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.0.write(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}
