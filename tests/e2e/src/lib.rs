//! The end-to-end harness: real services on free loopback ports, the real Spin CLI and the
//! real release `.wasm` components.
//!
//! - [`Services::shared`]: one Debian `redis-server` (append-only file, fsynced before each
//!   answer) and one signature-checking `s3s-fs` (with a `videos` bucket) per test binary;
//!   [`Services::isolated`] for a test of its own, which may also kill, pause and restart them.
//! - [`App::start`]: `spin up` serving a manifest with the services' addresses in its
//!   environment; stopped, with its child process, when dropped.
//! - [`build`]: `spin build` of every component once per test binary.
//!
//! Every child process gets SIGKILL when the test process exits, even on a panic or abort, so
//! nothing outlives a failed run.

mod app;
mod client;
mod fixtures;
mod process;
pub mod scripts;
mod services;
pub mod sse;
pub mod webdriver;

pub use app::*;
pub use client::*;
pub use fixtures::*;
pub use process::*;
pub use services::*;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use serde_json::{json, Value};

/// S3 credentials the local store accepts.
pub const S3_ACCESS_KEY: &str = "e2e-access-key";

/// S3 secret for [`S3_ACCESS_KEY`].
pub const S3_SECRET_KEY: &str = "e2e-secret-key-0123456789";

/// The bucket created in the local store.
pub const S3_BUCKET: &str = "videos";

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/`), where builds keep their output.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root().join("target"))
}

/// A loopback port nobody listens on right now, and never handed out before by this process:
/// tests start servers in parallel, and a port given to one must not be given to another before
/// the first binds it.
pub fn free_port() -> u16 {
    static ISSUED: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut issued = ISSUED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    loop {
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
        if issued.insert(port) {
            return port;
        }
    }
}
