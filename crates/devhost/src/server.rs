//! The HTTP/1.1 listener: one task per connection, one log line per request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::app::App;

/// The next connection, with Nagle off; accept failures (out of file descriptors and the like)
/// wait a moment rather than spin.
pub(crate) async fn accept(listener: &TcpListener) -> (tokio::net::TcpStream, std::net::SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, client)) => {
                let _ = stream.set_nodelay(true);
                return (stream, client);
            }
            Err(e) => {
                eprintln!("accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves `app` on `listener` until the process ends.
pub(crate) async fn serve(app: Arc<App>, listener: TcpListener) -> Result<()> {
    loop {
        let (stream, client) = accept(&listener).await;
        let app = app.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(app.clone(), request, client));
            // Errors here are the client's connection going away; nothing to answer.
            let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

async fn handle(
    app: Arc<App>,
    request: hyper::Request<hyper::body::Incoming>,
    client: SocketAddr,
) -> Result<hyper::Response<crate::app::Body>, std::convert::Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request = request.map(|body| body.map_err(wasmtime_wasi_http::Error::from).boxed_unsync());
    let served = app.serve(request, client).await;
    println!(
        "{method} {path} {} {} {:.2}ms host={}",
        served.response.status().as_u16(),
        served.component.as_deref().unwrap_or("-"),
        started.elapsed().as_secs_f64() * 1000.0,
        served.calls.summary()
    );
    Ok(served.response)
}

/// Binds `addr`, naming it in the error when the port is taken.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (is another server running?)"))
}
