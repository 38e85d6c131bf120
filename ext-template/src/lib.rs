//! Workflow project `template`: its data entities.
//!
//! Every table of this project starts with `ext_template_` and belongs to this project's
//! migration chain (`ext-template-migration`), recorded in `seaql_migrations_template`.
//! Copy this crate pair with `cargo xtask new-project --ns NS` to start a new project.

pub mod entities;

/// This workflow project's namespace: its tables are `ext_template_*`.
pub const NAMESPACE: &str = "template";

/// The engine version this project is built against (its `chainkit` dependency is pinned to
/// exactly this version).
pub const ENGINE_VERSION: &str = chainkit::ENGINE_VERSION;
