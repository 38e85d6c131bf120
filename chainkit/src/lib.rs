//! Machinery shared by every migration chain of the workflow engine.
//!
//! The engine and every workflow project own one migration chain each, all in one database:
//! the engine's records itself in sea-orm-migration's default table `seaql_migrations`, the
//! workflow project `ns` owns the tables `ext_{ns}_*` and records its chain in
//! `seaql_migrations_{ns}`. This crate checks those rules ([`Registry`]), reads where every
//! chain stands in a fixed number of statements ([`status()`]) and runs them in order
//! ([`migrate`], [`startup`]), both under the database-level migration lock ([`lock()`]).
//!
//! The scoped operations ([`up`], [`down`], [`fresh`], [`reset`], [`refresh`], [`resolve`])
//! act on one chain and do not take the lock themselves: hold it around them, as the
//! `migrate` commands of [`cli`] do.

mod backend;
mod catalog;
mod chain;
pub mod checksum;
mod clearance;
pub mod cli;
mod codegen;
mod connect;
mod drift;
mod entities;
mod error;
mod lock;
mod lock_wait;
mod namespace;
mod ops;
mod panics;
pub mod plan;
mod rebuild;
mod redact;
mod registry;
mod runner;
mod schema;
mod scope;
mod status;
pub mod testing;

use std::time::Duration;

use sea_orm::sea_query::{Alias, IntoIden};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use sea_orm_migration::sea_orm::DynIden;

pub use catalog::{Catalog, ColumnModel, ForeignKeyModel, IndexModel, TableModel, read_catalog};
pub use chain::Chain;
pub use checksum::{Checksum, MigrationSource, Migrations};
pub use codegen::{
    GeneratedMigration, generate, migration_module, valid_migration_name, write_migration,
};
pub use connect::{
    DEFAULT_CONNECT_TIMEOUT, ReadOnly, connect, connect_with, is_in_memory, read_only, sqlite_file,
};
pub use drift::{Change, Drift, ScratchServer, diff, drift};
pub use entities::Entities;
pub use error::{AppliedMigration, Error, Modified, Trespass};
pub use lock::{DEFAULT_LOCK_TIMEOUT, MigrationLock, lock};
pub use lock_wait::{DEFAULT_DDL_LOCK_TIMEOUT, wait_for_locks};
pub use namespace::{
    ENGINE_NAMESPACE, ENGINE_VERSION_TABLE, MAX_IDENTIFIER_LEN, MAX_NAMESPACE_LEN, Namespace,
    NamespaceRule, check_namespace, table_prefix, version_table,
};
pub use ops::{Resolution, ScopedReport, down, fresh, refresh, reset, resolve, up};
pub use panics::install_hook as install_panic_hook;
pub use plan::{
    Acknowledge, Finding, FindingKind, Plan, PlannedMigration, capture_layer, connect_for_plan,
    plan,
};
pub use rebuild::rebuild_sqlite_table;
pub use redact::redact_url;
pub use registry::{Registry, run_order};
pub use runner::RunReport;
pub use schema::{ChangeKind, ObjectChange, ObjectKey, ObjectKind, Snapshot, snapshot};
pub use scope::{TableScope, is_version_table};
pub use status::{ChainStatus, MigrationStatus, Status, StatusReport, Unregistered};

/// A chain's migrations with each one's checksum, computed while the crate compiles: the list
/// a migration crate's `lib.rs` keeps, under its `mod` lines. `cargo xtask new-migration`
/// adds to it.
///
/// ```ignore
/// mod m20260101_000001_create_invoices;
/// mod m20260115_000001_add_due_date;
///
/// const MIGRATIONS: chainkit::Migrations = chainkit::migrations![
///     m20260101_000001_create_invoices,
///     m20260115_000001_add_due_date,
///     // new migrations go above this line
/// ];
///
/// pub struct Migrator;
///
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> {
///         MIGRATIONS.boxed()
///     }
/// }
///
/// pub fn chain() -> chainkit::Chain {
///     chainkit::Chain::workflow::<Migrator>("billing").checksums(MIGRATIONS)
/// }
/// ```
///
/// Each name is a module beside the invoking file, holding a `Migration` type; its file's
/// checksum is [`checksum::of`] its text (formatting and comments do not count).
#[macro_export]
macro_rules! migrations {
    ($($module:ident),* $(,)?) => {
        $crate::Migrations(&[$(
            $crate::MigrationSource {
                module: ::core::stringify!($module),
                list_file: ::core::file!(),
                checksum: $crate::checksum::of(::core::include_str!(::core::concat!(
                    ::core::stringify!($module),
                    ".rs"
                ))),
                new: || ::std::boxed::Box::new($module::Migration),
                acknowledged: || {
                    #[allow(unused_imports)]
                    use $crate::plan::acknowledged::{Declared as _, Undeclared as _};
                    (&$crate::plan::acknowledged::Probe::<$module::Migration>(
                        ::core::marker::PhantomData,
                    ))
                        .findings()
                },
            }
        ),*])
    };
}

/// The version table of the workflow project `namespace` as an identifier, for
/// `MigratorTrait::migration_table_name`:
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// pub struct Migrator;
/// impl MigratorTrait for Migrator {
///     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
///     fn migration_table_name() -> DynIden {
///         chainkit::version_table_iden("billing")
///     }
/// }
/// ```
pub fn version_table_iden(namespace: &str) -> DynIden {
    Alias::new(version_table(namespace)).into_iden()
}

/// How the startup sequence connects and waits.
#[derive(Debug, Clone)]
pub struct StartupOptions {
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long to wait for the migration lock while another engine holds it.
    pub lock_timeout: Duration,
    /// How long a migration statement may wait for a table lock (`None`: without limit).
    pub ddl_lock_timeout: Option<Duration>,
}

impl Default for StartupOptions {
    fn default() -> Self {
        Self {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            ddl_lock_timeout: Some(DEFAULT_DDL_LOCK_TIMEOUT),
        }
    }
}

/// The startup hook: connects to `url`, runs the engine chain, then every workflow project's
/// chain in the registry's order, and closes the connection.
///
/// ```no_run
/// # async fn run(registry: chainkit::Registry) -> Result<(), chainkit::Error> {
/// let report = chainkit::startup("sqlite://engine.db?mode=rwc", &registry, &Default::default()).await?;
/// for chain in &report.chains {
///     println!("{}: {} applied", chain.namespace, chain.applied_count());
/// }
/// # Ok(()) }
/// ```
///
/// # Errors
/// See [`migrate`]; also [`Error::Connect`] when the database cannot be reached.
pub async fn startup(
    url: &str,
    registry: &Registry,
    options: &StartupOptions,
) -> Result<RunReport, Error> {
    let db = connect_with(url, options.connect_timeout, options.ddl_lock_timeout).await?;
    let result = migrate_with(&db, registry, options.lock_timeout).await;
    db.close().await.ok();
    result
}

/// Runs the engine chain, then every workflow project's chain, on an open connection, under
/// the migration lock (waiting at most [`DEFAULT_LOCK_TIMEOUT`]). When every chain is up to
/// date it sends one statement, the state read, and takes no lock.
///
/// `db` may be a program's own pool of several connections (`Database::connect`'s default):
/// the lock is a session's, so the run then opens one connection of its own with the pool's
/// options (its statements waiting at most [`DEFAULT_DDL_LOCK_TIMEOUT`] for a table lock),
/// takes the lock, runs and releases on it, and closes it.
///
/// Nothing runs if any version table records a migration this build does not have. If the
/// engine chain fails no workflow chain runs; if a workflow chain fails the chains after it
/// do not run. On PostgreSQL and SQLite a failed migration leaves no trace.
///
/// # Errors
/// [`Error::UnknownAppliedMigration`], [`Error::MigrationFailed`] (with the migrations applied
/// before the failure), [`Error::Database`].
pub async fn migrate(db: &DatabaseConnection, registry: &Registry) -> Result<RunReport, Error> {
    migrate_with(db, registry, DEFAULT_LOCK_TIMEOUT).await
}

/// [`migrate`], waiting at most `lock_timeout` for the migration lock.
///
/// # Errors
/// As [`migrate`], and [`Error::LockTimeout`].
pub async fn migrate_with(
    db: &DatabaseConnection,
    registry: &Registry,
    lock_timeout: Duration,
) -> Result<RunReport, Error> {
    let chains: Vec<&Chain> = registry.chains().iter().collect();
    // almost every start has nothing to do: one read tells, without taking the lock; with
    // work to do, the lock is taken and the state read again under it before anything runs
    if let Some(report) = runner::up_to_date(db, &chains).await {
        return Ok(report);
    }
    // a pool of several connections (a program's own) would take the session-level lock on
    // one connection and run, and release it, on others: the run gets one of its own, whose
    // statements wait at most the default DDL lock timeout
    let own = if connect::many_sessions(db) {
        let own = connect::another_session(db)
            .await
            .expect("a pool of several connections is a driver's pool")
            .map_err(|e| {
                Error::db("opening a connection for the migration run")(sea_orm::DbErr::Conn(
                    sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)),
                ))
            })?;
        let backend = own.get_database_backend();
        own.execute_unprepared(&lock_wait::set_timeout_sql(
            backend,
            Some(DEFAULT_DDL_LOCK_TIMEOUT),
        ))
        .await
        .map_err(Error::db("setting the DDL lock timeout"))?;
        Some(own)
    } else {
        None
    };
    let conn = own.as_ref().unwrap_or(db);
    let held = lock(conn, lock_timeout).await;
    let result = match held {
        Ok(held) => {
            let result = runner::up(conn, &chains, None).await;
            let released = held.release(conn).await;
            result.and_then(|report| released.map(|()| report))
        }
        Err(e) => Err(e),
    };
    if let Some(own) = own {
        own.close().await.ok();
    }
    result
}

/// Where every chain of the registry stands, without changing anything.
///
/// # Errors
/// [`Error::Database`] when the version tables cannot be read.
pub async fn status(db: &DatabaseConnection, registry: &Registry) -> Result<StatusReport, Error> {
    let chains: Vec<&Chain> = registry.chains().iter().collect();
    status::status(db, &chains).await
}

/// The engine version this crate belongs to. Workflow projects pin their `chainkit`
/// dependency to exactly this version, so building one against another engine fails.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");
