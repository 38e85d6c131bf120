//! No chain may touch another's tables: scoped `fresh`, `reset`, `down` and `refresh`, and the
//! run-time guard, on SQLite always and on PostgreSQL and MySQL when their test URLs are set.

use chainkit::testing::{Backend, SqlMigration, TestDatabase, sql_chain, table_names};
use chainkit::{Chain, Error, ObjectKey, ObjectKind, Registry, Snapshot, TableScope};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

fn engine_chain() -> Chain {
    sql_chain(
        "engine",
        vec![
            SqlMigration::new(
                "m20260101_000001_users",
                &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
            )
            .down(&["DROP TABLE users"]),
        ],
    )
}

/// Two tables, the second referencing the first.
fn alpha_chain() -> Chain {
    sql_chain(
        "alpha",
        vec![
            SqlMigration::new(
                "m20260201_000001_create_a",
                &["CREATE TABLE ext_alpha_a (id INTEGER PRIMARY KEY)"],
            )
            .down(&["DROP TABLE ext_alpha_a"]),
            SqlMigration::new(
                "m20260201_000002_create_b",
                &[
                    "CREATE TABLE ext_alpha_b (id INTEGER PRIMARY KEY, a_id INTEGER, \
                     CONSTRAINT fk_ext_alpha_b_a_id FOREIGN KEY (a_id) REFERENCES ext_alpha_a (id))",
                    "CREATE INDEX idx_ext_alpha_b_a_id ON ext_alpha_b (a_id)",
                ],
            )
            .down(&["DROP TABLE ext_alpha_b"]),
        ],
    )
}

/// One table referencing the engine's `users`.
fn beta_chain() -> Chain {
    sql_chain(
        "beta",
        vec![
            SqlMigration::new(
                "m20260201_000001_create_x",
                &[
                    "CREATE TABLE ext_beta_x (id INTEGER PRIMARY KEY, user_id INTEGER, \
                   CONSTRAINT fk_ext_beta_x_user_id FOREIGN KEY (user_id) REFERENCES users (id))",
                ],
            )
            .down(&["DROP TABLE ext_beta_x"]),
        ],
    )
}

fn registry_with(extra: Vec<Chain>) -> Registry {
    let mut chains = vec![alpha_chain(), beta_chain()];
    chains.extend(extra);
    Registry::new(engine_chain(), chains).unwrap()
}

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) AS n FROM {table}");
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// Fills every table with one row.
async fn seed(db: &DatabaseConnection) {
    exec(db, "INSERT INTO users (id, name) VALUES (1, 'ada')").await;
    exec(db, "INSERT INTO ext_alpha_a (id) VALUES (1)").await;
    exec(db, "INSERT INTO ext_alpha_b (id, a_id) VALUES (1, 1)").await;
    exec(db, "INSERT INTO ext_beta_x (id, user_id) VALUES (1, 1)").await;
}

fn names(objects: &[ObjectKey]) -> Vec<&str> {
    objects.iter().map(|k| k.name.as_str()).collect()
}

async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    chainkit::snapshot(db).await.unwrap()
}

/// The schema of everything outside `ns`'s scope and version table.
fn outside(snapshot: &Snapshot, ns: &str) -> Snapshot {
    let scope = TableScope::workflow(ns);
    let version_table = chainkit::version_table(ns);
    snapshot.filtered(|t| !scope.contains(t) && t != version_table)
}

async fn assert_others_untouched(
    db: &DatabaseConnection,
    before: &Snapshot,
    ns: &str,
    backend: Backend,
) {
    let after = snapshot(db).await;
    let changes = outside(before, ns).changes(&outside(&after, ns));
    assert!(changes.is_empty(), "{backend}: {ns}: {changes:?}");
    assert_eq!(count(db, "users").await, 1, "{backend}");
    if ns != "beta" {
        assert_eq!(count(db, "ext_beta_x").await, 1, "{backend}");
        assert!(
            table_names(db)
                .await
                .contains(&"seaql_migrations_beta".to_owned())
        );
    }
    if ns != "alpha" {
        assert_eq!(count(db, "ext_alpha_b").await, 1, "{backend}");
    }
}

#[tokio::test]
async fn scoped_fresh_reset_down_and_refresh_leave_every_other_chain_untouched() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let registry = registry_with(vec![]);
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry).await.unwrap();
        seed(&db).await;
        let before = snapshot(&db).await;

        // fresh: alpha's tables are dropped and rebuilt empty
        let report = chainkit::fresh(&db, &registry, "alpha", false)
            .await
            .unwrap();
        assert_eq!(
            names(&report.dropped),
            ["ext_alpha_b", "ext_alpha_a", "seaql_migrations_alpha"],
            "{backend}"
        );
        assert_eq!(report.applied.len(), 2);
        assert_eq!(count(&db, "ext_alpha_a").await, 0);
        assert_others_untouched(&db, &before, "alpha", backend).await;
        assert_eq!(
            snapshot(&db).await,
            before,
            "{backend}: fresh rebuilds the same schema"
        );

        // down: one step of alpha only
        exec(&db, "INSERT INTO ext_alpha_a (id) VALUES (1)").await;
        exec(&db, "INSERT INTO ext_alpha_b (id, a_id) VALUES (1, 1)").await;
        let report = chainkit::down(&db, &registry, "alpha", Some(1))
            .await
            .unwrap();
        let rolled: Vec<&str> = report.applied_to("alpha").collect();
        assert_eq!(rolled, ["m20260201_000002_create_b"]);
        assert!(!table_names(&db).await.contains(&"ext_alpha_b".to_owned()));
        assert_others_untouched(&db, &before, "alpha", backend).await;

        // refresh: back to full, others untouched
        chainkit::refresh(&db, &registry, "alpha", false)
            .await
            .unwrap();
        assert_eq!(snapshot(&db).await, before, "{backend}");

        // reset: alpha leaves no trace, not even its version table
        let report = chainkit::reset(&db, &registry, "alpha", false)
            .await
            .unwrap();
        assert_eq!(report.rolled_back.len(), 2);
        assert_eq!(names(&report.dropped), ["seaql_migrations_alpha"]);
        let tables = table_names(&db).await;
        assert!(
            !tables.iter().any(|t| t.contains("alpha")),
            "{backend}: {tables:?}"
        );
        assert_others_untouched(&db, &before, "alpha", backend).await;

        // beta's table references the engine's: dropping beta leaves users and its row alone
        chainkit::fresh(&db, &registry, "beta", false)
            .await
            .unwrap();
        assert_eq!(count(&db, "ext_beta_x").await, 0);
        assert_eq!(count(&db, "users").await, 1);
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn resetting_the_engine_is_refused_while_workflow_chains_are_applied_unless_all() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let registry = registry_with(vec![]);
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry).await.unwrap();
        seed(&db).await;
        for refused in [
            chainkit::fresh(&db, &registry, "engine", false).await,
            chainkit::reset(&db, &registry, "engine", false).await,
        ] {
            let err = refused.unwrap_err();
            assert!(
                matches!(&err, Error::WorkflowChainsApplied { namespaces, .. } if namespaces == &["alpha", "beta"]),
                "{backend}: {err}"
            );
            assert!(err.to_string().contains("alpha, beta; pass --all"), "{err}");
        }
        assert_eq!(
            count(&db, "users").await,
            1,
            "{backend}: nothing was touched"
        );

        let report = chainkit::reset(&db, &registry, "engine", true)
            .await
            .unwrap();
        let order: Vec<&str> = report
            .rolled_back
            .iter()
            .map(|m| m.namespace.as_str())
            .collect();
        assert_eq!(order, ["beta", "alpha", "alpha", "engine"], "{backend}");
        assert!(table_names(&db).await.is_empty(), "{backend}");

        chainkit::migrate(&db, &registry).await.unwrap();
        seed(&db).await;
        let report = chainkit::fresh(&db, &registry, "engine", true)
            .await
            .unwrap();
        assert_eq!(report.applied.len(), 4, "{backend}");
        assert_eq!(count(&db, "users").await, 0);
        assert_eq!(count(&db, "ext_beta_x").await, 0);
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn fresh_refuses_to_drop_a_table_another_chain_references() {
    for test_db in TestDatabase::all().await {
        let registry = registry_with(vec![]);
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry).await.unwrap();
        // a table of no chain of ours referencing alpha's: dropping alpha would break it
        exec(
            &db,
            "CREATE TABLE audit (id INTEGER PRIMARY KEY, a_id INTEGER, \
             CONSTRAINT fk_audit_a FOREIGN KEY (a_id) REFERENCES ext_alpha_a (id))",
        )
        .await;
        let before = snapshot(&db).await;
        let err = chainkit::fresh(&db, &registry, "alpha", false)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"namespace "alpha": cannot drop "ext_alpha_a": table "audit" of another chain references it"#
        );
        assert_eq!(snapshot(&db).await, before, "{}", test_db.backend);
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// Runs `registry` on a fresh database holding the engine, alpha and beta chains with a row in
/// every table, expecting the chain `ns`'s migration `m20260301_000002_trespass` to be refused
/// for changing `table` as `how`; checks what remains.
async fn assert_refused(registry: Registry, ns: &str, table: &str, how: &str) {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry_with(vec![]))
            .await
            .unwrap();
        seed(&db).await;
        let before = snapshot(&db).await;
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let scope = if ns == "engine" {
            "the engine's tables (no ext_ prefix)".to_owned()
        } else {
            format!("ext_{ns}_*")
        };
        let expected = format!(
            r#"namespace "{ns}": migration m20260301_000002_trespass: table "{table}" is outside {scope} ({how})"#
        );
        let message = err.to_string();
        assert!(message.starts_with(&expected), "{backend}: {message}");
        let Error::Trespass(trespass) = &err else {
            panic!("{backend}: {err:?}")
        };
        let (left_behind, applied) = (&trespass.left_behind, &trespass.applied);
        assert_eq!(
            applied.len(),
            1,
            "{backend}: the first migration was applied"
        );
        let first = if ns == "engine" {
            "ext_engine_ok"
        } else {
            &format!("ext_{ns}_ok")
        };
        let changes = before.changes(&snapshot(&db).await);
        if backend == Backend::MySql {
            // DDL cannot be rolled back: the error lists exactly what remains
            let mut expected_left = changes.clone();
            let own_version_table = chainkit::version_table(ns);
            expected_left.retain(|c| {
                let t = &c.object.name;
                t != first && *t != own_version_table && t != "seaql_migrations"
            });
            // the chain's progress record says which migration it is: created by this run,
            // or altered from the record of the chain's migration before it
            let is_record = |c: &chainkit::ObjectChange| {
                c.object.kind == ObjectKind::ProgressRow && c.object.name == ns
            };
            let left = left_behind.clone().unwrap_or_default();
            assert!(left.iter().any(is_record), "{backend}: {left:?}");
            assert!(expected_left.iter().any(is_record), "{backend}");
            let others = |list: &[chainkit::ObjectChange]| {
                list.iter()
                    .filter(|c| !is_record(c))
                    .cloned()
                    .collect::<Vec<_>>()
            };
            assert_eq!(others(&left), others(&expected_left), "{backend}");
            assert!(
                message.contains("could not be rolled back and left behind: "),
                "{message}"
            );
            for change in &left {
                assert!(message.contains(&change.to_string()), "{message}");
            }
        } else {
            assert!(left_behind.is_none(), "{backend}");
            assert!(
                message.ends_with("the migration was rolled back and left nothing behind"),
                "{message}"
            );
            // only the first, innocent migration remains
            let names: Vec<&str> = changes
                .iter()
                .filter(|c| c.object.kind == ObjectKind::Table)
                .map(|c| c.object.name.as_str())
                .collect();
            let mut expected: Vec<&str> = vec![first];
            if ns != "engine" {
                expected.push(&*Box::leak(chainkit::version_table(ns).into_boxed_str()));
            }
            expected.sort();
            assert_eq!(names, expected, "{backend}");
            assert_eq!(count(&db, "users").await, 1);
            assert_eq!(count(&db, "ext_beta_x").await, 1);
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// A workflow chain whose second migration runs `sql` after creating a table of its own.
fn trespassing(ns: &str, sql: &str) -> Chain {
    sql_chain(
        ns,
        vec![
            SqlMigration::new(
                "m20260301_000001_fine",
                &[&format!(
                    "CREATE TABLE ext_{ns}_ok (id INTEGER PRIMARY KEY)"
                )],
            ),
            SqlMigration::new(
                "m20260301_000002_trespass",
                &[
                    &format!("CREATE TABLE ext_{ns}_own (id INTEGER PRIMARY KEY)"),
                    sql,
                ],
            ),
        ],
    )
}

/// The workflow chain `gamma` whose second migration runs `sql` is refused for changing
/// `table` as `how`.
async fn refused_for_gamma(sql: &str, table: &str, how: &str) {
    assert_refused(
        registry_with(vec![trespassing("gamma", sql)]),
        "gamma",
        table,
        how,
    )
    .await;
}

#[tokio::test]
async fn the_guard_refuses_a_workflow_migration_altering_an_engine_table() {
    let sql = "ALTER TABLE users ADD COLUMN nickname VARCHAR(20)";
    refused_for_gamma(sql, "users", "altered").await;
}

#[tokio::test]
async fn the_guard_refuses_a_workflow_migration_indexing_an_engine_table() {
    let sql = "CREATE INDEX idx_users_name ON users (name)";
    refused_for_gamma(sql, "users", "altered").await;
}

#[tokio::test]
async fn the_guard_refuses_a_workflow_migration_creating_an_unprefixed_table() {
    let sql = "CREATE TABLE invoices (id INTEGER PRIMARY KEY)";
    refused_for_gamma(sql, "invoices", "created").await;
}

#[tokio::test]
async fn the_guard_refuses_a_workflow_migration_dropping_another_projects_table() {
    let sql = "DROP TABLE ext_beta_x";
    refused_for_gamma(sql, "ext_beta_x", "dropped").await;
}

#[tokio::test]
async fn the_guard_refuses_a_workflow_migration_creating_another_projects_table() {
    let sql = "CREATE TABLE ext_alpha_c (id INTEGER PRIMARY KEY)";
    refused_for_gamma(sql, "ext_alpha_c", "created").await;
}

#[tokio::test]
async fn the_guard_refuses_a_workflow_migration_creating_another_version_table() {
    let sql = "CREATE TABLE seaql_migrations_other (version VARCHAR(20))";
    refused_for_gamma(sql, "seaql_migrations_other", "created").await;
}

/// The engine chain with a first migration running `first` and a second running `second`.
fn engine_running(first: &str, second: &str) -> Chain {
    sql_chain(
        "engine",
        vec![
            SqlMigration::new(
                "m20260101_000001_users",
                &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
            ),
            SqlMigration::new("m20260301_000001_fine", &[first]),
            SqlMigration::new("m20260301_000002_trespass", &[second]),
        ],
    )
}

#[tokio::test]
async fn the_guard_refuses_an_engine_migration_touching_an_ext_table() {
    let alter = "ALTER TABLE ext_alpha_a ADD COLUMN note VARCHAR(20)";
    let cases = [
        // an ext_ table the engine creates is refused like one it alters
        (
            "CREATE TABLE ext_engine_ok (id INTEGER PRIMARY KEY)",
            "m20260301_000001_fine",
            "ext_engine_ok",
            "created",
        ),
        (
            "CREATE TABLE audit (id INTEGER PRIMARY KEY)",
            "m20260301_000002_trespass",
            "ext_alpha_a",
            "altered",
        ),
    ];
    for (first, migration, table, how) in cases {
        let registry =
            Registry::new(engine_running(first, alter), [alpha_chain(), beta_chain()]).unwrap();
        for test_db in TestDatabase::all().await {
            let db = test_db.connect().await;
            chainkit::migrate(&db, &registry_with(vec![]))
                .await
                .unwrap();
            let err = chainkit::migrate(&db, &registry).await.unwrap_err();
            let expected = format!(
                "namespace \"engine\": migration {migration}: table \"{table}\" is outside the \
                 engine's tables (no ext_ prefix) ({how})"
            );
            assert!(
                err.to_string().starts_with(&expected),
                "{}: {err}",
                test_db.backend
            );
            db.close().await.ok();
            test_db.drop_database().await;
        }
    }
}

#[tokio::test]
async fn a_version_table_that_cannot_be_read_is_named() {
    for test_db in TestDatabase::all().await {
        let db = test_db.connect().await;
        let registry = registry_with(vec![]);
        chainkit::migrate(&db, &registry).await.unwrap();
        exec(&db, "DROP TABLE seaql_migrations_beta").await;
        exec(&db, "CREATE TABLE seaql_migrations_beta (name VARCHAR(20))").await;
        exec(&db, "INSERT INTO seaql_migrations_beta (name) VALUES ('x')").await;
        let err = chainkit::status(&db, &registry).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"namespace "beta": cannot read seaql_migrations_beta: "#),
            "{}: {err}",
            test_db.backend
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn status_reports_tables_of_unregistered_namespaces_without_failing() {
    for test_db in TestDatabase::all().await {
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry_with(vec![]))
            .await
            .unwrap();
        // a registry from which beta was removed
        let without_beta = Registry::new(engine_chain(), [alpha_chain()]).unwrap();
        let report = chainkit::status(&db, &without_beta).await.unwrap();
        assert_eq!(report.chains.len(), 2);
        assert_eq!(report.unregistered.len(), 1, "{}", test_db.backend);
        assert_eq!(report.unregistered[0].namespace, "beta");
        assert_eq!(
            report.unregistered[0].tables,
            ["ext_beta_x", "seaql_migrations_beta"]
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

async fn pg_types(db: &DatabaseConnection) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT t.typname::text AS n FROM pg_type t JOIN pg_namespace s ON s.oid = t.typnamespace \
             WHERE t.typtype = 'e' AND s.nspname = current_schema() ORDER BY 1",
        ))
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| r.try_get::<String>("", "n").unwrap())
        .collect()
}

#[tokio::test]
async fn fresh_and_reset_drop_the_postgres_types_only_their_chain_uses() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let pg = backend == Backend::Postgres;
        // on PostgreSQL the column is an enum type of the chain's own; elsewhere plain text
        let (create, drop, column_type) = if pg {
            (
                "CREATE TYPE ext_delta_mood AS ENUM ('calm', 'busy')",
                "DROP TYPE ext_delta_mood",
                "ext_delta_mood",
            )
        } else {
            (
                "CREATE TABLE ext_delta_unused (id INTEGER PRIMARY KEY)",
                "DROP TABLE ext_delta_unused",
                "VARCHAR(10)",
            )
        };
        let table =
            format!("CREATE TABLE ext_delta_t (id INTEGER PRIMARY KEY, mood {column_type})");
        let delta = sql_chain(
            "delta",
            vec![
                SqlMigration::new("m20260401_000001_create_t", &[create, &table])
                    .down(&["DROP TABLE ext_delta_t", drop]),
            ],
        );
        let registry = registry_with(vec![delta]);
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry).await.unwrap();
        if pg {
            // a type of the engine's, and one the engine shares with nobody
            exec(&db, "CREATE TYPE engine_mood AS ENUM ('on', 'off')").await;
            exec(&db, "ALTER TABLE users ADD COLUMN mood engine_mood").await;
            assert_eq!(pg_types(&db).await, ["engine_mood", "ext_delta_mood"]);
        }
        let report = chainkit::fresh(&db, &registry, "delta", false)
            .await
            .unwrap();
        assert!(names(&report.dropped).contains(&"ext_delta_t"), "{backend}");
        if pg {
            assert_eq!(pg_types(&db).await, ["engine_mood", "ext_delta_mood"]);
        }
        chainkit::reset(&db, &registry, "delta", false)
            .await
            .unwrap();
        exec(&db, "DROP TABLE IF EXISTS ext_delta_t").await;
        exec(&db, "DROP TABLE IF EXISTS ext_delta_unused").await;
        chainkit::migrate(&db, &registry).await.unwrap();
        let report = chainkit::fresh(&db, &registry, "delta", false)
            .await
            .unwrap();
        assert_eq!(report.applied.len(), 1, "{backend}");
        let tables = table_names(&db).await;
        assert!(tables.contains(&"ext_delta_t".to_owned()), "{backend}");
        assert!(tables.contains(&"users".to_owned()), "{backend}");
        if pg {
            // the chain's type was dropped and created again; the engine's was never touched
            assert_eq!(pg_types(&db).await, ["engine_mood", "ext_delta_mood"]);
            let err = db
                .execute_unprepared("DROP TYPE engine_mood")
                .await
                .unwrap_err();
            assert!(err.to_string().contains("depend on it"), "{err}");
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
