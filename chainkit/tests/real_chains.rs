//! The patterns real SeaORM chains use (see `corpus`), as the engine's chain and as a workflow
//! project's, through startup, `down`, `fresh`, `reset`, `refresh` and the guard, on SQLite
//! always and on PostgreSQL and MySQL/MariaDB when their test URLs are set.

mod corpus;

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chainkit::testing::{Backend, SqlMigration, TestDatabase};
use chainkit::{Chain, Error, ObjectKey, ObjectKind, Registry, Resolution, Snapshot};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::MigrationTrait;

use corpus::{FailWhile, MIGRATIONS, On, Panicking, Sql};

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a row");
    row.try_get_by_index::<i64>(0)
        .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    chainkit::snapshot(db).await.unwrap()
}

/// Everything outside the chain `rw`.
fn outside_rw(s: &Snapshot) -> Snapshot {
    s.filtered(|n| !n.starts_with("ext_rw_") && n != "seaql_migrations_rw")
}

fn names(objects: &[ObjectKey]) -> Vec<String> {
    objects.iter().map(ToString::to_string).collect()
}

/// The schema objects a snapshot holds whose names start with `prefix` (for the engine, those
/// without `ext_` and not version tables).
fn owned_by(snapshot: &Snapshot, namespace: &str) -> Vec<String> {
    let scope = if namespace == "engine" {
        chainkit::TableScope::Engine
    } else {
        chainkit::TableScope::workflow(namespace)
    };
    let mut owned: Vec<String> = snapshot
        .objects()
        .filter(|k| k.kind.is_schema_object() && scope.contains(&k.name))
        .map(ToString::to_string)
        .collect();
    owned.sort();
    owned
}

/// What the corpus creates on `backend`, under `prefix`.
fn corpus_objects(backend: Backend, prefix: &str) -> Vec<String> {
    let object = |kind: ObjectKind, name: &str| {
        ObjectKey {
            kind,
            name: format!("{prefix}{name}"),
        }
        .to_string()
    };
    let mut out = vec![
        object(ObjectKind::Table, "items"),
        object(ObjectKind::Table, "owners"),
        object(ObjectKind::Table, "pets"),
        object(ObjectKind::View, "item_names"),
    ];
    if backend == Backend::Postgres {
        out.extend([
            object(ObjectKind::MaterializedView, "item_stats"),
            object(ObjectKind::Type, "mood"),
            object(ObjectKind::Type, "unused"),
            object(ObjectKind::Function, "touch"),
        ]);
    }
    if backend != Backend::Sqlite {
        out.extend([
            object(ObjectKind::Sequence, "ticket_seq"),
            object(ObjectKind::Function, "twice"),
        ]);
    }
    out.sort();
    out
}

/// The engine's chain for the guard tests: a `users` table, and on PostgreSQL and MariaDB a
/// function of its own.
fn small_engine() -> Chain {
    Chain::from_fn("engine", "seaql_migrations", || {
        vec![Box::new(
            Sql::new("m20260101_000001_users")
                .up(
                    On::All,
                    &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
                )
                .up(
                    On::Postgres,
                    &["CREATE FUNCTION engine_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1'"],
                )
                .up(
                    On::MySql,
                    &["CREATE FUNCTION engine_fn() RETURNS INT DETERMINISTIC RETURN 1"],
                )
                .down(On::Servers, &["DROP FUNCTION engine_fn"])
                .down(On::All, &["DROP TABLE users"]),
        ) as Box<dyn MigrationTrait>]
    })
}

/// The corpus as the engine's chain and as workflow project `rw`, in one registry.
struct Both {
    registry: Registry,
    engine_runs: Arc<AtomicUsize>,
    rw_runs: Arc<AtomicUsize>,
}

fn both() -> Both {
    let engine_runs = Arc::new(AtomicUsize::new(0));
    let rw_runs = Arc::new(AtomicUsize::new(0));
    let registry = Registry::new(
        corpus::chain("engine", &engine_runs),
        [corpus::chain("rw", &rw_runs)],
    )
    .unwrap();
    Both {
        registry,
        engine_runs,
        rw_runs,
    }
}

/// Asserts that what the corpus made under `prefix` works: the enum value added by one
/// migration was used by the next, the entity's row is there, the trigger fires, the view and
/// the function answer, the owners' rebuild kept their pets.
async fn assert_corpus_works(db: &DatabaseConnection, backend: Backend, p: &str) {
    let n = |sql: String| async move { scalar(db, &sql).await };
    assert_eq!(
        n(format!(
            "SELECT COUNT(*) FROM {p}items WHERE mood = 'excited'"
        ))
        .await,
        1,
        "{backend}"
    );
    assert_eq!(
        n(format!(
            "SELECT COUNT(*) FROM {p}items WHERE name = 'second'"
        ))
        .await,
        1,
        "{backend}: the row seeded through the entity"
    );
    exec(
        db,
        &format!("UPDATE {p}items SET name = 'renamed' WHERE name = 'first'"),
    )
    .await;
    assert_eq!(
        n(format!(
            "SELECT touched FROM {p}items WHERE name = 'renamed'"
        ))
        .await,
        1,
        "{backend}: the trigger"
    );
    assert_eq!(
        n(format!("SELECT COUNT(*) FROM {p}item_names")).await,
        2,
        "{backend}: the view"
    );
    assert_eq!(
        n(format!("SELECT COUNT(*) FROM {p}pets")).await,
        2,
        "{backend}: the pets kept through the owners' rebuild"
    );
    if backend != Backend::Sqlite {
        assert_eq!(
            n(format!("SELECT {p}twice(21)")).await,
            42,
            "{backend}: the function"
        );
    }
    if backend == Backend::Sqlite {
        assert_eq!(
            scalar(db, "PRAGMA foreign_keys").await,
            1,
            "foreign keys are on again after the rebuild"
        );
    }
}

fn db_backend(backend: Backend) -> DbBackend {
    match backend {
        Backend::Sqlite => DbBackend::Sqlite,
        Backend::Postgres => DbBackend::Postgres,
        Backend::MySql => DbBackend::MySql,
    }
}

fn applied_count(report: &chainkit::RunReport, namespace: &str) -> usize {
    report.applied_to(namespace).count()
}

#[tokio::test]
async fn a_real_chain_applies_in_one_start_as_engine_and_as_workflow_project() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let both = both();
        let report = chainkit::migrate(&db, &both.registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            applied_count(&report, "engine"),
            MIGRATIONS.len(),
            "{backend}"
        );
        assert_eq!(applied_count(&report, "rw"), MIGRATIONS.len(), "{backend}");
        // the seeding migration's side effect happened once per chain
        assert_eq!(both.engine_runs.load(Ordering::SeqCst), 1, "{backend}");
        assert_eq!(both.rw_runs.load(Ordering::SeqCst), 1, "{backend}");
        let schema = snapshot(&db).await;
        assert_eq!(
            owned_by(&schema, "rw"),
            corpus_objects(backend, "ext_rw_"),
            "{backend}"
        );
        let mut engine = corpus_objects(backend, "");
        engine.retain(|o| !o.contains("seaql_"));
        assert_eq!(owned_by(&schema, "engine"), engine, "{backend}");
        assert_corpus_works(&db, backend, "").await;
        assert_corpus_works(&db, backend, "ext_rw_").await;

        let again = chainkit::migrate(&db, &both.registry).await.unwrap();
        assert!(again.applied.is_empty(), "{backend}: {:?}", again.applied);
        assert_eq!(both.rw_runs.load(Ordering::SeqCst), 1, "{backend}");

        let status = chainkit::status(&db, &both.registry).await.unwrap();
        if backend == Backend::Postgres {
            assert!(
                status.extensions.iter().any(|e| e.starts_with("pg_trgm ")),
                "{:?}",
                status.extensions
            );
        } else {
            assert!(status.extensions.is_empty(), "{backend}");
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_real_chain_rolls_back_to_nothing_and_applies_again() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let both = both();
        chainkit::migrate(&db, &both.registry).await.unwrap();
        let applied = snapshot(&db).await;
        for ns in ["rw", "engine"] {
            let report = chainkit::down(&db, &both.registry, ns, None)
                .await
                .unwrap_or_else(|e| panic!("{backend}: down {ns}: {e}"));
            assert_eq!(report.applied.len(), MIGRATIONS.len(), "{backend}");
            assert_eq!(
                owned_by(&snapshot(&db).await, ns),
                Vec::<String>::new(),
                "{backend}: {ns}: rolled back to nothing"
            );
        }
        chainkit::migrate(&db, &both.registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: up again: {e}"));
        assert_eq!(
            applied.changes(&snapshot(&db).await),
            Vec::new(),
            "{backend}: up, down, up gives the same schema"
        );
        assert_eq!(both.rw_runs.load(Ordering::SeqCst), 2, "{backend}");
        chainkit::testing::assert_round_trip(&db, &both.registry, "rw").await;
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn fresh_drops_everything_a_real_chain_owns_and_nothing_else() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let both = both();
        chainkit::migrate(&db, &both.registry).await.unwrap();
        exec(
            &db,
            "INSERT INTO owners (id, name) VALUES (9, 'engine row')",
        )
        .await;
        let before = snapshot(&db).await;

        let report = chainkit::fresh(&db, &both.registry, "rw", false)
            .await
            .unwrap_or_else(|e| panic!("{backend}: fresh: {e}"));
        let mut dropped = names(&report.dropped);
        dropped.sort();
        let mut expected = corpus_objects(backend, "ext_rw_");
        expected.push(r#"table "seaql_migrations_rw""#.to_owned());
        expected.sort();
        assert_eq!(dropped, expected, "{backend}");
        assert_eq!(report.applied.len(), MIGRATIONS.len(), "{backend}");
        let after = snapshot(&db).await;
        assert_eq!(
            outside_rw(&before).changes(&outside_rw(&after)),
            Vec::new(),
            "{backend}: nothing outside the chain changed (extensions included)"
        );
        assert_eq!(
            scalar(&db, "SELECT COUNT(*) FROM owners WHERE id = 9").await,
            1,
            "{backend}"
        );
        assert_corpus_works(&db, backend, "ext_rw_").await;

        // the engine: refused while a workflow chain is applied, unless --all
        let refused = chainkit::fresh(&db, &both.registry, "engine", false)
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, Error::WorkflowChainsApplied { namespaces, .. } if namespaces == &["rw"]),
            "{backend}: {refused}"
        );
        let all = chainkit::fresh(&db, &both.registry, "engine", true)
            .await
            .unwrap_or_else(|e| panic!("{backend}: fresh --all: {e}"));
        assert_eq!(all.applied.len(), 2 * MIGRATIONS.len(), "{backend}");
        assert_eq!(
            scalar(&db, "SELECT COUNT(*) FROM owners WHERE id = 9").await,
            0,
            "{backend}"
        );
        assert_corpus_works(&db, backend, "").await;
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn reset_and_refresh_of_a_real_chain_leave_nothing_of_it_and_nothing_else_changed() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let both = both();
        chainkit::migrate(&db, &both.registry).await.unwrap();
        let before = snapshot(&db).await;

        let refreshed = chainkit::refresh(&db, &both.registry, "rw", false)
            .await
            .unwrap_or_else(|e| panic!("{backend}: refresh: {e}"));
        assert_eq!(refreshed.rolled_back.len(), MIGRATIONS.len(), "{backend}");
        assert_eq!(refreshed.applied.len(), MIGRATIONS.len(), "{backend}");
        assert_eq!(
            before.changes(&snapshot(&db).await),
            Vec::new(),
            "{backend}: refresh gives the same schema"
        );

        let reset = chainkit::reset(&db, &both.registry, "rw", false)
            .await
            .unwrap_or_else(|e| panic!("{backend}: reset: {e}"));
        assert_eq!(reset.rolled_back.len(), MIGRATIONS.len(), "{backend}");
        assert_eq!(
            names(&reset.dropped),
            [r#"table "seaql_migrations_rw""#],
            "{backend}"
        );
        let after = snapshot(&db).await;
        assert_eq!(owned_by(&after, "rw"), Vec::<String>::new(), "{backend}");
        assert_eq!(
            outside_rw(&before).changes(&outside_rw(&after)),
            Vec::new(),
            "{backend}"
        );
        if backend == Backend::Postgres {
            assert!(
                after.of_kind(ObjectKind::Extension).any(|e| e == "pg_trgm"),
                "no scoped operation drops an extension"
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// A chain whose `down` leaves a view, and on PostgreSQL a type and a function, behind.
fn sloppy_chain() -> Chain {
    let up = Sql::new("m20260401_000001_sloppy")
        .up(On::All, &["CREATE TABLE ext_sl_t (id INTEGER PRIMARY KEY)"])
        .up(
            On::All,
            &["CREATE VIEW ext_sl_v AS SELECT id FROM ext_sl_t"],
        )
        .up(
            On::Postgres,
            &[
                "CREATE TYPE ext_sl_kind AS ENUM ('x')",
                "CREATE FUNCTION ext_sl_f() RETURNS integer LANGUAGE sql AS 'SELECT 1'",
            ],
        )
        .down(On::Postgres, &["DROP VIEW ext_sl_v", "DROP TABLE ext_sl_t"])
        .down(On::Sqlite, &["DROP TABLE ext_sl_t"])
        .down(On::MySql, &["DROP TABLE ext_sl_t"]);
    Chain::from_fn("sl", "seaql_migrations_sl", move || {
        vec![Box::new(up.clone()) as Box<dyn MigrationTrait>]
    })
}

#[tokio::test]
async fn reset_drops_what_a_chains_down_left_behind() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let registry = Registry::new(small_engine(), [sloppy_chain()]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        let report = chainkit::reset(&db, &registry, "sl", false)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let mut expected = vec![r#"view "ext_sl_v""#.to_owned()];
        if backend == Backend::Postgres {
            expected = vec![
                r#"function "ext_sl_f""#.to_owned(),
                r#"type "ext_sl_kind""#.to_owned(),
            ];
        }
        expected.push(r#"table "seaql_migrations_sl""#.to_owned());
        let mut dropped = names(&report.dropped);
        dropped.sort();
        expected.sort();
        assert_eq!(dropped, expected, "{backend}");
        assert_eq!(owned_by(&snapshot(&db).await, "sl"), Vec::<String>::new());
        // and it applies again: nothing is left in the way
        chainkit::migrate(&db, &registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn fresh_refuses_before_dropping_anything_when_a_migration_did_not_finish() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let both = both();
        chainkit::migrate(&db, &both.registry).await.unwrap();
        let before = snapshot(&db).await;
        // its rollback began and did not finish (its version row is still there)
        exec(
            &db,
            "INSERT INTO seaql_migrations_in_progress (namespace, version, direction, started_at) \
             VALUES ('rw', 'm20260301_000008_outside_transactions', 'down', 0)",
        )
        .await;
        for command in ["fresh", "reset", "refresh"] {
            let err = match command {
                "fresh" => chainkit::fresh(&db, &both.registry, "rw", false).await,
                "reset" => chainkit::reset(&db, &both.registry, "rw", false).await,
                _ => chainkit::refresh(&db, &both.registry, "rw", false).await,
            }
            .unwrap_err();
            assert!(
                matches!(&err, Error::Interrupted { namespace, .. } if namespace == "rw"),
                "{backend}: {command}: {err}"
            );
        }
        exec(&db, "DELETE FROM seaql_migrations_in_progress").await;
        assert_eq!(
            before.changes(&snapshot(&db).await),
            Vec::new(),
            "{backend}: nothing was dropped"
        );
        // a row of a migration this build does not have: refused too, before any drop
        exec(
            &db,
            "INSERT INTO seaql_migrations_rw (version, applied_at) VALUES ('m20990101_000001_newer', 0)",
        )
        .await;
        let err = chainkit::fresh(&db, &both.registry, "rw", false)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::UnknownAppliedMigration { migration, .. } if migration == "m20990101_000001_newer"),
            "{backend}: {err}"
        );
        assert_eq!(
            owned_by(&snapshot(&db).await, "rw"),
            corpus_objects(backend, "ext_rw_"),
            "{backend}"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_fresh_whose_reapply_fails_leaves_the_chain_as_it_was_where_the_backend_can() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let flag = fail.clone();
        // the failing migration comes before any migration that forces a commit
        let chain = Chain::from_fn("rw", "seaql_migrations_rw", {
            let runs = runs.clone();
            move || {
                let mut all = corpus::migrations("ext_rw_", "seaql_migrations_rw", &runs);
                all.truncate(4);
                all.push(Box::new(FailWhile {
                    name: "m20260301_000004_fails_on_request",
                    fail: flag.clone(),
                }));
                all.sort_by(|a, b| a.name().cmp(b.name()));
                all
            }
        });
        let registry = Registry::new(small_engine(), [chain]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        exec(&db, "INSERT INTO ext_rw_items (name) VALUES ('kept')").await;
        let before = snapshot(&db).await;
        fail.store(true, Ordering::SeqCst);
        let err = chainkit::fresh(&db, &registry, "rw", false)
            .await
            .unwrap_err();
        let message = chainkit::cli::format_error(&err);
        assert!(message.contains("no_such_table_anywhere"), "{message}");
        if backend == Backend::MySql {
            assert!(
                matches!(&err, Error::ScopedFailed { undone: false, dropped, .. } if !dropped.is_empty()),
                "{err:?}"
            );
            assert!(message.contains("already dropped, and gone"), "{message}");
            assert!(message.contains("ext_rw_items"), "{message}");
        } else {
            assert!(
                matches!(&err, Error::ScopedFailed { undone: true, .. }),
                "{backend}: {err:?}"
            );
            assert!(message.contains("the chain is as it was"), "{message}");
            assert_eq!(
                before.changes(&snapshot(&db).await),
                Vec::new(),
                "{backend}: everything rolled back"
            );
            assert_eq!(
                scalar(&db, "SELECT COUNT(*) FROM ext_rw_items WHERE name = 'kept'").await,
                1
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn fresh_refuses_naming_both_when_an_object_outside_the_chain_depends_on_it() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let both = both();
        chainkit::migrate(&db, &both.registry).await.unwrap();
        // the engine's side has a view over the project's table
        exec(
            &db,
            "CREATE VIEW engine_report AS SELECT name FROM ext_rw_items",
        )
        .await;
        let before = snapshot(&db).await;
        for command in ["fresh", "reset"] {
            let result = if command == "fresh" {
                chainkit::fresh(&db, &both.registry, "rw", false).await
            } else {
                chainkit::reset(&db, &both.registry, "rw", false).await
            };
            let err = result.unwrap_err();
            let message = chainkit::cli::format_error(&err);
            if command == "fresh" || backend != Backend::Sqlite {
                assert!(
                    matches!(
                        err,
                        Error::DependedOn { .. }
                            | Error::ScopedFailed { .. }
                            | Error::MigrationFailed { .. }
                    ),
                    "{backend}: {command}: {err:?}"
                );
            }
            assert!(
                message.contains("engine_report"),
                "{backend}: {command}: {message}"
            );
            assert!(
                message.contains("ext_rw_items"),
                "{backend}: {command}: {message}"
            );
            assert!(message.chars().count() < 1200, "{message}");
            if command == "fresh" {
                assert_eq!(
                    before.changes(&snapshot(&db).await),
                    Vec::new(),
                    "{backend}: nothing was dropped"
                );
            }
            // reset ran the chain's downs first; bring it back for the next round
            chainkit::migrate(&db, &both.registry)
                .await
                .unwrap_or_else(|e| panic!("{backend}: {e}"));
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// The chain `gamma`: an innocent migration, then `sql` (for the backends `on`).
fn gamma(on: On, sql: &[&str]) -> Chain {
    let innocent = Sql::new("m20260501_000001_innocent")
        .up(
            On::All,
            &["CREATE TABLE ext_gamma_a (id INTEGER PRIMARY KEY)"],
        )
        .down(On::All, &["DROP TABLE ext_gamma_a"]);
    let guilty = Sql::new("m20260501_000002_guilty").up(on, sql);
    Chain::from_fn("gamma", "seaql_migrations_gamma", move || {
        vec![
            Box::new(innocent.clone()) as Box<dyn MigrationTrait>,
            Box::new(guilty.clone()),
        ]
    })
}

/// Runs `gamma(on, sql)` after the engine on every backend `on` covers, and asserts it is
/// refused naming `object`, keeping the innocent migration, and leaving nothing of the guilty
/// one where the backend can roll back.
async fn assert_trespass(on: On, sql: &[&str], object: &str) {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        if !on.covers(db_backend(backend)) {
            test_db.drop_database().await;
            continue;
        }
        let db = test_db.connect().await;
        let engine = Registry::new(small_engine(), []).unwrap();
        chainkit::migrate(&db, &engine).await.unwrap();
        exec(&db, "INSERT INTO users (id, name) VALUES (1, 'ada')").await;
        let before = snapshot(&db).await;
        let registry = Registry::new(small_engine(), [gamma(on, sql)]).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let Error::Trespass(t) = &err else {
            panic!("{backend}: {object}: not refused: {err}");
        };
        assert_eq!(t.migration, "m20260501_000002_guilty", "{backend}");
        let found = t
            .trespasses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        assert!(found.contains(object), "{backend}: {found}");
        let message = chainkit::cli::format_error(&err);
        let key = object.rsplit_once(' ').map_or(object, |(k, _)| k);
        assert!(message.contains(key), "{message}");
        assert!(
            message.contains("committed before the failure:")
                && message.contains("gamma m20260501_000001_innocent"),
            "{backend}: {message}"
        );
        let after = snapshot(&db).await;
        let outside = |s: &Snapshot| {
            s.filtered(|n| !n.starts_with("ext_gamma_") && n != "seaql_migrations_gamma")
        };
        if backend == Backend::MySql {
            let left = t.left_behind.as_ref().expect("MySQL cannot roll back");
            assert!(
                left.iter().any(|c| c.to_string().contains(object)),
                "{left:?}"
            );
            assert!(message.contains("resolve"), "{message}");
        } else {
            assert!(t.left_behind.is_none(), "{backend}");
            assert_eq!(
                outside(&before).changes(&outside(&after)),
                Vec::new(),
                "{backend}: {object}: nothing of it remains"
            );
            let status = chainkit::status(&db, &registry).await.unwrap();
            let gamma = &status.chains[1];
            assert_eq!(
                gamma.applied_count(),
                1,
                "{backend}: the innocent one stays"
            );
            assert_eq!(
                status.chains[0].applied_count(),
                1,
                "{backend}: the engine's row"
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn the_guard_refuses_a_changed_type_or_default_of_another_chains_column() {
    for (on, sql) in [
        (
            On::Postgres,
            "ALTER TABLE users ALTER COLUMN name TYPE VARCHAR(60)",
        ),
        (
            On::Postgres,
            "ALTER TABLE users ALTER COLUMN name TYPE TEXT",
        ),
        (
            On::Postgres,
            "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'ada'",
        ),
        (On::MySql, "ALTER TABLE users MODIFY name VARCHAR(60)"),
        (
            On::MySql,
            "ALTER TABLE users ALTER COLUMN name SET DEFAULT 'ada'",
        ),
    ] {
        assert_trespass(on, &[sql], r#"table "users" altered"#).await;
    }
}

#[tokio::test]
async fn the_guard_refuses_a_trigger_on_another_chains_table_whatever_its_name() {
    assert_trespass(
        On::Postgres,
        &[
            "CREATE FUNCTION ext_gamma_f() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RETURN NEW; END $$",
            "CREATE TRIGGER ext_gamma_audit BEFORE UPDATE ON users FOR EACH ROW \
             EXECUTE FUNCTION ext_gamma_f()",
        ],
        r#"table "users" altered"#,
    )
    .await;
    assert_trespass(
        On::MySql,
        &[
            "CREATE TRIGGER ext_gamma_audit BEFORE UPDATE ON users FOR EACH ROW \
           SET NEW.name = NEW.name",
        ],
        r#"table "users" altered"#,
    )
    .await;
    assert_trespass(
        On::Sqlite,
        &["CREATE TRIGGER ext_gamma_audit AFTER UPDATE ON users BEGIN SELECT 1; END"],
        r#"table "users" altered"#,
    )
    .await;
}

#[tokio::test]
async fn the_guard_refuses_an_unprefixed_view_function_type_or_sequence() {
    assert_trespass(
        On::All,
        &["CREATE VIEW gamma_report AS SELECT id FROM ext_gamma_a"],
        r#"view "gamma_report" created"#,
    )
    .await;
    assert_trespass(
        On::Postgres,
        &["CREATE FUNCTION set_updated_at() RETURNS integer LANGUAGE sql AS 'SELECT 1'"],
        r#"function "set_updated_at" created"#,
    )
    .await;
    assert_trespass(
        On::MySql,
        &["CREATE FUNCTION set_updated_at() RETURNS INT DETERMINISTIC RETURN 1"],
        r#"function "set_updated_at" created"#,
    )
    .await;
    assert_trespass(
        On::Postgres,
        &["CREATE TYPE gamma_mood AS ENUM ('a')"],
        r#"type "gamma_mood" created"#,
    )
    .await;
    assert_trespass(
        On::Servers,
        &["CREATE SEQUENCE gamma_seq"],
        r#"sequence "gamma_seq" created"#,
    )
    .await;
}

#[tokio::test]
async fn the_guard_refuses_overwriting_another_chains_function() {
    assert_trespass(
        On::Postgres,
        &["CREATE OR REPLACE FUNCTION engine_fn() RETURNS integer LANGUAGE sql AS 'SELECT 2'"],
        r#"function "engine_fn" altered"#,
    )
    .await;
    assert_trespass(
        On::MySql,
        &["CREATE OR REPLACE FUNCTION engine_fn() RETURNS INT DETERMINISTIC RETURN 2"],
        r#"function "engine_fn" altered"#,
    )
    .await;
}

#[tokio::test]
async fn the_guard_refuses_raw_dml_on_another_chains_version_rows() {
    assert_trespass(
        On::All,
        &["DELETE FROM seaql_migrations WHERE version = 'm20260101_000001_users'"],
        r#"rows of version table "seaql_migrations" changed"#,
    )
    .await;
    assert_trespass(
        On::All,
        &["INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20990101_000001_x', 0)"],
        r#"rows of version table "seaql_migrations" changed"#,
    )
    .await;
    // no row is deleted one by one (PostgreSQL's write counts do not see it): the table's file
    // changes
    assert_trespass(
        On::Postgres,
        &["TRUNCATE seaql_migrations"],
        r#"rows of version table "seaql_migrations" changed"#,
    )
    .await;
}

#[tokio::test]
async fn the_guard_refuses_an_engine_migration_creating_a_workflow_projects_view() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let engine = Chain::from_fn("engine", "seaql_migrations", || {
            vec![
                Box::new(SqlMigration::new(
                    "m20260101_000001_t",
                    &["CREATE TABLE t (id INTEGER PRIMARY KEY)"],
                )) as Box<dyn MigrationTrait>,
                Box::new(SqlMigration::new(
                    "m20260101_000002_v",
                    &["CREATE VIEW ext_billing_v AS SELECT id FROM t"],
                )),
            ]
        });
        let registry = Registry::new(engine, []).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(&err, Error::Trespass(t) if t.migration == "m20260101_000002_v"),
            "{backend}: {message}"
        );
        assert!(message.contains(r#"view "ext_billing_v""#), "{message}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn no_migration_runs_twice_in_a_run_when_a_later_one_fails_or_trespasses() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let runs = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(true));
        let flag = fail.clone();
        let chain = corpus::chain_with("rw", &runs, move || {
            vec![Box::new(FailWhile {
                name: "m20260301_000011_fails",
                fail: flag.clone(),
            }) as Box<dyn MigrationTrait>]
        });
        let registry = Registry::new(small_engine(), [chain]).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        assert!(
            matches!(&err, Error::MigrationFailed { migration, .. } if migration == "m20260301_000011_fails"),
            "{backend}: {err}"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "{backend}: the seeding ran once"
        );
        assert_eq!(
            err.applied().iter().filter(|a| a.namespace == "rw").count(),
            MIGRATIONS.len(),
            "{backend}: those before it stay"
        );
        if backend == Backend::MySql {
            chainkit::resolve(
                &db,
                &registry,
                "rw",
                "m20260301_000011_fails",
                Resolution::RolledBack,
            )
            .await
            .unwrap();
        }
        fail.store(false, Ordering::SeqCst);
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        assert_eq!(
            report.applied_to("rw").collect::<Vec<_>>(),
            ["m20260301_000011_fails"]
        );
        assert_eq!(runs.load(Ordering::SeqCst), 1, "{backend}");

        // and when a later migration trespasses
        let db2 = test_db.connect().await;
        for ns in ["rw"] {
            chainkit::reset(&db2, &registry, ns, false).await.unwrap();
        }
        let runs = Arc::new(AtomicUsize::new(0));
        let chain = corpus::chain_with("rw", &runs, || {
            vec![Box::new(Sql::new("m20260301_000011_trespasses").up(
                On::All,
                &["DELETE FROM seaql_migrations WHERE version = 'm20260101_000001_users'"],
            )) as Box<dyn MigrationTrait>]
        });
        let registry = Registry::new(small_engine(), [chain]).unwrap();
        let err = chainkit::migrate(&db2, &registry).await.unwrap_err();
        assert!(matches!(err, Error::Trespass(_)), "{backend}: {err}");
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "{backend}: the seeding ran once"
        );
        db2.close().await.ok();
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

fn panicking_chain(panic_up: bool) -> Chain {
    Chain::from_fn("pn", "seaql_migrations_pn", move || {
        vec![
            Box::new(
                Sql::new("m20260601_000001_first")
                    .up(On::All, &["CREATE TABLE ext_pn_a (id INTEGER PRIMARY KEY)"])
                    .down(On::All, &["DROP TABLE ext_pn_a"]),
            ) as Box<dyn MigrationTrait>,
            Box::new(Panicking {
                name: "m20260601_000002_panics",
                up: vec!["CREATE TABLE ext_pn_b (id INTEGER PRIMARY KEY)".to_owned()],
                panic_up,
            }),
        ]
    })
}

#[tokio::test]
async fn a_panicking_up_or_down_is_a_failed_migration() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let registry = Registry::new(small_engine(), [panicking_chain(true)]).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let Error::MigrationPanicked {
            migration,
            direction,
            rolled_back,
            applied,
            message,
            ..
        } = &err
        else {
            panic!("{backend}: {err:?}");
        };
        assert_eq!(migration, "m20260601_000002_panics");
        assert_eq!(*direction, "up");
        assert!(message.contains("this migration panics in up"), "{message}");
        assert_eq!(*rolled_back, backend != Backend::MySql, "{backend}");
        assert!(
            applied
                .iter()
                .any(|a| a.migration == "m20260601_000001_first")
        );
        let report = chainkit::cli::format_error(&err);
        assert!(report.contains("panicked"), "{report}");
        let tables = chainkit::testing::table_names(&db).await;
        if backend == Backend::MySql {
            // its DDL stays, and it is left in progress for `resolve`
            assert!(tables.contains(&"ext_pn_b".to_owned()));
            let again = chainkit::migrate(&db, &registry).await.unwrap_err();
            assert!(matches!(again, Error::Interrupted { .. }), "{again}");
            exec(&db, "DROP TABLE ext_pn_b").await;
            chainkit::resolve(&db, &registry, "pn", migration, Resolution::RolledBack)
                .await
                .unwrap();
        } else {
            assert!(!tables.contains(&"ext_pn_b".to_owned()), "{backend}");
        }

        // a down that panics by design
        let registry = Registry::new(small_engine(), [panicking_chain(false)]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        let err = chainkit::down(&db, &registry, "pn", Some(1))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::MigrationPanicked { direction, message, .. }
                if *direction == "down" && message.contains("irreversible")),
            "{backend}: {err:?}"
        );
        let status = chainkit::status(&db, &registry).await.unwrap();
        assert_eq!(
            status.chains[1].applied_count(),
            2,
            "{backend}: still applied"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn resolve_forgets_a_migration_whose_code_is_gone_and_status_says_what_to_do() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let registry = Registry::new(small_engine(), [gamma(On::All, &[])]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        // a build that had a third migration died in it, and that code was then removed
        exec(
            &db,
            "INSERT INTO seaql_migrations_gamma (version, applied_at) VALUES ('m20260501_000003_removed', 0)",
        )
        .await;
        exec(
            &db,
            "INSERT INTO seaql_migrations_in_progress (namespace, version, direction, started_at) \
             VALUES ('gamma', 'm20260501_000003_removed', 'down', 0)",
        )
        .await;
        let status = chainkit::status(&db, &registry).await.unwrap();
        let warnings = chainkit::cli::status_warnings(&status).join("\n");
        assert!(
            warnings.contains("m20260501_000003_removed") && warnings.contains("--rolled-back"),
            "{backend}: {warnings}"
        );
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        assert!(
            err.to_string().contains("m20260501_000003_removed"),
            "{err}"
        );
        let applied = chainkit::resolve(
            &db,
            &registry,
            "gamma",
            "m20260501_000003_removed",
            Resolution::Applied,
        )
        .await
        .unwrap_err();
        assert!(matches!(applied, Error::CannotResolve { .. }), "{applied}");
        chainkit::resolve(
            &db,
            &registry,
            "gamma",
            "m20260501_000003_removed",
            Resolution::RolledBack,
        )
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        assert!(report.applied.is_empty());
        let unknown = chainkit::resolve(
            &db,
            &registry,
            "gamma",
            "m20260501_000009_never",
            Resolution::RolledBack,
        )
        .await
        .unwrap_err();
        assert!(
            matches!(unknown, Error::UnknownMigration { .. }),
            "{unknown}"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn postgres_errors_carry_their_detail() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let chain = gamma(
            On::All,
            &[
                "CREATE TABLE ext_gamma_t (id INTEGER PRIMARY KEY)",
                "INSERT INTO ext_gamma_t (id) VALUES (1)",
                "INSERT INTO ext_gamma_t (id) VALUES (1)",
            ],
        );
        let registry = Registry::new(small_engine(), [chain]).unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::MigrationFailed { .. }), "{message}");
        if backend == Backend::Postgres {
            assert!(
                message.contains("detail: Key (id)=(1) already exists"),
                "{message}"
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn sqlite_rebuilds_a_table_other_rows_refer_to_in_a_migration_outside_transactions() {
    use sea_orm::sea_query::{Alias, ColumnDef, Table};
    struct Rebuild;
    impl sea_orm_migration::MigrationName for Rebuild {
        fn name(&self) -> &str {
            "m20260701_000002_rebuild"
        }
    }
    #[async_trait::async_trait]
    impl MigrationTrait for Rebuild {
        fn use_transaction(&self) -> Option<bool> {
            Some(false)
        }
        async fn up(
            &self,
            manager: &sea_orm_migration::SchemaManager,
        ) -> Result<(), sea_orm::DbErr> {
            let table = Table::create()
                .table(Alias::new("ext_rb_parent"))
                .col(ColumnDef::new(Alias::new("id")).integer().primary_key())
                .col(
                    ColumnDef::new(Alias::new("label"))
                        .string_len(80)
                        .not_null(),
                )
                .to_owned();
            chainkit::rebuild_sqlite_table(manager, table, vec![]).await
        }
        async fn down(&self, _: &sea_orm_migration::SchemaManager) -> Result<(), sea_orm::DbErr> {
            Ok(())
        }
    }
    let test_db = TestDatabase::create(Backend::Sqlite).await;
    let db = test_db.connect().await;
    let chain = Chain::from_fn("rb", "seaql_migrations_rb", || {
        vec![
            Box::new(SqlMigration::new(
                "m20260701_000001_tables",
                &[
                    "CREATE TABLE ext_rb_parent (id INTEGER PRIMARY KEY, label VARCHAR(20) NOT NULL)",
                    "CREATE TABLE ext_rb_child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL \
                     REFERENCES ext_rb_parent (id) ON DELETE CASCADE)",
                    "INSERT INTO ext_rb_parent (id, label) VALUES (1, 'a')",
                    "INSERT INTO ext_rb_child (id, parent_id) VALUES (1, 1)",
                ],
            )) as Box<dyn MigrationTrait>,
            Box::new(Rebuild),
        ]
    });
    let registry = Registry::new(small_engine(), [chain]).unwrap();
    chainkit::migrate(&db, &registry)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM ext_rb_child").await,
        1,
        "the referring row survives the rebuild (no cascade)"
    );
    let sql = scalar(
        &db,
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'ext_rb_parent' AND sql LIKE '%varchar(80)%'",
    )
    .await;
    assert_eq!(sql, 1, "rebuilt to the new definition");
    assert_eq!(scalar(&db, "PRAGMA foreign_keys").await, 1);
    db.close().await.ok();
    test_db.drop_database().await;
}

const CHILD: &str = "CHAINKIT_PANIC_CHILD_DB";

/// Run as a child process by `a_panicking_migration_ends_the_process_with_exit_1_and_no_backtrace`.
#[test]
#[ignore = "run as a child process by another test"]
fn child_runs_a_panicking_migration_through_block_on() {
    let Ok(url) = std::env::var(CHILD) else {
        return;
    };
    let registry = Registry::new(small_engine(), [panicking_chain(true)]).unwrap();
    let code = chainkit::cli::block_on(async move {
        let db = chainkit::connect(&url, chainkit::DEFAULT_CONNECT_TIMEOUT).await?;
        chainkit::migrate(&db, &registry).await.map(|_| ())
    });
    std::process::exit(if code == ExitCode::SUCCESS { 0 } else { 1 });
}

#[test]
fn a_panicking_migration_ends_the_process_with_exit_1_and_no_backtrace() {
    let file = std::env::temp_dir().join(format!("chainkit-panic-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_runs_a_panicking_migration_through_block_on",
            "--nocapture",
        ])
        .env(CHILD, &url)
        .env_remove("RUST_BACKTRACE")
        .output()
        .unwrap();
    for suffix in ["", ".migrate-lock", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", file.display())).ok();
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "error: namespace \"pn\": migration m20260601_000002_panics (up) panicked: this \
             migration panics in up"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("the failed migration was rolled back"),
        "{stderr}"
    );
    assert!(stderr.contains("committed before the failure:"), "{stderr}");
    assert!(!stderr.contains("RUST_BACKTRACE"), "{stderr}");
    assert!(!stderr.contains("thread '"), "{stderr}");
}
