//! Applies and rolls back migrations: the one place that owns the sequence.
//!
//! Per run: one read of every chain's state ([`crate::status`]), then the steps in order,
//! grouped by chain. Where DDL is transactional (PostgreSQL, SQLite) the run shares one
//! transaction; each chain's steps run inside one savepoint and are guarded once at the end.
//! When a step fails or the guard finds a trespass, that savepoint is rolled back and the
//! chain's steps run again one by one, each in its own savepoint with its version row and
//! guarded after it: the failing step leaves no trace, the steps before it are committed, the
//! error names it, and nothing after it runs. A migration whose `use_transaction()` is
//! `Some(false)` runs outside any transaction. On MySQL each step runs on its own and is
//! guarded after it, and a step that may leave something half-done is recorded in the
//! progress table while it runs.
//!
//! The guard compares the schema before and after: a step that created, altered or dropped a
//! table outside its chain's scope is refused (rolled back where the backend can).

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, SchemaManager};

use crate::backend;
use crate::chain::Chain;
use crate::error::{AppliedMigration, Error, Trespass};
use crate::schema::{Snapshot, TableChange, snapshot};
use crate::status::{
    ChainStatus, DbState, MigrationStatus, Read, Status, chain_status, read_state,
};

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
    let state = read_state(db, chains, Read::Optimistic).await?;
    if !state.progress_exists {
        // created once, so that later startups read everything in one statement
        db.execute(&backend::create_progress_table())
            .await
            .map_err(Error::db(format!("creating {}", backend::PROGRESS_TABLE)))?;
    }
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

/// Whether `migration` runs outside a transaction with transactional DDL, so that a crash or
/// failure can leave part of it behind: such steps are recorded in the progress table while
/// they run.
fn unguarded(migration: &dyn MigrationTrait, backend: DbBackend) -> bool {
    !(backend::use_transaction(migration, backend) && backend::transactional_ddl(backend))
}

/// Runs `work` in order, creating the version tables in `create` as their chains come.
///
/// Consecutive steps of one chain form a group. Where every step of a group can run in the
/// open transaction, the group runs inside one savepoint with one guard check at its end; if
/// a step fails or the check finds a trespass, the group is rolled back and run again step by
/// step, each in its own savepoint and guarded after it, which keeps the steps before the
/// failing one and names it. Other groups run step by step from the start.
async fn execute(
    db: &DatabaseConnection,
    direction: Direction,
    create: &[&str],
    work: Vec<Step<'_>>,
) -> Result<Vec<AppliedMigration>, Error> {
    if work.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let mut run = Run {
        db,
        backend,
        direction,
        open: None,
        done: Vec::new(),
        schema: None,
    };
    let result = async {
        if backend::batch_transactions(backend) {
            run.open = Some(
                db.begin()
                    .await
                    .map_err(Error::db("beginning a transaction"))?,
            );
        }
        let mut create: Vec<&str> = create.to_vec();
        let mut groups: Vec<(&Chain, Vec<Box<dyn MigrationTrait>>)> = Vec::new();
        for Step { chain, migration } in work {
            match groups.last_mut() {
                Some((c, ms)) if std::ptr::eq(*c, chain) => ms.push(migration),
                _ => groups.push((chain, vec![migration])),
            }
        }
        for (chain, migrations) in groups {
            if run.open.is_none() && backend::batch_transactions(backend) {
                run.open = Some(
                    db.begin()
                        .await
                        .map_err(Error::db("beginning a transaction"))?,
                );
            }
            if let Some(i) = create.iter().position(|t| *t == chain.version_table()) {
                let table = create.swap_remove(i);
                run.exec(&backend::create_version_table(backend, table))
                    .await
                    .map_err(Error::db(format!("creating version table {table}")))?;
            }
            let batched =
                run.open.is_some() && migrations.iter().all(|m| !unguarded(m.as_ref(), backend));
            if batched && run.group(chain, &migrations).await? {
                continue;
            }
            for migration in &migrations {
                run.step(chain, migration.as_ref()).await?;
            }
        }
        Ok(())
    }
    .await;
    // What succeeded before a failure stays applied.
    if let Some(txn) = run.open.take()
        && let Err(e) = txn.commit().await
    {
        return Err(result.err().unwrap_or(Error::Database {
            context: "committing".to_owned(),
            source: Box::new(e),
        }));
    }
    result.map(|()| run.done)
}

/// One run of steps in progress.
struct Run<'d> {
    db: &'d DatabaseConnection,
    backend: DbBackend,
    direction: Direction,
    /// The transaction steps share, where DDL is transactional.
    open: Option<DatabaseTransaction>,
    /// The steps done so far, in order.
    done: Vec<AppliedMigration>,
    /// The schema as it stands now, once read.
    schema: Option<Snapshot>,
}

impl Run<'_> {
    /// Executes `stmt` in the open transaction, or on the connection.
    async fn exec<S: sea_orm::StatementBuilder>(&self, stmt: &S) -> Result<(), DbErr> {
        match &self.open {
            Some(txn) => txn.execute(stmt).await.map(|_| ()),
            None => self.db.execute(stmt).await.map(|_| ()),
        }
    }

    /// The schema as it stands now.
    async fn schema(&mut self) -> Result<Snapshot, Error> {
        if self.schema.is_none() {
            self.schema = Some(match &self.open {
                Some(txn) => snapshot(txn).await?,
                None => snapshot(self.db).await?,
            });
        }
        Ok(self.schema.clone().expect("just read"))
    }

    fn failed(&self, chain: &Chain, migration: &str, source: DbErr, rolled_back: bool) -> Error {
        Error::MigrationFailed {
            namespace: chain.namespace().to_owned(),
            migration: migration.to_owned(),
            rolled_back,
            applied: self.done.clone(),
            source: Box::new(source),
        }
    }

    fn record_done(&mut self, chain: &Chain, migration: &str) {
        let done = match self.direction {
            Direction::Up => "applied",
            Direction::Down => "rolled back",
        };
        tracing::info!("{done} {} {migration}", chain.namespace());
        self.done.push(AppliedMigration {
            namespace: chain.namespace().to_owned(),
            migration: migration.to_owned(),
        });
    }

    /// Runs a group of one chain's steps in the open transaction, inside one savepoint, with
    /// one guard check at the end. Returns `false` when a step failed or the check found a
    /// trespass: the group was rolled back and must run step by step, which keeps the steps
    /// before the failing one and names it.
    async fn group(
        &mut self,
        chain: &Chain,
        migrations: &[Box<dyn MigrationTrait>],
    ) -> Result<bool, Error> {
        let before = self.schema().await?;
        let txn = self
            .open
            .as_ref()
            .expect("a group runs in the open transaction");
        let group = txn
            .begin()
            .await
            .map_err(Error::db("beginning a savepoint"))?;
        for migration in migrations {
            let outcome = async {
                run_migration(&group, self.direction, migration.as_ref()).await?;
                record(&group, self.direction, chain, migration.name()).await
            }
            .await;
            if outcome.is_err() {
                group.rollback().await.ok();
                return Ok(false);
            }
        }
        let after = snapshot(&group).await?;
        if !before
            .trespasses(&after, &chain.scope(), chain.version_table())
            .is_empty()
        {
            group.rollback().await.ok();
            return Ok(false);
        }
        group
            .commit()
            .await
            .map_err(Error::db("releasing a savepoint"))?;
        self.schema = Some(after);
        for migration in migrations {
            self.record_done(chain, migration.name());
        }
        Ok(true)
    }

    /// Runs one step, guarded on its own.
    async fn step(&mut self, chain: &Chain, migration: &dyn MigrationTrait) -> Result<(), Error> {
        let name = migration.name();
        let before = self.schema().await?;
        let backend = self.backend;
        let transactional = backend::use_transaction(migration, backend);
        let outcome = if let (true, Some(txn)) = (transactional, self.open.as_ref()) {
            let savepoint = txn
                .begin()
                .await
                .map_err(|e| self.failed(chain, name, e, true))?;
            match run_step(&savepoint, self.direction, chain, migration, &before).await {
                Ok(after) => {
                    savepoint
                        .commit()
                        .await
                        .map_err(|e| self.failed(chain, name, e, true))?;
                    Ok(after)
                }
                Err(e) => {
                    savepoint.rollback().await.ok();
                    Err(e.rolled_back())
                }
            }
        } else {
            if let Some(txn) = self.open.take() {
                txn.commit()
                    .await
                    .map_err(|e| self.failed(chain, name, e, true))?;
            }
            let direction = match self.direction {
                Direction::Up => "up",
                Direction::Down => "down",
            };
            if unguarded(migration, backend) {
                self.db
                    .execute(&backend::insert_progress(
                        chain.namespace(),
                        name,
                        direction,
                    ))
                    .await
                    .map_err(|e| self.failed(chain, name, e, false))?;
            }
            let outcome = if transactional {
                let txn = self
                    .db
                    .begin()
                    .await
                    .map_err(|e| self.failed(chain, name, e, false))?;
                match run_step(&txn, self.direction, chain, migration, &before).await {
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
                run_step(self.db, self.direction, chain, migration, &before).await
            };
            if outcome.is_ok() && unguarded(migration, backend) {
                self.db
                    .execute(&backend::delete_progress(chain.namespace()))
                    .await
                    .map_err(|e| self.failed(chain, name, e, false))?;
            }
            // the schema is read on the connection from now on, until a transaction opens
            self.schema = None;
            outcome
        };
        match outcome {
            Ok(after) => {
                self.schema = Some(after);
                self.record_done(chain, name);
                Ok(())
            }
            Err(StepError::Db(e)) => Err(self.failed(chain, name, e, false)),
            Err(StepError::RolledBack(e)) => Err(self.failed(chain, name, e, true)),
            Err(StepError::Guard(e)) => Err(e),
            Err(StepError::Trespass {
                trespasses,
                left_behind,
            }) => Err(Error::Trespass(Box::new(Trespass {
                namespace: chain.namespace().to_owned(),
                migration: name.to_owned(),
                scope: chain.scope().describe(),
                trespasses,
                left_behind,
                applied: self.done.clone(),
            }))),
        }
    }
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

/// Runs one migration's `up` or `down` on `conn`.
async fn run_migration<C>(
    conn: &C,
    direction: Direction,
    migration: &dyn MigrationTrait,
) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    for<'c> &'c C: sea_orm_migration::IntoSchemaManagerConnection<'c>,
{
    let manager = SchemaManager::new(conn);
    match direction {
        Direction::Up => migration.up(&manager).await,
        Direction::Down => migration.down(&manager).await,
    }
}

/// Records in the chain's version table that `migration` was applied or rolled back.
async fn record<C: ConnectionTrait>(
    conn: &C,
    direction: Direction,
    chain: &Chain,
    migration: &str,
) -> Result<(), DbErr> {
    let table = chain.version_table();
    match direction {
        Direction::Up => conn
            .execute(&backend::insert_version(
                table,
                migration,
                backend::now_unix(),
            ))
            .await
            .map(|_| ()),
        Direction::Down => conn
            .execute(&backend::delete_version(table, migration))
            .await
            .map(|_| ()),
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
    run_migration(conn, direction, migration)
        .await
        .map_err(StepError::Db)?;
    let after = snapshot(conn).await.map_err(StepError::Guard)?;
    let trespasses = before.trespasses(&after, &chain.scope(), chain.version_table());
    if !trespasses.is_empty() {
        return Err(StepError::Trespass {
            trespasses,
            left_behind: Some(before.changes(&after)),
        });
    }
    record(conn, direction, chain, migration.name())
        .await
        .map_err(StepError::Db)?;
    Ok(after)
}
