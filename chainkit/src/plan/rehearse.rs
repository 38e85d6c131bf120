//! Running the pending migrations for real and keeping nothing: in a transaction rolled back
//! at the end, or on a scratch database.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use sea_orm_migration::{IntoSchemaManagerConnection, MigrationTrait, SchemaManager};

use super::capture::{self, Captured};
use super::rules::{self, Input};
use super::{Plan, PlannedChain, PlannedMigration, PlannedStatement, Rehearsal, RehearsalFailure};
use crate::backend;
use crate::catalog::read_catalog;
use crate::chain::Chain;
use crate::drift::{Scratch, ScratchServer};
use crate::error::Error;
use crate::registry::Registry;
use crate::schema;
use crate::status::{ChainStatus, Read, chain_status, read_state};

/// The chains before the first of `chains` in run order that have pending migrations, with
/// how many: a start would run them first.
fn left_out(all: &[&Chain], statuses: &[ChainStatus], chains: &[&Chain]) -> Vec<(String, usize)> {
    let Some(first) = chains.first() else {
        return Vec::new();
    };
    all.iter()
        .zip(statuses)
        .take_while(|(c, _)| c.namespace() != first.namespace())
        .filter(|(c, _)| !chains.iter().any(|p| p.namespace() == c.namespace()))
        .map(|(c, s)| (c.namespace().to_owned(), s.pending().count()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// Why a rehearsal cannot run on the database itself, if it cannot.
fn needs_scratch(
    backend: DbBackend,
    pending: &[(&Chain, Box<dyn MigrationTrait>)],
) -> Option<String> {
    if !backend::transactional_ddl(backend) {
        return Some(
            "MySQL commits every DDL statement, so nothing may run on the database itself".into(),
        );
    }
    pending
        .iter()
        .find(|(_, m)| !backend::use_transaction(m.as_ref(), backend))
        .map(|(chain, m)| {
            format!(
                "namespace {:?}: migration {} runs outside a transaction",
                chain.namespace(),
                m.name()
            )
        })
}

/// PostgreSQL refuses to use an enum value added in the same transaction (SQLSTATE 55P04),
/// which a deploy commits between the two migrations and a rehearsal cannot.
fn is_unsafe_new_enum_value(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("55P04") || text.contains("unsafe use of new value")
}

pub(super) async fn rehearse(
    db: &DatabaseConnection,
    url: &str,
    registry: &Registry,
    chains: &[&Chain],
) -> Result<Plan, Error> {
    let backend = db.get_database_backend();
    // every chain's state: the chains planned, and the applied migrations a scratch database
    // replays
    let all: Vec<&Chain> = registry.chains().iter().collect();
    let everything = read_state(db, &all, Read::Listing).await?;
    let all_statuses: Vec<ChainStatus> = all
        .iter()
        .zip(&everything.recorded)
        .map(|(c, r)| chain_status(c, r))
        .collect();
    crate::runner::check_statuses(&all_statuses)?;
    let planned = |c: &Chain| chains.iter().any(|p| p.namespace() == c.namespace());
    let state = crate::status::DbState {
        recorded: all
            .iter()
            .zip(&everything.recorded)
            .filter(|(c, _)| planned(c))
            .map(|(_, r)| r.clone())
            .collect(),
        ..everything.clone()
    };
    let statuses: Vec<ChainStatus> = all_statuses
        .iter()
        .filter(|s| chains.iter().any(|c| c.namespace() == s.namespace))
        .cloned()
        .collect();
    let mut plan = Plan {
        backend,
        rehearsal: Rehearsal::Transaction,
        chains: Vec::new(),
        migrations: Vec::new(),
        failure: None,
        left_out: left_out(&all, &all_statuses, chains),
        progress_exists: state.progress_exists,
        checksums: (
            state.checksums_exist,
            chains.iter().any(|c| c.has_checksums()),
        ),
    };
    let mut pending: Vec<(&Chain, Box<dyn MigrationTrait>)> = Vec::new();
    for ((chain, status), recorded) in chains.iter().zip(&statuses).zip(&state.recorded) {
        let names: Vec<&str> = status.pending().collect();
        if names.is_empty() {
            continue;
        }
        plan.chains.push(PlannedChain {
            namespace: chain.namespace().to_owned(),
            version_table: chain.version_table().to_owned(),
            version_table_exists: recorded.table_exists,
        });
        pending.extend(
            chain
                .migrations()
                .into_iter()
                .filter(|m| names.contains(&m.name()))
                .map(|m| (*chain, m)),
        );
    }
    if pending.is_empty() {
        return Ok(plan);
    }
    let reason = match needs_scratch(backend, &pending) {
        Some(reason) => reason,
        None => {
            let txn = db
                .begin()
                .await
                .map_err(Error::db("beginning the rehearsal's transaction"))?;
            let outcome = run_all(On::Transaction(&txn), &pending, &mut plan).await;
            txn.rollback()
                .await
                .map_err(Error::db("rolling the rehearsal back"))?;
            match outcome? {
                None => return Ok(plan),
                Some(reason) => {
                    plan.migrations.clear();
                    plan.failure = None;
                    reason
                }
            }
        }
    };
    plan.rehearsal = Rehearsal::Scratch {
        reason: reason.clone(),
    };
    let server = match backend {
        DbBackend::Sqlite => ScratchServer::SqliteMemory,
        _ => ScratchServer::Server(url.to_owned()),
    };
    let scratch_error = |source: Error| Error::RehearsalScratch {
        server: server.describe(),
        source: Box::new(source),
    };
    let mut scratch = Scratch::create(&server, true)
        .await
        .map_err(scratch_error)?;
    capture::render_values_on(&mut scratch.db);
    let result = async {
        replay_applied(&scratch.db, &all, &all_statuses, &everything).await?;
        run_all(On::Scratch(&scratch.db), &pending, &mut plan).await
    }
    .await;
    scratch.remove().await;
    // on a scratch database every migration commits before the next, so nothing sends the
    // rehearsal elsewhere
    result.map_err(scratch_error).map(|_| plan)
}

/// Replays the applied migrations of every chain into the scratch database, in run order,
/// each in a transaction of its own where it runs in one, and records them as the database
/// does: the version tables it has, with the same rows, and the progress and checksum tables
/// (so that a migration touching them is seen doing so).
async fn replay_applied(
    db: &DatabaseConnection,
    chains: &[&Chain],
    statuses: &[ChainStatus],
    state: &crate::status::DbState,
) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let setup = |what: &str| Error::db(format!("setting up the scratch database: {what}"));
    if state.progress_exists {
        db.execute(&backend::create_progress_table())
            .await
            .map_err(setup("the progress table"))?;
    }
    if state.checksums_exist {
        db.execute(&backend::create_checksum_table())
            .await
            .map_err(setup("the checksum table"))?;
    }
    for ((chain, status), recorded) in chains.iter().zip(statuses).zip(&state.recorded) {
        if recorded.table_exists {
            db.execute(&backend::create_version_table(chain.version_table()))
                .await
                .map_err(setup(chain.version_table()))?;
        }
        let applied: Vec<&crate::status::MigrationStatus> = status
            .migrations
            .iter()
            .filter(|m| m.applied_at.is_some())
            .collect();
        for m in &applied {
            db.execute(&backend::insert_version(
                chain.version_table(),
                &m.name,
                m.applied_at.unwrap_or_default(),
            ))
            .await
            .map_err(setup(chain.version_table()))?;
        }
        let sums: Vec<backend::ChecksumRow<'_>> = applied
            .iter()
            .filter_map(|m| {
                Some((
                    chain.namespace(),
                    m.name.as_str(),
                    m.recorded_checksum.as_deref()?,
                    m.applied_at?,
                ))
            })
            .collect();
        if state.checksums_exist && !sums.is_empty() {
            db.execute(&backend::upsert_checksums(&sums))
                .await
                .map_err(setup(crate::backend::CHECKSUM_TABLE))?;
        }
        let pending: Vec<&str> = status.pending().collect();
        for migration in chain.migrations() {
            if pending.contains(&migration.name()) {
                continue;
            }
            let context = format!(
                "replaying namespace {:?}: migration {}",
                chain.namespace(),
                migration.name()
            );
            let fail = |message: String| Error::Database {
                context: context.clone(),
                source: Box::new(DbErr::Custom(message)),
            };
            let outcome = if backend::use_transaction(migration.as_ref(), backend)
                && backend::transactional_ddl(backend)
            {
                let txn = db.begin().await.map_err(Error::db(context.clone()))?;
                let outcome =
                    crate::runner::catch_unwind(migration.up(&SchemaManager::new(&txn))).await;
                if matches!(outcome, Ok(Ok(()))) {
                    txn.commit().await.map_err(Error::db(context.clone()))?;
                }
                outcome
            } else {
                crate::runner::catch_unwind(migration.up(&SchemaManager::new(db))).await
            };
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(Error::db(context.clone())(e)),
                Err(panic) => return Err(fail(format!("panicked: {panic}"))),
            }
        }
    }
    Ok(())
}

/// Rehearses `pending` in order on `conn`, filling `plan`. With `commit_each`, each
/// transactional migration runs in a transaction of its own that is committed (a scratch
/// database). Returns why the rehearsal must move to a scratch database, if it must.
async fn run_all(
    on: On<'_>,
    pending: &[(&Chain, Box<dyn MigrationTrait>)],
    plan: &mut Plan,
) -> Result<Option<String>, Error> {
    let commit_each = matches!(on, On::Scratch(_));
    let mut prepared: Vec<&str> = Vec::new();
    for (chain, migration) in pending {
        let backend = plan.backend;
        if !prepared.contains(&chain.namespace()) {
            // what a run creates before a chain's first migration
            prepared.push(chain.namespace());
            let mut statements = vec![
                backend.build(&backend::create_progress_table()),
                backend.build(&backend::create_version_table(chain.version_table())),
            ];
            if chain.has_checksums() {
                statements.push(backend.build(&backend::create_checksum_table()));
            }
            for statement in statements {
                match on {
                    On::Transaction(txn) => txn.execute_raw(statement).await,
                    On::Scratch(db) => db.execute_raw(statement).await,
                }
                .map_err(Error::db(format!("creating {}", chain.version_table())))?;
            }
        }
        let in_transaction = backend::use_transaction(migration.as_ref(), backend)
            && backend::transactional_ddl(backend);
        let outcome = match on {
            On::Transaction(txn) => rehearse_one(txn, chain, migration.as_ref()).await?,
            On::Scratch(db) if in_transaction => {
                let txn = db
                    .begin()
                    .await
                    .map_err(Error::db("beginning a transaction"))?;
                let outcome = rehearse_one(&txn, chain, migration.as_ref()).await?;
                if outcome.1.is_none() {
                    txn.commit().await.map_err(Error::db("committing"))?;
                } else {
                    txn.rollback().await.ok();
                }
                outcome
            }
            On::Scratch(db) => rehearse_one(db, chain, migration.as_ref()).await?,
        };
        let (mut planned, failure) = outcome;
        if failure.is_none() {
            // recorded as a run records it, so that later migrations see the same tables
            let recorded = match on {
                On::Transaction(txn) => {
                    crate::runner::record_applied(txn, chain, migration.name()).await
                }
                On::Scratch(db) => crate::runner::record_applied(db, chain, migration.name()).await,
            };
            recorded.map_err(Error::db(format!(
                "namespace {:?}: recording {} in the rehearsal",
                chain.namespace(),
                migration.name()
            )))?;
        }
        planned.in_transaction = in_transaction;
        match failure {
            None => plan.migrations.push(planned),
            Some(Failure::Db(e)) if !commit_each && is_unsafe_new_enum_value(&e) => {
                return Ok(Some(format!(
                    "namespace {:?}: migration {} uses an enum value an earlier pending migration \
                     adds, which PostgreSQL allows only after a commit",
                    chain.namespace(),
                    migration.name()
                )));
            }
            Some(failure) => {
                planned.error = Some(failure.message());
                plan.failure = Some(RehearsalFailure {
                    namespace: chain.namespace().to_owned(),
                    migration: migration.name().to_owned(),
                    message: failure.message(),
                });
                plan.migrations.push(planned);
                return Ok(None);
            }
        }
    }
    Ok(None)
}

/// Where the rehearsal runs.
#[derive(Clone, Copy)]
enum On<'a> {
    /// The database's own transaction, rolled back afterwards.
    Transaction(&'a DatabaseTransaction),
    /// A scratch database: each migration commits.
    Scratch(&'a DatabaseConnection),
}

/// How a migration's rehearsal failed.
enum Failure {
    Db(DbErr),
    Panic(String),
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Self::Db(e) => crate::error::db_message(e),
            Self::Panic(message) => format!("panicked: {message}"),
        }
    }
}

/// Rehearses one migration on `conn`: its statements, its changes, the guard's verdict and
/// the findings; with the failure, if it failed.
async fn rehearse_one<C>(
    conn: &C,
    chain: &Chain,
    migration: &dyn MigrationTrait,
) -> Result<(PlannedMigration, Option<Failure>), Error>
where
    C: ConnectionTrait,
    for<'c> &'c C: IntoSchemaManagerConnection<'c>,
{
    let before = schema::snapshot(conn).await?;
    let catalog_before = read_catalog(conn).await?;
    let manager = SchemaManager::new(conn);
    let work = crate::lock_wait::watching(migration.up(&manager));
    let (outcome, captured) = capture::capture(crate::runner::catch_unwind(work)).await;
    let failure = match outcome {
        Ok((result, restore)) => {
            if let Some(sql) = restore {
                // it chose to wait for locks without limit: the session's timeout holds again
                conn.execute_unprepared(&sql).await.ok();
            }
            result.err().map(Failure::Db)
        }
        Err(message) => Some(Failure::Panic(message)),
    };
    let sources = chain.sources();
    let source = sources.get(migration.name());
    let mut planned = PlannedMigration {
        namespace: chain.namespace().to_owned(),
        migration: migration.name().to_owned(),
        in_transaction: true,
        statements: captured
            .statements
            .iter()
            .filter(|c| super::statements::transaction_control(&c.sql).is_none())
            .map(statement)
            .collect(),
        rolls_back: captured.rolled_back
            || captured.statements.iter().any(|c| {
                super::statements::transaction_control(&c.sql)
                    == Some(super::statements::Control::Undo)
            }),
        changes: Vec::new(),
        trespasses: Vec::new(),
        findings: Vec::new(),
        error: None,
        checksum: source.map(|s| s.checksum.to_string()),
    };
    if failure.is_some() {
        return Ok((planned, failure));
    }
    let after = schema::snapshot(conn).await?;
    let catalog_after = read_catalog(conn).await?;
    let objects = before.changes(&after);
    let tables = crate::drift::diff(&catalog_before, &catalog_after);
    planned.trespasses = before
        .trespasses(
            &after,
            &chain.scope(),
            chain.namespace(),
            chain.version_table(),
        )
        .iter()
        .map(ToString::to_string)
        .collect();
    planned.changes = objects
        .iter()
        .map(ToString::to_string)
        .chain(tables.iter().filter_map(describe))
        .collect();
    let texts: Vec<String> = planned.statements.iter().map(|s| s.sql.clone()).collect();
    let acknowledged: &[&str] = source.map_or(&[], |s| (s.acknowledged)());
    planned.findings = rules::check(&Input {
        backend: conn.get_database_backend(),
        changes: &tables,
        objects: &objects,
        statements: &texts,
    })
    .into_iter()
    .map(|mut f| {
        f.acknowledged = acknowledged.contains(&f.code.as_str());
        f
    })
    .collect();
    Ok((planned, None))
}

fn statement(c: &Captured) -> PlannedStatement {
    PlannedStatement {
        read: super::statements::is_read(&c.sql),
        sql: c.sql.clone(),
    }
}

/// A table change in the words of a plan (a table created or dropped is already among the
/// objects).
fn describe(change: &crate::drift::Change) -> Option<String> {
    use crate::drift::{Change, describe_column};
    Some(match change {
        Change::CreateTable { .. } | Change::DropTable { .. } => return None,
        Change::AddColumn { table, column } => format!(
            "column {table:?}.{:?} added: {}",
            column.name,
            describe_column(column)
        ),
        Change::DropColumn { table, column } => {
            format!("column {table:?}.{:?} dropped", column.name)
        }
        Change::AlterColumn { table, from, to } => format!(
            "column {table:?}.{:?} altered: {} -> {}",
            from.name,
            describe_column(from),
            describe_column(to)
        ),
        Change::AddIndex { table, index } => format!(
            "{}index on {table:?} ({}) created",
            if index.unique { "unique " } else { "" },
            index.columns.join(", ")
        ),
        Change::DropIndex { table, index } => format!(
            "index {:?} on {table:?} ({}) dropped",
            index.name,
            index.columns.join(", ")
        ),
        Change::AddForeignKey { table, key } => format!(
            "foreign key {table:?} ({}) -> {:?} created",
            key.columns.join(", "),
            key.ref_table
        ),
        Change::DropForeignKey { table, key } => format!(
            "foreign key {table:?} ({}) -> {:?} dropped",
            key.columns.join(", "),
            key.ref_table
        ),
        Change::PrimaryKey { table, from, to } => format!(
            "primary key of {table:?}: ({}) -> ({})",
            from.join(", "),
            to.join(", ")
        ),
    })
}
