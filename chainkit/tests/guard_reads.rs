//! What the isolation guard reads: a migration whose statements are all cleared as the chain's
//! own (see the README, "One database, no trespassing") costs no read of the whole catalog, so
//! a run reads it twice (before and at the end) whatever the number of chains and migrations;
//! an unclear statement costs its segment one full check; a change no migration's statements
//! explain is found at the end. On SQLite always, on PostgreSQL and MySQL when their test URLs
//! are set.

use std::sync::atomic::Ordering;

use chainkit::testing::{Backend, SqlMigration, TestDatabase, count_full_catalog_reads, sql_chain};
use chainkit::{Chain, Error, Registry};
use sea_orm::{ConnectionTrait, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use tracing::Instrument;

fn engine() -> Chain {
    sql_chain(
        "engine",
        vec![SqlMigration::new(
            "m20260101_000001_users",
            &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
        )],
    )
}

/// A workflow chain `ns` of `n` migrations, each creating a table, indexing it and seeding
/// it; with `unclear`, its last migration also reads the engine's version table.
fn chain(ns: &str, n: usize, unclear: bool) -> Chain {
    let migrations = (1..=n)
        .map(|i| {
            let mut sql = vec![
                format!("CREATE TABLE ext_{ns}_t{i} (id INTEGER PRIMARY KEY, user_id INTEGER, CONSTRAINT fk_{ns}_{i} FOREIGN KEY (user_id) REFERENCES users (id))"),
                format!("CREATE INDEX idx_{ns}_{i} ON ext_{ns}_t{i} (user_id)"),
                format!("INSERT INTO ext_{ns}_t{i} (id) VALUES (1)"),
                format!("UPDATE ext_{ns}_t{i} SET user_id = NULL WHERE id = 1"),
            ];
            if unclear && i == n {
                sql.push("SELECT COUNT(*) FROM seaql_migrations".to_owned());
            }
            let sql: Vec<&str> = sql.iter().map(String::as_str).collect();
            SqlMigration::new(&format!("m20260201_{i:06}_t{i}"), &sql)
        })
        .collect();
    sql_chain(ns, migrations)
}

#[tokio::test]
async fn a_run_reads_the_whole_catalog_twice_whatever_the_number_of_migrations() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let mut db = test_db.connect().await;
        let reads = count_full_catalog_reads(&mut db);
        let few = Registry::new(engine(), [chain("a", 1, false)]).unwrap();
        chainkit::migrate(&db, &few).await.unwrap();
        assert_eq!(
            reads.swap(0, Ordering::SeqCst),
            2,
            "{backend}: 2 migrations"
        );
        let many = Registry::new(
            engine(),
            [
                chain("a", 1, false),
                chain("b", 4, false),
                chain("c", 4, false),
            ],
        )
        .unwrap();
        chainkit::migrate(&db, &many).await.unwrap();
        assert_eq!(
            reads.swap(0, Ordering::SeqCst),
            2,
            "{backend}: 8 more migrations"
        );
        // an unclear statement: that chain's migrations get the full check
        let more = Registry::new(
            engine(),
            [
                chain("a", 1, false),
                chain("b", 4, false),
                chain("c", 4, false),
                chain("d", 2, true),
                chain("e", 2, false),
            ],
        )
        .unwrap();
        chainkit::migrate(&db, &more).await.unwrap();
        assert_eq!(reads.swap(0, Ordering::SeqCst), 3, "{backend}: one unclear");
        // a start with nothing to do reads no catalog
        chainkit::migrate(&db, &more).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 0, "{backend}: no-op");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn where_statements_are_not_seen_every_segment_gets_the_full_check() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let mut db = test_db.connect_unseen().await;
        let reads = count_full_catalog_reads(&mut db);
        let registry =
            Registry::new(engine(), [chain("a", 2, false), chain("b", 2, false)]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        let reads = reads.load(Ordering::SeqCst);
        // one before, one after each segment (on MySQL after each migration)
        let expected = if backend == Backend::MySql { 6 } else { 4 };
        assert_eq!(reads, expected, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// Creates its own table, then sends `past` in a root span of the capture's name (seen
/// by the statement log's listener, but tied to no migration): as if sent on another
/// connection.
struct PastTheLog {
    name: &'static str,
    past: &'static [&'static str],
}

impl MigrationName for PastTheLog {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PastTheLog {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE TABLE ext_g_own (id INTEGER PRIMARY KEY)")
            .await?;
        for sql in self.past {
            db.execute_unprepared(sql)
                .instrument(tracing::info_span!(
                    target: "chainkit::capture",
                    parent: None,
                    "chainkit_capture"
                ))
                .await?;
        }
        Ok(())
    }
}

/// The chain `g` of one [`PastTheLog`] migration.
fn past_the_log(name: &'static str, past: &'static [&'static str]) -> Chain {
    Chain::from_fn("g", "seaql_migrations_g", move || {
        vec![Box::new(PastTheLog { name, past }) as Box<dyn MigrationTrait>]
    })
}

/// Asserts that `err` is the end check's, naming `expected`; whether it says the run was rolled
/// back.
fn assert_unexplained(err: &Error, backend: Backend, expected: &[&str]) -> bool {
    let Error::Unexplained {
        changes,
        rolled_back,
        ..
    } = err
    else {
        panic!("{backend}: {err}");
    };
    let named: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert_eq!(named, expected, "{backend}");
    *rolled_back
}

#[tokio::test]
async fn a_change_no_statement_explains_is_found_at_the_end_of_the_run() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let past = past_the_log(
            "m20260301_000001_past_the_log",
            &[
                "CREATE TABLE stray (id INTEGER PRIMARY KEY)",
                "DELETE FROM seaql_migrations WHERE version = 'm20260101_000001_users'",
            ],
        );
        let registry = Registry::new(engine(), [chain("a", 1, false), past]).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let rolled_back = assert_unexplained(
            &err,
            backend,
            &[
                r#"table "stray" created"#,
                r#"rows of version table "seaql_migrations" changed"#,
            ],
        );
        let tables = chainkit::testing::table_names(&db).await;
        if backend == Backend::MySql {
            // DDL commits on its own: what ran stays, and the error says so
            assert!(!rolled_back, "{backend}");
            assert!(err.to_string().contains("cannot be rolled back"), "{err}");
            assert!(
                tables.contains(&"stray".to_owned()),
                "{backend}: {tables:?}"
            );
        } else {
            // the whole run is rolled back: the engine's and every chain's migrations
            assert!(rolled_back, "{backend}");
            assert!(err.to_string().contains("rolled back"), "{err}");
            for gone in ["stray", "ext_g_own", "ext_a_t1", "users"] {
                assert!(!tables.contains(&gone.to_owned()), "{backend}: {tables:?}");
            }
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// A migration that writes its own version row past the statement log makes the runner's
/// fail; on MySQL, where what ran stays, the end check still runs and names what no statement
/// explains (before, the failure to record left nothing to compare with). On MySQL a plain
/// name's version row goes in one text with the next migration's record, a name with a quote
/// in statements of its own: both in a transaction.
#[tokio::test]
async fn a_failed_version_row_after_a_change_past_the_log_still_gets_the_end_check() {
    const STRAY: &str = "CREATE TABLE stray (id INTEGER PRIMARY KEY)";
    const NAMES: [(&str, &[&str]); 2] = [
        (
            "m20260301_000001_own_row",
            &[
                STRAY,
                "INSERT INTO seaql_migrations_g (version, applied_at) \
                 VALUES ('m20260301_000001_own_row', 0)",
            ],
        ),
        (
            "m20260301_000001_own'row",
            &[
                STRAY,
                "INSERT INTO seaql_migrations_g (version, applied_at) \
                 VALUES ('m20260301_000001_own''row', 0)",
            ],
        ),
    ];
    for (name, past) in NAMES {
        for test_db in TestDatabase::all().await {
            let backend = test_db.backend;
            let db = test_db.connect().await;
            let past = past_the_log(name, past);
            let registry = Registry::new(engine(), [chain("a", 1, false), past]).unwrap();
            let err = chainkit::migrate(&db, &registry).await.unwrap_err();
            let tables = chainkit::testing::table_names(&db).await;
            if backend == Backend::MySql {
                let rolled_back = assert_unexplained(
                    &err,
                    backend,
                    &[
                        r#"table "stray" created"#,
                        r#"rows of version table "seaql_migrations_g" changed"#,
                    ],
                );
                assert!(!rolled_back, "{backend} {name}");
                // the chains before it stay applied, and it is not among them
                let Error::Unexplained { applied, .. } = &err else {
                    unreachable!()
                };
                let applied: Vec<&str> = applied.iter().map(|a| a.namespace.as_str()).collect();
                assert_eq!(applied, ["engine", "a"], "{backend} {name}");
                assert!(
                    tables.contains(&"stray".to_owned()),
                    "{backend} {name}: {tables:?}"
                );
            } else {
                // the version row fails inside the run's transaction, which rolls back whole
                assert!(
                    !tables.contains(&"stray".to_owned()),
                    "{backend} {name}: {tables:?}"
                );
                assert!(
                    !tables.contains(&"ext_g_own".to_owned()),
                    "{backend} {name}: {tables:?}"
                );
            }
            db.close().await.ok();
            test_db.drop_database().await;
        }
    }
}

/// What SeaORM's schema manager sends (its `has_table`, `has_column` and `has_index` reads
/// included) for a chain's own table.
struct Managed;

impl MigrationName for Managed {
    fn name(&self) -> &str {
        "m20260401_000001_managed"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Managed {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::sea_query::{Alias, ColumnDef, Index, Query, Table};
        let table = Alias::new("ext_m_items");
        assert!(!manager.has_table("ext_m_items").await?);
        manager
            .create_table(
                Table::create()
                    .table(table.clone())
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Alias::new("name")).string_len(40).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx-ext_m_items-name")
                    .table(table.clone())
                    .col(Alias::new("name"))
                    .to_owned(),
            )
            .await?;
        assert!(manager.has_column("ext_m_items", "name").await?);
        assert!(
            manager
                .has_index("ext_m_items", "idx-ext_m_items-name")
                .await?
        );
        let insert = Query::insert()
            .into_table(table)
            .columns([Alias::new("name")])
            .values_panic(["first".into()])
            .to_owned();
        manager.get_connection().execute(&insert).await?;
        Ok(())
    }
}

#[tokio::test]
async fn what_seaorms_schema_manager_sends_for_its_own_table_is_cleared() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let mut db = test_db.connect().await;
        let reads = count_full_catalog_reads(&mut db);
        let managed = Chain::from_fn("m", "seaql_migrations_m", || {
            vec![Box::new(Managed) as Box<dyn MigrationTrait>]
        });
        let registry = Registry::new(engine(), [managed]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        assert_eq!(reads.load(Ordering::SeqCst), 2, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// Chain `a`'s migrations for `backend`: a table with a trigger and a view over it, a table
/// with a foreign key to it, on PostgreSQL types (enum, composite, domain), then (with
/// `more`) a column added to each table, the view replaced and an enum label renamed.
fn with_view_and_trigger(backend: Backend, more: bool) -> Chain {
    let trigger = match backend {
        Backend::MySql => {
            "CREATE TRIGGER ext_a_trg BEFORE INSERT ON ext_a_t FOR EACH ROW BEGIN SET NEW.n = 1; END"
        }
        Backend::Postgres => {
            "CREATE TRIGGER ext_a_trg BEFORE INSERT ON ext_a_t FOR EACH ROW \
             EXECUTE FUNCTION ext_a_fill()"
        }
        Backend::Sqlite => {
            "CREATE TRIGGER ext_a_trg AFTER INSERT ON ext_a_t \
             BEGIN UPDATE ext_a_t SET n = 1 WHERE id = NEW.id; END"
        }
    };
    let mut first = vec!["CREATE TABLE ext_a_t (id INTEGER PRIMARY KEY, n INTEGER)"];
    if backend == Backend::Postgres {
        first.extend([
            "CREATE FUNCTION ext_a_fill() RETURNS trigger LANGUAGE plpgsql \
             AS $$ BEGIN NEW.n := 1; RETURN NEW; END $$",
            "CREATE TYPE ext_a_mood AS ENUM ('a', 'b')",
            "CREATE TYPE ext_a_pair AS (a integer, b text)",
            "CREATE DOMAIN ext_a_pos AS integer CHECK (VALUE > 0)",
        ]);
    }
    first.extend([
        trigger,
        "CREATE VIEW ext_a_v AS SELECT id FROM ext_a_t",
        "CREATE TABLE ext_a_child (id INTEGER PRIMARY KEY, t INTEGER, \
         FOREIGN KEY (t) REFERENCES ext_a_t (id))",
    ]);
    let mut migrations = vec![SqlMigration::new("m20260401_000001_t", &first)];
    if more {
        let replace = match backend {
            Backend::Sqlite => "DROP VIEW ext_a_v",
            _ => "CREATE OR REPLACE VIEW ext_a_v AS SELECT id, n FROM ext_a_t",
        };
        let mut second = vec![
            "ALTER TABLE ext_a_t ADD COLUMN m INTEGER",
            replace,
            "ALTER TABLE ext_a_child ADD COLUMN z INTEGER",
        ];
        if backend == Backend::Postgres {
            // (a label added to an enum would make the run commit, and read all once more)
            second.push("ALTER TYPE ext_a_mood RENAME VALUE 'b' TO 'c'");
        }
        migrations.push(SqlMigration::new("m20260401_000002_m", &second));
    }
    sql_chain("a", migrations)
}

/// Chain `b`: `n` tables, one a migration.
fn tables(ns: &str, n: usize) -> Chain {
    let migrations = (1..=n)
        .map(|i| {
            SqlMigration::new(
                &format!("m20260402_{i:06}_t"),
                &[&format!(
                    "CREATE TABLE ext_{ns}_t{i} (id INTEGER PRIMARY KEY)"
                )],
            )
        })
        .collect();
    sql_chain(ns, migrations)
}

/// A read-back takes in what cleared statements made or changed of views, triggers, foreign
/// keys and types, and what they left of them (PostgreSQL and MySQL read those parts of the
/// catalog only then): the end check,
/// comparing what the run kept with a full read, finds nothing, and no migration needed a full
/// check.
#[tokio::test]
async fn read_backs_take_in_views_triggers_and_foreign_keys_made_or_kept_by_cleared_statements() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let mut db = test_db.connect().await;
        let reads = count_full_catalog_reads(&mut db);
        let first = Registry::new(
            engine(),
            [with_view_and_trigger(backend, false), tables("b", 1)],
        )
        .unwrap();
        chainkit::migrate(&db, &first)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(reads.swap(0, Ordering::SeqCst), 2, "{backend}: first run");
        // the table has a trigger and a view over it: an altered table's lines and the
        // replaced view are read with them
        let second = Registry::new(
            engine(),
            [with_view_and_trigger(backend, true), tables("b", 2)],
        )
        .unwrap();
        chainkit::migrate(&db, &second)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(reads.load(Ordering::SeqCst), 2, "{backend}: second run");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// Alters chain `a`'s first table in a root span of the capture's name (as if sent on another
/// connection), then creates its own table.
struct AltersEarlierChain;

impl MigrationName for AltersEarlierChain {
    fn name(&self) -> &str {
        "m20260501_000001_alters_a"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AltersEarlierChain {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("ALTER TABLE ext_a_t1 ADD COLUMN sneaked INTEGER")
            .instrument(tracing::info_span!(
                target: "chainkit::capture",
                parent: None,
                "chainkit_capture"
            ))
            .await?;
        db.execute_unprepared("CREATE TABLE ext_h_own (id INTEGER PRIMARY KEY)")
            .await?;
        Ok(())
    }
}

/// The next chain's first migration changes a table of the chain before it, unseen, while
/// that chain's tables are being read back (on MySQL on a second session, while the next
/// chain runs; the change waits for that read): the end check finds it, named.
#[tokio::test]
async fn a_change_to_the_chain_before_made_while_it_is_read_back_is_found() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let sneaky = Chain::from_fn("h", "seaql_migrations_h", || {
            vec![Box::new(AltersEarlierChain) as Box<dyn MigrationTrait>]
        });
        // enough tables in `a` that its read-back is still running when `h` starts
        let registry = Registry::new(engine(), [chain("a", 30, false), sneaky]).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let Error::Unexplained { changes, .. } = &err else {
            panic!("{backend}: {err}");
        };
        let named: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(named, [r#"table "ext_a_t1" altered"#], "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// Chain `p`'s one migration: creates its table, then, on `other` (a connection opened before
/// the run, whose statements no migration's capture sees), starts a transaction writing a row
/// to it and keeps it open until `release` (it says when the row is in), then sets
/// `committed`.
struct LeavesAWriterOpen {
    other: sea_orm::DatabaseConnection,
    release: std::sync::Arc<tokio::sync::Notify>,
    committed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl MigrationName for LeavesAWriterOpen {
    fn name(&self) -> &str {
        "m20260601_000001_writer"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for LeavesAWriterOpen {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::TransactionTrait;
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE ext_p_t (id INTEGER PRIMARY KEY)")
            .await?;
        let other = self.other.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (release, committed) = (self.release.clone(), self.committed.clone());
        tokio::spawn(async move {
            let txn = other.begin().await.unwrap();
            txn.execute_unprepared("INSERT INTO ext_p_t (id) VALUES (1)")
                .await
                .unwrap();
            tx.send(()).unwrap();
            release.notified().await;
            txn.commit().await.unwrap();
            committed.store(true, Ordering::SeqCst);
        });
        rx.await.map_err(|e| DbErr::Custom(e.to_string()))
    }
}

/// MySQL: where another session holds a table of the chain before (a transaction writing to
/// it), its read-back cannot lock it and runs on the run's own connection at once, without
/// waiting for that session; the run goes on and its end check finds nothing.
#[tokio::test]
async fn a_table_another_session_writes_to_is_read_back_without_waiting_for_it() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        if backend != Backend::MySql {
            // only MySQL reads back on a second session; elsewhere the run's own transaction
            // would wait for the writer
            test_db.drop_database().await;
            continue;
        }
        let db = test_db.connect().await;
        let committed = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let release = std::sync::Arc::new(tokio::sync::Notify::new());
        let other = sea_orm::Database::connect(&test_db.url).await.unwrap();
        let writer = {
            let (other, committed, release) = (other.clone(), committed.clone(), release.clone());
            Chain::from_fn("p", "seaql_migrations_p", move || {
                vec![Box::new(LeavesAWriterOpen {
                    other: other.clone(),
                    release: release.clone(),
                    committed: committed.clone(),
                }) as Box<dyn MigrationTrait>]
            })
        };
        let registry = Registry::new(engine(), [writer, chain("q", 2, false)]).unwrap();
        let run = chainkit::migrate(&db, &registry);
        let report = tokio::time::timeout(std::time::Duration::from_secs(60), run)
            .await
            .expect("the run waits for the other session")
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(report.applied.len(), 4, "{backend}");
        assert!(
            !committed.load(Ordering::SeqCst),
            "{backend}: the run waited for the other session"
        );
        release.notify_one();
        while !committed.load(Ordering::SeqCst) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        other.close().await.ok();
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
