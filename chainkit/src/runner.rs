//! Applies pending migrations: the one place that owns the sequence.
//!
//! Per run: one round of reads for every chain's state ([`crate::status`]), then the pending
//! migrations in run order. Where DDL is transactional (PostgreSQL, SQLite), consecutive
//! migrations share one transaction, each inside its own savepoint together with its version
//! row: a failed migration rolls back to its savepoint and leaves no trace, the migrations
//! before it are committed, and nothing after it runs. A migration whose `use_transaction()`
//! is `Some(false)` runs outside any transaction. On MySQL each migration runs on its own,
//! as plain sea-orm-migration does.

use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, TransactionTrait};
use sea_orm_migration::{MigrationTrait, SchemaManager};

use crate::backend;
use crate::chain::Chain;
use crate::error::{AppliedMigration, Error};
use crate::status::{ChainStatus, MigrationStatus, Status, chain_status, read_recorded};

/// What a successful run did, and where every chain stands afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The migrations this run applied, in order.
    pub applied: Vec<AppliedMigration>,
    /// Every chain's state after the run, in run order.
    pub chains: Vec<ChainStatus>,
}

impl RunReport {
    /// The migrations this run applied to the chain `namespace`.
    pub fn applied_to<'a>(&'a self, namespace: &'a str) -> impl Iterator<Item = &'a str> {
        self.applied
            .iter()
            .filter(move |a| a.namespace == namespace)
            .map(|a| a.migration.as_str())
    }
}

/// A chain's pending work.
struct Pending<'a> {
    chain: &'a Chain,
    create_version_table: bool,
    migrations: Vec<Box<dyn MigrationTrait>>,
}

/// Applies every pending migration of `chains`, in the order given, stopping at the first
/// failure. `steps` limits how many migrations are applied in all.
///
/// # Errors
/// - [`Error::UnknownAppliedMigration`] before anything runs, when a version table records a
///   migration this build does not have;
/// - [`Error::MigrationFailed`] naming the namespace, the migration and the database's message,
///   with the migrations applied before it;
/// - [`Error::Database`] when the state cannot be read.
pub async fn up(
    db: &DatabaseConnection,
    chains: &[&Chain],
    steps: Option<u32>,
) -> Result<RunReport, Error> {
    let recorded = read_recorded(db, chains).await?;
    let mut statuses: Vec<ChainStatus> = chains
        .iter()
        .zip(&recorded)
        .map(|(c, r)| chain_status(c, r))
        .collect();
    for status in &statuses {
        if let Some(version) = status.unknown_applied.first() {
            return Err(Error::UnknownAppliedMigration {
                namespace: status.namespace.clone(),
                version_table: status.version_table.clone(),
                migration: version.clone(),
            });
        }
    }
    let mut budget = steps.map(|s| s as usize).unwrap_or(usize::MAX);
    let mut work = Vec::new();
    for ((chain, recorded), status) in chains.iter().zip(&recorded).zip(&statuses) {
        if budget == 0 {
            break;
        }
        let pending: Vec<&str> = status.pending().take(budget).collect();
        if pending.is_empty() {
            continue;
        }
        budget -= pending.len();
        let migrations = chain
            .migrations()
            .into_iter()
            .filter(|m| pending.contains(&m.name()))
            .collect();
        work.push(Pending {
            chain,
            create_version_table: !recorded.table_exists,
            migrations,
        });
    }
    let mut applied = Vec::new();
    apply(db, work, &mut applied).await?;
    let now = backend::now_unix();
    for done in &applied {
        if let Some(status) = statuses.iter_mut().find(|s| s.namespace == done.namespace)
            && let Some(m) = status
                .migrations
                .iter_mut()
                .find(|m| m.name == done.migration)
        {
            *m = MigrationStatus {
                name: m.name.clone(),
                status: Status::Applied,
                applied_at: Some(now),
            };
        }
    }
    Ok(RunReport {
        applied,
        chains: statuses,
    })
}

async fn apply(
    db: &DatabaseConnection,
    work: Vec<Pending<'_>>,
    applied: &mut Vec<AppliedMigration>,
) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let mut open: Option<DatabaseTransaction> = None;
    let result = async {
        for Pending {
            chain,
            create_version_table,
            migrations,
        } in work
        {
            let table = chain.version_table();
            if create_version_table {
                let stmt = backend::create_version_table(backend, table);
                let context = format!("namespace {:?}: creating {table}", chain.namespace());
                match &open {
                    Some(txn) => txn.execute(&stmt).await,
                    None if backend::batch_transactions(backend) => {
                        let txn = db.begin().await.map_err(Error::db(context.clone()))?;
                        let r = txn.execute(&stmt).await;
                        open = Some(txn);
                        r
                    }
                    None => db.execute(&stmt).await,
                }
                .map_err(Error::db(context))?;
            }
            for migration in migrations {
                let failed = |source: DbErr, rolled_back: bool, applied: &[AppliedMigration]| {
                    Error::MigrationFailed {
                        namespace: chain.namespace().to_owned(),
                        migration: migration.name().to_owned(),
                        rolled_back,
                        applied: applied.to_vec(),
                        source: Box::new(source),
                    }
                };
                let transactional = backend::use_transaction(migration.as_ref(), backend);
                if transactional && backend::batch_transactions(backend) {
                    if open.is_none() {
                        open = Some(db.begin().await.map_err(|e| failed(e, true, applied))?);
                    }
                    let txn = open.as_ref().expect("just opened");
                    let savepoint = txn.begin().await.map_err(|e| failed(e, true, applied))?;
                    match up_one(&savepoint, migration.as_ref(), table).await {
                        Ok(()) => savepoint
                            .commit()
                            .await
                            .map_err(|e| failed(e, true, applied))?,
                        Err(e) => {
                            savepoint.rollback().await.ok();
                            return Err(failed(e, true, applied));
                        }
                    }
                } else {
                    if let Some(txn) = open.take() {
                        txn.commit().await.map_err(|e| failed(e, true, applied))?;
                    }
                    let result = if transactional {
                        let txn = db.begin().await.map_err(|e| failed(e, false, applied))?;
                        match up_one(&txn, migration.as_ref(), table).await {
                            Ok(()) => txn.commit().await,
                            Err(e) => {
                                txn.rollback().await.ok();
                                Err(e)
                            }
                        }
                    } else {
                        up_one(db, migration.as_ref(), table).await
                    };
                    result.map_err(|e| failed(e, false, applied))?;
                }
                tracing::info!(
                    namespace = chain.namespace(),
                    migration = migration.name(),
                    "applied"
                );
                applied.push(AppliedMigration {
                    namespace: chain.namespace().to_owned(),
                    migration: migration.name().to_owned(),
                });
            }
        }
        Ok(())
    }
    .await;
    // What succeeded before a failure stays applied.
    if let Some(txn) = open.take()
        && let Err(e) = txn.commit().await
    {
        return Err(result.err().unwrap_or(Error::Database {
            context: "committing applied migrations".to_owned(),
            source: Box::new(e),
        }));
    }
    result
}

/// Runs one migration's `up` and records it, on `conn`.
async fn up_one<C>(conn: &C, migration: &dyn MigrationTrait, table: &str) -> Result<(), DbErr>
where
    C: ConnectionTrait,
    for<'c> &'c C: sea_orm_migration::IntoSchemaManagerConnection<'c>,
{
    migration.up(&SchemaManager::new(conn)).await?;
    conn.execute(&backend::insert_version(
        table,
        migration.name(),
        backend::now_unix(),
    ))
    .await?;
    Ok(())
}
