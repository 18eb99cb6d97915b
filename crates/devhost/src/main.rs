//! `devhost`: run a Spin application locally on wasmtime, with Spin's host APIs and semantics.
//!
//! `devhost up` is the local `spin up`; `devhost build` is `spin build`. Both read the same
//! `spin.toml` and `runtime-config.toml` as the Spin CLI. `devhost s3-cors` is a development
//! aid: CORS in front of a local S3 server that has none.

mod app;
mod build_cmd;
mod componentize;
mod config;
mod guest_log;
mod host;
mod ids;
mod manifest;
mod outbound;
mod routes;
mod runtime_config;
mod s3_cors;
mod server;
mod variables;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use crate::app::{App, Limits};
use crate::manifest::Manifest;
use crate::runtime_config::RuntimeConfig;

#[derive(Parser)]
#[command(name = "devhost", version, about = "Run a Spin application locally on wasmtime")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the application, like `spin up`.
    Up {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        listen: SocketAddr,
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
        /// Backends for key-value stores and SQLite databases.
        #[arg(long)]
        runtime_config_file: Option<PathBuf>,
        /// Where the default stores keep their files (default: `.spin` beside the manifest).
        #[arg(long)]
        state_dir: Option<PathBuf>,
        /// Largest request body accepted, in bytes.
        #[arg(long, default_value_t = Limits::default().max_body_bytes)]
        max_body_bytes: u64,
        /// Longest a request may take to send its status and headers, in seconds.
        #[arg(long, default_value_t = Limits::default().timeout.as_secs())]
        timeout_secs: u64,
        /// Longest an instance may live, a streamed body included, in seconds (Spin has no
        /// such limit; streams end themselves sooner).
        #[arg(long, default_value_t = Limits::default().stream_timeout.as_secs())]
        stream_timeout_secs: u64,
        /// Instances that may exist at once (concurrent requests beyond get 503).
        #[arg(long, default_value_t = Limits::default().max_instances)]
        max_instances: u32,
    },
    /// Run the build command of each component, like `spin build`.
    Build {
        /// The application manifest.
        #[arg(short = 'f', long = "from", default_value = "spin.toml")]
        manifest: PathBuf,
        /// Build only these components.
        #[arg(short = 'c', long = "component-id")]
        components: Vec<String>,
    },
    /// Proxy a local S3 server that lacks CORS, answering preflights and adding CORS headers
    /// (development only).
    S3Cors {
        /// Address to listen on (the S3 endpoint browsers and presigned URLs use).
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
        /// The S3 server, as host:port.
        #[arg(long)]
        upstream: String,
        /// An origin allowed to read answers (repeatable); without any, every origin is.
        #[arg(long = "origin")]
        origins: Vec<String>,
    },
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Build { manifest, components } => build_cmd::build(&Manifest::load(&manifest)?, &components),
        Command::S3Cors { listen, upstream, origins } => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                let listener = server::bind(listen).await?;
                let allowed = if origins.is_empty() { "any origin".to_owned() } else { origins.join(", ") };
                println!("s3-cors: http://{} -> http://{upstream} (CORS for {allowed})", listener.local_addr()?);
                s3_cors::run(listener, upstream, s3_cors::Origins::new(origins)).await
            })
        }
        Command::Up {
            listen,
            manifest,
            runtime_config_file,
            state_dir,
            max_body_bytes,
            timeout_secs,
            stream_timeout_secs,
            max_instances,
        } => {
            let manifest = Manifest::load(&manifest)?;
            let state_dir = state_dir.unwrap_or_else(|| manifest.dir.join(".spin"));
            let runtime_config = RuntimeConfig::load(&state_dir, runtime_config_file.as_deref())?;
            let limits = Limits {
                max_body_bytes,
                timeout: Duration::from_secs(timeout_secs),
                stream_timeout: Duration::from_secs(stream_timeout_secs.max(timeout_secs)),
                max_instances,
            };
            let app = Arc::new(App::load(&manifest, &runtime_config, |k| std::env::var(k).ok(), limits)?);
            raise_open_files_limit();
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(async move {
                let listener = server::bind(listen).await?;
                println!("Serving http://{}", listener.local_addr()?);
                print_routes(&manifest, listener.local_addr()?);
                server::serve(app, listener).await
            })
        }
    }
}

/// Raises the soft limit on open files to the hard one, as redis-server does: a held stream
/// takes two descriptors (the client's socket and its Redis connection), so a thousand
/// viewers pass the usual soft limit of 1024.
fn raise_open_files_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn print_routes(manifest: &Manifest, addr: SocketAddr) {
    println!("Available Routes:");
    for trigger in &manifest.triggers {
        if let Some(route) = &trigger.route {
            let (path, wildcard) = match route.strip_suffix("/...") {
                Some(prefix) => (prefix, " (wildcard)"),
                None => (route.as_str(), ""),
            };
            println!("  {}: http://{addr}{path}{wildcard}", trigger.component);
        }
    }
}
