//! static-files: the demo page and the browser SDK, read from the files spin.toml mounts at
//! `/` (`files = [{ source = "web", destination = "/" }]`). Routes: one per page or folder, no
//! catch-all, so no API route can be shadowed by it under Spin's router.
//!
//! Which file a path names, its media type, its validator and its headers are [`assets`]; this
//! module only reads the file.

mod assets;

use edge_http::{Problem, Request, Response};
use http::{header, Method, StatusCode};

use crate::assets::Asset;

/// Requests carry no body worth reading.
pub const BODY_LIMIT: usize = 1024;

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers `GET`/`HEAD` with the named file, `304` when the client's copy is current.
pub async fn dispatch(request: Request) -> Result<Response, Problem> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Err(Problem::method_not_allowed(&[Method::GET, Method::HEAD]));
    }
    let path = assets::resolve(request.uri().path())?;
    let bytes = std::fs::read(&path).map_err(|_| assets::not_found(request.uri().path()))?;
    // Only a page's policy names the store, so only a page reads the variable.
    let store = assets::is_page(&path).then(|| edge_spin::variable("s3_endpoint").unwrap_or_default());
    let asset = Asset::new(&path, &bytes, store.as_deref());
    let current = request.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|tags| asset.matches(tags));
    let mut response = http::Response::builder();
    for (name, value) in asset.headers() {
        response = response.header(name, value);
    }
    let (status, body) = match (current, request.method() == Method::HEAD) {
        (true, _) => (StatusCode::NOT_MODIFIED, Vec::new()),
        (false, true) => (StatusCode::OK, Vec::new()),
        (false, false) => (StatusCode::OK, bytes),
    };
    response.status(status).body(body).map_err(|e| Problem::misconfigured(format!("bad response header: {e}")))
}
