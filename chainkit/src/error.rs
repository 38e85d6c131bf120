//! The error type of every chain operation.

use sea_orm::DbErr;

use crate::namespace::NamespaceRule;
use crate::schema::{ObjectChange, ObjectKind};

/// A migration applied by a run that later failed: what was done before the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// Namespace of the chain (`engine` for the engine chain).
    pub namespace: String,
    /// Migration name, e.g. `m20260301_101500_add_invoice`.
    pub migration: String,
}

/// Everything that can go wrong when chains are checked, read or run.
///
/// Messages name the namespace, migration and table concerned, context first.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A workflow project's namespace breaks a namespace rule.
    #[error("namespace {namespace:?}: {rule}")]
    InvalidNamespace {
        /// the offending namespace
        namespace: String,
        /// the rule it breaks
        rule: NamespaceRule,
    },
    /// Two chains claim the same namespace.
    #[error("namespace {namespace:?} is registered twice")]
    DuplicateNamespace {
        /// the namespace
        namespace: String,
    },
    /// A chain records itself in a version table other than the one its namespace implies.
    #[error("namespace {namespace:?}: version table is {found:?}, it must be {expected:?}")]
    WrongVersionTable {
        /// the chain
        namespace: String,
        /// what `MigratorTrait::migration_table_name` returns
        found: String,
        /// what the namespace requires
        expected: String,
    },
    /// An entity's table lies outside the chain's scope.
    #[error("namespace {namespace:?}: entity table {table:?} is outside {scope}")]
    TableOutOfScope {
        /// the chain
        namespace: String,
        /// the table
        table: String,
        /// the scope, as `ext_billing_*`
        scope: String,
    },
    /// An identifier is longer than PostgreSQL and MySQL accept.
    #[error(
        "namespace {namespace:?}: table name {table:?} is {len} bytes; at most 63 fit PostgreSQL and MySQL"
    )]
    IdentifierTooLong {
        /// the chain
        namespace: String,
        /// the table
        table: String,
        /// its length in bytes
        len: usize,
    },
    /// A migration name longer than a version table holds.
    #[error(
        "namespace {namespace:?}: migration name {migration:?} is {len} bytes; at most {max} fit a version table",
        max = crate::backend::MAX_MIGRATION_NAME_LEN
    )]
    MigrationNameTooLong {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
        /// its length in bytes
        len: usize,
    },
    /// A chain lists the same migration name twice.
    #[error("namespace {namespace:?}: migration {migration} is listed twice")]
    DuplicateMigration {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
    },
    /// A workflow project depends on a namespace no chain has.
    #[error("namespace {namespace:?}: depends on {dependency:?}, which is not registered")]
    UnknownDependency {
        /// the chain
        namespace: String,
        /// the missing dependency
        dependency: String,
    },
    /// Workflow projects depend on each other in a circle.
    #[error("workflow projects depend on each other in a cycle: {}", namespaces.join(", "))]
    DependencyCycle {
        /// the namespaces in or behind the cycle
        namespaces: Vec<String>,
    },
    /// No chain is registered under this namespace.
    #[error("no chain has the namespace {namespace:?}; known: {}", known.join(", "))]
    UnknownNamespace {
        /// what was asked for
        namespace: String,
        /// the registered namespaces
        known: Vec<String>,
    },
    /// A command that acts on one chain was given none.
    #[error("{command}: which chain? pass --ns with one of: {}", known.join(", "))]
    NamespaceRequired {
        /// the command
        command: String,
        /// the registered namespaces
        known: Vec<String>,
    },
    /// A migration name given on the command line is not a snake_case identifier.
    #[error(
        "migration name {name:?} is not a snake_case identifier: lowercase letters, digits and \
         single underscores, starting with a letter (e.g. add_invoice_due_date)"
    )]
    InvalidMigrationName {
        /// what was given
        name: String,
    },
    /// A workflow project's own binary was asked to act on another chain.
    #[error(
        "this binary manages namespace {own:?} only, not {asked:?}; use the engine's `engine migrate` for other chains"
    )]
    ForeignNamespace {
        /// the binary's own namespace
        own: String,
        /// what was asked for
        asked: String,
    },
    /// A workflow chain was run while the engine's own chain has pending migrations.
    #[error(
        "namespace {namespace:?}: the engine's chain has {pending} pending migration(s); run the \
         engine first (`cargo run -p engine` or `engine migrate up --ns engine`)"
    )]
    EnginePending {
        /// the workflow chain
        namespace: String,
        /// how many engine migrations are pending
        pending: usize,
    },
    /// Another engine held the migration lock for longer than the lock timeout.
    #[error(
        "timed out after {}s waiting for the migration lock, held by {}; another engine is \
         migrating this database (raise --lock-timeout to wait longer)",
        waited.as_secs(),
        holder.as_deref().unwrap_or("another engine")
    )]
    LockTimeout {
        /// how long it waited
        waited: std::time::Duration,
        /// who holds it, where the database tells
        holder: Option<String>,
    },
    /// The migration lock could not be asked for.
    #[error("migration lock: {message}")]
    Lock {
        /// what went wrong
        message: String,
    },
    /// A migration that ran outside a transaction did not finish: the process died, or it
    /// failed where DDL cannot be rolled back. Part of it may remain.
    #[error(
        "namespace {namespace:?}: migration {migration} did not finish ({direction}, started at \
         unix time {started_at}); it ran outside a transaction, so part of it may remain. Check \
         the schema, then run `engine migrate resolve --ns {namespace} {migration} --applied` if \
         it completed, or `--rolled-back` if nothing of it remains"
    )]
    Interrupted {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
        /// `up` or `down`
        direction: String,
        /// when it started, in seconds since the Unix epoch
        started_at: i64,
    },
    /// An applied migration's file was edited since it was applied: its checksum differs from
    /// the one recorded then. Nothing runs until it is settled.
    #[error("{0}")]
    ModifiedMigration(Box<Modified>),
    /// Neither the chain nor its version table knows a migration of this name.
    #[error(
        "namespace {namespace:?}: no migration named {migration}, in this build or in the database"
    )]
    UnknownMigration {
        /// the chain
        namespace: String,
        /// what was asked for
        migration: String,
    },
    /// `resolve` cannot settle this migration as asked.
    #[error("namespace {namespace:?}: cannot resolve {migration}: {reason}")]
    CannotResolve {
        /// the chain
        namespace: String,
        /// what was asked for
        migration: String,
        /// why not, and what to do instead
        reason: String,
    },
    /// The database could not be reached or opened.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// the URL, its password masked
        url: String,
        /// what went wrong
        message: String,
    },
    /// A version table records a migration this build does not have.
    #[error(
        "namespace {namespace:?}: {version_table} records migration {migration}, which this build \
         does not have: the database was migrated by a newer build of this chain, or the \
         migration was removed from its code (if so, and nothing of it remains, `engine migrate \
         resolve --ns {namespace} {migration} --rolled-back` forgets it)"
    )]
    UnknownAppliedMigration {
        /// the chain
        namespace: String,
        /// its version table
        version_table: String,
        /// the unknown version
        migration: String,
    },
    /// A chain's version table exists but cannot be read (wrong columns, no permission…).
    #[error("namespace {namespace:?}: cannot read {version_table}: {source}")]
    UnreadableVersionTable {
        /// the chain
        namespace: String,
        /// its version table
        version_table: String,
        /// the database's error
        #[source]
        source: Box<DbErr>,
    },
    /// A migration created, altered or dropped a table outside its chain's scope.
    #[error("{0}")]
    Trespass(Box<Trespass>),
    /// The schema changed in a way none of the run's migrations' statements explain (a
    /// statement sent on another connection or past the statement log, another session's
    /// DDL, a trigger of the database's own): found by the full check at the end of a run.
    #[error(
        "the schema changed in a way no migration's statements explain: {}; {}{}",
        changes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        if *rolled_back {
            "everything the run did since its last commit was rolled back"
        } else {
            "this cannot be rolled back on this database; check these objects"
        },
        applied_after(applied)
    )]
    Unexplained {
        /// what changed
        changes: Vec<ObjectChange>,
        /// whether the run's work since its last commit was rolled back
        rolled_back: bool,
        /// what the run applied and kept
        applied: Vec<AppliedMigration>,
    },
    /// A scoped reset or fresh would break another chain's foreign key.
    #[error(
        "namespace {namespace:?}: cannot drop {to_table:?}: table {from_table:?} of another chain \
         references it"
    )]
    ReferencedFromOutside {
        /// the chain being reset
        namespace: String,
        /// the referencing table, outside the chain's scope
        from_table: String,
        /// the chain's table it references
        to_table: String,
    },
    /// Resetting the engine's chain was refused while workflow chains have applied migrations.
    #[error(
        "namespace \"engine\": refusing to {command} the engine's chain while workflow chains have \
         applied migrations: {}; pass --all to reset them first (in reverse order)",
        namespaces.join(", ")
    )]
    WorkflowChainsApplied {
        /// `fresh` or `reset`
        command: String,
        /// the workflow chains with applied migrations
        namespaces: Vec<String>,
    },
    /// A migration failed. Migrations applied before it in the same run stay applied and are
    /// listed in `applied`.
    #[error(
        "namespace {namespace:?}: migration {migration} ({direction}): {}{}",
        db_message(source),
        hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default()
    )]
    MigrationFailed {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
        /// `up` or `down`
        direction: &'static str,
        /// whether the failed migration's changes were rolled back (transactional DDL)
        rolled_back: bool,
        /// what this run applied (or rolled back) before the failure, in order
        applied: Vec<AppliedMigration>,
        /// the database's error
        #[source]
        source: Box<DbErr>,
        /// what else is known: for a statement that gave up waiting for a lock, how long it
        /// waited, on which table, and who holds it where the database tells
        hint: Option<Box<str>>,
    },
    /// A migration panicked. It counts as failed: what the run did before it stays, and it is
    /// rolled back where the backend can.
    #[error("namespace {namespace:?}: migration {migration} ({direction}) panicked: {message}")]
    MigrationPanicked {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
        /// `up` or `down`
        direction: &'static str,
        /// the panic's message and where it happened
        message: String,
        /// whether the migration's changes were rolled back (transactional DDL)
        rolled_back: bool,
        /// what this run applied (or rolled back) before the failure, in order
        applied: Vec<AppliedMigration>,
    },
    /// An object outside the chain depends on one a scoped `fresh` or `reset` would drop.
    #[error(
        "namespace {namespace:?}: cannot drop {object}: {dependent}, which is not the chain's, \
         depends on it; nothing was dropped"
    )]
    DependedOn {
        /// the chain being reset
        namespace: String,
        /// the chain's object, as `table "ext_billing_invoices"`
        object: String,
        /// what depends on it, outside the chain, as `view "report"`
        dependent: String,
    },
    /// A scoped `fresh` failed after it began dropping.
    #[error("{}", scoped_failure(command, namespace, *undone, dropped, source))]
    ScopedFailed {
        /// `fresh`, `reset` or `refresh`
        command: String,
        /// the chain
        namespace: String,
        /// whether everything was rolled back: the chain is as it was
        undone: bool,
        /// what was dropped and stays dropped, when not undone
        dropped: Vec<String>,
        /// what failed
        #[source]
        source: Box<Error>,
    },
    /// `check` or `autogenerate` on a chain that does not declare its entities.
    #[error(
        "namespace {namespace:?}: the chain declares no entities to compare its migrations \
         with (add them with Chain::entities in its chain() function)"
    )]
    NoEntities {
        /// the chain
        namespace: String,
    },
    /// `check` found that entities and migrations disagree; the differences were printed.
    #[error(
        "entities and migrations disagree in {}; write a migration for the difference \
         (`autogenerate NAME`) or change the entities",
        namespaces.join(", ")
    )]
    Drift {
        /// the chains that disagree
        namespaces: Vec<String>,
    },
    /// Replaying the chains or building the entities in a scratch database failed.
    #[error(
        "namespace {namespace:?}: comparing entities and migrations on scratch databases \
         ({server}): {source}"
    )]
    Scratch {
        /// the chain compared
        namespace: String,
        /// where the scratch databases were (`SQLite in memory`, or the server's URL without
        /// password)
        server: String,
        /// what failed
        #[source]
        source: Box<Error>,
    },
    /// `autogenerate` cannot write the migration.
    #[error("namespace {namespace:?}: cannot write the migration: {reason}")]
    Autogenerate {
        /// the chain
        namespace: String,
        /// what went wrong, naming the file
        reason: String,
    },
    /// `plan` cannot see what migrations send: the program's global tracing subscriber
    /// lacks the capture layer.
    #[error(
        "cannot capture the statements migrations send: add chainkit::capture_layer() to this \
         program's global tracing subscriber (chainkit::cli::init_logging does)"
    )]
    CaptureUnavailable,
    /// `plan` could not make, fill or remove its scratch database.
    #[error("rehearsing the pending migrations on a scratch database ({server}): {source}")]
    RehearsalScratch {
        /// where (`SQLite in memory`, or the server's URL without password)
        server: String,
        /// what failed
        #[source]
        source: Box<Error>,
    },
    /// `plan`'s rehearsal of a pending migration failed: a deploy would fail there.
    #[error(
        "a deploy would fail: namespace {namespace:?}: migration {migration} failed in the \
         rehearsal (nothing was changed): {message}"
    )]
    RehearsalFailed {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
        /// what failed
        message: String,
    },
    /// `plan --sql`: a migration rolled part of its own work back, which a script of its
    /// statements cannot replay.
    #[error(
        "cannot write a script: namespace {namespace:?}: migration {migration} rolls back part \
         of its own work while it runs, so its statements, replayed as they are, would keep \
         what it threw away; apply it with the engine"
    )]
    NotScriptable {
        /// the chain
        namespace: String,
        /// the migration
        migration: String,
    },
    /// `plan --deny`: findings of the kinds denied that no migration acknowledges.
    #[error(
        "{count} finding(s) of the kinds denied ({kinds}) not acknowledged: {first}; acknowledge \
         a finding with `impl chainkit::Acknowledge for Migration` in the migration's file"
    )]
    PlanDenied {
        /// how many
        count: usize,
        /// the kinds denied, comma-separated
        kinds: String,
        /// the first, as `namespace "ns": migration: kind code object`
        first: String,
    },
    /// A database statement outside a migration failed.
    #[error("{context}: {}", db_message(source))]
    Database {
        /// what was being done, e.g. `namespace "billing": reading seaql_migrations_billing`
        context: String,
        /// the database's error
        #[source]
        source: Box<DbErr>,
    },
}

impl Error {
    /// Whether the command line itself was wrong (a missing or unknown `--ns`, another
    /// project's namespace): the binaries exit with 2 for these, as for any usage error.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Self::NamespaceRequired { .. }
                | Self::ForeignNamespace { .. }
                | Self::UnknownNamespace { .. }
                | Self::InvalidMigrationName { .. }
        )
    }

    /// Migrations applied by the failed run before it failed (empty for other errors).
    pub fn applied(&self) -> &[AppliedMigration] {
        match self {
            Self::MigrationFailed { applied, .. } | Self::MigrationPanicked { applied, .. } => {
                applied
            }
            Self::Trespass(t) => &t.applied,
            Self::Unexplained { applied, .. } => applied,
            Self::ScopedFailed { source, .. } => source.applied(),
            _ => &[],
        }
    }

    pub(crate) fn db(context: impl Into<String>) -> impl FnOnce(DbErr) -> Self {
        let context = context.into();
        move |source| Self::Database {
            context,
            source: Box::new(source),
        }
    }
}

/// An applied migration whose file was edited since it was applied (see
/// [`Error::ModifiedMigration`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "namespace {namespace:?}: migration {migration} was edited after it was applied: its \
     file {file} has checksum {current}, but {recorded} was recorded when it was applied, so \
     databases migrated before and after the edit may differ. Nothing was run. Either undo \
     the edit (and put the change in a new migration: `cargo xtask new-migration --ns \
     {namespace} NAME`), or, once you have made sure the edit changes nothing this database \
     needs, accept it: `engine migrate resolve --ns {namespace} {migration} \
     --accept-checksum`"
)]
pub struct Modified {
    /// the chain
    pub namespace: String,
    /// the migration
    pub migration: String,
    /// the migration's file, as the compiler was given it
    pub file: String,
    /// the checksum recorded when it was applied
    pub recorded: String,
    /// this build's checksum of its file
    pub current: String,
}

/// What the isolation guard found: a migration that created, altered or dropped objects
/// outside its chain's scope, or another chain's version or checksum rows. On PostgreSQL and
/// SQLite it was rolled back (`left_behind` is `None`); where it could not be, `left_behind`
/// lists every change it made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "namespace {namespace:?}: migration {migration}: {}{}",
    trespass_list(trespasses, scope),
    left_behind_note(left_behind.as_deref())
)]
pub struct Trespass {
    /// the chain
    pub namespace: String,
    /// the migration
    pub migration: String,
    /// `up` or `down`
    pub direction: &'static str,
    /// the chain's scope, as `ext_billing_*`
    pub scope: String,
    /// the objects outside the scope it changed
    pub trespasses: Vec<ObjectChange>,
    /// every change it made, when it could not be rolled back
    pub left_behind: Option<Vec<ObjectChange>>,
    /// what this run applied before, in order
    pub applied: Vec<AppliedMigration>,
}

pub(crate) fn trespass_list(trespasses: &[ObjectChange], scope: &str) -> String {
    trespasses
        .iter()
        .map(|c| match c.object.kind {
            ObjectKind::VersionRows | ObjectKind::ProgressRow | ObjectKind::ChecksumRows => {
                format!("{c}, which belong to another chain")
            }
            _ => format!("{} is outside {scope} ({})", c.object, c.kind),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn scoped_failure(
    command: &str,
    namespace: &str,
    undone: bool,
    dropped: &[String],
    source: &Error,
) -> String {
    let outcome = if undone {
        "everything was rolled back: the chain is as it was before".to_owned()
    } else if dropped.is_empty() {
        "nothing had been dropped".to_owned()
    } else {
        format!("already dropped, and gone: {}", dropped.join(", "))
    };
    format!("namespace {namespace:?}: {command} failed ({outcome}): {source}")
}

/// At most this many characters of a statement are shown in a message.
const STATEMENT_SHOWN: usize = 160;

/// `sql` for a message: on one line, shortened to [`STATEMENT_SHOWN`] characters.
pub(crate) fn shorten(sql: &str) -> String {
    shorten_to(sql, STATEMENT_SHOWN)
}

/// `sql` on one line, shortened to `at_most` characters (and `…`).
pub(crate) fn shorten_to(sql: &str, at_most: usize) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= at_most {
        return one_line;
    }
    let kept: String = one_line.chars().take(at_most).collect();
    format!("{kept}…")
}

/// The PostgreSQL server's DETAIL and HINT of `err`, where it is a PostgreSQL error.
pub(crate) fn pg_detail_and_hint(err: &DbErr) -> (Option<String>, Option<String>) {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::postgres::PgDatabaseError;
    let sqlx = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e))
        | DbErr::Conn(RuntimeErr::SqlxError(e)) => e,
        _ => return (None, None),
    };
    let Some(pg) = sqlx
        .as_database_error()
        .and_then(|d| d.try_downcast_ref::<PgDatabaseError>())
    else {
        return (None, None);
    };
    (pg.detail().map(str::to_owned), pg.hint().map(str::to_owned))
}

/// The database's message with PostgreSQL's DETAIL and HINT, which name the object a statement
/// ran into (`view … depends on table …`).
pub(crate) fn db_message(err: &DbErr) -> String {
    let mut out = err.to_string();
    let (detail, hint) = pg_detail_and_hint(err);
    if let Some(detail) = detail {
        out.push_str(&format!(" (detail: {detail})"));
    }
    if let Some(hint) = hint {
        out.push_str(&format!(" (hint: {hint})"));
    }
    out
}

fn applied_after(applied: &[AppliedMigration]) -> String {
    if applied.is_empty() {
        return String::new();
    }
    format!(
        " (kept: {})",
        applied
            .iter()
            .map(|a| format!("{} {}", a.namespace, a.migration))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

pub(crate) fn left_behind_note(left_behind: Option<&[ObjectChange]>) -> String {
    match left_behind {
        None => "; the migration was rolled back and left nothing behind".to_owned(),
        Some(changes) => format!(
            "; it could not be rolled back and left behind: {}",
            changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_statements_are_shortened_to_one_line() {
        let long = format!(
            "DROP TABLE\n    {}",
            "\"ext_billing_invoices\", ".repeat(40)
        );
        let shown = shorten(&long);
        assert!(!shown.contains('\n'));
        assert_eq!(shown.chars().count(), STATEMENT_SHOWN + 1);
        assert!(shown.starts_with("DROP TABLE \"ext_billing_invoices\""));
        assert!(shown.ends_with('…'));
        assert_eq!(shorten("SELECT  1"), "SELECT 1");
    }

    #[test]
    fn a_database_message_without_postgres_details_is_kept_as_it_is() {
        let err = DbErr::Custom("boom".to_owned());
        assert_eq!(db_message(&err), err.to_string());
    }
}
