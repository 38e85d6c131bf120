//! Applies and rolls back migrations: the one place that owns the sequence.
//!
//! Per run: one read of every chain's state ([`crate::status`]), then the steps in order,
//! grouped by chain. Each migration's `up` or `down` runs exactly once per run.
//!
//! Where DDL is transactional (PostgreSQL, SQLite) the run shares one transaction. A chain's
//! consecutive transactional migrations form a segment: each migration runs inside a savepoint
//! of its own nested in the one before, with its version row, and the first one's stands for
//! the segment (released or rolled back to as a whole). At the segment's end one guard check
//! compares the schema with the one before the segment. A migration that fails is rolled back
//! to its savepoint; the ones before it stay. When the check finds a trespass, the nested
//! savepoints are rolled back from the newest until the schema is clean again: the last one
//! rolled back is the migration that trespassed, and the ones before it stay. No migration is
//! run again.
//!
//! The run commits where later migrations need to see earlier ones committed: before a
//! migration that opts out of transactions (`use_transaction()` is `Some(false)`), and on
//! PostgreSQL after a migration that changed the labels of an enum type that existed before it
//! (a value added with `ALTER TYPE … ADD VALUE` cannot be used before it is committed; the
//! statement writing the version row reads every enum type's label count, so this costs no
//! extra round trip, and creating a type forces no commit). That read is left out after a
//! migration whose statements were all cleared and none created or altered a type: planning
//! it costs about a millisecond in a transaction that created many tables. Segments are also
//! cut every [`SEGMENT_LIMIT`] migrations, to keep the nesting shallow.
//!
//! A migration that runs outside a transaction (its own choice, or any migration on MySQL,
//! whose DDL commits implicitly) is recorded in the progress table while it runs and guarded
//! on its own; what it did cannot be rolled back.
//!
//! A panic in a migration is caught and reported as that migration's failure.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, TransactionTrait,
};
use sea_orm_migration::{MigrationTrait, SchemaManager};

use crate::backend::{self, CatalogParts};
use crate::chain::Chain;
use crate::clearance::Clearance;
use crate::error::{AppliedMigration, Error, Modified, Trespass};
use crate::lock_wait;
use crate::plan::capture::{Record, capture};
use crate::schema::{ObjectChange, ObjectKind, Snapshot, snapshot_of, snapshot_since};
use crate::status::{
    ChainStatus, DbState, MigrationStatus, Read, Status, chain_status, chain_status_of, read_state,
};

/// At most this many migrations share one segment (one guard check, this many nested
/// savepoints).
pub(crate) const SEGMENT_LIMIT: usize = 32;

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
pub(crate) enum Direction {
    Up,
    Down,
}

impl Direction {
    fn word(self) -> &'static str {
        match self {
            Self::Up => "up",
            Self::Down => "down",
        }
    }
}

/// One migration to run in one direction.
struct Step<'a> {
    chain: &'a Chain,
    migration: Box<dyn MigrationTrait>,
}

/// A run that failed: the error, and whether everything the run did (and what its caller did
/// in the same transaction before it) was rolled back.
pub(crate) struct Failed {
    pub error: Error,
    pub undone: bool,
}

impl From<Error> for Failed {
    fn from(error: Error) -> Self {
        Self {
            error,
            undone: false,
        }
    }
}

/// Executes `stmt` on the open transaction if there is one, else on the connection.
macro_rules! on {
    ($open:expr, $db:expr, |$c:ident| $body:expr) => {
        match $open {
            Some($c) => $body,
            None => {
                let $c = $db;
                $body
            }
        }
    };
}

/// Reads the state of `chains` and refuses to go on if a version table records a migration
/// this build does not have, or a migration did not finish.
pub(crate) async fn checked_state<C: ConnectionTrait>(
    db: &C,
    chains: &[&Chain],
) -> Result<(DbState, Vec<ChainStatus>), Error> {
    checked_state_with(db, chains, Read::Optimistic).await
}

/// [`checked_state`], reading as `read` says (inside a transaction, a failed optimistic read
/// would abort it on PostgreSQL: read with [`Read::Listing`] there).
pub(crate) async fn checked_state_with<C: ConnectionTrait>(
    db: &C,
    chains: &[&Chain],
    read: Read,
) -> Result<(DbState, Vec<ChainStatus>), Error> {
    let state = read_state(db, chains, read).await?;
    if !state.progress_exists {
        // created once, so that later startups read everything in one statement
        db.execute(&backend::create_progress_table())
            .await
            .map_err(Error::db(format!("creating {}", backend::PROGRESS_TABLE)))?;
    }
    if !state.checksums_exist && chains.iter().any(|c| c.has_checksums()) {
        db.execute(&backend::create_checksum_table())
            .await
            .map_err(Error::db(format!("creating {}", backend::CHECKSUM_TABLE)))?;
    }
    let mut statuses: Vec<ChainStatus> = chains
        .iter()
        .zip(&state.recorded)
        .map(|(c, r)| chain_status(c, r))
        .collect();
    check_statuses(&statuses)?;
    adopt(db, &mut statuses).await?;
    Ok((state, statuses))
}

/// Records the checksums of applied migrations that have none (applied by a build without
/// checksums, or by stock sea-orm-migration): one statement per 500 of them, none when there
/// are none.
async fn adopt<C: ConnectionTrait>(db: &C, statuses: &mut [ChainStatus]) -> Result<(), Error> {
    let rows: Vec<backend::ChecksumRow<'_>> = statuses
        .iter()
        .flat_map(|s| {
            s.migrations.iter().filter(|m| m.unchecked()).map(|m| {
                (
                    s.namespace.as_str(),
                    m.name.as_str(),
                    m.checksum.as_deref().expect("unchecked: has a checksum"),
                    m.applied_at.expect("unchecked: applied"),
                )
            })
        })
        .collect();
    // a statement per 500 rows keeps under every backend's limit of bound values
    for batch in rows.chunks(500) {
        db.execute(&backend::upsert_checksums(batch))
            .await
            .map_err(Error::db(format!(
                "recording the checksums of migrations applied without one in {}",
                backend::CHECKSUM_TABLE
            )))?;
    }
    if rows.is_empty() {
        return Ok(());
    }
    for status in statuses.iter_mut() {
        for m in status.migrations.iter_mut().filter(|m| m.unchecked()) {
            m.recorded_checksum = m.checksum.clone();
        }
    }
    Ok(())
}

/// Where every chain stands, when one read (without the lock) shows there is nothing to do:
/// every table exists, nothing is pending, unknown or unfinished. `None` otherwise, and when
/// the read fails: the caller then takes the lock and reads again.
pub(crate) async fn up_to_date<C: ConnectionTrait>(db: &C, chains: &[&Chain]) -> Option<RunReport> {
    let state = read_state(db, chains, Read::Optimistic).await.ok()?;
    let checksums_missing = !state.checksums_exist && chains.iter().any(|c| c.has_checksums());
    if !state.progress_exists || checksums_missing || state.recorded.iter().any(|r| !r.table_exists)
    {
        return None;
    }
    let statuses: Vec<ChainStatus> = chains
        .iter()
        .zip(state.recorded)
        .map(|(c, r)| chain_status_of(c, r))
        .collect();
    let to_do = |s: &ChainStatus| {
        s.pending().next().is_some() || s.migrations.iter().any(MigrationStatus::unchecked)
    };
    if check_statuses(&statuses).is_err() || statuses.iter().any(to_do) {
        return None;
    }
    Some(RunReport {
        applied: Vec::new(),
        chains: statuses,
    })
}

/// Refuses statuses with versions this build does not have, unfinished migrations, or applied
/// migrations whose files were edited since.
pub(crate) fn check_statuses(statuses: &[ChainStatus]) -> Result<(), Error> {
    if let Some((status, m)) = statuses
        .iter()
        .find_map(|s| s.modified().next().map(|m| (s, m)))
    {
        return Err(Error::ModifiedMigration(Box::new(Modified {
            namespace: status.namespace.clone(),
            migration: m.name.clone(),
            file: m.file.clone().unwrap_or_default(),
            recorded: m.recorded_checksum.clone().unwrap_or_default(),
            current: m.checksum.clone().unwrap_or_default(),
        })));
    }
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
    Ok(())
}

tokio::task_local! {
    /// Set while a run's progress is nobody's business (a scratch database's replay).
    static QUIET: ();
}

/// Awaits `work` (runs of this module) without their progress and error lines: the caller
/// reports what matters. Not a scoped tracing subscriber: setting one registers a dispatcher,
/// which makes tracing compute every callsite's cached interest again while other threads
/// use them, and makes `tracing::dispatcher::has_been_set` true for the whole process.
pub(crate) async fn quietly<F: Future>(work: F) -> F::Output {
    QUIET.scope((), work).await
}

/// Whether the run in this task logs its progress (not inside [`quietly`]).
fn heard() -> bool {
    QUIET.try_with(|()| ()).is_err()
}

/// Applies every pending migration of `chains`, in the order given, stopping at the first
/// failure. `steps` limits how many migrations are applied in all.
///
/// # Errors
/// - [`Error::UnknownAppliedMigration`] or [`Error::Interrupted`] before anything runs;
/// - [`Error::MigrationFailed`] or [`Error::MigrationPanicked`] naming the namespace and the
///   migration, with the migrations applied before it;
/// - [`Error::Trespass`] when a migration touched an object outside its chain's scope;
/// - [`Error::Database`] when the state cannot be read.
pub async fn up(
    db: &DatabaseConnection,
    chains: &[&Chain],
    steps: Option<u32>,
) -> Result<RunReport, Error> {
    up_in(db, None, chains, steps, false)
        .await
        .map_err(|f| f.error)
}

/// [`up`] inside `open`, an open transaction that already holds work of the caller's (a
/// `fresh`'s drops). With `atomic`, the run commits only where it must (a migration outside
/// transactions, an enum label on PostgreSQL), and a failure before any such commit rolls back
/// everything, the caller's work included (`Failed::undone`).
pub(crate) async fn up_in(
    db: &DatabaseConnection,
    open: Option<DatabaseTransaction>,
    chains: &[&Chain],
    steps: Option<u32>,
    atomic: bool,
) -> Result<RunReport, Failed> {
    let state = match &open {
        Some(txn) => checked_state_with(txn, chains, Read::Listing).await,
        None => checked_state(db, chains).await,
    };
    let (state, mut statuses) = match state {
        Ok(s) => s,
        Err(error) => {
            let undone = match open {
                Some(txn) => txn.rollback().await.is_ok(),
                None => false,
            };
            return Err(Failed { error, undone });
        }
    };
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
    let done = execute(db, open, Direction::Up, &create, work, atomic).await?;
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
    let done = execute(db, None, Direction::Down, &[], work, false)
        .await
        .map_err(|f| f.error)?;
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
            let up = direction == Direction::Up;
            *m = MigrationStatus {
                status: if up { Status::Applied } else { Status::Pending },
                applied_at: up.then_some(now),
                recorded_checksum: m.checksum.clone().filter(|_| up),
                modified: false,
                ..m.clone()
            };
        }
    }
}

/// Whether `migration` runs inside the run's transaction: it takes part in transactions and
/// DDL on this backend does too.
fn in_transaction(migration: &dyn MigrationTrait, backend: DbBackend) -> bool {
    backend::use_transaction(migration, backend) && backend::transactional_ddl(backend)
}

/// Runs `work` in order, creating the version tables in `create` as their chains come.
async fn execute(
    db: &DatabaseConnection,
    open: Option<DatabaseTransaction>,
    direction: Direction,
    create: &[&str],
    work: Vec<Step<'_>>,
    atomic: bool,
) -> Result<Vec<AppliedMigration>, Failed> {
    let backend = db.get_database_backend();
    let mut run = Run {
        db,
        backend,
        direction,
        open,
        done: Vec::new(),
        schema: None,
        committed: false,
        kept: 0,
        capture: false,
        unverified: false,
        dirty: std::collections::BTreeSet::new(),
        dirty_parts: CatalogParts::default(),
        dirty_owner: String::new(),
        progress: None,
        announced: None,
        version_table_lines: None,
        version_table_learnt_from: None,
        reader: Reader::Unopened,
        reading: None,
    };
    let result = async {
        let mut create: Vec<&str> = create.to_vec();
        let mut groups: Vec<(&Chain, Vec<Box<dyn MigrationTrait>>)> = Vec::new();
        for Step { chain, migration } in work {
            match groups.last_mut() {
                Some((c, ms)) if std::ptr::eq(*c, chain) => ms.push(migration),
                _ => groups.push((chain, vec![migration])),
            }
        }
        let transactional = backend::transactional_ddl(backend);
        for (g, (chain, migrations)) in groups.iter().enumerate() {
            let chain: &Chain = chain;
            // MySQL: the first migration of the chain after this one, whose progress record
            // goes with this chain's last version row (see `Run::step_outside`)
            let following = groups
                .get(g + 1)
                .and_then(|(c, ms)| Some((c.namespace(), ms.first()?.name())))
                .filter(|_| !transactional);
            if let Some(i) = create.iter().position(|t| *t == chain.version_table()) {
                let table = create.swap_remove(i);
                if !transactional && run.schema.is_some() {
                    // MySQL: the chain before read back from here on, its locks asked for
                    // while the version table is created (awaited before the chain's first
                    // migration, in `Run::created`)
                    run.flush_unless(chain.namespace()).await?;
                }
                run.begin_if_transactional().await?;
                // MySQL: with the progress record of the chain's first migration, in one
                // round trip, unless the chain before wrote it
                let announced = match migrations.first() {
                    Some(first)
                        if !transactional
                            && !run.announced_for(chain.namespace(), first.name()) =>
                    {
                        create_announcing(db, chain, table, first.name(), direction).await
                    }
                    _ => false,
                };
                if !announced {
                    // as text, in one round trip: a statement prepared for one table's name
                    // would never be used again
                    let create = backend.build(&backend::create_version_table(table)).sql;
                    on!(&run.open, db, |c| c.execute_unprepared(&create).await)
                        .map_err(Error::db(format!("creating version table {table}")))?;
                }
                run.created(table, chain.namespace()).await?;
                if let Some(first) = migrations.first().filter(|_| announced) {
                    run.announce(chain.namespace(), first.name());
                }
            }
            let mut i = 0;
            while i < migrations.len() {
                let end = migrations[i..]
                    .iter()
                    .position(|m| !in_transaction(m.as_ref(), backend))
                    .map_or(migrations.len(), |p| i + p);
                if end > i {
                    i += run.segment(chain, &migrations[i..end]).await?;
                } else {
                    // where DDL commits at once (MySQL), the next migration's progress record
                    // goes with this one's version row, the next chain's after the last
                    let next = match migrations.get(i + 1) {
                        Some(m) => Some((chain.namespace(), m.name())).filter(|_| !transactional),
                        None => following,
                    };
                    run.step_outside(chain, migrations[i].as_ref(), next)
                        .await?;
                    i += 1;
                }
            }
            run.clear_progress().await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    if result.is_err() {
        run.withdraw_announcement().await;
    }
    let outcome = finish(&mut run, result, atomic).await;
    run.close_reader().await;
    outcome
}

/// Ends `run`, whose steps came to `result`: the end check, then the run's transaction
/// committed, or rolled back where the run failed and is `atomic`.
async fn finish(
    run: &mut Run<'_>,
    result: Result<(), Error>,
    atomic: bool,
) -> Result<Vec<AppliedMigration>, Failed> {
    let db = run.db;
    let Some(txn) = run.open.take() else {
        // nothing to roll back: say what no migration explains, after the fact
        if let Err(unexplained) = run.verify(db).await {
            if let Err(error) = result
                && heard()
            {
                tracing::error!("{error}");
            }
            return Err(unexplained.into());
        }
        return result
            .map(|()| std::mem::take(&mut run.done))
            .map_err(Failed::from);
    };
    if let Err(unexplained) = run.verify(&txn).await {
        if let Err(error) = result
            && heard()
        {
            tracing::error!("{error}");
        }
        let undone = txn.rollback().await.is_ok() && !run.committed;
        return Err(Failed {
            error: unexplained,
            undone,
        });
    }
    match result {
        Ok(()) => match txn.commit().await {
            Ok(()) => Ok(std::mem::take(&mut run.done)),
            Err(e) => Err(Error::Database {
                context: "committing".to_owned(),
                source: Box::new(e),
            }
            .into()),
        },
        Err(error) if atomic && !run.committed => {
            let undone = txn.rollback().await.is_ok();
            Err(Failed { error, undone })
        }
        // what succeeded before the failure stays applied
        Err(error) => {
            txn.commit().await.ok();
            Err(error.into())
        }
    }
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
    /// Whether the run committed anything yet.
    committed: bool,
    /// How many of `done` are committed (where the run has a transaction).
    kept: usize,
    /// Whether the statements migrations send are seen (and can clear them; see
    /// [`crate::clearance`]).
    capture: bool,
    /// Whether `schema` holds changes of cleared migrations that no full read has checked
    /// yet.
    unverified: bool,
    /// Names of the chain `dirty_owner` whose lines in `schema` are not read back yet: on
    /// MySQL what its cleared migrations touched, everywhere its version table just created.
    /// Read back in one statement with the chain's segment (PostgreSQL, SQLite), or when
    /// another chain's migration is about to run (whose full check, should it need one, must
    /// know them exactly), and before the end check. On MySQL a read after each migration
    /// would open a table definition each time and slow the statements after it: one read
    /// per chain, not per migration.
    dirty: std::collections::BTreeSet<String>,
    /// The optional parts of the catalog in which statements that touched `dirty` may have
    /// made lines (see [`Clearance::created_parts`]).
    dirty_parts: CatalogParts,
    /// The chain whose names `dirty` holds.
    dirty_owner: String,
    /// The chain whose progress record of a finished migration is still to be cleared.
    progress: Option<String>,
    /// The chain and migration whose progress record is written already, with the version
    /// row of the migration before it (see [`Run::step_outside`]).
    announced: Option<(String, String)>,
    /// MySQL: the catalog lines of a version table as the runner creates it, learnt from the
    /// first one it created and read back in this run. A version table's lines there do not
    /// name it (`PRIMARY`), so every later one is given them without a read; the end check
    /// compares them with what the server holds, like every line the run keeps.
    version_table_lines: Option<Vec<(ObjectKind, std::collections::BTreeSet<String>)>>,
    /// The version table created in this run whose read-back is to teach
    /// `version_table_lines`.
    version_table_learnt_from: Option<String>,
    /// MySQL: the second session read-backs run on (see [`Run::flush_unless`]).
    reader: Reader,
    /// The read-back running there, whose lines are not in `schema` yet.
    reading: Option<Reading>,
}

/// MySQL: the session a chain's read-back runs on while the next chain's migrations run.
enum Reader {
    /// Not needed yet.
    Unopened,
    Open(DatabaseConnection),
    /// Not to be had (connecting failed, or not a driver's pool): read-backs run on the
    /// run's own connection.
    Unavailable,
}

/// A read-back running on the [`Reader`], the tables it names locked there until it is done.
struct Reading {
    names: std::collections::BTreeSet<String>,
    /// The parts of the catalog it reads.
    parts: CatalogParts,
    /// The version table whose lines it is to teach (`Run::version_table_lines`).
    learn: Option<String>,
    /// Whether the reader got the locks (`true`), or read nothing (`false`), until
    /// [`Run::await_locks`] has heard.
    locked: Option<tokio::sync::oneshot::Receiver<bool>>,
    /// The lines read; `None` where the locks were not granted (the names are then read on
    /// the run's own connection, see [`Run::settle_into`]).
    task: tokio::task::JoinHandle<Result<Option<Snapshot>, Error>>,
}

impl Run<'_> {
    /// Opens the run's transaction where DDL is transactional and none is open.
    async fn begin_if_transactional(&mut self) -> Result<(), Error> {
        if self.open.is_none() && backend::transactional_ddl(self.backend) {
            self.open = Some(
                self.db
                    .begin()
                    .await
                    .map_err(Error::db("beginning a transaction"))?,
            );
        }
        Ok(())
    }

    /// Clears the progress record a chain's finished migrations left (see
    /// [`Run::step_outside`]).
    async fn clear_progress(&mut self) -> Result<(), Error> {
        let Some(namespace) = self.progress.take() else {
            return Ok(());
        };
        self.db
            .execute(&backend::delete_progress(&namespace))
            .await
            .map_err(Error::db(format!(
                "clearing the progress record of namespace {namespace:?}"
            )))?;
        self.schema = self
            .schema
            .take()
            .map(|s| s.without_progress_row(&namespace));
        Ok(())
    }

    /// Commits the run's transaction, if one is open.
    async fn commit(&mut self) -> Result<(), Error> {
        if let Some(txn) = self.open.take() {
            if let Err(unexplained) = self.verify(&txn).await {
                txn.rollback().await.ok();
                return Err(unexplained);
            }
            txn.commit().await.map_err(Error::db("committing"))?;
            self.committed = true;
            self.kept = self.done.len();
        }
        Ok(())
    }

    /// Takes the schema as it stands now out of the run (read first where the run holds
    /// none), not copied: a copy costs what the schema weighs, and the taker puts one back. The
    /// first read also tells whether the statements migrations send are seen: it is captured
    /// like them.
    async fn take_schema(&mut self) -> Result<Snapshot, Error> {
        if let Some(schema) = self.schema.take() {
            return Ok(schema);
        }
        self.discard_reading().await;
        let (open, db) = (&self.open, self.db);
        let read = async { on!(open, db, |c| guard_snapshot(c).await) };
        let (read, seen) = capture(read).await;
        let read = read?;
        self.capture = guarded() && !seen.statements.is_empty() && !read.opaque;
        Ok(read)
    }

    /// Adds the version table `table` of the chain `namespace`, just created, to what the run
    /// reads back with the chain's migrations (`dirty`).
    async fn created(&mut self, table: &str, namespace: &str) -> Result<(), Error> {
        if self.schema.is_none() {
            // the first read is still to come, and sees it
            return Ok(());
        }
        self.flush_unless(namespace).await?;
        let mut schema = self.schema.take();
        match &self.version_table_lines {
            Some(lines) => schema = schema.map(|s| s.with_objects_named(table, lines)),
            None => {
                self.dirty.insert(table.to_owned());
                self.dirty_owner = namespace.to_owned();
                if self.backend == DbBackend::MySql {
                    self.version_table_learnt_from = Some(table.to_owned());
                }
            }
        }
        // its rows: none yet, and from now on only the runner's own
        let joined = backend::transactional_ddl(self.backend);
        self.schema = schema.map(|s| s.with_empty_version_table(table, joined));
        Ok(())
    }

    /// Takes it that the progress record of `migration` of the chain `namespace` was just
    /// written (see [`create_announcing`]).
    fn announce(&mut self, namespace: &str, migration: &str) {
        let direction = self.direction.word();
        self.announced = Some((namespace.to_owned(), migration.to_owned()));
        self.schema = self
            .schema
            .take()
            .map(|s| s.with_progress_row(namespace, migration, direction));
    }

    /// Whether the progress record of `migration` of the chain `namespace` was written ahead
    /// of it (with the version row of the migration before it in the run).
    fn announced_for(&self, namespace: &str, migration: &str) -> bool {
        self.announced
            .as_ref()
            .is_some_and(|(n, m)| n == namespace && m == migration)
    }

    /// Removes, best effort, the progress record of an announced migration that never
    /// started (the run failed before it): a later start would take it as interrupted.
    async fn withdraw_announcement(&mut self) {
        let Some((namespace, _)) = self.announced.take() else {
            return;
        };
        if self
            .db
            .execute(&backend::delete_progress(&namespace))
            .await
            .is_ok()
        {
            self.schema = self
                .schema
                .take()
                .map(|s| s.without_progress_row(&namespace));
        }
    }

    /// Reads back the names cleared migrations touched (`dirty`), unless they are all
    /// `namespace`'s (the chain about to run: whatever it does to them is its own); `""`
    /// reads them back in any case. On MySQL the read runs on a second session while the
    /// next migrations run, where it can ([`Run::read_in_background`]).
    async fn flush_unless(&mut self, namespace: &str) -> Result<(), Error> {
        self.await_locks().await?;
        if self.dirty.is_empty() || self.dirty_owner == namespace {
            return Ok(());
        }
        self.settle().await?;
        // only cleared migrations ran since the version table was created (a full read
        // empties `dirty`), and none of them may touch a version table: its lines are
        // those the runner's statement made
        let learn = self
            .version_table_learnt_from
            .take()
            .filter(|table| self.dirty.contains(table));
        if !namespace.is_empty() && self.read_in_background(&learn).await {
            return Ok(());
        }
        let (open, db) = (&self.open, self.db);
        on!(open, db, |c| read_dirty(
            c,
            &mut self.dirty,
            &mut self.dirty_parts,
            &mut self.schema
        )
        .await)?;
        if let Some(schema) = &self.schema {
            learn_version_table(&mut self.version_table_lines, schema, learn);
        }
        Ok(())
    }

    /// MySQL: starts the read-back of `dirty` on the [`Reader`], the tables named locked
    /// there first (`LOCK TABLES … READ`, not waiting: a table another session holds makes
    /// the read run here). `false` where it did not start (nothing taken out of `dirty`).
    /// The run goes on while the locks are asked for (the next chain's version table is
    /// created meanwhile); [`Run::await_locks`], before the next migration's statements,
    /// waits for the answer.
    ///
    /// The migrations that run meanwhile are the next chain's. What they do to its objects
    /// through their own statements is its own; a statement that changes one of the names
    /// locked (sent past the statement log, a trespass) waits for the read to end, so the
    /// read sees the names as the chain left them and the end check sees the change. The
    /// read starts only where nothing the next chain's clearance asks of the kept schema can
    /// come from it: the statements made no view, trigger or routine (a routine cannot be
    /// locked), and the names have no routine lines.
    async fn read_in_background(&mut self, learn: &Option<String>) -> bool {
        let created = self.dirty_parts;
        let Some(schema) = &self.schema else {
            return false;
        };
        if self.backend != DbBackend::MySql
            || self.open.is_some()
            || created.views
            || created.triggers
            || created.routines
            || tokio::runtime::Handle::try_current().is_err()
        {
            return false;
        }
        let parts = parts_to_read(self.backend, Some(schema), &self.dirty, created);
        if parts.routines {
            return false;
        }
        let Some(reader) = self.reader().await else {
            return false;
        };
        let lock = backend::lock_for_reading(&self.dirty);
        let names = std::mem::take(&mut self.dirty);
        self.dirty_parts = CatalogParts::default();
        let read = names.clone();
        let (granted, locked) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            if let Err(e) = reader.execute_unprepared(&lock).await {
                tracing::debug!("reading back on the run's own connection: {e}");
                granted.send(false).ok();
                return Ok(None);
            }
            granted.send(true).ok();
            let fresh = snapshot_of(&reader, &read, parts).await;
            let unlocked = reader.execute_unprepared("UNLOCK TABLES").await;
            let fresh = fresh?;
            unlocked.map_err(Error::db("unlocking the tables read back"))?;
            Ok(Some(fresh))
        });
        self.reading = Some(Reading {
            names,
            parts,
            learn: learn.clone(),
            locked: Some(locked),
            task,
        });
        true
    }

    /// Waits until the read-back running on the [`Reader`] holds its locks, if it was not
    /// known yet; where they were not granted, reads the names on the run's own connection
    /// now, before any other statement of the run can change them.
    async fn await_locks(&mut self) -> Result<(), Error> {
        let Some(locked) = self.reading.as_mut().and_then(|r| r.locked.take()) else {
            return Ok(());
        };
        if locked.await.unwrap_or(false) {
            return Ok(());
        }
        self.settle().await
    }

    /// The [`Reader`], opened on first use.
    async fn reader(&mut self) -> Option<DatabaseConnection> {
        if matches!(self.reader, Reader::Unopened) {
            self.reader = match crate::connect::another_session(self.db).await {
                Some(Ok(conn)) => Reader::Open(conn),
                Some(Err(e)) => {
                    tracing::debug!("reading back on the run's own connection: {e}");
                    Reader::Unavailable
                }
                None => Reader::Unavailable,
            };
        }
        match &self.reader {
            Reader::Open(conn) => Some(conn.clone()),
            _ => None,
        }
    }

    /// Waits for the read-back running on the [`Reader`], if any, and puts its lines into
    /// the kept schema.
    async fn settle(&mut self) -> Result<(), Error> {
        let mut schema = self.schema.take();
        let settled = self.settle_into(schema.as_mut()).await;
        self.schema = schema;
        settled
    }

    /// [`Run::settle`], into `schema` (the kept schema, taken out of the run).
    async fn settle_into(&mut self, schema: Option<&mut Snapshot>) -> Result<(), Error> {
        let Some(reading) = self.reading.take() else {
            return Ok(());
        };
        let read = reading
            .task
            .await
            .map_err(|e| Error::db("reading back the schema")(DbErr::Custom(e.to_string())))??;
        let fresh = match read {
            Some(fresh) => fresh,
            // the locks were not granted: read here (nothing ran since, see `await_locks`)
            None => {
                let (open, db) = (&self.open, self.db);
                on!(open, db, |c| snapshot_of(c, &reading.names, reading.parts)
                    .await)?
            }
        };
        if let Some(schema) = schema {
            schema.replace_named(&reading.names, fresh);
            learn_version_table(&mut self.version_table_lines, schema, reading.learn);
        }
        Ok(())
    }

    /// Drops the read-back running on the [`Reader`], once it is done: a full read replaces
    /// what it would bring.
    async fn discard_reading(&mut self) {
        if let Some(reading) = self.reading.take() {
            reading.task.await.ok();
        }
    }

    /// Closes the [`Reader`], if it was opened.
    async fn close_reader(&mut self) {
        self.discard_reading().await;
        if let Reader::Open(conn) = std::mem::replace(&mut self.reader, Reader::Unavailable) {
            conn.close().await.ok();
        }
    }

    /// Compares the schema the run keeps, where cleared migrations changed it, with a full
    /// read: a difference is a change no migration's statements explain (sent past the
    /// statement log, on another connection, by another session). Where the run has a
    /// transaction, the caller rolls it back.
    async fn verify<C: ConnectionTrait>(&mut self, conn: &C) -> Result<(), Error> {
        self.settle().await?;
        if !std::mem::take(&mut self.unverified) {
            return Ok(());
        }
        read_dirty(
            conn,
            &mut self.dirty,
            &mut self.dirty_parts,
            &mut self.schema,
        )
        .await?;
        let Some(kept) = self.schema.take() else {
            // a failure to write the runner's own rows left nothing to compare with; the run
            // ends with that error
            return Ok(());
        };
        let read = guard_snapshot_since(conn, Some(&kept)).await?;
        let changes = kept.changes(&read);
        self.schema = Some(read);
        if changes.is_empty() {
            return Ok(());
        }
        let rolled_back = backend::transactional_ddl(self.backend);
        if rolled_back {
            self.done.truncate(self.kept);
            // what is left of the run's transaction is rolled back: read the schema again
            self.schema = None;
        }
        Err(Error::Unexplained {
            changes,
            rolled_back,
            applied: self.done.clone(),
        })
    }

    /// Whether the statements `seen` of `migration` touched only `chain`'s objects; when not,
    /// the clearance is given up and the segment gets the full check.
    fn judge(clearance: &mut Option<Clearance<'_>>, seen: &Record, chain: &Chain, migration: &str) {
        let Some(c) = clearance else {
            return;
        };
        if let Some((sql, why)) = seen
            .statements
            .iter()
            .find_map(|s| c.statement(&s.raw).err().map(|why| (&s.raw, why)))
        {
            tracing::debug!(
                "{} {migration}: the full check, for {why} in {}",
                chain.namespace(),
                crate::error::shorten(sql)
            );
            *clearance = None;
        }
    }

    /// Brings `schema`, as it stood before cleared migrations of `chain` (`kept` of them kept),
    /// up to date and keeps it: what they touched (and `dirty`) read again in one statement,
    /// and the version and checksum rows the runner wrote (cleared statements write none).
    async fn read_back<C: ConnectionTrait>(
        &mut self,
        conn: &C,
        chain: &Chain,
        (touched, created): &(std::collections::BTreeSet<String>, CatalogParts),
        kept: &[&str],
        mut schema: Snapshot,
    ) -> Result<(), Error> {
        let mut names = std::mem::take(&mut self.dirty);
        names.extend(touched.iter().cloned());
        let created = std::mem::take(&mut self.dirty_parts).union(*created);
        if self.backend == DbBackend::Postgres {
            // with the write counts of the tables whose rows the runner keeps: the end check
            // then reads those rows only if something else wrote to them since
            names.insert(chain.version_table().to_owned());
            if chain.has_checksums() {
                names.insert(backend::CHECKSUM_TABLE.to_owned());
            }
        }
        let parts = parts_to_read(self.backend, Some(&schema), &names, created);
        let fresh = match snapshot_of(conn, &names, parts).await {
            Ok(fresh) => fresh,
            Err(e) => {
                self.schema = Some(schema);
                return Err(e);
            }
        };
        let up = self.direction == Direction::Up;
        schema.replace_named(&names, fresh);
        for name in kept {
            schema = schema.with_joined_version_row(chain.version_table(), name, up);
            if let Some(sum) = chain.checksum_to_record(name) {
                schema = schema.with_checksum_row(chain.namespace(), name, sum.filter(|_| up));
            }
        }
        self.schema = Some(schema);
        Ok(())
    }

    fn failed(&self, chain: &Chain, migration: &str, cause: Cause, rolled_back: bool) -> Error {
        let namespace = chain.namespace().to_owned();
        let migration = migration.to_owned();
        let applied = self.done.clone();
        let (source, hint) = match cause {
            Cause::Db(source) | Cause::TimedOut(source, _) => (source, None),
            Cause::Waited(source, hint) => (source, Some(hint.into_boxed_str())),
            Cause::Panic(message) => {
                return Error::MigrationPanicked {
                    namespace,
                    migration,
                    direction: self.direction.word(),
                    message,
                    rolled_back,
                    applied,
                };
            }
        };
        Error::MigrationFailed {
            namespace,
            migration,
            direction: self.direction.word(),
            rolled_back,
            applied,
            source: Box::new(source),
            hint,
        }
    }

    fn trespass(
        &self,
        chain: &Chain,
        migration: &str,
        trespasses: Vec<ObjectChange>,
        left_behind: Option<Vec<ObjectChange>>,
    ) -> Error {
        Error::Trespass(Box::new(Trespass {
            namespace: chain.namespace().to_owned(),
            migration: migration.to_owned(),
            direction: self.direction.word(),
            scope: chain.scope().describe(),
            trespasses,
            left_behind,
            applied: self.done.clone(),
        }))
    }

    fn record_done(&mut self, chain: &Chain, migration: &str) {
        let done = match self.direction {
            Direction::Up => "applied",
            Direction::Down => "rolled back",
        };
        if heard() {
            tracing::info!("{done} {} {migration}", chain.namespace());
        }
        self.done.push(AppliedMigration {
            namespace: chain.namespace().to_owned(),
            migration: migration.to_owned(),
        });
    }

    /// Runs consecutive transactional migrations of one chain as one segment (see the module
    /// documentation). Returns how many of them it got through; fewer than given when the run
    /// had to commit after one of them, or at [`SEGMENT_LIMIT`].
    async fn segment(
        &mut self,
        chain: &Chain,
        migrations: &[Box<dyn MigrationTrait>],
    ) -> Result<usize, Error> {
        self.begin_if_transactional().await?;
        self.flush_unless(chain.namespace()).await?;
        // taken out of the run while the segment runs; every way out puts one back
        let before = self.take_schema().await?;
        // the run's transaction too, given back whatever happens
        let txn = self
            .open
            .take()
            .expect("a segment runs in the open transaction");
        let ran = self.segment_in(&txn, chain, migrations, before).await;
        self.open = Some(txn);
        let (ran, commit_after) = ran?;
        if commit_after {
            // PostgreSQL: an enum value added here must be committed before a later migration
            // can use it (even in an atomic run: PostgreSQL allows no other way)
            self.commit().await?;
        }
        Ok(ran)
    }

    /// [`Run::segment`] in the run's transaction `txn`, from the schema `before` it: how many
    /// migrations it got through, and whether the run must commit after the last.
    async fn segment_in(
        &mut self,
        txn: &DatabaseTransaction,
        chain: &Chain,
        migrations: &[Box<dyn MigrationTrait>],
        before: Snapshot,
    ) -> Result<(usize, bool), Error> {
        // PostgreSQL: a value added to an enum type can only be used once committed; the
        // version row's statement reads every enum type's number of labels
        let mut labels = before.enum_labels();
        // while every statement is cleared, only what they touched is read back afterwards
        let scope = chain.scope();
        let mut clearance = self
            .capture
            .then(|| Clearance::new(self.backend, &scope, &before));
        // one SQL savepoint per migration, nested in the one before: rolled back to on a
        // failure; the first is the segment's, released (with all the others, in one
        // statement) when it is done, or rolled back to as a whole. PostgreSQL ends each
        // savepoint at a cost that grows with what the transaction created, so the segment
        // has no savepoint of its own besides its migrations'.
        let mut stack: Vec<(usize, &str)> = Vec::new();
        let mut failure: Option<(&str, Cause)> = None;
        let mut commit_after = false;
        let mut ran = 0;
        for (i, migration) in migrations.iter().take(SEGMENT_LIMIT).enumerate() {
            let name = migration.name();
            if let Err(e) = txn.execute_unprepared(&savepoint_sql("SAVEPOINT", i)).await {
                failure = Some((name, Cause::Db(e)));
                break;
            }
            ran += 1;
            let work = run_migration(txn, self.db, self.direction, migration.as_ref());
            let outcome = match seen(work, &mut clearance, chain, name).await {
                Ok(()) => {
                    // cleared statements say whether an enum type may have come or gained labels
                    let labels = clearance.as_mut().is_none_or(Clearance::take_altered_types);
                    record(txn, self.direction, chain, name, labels).await
                }
                Err(cause) => Err(cause),
            };
            match outcome {
                Ok(Some(after)) => {
                    stack.push((i, name));
                    // a type created here needs no commit; one that gained labels does
                    let added = after
                        .iter()
                        .any(|(t, n)| labels.get(t).is_some_and(|before| before != n));
                    labels = after;
                    if added {
                        commit_after = true;
                        break;
                    }
                }
                Ok(None) => stack.push((i, name)),
                Err(cause) => {
                    if let Err(e) = rollback_to(txn, i).await {
                        undo_segment(txn, ran).await;
                        self.schema = Some(before);
                        return Err(e);
                    }
                    failure = Some((name, cause.explained(txn).await));
                    break;
                }
            }
        }
        let cleared = clearance.map(|c| (c.touched().clone(), c.created_parts()));
        let mut culprit: Option<(&str, Vec<ObjectChange>)> = None;
        let checked = if let Some(touched) = &cleared {
            // nothing outside the chain: read back what it touched
            let kept: Vec<&str> = stack.iter().map(|s| s.1).collect();
            self.read_back(txn, chain, touched, &kept, before).await
        } else {
            match self
                .checked(txn, chain, &before, &mut stack, &mut culprit, migrations)
                .await
            {
                Ok(after) => {
                    self.dirty.clear();
                    self.dirty_parts = CatalogParts::default();
                    self.schema = Some(after);
                    Ok(())
                }
                Err(e) => {
                    self.schema = Some(before);
                    Err(e)
                }
            }
        };
        if let Err(e) = checked {
            undo_segment(txn, ran).await;
            return Err(e);
        }
        let kept: Vec<&str> = stack.iter().map(|s| s.1).collect();
        if ran > 0 {
            txn.execute_unprepared(&savepoint_sql("RELEASE SAVEPOINT", 0))
                .await
                .map_err(Error::db("releasing a savepoint"))?;
        }
        self.unverified |= cleared.is_some();
        for name in kept {
            self.record_done(chain, name);
        }
        if let Some((name, found)) = culprit {
            return Err(self.trespass(chain, name, found, None));
        }
        if let Some((name, cause)) = failure {
            return Err(self.failed(chain, name, cause, true));
        }
        Ok((ran, commit_after))
    }

    /// The segment's full guard check: the schema compared with `before`; on a trespass, the
    /// savepoints in `stack` rolled back from the newest until the schema is clean (the last
    /// one rolled back trespassed: `culprit`). Returns the schema afterwards.
    async fn checked<'m>(
        &self,
        group: &DatabaseTransaction,
        chain: &Chain,
        before: &Snapshot,
        stack: &mut Vec<(usize, &'m str)>,
        culprit: &mut Option<(&'m str, Vec<ObjectChange>)>,
        migrations: &[Box<dyn MigrationTrait>],
    ) -> Result<Snapshot, Error> {
        // one guard check for the segment; on a trespass, roll back from the newest until
        // the schema is clean: the last one rolled back trespassed
        let mut after = guard_snapshot_since(group, Some(before)).await?;
        loop {
            let found = before.trespasses(
                &after,
                &chain.scope(),
                chain.namespace(),
                chain.version_table(),
            );
            if found.is_empty() {
                break;
            }
            let Some((i, name)) = stack.pop() else {
                // nothing of the chain's is left, yet the schema differs: give up the segment
                return Err(self.trespass(chain, migrations[0].name(), found, None));
            };
            rollback_to(group, i).await?;
            *culprit = Some((name, found));
            after = guard_snapshot_since(group, Some(before)).await?;
        }
        Ok(after)
    }

    /// Runs one migration outside the run's transaction (its own choice, or on MySQL):
    /// recorded in the progress table while it runs, guarded on its own. What it did cannot be
    /// rolled back, so a failure or a trespass leaves the progress record for `resolve`.
    /// `next`, on MySQL: the migration after it in this run (the chain's next, or after the
    /// chain's last the next chain's first), as namespace and name, whose record is written
    /// with this one's version row ([`record_and_announce`]).
    async fn step_outside(
        &mut self,
        chain: &Chain,
        migration: &dyn MigrationTrait,
        next: Option<(&str, &str)>,
    ) -> Result<(), Error> {
        let name = migration.name();
        // what came before stays, whatever this one does
        self.commit().await?;
        let db = self.db;
        self.flush_unless(chain.namespace()).await?;
        // every way out below leaves a schema behind, or none after a failure that ends the run
        let mut before = self.take_schema().await?;
        let direction = self.direction.word();
        let announced = self.announced_for(chain.namespace(), name);
        self.announced = None;
        if !announced
            && let Err(e) = db
                .execute(&backend::insert_progress(
                    chain.namespace(),
                    name,
                    direction,
                ))
                .await
        {
            self.schema = Some(before);
            return Err(self.failed(chain, name, Cause::Db(e), false));
        }
        // MySQL: cleared by its statements, or checked in full; elsewhere (a migration that
        // opts out of transactions, rare) always in full
        let scope = chain.scope();
        let mut clearance = (self.capture && !backend::transactional_ddl(self.backend))
            .then(|| Clearance::new(self.backend, &scope, &before));
        let outcome = if backend::use_transaction(migration, self.backend) {
            // MySQL with a transaction of its own: rows roll back, DDL does not
            match db.begin().await {
                Ok(txn) => match seen(
                    run_migration(&txn, db, self.direction, migration),
                    &mut clearance,
                    chain,
                    name,
                )
                .await
                {
                    Ok(()) => txn.commit().await.map_err(Cause::Db),
                    Err(cause) => {
                        txn.rollback().await.ok();
                        Err(cause)
                    }
                },
                Err(e) => Err(Cause::Db(e)),
            }
        } else {
            let work = run_migration(db, db, self.direction, migration);
            seen(work, &mut clearance, chain, name).await
        };
        if let Err(cause) = outcome {
            let cause = cause.explained(db).await;
            // read in full: the progress record stays
            self.dirty.clear();
            self.dirty_parts = CatalogParts::default();
            self.discard_reading().await;
            self.schema = Some(guard_snapshot(db).await?);
            return Err(self.failed(chain, name, cause, false));
        }
        let cleared = clearance.map(|c| (c.touched().clone(), c.created_parts()));
        let after = match &cleared {
            Some((touched, created)) => {
                // read back later, with the chain's other migrations (`dirty`)
                self.dirty.extend(touched.iter().cloned());
                self.dirty_parts = self.dirty_parts.union(*created);
                self.dirty_owner = chain.namespace().to_owned();
                before
            }
            None => {
                // what this chain's cleared migrations touched is its own: whatever it did
                // to them, the full read takes them as they are now
                let earlier = std::mem::take(&mut self.dirty);
                self.dirty_parts = CatalogParts::default();
                // the chain before it, as it left its objects
                self.settle_into(Some(&mut before)).await?;
                let after = guard_snapshot(db).await?;
                let found = before.trespasses(
                    &after,
                    &chain.scope(),
                    chain.namespace(),
                    chain.version_table(),
                );
                if !found.is_empty() {
                    // without what the chain's earlier migrations in this run touched, which
                    // stay applied (their lines before this one ran are not read); with the
                    // chain's progress record, which stays for `resolve` (written for this
                    // migration, ahead of it when it came with the version row before)
                    let left = before
                        .without_progress_row(chain.namespace())
                        .changes(&after)
                        .into_iter()
                        .filter(|c| {
                            !(c.object.kind.is_schema_object() && earlier.contains(&c.object.name))
                        })
                        .collect();
                    self.schema = Some(after);
                    return Err(self.trespass(chain, name, found, Some(left)));
                }
                after
            }
        };
        let transactional = backend::transactional_ddl(self.backend);
        // the progress record afterwards, by namespace and migration
        let mut record_names = None;
        if transactional {
            record(db, self.direction, chain, name, false)
                .await
                .map_err(|e| self.failed(chain, name, e, false))?;
            db.execute(&backend::delete_progress(chain.namespace()))
                .await
                .map_err(|e| self.failed(chain, name, Cause::Db(e), false))?;
        } else {
            // MySQL: the version row, and the next migration's progress record (after the
            // chain's last, the chain's record removed and the next chain's written), in one
            // round trip and one commit
            // (a name that cannot be written into the text: the version and checksum rows as
            // separate statements in a transaction of their own, the record staying until the
            // chain's last migration: the next one's replaces it, and once finished it no
            // longer counts as interrupted)
            let written = match record_and_announce(db, self.direction, chain, name, next).await {
                Ok(true) => Ok(true),
                Ok(false) => record_whole(db, self.direction, chain, name)
                    .await
                    .map(|()| false),
                Err(e) => Err(Cause::Db(e)),
            };
            let batched = match written {
                Ok(batched) => batched,
                Err(cause) => {
                    // nothing of it was written (its transaction rolled back): the schema is
                    // as the migration left it, with its progress record, and the end check
                    // still compares (a change past the statement log may be why it failed)
                    if guarded() {
                        self.unverified |= cleared.is_some();
                        self.schema =
                            Some(after.with_progress_row(chain.namespace(), name, direction));
                    }
                    return Err(self.failed(chain, name, cause, false));
                }
            };
            if batched {
                record_names = next;
                self.announced = next.map(|(n, m)| (n.to_owned(), m.to_owned()));
                self.progress = None;
            } else {
                record_names = Some((chain.namespace(), name));
                self.progress = Some(chain.namespace().to_owned());
            }
        }
        // the runner's own writes, which the snapshot was read before; where DDL is
        // transactional the snapshot holds version rows joined (see `backend::read_all_rows`),
        // and such a migration is rare: read it again there
        let checksum = chain.checksum_to_record(name);
        let keep = !transactional && guarded();
        self.unverified |= keep && cleared.is_some();
        self.schema = keep.then(|| {
            let up = self.direction == Direction::Up;
            let after = after.with_version_row(chain.version_table(), name, up);
            let after = after.without_progress_row(chain.namespace());
            let after = match record_names {
                Some((namespace, named)) => after.with_progress_row(namespace, named, direction),
                None => after,
            };
            match checksum {
                Some(sum) => after.with_checksum_row(chain.namespace(), name, sum.filter(|_| up)),
                None => after,
            }
        });
        self.record_done(chain, name);
        Ok(())
    }
}

/// Whether the runner guards migrations; off only where the startup benchmark measures what
/// the guard costs ([`crate::testing::set_guard_for_benchmarks`]).
static GUARD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

pub(crate) fn set_guard(on: bool) {
    GUARD.store(on, std::sync::atomic::Ordering::SeqCst);
}

fn guarded() -> bool {
    GUARD.load(std::sync::atomic::Ordering::SeqCst)
}

/// The schema for the guard: read, or (guard off) empty, so that nothing differs.
async fn guard_snapshot<C: ConnectionTrait>(db: &C) -> Result<Snapshot, Error> {
    guard_snapshot_since(db, None).await
}

/// [`guard_snapshot`], taking what has not changed since `before` (a snapshot of the same
/// transaction, never one taken after it: rolling back to a savepoint restores rows without
/// undoing the counts of writes) from it.
async fn guard_snapshot_since<C: ConnectionTrait>(
    db: &C,
    before: Option<&Snapshot>,
) -> Result<Snapshot, Error> {
    if guarded() {
        snapshot_since(db, before).await
    } else {
        Ok(Snapshot::default())
    }
}

/// The optional parts of the catalog a read-back of `names` needs (PostgreSQL, MySQL): those in
/// which the kept `schema` has lines for them, and those statements may have `created`; every
/// part without a schema, and on SQLite (one select, no parts) without looking.
fn parts_to_read(
    backend: DbBackend,
    schema: Option<&Snapshot>,
    names: &std::collections::BTreeSet<String>,
    created: CatalogParts,
) -> CatalogParts {
    match schema {
        Some(schema) if backend != DbBackend::Sqlite => {
            let mut parts = created.union(schema.catalog_parts_of(names));
            parts.columns_in_one_select = backend == DbBackend::MySql
                && backend::mysql_columns_in_one_select(names.len(), schema.tables().count());
            parts
        }
        _ => CatalogParts::ALL,
    }
}

/// Keeps the lines of the version table `learn`, just read back into `schema`, for the version
/// tables the run creates later (`Run::version_table_lines`); none when it is gone again
/// (dropped past the runner): the next one is read.
fn learn_version_table(
    lines: &mut Option<Vec<(ObjectKind, std::collections::BTreeSet<String>)>>,
    schema: &Snapshot,
    learn: Option<String>,
) {
    if let Some(table) = learn {
        let learnt = schema.objects_named(&table);
        *lines = (!learnt.is_empty()).then_some(learnt);
    }
}

/// Reads back the names in `dirty` (emptied) into `schema`: the parts of the catalog in
/// which they have lines, and those `created` (emptied) says statements may have made.
async fn read_dirty<C: ConnectionTrait>(
    conn: &C,
    dirty: &mut std::collections::BTreeSet<String>,
    created: &mut CatalogParts,
    schema: &mut Option<Snapshot>,
) -> Result<(), Error> {
    let dirty = std::mem::take(dirty);
    let created = std::mem::take(created);
    let parts = parts_to_read(
        conn.get_database_backend(),
        schema.as_ref(),
        &dirty,
        created,
    );
    let fresh = snapshot_of(conn, &dirty, parts).await?;
    if let Some(schema) = schema {
        schema.replace_named(&dirty, fresh);
    }
    Ok(())
}

/// Awaits `work` (a migration of `chain` named `name`), capturing the statements it sends
/// while `clearance` holds, and judging them ([`Run::judge`]).
async fn seen<F: Future<Output = Result<(), Cause>>>(
    work: F,
    clearance: &mut Option<Clearance<'_>>,
    chain: &Chain,
    name: &str,
) -> Result<(), Cause> {
    if clearance.is_none() {
        return work.await;
    }
    let (outcome, seen) = capture(work).await;
    Run::judge(clearance, &seen, chain, name);
    outcome
}

/// `SAVEPOINT` (or another savepoint command) for the `i`-th migration of a segment.
fn savepoint_sql(command: &str, i: usize) -> String {
    format!("{command} chainkit_migration_{i}")
}

/// Rolls the segment back to where its `i`-th migration began.
async fn rollback_to(txn: &DatabaseTransaction, i: usize) -> Result<(), Error> {
    txn.execute_unprepared(&savepoint_sql("ROLLBACK TO SAVEPOINT", i))
        .await
        .map(|_| ())
        .map_err(Error::db("rolling back to a savepoint"))
}

/// Rolls a segment of which `ran` migrations began back as a whole (to its first savepoint,
/// then released), on the way out of a failure that is reported instead.
async fn undo_segment(txn: &DatabaseTransaction, ran: usize) {
    if ran > 0 && rollback_to(txn, 0).await.is_ok() {
        txn.execute_unprepared(&savepoint_sql("RELEASE SAVEPOINT", 0))
            .await
            .ok();
    }
}

/// Why a migration failed.
pub(crate) enum Cause {
    /// The database (or the migration) returned an error.
    Db(DbErr),
    /// A statement gave up waiting for a lock: the error, and what a second session saw it
    /// wait for.
    TimedOut(DbErr, Option<lock_wait::Seen>),
    /// A statement gave up waiting for a lock: the error, and what is known of the wait.
    Waited(DbErr, String),
    /// The migration panicked; the panic's message and where.
    Panic(String),
}

impl Cause {
    /// The cause, with what is known of the wait when a statement gave up waiting for a lock.
    /// `conn` must be usable again (rolled back to before the migration, or outside one).
    async fn explained<C: ConnectionTrait>(self, conn: &C) -> Self {
        match self {
            Self::Db(e) if lock_wait::is_lock_timeout(&e) => {
                let hint = lock_wait::explain(conn, None).await;
                Self::Waited(e, hint)
            }
            Self::TimedOut(e, seen) => {
                let hint = lock_wait::explain(conn, seen.as_ref()).await;
                Self::Waited(e, hint)
            }
            other => other,
        }
    }
}

/// Runs one migration's `up` or `down` on `conn` (a transaction of `db`, or `db`), catching
/// a panic, and watching what it waits for should it take long.
async fn run_migration<C>(
    conn: &C,
    db: &DatabaseConnection,
    direction: Direction,
    migration: &dyn MigrationTrait,
) -> Result<(), Cause>
where
    C: ConnectionTrait,
    for<'c> &'c C: sea_orm_migration::IntoSchemaManagerConnection<'c>,
{
    let manager = SchemaManager::new(conn);
    let work = async {
        match direction {
            Direction::Up => migration.up(&manager).await,
            Direction::Down => migration.down(&manager).await,
        }
    };
    let (outcome, seen) = lock_wait::observed(db, catch_unwind(lock_wait::watching(work))).await;
    match outcome {
        Ok((result, restore)) => {
            if let Some(sql) = restore {
                // it chose to wait without limit: the DDL lock timeout holds again after it
                // (where its failure rolled the setting back already, this may fail: no harm)
                conn.execute_unprepared(&sql).await.ok();
            }
            result.map_err(|e| {
                if lock_wait::is_lock_timeout(&e) {
                    Cause::TimedOut(e, seen)
                } else {
                    Cause::Db(e)
                }
            })
        }
        Err(message) => Err(Cause::Panic(message)),
    }
}

/// Records in the chain's version table (and the checksum table) that `migration` was
/// applied, as a run does after it: for `plan`'s rehearsal.
pub(crate) async fn record_applied<C: ConnectionTrait>(
    conn: &C,
    chain: &Chain,
    migration: &str,
) -> Result<(), DbErr> {
    match record(conn, Direction::Up, chain, migration, false).await {
        Ok(_) => Ok(()),
        Err(Cause::Db(e) | Cause::TimedOut(e, _) | Cause::Waited(e, _)) => Err(e),
        Err(Cause::Panic(message)) => Err(DbErr::Custom(message)),
    }
}

/// Enum type -> number of labels.
type EnumLabels = std::collections::BTreeMap<String, i64>;

/// Records in the chain's version table that `migration` was applied or rolled back. On
/// PostgreSQL with `labels`, the same statement returns the number of labels of each enum
/// type.
async fn record<C: ConnectionTrait>(
    conn: &C,
    direction: Direction,
    chain: &Chain,
    migration: &str,
    labels: bool,
) -> Result<Option<EnumLabels>, Cause> {
    let mut statements = version_statements(
        conn.get_database_backend(),
        direction,
        chain,
        migration,
        labels,
    )
    .into_iter();
    let first = statements.next().expect("the version row's statement");
    let labels = if labels && conn.get_database_backend() == DbBackend::Postgres {
        let row = conn.query_one_raw(first).await.map_err(Cause::Db)?;
        let text = row.and_then(|r| r.try_get::<Option<String>>("", "labels").ok().flatten());
        Some(backend::parse_enum_labels(text.as_deref()))
    } else {
        conn.execute_raw(first).await.map_err(Cause::Db)?;
        None
    };
    for stmt in statements {
        conn.execute_raw(stmt).await.map_err(Cause::Db)?;
    }
    Ok(labels)
}

/// MySQL: [`record`] in a transaction of its own, so that a failure leaves none of it written
/// (its statements would otherwise each commit: a version row written and its checksum row
/// failed could not be told from a change past the statement log).
async fn record_whole(
    db: &DatabaseConnection,
    direction: Direction,
    chain: &Chain,
    migration: &str,
) -> Result<(), Cause> {
    let transaction = db.begin().await.map_err(Cause::Db)?;
    match record(&transaction, direction, chain, migration, false).await {
        Ok(_) => transaction.commit().await.map_err(Cause::Db),
        Err(cause) => {
            transaction.rollback().await.ok();
            Err(cause)
        }
    }
}

/// The statements recording `migration` in the chain's version table, and its checksum row
/// where the chain keeps checksums (see [`backend::record_version`]).
fn version_statements(
    backend: DbBackend,
    direction: Direction,
    chain: &Chain,
    migration: &str,
    labels: bool,
) -> Vec<sea_orm::Statement> {
    let checksum = chain.checksum_to_record(migration);
    backend::record_version(
        backend,
        chain.version_table(),
        migration,
        direction == Direction::Up,
        checksum
            .as_ref()
            .map(|sum| (chain.namespace(), sum.as_deref())),
        labels,
    )
}

/// MySQL: records `migration` as [`record`] does and, in the same transaction and round trip,
/// writes the progress record of `next` (namespace and name of the run's next migration, about
/// to start: the chain's next, or the next chain's first), removing the chain's own record
/// unless `next` replaces it. `false` when a value cannot be written into the statement's
/// text as a plain literal (nothing is sent then: the caller records as usual).
async fn record_and_announce(
    db: &DatabaseConnection,
    direction: Direction,
    chain: &Chain,
    migration: &str,
    next: Option<(&str, &str)>,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let mut statements = version_statements(backend, direction, chain, migration, false);
    if next.is_none_or(|(namespace, _)| namespace != chain.namespace()) {
        statements.push(backend.build(&backend::delete_progress(chain.namespace())));
    }
    if let Some((namespace, next)) = next {
        statements.push(backend.build(&backend::insert_progress(
            namespace,
            next,
            direction.word(),
        )));
    }
    let Some(texts) = statements
        .iter()
        .map(backend::inline_mysql)
        .collect::<Option<Vec<String>>>()
    else {
        return Ok(false);
    };
    let sql = format!("START TRANSACTION; {}; COMMIT", texts.join("; "));
    if let Err(e) = db.execute_unprepared(&sql).await {
        // MySQL stops at the failing statement, leaving the transaction open
        db.execute_unprepared("ROLLBACK").await.ok();
        return Err(e);
    }
    Ok(true)
}

/// MySQL: creates the version table `table` of `chain` and writes the progress record of its
/// first migration `first` in one round trip. `false` when that did not happen (a value that
/// cannot be written into the text, or a failure: the caller then creates the table as usual,
/// which is idempotent and reports what fails, and the record is written before `first`
/// starts, as for any migration).
async fn create_announcing(
    db: &DatabaseConnection,
    chain: &Chain,
    table: &str,
    first: &str,
    direction: Direction,
) -> bool {
    let backend = db.get_database_backend();
    let create = backend.build(&backend::create_version_table(table));
    let record = backend.build(&backend::insert_progress(
        chain.namespace(),
        first,
        direction.word(),
    ));
    let (Some(create), Some(record)) = (
        backend::inline_mysql(&create),
        backend::inline_mysql(&record),
    ) else {
        return false;
    };
    db.execute_unprepared(&format!("{create}; {record}"))
        .await
        .is_ok()
}

/// Awaits `work`, turning a panic inside it into its message.
pub(crate) async fn catch_unwind<F: Future>(work: F) -> Result<F::Output, String> {
    let mut work = Box::pin(work);
    std::future::poll_fn(move |cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| work.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(crate::panics::message(payload.as_ref()))),
        }
    })
    .await
}
