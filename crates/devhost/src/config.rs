//! The application's configuration as the runtime resolved it: request limits and what each
//! component may use. Both the app and the host interfaces read it; neither owns it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::manifest::DirMount;
use crate::outbound::OutboundPolicy;

/// Limits applied to every request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body_bytes: u64,
    /// Longest a request may take to answer with its status and headers, CPU or waiting
    /// (500 beyond).
    pub timeout: Duration,
    /// Longest an instance may live, streaming its body included. Spin sets no limit on
    /// WASIp2 components; this one only stops a runaway guest, so a stream is bounded by the
    /// guest itself well before it.
    pub stream_timeout: Duration,
    /// Instances that may exist at once; more concurrent requests get 503. Spin's pool
    /// holds 1000 by default (`SPIN_MAX_INSTANCE_COUNT`).
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 10 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            stream_timeout: Duration::from_secs(600),
            max_instances: 1000,
        }
    }
}

/// What a component is allowed to use, resolved from the manifest.
#[derive(Debug)]
pub(crate) struct ComponentConfig {
    /// The component id.
    pub id: String,
    /// Key-value labels it may open.
    pub key_value_stores: BTreeSet<String>,
    /// SQLite labels it may open.
    pub sqlite_databases: BTreeSet<String>,
    /// Its variables, expanded.
    pub variables: BTreeMap<String, String>,
    /// Its outbound policy.
    pub outbound: OutboundPolicy,
    /// Guest environment variables.
    pub environment: BTreeMap<String, String>,
    /// Host directories preopened read-only in the guest (absolute host paths).
    pub files: Vec<DirMount>,
}
