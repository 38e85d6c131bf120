//! `cargo xtask new-project --ns NS`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::edit::{Edit, insert_before};
use crate::names::check_namespace;
use crate::workspace::Workspace;

/// The namespace of the template every project is copied from.
pub const TEMPLATE: &str = "template";

/// Copies the template crate pair to `ext-{ns}` and `ext-{ns}-migration`, adds them to the
/// workspace and registers the chain with the engine. Changes nothing if any step fails.
pub fn run(ws: &Workspace, ns: &str) -> Result<()> {
    check_namespace(ns)?;
    let known = ws.namespaces()?;
    if known.iter().any(|k| k == ns) {
        bail!("namespace {ns:?} is taken; taken: {}", known.join(", "));
    }
    let root = ws.root();
    let mut files = Vec::new();
    for (from, to) in [
        (format!("ext-{TEMPLATE}"), format!("ext-{ns}")),
        (
            format!("ext-{TEMPLATE}-migration"),
            format!("ext-{ns}-migration"),
        ),
    ] {
        let (from, to) = (root.join(from), root.join(to));
        if !from.is_dir() {
            bail!("the template {} is missing", from.display());
        }
        if to.exists() {
            bail!("{} already exists", to.display());
        }
        for file in source_files(&from)? {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let relative = file.strip_prefix(&from).expect("below the template");
            let relative = relative.to_string_lossy().replace(TEMPLATE, ns);
            files.push((to.join(relative), text.replace(TEMPLATE, ns)));
        }
    }

    let manifest = root.join("Cargo.toml");
    let members = insert_before(
        &read(&manifest)?,
        "    \"xtask\",",
        &format!("    \"ext-{ns}\",\n    \"ext-{ns}-migration\","),
        &manifest,
    )?;
    let engine_manifest = root.join("engine/Cargo.toml");
    let engine_deps = insert_before(
        &read(&engine_manifest)?,
        "# end of workflow projects",
        &format!("ext-{ns}-migration = {{ path = \"../ext-{ns}-migration\" }}"),
        &engine_manifest,
    )?;
    let registry = root.join("engine/src/workflow_projects.rs");
    let chains = insert_before(
        &read(&registry)?,
        "// workflow projects (one line each",
        &format!("        ext_{ns}_migration::chain(),"),
        &registry,
    )?;

    let mut edit = Edit::default();
    let result = (|| -> Result<()> {
        for (path, text) in &files {
            edit.write(path, text)?;
        }
        edit.write(&manifest, &members)?;
        edit.write(&engine_manifest, &engine_deps)?;
        edit.write(&registry, &chains)?;
        Ok(())
    })();
    match result {
        Ok(()) => edit.commit(),
        Err(e) => {
            edit.rollback();
            return Err(e.context("nothing was changed"));
        }
    }
    println!(
        "created ext-{ns} (entities, tables ext_{ns}_*) and ext-{ns}-migration (chain, version table seaql_migrations_{ns})"
    );
    println!(
        "added both to the workspace and registered the chain in engine/src/workflow_projects.rs"
    );
    println!("next: cargo test -p ext-{ns}-migration, then cargo run -p engine");
    Ok(())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// The files of a crate directory, without build output or hidden files.
fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name == "target" {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
