//! Startup cost, this project's runner against the plain sea-orm-migration loop, side by side.
//!
//! Run through `cargo xtask bench` (see its `--help`), or directly:
//! `cargo bench -p chainkit --bench startup -- --chains 50 --migrations 10 [--database-url URL]...`
//!
//! For every backend given (SQLite by default) and synthetic chains (the engine chain plus
//! `chains - 1` workflow chains, `migrations` migrations each, every migration a table and an
//! index), it measures in the same run, on the same kind of connection (one connection):
//!
//! - `fresh`: applying every chain to an empty database, this runner (`chainkit::migrate`,
//!   its lock included) against the plain loop (each chain's `MigratorTrait::up` in turn);
//! - `fresh_unguarded`: this runner with its isolation guard off, so that the guard's share
//!   shows (for the benchmark only);
//! - `plain_default`: the plain loop the way a plain program runs it, on a pool made by
//!   `Database::connect(url)` with SeaORM's default options (several connections, each
//!   checked before use, statements logged), fresh and no-op;
//! - `noop`: the same with everything already applied;
//! - `noop_checked`: this runner's no-op with the same chains declaring their migrations'
//!   checksums, as every chain made from the template does (its start reads the checksum
//!   table's row of every migration too);
//! - `noop_floor`: one query reading all version tables, the least a startup can do;
//! - `noop_statements`: how many statements this runner's no-op startup sends;
//! - `noop_cold`, `noop_floor_cold`, `noop_plain_cold` (`cold`, `cold_floor`, `cold_plain`):
//!   the no-op start, the floor and the plain loop's no-op each on a connection just opened
//!   (untimed), as a new process starts: the server parses and plans every statement anew
//!   there, where the other no-op figures reuse what the connection prepared before;
//! - `guard` (`guard_ms`): `fresh` less `fresh_unguarded`, the guard's share of an install;
//! - `speedup` (`fresh_speedup`): the faster plain fresh install's median over this runner's,
//!   and `paired` (`fresh_speedup_paired`): the median of the same ratio taken install by
//!   install, each against the faster plain kind's install in the same place of the order in
//!   the nearest repetition, which the machine's drift over a run moves less.
//!
//! Each no-op start is timed right after an untimed one of the same kind (a warm-up, as
//! criterion does; not for a start that took a second or more), so that none pays for the
//! caches another left behind. Each figure is the median of several repetitions (`--json`
//! also gives every sample, in the order they ran); the four fresh installs of a repetition
//! run in an order that turns with each repetition. Scratch databases are created on the
//! server of each `--database-url` before a repetition's installs and dropped after them (a
//! drop slows the file system for a while, so none falls between two installs); the URL's own
//! database is never touched.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chainkit::testing::{Backend, TestDatabase};
use chainkit::{Chain, Registry};
use clap::Parser;
use sea_orm::sea_query::{Alias, IntoIden};
use sea_orm::{ConnectionTrait, DatabaseConnection, DynIden, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// Startup benchmark: this project's runner against the plain sea-orm-migration loop.
#[derive(Debug, Parser)]
struct Args {
    /// Number of chains, the engine's included
    #[arg(long, default_value_t = 50, value_parser = at_least_one)]
    chains: usize,
    /// Migrations per chain
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    migrations: usize,
    /// A server to benchmark on (scratch databases are created there); repeatable.
    /// Default: SQLite only
    #[arg(long = "database-url")]
    database_urls: Vec<String>,
    /// Repetitions of each plain no-op measurement
    #[arg(long, default_value_t = 7, value_parser = at_least_one)]
    reps: usize,
    /// Repetitions of this runner's no-op and of the floor: each takes well under a
    /// millisecond, where a single sample moves by a third with what else the machine does,
    /// so their medians take more samples to settle than the plain loop's
    #[arg(long, default_value_t = 35, value_parser = at_least_one)]
    noop_reps: usize,
    /// Repetitions of each fresh measurement (a multiple of 4 gives each of the four installs
    /// every place in the order equally often)
    #[arg(long, default_value_t = 4, value_parser = at_least_one)]
    fresh_reps: usize,
    /// Repetitions of each no-op measurement on a connection of its own, as a new process
    /// starts (the connection opened untimed): the server plans every statement anew there
    #[arg(long, default_value_t = 15, value_parser = at_least_one)]
    cold_reps: usize,
    /// Print one JSON object per backend and line instead of a table
    #[arg(long)]
    json: bool,
    /// Passed by `cargo bench`; ignored
    #[arg(long, hide = true)]
    bench: bool,
}

/// Migrations per chain, for the plain loop's `Migrator`.
static MIGRATIONS: AtomicUsize = AtomicUsize::new(0);
/// The chain the plain loop's `Migrator` stands for right now.
static CURRENT: AtomicUsize = AtomicUsize::new(0);

fn namespace(chain: usize) -> String {
    if chain == 0 {
        "engine".to_owned()
    } else {
        format!("c{chain}")
    }
}

fn version_table(chain: usize) -> String {
    if chain == 0 {
        "seaql_migrations".to_owned()
    } else {
        format!("seaql_migrations_c{chain}")
    }
}

/// One synthetic migration: a table and an index, where the chains have more than
/// [`CHECKED_MAX`] migrations in all (otherwise [`Indexed`]). Its texts are made once per
/// process, so that listing a chain's migrations costs no string formatting, but an allocation
/// each, which real migrations (unit structs) do not cost.
struct Synthetic {
    file: &'static str,
    up: [&'static str; 2],
}

impl sea_orm_migration::MigrationName for Synthetic {
    fn name(&self) -> &str {
        // as `DeriveMigrationName` names a real migration: its file's stem, on every call
        sea_orm_migration::util::get_file_stem(self.file)
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Synthetic {
    async fn up(
        &self,
        manager: &sea_orm_migration::SchemaManager,
    ) -> std::result::Result<(), sea_orm::DbErr> {
        run(manager, self.up).await
    }
}

/// The texts of chain `chain`'s migrations (each migration's file, as `file!()` gives it in its
/// crate, and its statements), made on first use.
fn texts(chain: usize, count: usize) -> &'static [(&'static str, [&'static str; 2])] {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Texts = &'static [(&'static str, [&'static str; 2])];
    static MADE: OnceLock<Mutex<HashMap<(usize, usize), Texts>>> = OnceLock::new();
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let mut made = MADE.get_or_init(Default::default).lock().unwrap();
    made.entry((chain, count)).or_insert_with(|| {
        let prefix = if chain == 0 {
            "bench".to_owned()
        } else {
            format!("ext_c{chain}")
        };
        let list: Vec<(&'static str, [&'static str; 2])> = (0..count)
            .map(|j| {
                let table = format!("{prefix}_t{j}");
                (
                    leak(format!("{prefix}-migration/src/m20260101_{j:06}_create_t{j}.rs")),
                    [
                        leak(format!(
                            "CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL)"
                        )),
                        leak(format!("CREATE INDEX idx_{table}_name ON {table} (name)")),
                    ],
                )
            })
            .collect();
        Box::leak(list.into_boxed_slice())
    })
}

/// Chain `chain`'s migrations: made by [`MAKERS`], without fields, as real migrations (unit
/// structs) are, where there are at most [`CHECKED_MAX`] in all (listing a chain then
/// allocates its list only), [`Synthetic`] otherwise.
fn migrations_of(chain: usize, count: usize) -> Vec<Box<dyn MigrationTrait>> {
    if ALL.get().is_some() {
        let first = chain * count;
        return (first..first + count)
            .map(|index| MAKERS[index / 64][index % 64]())
            .collect();
    }
    texts(chain, count)
        .iter()
        .map(|&(file, up)| Box::new(Synthetic { file, up }) as Box<dyn MigrationTrait>)
        .collect()
}

/// Every chain's migrations in order, where there are at most [`CHECKED_MAX`] in all: what
/// [`Indexed`] reads its file (which names it) and statements from.
static ALL: std::sync::OnceLock<Vec<(&'static str, [&'static str; 2])>> =
    std::sync::OnceLock::new();

/// Migration `HI * 64 + LO` of [`ALL`]: a synthetic migration without fields.
struct Indexed<const HI: usize, const LO: usize>;

impl<const HI: usize, const LO: usize> Indexed<HI, LO> {
    fn text() -> (&'static str, [&'static str; 2]) {
        ALL.get().expect("the migrations made")[HI * 64 + LO]
    }
}

impl<const HI: usize, const LO: usize> sea_orm_migration::MigrationName for Indexed<HI, LO> {
    fn name(&self) -> &str {
        // as `DeriveMigrationName` names a real migration: its file's stem, on every call
        sea_orm_migration::util::get_file_stem(Self::text().0)
    }
}

#[async_trait::async_trait]
impl<const HI: usize, const LO: usize> MigrationTrait for Indexed<HI, LO> {
    async fn up(
        &self,
        manager: &sea_orm_migration::SchemaManager,
    ) -> std::result::Result<(), sea_orm::DbErr> {
        run(manager, Self::text().1).await
    }
}

/// Runs a synthetic migration's statements.
async fn run(
    manager: &sea_orm_migration::SchemaManager<'_>,
    statements: [&'static str; 2],
) -> std::result::Result<(), sea_orm::DbErr> {
    for sql in statements {
        manager.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}

/// The plain sea-orm-migration `Migrator` of chain `CURRENT`.
struct Plain;

impl MigratorTrait for Plain {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        migrations_of(
            CURRENT.load(Ordering::SeqCst),
            MIGRATIONS.load(Ordering::SeqCst),
        )
    }

    fn migration_table_name() -> DynIden {
        Alias::new(version_table(CURRENT.load(Ordering::SeqCst))).into_iden()
    }
}

/// The plain loop: each chain's `MigratorTrait::up` in turn.
async fn plain_loop(db: &DatabaseConnection, chains: usize) {
    for i in 0..chains {
        CURRENT.store(i, Ordering::SeqCst);
        Plain::up(db, None)
            .await
            .expect("plain sea-orm-migration up");
    }
}

/// The registry of `chains` chains of `migrations` migrations each; with `checked`, each
/// chain declares its migrations' checksums (see [`sources`]).
fn registry(chains: usize, migrations: usize, checked: bool) -> Registry {
    let chain = |i: usize| {
        let chain = Chain::from_fn(&namespace(i), &version_table(i), move || {
            migrations_of(i, migrations)
        });
        if checked {
            chain.checksums(sources(i, migrations))
        } else {
            chain
        }
    };
    Registry::new(chain(0), (1..chains).map(chain)).expect("a valid registry")
}

/// How many migrations in all the chains of a checked registry can have: a declared
/// migration is made by a function without arguments, one per migration ([`MAKERS`]).
const CHECKED_MAX: usize = 64 * 64;

/// Makes migration `HI * 64 + LO` of all chains' migrations, in order ([`sources`]).
fn make<const HI: usize, const LO: usize>() -> Box<dyn MigrationTrait> {
    Box::new(Indexed::<HI, LO>)
}

macro_rules! makers {
    ($($hi:literal)*) => {
        [$(makers!(@row $hi
            0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30
            31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58
            59 60 61 62 63)),*]
    };
    (@row $hi:literal $($lo:literal)*) => {
        [$(make::<$hi, $lo> as Make),*]
    };
}

/// What makes one migration.
type Make = fn() -> Box<dyn MigrationTrait>;

/// One function making each migration, for [`CHECKED_MAX`] migrations.
static MAKERS: [[Make; 64]; 64] = makers!(
    0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
    33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62
    63
);

/// The declared sources of chain `chain`'s migrations, as `chainkit::migrations!` declares a
/// real chain's: each with its file and checksum.
fn sources(chain: usize, migrations: usize) -> chainkit::Migrations {
    let list: Vec<chainkit::MigrationSource> = texts(chain, migrations)
        .iter()
        .enumerate()
        .map(|(j, &(file, _))| {
            let index = chain * migrations + j;
            chainkit::MigrationSource {
                module: sea_orm_migration::util::get_file_stem(file),
                list_file: "bench-migration/src/lib.rs",
                checksum: chainkit::Checksum(
                    u128::try_from(index).expect("an index") * 0x9e37_79b9_7f4a_7c15,
                ),
                new: MAKERS[index / 64][index % 64],
                acknowledged: || &[],
            }
        })
        .collect();
    chainkit::Migrations(Box::leak(list.into_boxed_slice()))
}

/// One query reading every version table: the floor of a no-op startup.
async fn floor(db: &DatabaseConnection, chains: usize) {
    let sql = (0..chains)
        .map(|i| format!("SELECT version, applied_at FROM {}", version_table(i)))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("reading the version tables");
}

/// The times of one measurement's repetitions, in milliseconds, in the order they ran.
#[derive(Debug)]
struct Samples(Vec<f64>);

impl Samples {
    fn of(samples: Vec<Duration>) -> Self {
        Self(samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect())
    }

    /// The median; NaN where there are no samples (`paired` with fewer repetitions than
    /// kinds of install, where no two kinds ran in the same place).
    fn median(&self) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        let mid = sorted.len() / 2;
        if sorted.is_empty() {
            f64::NAN
        } else if sorted.len().is_multiple_of(2) {
            (sorted[mid - 1] + sorted[mid]) / 2.0
        } else {
            sorted[mid]
        }
    }

    /// The median of `other`'s time divided by this one's, each of this one's installs paired
    /// with the one of `other`'s that ran in the same place of its repetition's order in the
    /// nearest repetition (see [`place`]; `own` and `others`' numbers are their kinds):
    /// steadier than a ratio of two medians where the machine's speed drifts over a run. The
    /// place matters as much as the kind: the first install of a repetition has run up to
    /// 1.6x as long as its last here, so a pair from one repetition (in places one apart)
    /// would measure the places. `other` is whichever of `others` has the lower median (the
    /// faster of the two in each pair would be the lesser of two noisy samples, lower than
    /// either kind's typical time). NaN where no repetition had them in the same place.
    fn paired_speedup(&self, own: usize, others: &[(&Samples, usize)]) -> f64 {
        let Some((other, kind)) = others
            .iter()
            .min_by(|a, b| a.0.median().total_cmp(&b.0.median()))
        else {
            return f64::NAN;
        };
        let ratios = self
            .0
            .iter()
            .enumerate()
            .filter_map(|(rep, ms)| {
                let at = place(own, rep);
                let reps = other.0.iter().enumerate();
                reps.filter(|(theirs, _)| place(*kind, *theirs) == at)
                    .min_by_key(|(theirs, _)| theirs.abs_diff(rep))
                    .map(|(_, theirs)| theirs / ms)
            })
            .collect();
        Samples(ratios).median()
    }
}

/// The fresh installs of a repetition, one of each kind: this runner, the plain loop, this
/// runner unguarded, the plain loop on the default pool.
const KINDS: usize = 4;

/// The place (0 first) in repetition `rep`'s order of the fresh install of kind `kind`: the
/// order turns by one with each repetition.
fn place(kind: usize, rep: usize) -> usize {
    (kind + KINDS - rep % KINDS) % KINDS
}

#[derive(Debug)]
struct Result {
    backend: Backend,
    fresh: Samples,
    fresh_unguarded: Samples,
    fresh_plain: Samples,
    fresh_plain_default: Samples,
    noop_plain_default: Samples,
    noop: Samples,
    noop_plain: Samples,
    noop_floor: Samples,
    noop_statements: usize,
    /// Not measured where the chains have more than [`CHECKED_MAX`] migrations in all.
    noop_checked: Option<Samples>,
    noop_checked_statements: Option<usize>,
    /// `noop`, `noop_floor` and `noop_plain`, each on a connection just opened.
    noop_cold: Samples,
    noop_floor_cold: Samples,
    noop_plain_cold: Samples,
}

/// Times `$start` into `$samples`, right after an untimed run of it: a no-op start measured
/// right after another measurement pays for the caches that one left behind (CPU caches, the
/// server's), which is as large as what is measured (a floor read right after the plain loop
/// took twice as long as one right after another floor read, on SQLite and on MariaDB). Every
/// no-op figure is taken the same way, so each measures its own start. A start that took a
/// second or more last time (the default pool's plain loop on MariaDB at 200 chains: 45 s)
/// is not run twice; a cache's effect is under a millisecond.
macro_rules! warm_timed {
    ($samples:expr, $start:expr) => {{
        if $samples.last().is_none_or(|d: &Duration| d.as_secs() < 1) {
            $start;
        }
        let started = Instant::now();
        $start;
        $samples.push(started.elapsed());
    }};
}

async fn scratch(backend: Backend, server: Option<&str>) -> (TestDatabase, DatabaseConnection) {
    let db = TestDatabase::create_on(backend, server).await;
    let conn = db.connect().await;
    (db, conn)
}

async fn measure(args: &Args, backend: Backend, server: Option<&str>) -> Result {
    let checked = ALL
        .get()
        .is_some()
        .then(|| registry(args.chains, args.migrations, true));
    let registry = registry(args.chains, args.migrations, false);
    let (mut noop_checked, mut checked_statements) = (Vec::new(), None);
    let (mut fresh, mut fresh_plain) = (Vec::new(), Vec::new());
    let (mut unguarded, mut fresh_default, mut noop_default) = (Vec::new(), Vec::new(), Vec::new());
    let (mut noop, mut noop_plain, mut noop_floor) = (Vec::new(), Vec::new(), Vec::new());
    // on a connection just opened: this runner's no-op start, the floor, the plain loop's
    let mut cold: [Vec<Duration>; 3] = Default::default();
    let mut statements = 0;
    for rep in 0..args.fresh_reps {
        // every scratch database of a repetition made before, and dropped after, its four fresh
        // installs: dropping a database frees its files, which slows the file system for a
        // while after (most of a fresh install is creating files), so no install may follow
        // another's drop. The four run in an order that turns with each repetition.
        let (ours_db, ours) = scratch(backend, server).await;
        let (plain_db, plain) = scratch(backend, server).await;
        let (bare_db, bare) = scratch(backend, server).await;
        let (default_db, first) = scratch(backend, server).await;
        first.close().await.ok();
        let pool = sea_orm::Database::connect(&default_db.url)
            .await
            .expect("connecting with the default options");
        settle(&ours).await;
        for turn in 0..KINDS {
            match (rep + turn) % KINDS {
                0 => {
                    let started = Instant::now();
                    chainkit::migrate(&ours, &registry)
                        .await
                        .unwrap_or_else(|e| panic!("{e}"));
                    fresh.push(started.elapsed());
                }
                1 => {
                    let started = Instant::now();
                    plain_loop(&plain, args.chains).await;
                    fresh_plain.push(started.elapsed());
                }
                2 => {
                    chainkit::testing::set_guard_for_benchmarks(false);
                    let started = Instant::now();
                    let result = chainkit::migrate(&bare, &registry).await;
                    unguarded.push(started.elapsed());
                    chainkit::testing::set_guard_for_benchmarks(true);
                    result.unwrap_or_else(|e| panic!("{e}"));
                }
                _ => {
                    let started = Instant::now();
                    plain_loop(&pool, args.chains).await;
                    fresh_default.push(started.elapsed());
                }
            }
        }
        if rep == 0 {
            for i in 0..args.reps.max(args.noop_reps) {
                if i < args.noop_reps {
                    warm_timed!(noop, {
                        let report = chainkit::migrate(&ours, &registry).await.unwrap();
                        assert!(report.applied.is_empty());
                    });
                }
                if i < args.reps {
                    warm_timed!(noop_plain, plain_loop(&plain, args.chains).await);
                    warm_timed!(noop_default, plain_loop(&pool, args.chains).await);
                }
                if i < args.noop_reps {
                    warm_timed!(noop_floor, floor(&ours, args.chains).await);
                }
            }
            // with checksums declared: the first start records them (untimed: the warm-up),
            // every later one reads them and compares
            if let Some(checked) = &checked {
                for _ in 0..args.noop_reps {
                    warm_timed!(noop_checked, {
                        let report = chainkit::migrate(&ours, checked).await.unwrap();
                        assert!(report.applied.is_empty());
                    });
                }
            }
            // as a new process starts: each on a connection of its own, opened untimed; each
            // kind's in a row after an untimed one, since a start right after another kind's
            // pays for the caches that one left behind (the plain loop's most of all)
            for (kind, samples) in cold.iter_mut().enumerate() {
                for i in 0..=args.cold_reps {
                    let conn = connected(if kind == 2 {
                        &plain_db.url
                    } else {
                        &ours_db.url
                    })
                    .await;
                    let started = Instant::now();
                    match kind {
                        0 => {
                            let report = chainkit::migrate(&conn, &registry).await.unwrap();
                            assert!(report.applied.is_empty());
                        }
                        1 => floor(&conn, args.chains).await,
                        _ => plain_loop(&conn, args.chains).await,
                    }
                    let took = started.elapsed();
                    conn.close().await.ok();
                    if i > 0 {
                        samples.push(took);
                    }
                }
            }
            let mut counted = connected(&ours_db.url).await;
            let count = chainkit::testing::count_statements(&mut counted);
            chainkit::migrate(&counted, &registry).await.unwrap();
            statements = count.load(Ordering::SeqCst);
            if let Some(checked) = &checked {
                chainkit::migrate(&counted, checked).await.unwrap();
                checked_statements = Some(count.load(Ordering::SeqCst) - statements);
            }
            counted.close().await.ok();
        }
        for (db, conn) in [
            (ours_db, ours),
            (plain_db, plain),
            (bare_db, bare),
            (default_db, pool),
        ] {
            conn.close().await.ok();
            db.drop_database().await;
        }
    }
    let [noop_cold, floor_cold, plain_cold] = cold;
    Result {
        backend,
        fresh: Samples::of(fresh),
        fresh_unguarded: Samples::of(unguarded),
        fresh_plain: Samples::of(fresh_plain),
        fresh_plain_default: Samples::of(fresh_default),
        noop_plain_default: Samples::of(noop_default),
        noop: Samples::of(noop),
        noop_plain: Samples::of(noop_plain),
        noop_floor: Samples::of(noop_floor),
        noop_statements: statements,
        noop_checked: checked.map(|_| Samples::of(noop_checked)),
        noop_checked_statements: checked_statements,
        noop_cold: Samples::of(noop_cold),
        noop_floor_cold: Samples::of(floor_cold),
        noop_plain_cold: Samples::of(plain_cold),
    }
}

/// A connection as the engine opens one (this runner's and the plain loop's kind).
async fn connected(url: &str) -> DatabaseConnection {
    chainkit::connect(url, chainkit::DEFAULT_CONNECT_TIMEOUT)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits, before a repetition's first install, for the server to be done with what came
/// before: the files the last repetition's drops freed, which its file system catches up with
/// in the background, and on PostgreSQL what creating the scratch databases wrote (flushed by
/// a checkpoint, where the user may run one). An SQLite file is removed at once.
async fn settle(db: &DatabaseConnection) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => return,
        sea_orm::DbBackend::Postgres => {
            db.execute_unprepared("CHECKPOINT").await.ok();
        }
        _ => {}
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    MIGRATIONS.store(args.migrations, Ordering::SeqCst);
    if args.chains.saturating_mul(args.migrations) <= CHECKED_MAX {
        let all = (0..args.chains).flat_map(|chain| texts(chain, args.migrations).iter().copied());
        ALL.set(all.collect()).expect("made once");
    }
    let mut targets: Vec<(Backend, Option<String>)> = vec![(Backend::Sqlite, None)];
    for url in &args.database_urls {
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => {}
            Some(backend) => targets.push((backend, Some(url.clone()))),
            None => {
                eprintln!(
                    "error: {}: expected a postgres:// or mysql:// URL",
                    chainkit::redact_url(url)
                );
                std::process::exit(2);
            }
        }
    }
    if !args.json {
        println!(
            "{} chains x {} migrations; medians of {} fresh runs, {} plain no-op runs, {} no-op \
             and floor runs, {} of each `cold` one; times in ms; `checked`: the no-op with \
             checksums declared; `cold`: on a connection just opened",
            args.chains,
            args.migrations,
            args.fresh_reps,
            args.reps,
            args.noop_reps,
            args.cold_reps
        );
        println!(
            "{:9} {:>9} {:>9} {:>11} {:>13} {:>7} {:>7} {:>7} {:>8} {:>10} {:>12} {:>9} {:>9} {:>9} {:>11} {:>9} {:>9} {:>8} {:>10} {:>9} {:>10}",
            "backend",
            "fresh",
            "unguarded",
            "fresh_plain",
            "plain_default",
            "speedup",
            "paired",
            "guard",
            "noop",
            "noop_plain",
            "noop_default",
            "speedup",
            "floor",
            "vs_floor",
            "statements",
            "checked",
            "vs_floor",
            "cold",
            "cold_floor",
            "vs_floor",
            "cold_plain"
        );
    }
    for (backend, server) in targets {
        if !args.json {
            eprintln!("measuring {backend}…");
        }
        let r = measure(&args, backend, server.as_deref()).await;
        // the fresh figures' summary: against the faster of the two plain figures
        let guard = r.fresh.median() - r.fresh_unguarded.median();
        let speedup = r.fresh_plain.median().min(r.fresh_plain_default.median()) / r.fresh.median();
        let paired = r
            .fresh
            .paired_speedup(0, &[(&r.fresh_plain, 1), (&r.fresh_plain_default, 3)]);
        if args.json {
            println!(
                "{}",
                serde_json::json!({
                    "backend": r.backend.to_string(),
                    "chains": args.chains,
                    "migrations": args.migrations,
                    "fresh_ms": r.fresh.median(),
                    "fresh_unguarded_ms": r.fresh_unguarded.median(),
                    "fresh_plain_ms": r.fresh_plain.median(),
                    "fresh_plain_default_ms": r.fresh_plain_default.median(),
                    "guard_ms": guard,
                    "fresh_speedup": speedup,
                    "fresh_speedup_paired": paired,
                    "noop_plain_default_ms": r.noop_plain_default.median(),
                    "noop_ms": r.noop.median(),
                    "noop_plain_ms": r.noop_plain.median(),
                    "noop_floor_ms": r.noop_floor.median(),
                    "noop_statements": r.noop_statements,
                    "noop_checked_ms": r.noop_checked.as_ref().map(Samples::median),
                    "noop_checked_statements": r.noop_checked_statements,
                    "noop_cold_ms": r.noop_cold.median(),
                    "noop_floor_cold_ms": r.noop_floor_cold.median(),
                    "noop_plain_cold_ms": r.noop_plain_cold.median(),
                    "samples_ms": {
                        "fresh": r.fresh.0,
                        "fresh_unguarded": r.fresh_unguarded.0,
                        "fresh_plain": r.fresh_plain.0,
                        "fresh_plain_default": r.fresh_plain_default.0,
                        "noop": r.noop.0,
                        "noop_plain": r.noop_plain.0,
                        "noop_plain_default": r.noop_plain_default.0,
                        "noop_floor": r.noop_floor.0,
                        "noop_checked": r.noop_checked.as_ref().map(|c| &c.0),
                        "noop_cold": r.noop_cold.0,
                        "noop_floor_cold": r.noop_floor_cold.0,
                        "noop_plain_cold": r.noop_plain_cold.0,
                    },
                })
            );
        } else {
            // speed-ups against the faster of the two plain figures
            let (fresh, plain, default) = (
                r.fresh.median(),
                r.fresh_plain.median(),
                r.fresh_plain_default.median(),
            );
            let (noop, noop_plain, noop_default) = (
                r.noop.median(),
                r.noop_plain.median(),
                r.noop_plain_default.median(),
            );
            // with checksums declared: its time and its ratio to the floor, or why not
            let (checked, checked_vs_floor) = match &r.noop_checked {
                Some(c) => (
                    format!("{:.2}", c.median()),
                    format!("{:.2}x", c.median() / r.noop_floor.median()),
                ),
                None => (format!(">{CHECKED_MAX}"), "-".to_owned()),
            };
            println!(
                "{:9} {:>9.1} {:>9.1} {:>11.1} {:>13.1} {:>6.2}x {:>6.2}x {:>7.0} {:>8.2} {:>10.1} {:>12.1} {:>8.1}x {:>9.2} {:>8.2}x {:>11} {:>9} {:>9} {:>8.2} {:>10.2} {:>8.2}x {:>10.1}",
                r.backend.to_string(),
                fresh,
                r.fresh_unguarded.median(),
                plain,
                default,
                speedup,
                paired,
                guard,
                noop,
                noop_plain,
                noop_default,
                noop_plain.min(noop_default) / noop,
                r.noop_floor.median(),
                noop / r.noop_floor.median(),
                r.noop_statements,
                checked,
                checked_vs_floor,
                r.noop_cold.median(),
                r.noop_floor_cold.median(),
                r.noop_cold.median() / r.noop_floor_cold.median(),
                r.noop_plain_cold.median()
            );
        }
    }
}

/// A count of 1 or more.
fn at_least_one(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
