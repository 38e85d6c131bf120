//! A program where some thread set a scoped tracing subscriber before the first connection
//! (a test's `tracing::subscriber::with_default`, a library's `WithSubscriber`) still gets
//! the runner's clearing. tracing's `has_been_set` answers yes from then on although the
//! process has no global subscriber; `chainkit::connect` must install one all the same, or
//! every migration costs a read of the whole catalog. Alone in its test binary: no other test
//! may set the process's global subscriber first.

mod cleared;

#[tokio::test]
async fn a_scoped_subscriber_set_before_connecting_leaves_the_runner_its_statements() {
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        tracing::info!("seen by nobody");
    });
    assert!(tracing::dispatcher::has_been_set());
    cleared::assert_migrations_cleared_by_their_statements().await;
}
