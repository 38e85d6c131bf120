//! A process killed (SIGKILL) in the middle of a migration, on every available backend.
//!
//! The process is this test binary itself, run again with `crash_fixture_process` (an ignored
//! test that does nothing unless `CHAINKIT_CRASH_FIXTURE_URL` is set): it applies a chain whose
//! second migration creates a table, says `READY`, and sleeps. The test kills it there.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use chainkit::testing::{Backend, SqlMigration, TestDatabase, sql_chain, table_names};
use chainkit::{Chain, Error, Registry};
use sea_orm::ConnectionTrait;
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

const FIXTURE_ENV: &str = "CHAINKIT_CRASH_FIXTURE_URL";

/// Creates `ext_slow_b`, tells the parent, then waits to be killed.
struct CreateThenHang;

impl MigrationName for CreateThenHang {
    fn name(&self) -> &str {
        "m20260301_000002_create_b"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateThenHang {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        manager
            .get_connection()
            .execute_unprepared("CREATE TABLE ext_slow_b (id INTEGER PRIMARY KEY)")
            .await?;
        println!("READY");
        tokio::time::sleep(Duration::from_secs(120)).await;
        Ok(())
    }
}

fn engine_chain() -> Chain {
    sql_chain(
        "engine",
        vec![SqlMigration::new(
            "m20260101_000001_users",
            &["CREATE TABLE users (id INTEGER PRIMARY KEY)"],
        )],
    )
}

fn first() -> SqlMigration {
    SqlMigration::new(
        "m20260301_000001_create_a",
        &["CREATE TABLE ext_slow_a (id INTEGER PRIMARY KEY)"],
    )
}

fn third() -> SqlMigration {
    SqlMigration::new(
        "m20260301_000003_create_c",
        &["CREATE TABLE ext_slow_c (id INTEGER PRIMARY KEY)"],
    )
}

/// The chain as the killed process runs it: its second migration hangs.
fn hanging_registry() -> Registry {
    let slow = Chain::from_fn("slow", "seaql_migrations_slow", || {
        vec![
            Box::new(first()) as Box<dyn MigrationTrait>,
            Box::new(CreateThenHang),
            Box::new(third()),
        ]
    });
    Registry::new(engine_chain(), [slow]).unwrap()
}

/// The same chain as the next engine runs it.
fn registry() -> Registry {
    let second = SqlMigration::new(
        "m20260301_000002_create_b",
        &["CREATE TABLE ext_slow_b (id INTEGER PRIMARY KEY)"],
    );
    Registry::new(
        engine_chain(),
        [sql_chain("slow", vec![first(), second, third()])],
    )
    .unwrap()
}

#[tokio::test]
#[ignore = "a helper process for the crash tests, run by them"]
async fn crash_fixture_process() {
    let Ok(url) = std::env::var(FIXTURE_ENV) else {
        return;
    };
    let db = chainkit::connect(&url, chainkit::DEFAULT_CONNECT_TIMEOUT)
        .await
        .unwrap();
    chainkit::migrate(&db, &hanging_registry()).await.unwrap();
    unreachable!("the parent kills this process while a migration hangs");
}

/// Runs the fixture process against `url` and kills it once its migration hangs.
fn run_and_kill(url: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_fixture_process",
            "--ignored",
            "--nocapture",
        ])
        .env(FIXTURE_ENV, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.trim() == "READY");
    assert!(ready, "the fixture process ended before its migration hung");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[tokio::test]
async fn after_a_kill_mid_migration_the_next_start_completes_or_names_the_fix() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        run_and_kill(&test_db.url);

        let db = test_db.connect().await;
        let registry = registry();
        let result = chainkit::migrate_with(&db, &registry, Duration::from_secs(30)).await;
        if backend == Backend::MySql {
            // MySQL cannot roll DDL back: the next start refuses and says how to resolve it
            let err = result.unwrap_err();
            assert!(
                matches!(&err, Error::Interrupted { namespace, migration, .. }
                    if namespace == "slow" && migration == "m20260301_000002_create_b"),
                "{err}"
            );
            assert!(
                err.to_string().contains(
                    "run `engine migrate resolve --ns slow m20260301_000002_create_b --applied`"
                ),
                "{err}"
            );
            // what a person does: look, undo the half, record it as rolled back
            assert!(table_names(&db).await.contains(&"ext_slow_b".to_owned()));
            db.execute_unprepared("DROP TABLE ext_slow_b")
                .await
                .unwrap();
            chainkit::resolve(
                &db,
                &registry,
                "slow",
                "m20260301_000002_create_b",
                chainkit::Resolution::RolledBack,
            )
            .await
            .unwrap();
            let report = chainkit::migrate(&db, &registry).await.unwrap();
            let applied: Vec<&str> = report.applied_to("slow").collect();
            assert_eq!(
                applied,
                ["m20260301_000002_create_b", "m20260301_000003_create_c"]
            );
        } else {
            // the whole run was one transaction: nothing of it remains, and it completes now
            let report = result.unwrap_or_else(|e| panic!("{backend}: {e}"));
            let applied: Vec<String> = report
                .applied
                .iter()
                .map(|a| format!("{} {}", a.namespace, a.migration))
                .collect();
            assert_eq!(
                applied,
                [
                    "engine m20260101_000001_users",
                    "slow m20260301_000001_create_a",
                    "slow m20260301_000002_create_b",
                    "slow m20260301_000003_create_c",
                ],
                "{backend}"
            );
        }
        let status = chainkit::status(&db, &registry).await.unwrap();
        for chain in &status.chains {
            assert_eq!(chain.pending().count(), 0, "{backend}");
            assert!(chain.interrupted.is_none(), "{backend}");
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_lock_held_by_a_killed_process_is_released() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        run_and_kill(&test_db.url);
        let db = test_db.connect().await;
        // the dead process held the lock while its migration hung
        let lock = chainkit::lock(&db, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        lock.release(&db).await.unwrap();
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
