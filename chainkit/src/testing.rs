//! Fresh databases for tests, on every backend the environment offers, and the helpers
//! every workflow project's tests use: [`migrated_databases`] and [`assert_round_trip`].
//!
//! SQLite always (a temporary file, so other processes can open it too); PostgreSQL when
//! `TEST_POSTGRES_URL` is set and MySQL/MariaDB when `TEST_MYSQL_URL` is set, each test getting
//! a database of its own created from that server URL. With `CI=true` both URLs must be set:
//! a backend is never skipped silently there.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// A database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, always available.
    Sqlite,
    /// PostgreSQL, from `TEST_POSTGRES_URL`.
    Postgres,
    /// MySQL or MariaDB, from `TEST_MYSQL_URL`.
    MySql,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
            Self::MySql => "mysql",
        })
    }
}

impl Backend {
    /// The backend a database URL names.
    pub fn of_url(url: &str) -> Option<Backend> {
        match url.split(':').next()? {
            "sqlite" => Some(Self::Sqlite),
            "postgres" | "postgresql" => Some(Self::Postgres),
            "mysql" | "mariadb" => Some(Self::MySql),
            _ => None,
        }
    }

    /// The environment variable holding this backend's server URL.
    pub fn env_var(self) -> Option<&'static str> {
        match self {
            Self::Sqlite => None,
            Self::Postgres => Some("TEST_POSTGRES_URL"),
            Self::MySql => Some("TEST_MYSQL_URL"),
        }
    }

    /// SQLite, plus every server backend whose URL is set.
    ///
    /// # Panics
    /// With `CI=true`, when a server URL is missing: CI must test every backend.
    pub fn available() -> Vec<Backend> {
        let on_ci = std::env::var("CI").is_ok_and(|v| v == "true");
        let mut backends = vec![Self::Sqlite];
        for backend in [Self::Postgres, Self::MySql] {
            let var = backend.env_var().unwrap_or_default();
            match std::env::var(var) {
                Ok(url) if !url.is_empty() => backends.push(backend),
                _ if on_ci => panic!("CI=true but {var} is not set: {backend} must be tested"),
                _ => {}
            }
        }
        backends
    }
}

/// Counts the statements `db` sends from now on (SeaORM's metric callback: every statement
/// but `execute_unprepared`'s), for tests and the benchmark that assert how many a start sends.
pub fn count_statements(
    db: &mut DatabaseConnection,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    count_where(db, |_| true)
}

/// Counts the full reads of the schema catalog `db` sends from now on (the isolation guard's
/// and the round-trip's; not the reads of named objects only), for tests that assert how often
/// the guard reads the whole database.
#[doc(hidden)]
pub fn count_full_catalog_reads(
    db: &mut DatabaseConnection,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    count_where(db, |sql| {
        (sql.contains("FROM sqlite_master WHERE name NOT LIKE") && !sql.contains("tbl_name IN"))
            || (sql.contains("pg_stat_get_xact_tuples_inserted") && !sql.contains("$1::name"))
            || (sql.contains("information_schema.ROUTINES") && !sql.contains("ROUTINE_NAME IN ("))
    })
}

/// Counts the statements `db` sends from now on whose text `counts` accepts.
fn count_where(
    db: &mut DatabaseConnection,
    counts: impl Fn(&str) -> bool + Send + Sync + 'static,
) -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    db.set_metric_callback(move |info| {
        if counts(&info.statement.sql) {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    count
}

/// Turns the runner's isolation guard off (`false`) or on again, for the whole process: only
/// for the startup benchmark, which measures what the guard costs. Never in a program that
/// migrates a database anyone uses: with the guard off a migration may change anything.
#[doc(hidden)]
pub fn set_guard_for_benchmarks(on: bool) {
    crate::runner::set_guard(on);
}

/// A database of its own for one test. Call [`TestDatabase::drop_database`] at the end; a test
/// that panics before it still removes the database when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its backend.
    pub backend: Backend,
    /// URL of the fresh database.
    pub url: String,
    name: String,
    server_url: Option<String>,
    file: Option<PathBuf>,
}

/// The files an SQLite database at `file` may have beside it: journals and the migration lock.
const SQLITE_SUFFIXES: [&str; 5] = ["", "-wal", "-shm", "-journal", ".migrate-lock"];

/// Drops the database `name` on the server of `server_url` (best effort).
async fn drop_server_database(backend: Backend, server_url: &str, name: &str) {
    if let Ok(admin) = Database::connect(server_url).await {
        let sql = match backend {
            Backend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            _ => format!("DROP DATABASE IF EXISTS {name}"),
        };
        admin.execute_unprepared(&sql).await.ok();
        admin.close().await.ok();
    }
}

impl TestDatabase {
    fn remove_files(&self) {
        if let Some(file) = &self.file {
            for suffix in SQLITE_SUFFIXES {
                std::fs::remove_file(format!("{}{suffix}", file.display())).ok();
            }
        }
    }
}

impl Drop for TestDatabase {
    /// Cleans up after a test that did not reach [`TestDatabase::drop_database`] (it panicked):
    /// removes the files, and drops the server database from a thread of its own, since this
    /// may run inside an async runtime.
    fn drop(&mut self) {
        self.remove_files();
        if let Some(server_url) = self.server_url.take() {
            let (backend, name) = (self.backend, self.name.clone());
            let cleanup = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(drop_server_database(backend, &server_url, &name));
                }
            });
            cleanup.join().ok();
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos % 1_000_000
    )
}

pub use crate::connect::with_database;

impl TestDatabase {
    /// A fresh database on every available backend (see [`Backend::available`]).
    pub async fn all() -> Vec<TestDatabase> {
        let mut out = Vec::new();
        for backend in Backend::available() {
            out.push(Self::create(backend).await);
        }
        out
    }

    /// Creates a fresh, empty database on the server of `TEST_POSTGRES_URL` or
    /// `TEST_MYSQL_URL`, or a temporary SQLite file.
    ///
    /// # Panics
    /// When the server cannot be reached or refuses: a test cannot go on without it.
    pub async fn create(backend: Backend) -> TestDatabase {
        let server_url = backend
            .env_var()
            .map(|var| std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set")));
        Self::create_on(backend, server_url.as_deref()).await
    }

    /// Creates a fresh, empty database on the server of `server_url` (ignored for SQLite, which
    /// gets a temporary file).
    ///
    /// # Panics
    /// When the server cannot be reached or refuses.
    pub async fn create_on(backend: Backend, server_url: Option<&str>) -> TestDatabase {
        let name = unique_name();
        match backend {
            Backend::Sqlite => {
                let file = std::env::temp_dir().join(format!("chainkit-{name}.db"));
                TestDatabase {
                    backend,
                    url: format!("sqlite://{}?mode=rwc", file.display()),
                    name,
                    server_url: None,
                    file: Some(file),
                }
            }
            Backend::Postgres | Backend::MySql => {
                let server_url = server_url.expect("a server URL").to_owned();
                let shown = crate::redact_url(&server_url);
                let admin = Database::connect(&server_url)
                    .await
                    .unwrap_or_else(|e| panic!("{shown}: cannot connect: {e}"));
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap_or_else(|e| panic!("{shown}: cannot create database {name}: {e}"));
                admin.close().await.ok();
                TestDatabase {
                    backend,
                    url: with_database(&server_url, &name),
                    name,
                    server_url: Some(server_url),
                    file: None,
                }
            }
        }
    }

    /// Opens a connection pool of one connection to this database, as the binaries do:
    /// statements logged, and (when the test process has no subscriber yet) a global
    /// subscriber holding [`crate::capture_layer`], so that the runner sees what migrations
    /// send.
    ///
    /// # Panics
    /// When it cannot connect.
    pub async fn connect(&self) -> DatabaseConnection {
        crate::plan::capture::install();
        crate::connect::connect(&self.url, crate::connect::DEFAULT_CONNECT_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.backend))
    }

    /// A connection that does not log its statements: the runner cannot see what migrations
    /// send on it and checks every segment against a full read of the catalog.
    ///
    /// # Panics
    /// When it cannot connect.
    pub async fn connect_unseen(&self) -> DatabaseConnection {
        crate::connect::open_with_log(
            &self.url,
            crate::connect::DEFAULT_CONNECT_TIMEOUT,
            None,
            false,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", self.backend))
    }

    /// Removes the database, its files and its lock file (best effort).
    pub async fn drop_database(mut self) {
        self.remove_files();
        if let Some(server_url) = self.server_url.take() {
            drop_server_database(self.backend, &server_url, &self.name).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_path_of_a_server_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "t2"),
            "mysql://root@127.0.0.1:3306/t2?ssl-mode=disabled"
        );
        assert_eq!(
            with_database("postgres://u:p@h", "t3"),
            "postgres://u:p@h/t3"
        );
    }
}

/// Runs `script` through the database's own client for `url` (`psql`, `mariadb`,
/// `sqlite3`), stopping at the first error, and returns how it went; `None` when the client
/// is not installed, which is allowed only outside CI.
///
/// # Panics
/// With `CI=true`, when the client cannot be run.
pub fn run_sql_script(backend: Backend, url: &str, script: &str) -> Option<std::process::Output> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut command = match backend {
        Backend::Postgres => {
            let mut c = Command::new("psql");
            c.args([url, "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"]);
            c
        }
        Backend::MySql => {
            // mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?…]
            let rest = url.split_once("://").map_or(url, |(_, r)| r);
            let (auth, rest) = rest.rsplit_once('@').unwrap_or(("root", rest));
            let (host_port, database) = rest.split_once('/').unwrap_or((rest, ""));
            let database = database.split('?').next().unwrap_or_default();
            let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            let mut c = Command::new("mariadb");
            c.args(["-h", host, "-P", port, "-u", user, database]);
            if !password.is_empty() {
                c.env("MYSQL_PWD", password);
            }
            c
        }
        Backend::Sqlite => {
            let mut c = Command::new("sqlite3");
            c.arg(crate::sqlite_file(url).expect("an SQLite file, not a database in memory"));
            c
        }
    };
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = match command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but the client {program} cannot run: {e}")
        }
        Err(e) => {
            eprintln!("the client {program} cannot run ({e}): its script is not tested here");
            return None;
        }
    };
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .expect("writing the script to the client");
    Some(child.wait_with_output().expect("the client's output"))
}

/// Every schema object of `snapshot` (tables with their columns, indexes and keys; views,
/// types, functions, sequences, extensions) with its description, for comparing the schemas
/// of two databases of `backend` whatever their version rows. MySQL's view definitions name
/// their database, so the hash of a view's definition is left out there.
pub fn schema_objects(
    snapshot: &crate::Snapshot,
    backend: Backend,
) -> std::collections::BTreeMap<String, Vec<String>> {
    snapshot
        .objects()
        .filter(|k| k.kind.is_schema_object() || k.kind == crate::ObjectKind::Extension)
        .map(|k| {
            let lines = snapshot.lines(k).into_iter().flatten();
            let kept = lines
                .filter(|l| {
                    !(backend == Backend::MySql
                        && k.kind == crate::ObjectKind::View
                        && l.starts_with("view "))
                })
                .cloned()
                .collect();
            (k.to_string(), kept)
        })
        .collect()
}

/// A migration made of SQL statements, for fixture chains in tests.
#[derive(Debug, Clone)]
pub struct SqlMigration {
    name: String,
    up: Vec<String>,
    down: Vec<String>,
    use_transaction: Option<bool>,
}

impl SqlMigration {
    /// A migration named `name` whose `up` runs `up`, in order.
    pub fn new(name: &str, up: &[&str]) -> Self {
        Self {
            name: name.to_owned(),
            up: up.iter().map(|s| (*s).to_owned()).collect(),
            down: Vec::new(),
            use_transaction: None,
        }
    }

    /// Its `down` runs `down`, in order.
    pub fn down(mut self, down: &[&str]) -> Self {
        self.down = down.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    /// What its `use_transaction()` answers.
    pub fn use_transaction(mut self, choice: Option<bool>) -> Self {
        self.use_transaction = choice;
        self
    }
}

impl sea_orm_migration::MigrationName for SqlMigration {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl sea_orm_migration::MigrationTrait for SqlMigration {
    async fn up(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        for sql in &self.up {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
        for sql in &self.down {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    fn use_transaction(&self) -> Option<bool> {
        self.use_transaction
    }
}

/// A chain of [`SqlMigration`]s: the engine's if `namespace` is `engine`, else a workflow
/// project's recorded in `seaql_migrations_{namespace}`.
pub fn sql_chain(namespace: &str, migrations: Vec<SqlMigration>) -> crate::Chain {
    let table = if namespace == crate::ENGINE_NAMESPACE {
        crate::ENGINE_VERSION_TABLE.to_owned()
    } else {
        crate::version_table(namespace)
    };
    crate::Chain::from_fn(namespace, &table, move || {
        migrations
            .iter()
            .cloned()
            .map(|m| Box::new(m) as Box<dyn sea_orm_migration::MigrationTrait>)
            .collect()
    })
}

/// The tables of the current database (SQLite: `main`; PostgreSQL: the current schema),
/// sorted.
///
/// # Panics
/// When the catalog cannot be read.
pub async fn table_names<C: ConnectionTrait>(db: &C) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        sea_orm::DbBackend::Postgres => {
            "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = current_schema()"
        }
        _ => {
            "SELECT TABLE_NAME AS t FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
    };
    let mut names: Vec<String> = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("listing tables")
        .into_iter()
        .map(|row| row.try_get::<String>("", "t").expect("table name"))
        .collect();
    names.sort();
    names
}

/// A database with the engine chain and one workflow chain applied; see [`migrated_databases`].
#[derive(Debug)]
pub struct MigratedDatabase {
    /// Its backend.
    pub backend: Backend,
    /// The connection (one connection: an in-memory SQLite database lives as long as it).
    pub db: DatabaseConnection,
    server: Option<TestDatabase>,
}

impl MigratedDatabase {
    /// Closes the connection and removes the database.
    pub async fn close(self) {
        self.db.close().await.ok();
        if let Some(server) = self.server {
            server.drop_database().await;
        }
    }
}

/// For each available backend (see [`Backend::available`]), a fresh database with the engine
/// chain and the chain `namespace` applied: SQLite in memory, and a database of its own on
/// the PostgreSQL and MySQL servers of `TEST_POSTGRES_URL` / `TEST_MYSQL_URL`.
///
/// ```no_run
/// # async fn t() {
/// # let registry: chainkit::Registry = unimplemented!();
/// for db in chainkit::testing::migrated_databases(&registry, "billing").await {
///     // ... use db.db ...
///     db.close().await;
/// }
/// # }
/// ```
///
/// # Panics
/// When a database cannot be created or a migration fails: the message names which.
pub async fn migrated_databases(
    registry: &crate::Registry,
    namespace: &str,
) -> Vec<MigratedDatabase> {
    let mut out = Vec::new();
    for backend in Backend::available() {
        let (db, server) = match backend {
            Backend::Sqlite => {
                let db = crate::connect("sqlite::memory:", crate::DEFAULT_CONNECT_TIMEOUT)
                    .await
                    .expect("opening an in-memory SQLite database");
                (db, None)
            }
            _ => {
                let server = TestDatabase::create(backend).await;
                (server.connect().await, Some(server))
            }
        };
        let chains = [
            registry.engine(),
            registry.get(namespace).unwrap_or_else(|e| panic!("{e}")),
        ];
        crate::runner::up(&db, &chains, None)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        out.push(MigratedDatabase {
            backend,
            db,
            server,
        });
    }
    out
}

/// Asserts that the chain `namespace` round-trips on `db`: applies it fully, rolls it back
/// to zero, and applies it again. After the rollback none of its tables may remain and no
/// other table may have changed; after the second apply the schema must equal the schema
/// after the first.
///
/// # Panics
/// When a step fails, or the schemas differ: the message names the tables.
pub async fn assert_round_trip(
    db: &DatabaseConnection,
    registry: &crate::Registry,
    namespace: &str,
) {
    let chain = registry.get(namespace).unwrap_or_else(|e| panic!("{e}"));
    let backend = db.get_database_backend();
    crate::runner::up(db, &[chain], None)
        .await
        .unwrap_or_else(|e| panic!("{backend:?}: up: {e}"));
    let applied = crate::snapshot(db).await.unwrap_or_else(|e| panic!("{e}"));
    crate::runner::down(db, chain, None)
        .await
        .unwrap_or_else(|e| panic!("{backend:?}: down to zero: {e}"));
    let empty = crate::snapshot(db).await.unwrap_or_else(|e| panic!("{e}"));
    let scope = chain.scope();
    let left: Vec<&str> = empty.tables().filter(|t| scope.contains(t)).collect();
    assert!(
        left.is_empty(),
        "{backend:?}: namespace {namespace:?}: after rolling back every migration these tables remain: {}",
        left.join(", ")
    );
    let outside =
        |s: &crate::Snapshot| s.outside_of(&scope, chain.namespace(), chain.version_table());
    let touched = outside(&applied).changes(&outside(&empty));
    assert!(
        touched.is_empty(),
        "{backend:?}: namespace {namespace:?}: rolling back changed tables outside the chain: {}",
        touched
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    crate::runner::up(db, &[chain], None)
        .await
        .unwrap_or_else(|e| panic!("{backend:?}: up again: {e}"));
    let again = crate::snapshot(db).await.unwrap_or_else(|e| panic!("{e}"));
    let differ = applied.changes(&again);
    assert!(
        differ.is_empty(),
        "{backend:?}: namespace {namespace:?}: the schema after up, down, up differs from after the first up: {}",
        differ
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
}

/// Asserts that `namespace`'s entities agree with the schema its migrations produce, compared
/// on SQLite in memory and on the servers of `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` (see
/// [`Backend::available`]): what `check` does, as a test.
///
/// # Panics
/// Listing the differences on the first backend where they disagree, or when the chains
/// cannot be replayed.
pub async fn assert_entities_match(registry: &crate::Registry, namespace: &str) {
    for backend in Backend::available() {
        let url = backend.env_var().and_then(|v| std::env::var(v).ok());
        let server = crate::ScratchServer::from_url(url.as_deref());
        let drift = crate::drift(registry, namespace, &server)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert!(
            drift.is_clean(),
            "{backend}: {drift}write a migration for the difference (`autogenerate NAME`) or \
             change the entities"
        );
    }
}
