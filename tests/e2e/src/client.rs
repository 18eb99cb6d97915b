//! A small blocking HTTP client for the tests: requests with headers and bodies, and replies
//! with status, headers, cookies and JSON.

use crate::*;

/// A request to any URL (for example a presigned store URL).
pub fn http(method: &str, url: &str) -> Req {
    Req { url: url.to_owned(), method: method.to_owned(), headers: Vec::new() }
}

/// A request being built.
pub struct Req {
    url: String,
    method: String,
    headers: Vec<(String, String)>,
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header pairs, names lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value of the cookie `name` that this answer sets (`Set-Cookie`).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(&format!("{name}="))?.split(';').next().map(str::to_owned))
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub(crate) fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        // No connection reuse: a server may close a connection after answering early (413
        // before reading the body), and a test must not fail on another test's connection.
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections(0)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into()
    })
}

impl Req {
    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends with an optional body; a transport error (such as a server closing the
    /// connection before reading the body) is `Err`.
    pub fn try_send(self, body: Option<&[u8]>) -> Result<Reply, String> {
        let mut builder = http::Request::builder().method(self.method.as_str()).uri(&self.url);
        for (k, v) in &self.headers {
            builder = builder.header(k, v);
        }
        let request = builder.body(body.map(<[u8]>::to_vec).unwrap_or_default()).map_err(|e| e.to_string())?;
        let mut response = agent().run(request).map_err(|e| e.to_string())?;
        let headers = response.headers().iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
        let status = response.status().as_u16();
        let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap_or_default();
        Ok(Reply { status, headers, body })
    }

    /// Sends with an optional body.
    pub fn send(self, body: Option<&[u8]>) -> Reply {
        let what = format!("{} {}", self.method, self.url);
        self.try_send(body).unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    /// Sends a JSON body.
    pub fn json(self, value: &Value) -> Reply {
        self.header("content-type", "application/json").send(Some(value.to_string().as_bytes()))
    }
}

/// The `(name, value)` pairs of a form upload's `fields` (`[[name, value], …]`), in order.
pub fn form_fields(fields: &Value) -> Vec<(String, String)> {
    fields.as_array().unwrap().iter().map(|p| (p[0].as_str().unwrap().to_owned(), p[1].as_str().unwrap().to_owned())).collect()
}

/// Posts a store form upload to `url`: `fields` in order, then `file` as the last field, as
/// `multipart/form-data` (the store reads the policy's fields before the file).
pub fn post_form(url: &str, fields: &[(String, String)], file: &[u8]) -> Reply {
    let boundary = "e2e-boundary-7d3f";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend(file);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    http("POST", url).header("content-type", &format!("multipart/form-data; boundary={boundary}")).send(Some(&body))
}
