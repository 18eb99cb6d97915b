//! `devhost build`: runs each component's `[component.X.build] command`, as `spin build` does.

use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::manifest::Manifest;

/// Runs the build commands of `only` (or of every component) in manifest order.
pub(crate) fn build(manifest: &Manifest, only: &[String]) -> Result<()> {
    for id in only {
        if !manifest.components.contains_key(id) {
            bail!("no component {id:?} in the manifest");
        }
    }
    for (id, component) in &manifest.components {
        if !only.is_empty() && !only.contains(id) {
            continue;
        }
        let Some(build) = &component.build else {
            println!("{id}: no build command");
            continue;
        };
        let dir = manifest.dir.join(build.workdir.as_deref().unwrap_or(std::path::Path::new(".")));
        println!("Building component {id} with `{}`", build.command);
        let status = Command::new("sh")
            .arg("-c")
            .arg(&build.command)
            .current_dir(&dir)
            .status()
            .with_context(|| format!("cannot run the build command of {id}"))?;
        if !status.success() {
            bail!("build command of component {id} failed ({status})");
        }
    }
    println!("Finished building all Spin components");
    Ok(())
}
