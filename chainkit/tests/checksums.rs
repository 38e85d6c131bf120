//! Checksums of applied migrations against real databases: SQLite always, PostgreSQL and MySQL
//! when `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` are set. Each test works in a fresh database.
//!
//! The chains here declare their checksums by hand, so that one test can play two builds:
//! the same migration with another checksum is the same file, edited.

use std::sync::atomic::Ordering;

use chainkit::testing::{SqlMigration, TestDatabase, sql_chain};
use chainkit::{Chain, Checksum, Error, MigrationSource, Migrations, Registry, Resolution};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use sea_orm_migration::MigrationTrait;

const ITEMS: &str = "m20260301_000001_create_items";
const TAGS: &str = "m20260301_000002_create_tags";
const MORE: &str = "m20260301_000003_create_more";

fn items() -> Box<dyn MigrationTrait> {
    Box::new(
        SqlMigration::new(
            ITEMS,
            &["CREATE TABLE ext_ck_items (id INTEGER PRIMARY KEY, note VARCHAR(40))"],
        )
        .down(&["DROP TABLE ext_ck_items"]),
    )
}

fn tags() -> Box<dyn MigrationTrait> {
    Box::new(
        SqlMigration::new(TAGS, &["CREATE TABLE ext_ck_tags (id INTEGER PRIMARY KEY)"])
            .down(&["DROP TABLE ext_ck_tags"]),
    )
}

fn more() -> Box<dyn MigrationTrait> {
    Box::new(
        SqlMigration::new(MORE, &["CREATE TABLE ext_ck_more (id INTEGER PRIMARY KEY)"])
            .down(&["DROP TABLE ext_ck_more"]),
    )
}

const fn source(
    module: &'static str,
    sum: u128,
    new: fn() -> Box<dyn MigrationTrait>,
) -> MigrationSource {
    MigrationSource {
        module,
        list_file: "ext-ck-migration/src/lib.rs",
        checksum: Checksum(sum),
        new,
        acknowledged: || &[],
    }
}

/// The first build: two migrations.
static FIRST: [MigrationSource; 2] = [source(ITEMS, 1, items), source(TAGS, 2, tags)];
/// A later build whose first migration was edited, with one migration more.
static EDITED: [MigrationSource; 3] = [
    source(ITEMS, 11, items),
    source(TAGS, 2, tags),
    source(MORE, 3, more),
];
/// A later build with one migration more, nothing edited.
static GROWN: [MigrationSource; 3] = [
    source(ITEMS, 1, items),
    source(TAGS, 2, tags),
    source(MORE, 3, more),
];

fn engine() -> Chain {
    sql_chain(
        "engine",
        vec![SqlMigration::new(
            "m20260101_000001_users",
            &["CREATE TABLE users (id INTEGER PRIMARY KEY)"],
        )],
    )
}

fn ck(sources: &'static [MigrationSource]) -> Chain {
    let migrations = Migrations(sources);
    Chain::from_fn("ck", "seaql_migrations_ck", move || migrations.boxed()).checksums(migrations)
}

fn registry(sources: &'static [MigrationSource]) -> Registry {
    Registry::new(engine(), [ck(sources)]).unwrap()
}

/// `ck`'s rows of the checksum table: (migration, checksum), sorted.
async fn recorded(db: &DatabaseConnection) -> Vec<(String, String)> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version, checksum FROM seaql_migrations_source_checksums \
             WHERE namespace = 'ck' ORDER BY version",
        ))
        .await
        .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "version").unwrap(),
                r.try_get::<String>("", "checksum").unwrap(),
            )
        })
        .collect()
}

fn sum(n: u128) -> String {
    Checksum(n).to_recorded()
}

async fn execute(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
}

#[tokio::test]
async fn each_applied_migration_is_recorded_with_its_checksum_and_a_no_op_start_stays_one_statement()
 {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry(&FIRST)).await.unwrap();
        assert_eq!(
            recorded(&db).await,
            [(ITEMS.to_owned(), sum(1)), (TAGS.to_owned(), sum(2))],
            "{backend}"
        );
        let status = chainkit::status(&db, &registry(&FIRST)).await.unwrap();
        let m = &status.chains[1].migrations[0];
        assert_eq!(m.checksum.as_deref(), Some(sum(1).as_str()), "{backend}");
        assert_eq!(m.recorded_checksum, m.checksum, "{backend}");
        assert_eq!(
            m.file.as_deref(),
            Some("ext-ck-migration/src/m20260301_000001_create_items.rs")
        );
        assert!(!m.modified);
        db.close().await.ok();

        // the next start reads versions and checksums in its one statement
        let mut counted = test_db.connect().await;
        let count = chainkit::testing::count_statements(&mut counted);
        let report = chainkit::migrate(&counted, &registry(&FIRST))
            .await
            .unwrap();
        assert!(report.applied.is_empty());
        assert_eq!(count.load(Ordering::SeqCst), 1, "{backend}");

        // a migration rolled back forgets its checksum; applied again, it has it again
        chainkit::down(&counted, &registry(&FIRST), "ck", Some(1))
            .await
            .unwrap();
        assert_eq!(recorded(&counted).await, [(ITEMS.to_owned(), sum(1))]);
        chainkit::migrate(&counted, &registry(&GROWN))
            .await
            .unwrap();
        assert_eq!(recorded(&counted).await.len(), 3, "{backend}");
        // fresh drops the chain's checksums with its version rows, and records them anew
        chainkit::fresh(&counted, &registry(&GROWN), "ck", false)
            .await
            .unwrap();
        assert_eq!(recorded(&counted).await.len(), 3, "{backend}");
        chainkit::reset(&counted, &registry(&GROWN), "ck", false)
            .await
            .unwrap();
        assert!(recorded(&counted).await.is_empty(), "{backend}");
        counted.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn an_edited_applied_migration_stops_every_start_until_its_checksum_is_accepted() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry(&FIRST)).await.unwrap();

        let edited = registry(&EDITED);
        let err = chainkit::migrate(&db, &edited).await.unwrap_err();
        let message = chainkit::cli::format_error(&err);
        match &err {
            Error::ModifiedMigration(m) => {
                assert_eq!(m.namespace, "ck");
                assert_eq!(m.migration, ITEMS);
                assert_eq!(
                    m.file,
                    "ext-ck-migration/src/m20260301_000001_create_items.rs"
                );
                assert_eq!(m.recorded, sum(1));
                assert_eq!(m.current, sum(11));
            }
            other => panic!("{backend}: {other}"),
        }
        assert!(!err.is_usage());
        for part in [
            "was edited after it was applied",
            "Nothing was run",
            "cargo xtask new-migration --ns ck",
            &format!("engine migrate resolve --ns ck {ITEMS} --accept-checksum"),
        ] {
            assert!(message.contains(part), "{backend}: {message}");
        }
        // before anything ran: the pending migration is not applied
        let status = chainkit::status(&db, &edited).await.unwrap();
        assert_eq!(status.chains[1].applied_count(), 2, "{backend}");
        let modified: Vec<&str> = status.chains[1]
            .modified()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(modified, [ITEMS]);
        let text = chainkit::cli::format_status(&status.chains);
        assert!(text.contains("MODIFIED since it was applied"), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&chainkit::cli::format_status_json(&status.chains)).unwrap();
        let first = &json[1]["migrations"][0];
        assert_eq!(first["modified"], true, "{json}");
        assert_eq!(first["checksum"], sum(11).as_str());
        assert_eq!(first["recorded_checksum"], sum(1).as_str());
        assert_eq!(json[1]["migrations"][1]["modified"], false);

        // only an applied migration this build has a checksum for can be accepted
        for (migration, why) in [
            (MORE, "not applied"),
            ("m20260301_000009_nosuch", "no migration"),
        ] {
            let err = chainkit::resolve(&db, &edited, "ck", migration, Resolution::AcceptChecksum)
                .await
                .unwrap_err();
            assert!(err.to_string().contains(why), "{backend}: {err}");
        }
        chainkit::resolve(&db, &edited, "ck", ITEMS, Resolution::AcceptChecksum)
            .await
            .unwrap();
        let report = chainkit::migrate(&db, &edited).await.unwrap();
        assert_eq!(report.applied.len(), 1, "{backend}");
        assert_eq!(report.applied[0].migration, MORE);
        assert_eq!(recorded(&db).await[0], (ITEMS.to_owned(), sum(11)));
        // the first build, started again on this database, refuses the same way
        let err = chainkit::migrate(&db, &registry(&GROWN)).await.unwrap_err();
        assert!(
            matches!(&err, Error::ModifiedMigration(m) if m.migration == ITEMS),
            "{backend}: {err}"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn migrations_applied_without_checksums_are_adopted_at_the_next_start() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        // a build without checksums
        let plain = Registry::new(
            engine(),
            [Chain::from_fn("ck", "seaql_migrations_ck", || {
                Migrations(&FIRST).boxed()
            })],
        )
        .unwrap();
        chainkit::migrate(&db, &plain).await.unwrap();
        let status = chainkit::status(&db, &registry(&FIRST)).await.unwrap();
        assert!(
            status.chains[1].migrations.iter().all(|m| m.unchecked()),
            "{backend}"
        );
        assert!(
            chainkit::cli::format_status(&status.chains)
                .contains("no checksum recorded yet: the next start records it")
        );
        // the first start with checksums records them, whatever they are; nothing is refused
        let report = chainkit::migrate(&db, &registry(&EDITED)).await.unwrap();
        assert_eq!(report.applied.len(), 1, "{backend}");
        assert_eq!(
            recorded(&db).await,
            [
                (ITEMS.to_owned(), sum(11)),
                (TAGS.to_owned(), sum(2)),
                (MORE.to_owned(), sum(3)),
            ],
            "{backend}"
        );

        // a version row whose checksum row was written for an earlier application (a tool
        // that knows nothing of checksums rolled it back and applied it again) is adopted too
        execute(
            &db,
            &format!("DELETE FROM seaql_migrations_ck WHERE version = '{MORE}'"),
        )
        .await;
        execute(
            &db,
            &format!(
                "INSERT INTO seaql_migrations_ck (version, applied_at) VALUES ('{MORE}', 12345)"
            ),
        )
        .await;
        let edited_more: &'static [MigrationSource] = Box::leak(Box::new([
            source(ITEMS, 11, items),
            source(TAGS, 2, tags),
            source(MORE, 33, more),
        ]));
        chainkit::migrate(&db, &registry(edited_more))
            .await
            .unwrap();
        assert_eq!(
            recorded(&db).await[2],
            (MORE.to_owned(), sum(33)),
            "{backend}"
        );

        // and a database whose checksum table is gone gets it back
        execute(&db, "DROP TABLE seaql_migrations_source_checksums").await;
        chainkit::migrate(&db, &registry(&EDITED)).await.unwrap();
        assert_eq!(recorded(&db).await.len(), 3, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_migration_changing_another_chains_checksums_is_refused() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        chainkit::migrate(&db, &registry(&FIRST)).await.unwrap();
        let rogue = sql_chain(
            "rogue",
            vec![SqlMigration::new(
                "m20260401_000001_forget",
                &["DELETE FROM seaql_migrations_source_checksums WHERE namespace = 'ck'"],
            )],
        );
        let with_rogue = Registry::new(engine(), [ck(&FIRST), rogue]).unwrap();
        let err = chainkit::migrate(&db, &with_rogue).await.unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Trespass(_)), "{backend}: {message}");
        assert!(
            message.contains("checksum records of namespace \"ck\" deleted"),
            "{backend}: {message}"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
