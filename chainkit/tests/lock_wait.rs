//! A migration statement waits at most the DDL lock timeout for a table another session holds,
//! then fails like any other migration, named with the table (and on PostgreSQL the session
//! holding it); a migration that calls `wait_for_locks` waits as long as it takes. Real second
//! sessions, on SQLite, PostgreSQL and MariaDB.

use std::time::{Duration, Instant};

use chainkit::testing::{Backend, SqlMigration, TestDatabase, table_names};
use chainkit::{Chain, Error, Registry};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

fn engine_with(second: Box<dyn Fn() -> Box<dyn MigrationTrait> + Send + Sync>) -> Registry {
    let chain = Chain::from_fn("engine", "seaql_migrations", move || {
        vec![
            Box::new(SqlMigration::new(
                "m20260101_000001_users",
                &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
            )) as Box<dyn MigrationTrait>,
            second(),
        ]
    });
    Registry::new(chain, []).unwrap()
}

fn alter_users() -> Box<dyn MigrationTrait> {
    Box::new(SqlMigration::new(
        "m20260101_000002_alter_users",
        &["ALTER TABLE users ADD COLUMN nickname VARCHAR(20)"],
    ))
}

/// Alters `users`, but says it may wait for the lock.
struct PatientAlter;

impl MigrationName for PatientAlter {
    fn name(&self) -> &str {
        "m20260101_000002_alter_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for PatientAlter {
    async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        chainkit::wait_for_locks(manager).await?;
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE users ADD COLUMN nickname VARCHAR(20)")
            .await?;
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), sea_orm::DbErr> {
        Ok(())
    }
}

/// A second session that holds a lock on `users` until its transaction ends: a reader's on
/// PostgreSQL and MariaDB (its open transaction keeps the table's metadata lock), a writer's on
/// SQLite (which locks the whole file).
async fn hold_users(db: &DatabaseConnection) -> sea_orm::DatabaseTransaction {
    let txn = db.begin().await.unwrap();
    match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            txn.execute_unprepared("INSERT INTO users (id, name) VALUES (1, 'held')")
                .await
                .unwrap();
        }
        _ => {
            txn.execute_unprepared("SELECT * FROM users").await.unwrap();
        }
    }
    txn
}

/// A migration session on `test_db` whose statements wait at most `ddl_lock_timeout`, with
/// the engine's first migration (the `users` table) applied.
async fn with_users(test_db: &TestDatabase, ddl_lock_timeout: Duration) -> DatabaseConnection {
    let db = chainkit::connect_with(
        &test_db.url,
        Duration::from_secs(10),
        Some(ddl_lock_timeout),
    )
    .await
    .unwrap();
    let only_users = engine_with(Box::new(|| {
        Box::new(SqlMigration::new("m20260101_000002_nothing", &[]))
    }));
    chainkit::up(&db, &only_users, None, Some(1)).await.unwrap();
    db
}

async fn columns_of_users(db: &DatabaseConnection) -> Vec<String> {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => "SELECT name AS c FROM pragma_table_info('users')",
        sea_orm::DbBackend::Postgres => {
            "SELECT column_name::text AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'users'"
        }
        _ => {
            "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users'"
        }
    };
    db.query_all_raw(sea_orm::Statement::from_string(
        db.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.try_get::<String>("", "c").unwrap())
    .collect()
}

#[tokio::test]
async fn a_migration_gives_up_on_a_table_another_session_holds_and_leaves_nothing_half_done() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = with_users(&test_db, Duration::from_secs(2)).await;

        let other = test_db.connect().await;
        let held = hold_users(&other).await;
        let registry = engine_with(Box::new(alter_users));
        let started = Instant::now();
        let err = chainkit::migrate(&db, &registry).await.unwrap_err();
        let waited = started.elapsed();
        let message = chainkit::cli::format_error(&err);
        assert!(
            matches!(&err, Error::MigrationFailed { migration, .. } if migration == "m20260101_000002_alter_users"),
            "{backend}: {message}"
        );
        let expected = match backend {
            // a second session saw which table the migration waited for, and in what
            Backend::Postgres | Backend::MySql => {
                "gave up waiting for a lock on table \"users\" after 2 s (--ddl-lock-timeout) \
                 in `ALTER TABLE"
            }
            Backend::Sqlite => "gave up waiting for a lock after 2 s (--ddl-lock-timeout)",
        };
        assert!(message.contains(expected), "{backend}: {message}");
        assert!(
            waited < Duration::from_secs(8),
            "{backend}: waited {waited:?}"
        );
        match backend {
            Backend::Postgres => assert!(
                message.contains("holds AccessShareLock on table \"users\""),
                "{backend}: {message}"
            ),
            Backend::MySql => assert!(
                message.contains("has a transaction open since"),
                "{backend}: {message}"
            ),
            Backend::Sqlite => assert!(
                message.contains("another connection is writing"),
                "{backend}: {message}"
            ),
        }
        held.rollback().await.unwrap();
        // nothing half-done: the column is not there, the migration is not recorded
        assert!(
            !columns_of_users(&db).await.contains(&"nickname".to_owned()),
            "{backend}"
        );
        let status = chainkit::status(&db, &registry).await.unwrap();
        assert_eq!(status.chains[0].applied_count(), 1, "{backend}");
        other.close().await.ok();
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_migration_that_asks_to_wait_for_locks_waits_for_the_holder() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        if backend == Backend::Sqlite {
            // SQLite locks the file, and a transaction that has read cannot wait for another
            // writer (SQLite answers "locked" at once to avoid a deadlock): nothing to wait for
            test_db.drop_database().await;
            continue;
        }
        let db = with_users(&test_db, Duration::from_secs(1)).await;
        let other = test_db.connect().await;
        let held = hold_users(&other).await;
        // the holder lets go after three seconds, three times the DDL lock timeout
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            held.rollback().await.unwrap();
            other
        });
        let registry = engine_with(Box::new(|| Box::new(PatientAlter)));
        let report = chainkit::migrate(&db, &registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert_eq!(report.applied.len(), 1, "{backend}");
        assert!(
            columns_of_users(&db).await.contains(&"nickname".to_owned()),
            "{backend}"
        );
        release.await.unwrap().close().await.ok();
        assert!(table_names(&db).await.contains(&"users".to_owned()));
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
