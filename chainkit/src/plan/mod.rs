//! `migrate plan`: what a deploy will do, found out by doing it and throwing the result away.
//!
//! Every pending migration runs for real, in run order, while the statements it sends are
//! captured ([`capture`]) and the schema is read before and after it (the guard's snapshot and
//! the structured catalog). Where DDL is transactional (PostgreSQL, SQLite) this happens on
//! the database itself, in one transaction under the migration lock that is rolled back at
//! the end; where it is not (MySQL), or where a migration cannot run inside a transaction,
//! on a scratch database on the same server into which the applied migrations are replayed
//! first (`check`'s scratch machinery), dropped afterwards. The rules ([`rules`]) turn each
//! migration's change into findings; [`script`] writes the offline SQL script.

pub(crate) mod capture;
mod rehearse;
pub(crate) mod rules;
mod script;
pub(crate) mod statements;

use sea_orm::{DatabaseConnection, DbBackend};
use serde::Serialize;

pub use capture::layer as capture_layer;
pub use rules::{Finding, FindingKind};

use crate::chain::Chain;
use crate::error::Error;
use crate::registry::Registry;

/// How a migration acknowledges findings of `migrate plan`, in its own file, so that the
/// acknowledgement is reviewed with the migration:
///
/// ```ignore
/// impl chainkit::Acknowledge for Migration {
///     // the column's data was copied to ext_billing_notes in the previous release
///     const FINDINGS: &'static [&'static str] = &["column-dropped"];
/// }
/// ```
///
/// The chain's list (`chainkit::migrations![…]`) picks it up; an acknowledged finding is
/// still shown, marked, and no longer fails `plan --deny`.
pub trait Acknowledge {
    /// The codes of the findings this migration accepts (`column-dropped`,
    /// `squawk:require-concurrent-index-creation`…).
    const FINDINGS: &'static [&'static str];
}

#[doc(hidden)]
pub mod acknowledged {
    //! How `migrations!` reads a migration's [`super::Acknowledge`] where there is one, and
    //! an empty list where there is none (method lookup prefers the impl that needs no
    //! extra reference, which exists only when the migration implements the trait).
    use std::marker::PhantomData;

    /// A type to look the list up on.
    pub struct Probe<T>(pub PhantomData<T>);

    /// Found when the migration implements [`super::Acknowledge`].
    pub trait Declared {
        /// The list.
        fn findings(&self) -> &'static [&'static str];
    }

    impl<T: super::Acknowledge> Declared for Probe<T> {
        fn findings(&self) -> &'static [&'static str] {
            T::FINDINGS
        }
    }

    /// Found otherwise.
    pub trait Undeclared {
        /// The empty list.
        fn findings(&self) -> &'static [&'static str];
    }

    impl<T> Undeclared for &Probe<T> {
        fn findings(&self) -> &'static [&'static str] {
            &[]
        }
    }
}

/// Where the rehearsal ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "on")]
pub enum Rehearsal {
    /// On the database itself, in one transaction that was rolled back.
    Transaction,
    /// On a scratch database (the applied migrations replayed into it), dropped afterwards.
    Scratch {
        /// Why not on the database itself.
        reason: String,
    },
}

/// One statement a migration sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStatement {
    /// Its text, bound values written in.
    pub sql: String,
    /// Whether it only reads (a query): the migration's work may depend on what it read.
    pub read: bool,
}

/// One pending migration, as its rehearsal went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedMigration {
    /// Its chain.
    pub namespace: String,
    /// Its name.
    pub migration: String,
    /// Whether it runs inside a transaction (applied whole or not at all).
    pub in_transaction: bool,
    /// The statements it sent, in order.
    pub statements: Vec<PlannedStatement>,
    /// What it created, altered and dropped: objects, then table details.
    pub changes: Vec<String>,
    /// The guard's verdict: the changes to objects outside the chain (empty: none), which
    /// a start would refuse.
    pub trespasses: Vec<String>,
    /// What a reviewer should know.
    pub findings: Vec<Finding>,
    /// Why its rehearsal failed, if it did: a deploy would fail here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Whether it threw part of its own work away (a rollback of a transaction or savepoint
    /// of its own): its statements then include work that did not stay, and no script can
    /// be written for it.
    pub rolls_back: bool,
    /// Its checksum, where the chain records checksums.
    #[serde(skip)]
    pub(crate) checksum: Option<String>,
}

impl PlannedMigration {
    /// Whether its work depends on what it read from the database.
    pub fn reads(&self) -> bool {
        self.statements.iter().any(|s| s.read)
    }
}

/// A pending migration whose rehearsal failed: the deploy would fail there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RehearsalFailure {
    /// Its chain.
    pub namespace: String,
    /// Its name.
    pub migration: String,
    /// What failed.
    pub message: String,
}

/// A chain with pending migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedChain {
    /// Its namespace.
    pub namespace: String,
    /// Its version table.
    pub version_table: String,
    /// Whether the version table exists yet.
    pub version_table_exists: bool,
}

/// What a deploy would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The database's backend.
    #[serde(skip)]
    pub backend: DbBackend,
    /// Where the rehearsal ran.
    pub rehearsal: Rehearsal,
    /// The chains with pending migrations, in run order.
    pub chains: Vec<PlannedChain>,
    /// The pending migrations, in run order (up to the one that failed).
    pub migrations: Vec<PlannedMigration>,
    /// The migration whose rehearsal failed, if one did.
    pub failure: Option<RehearsalFailure>,
    /// With `--ns`: the chains a start would run before it that have pending migrations
    /// (namespace, how many), which this plan did not rehearse.
    #[serde(skip)]
    pub left_out: Vec<(String, usize)>,
    /// Whether the progress table exists yet.
    #[serde(skip)]
    pub(crate) progress_exists: bool,
    /// Whether the checksum table exists yet, and whether a chain records checksums.
    #[serde(skip)]
    pub(crate) checksums: (bool, bool),
}

impl Plan {
    /// The findings not acknowledged whose kind is among `kinds`.
    pub fn denied<'a>(&'a self, kinds: &'a [FindingKind]) -> impl Iterator<Item = &'a Finding> {
        self.migrations
            .iter()
            .flat_map(|m| &m.findings)
            .filter(|f| !f.acknowledged && kinds.contains(&f.kind))
    }

    /// The offline script: the pending migrations' statements and their version rows, per
    /// chain in run order, for the database's own client.
    ///
    /// # Errors
    /// [`Error::NotScriptable`] when a migration rolled part of its own work back: its
    /// statements cannot be replayed as they are.
    pub fn sql_script(&self) -> Result<String, Error> {
        if let Some(m) = self.migrations.iter().find(|m| m.rolls_back) {
            return Err(Error::NotScriptable {
                namespace: m.namespace.clone(),
                migration: m.migration.clone(),
            });
        }
        Ok(script::write(self))
    }
}

/// Rehearses the pending migrations of the registry's chains (of `namespace` alone, if
/// given), changing nothing: see the [module docs](self). Hold the migration lock around it.
///
/// `db` must be a connection whose statements sqlx logs (`chainkit::cli`'s plan connection),
/// and the process's global subscriber must hold [`capture_layer`] (the binaries'
/// `init_logging` adds it; a process with no subscriber gets one holding only the layer).
///
/// # Errors
/// What a start would refuse before running anything (unknown or unfinished migrations,
/// edited files), [`Error::CaptureUnavailable`], [`Error::Scratch`], [`Error::Database`].
pub async fn plan(
    db: &DatabaseConnection,
    url: &str,
    registry: &Registry,
    namespace: Option<&str>,
) -> Result<Plan, Error> {
    let chains: Vec<&Chain> = match namespace {
        Some(ns) => vec![registry.get(ns)?],
        None => registry.chains().iter().collect(),
    };
    if !capture::available(db).await {
        return Err(Error::CaptureUnavailable);
    }
    rehearse::rehearse(db, url, registry, &chains).await
}

/// A new database connection for [`plan`]: its statements logged for capture, bound values
/// written into them.
///
/// # Errors
/// As [`crate::connect_with`].
pub async fn connect_for_plan(
    url: &str,
    timeout: std::time::Duration,
    ddl_lock_timeout: Option<std::time::Duration>,
) -> Result<DatabaseConnection, Error> {
    let mut db = crate::connect::open(url, timeout, ddl_lock_timeout).await?;
    capture::render_values_on(&mut db);
    Ok(db)
}
