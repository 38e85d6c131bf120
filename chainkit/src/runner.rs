//! Applies and rolls back migrations: the one place that owns the sequence.
//!
//! Per run: one round of reads for every chain's state ([`crate::status`]), then the steps in
//! order. Where DDL is transactional (PostgreSQL, SQLite), consecutive steps share one
//! transaction, each inside its own savepoint together with its version row: a failed step
//! rolls back to its savepoint and leaves no trace, the steps before it are committed, and
//! nothing after it runs. A migration whose `use_transaction()` is `Some(false)` runs outside
//! any transaction. On MySQL each step runs on its own, as plain sea-orm-migration does.
//!
//! Every step is guarded: the schema is compared before and after it, and a step that
//! created, altered or dropped a table outside its chain's scope is refused (rolled back
//! where the backend can).

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use sea_orm_migration::{MigrationTrait, SchemaManager};

use crate::backend;
use crate::chain::Chain;
use crate::error::{AppliedMigration, Error, Trespass};
use crate::schema::{Snapshot, TableChange, snapshot};
use crate::status::{ChainStatus, DbState, MigrationStatus, Status, chain_status, read_state};

/// What a successful run did, and where every chain stands afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The migrations this run applied (or, for a rollback, rolled back), in order.
    pub applied: Vec<AppliedMigration>,
    /// Every chain's state after the run, in run order.
    pub chains: Vec<ChainStatus>,
}

impl RunReport {
    /// The migrations this run applied to (or rolled back from) the chain `namespace`.
    pub fn applied_to<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a str> {
        self.applied
            .iter()
            .filter(move |a| a.namespace == namespace)
            .map(|a| a.migration.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Up,
    Down,
}

/// One migration to run in one direction.
struct Step<'a> {
    chain: &'a Chain,
    migration: Box<dyn MigrationTrait>,
}

/// Reads the state of `chains` and refuses to go on if a version table records a migration
/// this build does not have.
pub(crate) async fn checked_state(
    db: &DatabaseConnection,
    chains: &[&Chain],
) -> Result<(DbState, Vec<ChainStatus>), Error> {
    let state = read_state(db, chains).await?;
    let statuses: Vec<ChainStatus> = chains
        .iter()
        .zip(&state.recorded)
        .map(|(c, r)| chain_status(c, r))
        .collect();
    if let Some(status) = statuses.iter().find(|s| !s.unknown_applied.is_empty()) {
        return Err(Error::UnknownAppliedMigration {
            namespace: status.namespace.clone(),
            version_table: status.version_table.clone(),
            migration: status.unknown_applied[0].clone(),
        });
    }
    if let Some((status, i)) = statuses
        .iter()
        .find_map(|s| s.interrupted.as_ref().map(|i| (s, i)))
    {
        return Err(Error::Interrupted {
            namespace: status.namespace.clone(),
            migration: i.migration.clone(),
            direction: i.direction.clone(),
            started_at: i.started_at,
        });
    }
    Ok((state, statuses))
}

/// Applies every pending migration of `chains`, in the order given, stopping at the first
/// failure. `steps` limits how many migrations are applied in all.
///
/// # Errors
/// - [`Error::UnknownAppliedMigration`] before anything runs, when a version table records a
///   migration this build does not have;
/// - [`Error::MigrationFailed`] naming the namespace, the migration and the database's message,
///   with the migrations applied before it;
/// - [`Error::Trespass`] when a migration touched a table outside its chain's scope;
/// - [`Error::Database`] when the state cannot be read.
pub async fn up(
    db: &DatabaseConnection,
    chains: &[&Chain],
    steps: Option<u32>,
) -> Result<RunReport, Error> {
    let (state, mut statuses) = checked_state(db, chains).await?;
    let mut budget = steps.map_or(usize::MAX, |s| s as usize);
    let mut work = Vec::new();
    let mut create = Vec::new();
    for ((chain, recorded), status) in chains.iter().zip(&state.recorded).zip(&statuses) {
        let pending: Vec<&str> = status.pending().take(budget).collect();
        if pending.is_empty() {
            continue;
        }
        budget -= pending.len();
        if !recorded.table_exists {
            create.push(chain.version_table());
        }
        work.extend(
            chain
                .migrations()
                .into_iter()
                .filter(|m| pending.contains(&m.name()))
                .map(|migration| Step { chain, migration }),
        );
    }
    let done = execute(db, Direction::Up, &create, work).await?;
    mark(&mut statuses, &done, Direction::Up);
    Ok(RunReport {
        applied: done,
        chains: statuses,
    })
}

/// Rolls back the newest applied migrations of `chain`, newest first: `steps` of them, or all.
///
/// # Errors
/// As [`up`].
pub async fn down(
    db: &DatabaseConnection,
    chain: &Chain,
    steps: Option<u32>,
) -> Result<RunReport, Error> {
    let (_, mut statuses) = checked_state(db, &[chain]).await?;
    let applied: Vec<String> = statuses[0]
        .migrations
        .iter()
        .filter(|m| m.status == Status::Applied)
        .map(|m| m.name.clone())
        .collect();
    let take = steps.map_or(applied.len(), |s| s as usize);
    let targets: Vec<&String> = applied.iter().rev().take(take).collect();
    let mut migrations = chain.migrations();
    migrations.reverse();
    let work = migrations
        .into_iter()
        .filter(|m| targets.iter().any(|t| *t == m.name()))
        .map(|migration| Step { chain, migration })
        .collect();
    let done = execute(db, Direction::Down, &[], work).await?;
    mark(&mut statuses, &done, Direction::Down);
    Ok(RunReport {
        applied: done,
        chains: statuses,
    })
}

fn mark(statuses: &mut [ChainStatus], done: &[AppliedMigration], direction: Direction) {
    let now = backend::now_unix();
    for step in done {
        if let Some(status) = statuses.iter_mut().find(|s| s.namespace == step.namespace)
            && let Some(m) = status
                .migrations
                .iter_mut()
                .find(|m| m.name == step.migration)
        {
            *m = MigrationStatus {
                name: m.name.clone(),
                status: match direction {
                    Direction::Up => Status::Applied,
                    Direction::Down => Status::Pending,
                },
                applied_at: (direction == Direction::Up).then_some(now),
            };
        }
    }
}

/// Runs `work` in order; creates the version tables in `create` first.
async fn execute(
    db: &DatabaseConnection,
    direction: Direction,
    create: &[&str],
    work: Vec<Step<'_>>,
) -> Result<Vec<AppliedMigration>, Error> {
    let mut done = Vec::new();
    if work.is_empty() {
        return Ok(done);
    }
    let backend = db.get_database_backend();
    let mut open: Option<DatabaseTransaction> = None;
    let result = async {
        if backend::batch_transactions(backend) {
            open = Some(
                db.begin()
                    .await
                    .map_err(Error::db("beginning a transaction"))?,
            );
        }
        let unguarded = |m: &dyn MigrationTrait| {
            !(backend::use_transaction(m, backend) && backend::transactional_ddl(backend))
        };
        if work.iter().any(|step| unguarded(step.migration.as_ref())) {
            let stmt = backend::create_progress_table();
            match &open {
                Some(txn) => txn.execute(&stmt).await,
                None => db.execute(&stmt).await,
            }
            .map_err(Error::db(format!("creating {}", backend::PROGRESS_TABLE)))?;
        }
        let mut before = match &open {
            Some(txn) => snapshot(txn).await?,
            None => snapshot(db).await?,
        };
        let mut create: Vec<&str> = create.to_vec();
        for Step { chain, migration } in work {
            if let Some(i) = create.iter().position(|t| *t == chain.version_table()) {
                let table = create.swap_remove(i);
                let stmt = backend::create_version_table(backend, table);
                match &open {
                    Some(txn) => txn.execute(&stmt).await,
                    None => db.execute(&stmt).await,
                }
                .map_err(Error::db(format!("creating version table {table}")))?;
            }
            let failed = |source: DbErr, rolled_back: bool, done: &[AppliedMigration]| {
                Error::MigrationFailed {
                    namespace: chain.namespace().to_owned(),
                    migration: migration.name().to_owned(),
                    rolled_back,
                    applied: done.to_vec(),
                    source: Box::new(source),
                }
            };
            let transactional = backend::use_transaction(migration.as_ref(), backend);
            let outcome = if transactional && backend::batch_transactions(backend) {
                if open.is_none() {
                    open = Some(db.begin().await.map_err(|e| failed(e, true, &done))?);
                }
                let txn = open.as_ref().expect("a transaction is open");
                let savepoint = txn.begin().await.map_err(|e| failed(e, true, &done))?;
                match run_step(&savepoint, direction, chain, migration.as_ref(), &before).await {
                    Ok(after) => {
                        savepoint
                            .commit()
                            .await
                            .map_err(|e| failed(e, true, &done))?;
                        Ok(after)
                    }
                    Err(e) => {
                        savepoint.rollback().await.ok();
                        Err(e.rolled_back())
                    }
                }
            } else {
                if let Some(txn) = open.take() {
                    txn.commit().await.map_err(|e| failed(e, true, &done))?;
                }
                if unguarded(migration.as_ref()) {
                    let name = match direction {
                        Direction::Up => "up",
                        Direction::Down => "down",
                    };
                    db.execute(&backend::insert_progress(
                        chain.namespace(),
                        migration.name(),
                        name,
                    ))
                    .await
                    .map_err(|e| failed(e, false, &done))?;
                }
                if transactional {
                    let txn = db.begin().await.map_err(|e| failed(e, false, &done))?;
                    let r = run_step(&txn, direction, chain, migration.as_ref(), &before).await;
                    match r {
                        Ok(after) => match txn.commit().await {
                            Ok(()) => Ok(after),
                            Err(e) => Err(StepError::Db(e)),
                        },
                        Err(e) => {
                            txn.rollback().await.ok();
                            Err(if backend::transactional_ddl(backend) {
                                e.rolled_back()
                            } else {
                                e
                            })
                        }
                    }
                } else {
                    run_step(db, direction, chain, migration.as_ref(), &before).await
                }
            };
            if unguarded(migration.as_ref()) && outcome.is_ok() {
                db.execute(&backend::delete_progress(chain.namespace()))
                    .await
                    .map_err(|e| failed(e, false, &done))?;
            }
            match outcome {
                Ok(after) => before = after,
                Err(StepError::Db(e)) => return Err(failed(e, false, &done)),
                Err(StepError::RolledBack(e)) => return Err(failed(e, true, &done)),
                Err(StepError::Guard(e)) => return Err(e),
                Err(StepError::Trespass {
                    trespasses,
                    left_behind,
                }) => {
                    return Err(Error::Trespass(Box::new(Trespass {
                        namespace: chain.namespace().to_owned(),
                        migration: migration.name().to_owned(),
                        scope: chain.scope().describe(),
                        trespasses,
                        left_behind,
                        applied: done.clone(),
                    })));
                }
            }
            tracing::info!(
                namespace = chain.namespace(),
                migration = migration.name(),
                ?direction,
                "done"
            );
            done.push(AppliedMigration {
                namespace: chain.namespace().to_owned(),
                migration: migration.name().to_owned(),
            });
        }
        Ok(())
    }
    .await;
    // What succeeded before a failure stays applied.
    if let Some(txn) = open.take()
        && let Err(e) = txn.commit().await
    {
        return Err(result.err().unwrap_or(Error::Database {
            context: "committing".to_owned(),
            source: Box::new(e),
        }));
    }
    result.map(|()| done)
}

/// Why a step failed.
enum StepError {
    /// The migration or its version row failed; nothing was rolled back.
    Db(DbErr),
    /// The migration failed and was rolled back.
    RolledBack(DbErr),
    /// Reading the schema for the guard failed.
    Guard(Error),
    /// The migration touched tables outside its scope.
    Trespass {
        trespasses: Vec<TableChange>,
        left_behind: Option<Vec<TableChange>>,
    },
}

impl StepError {
    /// The same failure, knowing that its changes were rolled back.
    fn rolled_back(self) -> Self {
        match self {
            Self::Db(e) => Self::RolledBack(e),
            Self::Trespass { trespasses, .. } => Self::Trespass {
                trespasses,
                left_behind: None,
            },
            other => other,
        }
    }
}

/// Runs one migration in `direction` on `conn`, checks that it stayed in its scope, and
/// records it. Returns the schema afterwards. A trespass is reported with every change the
/// migration made as `left_behind`, which [`StepError::rolled_back`] clears when its
/// transaction is rolled back.
async fn run_step<C>(
    conn: &C,
    direction: Direction,
    chain: &Chain,
    migration: &dyn MigrationTrait,
    before: &Snapshot,
) -> Result<Snapshot, StepError>
where
    C: ConnectionTrait,
    for<'c> &'c C: sea_orm_migration::IntoSchemaManagerConnection<'c>,
{
    let manager = SchemaManager::new(conn);
    match direction {
        Direction::Up => migration.up(&manager).await,
        Direction::Down => migration.down(&manager).await,
    }
    .map_err(StepError::Db)?;
    let after = snapshot(conn).await.map_err(StepError::Guard)?;
    let trespasses = before.trespasses(&after, &chain.scope(), chain.version_table());
    if !trespasses.is_empty() {
        return Err(StepError::Trespass {
            trespasses,
            left_behind: Some(before.changes(&after)),
        });
    }
    let table = chain.version_table();
    let record = match direction {
        Direction::Up => {
            conn.execute(&backend::insert_version(
                table,
                migration.name(),
                backend::now_unix(),
            ))
            .await
        }
        Direction::Down => {
            conn.execute(&backend::delete_version(table, migration.name()))
                .await
        }
    };
    record.map_err(StepError::Db)?;
    Ok(after)
}
