//! The assertion the subscriber tests share: a run clears its migrations by their statements.

use std::sync::atomic::Ordering;

use chainkit::Registry;
use chainkit::testing::{SqlMigration, TestDatabase, count_full_catalog_reads, sql_chain};

/// Runs two chains of three migrations on every available backend, with a connection opened
/// now, and asserts that the runner read the whole catalog only before and at the end: it saw
/// every migration's statements.
pub async fn assert_migrations_cleared_by_their_statements() {
    let chain = |ns: &str, prefix: &str| {
        sql_chain(
            ns,
            (1..=3)
                .map(|i| {
                    SqlMigration::new(
                        &format!("m20260301_{i:06}_t{i}"),
                        &[&format!(
                            "CREATE TABLE {prefix}_t{i} (id INTEGER PRIMARY KEY)"
                        )],
                    )
                })
                .collect(),
        )
    };
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let mut db = chainkit::connect(&test_db.url, chainkit::DEFAULT_CONNECT_TIMEOUT)
            .await
            .unwrap();
        let reads = count_full_catalog_reads(&mut db);
        let registry = Registry::new(chain("engine", "core"), [chain("a", "ext_a")]).unwrap();
        chainkit::migrate(&db, &registry)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        // before and at the end, not once per migration
        assert_eq!(reads.load(Ordering::SeqCst), 2, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
