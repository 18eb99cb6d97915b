//! Outgoing `wasi:http` requests: `allowed_outbound_hosts` enforced as Spin does, and
//! `http://<component>.spin.internal` served in-process by the named component.

use std::future::Future;
use std::sync::Arc;

use http::Request;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

use super::{Chain, HostCalls};
use crate::config::ComponentConfig;
use crate::outbound::default_port;

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;
type SendFuture = Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send>;

/// The hooks of one instance.
pub(crate) struct OutboundHooks {
    chain: Arc<dyn Chain>,
    component: Arc<ComponentConfig>,
    calls: Arc<HostCalls>,
}

impl OutboundHooks {
    /// Hooks for an instance of `component`.
    pub(crate) fn new(chain: Arc<dyn Chain>, component: Arc<ComponentConfig>, calls: Arc<HostCalls>) -> Self {
        OutboundHooks { chain, component, calls }
    }

    fn denied(&self, destination: &str) -> SendFuture {
        eprintln!("[{}] Outbound network destination not allowed: {destination} (add it to allowed_outbound_hosts)", self.component.id);
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

impl WasiHttpHooks for OutboundHooks {
    fn send_request(&mut self, request: Request<WasiBody>, options: Option<RequestOptions>, _fut: IoFuture) -> SendFuture {
        self.calls.record("http.send");
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("http").to_ascii_lowercase();
        let host = uri.host().unwrap_or("").to_ascii_lowercase();
        let destination = format!("{scheme}://{}", uri.authority().map(|a| a.as_str()).unwrap_or(""));
        if let Some(target) = host.strip_suffix(".spin.internal") {
            if !self.component.outbound.allows_component(target) {
                return self.denied(&destination);
            }
            if !self.chain.has_component(target) {
                return Box::new(async { Err(Error::DestinationNotFound) });
            }
            let (chain, target) = (self.chain.clone(), target.to_owned());
            return Box::new(async move {
                let mut request = request;
                request.headers_mut().remove(http::header::HOST);
                let response = chain.call_component(target.clone(), request).await.map_err(|e| {
                    eprintln!("[{target}] error: {e:#}");
                    Error::InternalError(Some(format!("component {target} failed")))
                })?;
                Ok((response, Box::new(async { Ok(()) }) as IoFuture))
            });
        }
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return self.denied(&destination);
        };
        if !self.component.outbound.allows(&scheme, &host, port) {
            return self.denied(&destination);
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as IoFuture))
        })
    }
}
