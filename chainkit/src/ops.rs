//! Scoped operations on one chain: rolling back, dropping its tables (`fresh`, `reset`),
//! refreshing, resolving. Nothing here reaches outside the chain's scope. None of them takes
//! the migration lock: callers hold [`crate::lock`] around them.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, Statement, TransactionSession, TransactionTrait,
};

use crate::backend;
use crate::chain::Chain;
use crate::error::{AppliedMigration, Error, pg_detail_and_hint, shorten};
use crate::registry::Registry;
use crate::runner::{self, RunReport, checked_state};
use crate::schema::{ObjectKey, ObjectKind, Snapshot, owns, snapshot};
use crate::scope::is_version_table;

/// What a scoped operation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopedReport {
    /// Migrations rolled back, in order.
    pub rolled_back: Vec<AppliedMigration>,
    /// Objects dropped (a chain's tables, views, types, functions… and version table), in
    /// order.
    pub dropped: Vec<ObjectKey>,
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

/// Checks before anything is dropped that every chain in `chains` can be acted on: no version
/// row of a migration this build does not have, no unfinished migration.
async fn preconditions<C: ConnectionTrait>(db: &C, chains: &[&Chain]) -> Result<(), Error> {
    checked_state(db, chains).await.map(|_| ())
}

/// Checks before any `down` runs that nothing outside `chains` depends on what they own, so
/// that `reset` and `refresh` refuse before they change anything, as `fresh` does. On
/// PostgreSQL, by dropping everything in `chains`' order inside a transaction that is then
/// rolled back (its own dependency tracking answers); on SQLite and MySQL, which track none,
/// by the foreign keys and definitions that name the chains' objects.
async fn droppable(db: &DatabaseConnection, chains: &[&Chain]) -> Result<(), Error> {
    if backend::tracks_dependencies(db.get_database_backend()) {
        let txn = db
            .begin()
            .await
            .map_err(Error::db("beginning a trial drop"))?;
        let mut result = Ok(());
        for chain in chains {
            result = drop_owned(&txn, chain, &mut Vec::new(), &[]).await;
            if result.is_err() {
                break;
            }
        }
        txn.rollback()
            .await
            .map_err(Error::db("rolling back a trial drop"))?;
        return result;
    }
    for (i, chain) in chains.iter().enumerate() {
        // the chains acted on before this one are gone by the time it is
        plan_drop(db, chain, &chains[..i]).await?;
    }
    Ok(())
}

/// Drops everything `chain` owns (see [`crate::Snapshot`]) and its version table, then
/// applies the chain again. For the engine it is refused while workflow chains have applied
/// migrations, unless `all`, which does the same to every workflow chain first (reverse run
/// order), then applies every chain.
///
/// On PostgreSQL and SQLite the drops and the migrations run in one transaction, so a failure
/// leaves everything as it was, unless a migration of the chain forced a commit first (one
/// that runs outside transactions, or a PostgreSQL enum value that a later migration uses). On
/// MySQL the error says what is gone.
///
/// # Errors
/// [`Error::WorkflowChainsApplied`], [`Error::UnknownAppliedMigration`] and
/// [`Error::Interrupted`] before anything is dropped; [`Error::ReferencedFromOutside`] and
/// [`Error::DependedOn`] when something outside the chain depends on it;
/// [`Error::ScopedFailed`] when dropping or applying fails.
pub async fn fresh(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    all: bool,
) -> Result<ScopedReport, Error> {
    let chains = targets(db, registry, namespace, all, "fresh").await?;
    preconditions(db, &chains).await?;
    let mut order = chains.clone();
    order.reverse();
    let mut report = ScopedReport::default();
    let failed = |undone: bool, dropped: &[ObjectKey], source: Error| match source {
        e @ (Error::ReferencedFromOutside { .. } | Error::DependedOn { .. }) if undone => e,
        source => Error::ScopedFailed {
            command: "fresh".to_owned(),
            namespace: namespace.to_owned(),
            undone,
            dropped: if undone {
                Vec::new()
            } else {
                dropped.iter().map(ToString::to_string).collect()
            },
            source: Box::new(source),
        },
    };
    if backend::transactional_ddl(db.get_database_backend()) {
        let txn = db
            .begin()
            .await
            .map_err(Error::db(format!("namespace {namespace:?}: beginning")))?;
        for chain in &chains {
            if let Err(e) = drop_owned(&txn, chain, &mut report.dropped, &[]).await {
                let undone = txn.rollback().await.is_ok();
                return Err(failed(undone, &report.dropped, e));
            }
        }
        match runner::up_in(db, Some(txn), &order, None, true).await {
            Ok(run) => report.absorb(run, false),
            Err(f) => return Err(failed(f.undone, &report.dropped, f.error)),
        }
    } else {
        // DDL commits at once here: refuse before the first drop
        droppable(db, &chains).await?;
        for chain in &chains {
            drop_owned(db, chain, &mut report.dropped, &[])
                .await
                .map_err(|e| failed(report.dropped.is_empty(), &report.dropped, e))?;
        }
        let run = runner::up(db, &order, None)
            .await
            .map_err(|e| failed(false, &report.dropped, e))?;
        report.absorb(run, false);
    }
    Ok(report)
}

/// Rolls back every applied migration of one chain, then drops whatever the chain still owns
/// (what its `down`s left behind) and its version table. For the engine, refused like
/// [`fresh`] unless `all`.
///
/// # Errors
/// As [`fresh`], and what rolling back reports.
pub async fn reset(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    all: bool,
) -> Result<ScopedReport, Error> {
    let chains = targets(db, registry, namespace, all, "reset").await?;
    preconditions(db, &chains).await?;
    droppable(db, &chains).await?;
    let mut report = ScopedReport::default();
    for chain in chains {
        report.absorb(runner::down(db, chain, None).await?, true);
        drop_leftovers(db, chain, &mut report.dropped).await?;
    }
    Ok(report)
}

/// Rolls back every applied migration of one chain, drops what its `down`s left behind, then
/// applies them all again. For the engine, refused like [`fresh`] unless `all`.
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
    preconditions(db, &chains).await?;
    droppable(db, &chains).await?;
    let mut report = ScopedReport::default();
    for chain in &chains {
        report.absorb(runner::down(db, chain, None).await?, true);
        drop_leftovers(db, chain, &mut report.dropped).await?;
    }
    let mut order = chains.clone();
    order.reverse();
    report.absorb(runner::up(db, &order, None).await?, false);
    Ok(report)
}

/// Drops what `chain` still owns after its migrations were rolled back, in one transaction
/// where the backend allows.
async fn drop_leftovers(
    db: &DatabaseConnection,
    chain: &Chain,
    dropped: &mut Vec<ObjectKey>,
) -> Result<(), Error> {
    let context = |what: &str| format!("namespace {:?}: {what}", chain.namespace());
    if !backend::transactional_ddl(db.get_database_backend()) {
        return drop_owned(db, chain, dropped, &[]).await;
    }
    let txn = db.begin().await.map_err(Error::db(context("beginning")))?;
    let mut these = Vec::new();
    if let Err(e) = drop_owned(&txn, chain, &mut these, &[]).await {
        txn.rollback().await.ok();
        return Err(e);
    }
    txn.commit()
        .await
        .map_err(Error::db(context("committing")))?;
    dropped.extend(these);
    Ok(())
}

/// Drops every object `chain` owns and its version table (for the engine, also the shared
/// progress table), in dependency order, adding each to `dropped` as it goes. Refuses before
/// dropping anything when an object outside the chain depends on one of its: a foreign key
/// (every backend), a view, trigger or routine naming it (SQLite, MySQL), anything
/// PostgreSQL's dependency tracking knows.
async fn drop_owned<C>(
    conn: &C,
    chain: &Chain,
    dropped: &mut Vec<ObjectKey>,
    gone: &[&Chain],
) -> Result<(), Error>
where
    C: ConnectionTrait + TransactionTrait,
{
    let backend = conn.get_database_backend();
    let namespace = chain.namespace();
    let context = |what: &str| format!("namespace {namespace:?}: {what}");
    let Plan {
        schema,
        owned,
        owned_tables,
        edges,
    } = plan_drop(conn, chain, gone).await?;
    let owned: Vec<&ObjectKey> = owned.iter().collect();
    let mut pending: Vec<(Vec<Statement>, Vec<ObjectKey>)> = Vec::new();
    for kind in backend::DROP_ORDER {
        let mut of_kind: Vec<(&str, &BTreeSet<String>)> = owned
            .iter()
            .filter(|k| k.kind == kind)
            .filter_map(|k| schema.lines(k).map(|l| (k.name.as_str(), l)))
            .collect();
        if kind == ObjectKind::Table {
            let order = drop_order(&owned_tables, &edges);
            of_kind.sort_by_key(|(n, _)| order.iter().position(|o| o == n));
        }
        let statements = backend::drop_objects(backend, kind, &of_kind);
        if !statements.is_empty() {
            let keys = of_kind
                .iter()
                .map(|(n, _)| ObjectKey {
                    kind,
                    name: (*n).to_owned(),
                })
                .collect();
            pending.push((statements, keys));
        }
    }
    let mut version_tables = vec![chain.version_table().to_owned()];
    if chain.is_engine() {
        // no chain can have a row there now: a run refuses to start while it has one
        version_tables.push(backend::PROGRESS_TABLE.to_owned());
    }
    for table in version_tables {
        if schema.contains(&table) {
            let mut statements = vec![Statement::from_string(
                backend,
                format!("DROP TABLE {}", backend::quote(backend, &table)),
            )];
            if table == chain.version_table() && schema.contains(backend::CHECKSUM_TABLE) {
                // the chain's checksums go with its version rows
                statements.push(backend.build(&backend::delete_checksums(namespace, None)));
            }
            pending.push((statements, vec![ObjectKey::table(&table)]));
        }
    }
    // PostgreSQL: each kind in a savepoint; one that other objects still depend on waits for
    // the rest, and whatever is left when nothing moves is depended on from outside
    loop {
        let mut progressed = false;
        let mut blocked: Option<sea_orm::DbErr> = None;
        let mut left = Vec::new();
        for (statements, keys) in pending {
            match run_drop(conn, &statements).await {
                Ok(()) => {
                    dropped.extend(keys);
                    progressed = true;
                }
                Err(e) if backend::is_dependency_error(&e) => {
                    blocked.get_or_insert(e);
                    left.push((statements, keys));
                }
                Err(e) => {
                    let sql: Vec<&str> = statements.iter().map(|s| s.sql.as_str()).collect();
                    return Err(Error::Database {
                        context: context(&format!("running {}", shorten(&sql.join("; ")))),
                        source: Box::new(e),
                    });
                }
            }
        }
        pending = left;
        match blocked {
            None => return Ok(()),
            Some(_) if progressed => {}
            Some(e) => return Err(depended_on(namespace, &e)),
        }
    }
}

/// What a chain's drop acts on: the schema, the objects the chain owns (version tables
/// aside), its tables and the foreign keys among them.
struct Plan {
    schema: Snapshot,
    owned: Vec<ObjectKey>,
    owned_tables: BTreeSet<String>,
    edges: Vec<(String, String)>,
}

/// Reads what `chain` owns and refuses, before anything is dropped, when an object outside it
/// (and outside the chains in `gone`, dropped before it) depends on one of its objects: a
/// foreign key (every backend), a view, trigger or routine naming it (SQLite, MySQL).
async fn plan_drop<C: ConnectionTrait>(
    conn: &C,
    chain: &Chain,
    gone: &[&Chain],
) -> Result<Plan, Error> {
    let namespace = chain.namespace();
    let scope = chain.scope();
    let schema = snapshot(conn).await?;
    let owned: Vec<ObjectKey> = schema
        .objects()
        .filter(|k| {
            k.kind.is_schema_object()
                && !is_version_table(&k.name)
                && owns(&scope, namespace, chain.version_table(), k)
        })
        .cloned()
        .collect();
    let owned_tables: BTreeSet<String> = owned
        .iter()
        .filter(|k| k.kind == ObjectKind::Table)
        .map(|k| k.name.clone())
        .collect();
    let outside = |name: &str| !gone.iter().any(|c| c.scope().contains(name));
    let edges = foreign_keys_into(conn, namespace, &owned_tables, &schema, &outside).await?;
    let refs: Vec<&ObjectKey> = owned.iter().collect();
    refuse_named_from_outside(conn, chain, &refs, &outside).await?;
    Ok(Plan {
        schema,
        owned,
        owned_tables,
        edges,
    })
}

/// The foreign keys among `owned` tables, as (referencing, referenced) pairs. Refuses when a
/// table `outside` them references one of them.
async fn foreign_keys_into<C: ConnectionTrait>(
    conn: &C,
    namespace: &str,
    owned: &BTreeSet<String>,
    schema: &Snapshot,
    outside: &dyn Fn(&str) -> bool,
) -> Result<Vec<(String, String)>, Error> {
    let context = format!("namespace {namespace:?}: listing foreign keys");
    let backend = conn.get_database_backend();
    let mut edges = Vec::new();
    for row in conn
        .query_all_raw(backend::foreign_keys(backend))
        .await
        .map_err(Error::db(context.clone()))?
    {
        let from: String = row
            .try_get("", "from_table")
            .map_err(Error::db(context.clone()))?;
        let to: String = row
            .try_get("", "to_table")
            .map_err(Error::db(context.clone()))?;
        if owned.contains(&to) && !owned.contains(&from) && schema.contains(&from) && outside(&from)
        {
            return Err(Error::ReferencedFromOutside {
                namespace: namespace.to_owned(),
                from_table: from,
                to_table: to,
            });
        }
        if owned.contains(&to) && owned.contains(&from) && from != to {
            edges.push((from, to));
        }
    }
    Ok(edges)
}

/// On the backends that do not track what a definition depends on (SQLite, MySQL): refuses
/// when a view, trigger or routine outside the chain names one of its objects.
async fn refuse_named_from_outside<C: ConnectionTrait>(
    conn: &C,
    chain: &Chain,
    owned: &[&ObjectKey],
    outside: &dyn Fn(&str) -> bool,
) -> Result<(), Error> {
    let Some(stmt) = backend::definitions(conn.get_database_backend()) else {
        return Ok(());
    };
    let namespace = chain.namespace();
    let context = format!("namespace {namespace:?}: listing views and triggers");
    let scope = chain.scope();
    for row in conn
        .query_all_raw(stmt)
        .await
        .map_err(Error::db(context.clone()))?
    {
        let read = |c: &str| -> Result<String, Error> {
            row.try_get::<Option<String>>("", c)
                .map(Option::unwrap_or_default)
                .map_err(Error::db(context.clone()))
        };
        let (kind, name, on, body) = (read("k")?, read("n")?, read("o")?, read("b")?);
        // a trigger belongs to the table it is on; a view or routine to its name
        let holder = if kind == "trigger" { &on } else { &name };
        if scope.contains(holder) || !outside(holder) {
            continue;
        }
        if let Some(target) = owned
            .iter()
            .find(|k| k.name != *holder && mentions(&body, &k.name))
        {
            let dependent = if kind == "trigger" {
                format!("trigger {name:?} on table {on:?}")
            } else {
                format!("{kind} {name:?}")
            };
            return Err(Error::DependedOn {
                namespace: namespace.to_owned(),
                object: target.to_string(),
                dependent,
            });
        }
    }
    Ok(())
}

/// Runs drop statements, in a savepoint where the backend has transactional DDL.
async fn run_drop<C>(conn: &C, statements: &[Statement]) -> Result<(), sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if !backend::transactional_ddl(conn.get_database_backend()) {
        for stmt in statements {
            conn.execute_raw(stmt.clone()).await?;
        }
        return Ok(());
    }
    let savepoint = conn.begin().await?;
    for stmt in statements {
        if let Err(e) = savepoint.execute_raw(stmt.clone()).await {
            savepoint.rollback().await.ok();
            return Err(e);
        }
    }
    savepoint.commit().await
}

/// The refusal for a PostgreSQL dependency error: its DETAIL says `X depends on Y`.
fn depended_on(namespace: &str, err: &sea_orm::DbErr) -> Error {
    let (detail, _) = pg_detail_and_hint(err);
    let detail = detail.unwrap_or_else(|| err.to_string());
    let first = detail.lines().next().unwrap_or_default();
    let (dependent, object) = first
        .split_once(" depends on ")
        .map(|(d, o)| (d.to_owned(), o.to_owned()))
        .unwrap_or_else(|| (first.to_owned(), "one of its objects".to_owned()));
    Error::DependedOn {
        namespace: namespace.to_owned(),
        object,
        dependent,
    }
}

/// Whether `text` names `name` as a whole identifier (case-insensitive).
fn mentions(text: &str, name: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$';
    text.match_indices(&name).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + name.len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
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
    /// It is applied, and its file was edited since in a way a person found harmless: record
    /// the file's current checksum.
    AcceptChecksum,
}

/// Settles a migration that did not finish (see [`Error::Interrupted`]) after a person has
/// checked the schema: records it as applied or as not applied, and clears the record that
/// it was running. [`Resolution::AcceptChecksum`] settles an applied migration whose file was
/// edited (see [`Error::ModifiedMigration`]) by recording its current checksum. Also works on a migration with no such record, to correct the version table
/// by hand, and, with [`Resolution::RolledBack`], on a migration the database records but this
/// build no longer has (its code was removed).
///
/// # Errors
/// [`Error::UnknownNamespace`]; [`Error::UnknownMigration`] when neither the chain nor the
/// database knows the migration; [`Error::CannotResolve`] when the chain's unfinished migration
/// is another one, or a migration whose code is gone is to be recorded as applied;
/// [`Error::Database`].
pub async fn resolve(
    db: &DatabaseConnection,
    registry: &Registry,
    namespace: &str,
    migration: &str,
    resolution: Resolution,
) -> Result<(), Error> {
    let chain = registry.get(namespace)?;
    let context = format!("namespace {namespace:?}: resolving {migration}");
    let state = crate::status::read_state(db, &[chain], crate::status::Read::Listing).await?;
    let recorded = &state.recorded[0];
    let known = chain.migration_names().iter().any(|m| m == migration);
    let applied = recorded.applied.contains_key(migration);
    let cannot = |reason: String| Error::CannotResolve {
        namespace: namespace.to_owned(),
        migration: migration.to_owned(),
        reason,
    };
    let in_progress = match &recorded.interrupted {
        Some(i) if i.migration != migration => {
            return Err(cannot(format!(
                "the chain's unfinished migration is {}; resolve that one",
                i.migration
            )));
        }
        Some(_) => true,
        None => false,
    };
    if !known {
        if !applied && !in_progress {
            return Err(Error::UnknownMigration {
                namespace: namespace.to_owned(),
                migration: migration.to_owned(),
            });
        }
        if resolution == Resolution::Applied {
            return Err(cannot(
                "this build has no such migration, so it can only be recorded as not applied \
                 (--rolled-back), once nothing of it remains"
                    .to_owned(),
            ));
        }
    }
    if resolution == Resolution::AcceptChecksum {
        let Some(&at) = recorded.applied.get(migration) else {
            return Err(cannot(
                "it is not applied, so it has no recorded checksum to replace".to_owned(),
            ));
        };
        let Some(source) = chain.sources().get(migration).copied() else {
            return Err(cannot(
                "this build has no checksum for it (its chain does not declare checksums with \
                 `chainkit::migrations!`)"
                    .to_owned(),
            ));
        };
        if !state.checksums_exist {
            db.execute(&backend::create_checksum_table())
                .await
                .map_err(Error::db(context.clone()))?;
        }
        let sum = source.checksum.to_recorded();
        db.execute(&backend::upsert_checksums(&[(
            namespace, migration, &sum, at,
        )]))
        .await
        .map_err(Error::db(context))?;
        return Ok(());
    }
    let table = chain.version_table();
    if !recorded.table_exists {
        db.execute(&backend::create_version_table(table))
            .await
            .map_err(Error::db(context.clone()))?;
    }
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
    if in_progress {
        db.execute(&backend::delete_progress(namespace))
            .await
            .map_err(Error::db(context))?;
    }
    Ok(())
}
