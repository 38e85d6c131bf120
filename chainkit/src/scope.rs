//! Which tables a chain owns.

use crate::namespace::{ENGINE_VERSION_TABLE, table_prefix};

/// The tables a chain may own.
///
/// A workflow project owns exactly the tables starting with `ext_{ns}_` (and its version table
/// `seaql_migrations_{ns}`). The engine owns every other table except the `ext_` tables and
/// the version tables of the workflow projects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableScope {
    /// The engine's scope.
    Engine,
    /// A workflow project's scope: tables starting with the contained prefix `ext_{ns}_`.
    Workflow {
        /// `ext_{ns}_`
        prefix: String,
    },
}

impl TableScope {
    /// The scope of the workflow project `namespace`.
    pub fn workflow(namespace: &str) -> Self {
        Self::Workflow {
            prefix: table_prefix(namespace),
        }
    }

    /// The scope `table` belongs to: `ext_{ns}_…` to workflow project `ns`, anything else to
    /// the engine.
    pub fn of_table(table: &str) -> Self {
        match table
            .strip_prefix("ext_")
            .and_then(|rest| rest.split_once('_'))
        {
            Some((ns, _)) if !ns.is_empty() => Self::workflow(ns),
            _ => Self::Engine,
        }
    }

    /// Whether a data table (not a version table) named `table` belongs to this scope.
    pub fn contains(&self, table: &str) -> bool {
        match self {
            Self::Engine => !table.starts_with("ext_") && !is_version_table(table),
            Self::Workflow { prefix } => table.len() > prefix.len() && table.starts_with(prefix),
        }
    }

    /// How the scope reads in an error message: `ext_billing_*` or `the engine's tables
    /// (no ext_ prefix)`.
    pub fn describe(&self) -> String {
        match self {
            Self::Engine => "the engine's tables (no ext_ prefix)".to_owned(),
            Self::Workflow { prefix } => format!("{prefix}*"),
        }
    }
}

/// Whether `table` is a version table of any chain (`seaql_migrations` or `seaql_migrations_*`).
pub fn is_version_table(table: &str) -> bool {
    table == ENGINE_VERSION_TABLE
        || table
            .strip_prefix(ENGINE_VERSION_TABLE)
            .is_some_and(|rest| rest.starts_with('_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_scope_holds_only_its_own_prefix() {
        let acme = TableScope::workflow("acme");
        assert!(acme.contains("ext_acme_orders"));
        assert!(!acme.contains("ext_acme_"));
        assert!(!acme.contains("ext_acmex_orders"));
        assert!(!acme.contains("ext_billing_orders"));
        assert!(!acme.contains("users"));
        assert!(!acme.contains("seaql_migrations_acme"));
    }

    #[test]
    fn no_namespace_prefix_covers_another_valid_namespace() {
        // `acme_x` is not a valid namespace, so `ext_acme_x_orders` can only be acme's table.
        assert!(crate::namespace::check_namespace("acme_x").is_err());
        assert!(!TableScope::workflow("acme").contains("ext_acmex_orders"));
        assert!(!TableScope::workflow("acmex").contains("ext_acme_orders"));
    }

    #[test]
    fn the_engine_scope_excludes_ext_tables_and_version_tables() {
        let engine = TableScope::Engine;
        assert!(engine.contains("users"));
        assert!(engine.contains("workflow_instances"));
        assert!(engine.contains("extensions"));
        assert!(!engine.contains("ext_acme_orders"));
        assert!(!engine.contains("ext_"));
        assert!(!engine.contains("seaql_migrations"));
        assert!(!engine.contains("seaql_migrations_acme"));
    }

    #[test]
    fn version_tables_are_recognised() {
        assert!(is_version_table("seaql_migrations"));
        assert!(is_version_table("seaql_migrations_billing"));
        assert!(!is_version_table("seaql_migrationsx"));
        assert!(!is_version_table("users"));
    }
}
