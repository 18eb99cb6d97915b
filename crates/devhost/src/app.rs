//! A loaded application: compiled components, backends, routes, and the per-request call that
//! gives every request a fresh instance from a pre-linked component in a pooling allocator.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::{WasiBody, WasiHttpView};

pub(crate) use crate::config::{ComponentConfig, Limits};
use crate::guest_log::GuestLog;
use crate::host::key_value::KvStore;
use crate::host::redis::RedisPool;
use crate::host::sqlite::SqliteFile;
use crate::host::{self, Backends, Chain, HostCalls, HostState};
use crate::manifest::{DirMount, FilesMount, Manifest};
use crate::outbound::OutboundPolicy;
use crate::routes::{RouteMatch, RouteTable};
use crate::runtime_config::{KvBackend, RuntimeConfig};
use crate::variables::Values;

/// How often the epoch ticks: a guest running on the CPU yields this often.
const EPOCH_TICK: Duration = Duration::from_millis(10);

struct LoadedComponent {
    config: Arc<ComponentConfig>,
    pre: ProxyPre<HostState>,
}

/// The running application, shared by every request.
pub(crate) struct App {
    engine: Engine,
    components: HashMap<String, LoadedComponent>,
    /// The route table.
    pub routes: RouteTable,
    /// The stores, databases and connections every instance shares.
    backends: Arc<Backends>,
    /// Request limits.
    pub limits: Limits,
}

/// One answered request, for its log line.
pub(crate) struct Served {
    /// The answer.
    pub response: Response<Body>,
    /// The component that answered, or `None` when the runtime did (reserved paths, no route).
    pub component: Option<String>,
    /// The host calls the component made.
    pub calls: Arc<HostCalls>,
}

impl Served {
    fn by_runtime(response: Response<Body>) -> Self {
        Served { response, component: None, calls: Arc::default() }
    }
}

/// The response body type of every answer.
pub(crate) type Body = WasiBody;

/// A complete body from bytes.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed_unsync()
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(full(text.to_owned()));
    *response.status_mut() = status;
    if !text.is_empty() {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    }
    response
}

impl App {
    /// Loads the manifest, checks it against the runtime config and variables (from `env`),
    /// and compiles every component.
    pub(crate) fn load(
        manifest: &Manifest,
        runtime_config: &RuntimeConfig,
        env: impl Fn(&str) -> Option<String>,
        limits: Limits,
    ) -> Result<Self> {
        if manifest.base != "/" {
            bail!("[application.trigger.http] base = {:?} is not supported (as in Spin 3): prepend the base to each route", manifest.base);
        }
        let values = Values::resolve(&manifest.variables, env)?;
        let component_variables = values.components(manifest)?;
        let routes = RouteTable::build(manifest.triggers.iter().filter_map(|t| Some((t.route.as_deref()?, t.component.as_str()))))?;
        if !routes.duplicates.is_empty() {
            eprintln!("error: The following component routes are duplicates and will never be used:");
            for (replaced, effective, route) in &routes.duplicates {
                eprintln!("error:   {replaced}: {route} (duplicate of {effective})");
            }
        }
        if routes.has_reserved_route() {
            eprintln!("error: Routes under /.well-known/spin/ are handled by the Spin runtime and will never be reached");
        }

        let engine = engine(&limits)?;
        let linker = host::linker(&engine)?;
        let mut components = HashMap::new();
        for (id, decl) in &manifest.components {
            for label in &decl.key_value_stores {
                if !runtime_config.key_value_stores.contains_key(label) {
                    bail!("unknown key_value_stores label {label:?} for component {id:?}: define it in the runtime config");
                }
            }
            for label in &decl.sqlite_databases {
                if !runtime_config.sqlite_databases.contains_key(label) {
                    bail!("component {id} uses SQLite database {label:?}, which is not defined in the runtime config");
                }
            }
            let mut hosts = Vec::new();
            for entry in &decl.allowed_outbound_hosts {
                match values.expand(entry) {
                    Ok(host) => hosts.push(host),
                    Err(e) => eprintln!("warning: component {id}: allowed_outbound_hosts entry skipped: {e}"),
                }
            }
            let outbound = OutboundPolicy::parse(&hosts).with_context(|| format!("component {id:?}"))?;
            let config = Arc::new(ComponentConfig {
                id: id.clone(),
                key_value_stores: decl.key_value_stores.iter().cloned().collect(),
                sqlite_databases: decl.sqlite_databases.iter().cloned().collect(),
                variables: component_variables[id].clone(),
                outbound,
                environment: decl.environment.clone(),
                files: resolve_files(id, &decl.files, &manifest.dir)?,
            });
            let path = manifest.dir.join(&decl.source);
            let component = crate::componentize::load(&engine, &path)
                .with_context(|| format!("cannot load component {id:?} from {} (did you run the build?)", path.display()))?;
            let pre = ProxyPre::new(linker.instantiate_pre(&component)?)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("component {id:?} does not export wasi:http/incoming-handler"))?;
            components.insert(id.clone(), LoadedComponent { config, pre });
        }

        let mut kv_stores = BTreeMap::new();
        let mut files: HashMap<Option<std::path::PathBuf>, SqliteFile> = HashMap::new();
        let mut file_for = |path: &Option<std::path::PathBuf>| -> Result<SqliteFile> {
            if path.is_some() {
                if let Some(file) = files.get(path) {
                    return Ok(file.clone());
                }
            }
            let file = SqliteFile::open(path.as_deref().map(Path::new))?;
            files.insert(path.clone(), file.clone());
            Ok(file)
        };
        for (label, backend) in &runtime_config.key_value_stores {
            let store = match backend {
                KvBackend::Sqlite(path) => KvStore::sqlite(file_for(path)?, label)?,
                KvBackend::Redis(url) => KvStore::Redis { url: url.clone() },
            };
            kv_stores.insert(label.clone(), Arc::new(store));
        }
        let mut sqlite_databases = BTreeMap::new();
        for (label, path) in &runtime_config.sqlite_databases {
            sqlite_databases.insert(label.clone(), file_for(path)?);
        }

        std::thread::spawn({
            let engine = engine.clone();
            move || loop {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        });
        let backends = Arc::new(Backends { kv_stores, sqlite_databases, redis: RedisPool::default() });
        Ok(App { engine, components, routes, backends, limits })
    }

    /// Whether a component with this id exists.
    pub(crate) fn has_component(&self, id: &str) -> bool {
        self.components.contains_key(id)
    }

    /// Answers one request from a client: Spin's reserved paths, routing, limits, headers, then
    /// the component. Never fails: errors become 4xx/5xx answers for this request only.
    pub(crate) async fn serve(self: &Arc<Self>, request: Request<Body>, client: SocketAddr) -> Served {
        let path = request.uri().path().to_owned();
        match path.as_str() {
            "/.well-known/spin/health" => return Served::by_runtime(plain(StatusCode::OK, "OK")),
            "/.well-known/spin/info" => {
                let info = serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "runtime": "devhost" });
                let mut response = Response::new(full(info.to_string()));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                return Served::by_runtime(response);
            }
            p if p.starts_with("/.well-known/spin/") => return Served::by_runtime(plain(StatusCode::NOT_FOUND, "")),
            _ => {}
        }
        let Some(matched) = self.routes.find(&path) else {
            return Served::by_runtime(plain(StatusCode::NOT_FOUND, ""));
        };
        let declared = request.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.limits.max_body_bytes) {
            let text = format!("request body is larger than {} bytes", self.limits.max_body_bytes);
            return Served {
                response: plain(StatusCode::PAYLOAD_TOO_LARGE, &text),
                component: Some(matched.component),
                calls: Arc::default(),
            };
        }
        let request = self.prepare(request, &matched, client);
        let component = matched.component.clone();
        let calls = Arc::new(HostCalls::default());
        let response = match self.call(&component, request, calls.clone()).await {
            Ok(response) => response,
            Err(error) => {
                eprintln!("[{component}] error: {error:#}");
                let status = if error.is::<Busy>() { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::INTERNAL_SERVER_ERROR };
                plain(status, status.canonical_reason().unwrap_or(""))
            }
        };
        Served { response, component: Some(component), calls }
    }

    /// Adds the `spin-*` headers (appended after any a client sent, as Spin does), limits the
    /// body and makes the URI absolute.
    fn prepare(&self, request: Request<Body>, matched: &RouteMatch, client: SocketAddr) -> Request<Body> {
        let (mut parts, body) = request.into_parts();
        let host =
            parts.headers.get(http::header::HOST).and_then(|h| h.to_str().ok()).map(str::to_owned).unwrap_or_else(|| "localhost".into());
        let path_and_query = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
        let full_url = format!("http://{host}{path_and_query}");
        if let Ok(uri) = full_url.parse() {
            parts.uri = uri;
        }
        let mut add = |name: &str, value: &str| {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                parts.headers.append(name, value);
            }
        };
        add("spin-full-url", &full_url);
        add("spin-path-info", &matched.path_info);
        add("spin-matched-route", &matched.matched_route);
        add("spin-base-path", "/");
        add("spin-raw-component-route", &matched.raw_route);
        add("spin-component-route", &matched.component_route);
        add("spin-client-addr", &client.to_string());
        for (name, value) in &matched.params {
            add(&format!("spin-path-match-{}", name.replace('_', "-").to_ascii_lowercase()), value);
        }
        let limit = self.limits.max_body_bytes;
        let body = http_body_util::Limited::new(body, limit as usize)
            .map_err(move |_| wasmtime_wasi_http::Error::HttpRequestBodySize(Some(limit)))
            .boxed_unsync();
        Request::from_parts(parts, body)
    }

    /// Runs `component` on `request` in a fresh instance. The head (status and headers) must
    /// come within the request timeout; the instance then lives until its body is done, at most
    /// the stream timeout. The host calls it makes are counted in `calls`.
    pub(crate) async fn call(self: &Arc<Self>, component: &str, request: Request<Body>, calls: Arc<HostCalls>) -> Result<Response<Body>> {
        let loaded = self.components.get(component).ok_or_else(|| anyhow!("no component {component:?}"))?;
        let chain: Arc<dyn Chain> = self.clone();
        let state = HostState::new(self.backends.clone(), chain, loaded.config.clone(), GuestLog::new(component), calls)?;
        let mut store = Store::new(&self.engine, state);
        // A guest busy on the CPU yields at every epoch tick, so the timeouts below can end it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let proxy = loaded.pre.instantiate_async(&mut store).await.map_err(|e| {
            if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
                anyhow::Error::new(Busy)
            } else {
                anyhow::Error::from(e)
            }
        })?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let incoming = store.data_mut().http().new_incoming_request(Scheme::Http, request)?;
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let (timeout, lifetime) = (self.limits.timeout, self.limits.stream_timeout);
        let task = tokio::spawn(async move {
            let run = proxy.wasi_http_incoming_handler().call_handle(&mut store, incoming, outparam);
            let result = match tokio::time::timeout(lifetime, run).await {
                Ok(result) => result.map_err(anyhow::Error::from),
                Err(_) => Err(anyhow!("request still running after {lifetime:?} (--stream-timeout-secs)")),
            };
            drop(store);
            result
        });
        match tokio::time::timeout(timeout, receiver).await {
            Ok(Ok(Ok(response))) => {
                // The body streams on; a failure from here on can only be logged, as Spin does.
                let component = component.to_owned();
                tokio::spawn(async move {
                    if let Ok(Err(error)) = task.await {
                        eprintln!("[{component}] error after the response started: {error:#}");
                    }
                });
                Ok(response)
            }
            Ok(Ok(Err(code))) => bail!("component answered with error code {code:?}"),
            Ok(Err(_)) => match task.await {
                Ok(Ok(())) => bail!("component returned without setting a response"),
                Ok(Err(e)) => Err(e.context("component trapped")),
                Err(e) => Err(anyhow!(e).context("component task failed")),
            },
            Err(_) => {
                task.abort();
                bail!("no response within {timeout:?} (--timeout-secs)")
            }
        }
    }
}

/// Checks that every `files` entry of component `id` is a readable host directory and returns
/// the mounts with absolute host paths.
fn resolve_files(id: &str, files: &[FilesMount], manifest_dir: &Path) -> Result<Vec<DirMount>> {
    let mut mounts = Vec::new();
    for entry in files {
        let mount = entry.plan().with_context(|| format!("component {id:?}"))?;
        let host = manifest_dir.join(&mount.source);
        let shown = host.display();
        let host = std::fs::canonicalize(&host)
            .with_context(|| format!("component {id:?}: files source {shown} does not exist or cannot be read"))?;
        if !host.is_dir() {
            bail!(
                "component {id:?}: files source {shown} is a file; devhost mounts only directories \
                 (mount the directory holding it with {{ source = \"dir\", destination = \"/\" }})"
            );
        }
        std::fs::read_dir(&host).with_context(|| format!("component {id:?}: files source {shown} cannot be read"))?;
        mounts.push(DirMount { source: host, guest_path: mount.guest_path });
    }
    Ok(mounts)
}

/// Every pooled instance slot is in use.
#[derive(Debug)]
struct Busy;

impl Chain for App {
    fn has_component(&self, id: &str) -> bool {
        App::has_component(self, id)
    }

    fn call_component(self: Arc<Self>, id: String, request: Request<Body>) -> host::ChainFuture {
        Box::pin(async move { self.call(&id, request, Arc::default()).await })
    }
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("all instance slots are busy; raise --max-instances or retry")
    }
}

impl std::error::Error for Busy {}

fn engine(limits: &Limits) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true).epoch_interruption(true);
    let n = limits.max_instances;
    let mut pool = PoolingAllocationConfig::default();
    // A Rust component is a few core instances (program, WASI adapter shims), each with
    // tables; one or two memories. Memory grows up to 256 MiB per instance.
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 8)
        // Async stacks come from the pool too (1000 unless set), one per live instance.
        .total_stacks(n)
        .max_memory_size(256 << 20);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // Compiled code is cached on disk, so a restart with unchanged components is fast.
    if let Ok(cache) = wasmtime::Cache::from_file(None) {
        config.cache(Some(cache));
    }
    Ok(Engine::new(&config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_sources_must_be_existing_directories() {
        let dir = std::env::temp_dir().join(format!("devhost-files-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("web")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>hi</p>").unwrap();
        let table = |source: &str| FilesMount::Placement { source: source.into(), destination: "/".into() };

        let mounts = resolve_files("site", &[table("web"), FilesMount::Pattern("web".into())], &dir).unwrap();
        assert_eq!(mounts[0].source, std::fs::canonicalize(dir.join("web")).unwrap());
        assert_eq!((mounts[0].guest_path.as_str(), mounts[1].guest_path.as_str()), ("/", "/web"));

        let missing = format!("{:#}", resolve_files("site", &[table("nope")], &dir).unwrap_err());
        assert!(missing.contains("\"site\"") && missing.contains(&dir.join("nope").display().to_string()), "{missing}");
        let file = format!("{:#}", resolve_files("site", &[FilesMount::Pattern("index.html".into())], &dir).unwrap_err());
        assert!(file.contains("\"site\"") && file.contains("is a file"), "{file}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
