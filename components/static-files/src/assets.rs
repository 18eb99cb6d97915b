//! Pure rules for serving files: which file a URL path names, and the headers it is served with.

use edge_http::Problem;

/// The file a URL path names under the mount root `/`: `index.html` for a directory path.
/// Anything that could step outside the mount or hide a name (`..`, `.` files, backslashes,
/// percent escapes, control characters) is a 404, the same answer as a missing file, so
/// probing learns nothing.
pub(crate) fn resolve(path: &str) -> Result<String, Problem> {
    let relative = path.trim_start_matches('/');
    let clean = relative.split('/').all(|segment| !segment.starts_with('.'))
        && !relative.contains(['\\', '%', '\0'])
        && !relative.contains("//")
        && !relative.chars().any(char::is_control);
    if !clean {
        return Err(not_found(path));
    }
    Ok(if relative.is_empty() || relative.ends_with('/') { format!("/{relative}index.html") } else { format!("/{relative}") })
}

/// The one answer for a path that names no file.
pub(crate) fn not_found(path: &str) -> Problem {
    Problem::not_found("not-found", format!("there is no page at {path}"))
}

/// A file about to be served.
pub(crate) struct Asset {
    media_type: &'static str,
    etag: String,
    csp: Option<String>,
}

impl Asset {
    /// Describes the file at `path` holding `bytes`; a page (see [`is_page`]) gets a content
    /// security policy that also allows `s3_endpoint`, where its uploads and videos go.
    pub(crate) fn new(path: &str, bytes: &[u8], s3_endpoint: Option<&str>) -> Self {
        let media_type = media_type(path);
        let csp = s3_endpoint.filter(|_| is_page(path)).map(|store| content_security_policy(&origin(store)));
        Asset { media_type, etag: format!("\"{:x}-{:016x}\"", bytes.len(), fnv1a(bytes)), csp }
    }

    /// Whether an `If-None-Match` value names this version.
    pub(crate) fn matches(&self, if_none_match: &str) -> bool {
        if_none_match.split(',').map(|tag| tag.trim().trim_start_matches("W/")).any(|tag| tag == "*" || tag == self.etag)
    }

    /// Response headers. Files keep their names across releases, so browsers revalidate every
    /// use (`no-cache`) and the ETag turns that into a `304` when nothing changed.
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("content-type", self.media_type.to_owned()),
            ("etag", self.etag.clone()),
            ("cache-control", "no-cache".to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
            ("referrer-policy", "same-origin".to_owned()),
        ];
        if let Some(csp) = &self.csp {
            headers.push(("content-security-policy", csp.clone()));
            headers.push(("x-frame-options", "DENY".to_owned()));
        }
        headers
    }
}

/// Whether the file is an HTML page (which gets a content security policy).
pub(crate) fn is_page(path: &str) -> bool {
    media_type(path).starts_with("text/html")
}

/// The media type for a file name's extension; unknown ones are opaque bytes.
pub(crate) fn media_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("wasm") => "application/wasm",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("ts") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// `scheme://host[:port]` of a URL, or nothing when it is not one.
fn origin(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return String::new() };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || !authority.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c)) {
        return String::new();
    }
    format!("{scheme}://{authority}")
}

/// Scripts only from this origin (plus compiling the SDK's WebAssembly), and network access only
/// to this origin and the object store, where parts are uploaded and videos played from.
fn content_security_policy(store: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; \
         img-src 'self' data: blob: {store}; media-src 'self' blob: {store}; connect-src 'self' {store}; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// FNV-1a, 64 bit: a cheap, stable fingerprint for the ETag (not a security boundary).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_files_under_the_mount() {
        assert_eq!(resolve("/").unwrap(), "/index.html");
        assert_eq!(resolve("/sdk/").unwrap(), "/sdk/index.html");
        assert_eq!(resolve("/sdk/video_edge_sdk.js").unwrap(), "/sdk/video_edge_sdk.js");
    }

    #[test]
    fn escapes_and_hidden_names_are_not_found() {
        for path in ["/../etc/passwd", "/sdk/../../x", "/.env", "/a/.git/config", "/%2e%2e/x", "/a\\b", "/a//b", "/a\u{7}"] {
            let problem = resolve(path).unwrap_err();
            assert_eq!(problem.status(), 404, "{path}");
        }
    }

    #[test]
    fn media_types_follow_the_extension() {
        assert_eq!(media_type("/index.html"), "text/html; charset=utf-8");
        assert_eq!(media_type("/sdk/video_edge_sdk_bg.wasm"), "application/wasm");
        assert_eq!(media_type("/app.JS"), "text/javascript; charset=utf-8");
        assert_eq!(media_type("/LICENSE"), "application/octet-stream");
    }

    #[test]
    fn etags_change_with_content_and_match_if_none_match() {
        let a = Asset::new("/app.js", b"one", None);
        let b = Asset::new("/app.js", b"two", None);
        assert_ne!(a.etag, b.etag);
        assert!(a.matches(&a.etag));
        assert!(a.matches(&format!("\"x\", W/{}", a.etag)));
        assert!(a.matches("*"));
        assert!(!a.matches(&b.etag));
    }

    #[test]
    fn only_pages_carry_a_policy_naming_the_store() {
        let page = Asset::new("/index.html", b"<p>", Some("http://127.0.0.1:9000/"));
        let csp = page.headers().into_iter().find(|(n, _)| *n == "content-security-policy").unwrap().1;
        assert!(csp.contains("connect-src 'self' http://127.0.0.1:9000;"), "{csp}");
        assert!(csp.contains("media-src 'self' blob: http://127.0.0.1:9000;"), "{csp}");
        assert!(Asset::new("/app.js", b"x", Some("http://127.0.0.1:9000")).headers().iter().all(|(n, _)| *n != "content-security-policy"));
        assert_eq!(origin("https://s3.example/bucket"), "https://s3.example");
        assert_eq!(origin("http://evil;script-src *"), "");
    }
}
