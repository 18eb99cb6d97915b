//! static-files: the demo page and the browser SDK, read from the files spin.toml mounts at
//! `/` (`files = [{ source = "web", destination = "/" }]`). Routes: one per page or folder, no
//! catch-all, so no API route can be shadowed by it under Spin's router.
//!
//! Which file a path names, its media type, its validator and its headers are [`assets`]; this
//! module only reads the file.

mod assets;

use edge_http::handler::{Answer, Headers, RequestMethod, RequestPath, Routes};
use edge_http::setting::Text;
use edge_http::{Problem, Request};
use http::{header, Method, StatusCode};

use crate::assets::Asset;

/// The object store's base URL, which a page's Content-Security-Policy lets the browser upload
/// to (the component's only setting; its default is in spin.toml).
const S3_ENDPOINT: Text = Text::new("s3_endpoint");

/// Requests carry no body worth reading.
pub const BODY_LIMIT: usize = 1024;

fn router() -> Routes<()> {
    Routes::new().on(Method::GET, "/*", serve_file)
}

edge_spin::export!(BODY_LIMIT, dispatch);

/// Answers one request (after [`edge_spin::serve`] has read it and set up the exchange).
pub async fn dispatch(request: Request) -> Answer {
    router().answer(&(), &request).await
}

/// `GET`/`HEAD` of the named file, `304` when the client's copy is current.
async fn serve_file(_: &(), RequestMethod(method): RequestMethod, RequestPath(path): RequestPath, Headers(headers): Headers) -> Answer {
    let file = assets::resolve(&path)?;
    let bytes = std::fs::read(&file).map_err(|_| assets::not_found(&path))?;
    // Only a page's policy names the store, so only a page reads the variable.
    let store = assets::is_page(&file).then(|| edge_spin::setting(&S3_ENDPOINT).unwrap_or_default());
    let asset = Asset::new(&file, &bytes, store.as_deref());
    let current = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|tags| asset.matches(tags));
    let mut response = http::Response::builder();
    for (name, value) in asset.headers() {
        response = response.header(name, value);
    }
    let (status, body) = match (current, method == Method::HEAD) {
        (true, _) => (StatusCode::NOT_MODIFIED, Vec::new()),
        (false, true) => (StatusCode::OK, Vec::new()),
        (false, false) => (StatusCode::OK, bytes),
    };
    response.status(status).body(body).map_err(|e| Problem::misconfigured(format!("bad response header: {e}")))
}
