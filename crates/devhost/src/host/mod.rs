//! What one request's instance sees: WASI, wasi:http with Spin's outbound rules, and Spin's
//! key-value, Redis, variables and SQLite interfaces (generated from the top-level `wit/`).

pub(crate) mod key_value;
pub(crate) mod outbound_http;
pub(crate) mod redis;
pub(crate) mod sqlite;
pub(crate) mod variables;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::config::ComponentConfig;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "devhost:host/host",
    imports: { default: async | trappable },
    with: {
        "fermyon:spin/key-value.store": key_value::OpenStore,
        "fermyon:spin/redis.connection": redis::OpenConnection,
        "fermyon:spin/sqlite.connection": sqlite::OpenDatabase,
    },
});

use fermyon::spin as spin_interfaces;

/// The stores, databases and connections every instance of the app shares.
pub(crate) struct Backends {
    /// Key-value stores by label.
    pub kv_stores: BTreeMap<String, Arc<key_value::KvStore>>,
    /// SQLite databases by label.
    pub sqlite_databases: BTreeMap<String, sqlite::SqliteFile>,
    /// Shared Redis connections.
    pub redis: redis::RedisPool,
}

/// The answer of [`Chain::call_component`].
pub(crate) type ChainFuture = Pin<Box<dyn Future<Output = anyhow::Result<http::Response<wasmtime_wasi_http::WasiBody>>> + Send>>;

/// Runs another component of the app for `http://<component>.spin.internal` (the app
/// implements it; the host side only needs this much of it).
pub(crate) trait Chain: Send + Sync {
    /// Whether the app has a component with this id.
    fn has_component(&self, id: &str) -> bool;
    /// Serves `request` with component `id` in a fresh instance.
    fn call_component(self: Arc<Self>, id: String, request: http::Request<wasmtime_wasi_http::WasiBody>) -> ChainFuture;
}

/// The store data of one component instance, alive for one request.
pub(crate) struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    outbound: outbound_http::OutboundHooks,
    /// The backends the app shares.
    pub backends: Arc<Backends>,
    /// The component this instance runs.
    pub component: Arc<ComponentConfig>,
    /// Stores, connections and databases the guest holds open.
    open_resources: usize,
    /// The Spin host calls this request has made.
    pub calls: Arc<HostCalls>,
}

/// The Spin host calls one request made, by interface function, for its log line. On Spin each
/// of these is a blocking call into the host, so they are what an endpoint costs beyond its
/// own code (see the README's per-endpoint table).
#[derive(Debug, Default)]
pub(crate) struct HostCalls(std::sync::Mutex<Counts>);

#[derive(Debug, Default)]
struct Counts {
    calls: Vec<(&'static str, u32)>,
    variables: Vec<String>,
    repeated: Vec<String>,
}

impl HostCalls {
    /// Counts one call of `function` (`redis.execute`, ...).
    pub(crate) fn record(&self, function: &'static str) {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match counts.calls.iter_mut().find(|(name, _)| *name == function) {
            Some((_, n)) => *n += 1,
            None => counts.calls.push((function, 1)),
        }
    }

    /// Counts one `variables.get` of `name`, noting a variable read twice in one request.
    pub(crate) fn record_variable(&self, name: &str) {
        self.record("variables.get");
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if counts.variables.iter().any(|v| v == name) {
            if !counts.repeated.iter().any(|v| v == name) {
                counts.repeated.push(name.to_owned());
            }
        } else {
            counts.variables.push(name.to_owned());
        }
    }

    /// `variables.get:2,redis.open:1` in first-call order (`-` for none), then
    /// `,read-twice:name` for each variable read more than once.
    pub(crate) fn summary(&self) -> String {
        let counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if counts.calls.is_empty() {
            return "-".into();
        }
        let calls = counts.calls.iter().map(|(name, n)| format!("{name}:{n}"));
        let repeated = counts.repeated.iter().map(|v| format!("read-twice:{v}"));
        calls.chain(repeated).collect::<Vec<_>>().join(",")
    }
}

impl HostState {
    /// Fresh state for one request to `component`; guest output goes to `output`. Fails only
    /// when a `files` directory (checked at startup) can no longer be opened.
    pub(crate) fn new(
        backends: Arc<Backends>,
        chain: Arc<dyn Chain>,
        component: Arc<ComponentConfig>,
        output: crate::guest_log::GuestLog,
        calls: Arc<HostCalls>,
    ) -> anyhow::Result<Self> {
        let mut wasi = WasiCtx::builder();
        wasi.stdout(output.clone()).stderr(output);
        for (key, value) in &component.environment {
            wasi.env(key, value);
        }
        for mount in &component.files {
            wasi.preopened_dir(&mount.source, &mount.guest_path, FsPerms::ReadOnly)
                .map_err(|e| anyhow::Error::from(e).context(format!("cannot open files directory {}", mount.source.display())))?;
        }
        Ok(HostState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            outbound: outbound_http::OutboundHooks::new(chain, component.clone(), calls.clone()),
            backends,
            component,
            open_resources: 0,
            calls,
        })
    }

    fn table_ref(&self) -> &ResourceTable {
        &self.table
    }

    /// Hands the guest a store, connection or database, or `None` when it already holds
    /// [`MAX_OPEN_RESOURCES`] (Spin's cap; each interface reports it with its own error).
    fn open_resource<T: Send + 'static>(&mut self, value: T) -> wasmtime::Result<Option<Resource<T>>> {
        if self.open_resources >= MAX_OPEN_RESOURCES {
            return Ok(None);
        }
        self.open_resources += 1;
        Ok(Some(self.table.push(value)?))
    }

    /// Drops a resource handed out by [`HostState::open_resource`].
    fn close_resource<T: 'static>(&mut self, resource: Resource<T>) -> wasmtime::Result<()> {
        self.table.delete(resource)?;
        self.open_resources = self.open_resources.saturating_sub(1);
        Ok(())
    }
}

/// How many stores, connections and databases one instance may hold open, as in Spin.
const MAX_OPEN_RESOURCES: usize = 256;

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// A linker with every interface devhost provides.
pub(crate) fn linker(engine: &wasmtime::Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    Host_::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |state| state)?;
    Ok(linker)
}
