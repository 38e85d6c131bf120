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

/// The variables cargo sets for the program it runs (`cargo xtask` is `cargo run`), which a
/// cargo started from here must not inherit: they describe the xtask package, not the build
/// the inner cargo makes, and build scripts that read them would be rebuilt, then rebuilt
/// again by the next plain `cargo build`.
fn set_by_cargo_run(name: &str) -> bool {
    const PREFIXES: [&str; 2] = ["CARGO_PKG_", "CARGO_BIN_EXE_"];
    const NAMES: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_TARGET_TMPDIR",
        "CARGO_MAKEFLAGS",
    ];
    PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&name)
}

/// A `cargo` command run in the workspace root, with the environment the user's own shell
/// would give it (see [`set_by_cargo_run`]).
pub fn cargo(root: &Path) -> std::process::Command {
    let program = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(program);
    command.current_dir(root);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            command.env_remove(&name);
        }
    }
    command
}

fn is_root(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|t| t.contains("[workspace]"))
        && dir.join("xtask").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variables_cargo_run_sets_are_not_passed_on_and_the_users_are() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_EXE_xtask",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        for name in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "CARGO_BUILD_JOBS",
            "RUSTFLAGS",
            "DATABASE_URL",
        ] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
    }
}
