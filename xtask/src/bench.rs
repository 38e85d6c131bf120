//! `cargo xtask bench`: hands the work to the `startup` benchmark of `chainkit`, which links
//! SeaORM, built with the bench (release) profile. xtask itself links no database code.

use anyhow::{Context, Result, bail};

use crate::workspace::Workspace;

/// Runs the benchmark with `args` (already in the benchmark's own syntax).
pub fn run(ws: &Workspace, args: &[String]) -> Result<()> {
    let status = crate::workspace::cargo(ws.root())
        .args([
            "bench", "--quiet", "-p", "chainkit", "--bench", "startup", "--",
        ])
        .args(args)
        .status()
        .context("running cargo bench")?;
    if !status.success() {
        bail!("the benchmark failed ({status})");
    }
    Ok(())
}
