//! `cargo xtask remove-project --ns NS`: undoes what `new-project` wrote.

use anyhow::{Context, Result, bail};

use crate::edit::{Edit, remove_line};
use crate::names::check_namespace;
use crate::new_project::TEMPLATE;
use crate::workspace::Workspace;

/// Removes workflow project `ns` from the workspace: its registration line in
/// `engine/src/workflow_projects.rs`, its dependency in `engine/Cargo.toml`, its two workspace
/// members, and the directories `ext-{ns}` and `ext-{ns}-migration`. Refuses the template and
/// the engine, and changes nothing when a line is not where `new-project` put it.
///
/// The database is not touched: reset the chain first (`engine migrate reset --ns NS`), while
/// the engine still knows it.
pub fn run(ws: &Workspace, ns: &str) -> Result<()> {
    check_namespace(ns)?;
    if ns == TEMPLATE {
        bail!(
            "namespace {TEMPLATE:?} is the template every project is copied from; it cannot be \
             removed"
        );
    }
    let known = ws.namespaces()?;
    if !known.iter().any(|k| k == ns) {
        bail!("unknown namespace {ns:?}; known: {}", known.join(", "));
    }
    let root = ws.root();
    let dirs = [root.join(format!("ext-{ns}")), ws.migration_crate(ns)];

    let manifest = root.join("Cargo.toml");
    let mut members = read(&manifest)?;
    for member in [format!("\"ext-{ns}\","), format!("\"ext-{ns}-migration\",")] {
        members = remove_line(&members, &member, &manifest)?;
    }
    let engine_manifest = root.join("engine/Cargo.toml");
    let engine_deps = remove_line(
        &read(&engine_manifest)?,
        &format!("ext-{ns}-migration = {{ path = \"../ext-{ns}-migration\" }}"),
        &engine_manifest,
    )?;
    let registry = root.join("engine/src/workflow_projects.rs");
    let chains = remove_line(
        &read(&registry)?,
        &format!("ext_{ns}_migration::chain(),"),
        &registry,
    )?;

    let mut edit = Edit::default();
    let written = (|| -> Result<()> {
        edit.write(&manifest, &members)?;
        edit.write(&engine_manifest, &engine_deps)?;
        edit.write(&registry, &chains)?;
        Ok(())
    })();
    if let Err(e) = written {
        edit.rollback();
        return Err(e.context("nothing was changed"));
    }
    edit.commit();
    for dir in &dirs {
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| {
                format!(
                    "the registration is removed, but {} could not be; remove it by hand",
                    dir.display()
                )
            })?;
        }
    }
    println!(
        "removed ext-{ns} and ext-{ns}-migration from the workspace and the engine's registration"
    );
    println!(
        "the database is not touched: its ext_{ns}_* objects and seaql_migrations_{ns} stay \
         until `engine migrate reset --ns {ns}` is run by a build that still has the project \
         (`engine migrate status` reports leftovers of unregistered projects)"
    );
    Ok(())
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}
