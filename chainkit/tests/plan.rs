//! `plan` against real databases: SQLite always, PostgreSQL and MySQL when `TEST_POSTGRES_URL`
//! / `TEST_MYSQL_URL` are set. Each test works in a fresh database, and checks that the
//! database is exactly as it was afterwards.

mod corpus;
mod plan_fixtures;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use std::time::Duration;

use chainkit::plan::Rehearsal;
use chainkit::testing::{
    Backend, SqlMigration, TestDatabase, run_sql_script, schema_objects, sql_chain,
};
use chainkit::{Chain, FindingKind, Plan, Registry, Snapshot};
use sea_orm::sea_query::{Alias, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

const TIMEOUT: Duration = Duration::from_secs(10);

async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

async fn plan(test_db: &TestDatabase, registry: &Registry, ns: Option<&str>) -> Plan {
    let db = chainkit::connect_for_plan(&test_db.url, TIMEOUT, Some(TIMEOUT))
        .await
        .unwrap();
    let plan = chainkit::plan(&db, &test_db.url, registry, ns)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", test_db.backend));
    db.close().await.ok();
    plan
}

/// The whole schema and every version row.
async fn snapshot(db: &DatabaseConnection) -> Snapshot {
    chainkit::snapshot(db).await.unwrap()
}

/// Reads how many users there are, then inserts one with bound values: a data migration.
struct SeedUsers;

impl MigrationName for SeedUsers {
    fn name(&self) -> &str {
        "m20260101_000002_seed_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SeedUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        db.query_one_raw(Statement::from_string(
            backend,
            "SELECT COUNT(*) FROM users",
        ))
        .await?;
        let insert = Query::insert()
            .into_table(Alias::new("users"))
            .columns([Alias::new("id"), Alias::new("name")])
            .values_panic([7.into(), "o'brien".into()])
            .to_owned();
        db.execute(&insert).await.map(|_| ())
    }
}

fn engine_chain(with_seed: bool) -> Chain {
    Chain::from_fn("engine", chainkit::ENGINE_VERSION_TABLE, move || {
        let mut all: Vec<Box<dyn MigrationTrait>> = vec![Box::new(SqlMigration::new(
            "m20260101_000001_users",
            &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
        ))];
        if with_seed {
            all.push(Box::new(SeedUsers));
        }
        all
    })
}

fn rw_chain() -> Chain {
    sql_chain(
        "rw",
        vec![
            SqlMigration::new(
                "m20260201_000001_items",
                &[
                    "CREATE TABLE ext_rw_items (id INTEGER PRIMARY KEY, owner INTEGER, label VARCHAR(20))",
                    "CREATE INDEX ext_rw_items_owner ON ext_rw_items (owner)",
                ],
            ),
            SqlMigration::new(
                "m20260201_000002_view",
                &["CREATE VIEW ext_rw_labels AS SELECT label FROM ext_rw_items"],
            ),
        ],
    )
}

/// Applies the engine's first migration and `first`, the first migration of the chain `ns`.
async fn apply_first(db: &DatabaseConnection, ns: &str, first: &SqlMigration) {
    let chains = vec![engine_chain(false), sql_chain(ns, vec![first.clone()])];
    chainkit::migrate(db, &registry(chains)).await.unwrap();
}

/// Applies the engine's first migration and the first of the fixture chain `pf`.
async fn apply_first_of_pf(db: &DatabaseConnection) {
    let base = Chain::from_fn("pf", &chainkit::version_table("pf"), || {
        vec![plan_fixtures::MIGRATIONS.boxed().remove(0)]
    });
    chainkit::migrate(db, &registry(vec![engine_chain(false), base]))
        .await
        .unwrap();
}

fn registry(chains: Vec<Chain>) -> Registry {
    let mut chains = chains.into_iter();
    let engine = chains.next().expect("the engine's chain");
    Registry::new(engine, chains).unwrap()
}

#[tokio::test]
async fn plan_rehearses_every_pending_migration_in_run_order_and_changes_nothing() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        // the engine's first migration is applied; its seed, and the workflow chain, pend
        chainkit::migrate(&db, &registry(vec![engine_chain(false)]))
            .await
            .unwrap();
        exec(&db, "INSERT INTO users (id, name) VALUES (1, 'root')").await;
        let before = snapshot(&db).await;
        let full = registry(vec![engine_chain(true), rw_chain()]);

        let plan = plan(&test_db, &full, None).await;

        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        assert_eq!(count(&db, "users").await, 1, "{backend}: no row kept");
        assert!(plan.failure.is_none(), "{backend}: {:?}", plan.failure);
        let order: Vec<(&str, &str)> = plan
            .migrations
            .iter()
            .map(|m| (m.namespace.as_str(), m.migration.as_str()))
            .collect();
        assert_eq!(
            order,
            [
                ("engine", "m20260101_000002_seed_users"),
                ("rw", "m20260201_000001_items"),
                ("rw", "m20260201_000002_view"),
            ],
            "{backend}"
        );
        let expected = match backend {
            Backend::MySql => Rehearsal::Scratch {
                reason: "MySQL commits every DDL statement, so nothing may run on the database \
                         itself"
                    .into(),
            },
            _ => Rehearsal::Transaction,
        };
        assert_eq!(plan.rehearsal, expected, "{backend}");

        // the data migration: its read is marked, its insert carries its values
        let seed = &plan.migrations[0];
        assert!(seed.reads(), "{backend}: {seed:?}");
        assert!(seed.statements[0].read, "{backend}: {seed:?}");
        let insert = &seed.statements[1];
        assert!(!insert.read, "{backend}");
        assert!(
            insert.sql.contains("INSERT INTO") && insert.sql.contains("brien"),
            "{backend}: {}",
            insert.sql
        );
        assert!(
            !insert.sql.contains('?') && !insert.sql.contains("$1"),
            "{backend}: values written in: {}",
            insert.sql
        );
        assert!(
            seed.changes.is_empty(),
            "{backend}: a seed changes no schema"
        );

        // the workflow chain's statements, exactly as sent, and what they did
        let items = &plan.migrations[1];
        assert_eq!(
            items
                .statements
                .iter()
                .map(|s| s.sql.as_str())
                .collect::<Vec<_>>(),
            [
                "CREATE TABLE ext_rw_items (id INTEGER PRIMARY KEY, owner INTEGER, label VARCHAR(20))",
                "CREATE INDEX ext_rw_items_owner ON ext_rw_items (owner)",
            ],
            "{backend}"
        );
        assert_eq!(
            items.changes,
            ["table \"ext_rw_items\" created"],
            "{backend}"
        );
        assert!(items.trespasses.is_empty(), "{backend}");
        assert_eq!(
            plan.migrations[2].changes,
            ["view \"ext_rw_labels\" created"],
            "{backend}"
        );
        // a second plan sees the same: nothing was recorded
        let again = self::plan(&test_db, &full, None).await;
        assert_eq!(again.migrations.len(), 3, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn findings_name_what_a_migration_drops_and_acknowledged_ones_pass_deny() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        apply_first_of_pf(&db).await;
        exec(
            &db,
            "INSERT INTO ext_pf_items (id, note, qty) VALUES (1, 'x', 2)",
        )
        .await;
        let before = snapshot(&db).await;
        let full = registry(vec![engine_chain(false), plan_fixtures::chain()]);

        let plan = plan(&test_db, &full, Some("pf")).await;

        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        let found: Vec<(&str, &str, FindingKind, bool)> = plan
            .migrations
            .iter()
            .flat_map(|m| &m.findings)
            .map(|f| (f.code.as_str(), f.object.as_str(), f.kind, f.acknowledged))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "column-dropped",
                    r#"column "ext_pf_items"."note""#,
                    FindingKind::Destructive,
                    true
                ),
                (
                    "column-dropped",
                    r#"column "ext_pf_items"."qty""#,
                    FindingKind::Destructive,
                    false
                ),
            ],
            "{backend}"
        );
        assert_eq!(
            plan.denied(&[FindingKind::Destructive]).count(),
            1,
            "{backend}: the acknowledged one passes"
        );
        assert_eq!(
            plan.denied(&[FindingKind::Blocking]).count(),
            0,
            "{backend}"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn plan_deny_fails_naming_a_finding_no_migration_acknowledges() {
    use chainkit::cli::{DatabaseArgs, Manages, MigrateCommand, run_migrate};
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        apply_first_of_pf(&db).await;
        let before = snapshot(&db).await;
        let full = registry(vec![engine_chain(false), plan_fixtures::chain()]);
        let args = DatabaseArgs {
            database_url: test_db.url.clone(),
            connect_timeout: 10,
            lock_timeout: 10,
            ddl_lock_timeout: 10,
            url_on_command_line: true,
        };
        let plan_denying = |deny: Vec<FindingKind>| MigrateCommand::Plan {
            ns: None,
            json: false,
            sql: false,
            deny,
        };
        let denied = run_migrate(
            &full,
            &args,
            plan_denying(vec![FindingKind::Destructive]),
            Manages::All,
        )
        .await
        .expect_err("a destructive finding no migration acknowledges");
        assert!(
            matches!(&denied, chainkit::Error::PlanDenied { count: 1, first, .. }
                if first.contains("m20260301_000003_drop_qty") && first.contains("\"qty\"")),
            "{backend}: {denied}"
        );
        assert!(!denied.is_usage(), "{backend}: exit 1, not 2");
        run_migrate(
            &full,
            &args,
            plan_denying(vec![FindingKind::Blocking, FindingKind::Incompatible]),
            Manages::All,
        )
        .await
        .unwrap_or_else(|e| panic!("{backend}: {e}"));
        run_migrate(&full, &args, plan_denying(vec![]), Manages::All)
            .await
            .unwrap_or_else(|e| panic!("{backend}: without --deny plan passes: {e}"));
        // the lock was released, and nothing changed
        assert_eq!(snapshot(&db).await, before, "{backend}");
        chainkit::migrate(&db, &full).await.unwrap();
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn data_dependent_blocking_and_renaming_changes_are_found() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let create = SqlMigration::new(
            "m20260201_000001_items",
            &["CREATE TABLE ext_fd_items (id INTEGER PRIMARY KEY, code VARCHAR(20), qty INTEGER)"],
        );
        apply_first(&db, "fd", &create).await;
        let not_null = match backend {
            Backend::Postgres => "ALTER TABLE ext_fd_items ALTER COLUMN qty SET NOT NULL",
            Backend::MySql => "ALTER TABLE ext_fd_items MODIFY qty INTEGER NOT NULL",
            // SQLite cannot alter a column: a plain index stands in
            Backend::Sqlite => "CREATE INDEX ext_fd_items_plain ON ext_fd_items (qty)",
        };
        let chain = sql_chain(
            "fd",
            vec![
                create,
                SqlMigration::new(
                    "m20260201_000002_tighten",
                    &[
                        not_null,
                        "CREATE UNIQUE INDEX ext_fd_items_code ON ext_fd_items (code)",
                        "ALTER TABLE ext_fd_items RENAME COLUMN qty TO quantity",
                    ],
                ),
            ],
        );
        let plan = plan(&test_db, &registry(vec![engine_chain(false), chain]), None).await;
        let codes: Vec<(&str, FindingKind)> = plan.migrations[0]
            .findings
            .iter()
            .map(|f| (f.code.as_str(), f.kind))
            .collect();
        let has = |code: &str, kind: FindingKind| codes.contains(&(code, kind));
        assert!(
            has("unique-added", FindingKind::DataDependent),
            "{backend}: {codes:?}"
        );
        assert!(
            has("column-renamed", FindingKind::Incompatible),
            "{backend}: {codes:?}"
        );
        assert!(
            !has("column-dropped", FindingKind::Destructive),
            "{backend}: {codes:?}"
        );
        match backend {
            Backend::Postgres => {
                assert!(
                    has("not-null-added", FindingKind::DataDependent),
                    "{codes:?}"
                );
                assert!(
                    has(
                        "squawk:require-concurrent-index-creation",
                        FindingKind::Blocking
                    ),
                    "a plain CREATE INDEX on an existing table: {codes:?}"
                );
            }
            Backend::MySql => {
                assert!(
                    has("not-null-added", FindingKind::DataDependent),
                    "{codes:?}"
                );
            }
            Backend::Sqlite => {}
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_migration_that_would_fail_is_named_and_nothing_changes() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let before = snapshot(&db).await;
        let chain = sql_chain(
            "ff",
            vec![
                SqlMigration::new(
                    "m20260201_000001_items",
                    &["CREATE TABLE ext_ff_items (id INTEGER PRIMARY KEY)"],
                ),
                SqlMigration::new(
                    "m20260201_000002_broken",
                    &["INSERT INTO ext_ff_no_such_table VALUES (1)"],
                ),
                SqlMigration::new(
                    "m20260201_000003_never",
                    &["CREATE TABLE ext_ff_never (id INTEGER PRIMARY KEY)"],
                ),
            ],
        );
        let plan = plan(
            &test_db,
            &registry(vec![engine_chain(false), chain]),
            Some("ff"),
        )
        .await;
        let failure = plan.failure.as_ref().expect("a failure");
        assert_eq!(failure.migration, "m20260201_000002_broken", "{backend}");
        assert!(
            failure.message.contains("ext_ff_no_such_table"),
            "{backend}: {}",
            failure.message
        );
        assert_eq!(plan.migrations.len(), 2, "{backend}: up to the failure");
        assert_eq!(
            plan.migrations[1].statements[0].sql, "INSERT INTO ext_ff_no_such_table VALUES (1)",
            "{backend}"
        );
        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_migration_outside_a_transaction_is_rehearsed_on_a_scratch_database() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let create = SqlMigration::new(
            "m20260201_000001_items",
            &["CREATE TABLE ext_nt_items (id INTEGER PRIMARY KEY, owner INTEGER)"],
        );
        apply_first(&db, "nt", &create).await;
        let before = snapshot(&db).await;
        let index = match backend {
            Backend::Postgres => {
                "CREATE INDEX CONCURRENTLY ext_nt_items_owner ON ext_nt_items (owner)"
            }
            _ => "CREATE INDEX ext_nt_items_owner ON ext_nt_items (owner)",
        };
        let chain = sql_chain(
            "nt",
            vec![
                create,
                SqlMigration::new("m20260201_000002_index", &[index]).use_transaction(Some(false)),
            ],
        );
        let plan = plan(&test_db, &registry(vec![engine_chain(false), chain]), None).await;
        assert!(plan.failure.is_none(), "{backend}: {:?}", plan.failure);
        assert!(
            matches!(&plan.rehearsal, Rehearsal::Scratch { reason } if backend == Backend::MySql
                || reason.contains("m20260201_000002_index runs outside a transaction")),
            "{backend}: {:?}",
            plan.rehearsal
        );
        // the applied migration was replayed into the scratch database first
        assert_eq!(plan.migrations.len(), 1, "{backend}");
        assert!(!plan.migrations[0].in_transaction, "{backend}");
        assert_eq!(
            plan.migrations[0].changes,
            [
                "table \"ext_nt_items\" altered",
                "index on \"ext_nt_items\" (owner) created"
            ],
            "{backend}"
        );
        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn an_enum_value_added_then_used_is_rehearsed_as_a_deploy_runs_it() {
    for test_db in TestDatabase::all().await {
        if test_db.backend != Backend::Postgres {
            test_db.drop_database().await;
            continue;
        }
        let db = test_db.connect().await;
        let create = SqlMigration::new(
            "m20260201_000001_mood",
            &[
                "CREATE TYPE ext_ev_mood AS ENUM ('calm')",
                "CREATE TABLE ext_ev_people (id INTEGER PRIMARY KEY, mood ext_ev_mood)",
            ],
        );
        apply_first(&db, "ev", &create).await;
        let before = snapshot(&db).await;
        let chain = sql_chain(
            "ev",
            vec![
                create,
                SqlMigration::new(
                    "m20260201_000002_add",
                    &["ALTER TYPE ext_ev_mood ADD VALUE 'happy'"],
                ),
                SqlMigration::new(
                    "m20260201_000003_use",
                    &["INSERT INTO ext_ev_people VALUES (1, 'happy')"],
                ),
            ],
        );
        let plan = plan(&test_db, &registry(vec![engine_chain(false), chain]), None).await;
        assert!(plan.failure.is_none(), "{:?}", plan.failure);
        assert!(
            matches!(&plan.rehearsal, Rehearsal::Scratch { reason } if reason.contains("m20260201_000003_use")),
            "{:?}",
            plan.rehearsal
        );
        assert_eq!(plan.migrations.len(), 2);
        assert_eq!(plan.migrations[0].changes, ["type \"ext_ev_mood\" altered"]);
        assert_eq!(snapshot(&db).await, before, "nothing changed");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn the_guards_verdict_names_what_a_start_would_refuse() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry(vec![engine_chain(false)]))
            .await
            .unwrap();
        let before = snapshot(&db).await;
        let chain = sql_chain(
            "tp",
            vec![SqlMigration::new(
                "m20260201_000001_sneaky",
                &[
                    "CREATE TABLE ext_tp_items (id INTEGER PRIMARY KEY)",
                    "CREATE TABLE audit_log (id INTEGER PRIMARY KEY)",
                    "DELETE FROM seaql_migrations",
                ],
            )],
        );
        let plan = plan(&test_db, &registry(vec![engine_chain(false), chain]), None).await;
        assert!(plan.failure.is_none(), "{backend}: {:?}", plan.failure);
        assert_eq!(
            plan.migrations[0].trespasses,
            [
                "table \"audit_log\" created",
                "rows of version table \"seaql_migrations\" changed"
            ],
            "{backend}"
        );
        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn nothing_pending_plans_nothing() {
    for test_db in TestDatabase::all().await {
        let db = test_db.connect().await;
        let registry = registry(vec![engine_chain(true), rw_chain()]);
        chainkit::migrate(&db, &registry).await.unwrap();
        let plan = plan(&test_db, &registry, None).await;
        assert!(plan.migrations.is_empty() && plan.chains.is_empty());
        assert!(chainkit::cli::format_plan(&plan).starts_with("nothing to apply"));
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn real_chain_patterns_are_planned_once_each_and_their_script_applies_what_a_start_would() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let runs = Arc::new(AtomicUsize::new(0));
        let corpus = || {
            registry(vec![
                corpus::chain("engine", &runs),
                corpus::chain("rw", &runs),
            ])
        };
        let db = test_db.connect().await;
        let before = snapshot(&db).await;

        let plan = plan(&test_db, &corpus(), None).await;

        assert!(plan.failure.is_none(), "{backend}: {:?}", plan.failure);
        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        assert_eq!(
            plan.migrations.len(),
            2 * corpus::MIGRATIONS.len(),
            "{backend}"
        );
        assert_eq!(
            runs.load(Ordering::SeqCst),
            2,
            "{backend}: each seeding migration ran once"
        );
        assert!(
            plan.migrations.iter().all(|m| m.trespasses.is_empty()),
            "{backend}: the corpus keeps to its chains"
        );
        // the seed goes through an entity: its values are in the statement
        let seed = plan
            .migrations
            .iter()
            .find(|m| m.namespace == "rw" && m.migration == corpus::MIGRATIONS[5])
            .unwrap();
        assert!(
            seed.statements.iter().any(|s| s.sql.starts_with("INSERT")
                && !s.sql.contains('?')
                && !s.sql.contains("$1")),
            "{backend}: {:?}",
            seed.statements
        );

        // the script, through the database's own client
        let script = plan.sql_script().unwrap();
        let Some(ran) = run_sql_script(backend, &test_db.url, &script) else {
            db.close().await.ok();
            test_db.drop_database().await;
            continue;
        };
        assert!(
            ran.status.success(),
            "{backend}: {}\n{script}",
            String::from_utf8_lossy(&ran.stderr)
        );
        let reference = TestDatabase::create(backend).await;
        let other = reference.connect().await;
        chainkit::migrate(&other, &corpus()).await.unwrap();
        assert_eq!(
            schema_objects(&snapshot(&db).await, backend),
            schema_objects(&snapshot(&other).await, backend),
            "{backend}: the script leaves the schema a start leaves"
        );
        assert_eq!(
            count(&db, "items").await,
            count(&other, "items").await,
            "{backend}"
        );
        let report = chainkit::migrate(&db, &corpus()).await.unwrap();
        assert!(
            report.applied.is_empty(),
            "{backend}: a start after the script applies nothing: {:?}",
            report.applied
        );
        other.close().await.ok();
        reference.drop_database().await;
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// Inserts a row in a transaction of its own, then throws it away.
struct ChangesItsMind;

impl MigrationName for ChangesItsMind {
    fn name(&self) -> &str {
        "m20260201_000002_changes_its_mind"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for ChangesItsMind {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use sea_orm::TransactionTrait;
        let txn = manager.get_connection().begin().await?;
        txn.execute_unprepared("INSERT INTO ext_rb_items VALUES (1)")
            .await?;
        txn.rollback().await
    }
}

/// Panics, as a migration written to refuse something does.
struct Panics;

impl MigrationName for Panics {
    fn name(&self) -> &str {
        "m20260201_000003_panics"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Panics {
    async fn up(&self, _: &SchemaManager) -> Result<(), DbErr> {
        panic!("refusing on purpose")
    }
}

#[tokio::test]
async fn work_a_migration_throws_away_is_not_scripted_and_a_panic_is_a_failure() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let before = snapshot(&db).await;
        let chain = Chain::from_fn("rb", &chainkit::version_table("rb"), || {
            vec![
                Box::new(SqlMigration::new(
                    "m20260201_000001_items",
                    &["CREATE TABLE ext_rb_items (id INTEGER PRIMARY KEY)"],
                )) as Box<dyn MigrationTrait>,
                Box::new(ChangesItsMind),
            ]
        });
        let plan = plan(
            &test_db,
            &registry(vec![engine_chain(false), chain]),
            Some("rb"),
        )
        .await;
        assert!(plan.failure.is_none(), "{backend}: {:?}", plan.failure);
        let mind = &plan.migrations[1];
        assert!(mind.rolls_back, "{backend}: {mind:?}");
        assert!(
            mind.statements
                .iter()
                .all(|s| !s.sql.to_ascii_uppercase().starts_with("ROLLBACK")),
            "{backend}: transaction control is not a statement of the plan: {mind:?}"
        );
        let refused = plan.sql_script().expect_err("not scriptable");
        assert!(
            refused
                .to_string()
                .contains("m20260201_000002_changes_its_mind"),
            "{backend}: {refused}"
        );

        let chain = Chain::from_fn("rb", &chainkit::version_table("rb"), || {
            vec![Box::new(Panics) as Box<dyn MigrationTrait>]
        });
        let panicked =
            self::plan(&test_db, &registry(vec![engine_chain(false), chain]), None).await;
        let failure = panicked
            .failure
            .expect("the panic is the migration's failure");
        assert_eq!(failure.migration, "m20260201_000003_panics", "{backend}");
        assert!(
            failure.message.contains("refusing on purpose"),
            "{backend}: {}",
            failure.message
        );
        assert_eq!(snapshot(&db).await, before, "{backend}: nothing changed");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

const CHILD: &str = "CHAINKIT_PLAN_CHILD_DB";

/// Run as a child process by `plan_deny_ends_the_process_with_exit_1_naming_the_finding`:
/// `plan --deny destructive` through the binaries' `block_on`, exiting with its code.
#[test]
#[ignore = "run as a child process by another test"]
fn child_plans_with_deny_through_block_on() {
    use chainkit::cli::{DatabaseArgs, Manages, MigrateCommand, run_migrate};
    let Ok(url) = std::env::var(CHILD) else {
        return;
    };
    let full = registry(vec![engine_chain(false), plan_fixtures::chain()]);
    let args = DatabaseArgs {
        database_url: url,
        connect_timeout: 10,
        lock_timeout: 10,
        ddl_lock_timeout: 10,
        url_on_command_line: true,
    };
    let command = MigrateCommand::Plan {
        ns: None,
        json: false,
        sql: false,
        deny: vec![FindingKind::Destructive],
    };
    let code = chainkit::cli::block_on(run_migrate(&full, &args, command, Manages::All));
    let numeric = if code == std::process::ExitCode::SUCCESS {
        0
    } else if code == std::process::ExitCode::from(2) {
        2
    } else {
        1
    };
    std::process::exit(numeric);
}

#[tokio::test]
async fn plan_deny_ends_the_process_with_exit_1_naming_the_finding() {
    let test_db = TestDatabase::create(Backend::Sqlite).await;
    let db = test_db.connect().await;
    apply_first_of_pf(&db).await;
    db.close().await.ok();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_plans_with_deny_through_block_on",
            "--nocapture",
        ])
        .env(CHILD, &test_db.url)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("1 finding(s) of the kinds denied (destructive) not acknowledged")
            && stderr.contains(r#"column "ext_pf_items"."qty""#),
        "{stderr}"
    );
    assert!(
        stdout.contains(r#"!! destructive column-dropped column "ext_pf_items"."qty""#)
            && stdout.contains(r#"ok destructive column-dropped column "ext_pf_items"."note""#),
        "the plan is printed first: {stdout}"
    );
    test_db.drop_database().await;
}
