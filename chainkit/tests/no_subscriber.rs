//! A program that installs no tracing subscriber before connecting (`chainkit::startup` from
//! its `main`, say) still gets the runner's clearing: `chainkit::connect` makes sure the
//! connection logs its statements where the runner sees them. Without it, sqlx decides at
//! connect time not to log, and every migration costs a read of the whole catalog (a MySQL
//! install 2.6 times slower at 50 chains × 10 migrations). Outside a migration the log stays
//! off. Alone in its test binary: the process's global subscriber must not have been set by
//! another test, and no other test's migration may run meanwhile.

mod cleared;

#[tokio::test]
async fn a_connection_made_before_any_subscriber_still_shows_the_runner_its_statements() {
    assert!(
        !tracing::dispatcher::has_been_set(),
        "this test needs a process without a subscriber"
    );
    cleared::assert_migrations_cleared_by_their_statements().await;
    // and outside a migration it asks sqlx for no statement log: sqlx makes none (each
    // statement's summary and a copy of its text, which every statement of a program paid
    // while the layer asked for them always)
    assert!(!tracing::enabled!(
        target: "sqlx::query",
        tracing::Level::DEBUG
    ));
    assert!(!tracing::enabled!(
        target: "sqlx::query",
        tracing::Level::ERROR
    ));
}
