//! The checked, ordered set of chains the engine runs.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::chain::Chain;
use crate::error::Error;
use crate::namespace::{ENGINE_NAMESPACE, MAX_IDENTIFIER_LEN, check_namespace};

/// Every chain the engine runs, checked and in run order: the engine chain first, then the
/// workflow projects, each after the projects it depends on, ties broken by namespace name.
///
/// All namespace, scope and ordering rules are checked here, before any SQL runs.
#[derive(Debug, Clone)]
pub struct Registry {
    chains: Vec<Chain>,
}

impl Registry {
    /// Checks the chains and puts them in run order.
    ///
    /// # Errors
    /// The first rule broken: an invalid, reserved or duplicate namespace, a wrong version
    /// table, an entity table outside its chain's scope or too long, a migration listed twice,
    /// an unknown dependency or a dependency cycle.
    pub fn new(engine: Chain, workflows: impl IntoIterator<Item = Chain>) -> Result<Self, Error> {
        if !engine.is_engine() {
            return Err(Error::InvalidNamespace {
                namespace: engine.namespace().to_owned(),
                rule: crate::namespace::NamespaceRule::Reserved,
            });
        }
        check_chain(&engine)?;
        let mut by_name: BTreeMap<String, Chain> = BTreeMap::new();
        for chain in workflows {
            check_namespace(chain.namespace()).map_err(|rule| Error::InvalidNamespace {
                namespace: chain.namespace().to_owned(),
                rule,
            })?;
            check_chain(&chain)?;
            if by_name.contains_key(chain.namespace()) {
                return Err(Error::DuplicateNamespace {
                    namespace: chain.namespace().to_owned(),
                });
            }
            by_name.insert(chain.namespace().to_owned(), chain);
        }
        let order = run_order(by_name.values().map(|c| (c.namespace(), c.dependencies())))?;
        let mut chains = Vec::with_capacity(order.len() + 1);
        chains.push(engine);
        for ns in order {
            chains.extend(by_name.remove(&ns));
        }
        Ok(Self { chains })
    }

    /// The chains in run order, the engine's first.
    pub fn chains(&self) -> &[Chain] {
        &self.chains
    }

    /// The engine's chain.
    pub fn engine(&self) -> &Chain {
        &self.chains[0]
    }

    /// The workflow projects' chains in run order.
    pub fn workflows(&self) -> &[Chain] {
        &self.chains[1..]
    }

    /// The namespaces in run order, `engine` first.
    pub fn namespaces(&self) -> Vec<String> {
        self.chains
            .iter()
            .map(|c| c.namespace().to_owned())
            .collect()
    }

    /// The chain with this namespace.
    ///
    /// # Errors
    /// [`Error::UnknownNamespace`], listing the known namespaces.
    pub fn get(&self, namespace: &str) -> Result<&Chain, Error> {
        self.chains
            .iter()
            .find(|c| c.namespace() == namespace)
            .ok_or_else(|| Error::UnknownNamespace {
                namespace: namespace.to_owned(),
                known: self.namespaces(),
            })
    }
}

/// The rules that hold for every chain, engine or workflow.
fn check_chain(chain: &Chain) -> Result<(), Error> {
    let namespace = chain.namespace().to_owned();
    let expected = chain.expected_version_table();
    if chain.version_table() != expected {
        return Err(Error::WrongVersionTable {
            namespace,
            found: chain.version_table().to_owned(),
            expected,
        });
    }
    let scope = chain.scope();
    for table in &chain.declared_entity_tables() {
        if !scope.contains(table) {
            return Err(Error::TableOutOfScope {
                namespace,
                table: table.clone(),
                scope: scope.describe(),
            });
        }
        if table.len() > MAX_IDENTIFIER_LEN {
            return Err(Error::IdentifierTooLong {
                namespace,
                table: table.clone(),
                len: table.len(),
            });
        }
    }
    let mut seen = HashSet::new();
    for name in chain.migration_names() {
        if name.len() > crate::backend::MAX_MIGRATION_NAME_LEN {
            return Err(Error::MigrationNameTooLong {
                namespace,
                len: name.len(),
                migration: name,
            });
        }
        if !seen.insert(name.clone()) {
            return Err(Error::DuplicateMigration {
                namespace,
                migration: name,
            });
        }
    }
    Ok(())
}

/// Orders workflow namespaces: dependencies first, then by name. `engine` as a dependency is
/// always met (the engine chain runs first).
///
/// # Errors
/// An unknown dependency, or a cycle (naming every namespace that could not be ordered).
pub fn run_order<'a>(
    chains: impl IntoIterator<Item = (&'a str, &'a [String])>,
) -> Result<Vec<String>, Error> {
    let chains: BTreeMap<&str, Vec<&str>> = chains
        .into_iter()
        .map(|(ns, deps)| (ns, deps.iter().map(String::as_str).collect()))
        .collect();
    let mut waiting_on: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (&ns, deps) in &chains {
        let mut open = BTreeSet::new();
        for &dep in deps {
            if dep == ENGINE_NAMESPACE {
                continue;
            }
            if !chains.contains_key(dep) {
                return Err(Error::UnknownDependency {
                    namespace: ns.to_owned(),
                    dependency: dep.to_owned(),
                });
            }
            open.insert(dep);
        }
        waiting_on.insert(ns, open);
    }
    let mut order = Vec::with_capacity(chains.len());
    let mut ready: BTreeSet<&str> = waiting_on
        .iter()
        .filter(|(_, deps)| deps.is_empty())
        .map(|(&ns, _)| ns)
        .collect();
    while let Some(ns) = ready.pop_first() {
        waiting_on.remove(ns);
        order.push(ns.to_owned());
        for (&other, deps) in waiting_on.iter_mut() {
            if deps.remove(ns) && deps.is_empty() {
                ready.insert(other);
            }
        }
    }
    if !waiting_on.is_empty() {
        return Err(Error::DependencyCycle {
            namespaces: waiting_on.keys().map(|s| (*s).to_owned()).collect(),
        });
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(chains: &[(&str, &[&str])]) -> Result<Vec<String>, Error> {
        let owned: Vec<(String, Vec<String>)> = chains
            .iter()
            .map(|(ns, deps)| {
                (
                    (*ns).to_owned(),
                    deps.iter().map(|d| (*d).to_owned()).collect(),
                )
            })
            .collect();
        run_order(
            owned
                .iter()
                .map(|(ns, deps)| (ns.as_str(), deps.as_slice())),
        )
    }

    #[test]
    fn independent_projects_run_in_namespace_order() {
        assert_eq!(
            order(&[("zeta", &[]), ("alpha", &[]), ("mid", &[])]).unwrap(),
            ["alpha", "mid", "zeta"]
        );
    }

    #[test]
    fn dependencies_run_first_whatever_their_name() {
        assert_eq!(
            order(&[("alpha", &["zeta"]), ("zeta", &[]), ("beta", &[])]).unwrap(),
            ["beta", "zeta", "alpha"]
        );
        assert_eq!(
            order(&[("a", &["c"]), ("b", &["a"]), ("c", &["engine"])]).unwrap(),
            ["c", "a", "b"]
        );
    }

    #[test]
    fn an_unknown_dependency_is_named() {
        let err = order(&[("alpha", &["billing"])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"namespace "alpha": depends on "billing", which is not registered"#
        );
    }

    #[test]
    fn a_cycle_names_its_members() {
        let err = order(&[("a", &["b"]), ("b", &["a"]), ("c", &[])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "workflow projects depend on each other in a cycle: a, b"
        );
        assert!(order(&[("a", &["a"])]).is_err());
    }

    use crate::testing::{SqlMigration, sql_chain};

    fn first() -> SqlMigration {
        SqlMigration::new("m20260101_000001_first", &[])
    }

    fn engine() -> Chain {
        sql_chain("engine", vec![first()])
    }

    fn acme() -> Chain {
        sql_chain("acme", vec![first()])
    }

    /// A chain recorded in `acme`'s version table but registered under `namespace`.
    fn acme_under(namespace: &str) -> Chain {
        Chain::from_fn(namespace, "seaql_migrations_acme", Vec::new)
    }

    #[test]
    fn a_valid_registry_puts_the_engine_first() {
        let registry = Registry::new(engine(), [acme()]).unwrap();
        assert_eq!(registry.namespaces(), ["engine", "acme"]);
        assert_eq!(registry.engine().version_table(), "seaql_migrations");
        assert_eq!(
            registry.workflows()[0].version_table(),
            "seaql_migrations_acme"
        );
    }

    #[test]
    fn invalid_namespaces_are_refused_before_any_sql() {
        for bad in ["acme_x", "Acme", "engine", "", "9lives", &"a".repeat(17)] {
            let chain = sql_chain(bad, vec![first()]);
            match Registry::new(engine(), [chain]) {
                Err(Error::InvalidNamespace { namespace, .. }) => assert_eq!(namespace, bad),
                other => panic!("{bad:?}: expected InvalidNamespace, got {other:?}"),
            }
        }
    }

    #[test]
    fn a_duplicate_namespace_is_refused() {
        let err = Registry::new(engine(), [acme(), acme()]).unwrap_err();
        assert_eq!(err.to_string(), r#"namespace "acme" is registered twice"#);
    }

    #[test]
    fn a_version_table_that_does_not_match_the_namespace_is_refused() {
        let err = Registry::new(engine(), [acme_under("billing")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"namespace "billing": version table is "seaql_migrations_acme", it must be "seaql_migrations_billing""#
        );
        let err = Registry::new(
            engine(),
            [Chain::from_fn("acme", "seaql_migrations", Vec::new)],
        )
        .unwrap_err();
        assert!(matches!(err, Error::WrongVersionTable { .. }));
    }

    #[test]
    fn workflow_entity_tables_must_carry_the_namespace_prefix() {
        for bad in [
            "users",
            "ext_billing_invoices",
            "ext_acmex_orders",
            "ext_acme_",
            "seaql_migrations_acme",
        ] {
            let chain = acme().entity_tables(["ext_acme_orders", bad]);
            let err = Registry::new(engine(), [chain]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(r#"namespace "acme": entity table "{bad}" is outside ext_acme_*"#)
            );
        }
    }

    #[test]
    fn engine_entity_tables_must_not_start_with_ext() {
        let err = Registry::new(
            engine().entity_tables(["users", "ext_acme_orders"]),
            [acme()],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"namespace "engine": entity table "ext_acme_orders" is outside the engine's tables (no ext_ prefix)"#
        );
    }

    #[test]
    fn an_entity_table_longer_than_63_bytes_is_refused() {
        let long = format!("ext_acme_{}", "x".repeat(60));
        let err = Registry::new(engine(), [acme().entity_tables([long.clone()])]).unwrap_err();
        assert!(matches!(err, Error::IdentifierTooLong { ref table, .. } if *table == long));
    }

    #[test]
    fn a_migration_listed_twice_is_refused() {
        let twice = sql_chain("acme", vec![first(), first()]);
        let err = Registry::new(engine(), [twice]).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"namespace "acme": migration m20260101_000001_first is listed twice"#
        );
    }

    #[test]
    fn a_migration_name_longer_than_a_version_table_holds_is_refused() {
        let name = |len: usize| format!("m20260101_000001_{}", "x".repeat(len - 17));
        let longest = sql_chain("acme", vec![SqlMigration::new(&name(255), &[])]);
        assert!(Registry::new(engine(), [longest]).is_ok());
        let long = sql_chain("acme", vec![first(), SqlMigration::new(&name(256), &[])]);
        let err = Registry::new(engine(), [long]).unwrap_err();
        assert!(
            matches!(err, Error::MigrationNameTooLong { ref migration, len: 256, .. } if *migration == name(256)),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("is 256 bytes; at most 255 fit a version table"),
            "{err}"
        );
        // counted in bytes, stricter than the databases (which count characters): a name
        // within it fits everywhere
        let wide = format!("m20260101_000001_{}", "é".repeat(120));
        assert_eq!(wide.len(), 257);
        let err = Registry::new(
            engine(),
            [sql_chain("acme", vec![SqlMigration::new(&wide, &[])])],
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::MigrationNameTooLong { len: 257, .. }),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_namespace_lists_the_known_ones() {
        let registry = Registry::new(engine(), [acme()]).unwrap();
        let err = registry.get("billing").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"no chain has the namespace "billing"; known: engine, acme"#
        );
    }
}
