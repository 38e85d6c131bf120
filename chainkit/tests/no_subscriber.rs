//! A program that installs no tracing subscriber before connecting (`chainkit::startup` from
//! its `main`, say) still gets the runner's clearing: `chainkit::connect` makes sure the
//! connection logs its statements where the runner sees them. Without it, sqlx decides at
//! connect time not to log, and every migration costs a read of the whole catalog (a MySQL
//! install 2.6 times slower at 50 chains × 10 migrations). Alone in its test binary: the
//! process's global subscriber must not have been set by another test.

use std::sync::atomic::Ordering;

use chainkit::Registry;
use chainkit::testing::{SqlMigration, TestDatabase, count_full_catalog_reads, sql_chain};

#[tokio::test]
async fn a_connection_made_before_any_subscriber_still_shows_the_runner_its_statements() {
    assert!(
        !tracing::dispatcher::has_been_set(),
        "this test needs a process without a subscriber"
    );
    let chain = |ns: &str| {
        let prefix = if ns == "engine" {
            "core".to_owned()
        } else {
            format!("ext_{ns}")
        };
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
        let registry = Registry::new(chain("engine"), [chain("a"), chain("b")]).unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        // before and at the end, not once per migration
        assert_eq!(reads.load(Ordering::SeqCst), 2, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
