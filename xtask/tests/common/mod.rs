//! What the tests that work in a copy of the workspace share.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The target directory the copies build in: shared between them, apart from this build's
/// (so a copy's build never waits on the lock of the `cargo test` running it).
pub fn target_dir() -> PathBuf {
    workspace_root().join("target/xtask-scaffold")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Copies the workspace's sources (no build output, no databases, no git) to a new
/// temporary directory.
pub fn copy_workspace(name: &str) -> PathBuf {
    let to = std::env::temp_dir().join(format!("xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    let mut stack = vec![workspace_root()];
    let root = workspace_root();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if file_name == "target"
                || file_name == ".git"
                || file_name.ends_with(".db")
                || file_name.contains(".db-")
                || file_name.ends_with(".migrate-lock")
            {
                continue;
            }
            let dest = to.join(path.strip_prefix(&root).unwrap());
            if path.is_dir() {
                std::fs::create_dir_all(&dest).unwrap();
                stack.push(path);
            } else {
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(&path, &dest).unwrap();
            }
        }
    }
    to
}

pub fn xtask(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .current_dir(dir)
        .env("XTASK_NOW", "1795600000")
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap()
}

/// Runs cargo in the copy, sharing this build's dependencies through a target directory of
/// its own (so it never waits on the lock of the `cargo test` running this), with the
/// environment of a user's shell: without the variables `cargo test` set for this process.
pub fn cargo(dir: &Path, args: &[&str]) -> Output {
    let target = target_dir();
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    for (name, _) in std::env::vars() {
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_EXE_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_BIN_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_RUSTC_CURRENT_DIR",
                "CARGO_TARGET_TMPDIR",
            ]
            .contains(&name.as_str())
        {
            command.env_remove(&name);
        }
    }
    command
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("DATABASE_URL")
        .env_remove("CARGO_MAKEFLAGS")
        .output()
        .unwrap()
}
