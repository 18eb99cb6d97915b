//! Outgoing HTTP: an `http::Request` sent through Spin, its answer read whole. spin-sdk's own
//! conversions fail with `anyhow` errors, which keep std's backtrace printer in the component
//! (about 40 KB), and its `http::Response` conversion panics (a trap) when the answer's body
//! breaks off; here both are plain errors the caller turns into a 503.

use spin_sdk::http::conversions::TryIntoOutgoingRequest;
use spin_sdk::http::{Headers, IncomingResponse, Method, OutgoingRequest, Scheme};

/// Why an outgoing request got no whole answer.
#[derive(Debug)]
pub struct SendError(String);

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SendError {}

/// Sends `request` and reads the whole answer.
pub async fn send(request: http::Request<Vec<u8>>) -> Result<http::Response<Vec<u8>>, SendError> {
    let response: IncomingResponse = spin_sdk::http::send(Outbound(request)).await.map_err(|e| SendError(e.to_string()))?;
    let mut answer = http::Response::builder().status(response.status());
    for (name, value) in response.headers().entries() {
        answer = answer.header(name, value);
    }
    let body = response.into_body().await.map_err(|e| SendError(format!("the answer broke off: {e:?}")))?;
    answer.body(body).map_err(|e| SendError(format!("an answer that is not HTTP: {e}")))
}

/// An `http::Request` as Spin's outgoing request; the body goes out after the head.
struct Outbound(http::Request<Vec<u8>>);

impl TryIntoOutgoingRequest for Outbound {
    type Error = SendError;

    fn try_into_outgoing_request(self) -> Result<(OutgoingRequest, Option<Vec<u8>>), SendError> {
        let (parts, body) = self.0.into_parts();
        let fields: Vec<(String, Vec<u8>)> =
            parts.headers.iter().map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec())).collect();
        let headers = Headers::from_list(&fields).map_err(|e| SendError(format!("headers Spin refuses: {e:?}")))?;
        let request = OutgoingRequest::new(headers);
        let refused = |what: &str| SendError(format!("Spin refuses the request's {what}"));
        request.set_method(&Method::from(parts.method)).map_err(|()| refused("method"))?;
        request.set_path_with_query(parts.uri.path_and_query().map(|p| p.as_str())).map_err(|()| refused("path"))?;
        let scheme = parts.uri.scheme_str().map(|s| match s {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => Scheme::Other(other.to_owned()),
        });
        request.set_scheme(scheme.as_ref()).map_err(|()| refused("scheme"))?;
        request.set_authority(parts.uri.authority().map(|a| a.as_str())).map_err(|()| refused("authority"))?;
        Ok((request, Some(body)))
    }
}
