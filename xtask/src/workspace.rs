//! Where things are in the workspace.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The workspace xtask works on.
pub struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// The workspace containing the current directory, or else the one xtask was built in.
    pub fn find() -> Result<Self> {
        let cwd = std::env::current_dir().context("reading the current directory")?;
        for dir in cwd.ancestors() {
            if is_root(dir) {
                return Ok(Self {
                    root: dir.to_owned(),
                });
            }
        }
        let built_in = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_owned)
            .context("xtask has no parent directory")?;
        if is_root(&built_in) {
            return Ok(Self { root: built_in });
        }
        bail!("no workspace found above {}", cwd.display())
    }

    /// Its root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The migration crate of chain `ns`: `engine-migration` or `ext-{ns}-migration`.
    pub fn migration_crate(&self, ns: &str) -> PathBuf {
        if ns == "engine" {
            self.root.join("engine-migration")
        } else {
            self.root.join(format!("ext-{ns}-migration"))
        }
    }

    /// Every chain's namespace: `engine`, then the workflow projects found as
    /// `ext-{ns}-migration` directories, sorted.
    pub fn namespaces(&self) -> Result<Vec<String>> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.root)
            .with_context(|| format!("reading {}", self.root.display()))?
        {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(ns) = name
                .strip_prefix("ext-")
                .and_then(|rest| rest.strip_suffix("-migration"))
                && self.root.join(&name).join("src/lib.rs").is_file()
            {
                found.push(ns.to_owned());
            }
        }
        found.sort();
        found.insert(0, "engine".to_owned());
        Ok(found)
    }
}

fn is_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        && dir.join("xtask").is_dir()
}
