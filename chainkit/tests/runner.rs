//! The runner against real databases: SQLite always, PostgreSQL and MySQL when
//! `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` are set. Each test works in a fresh database.

use chainkit::testing::{Backend, SqlMigration, TestDatabase, sql_chain, table_names};
use chainkit::{Chain, Error, Registry};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const CREATE_USERS: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY)";

fn engine_chain() -> Chain {
    sql_chain(
        "engine",
        vec![
            SqlMigration::new("m20260101_000001_users", &[CREATE_USERS]),
            SqlMigration::new(
                "m20260101_000002_instances",
                &["CREATE TABLE workflow_instances (id INTEGER PRIMARY KEY)"],
            ),
        ],
    )
}

fn chain_creating(ns: &str, tables: &[&str]) -> Chain {
    let migrations = tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            SqlMigration::new(
                &format!("m20260201_00000{}_create_{t}", i + 1),
                &[&format!(
                    "CREATE TABLE ext_{ns}_{t} (id INTEGER PRIMARY KEY)"
                )],
            )
        })
        .collect();
    sql_chain(ns, migrations)
}

/// Creates `ext_alpha_a`, then fails in its second migration after creating `ext_alpha_b`.
fn chain_that_fails_midway() -> Chain {
    sql_chain(
        "alpha",
        vec![
            SqlMigration::new(
                "m20260201_000001_create_a",
                &["CREATE TABLE ext_alpha_a (id INTEGER PRIMARY KEY)"],
            ),
            SqlMigration::new(
                "m20260201_000002_create_b_then_fail",
                &[
                    "CREATE TABLE ext_alpha_b (id INTEGER PRIMARY KEY)",
                    "INSERT INTO no_such_table VALUES (1)",
                ],
            ),
            SqlMigration::new(
                "m20260201_000003_never_reached",
                &["CREATE TABLE ext_alpha_c (id INTEGER PRIMARY KEY)"],
            ),
        ],
    )
}

/// The tables, without the runner's progress table (which MySQL runs create).
async fn tables(db: &DatabaseConnection) -> Vec<String> {
    let mut names = table_names(db).await;
    names.retain(|t| t != "seaql_migrations_in_progress");
    names
}

async fn versions(db: &DatabaseConnection, table: &str) -> Vec<String> {
    let sql = format!("SELECT version FROM {table} ORDER BY version");
    db.query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .map(|rows| {
            rows.into_iter()
                .map(|r| r.try_get::<String>("", "version").unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_fresh_database_gets_every_chain_in_order_and_a_second_run_applies_nothing() {
    for test_db in TestDatabase::all().await {
        let registry = Registry::new(
            engine_chain(),
            [
                chain_creating("zeta", &["z"]),
                chain_creating("alpha", &["a", "b"]),
            ],
        )
        .unwrap();
        let db = test_db.connect().await;
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        let order: Vec<(&str, &str)> = report
            .applied
            .iter()
            .map(|a| (a.namespace.as_str(), a.migration.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("engine", "m20260101_000001_users"),
                ("engine", "m20260101_000002_instances"),
                ("alpha", "m20260201_000001_create_a"),
                ("alpha", "m20260201_000002_create_b"),
                ("zeta", "m20260201_000001_create_z"),
            ],
            "{}",
            test_db.backend
        );
        assert_eq!(
            tables(&db).await,
            [
                "ext_alpha_a",
                "ext_alpha_b",
                "ext_zeta_z",
                "seaql_migrations",
                "seaql_migrations_alpha",
                "seaql_migrations_zeta",
                "users",
                "workflow_instances",
            ]
        );
        assert!(report.chains.iter().all(|c| c.pending().next().is_none()));

        let again = chainkit::migrate(&db, &registry).await.unwrap();
        assert!(again.applied.is_empty(), "{}", test_db.backend);
        assert_eq!(
            again.chains,
            chainkit::status(&db, &registry).await.unwrap().chains
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_failing_workflow_migration_is_named_and_stops_the_chains_after_it() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let registry = Registry::new(
            engine_chain(),
            [chain_that_fails_midway(), chain_creating("beta", &["x"])],
        )
        .unwrap();
        let db = test_db.connect().await;
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(
                r#"namespace "alpha": migration m20260201_000002_create_b_then_fail (up): "#
            ),
            "{backend}: {message}"
        );
        assert!(message.contains("no_such_table"), "{backend}: {message}");
        let Error::MigrationFailed { rolled_back, .. } = &err else {
            panic!("{backend}: {err:?}")
        };
        let applied: Vec<&str> = err.applied().iter().map(|a| a.migration.as_str()).collect();
        assert_eq!(
            applied,
            [
                "m20260101_000001_users",
                "m20260101_000002_instances",
                "m20260201_000001_create_a"
            ]
        );
        let tables = table_names(&db).await;
        assert!(tables.contains(&"ext_alpha_a".to_owned()), "{backend}");
        assert!(
            !tables.iter().any(|t| t.starts_with("ext_beta")),
            "{backend}: {tables:?}"
        );
        assert!(
            !tables.contains(&"seaql_migrations_beta".to_owned()),
            "{backend}"
        );
        assert!(!tables.contains(&"ext_alpha_c".to_owned()), "{backend}");
        assert_eq!(
            versions(&db, "seaql_migrations_alpha").await,
            ["m20260201_000001_create_a"]
        );
        if backend == Backend::MySql {
            // MySQL cannot roll DDL back: the error says so, and the table is left behind
            assert!(!rolled_back);
            assert!(tables.contains(&"ext_alpha_b".to_owned()));
        } else {
            assert!(rolled_back, "{backend}");
            assert!(
                !tables.contains(&"ext_alpha_b".to_owned()),
                "{backend}: {tables:?}"
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_failing_engine_chain_runs_no_workflow_chain() {
    for test_db in TestDatabase::all().await {
        let engine = sql_chain(
            "engine",
            vec![
                SqlMigration::new("m20260101_000001_users", &[CREATE_USERS]),
                SqlMigration::new("m20260101_000002_broken", &["THIS IS NOT SQL"]),
            ],
        );
        let registry = Registry::new(engine, [chain_creating("alpha", &["a"])]).unwrap();
        let db = test_db.connect().await;
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"namespace "engine": migration m20260101_000002_broken (up): "#),
            "{err}"
        );
        assert_eq!(
            tables(&db).await,
            ["seaql_migrations", "users"],
            "{}",
            test_db.backend
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_version_row_unknown_to_this_build_stops_everything_before_it_runs() {
    for test_db in TestDatabase::all().await {
        let db = test_db.connect().await;
        let old = Registry::new(engine_chain(), [chain_creating("alpha", &["a", "b"])]).unwrap();
        chainkit::migrate(&db, &old).await.unwrap();
        // an older build: alpha knows only its first migration, and the engine has a new one
        let engine = sql_chain(
            "engine",
            vec![
                SqlMigration::new("m20260101_000001_users", &[CREATE_USERS]),
                SqlMigration::new(
                    "m20260101_000002_instances",
                    &["CREATE TABLE workflow_instances (id INTEGER PRIMARY KEY)"],
                ),
                SqlMigration::new(
                    "m20260101_000003_new",
                    &["CREATE TABLE audit (id INTEGER PRIMARY KEY)"],
                ),
            ],
        );
        let older = Registry::new(engine, [chain_creating("alpha", &["a"])]).unwrap();
        let err = chainkit::migrate(&db, &older).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "namespace \"alpha\": seaql_migrations_alpha records migration \
             m20260201_000002_create_b, which this build does not have: the database was \
             migrated by a newer build of this chain, or the migration was removed from its code \
             (if so, and nothing of it remains, `engine migrate resolve --ns alpha \
             m20260201_000002_create_b --rolled-back` forgets it)"
        );
        assert!(!table_names(&db).await.contains(&"audit".to_owned()));
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_version_table_made_by_hand_with_other_column_types_is_named_or_read_where_its_values_fit()
 {
    for test_db in TestDatabase::all().await {
        let db = test_db.connect().await;
        let registry = Registry::new(engine_chain(), [chain_creating("alpha", &["a"])]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        // alpha's version table made again by hand, its `applied_at` a decimal
        for sql in [
            "DROP TABLE seaql_migrations_alpha",
            "CREATE TABLE seaql_migrations_alpha (version VARCHAR(255) NOT NULL PRIMARY KEY, \
             applied_at DECIMAL(20, 2) NOT NULL)",
            "INSERT INTO seaql_migrations_alpha VALUES ('m20260201_000001_create_a', 1)",
        ] {
            db.execute_unprepared(sql).await.unwrap();
        }
        let result = chainkit::migrate(&db, &registry).await;
        if test_db.backend == Backend::Sqlite {
            // a decimal column keeps a whole number as an integer there
            assert!(result.unwrap().applied.is_empty());
        } else {
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::UnreadableVersionTable { namespace, .. } if namespace == "alpha"),
                "{err}"
            );
            assert!(
                err.to_string()
                    .starts_with("namespace \"alpha\": cannot read seaql_migrations_alpha: "),
                "{err}"
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn declared_dependencies_run_first_whatever_the_names() {
    for test_db in TestDatabase::all().await {
        let registry = Registry::new(
            engine_chain(),
            [
                chain_creating("alpha", &["a"]).depends_on(["zeta"]),
                chain_creating("zeta", &["z"]),
                chain_creating("mid", &["m"]),
            ],
        )
        .unwrap();
        let db = test_db.connect().await;
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        let chains: Vec<&str> = report
            .applied
            .iter()
            .map(|a| a.namespace.as_str())
            .filter(|ns| *ns != "engine")
            .collect();
        assert_eq!(chains, ["mid", "zeta", "alpha"]);
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_migration_that_opts_out_of_transactions_runs_outside_one() {
    for test_db in TestDatabase::all().await {
        // statements that fail inside a transaction
        let outside_only = match test_db.backend {
            Backend::Sqlite => "VACUUM",
            Backend::Postgres => "CREATE INDEX CONCURRENTLY idx_ext_alpha_a_id ON ext_alpha_a (id)",
            Backend::MySql => "CREATE INDEX idx_ext_alpha_a_id ON ext_alpha_a (id)",
        };
        let alpha = sql_chain(
            "alpha",
            vec![
                SqlMigration::new(
                    "m20260201_000001_create_a",
                    &["CREATE TABLE ext_alpha_a (id INTEGER PRIMARY KEY)"],
                ),
                SqlMigration::new("m20260201_000002_outside", &[outside_only])
                    .use_transaction(Some(false)),
                SqlMigration::new(
                    "m20260201_000003_create_b",
                    &["CREATE TABLE ext_alpha_b (id INTEGER PRIMARY KEY)"],
                ),
            ],
        );
        let registry = Registry::new(engine_chain(), [alpha]).unwrap();
        let db = test_db.connect().await;
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        assert_eq!(report.applied.len(), 5, "{}", test_db.backend);
        assert_eq!(versions(&db, "seaql_migrations_alpha").await.len(), 3);
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_start_with_nothing_to_do_sends_one_statement_and_takes_no_lock() {
    use std::sync::atomic::Ordering;
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let registry = Registry::new(
            engine_chain(),
            [
                chain_creating("alpha", &["a"]),
                chain_creating("beta", &["b"]),
            ],
        )
        .unwrap();
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry).await.unwrap();
        db.close().await.ok();

        let mut counted = test_db.connect().await;
        let count = chainkit::testing::count_statements(&mut counted);
        // another engine holds the lock: a start with nothing to do does not wait for it
        let holder = test_db.connect().await;
        let held = chainkit::lock(&holder, std::time::Duration::from_secs(5))
            .await
            .unwrap();
        let report = chainkit::migrate_with(&counted, &registry, std::time::Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert!(report.applied.is_empty());
        assert_eq!(report.chains.len(), 3);
        assert_eq!(count.load(Ordering::SeqCst), 1, "{backend}");
        held.release(&holder).await.unwrap();
        holder.close().await.ok();
        counted.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_programs_own_pool_of_many_connections_gets_the_lock_released() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let registry =
            Registry::new(engine_chain(), [chain_creating("alpha", &["a", "b"])]).unwrap();
        // what a plain program opens: SeaORM's default pool of several connections
        let pool = sea_orm::Database::connect(&test_db.url).await.unwrap();
        let report = chainkit::migrate(&pool, &registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(report.applied.len(), 4, "{backend}");
        // the lock went with the run: another engine takes it at once
        let other = test_db.connect().await;
        let held = chainkit::lock(&other, std::time::Duration::from_secs(1))
            .await
            .unwrap_or_else(|e| panic!("{backend}: the lock was left held: {e}"));
        held.release(&other).await.unwrap();
        other.close().await.ok();
        pool.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_mysql_connection_for_migrations_keeps_a_large_runs_statements_prepared() {
    use sea_orm::sqlx::Connection as _;
    for test_db in TestDatabase::all().await {
        if test_db.backend != Backend::MySql {
            test_db.drop_database().await;
            continue;
        }
        // SeaORM prepares every statement; sqlx keeps 100 by default, and closing one to make
        // room stalls the next statement for the server's delayed acknowledgement (~40 ms)
        let db = test_db.connect().await;
        for i in 0..300 {
            let stmt = Statement::from_sql_and_values(
                db.get_database_backend(),
                format!("SELECT ? + {i} AS n"),
                [1i64.into()],
            );
            db.query_one_raw(stmt).await.unwrap();
        }
        let conn = db.get_mysql_connection_pool().acquire().await.unwrap();
        let kept = conn.cached_statements_size();
        drop(conn);
        assert!(kept >= 300, "only {kept} statements kept");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn migration_names_with_any_characters_are_recorded_exactly() {
    // on MySQL a plain name's version row goes with the next migration's progress record as
    // one text; these names go as prepared statements instead
    let names = [
        "m20260201_000001_o'brien",
        "m20260201_000002_back\\slash",
        "m20260201_000003_plain",
        "m20260201_000004_\"quoted\"; DROP TABLE users; --",
        "m20260201_000005_plain_again",
    ];
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let migrations = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                SqlMigration::new(
                    n,
                    &[&format!(
                        "CREATE TABLE ext_odd_t{i} (id INTEGER PRIMARY KEY)"
                    )],
                )
            })
            .collect();
        let registry = Registry::new(engine_chain(), [sql_chain("odd", migrations)]).unwrap();
        let report = chainkit::migrate(&db, &registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(
            report.applied_to("odd").collect::<Vec<_>>(),
            names,
            "{backend}"
        );
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT version FROM seaql_migrations_odd",
            ))
            .await
            .unwrap();
        let mut recorded: Vec<String> = rows
            .iter()
            .map(|r| r.try_get_by_index(0).unwrap())
            .collect();
        recorded.sort();
        let mut expected: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        expected.sort();
        assert_eq!(recorded, expected, "{backend}");
        assert!(
            table_names(&db).await.contains(&"users".to_owned()),
            "{backend}"
        );
        // nothing counts as unfinished, and a second start has nothing to do
        let status = chainkit::status(&db, &registry).await.unwrap();
        for chain in &status.chains {
            assert!(
                chain.interrupted.is_none(),
                "{backend}: {:?}",
                chain.interrupted
            );
        }
        let again = chainkit::migrate(&db, &registry).await.unwrap();
        assert!(again.applied.is_empty(), "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// A chain whose migrations each copy the progress record of their namespace into a table of
/// their own while they run (outside any transaction, so that every backend keeps a record),
/// the second one failing when `fail` is set.
fn chain_copying_its_record(ns: &str, fail: bool) -> Chain {
    let copy = |i: usize| {
        format!(
            "CREATE TABLE ext_{ns}_seen{i} AS SELECT version FROM seaql_migrations_in_progress \
             WHERE namespace = '{ns}'"
        )
    };
    let (first, second) = (copy(1), copy(2));
    let mut second = vec![second.as_str()];
    if fail {
        second.push("INSERT INTO no_such_table VALUES (1)");
    }
    sql_chain(
        ns,
        vec![
            SqlMigration::new("m20260201_000001_first", &[&first]).use_transaction(Some(false)),
            SqlMigration::new("m20260201_000002_second", &second).use_transaction(Some(false)),
        ],
    )
}

#[tokio::test]
async fn each_migration_outside_a_transaction_runs_with_its_own_progress_record() {
    // on MySQL a chain's last version row goes with the next chain's first record, in one
    // commit: the record must name the migration running, in every chain, and none remain
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let registry = Registry::new(
            engine_chain(),
            [
                chain_copying_its_record("alpha", false),
                chain_copying_its_record("beta", true),
            ],
        )
        .unwrap();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        assert!(
            err.to_string()
                .starts_with(r#"namespace "beta": migration m20260201_000002_second (up): "#),
            "{backend}: {err}"
        );
        for ns in ["alpha", "beta"] {
            for (i, migration) in [(1, "first"), (2, "second")] {
                assert_eq!(
                    versions(&db, &format!("ext_{ns}_seen{i}")).await,
                    [format!("m20260201_00000{i}_{migration}")],
                    "{backend}: {ns}"
                );
            }
        }
        // the failed one stays recorded as interrupted, nothing else
        let status = chainkit::status(&db, &registry).await.unwrap();
        for chain in &status.chains {
            let interrupted = chain.interrupted.as_ref().map(|i| i.migration.as_str());
            let expected = (chain.namespace == "beta").then_some("m20260201_000002_second");
            assert_eq!(interrupted, expected, "{backend}: {}", chain.namespace);
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
