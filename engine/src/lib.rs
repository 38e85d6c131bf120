//! The workflow engine: its entities, and the startup hook that brings the shared database up
//! to date, the engine's own chain first, then every workflow project's.
//!
//! ```no_run
//! # async fn run() -> Result<(), engine::Error> {
//! let report = engine::startup("sqlite://engine.db?mode=rwc", &Default::default()).await?;
//! println!("{} migrations applied", report.applied.len());
//! # Ok(()) }
//! ```

pub mod entities;
mod workflow_projects;

pub use chainkit::{Error, Registry, RunReport, StartupOptions};

/// The engine's chain and every registered workflow project's, checked and in run order.
///
/// # Errors
/// A namespace, scope or ordering rule broken by a workflow project (see [`Registry::new`]).
pub fn registry() -> Result<Registry, Error> {
    Registry::new(
        engine_migration::chain().entities(entities::declare),
        workflow_projects::chains(),
    )
}

/// The startup hook: checks the registry, connects to `url` and runs every chain.
///
/// # Errors
/// Any rule broken by a registered chain, or what [`chainkit::startup`] reports.
pub async fn startup(url: &str, options: &StartupOptions) -> Result<RunReport, Error> {
    chainkit::startup(url, &registry()?, options).await
}
