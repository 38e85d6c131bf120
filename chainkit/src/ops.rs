//! Scoped operations on one chain: rolling back, dropping its tables (`fresh`, `reset`),
//! refreshing, resolving. Nothing here reaches outside the chain's scope. None of them takes
//! the migration lock: callers hold [`crate::lock`] around them.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use crate::backend;
use crate::chain::Chain;
use crate::error::{AppliedMigration, Error};
use crate::registry::Registry;
use crate::runner::{self, RunReport, checked_state};
use crate::status::list_tables;

/// What a scoped operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopedReport {
    /// Migrations rolled back, in order.
    pub rolled_back: Vec<AppliedMigration>,
    /// Tables dropped (a chain's tables and version table), in order.
    pub dropped: Vec<String>,
    /// Migrations applied afterwards, in order.
    pub applied: Vec<AppliedMigration>,
}

impl ScopedReport {
    fn absorb(&mut self, run: RunReport, rolled_back: bool) {
        if rolled_back {
            self.rolled_back.extend(run.applied);
        } else {
            self.applied.extend(run.applied);
        }
    }
}

/// The workflow chains that have applied migrations, in run order.
async fn workflows_with_applied(
    db: &DatabaseConnection,
    registry: &Registry,
) -> Result<Vec<String>, Error> {
    let chains: Vec<&Chain> = registry.workflows().iter().collect();
    let (_, statuses) = checked_state(db, &chains).await?;
    Ok(statuses
        .into_iter()
        .filter(|s| s.applied_count() > 0)
        .map(|s| s.namespace)
        .collect())
}

/// The chains a destructive command on `namespace` acts on, in the order it acts: for the
/// engine with `all`, every workflow chain in reverse run order, then the engine.
async fn targets<'r>(
    db: &DatabaseConnection,
    registry: &'r Registry,
    namespace: &str,
    all: bool,
    command: &str,
) -> Result<Vec<&'r Chain>, Error> {
    let chain = registry.get(namespace)?;
    if !chain.is_engine() {
        return Ok(vec![chain]);
    }
    if all {
        let mut chains: Vec<&Chain> = registry.workflows().iter().rev().collect();
        chains.push(chain);
        return Ok(chains);
    }
    let applied = workflows_with_applied(db, registry).await?;
    if applied.is_empty() {
        Ok(vec![chain])
    } else {
        Err(Error::WorkflowChainsApplied {
            command: command.to_owned(),
            namespaces: applied,
        })
    }
}

/// Applies the pending migrations of one chain, or of every chain when `namespace` is
/// `None`, at most `steps` in all.
///
/// # Errors
/// [`Error::UnknownNamespace`]; [`Error::UnknownAppliedMigration`] or [`Error::Interrupted`]
/// before anything runs; [`Error::MigrationFailed`] or [`Error::Trespass`] naming the
/// migration, with those applied before it.
pub async fn up(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: Option<&str>,
    steps: Option<u32>,
) -> Result<RunReport, Error> {
    let chains: Vec<&Chain> = match namespace {
        Some(ns) => vec![registry.get(ns)?],
        None => registry.chains().iter().collect(),
    };
    runner::up(db, &chains, steps).await
}

/// Rolls back the newest `steps` applied migrations of one chain (all when `None`).
///
/// # Errors
/// As [`up`].
pub async fn down(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    steps: Option<u32>,
) -> Result<RunReport, Error> {
    runner::down(db, registry.get(namespace)?, steps).await
}

/// Drops every table of one chain's scope and its version table, then applies the chain
/// again. For the engine it is refused while workflow chains have applied migrations, unless
/// `all`, which does the same to every workflow chain first (reverse run order), then
/// applies every chain.
///
/// # Errors
/// [`Error::WorkflowChainsApplied`], [`Error::ReferencedFromOutside`], and what applying
/// reports.
pub async fn fresh(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    all: bool,
) -> Result<ScopedReport, Error> {
    let chains = targets(db, registry, namespace, all, "fresh").await?;
    let mut report = ScopedReport::default();
    for chain in &chains {
        report.dropped.extend(drop_chain_tables(db, chain).await?);
        if chain.is_engine() {
            report.dropped.extend(drop_progress_table(db).await?);
        }
    }
    let mut order = chains.clone();
    order.reverse();
    report.absorb(runner::up(db, &order, None).await?, false);
    Ok(report)
}

/// Rolls back every applied migration of one chain, then drops its version table. For the
/// engine, refused like [`fresh`] unless `all`.
///
/// # Errors
/// [`Error::WorkflowChainsApplied`], and what rolling back reports.
pub async fn reset(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    all: bool,
) -> Result<ScopedReport, Error> {
    let chains = targets(db, registry, namespace, all, "reset").await?;
    let mut report = ScopedReport::default();
    for chain in chains {
        report.absorb(runner::down(db, chain, None).await?, true);
        let table = chain.version_table();
        db.execute(&backend::drop_version_table(table))
            .await
            .map_err(Error::db(format!(
                "namespace {:?}: dropping {table}",
                chain.namespace()
            )))?;
        report.dropped.push(table.to_owned());
        if chain.is_engine() {
            report.dropped.extend(drop_progress_table(db).await?);
        }
    }
    Ok(report)
}

/// Drops the shared progress table once the engine's chain is gone (it is empty then: a run
/// refuses to start while it records an unfinished migration).
async fn drop_progress_table(db: &DatabaseConnection) -> Result<Option<String>, Error> {
    let tables = list_tables(db, "listing tables").await?;
    if !tables.contains(backend::PROGRESS_TABLE) {
        return Ok(None);
    }
    db.execute(&backend::drop_version_table(backend::PROGRESS_TABLE))
        .await
        .map_err(Error::db(format!("dropping {}", backend::PROGRESS_TABLE)))?;
    Ok(Some(backend::PROGRESS_TABLE.to_owned()))
}

/// Rolls back every applied migration of one chain, then applies them all again. For the
/// engine, refused like [`fresh`] unless `all`.
///
/// # Errors
/// As [`reset`].
pub async fn refresh(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    all: bool,
) -> Result<ScopedReport, Error> {
    let chains = targets(db, registry, namespace, all, "refresh").await?;
    let mut report = ScopedReport::default();
    for chain in &chains {
        report.absorb(runner::down(db, chain, None).await?, true);
    }
    let mut order = chains.clone();
    order.reverse();
    report.absorb(runner::up(db, &order, None).await?, false);
    Ok(report)
}

/// Drops the tables of `chain`'s scope and its version table, in one transaction where the
/// backend allows. Refuses when a table outside the scope references one inside it.
async fn drop_chain_tables(db: &DatabaseConnection, chain: &Chain) -> Result<Vec<String>, Error> {
    let backend = db.get_database_backend();
    let context = |what: &str| format!("namespace {:?}: {what}", chain.namespace());
    let scope = chain.scope();
    let tables = list_tables(db, &context("listing tables")).await?;
    let owned: BTreeSet<String> = tables
        .iter()
        .filter(|t| scope.contains(t))
        .cloned()
        .collect();
    let mut edges = Vec::new();
    for row in db
        .query_all_raw(backend::foreign_keys(backend))
        .await
        .map_err(Error::db(context("listing foreign keys")))?
    {
        let from: String = row
            .try_get("", "from_table")
            .map_err(Error::db(context("listing foreign keys")))?;
        let to: String = row
            .try_get("", "to_table")
            .map_err(Error::db(context("listing foreign keys")))?;
        if owned.contains(&to) && !owned.contains(&from) && tables.contains(&from) {
            return Err(Error::ReferencedFromOutside {
                namespace: chain.namespace().to_owned(),
                from_table: from,
                to_table: to,
            });
        }
        if owned.contains(&to) && owned.contains(&from) && from != to {
            edges.push((from, to));
        }
    }
    let mut types_to_drop = Vec::new();
    if let Some(stmt) = backend::enum_types_in_use(backend) {
        let mut users: BTreeMap<String, Vec<Option<String>>> = BTreeMap::new();
        for row in db
            .query_all_raw(stmt)
            .await
            .map_err(Error::db(context("listing types")))?
        {
            let name: String = row
                .try_get("", "type_name")
                .map_err(Error::db(context("listing types")))?;
            let table: Option<String> = row
                .try_get("", "table_name")
                .map_err(Error::db(context("listing types")))?;
            users.entry(name).or_default().push(table);
        }
        for (name, tables) in users {
            let used_here = tables.iter().flatten().any(|t| owned.contains(t));
            let used_elsewhere = tables.iter().flatten().any(|t| !owned.contains(t));
            let named_here = !chain.is_engine() && scope.contains(&name);
            if (used_here || named_here) && !used_elsewhere {
                types_to_drop.push(name);
            }
        }
    }
    let mut order = drop_order(&owned, &edges);
    if tables.contains(chain.version_table()) {
        order.push(chain.version_table().to_owned());
    }
    let mut statements = backend::drop_tables(backend, &order);
    statements.extend(types_to_drop.iter().map(|t| backend::drop_type(backend, t)));
    let prefix = context("running");
    if backend::transactional_ddl(backend) {
        let txn = db.begin().await.map_err(Error::db(context("beginning")))?;
        run_all(&txn, statements, &prefix).await?;
        txn.commit()
            .await
            .map_err(Error::db(context("committing")))?;
    } else {
        run_all(db, statements, &prefix).await?;
    }
    Ok(order)
}

async fn run_all<C: ConnectionTrait>(
    conn: &C,
    statements: Vec<sea_orm::Statement>,
    context: &str,
) -> Result<(), Error> {
    for stmt in statements {
        let sql = stmt.sql.clone();
        conn.execute_raw(stmt)
            .await
            .map_err(Error::db(format!("{context} {sql}")))?;
    }
    Ok(())
}

/// Orders `tables` so that every table comes before the tables it references (`edges` are
/// (referencing, referenced) pairs); ties and cycles fall back to name order.
fn drop_order(tables: &BTreeSet<String>, edges: &[(String, String)]) -> Vec<String> {
    let mut referenced_by: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.as_str(), BTreeSet::new()))
        .collect();
    for (from, to) in edges {
        if let Some(set) = referenced_by.get_mut(to.as_str()) {
            set.insert(from.as_str());
        }
    }
    let mut order = Vec::with_capacity(tables.len());
    while !referenced_by.is_empty() {
        let next = referenced_by
            .iter()
            .find(|(_, refs)| refs.is_empty())
            .map(|(t, _)| *t)
            .unwrap_or_else(|| *referenced_by.keys().next().expect("not empty"));
        referenced_by.remove(next);
        for refs in referenced_by.values_mut() {
            refs.remove(next);
        }
        order.push(next.to_owned());
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referencing_tables_are_dropped_before_the_tables_they_reference() {
        let tables: BTreeSet<String> = ["ext_a_items", "ext_a_orders", "ext_a_zones"]
            .into_iter()
            .map(String::from)
            .collect();
        let edges = vec![
            ("ext_a_zones".to_owned(), "ext_a_orders".to_owned()),
            ("ext_a_items".to_owned(), "ext_a_zones".to_owned()),
        ];
        assert_eq!(
            drop_order(&tables, &edges),
            ["ext_a_items", "ext_a_zones", "ext_a_orders"]
        );
    }
}

/// What `resolve` records about a migration that did not finish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// It completed: record it as applied.
    Applied,
    /// Nothing of it remains: record it as not applied.
    RolledBack,
}

/// Settles a migration that did not finish (see [`Error::Interrupted`]) after a person has
/// checked the schema: records it as applied or as not applied, and clears the record that
/// it was running. Also works on a migration with no such record, to correct the version table
/// by hand.
///
/// # Errors
/// [`Error::UnknownNamespace`], [`Error::UnknownMigration`], [`Error::Database`].
pub async fn resolve(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    migration: &str,
    resolution: Resolution,
) -> Result<(), Error> {
    let chain = registry.get(namespace)?;
    if !chain.migration_names().iter().any(|m| m == migration) {
        return Err(Error::UnknownMigration {
            namespace: namespace.to_owned(),
            migration: migration.to_owned(),
        });
    }
    let backend = db.get_database_backend();
    let context = format!("namespace {namespace:?}: resolving {migration}");
    let state = crate::status::read_state(db, &[chain], crate::status::Read::Listing).await?;
    let table = chain.version_table();
    if !state.recorded[0].table_exists {
        db.execute(&backend::create_version_table(backend, table))
            .await
            .map_err(Error::db(context.clone()))?;
    }
    let applied = state.recorded[0].applied.contains_key(migration);
    match resolution {
        Resolution::Applied if !applied => {
            db.execute(&backend::insert_version(
                table,
                migration,
                backend::now_unix(),
            ))
            .await
            .map_err(Error::db(context.clone()))?;
        }
        Resolution::RolledBack if applied => {
            db.execute(&backend::delete_version(table, migration))
                .await
                .map_err(Error::db(context.clone()))?;
        }
        _ => {}
    }
    if state.progress_exists {
        db.execute(&backend::delete_progress(namespace))
            .await
            .map_err(Error::db(context))?;
    }
    Ok(())
}
