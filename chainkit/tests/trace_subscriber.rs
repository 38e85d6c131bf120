//! A program whose subscriber has another layer that wants SeaORM's spans (`RUST_LOG=trace`)
//! still gets the runner's clearing. On SQLite the driver logs each statement on a worker
//! thread, which enters only the span current where the statement was sent: inside a
//! transaction, SeaORM's `execute_raw`, which the capture layer's filter leaves out. Alone in
//! its test binary: it sets the process's global subscriber.

use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

mod cleared;

#[tokio::test]
async fn another_layer_at_trace_level_leaves_the_runner_its_statements() {
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::sink)
                .with_filter(tracing_subscriber::filter::LevelFilter::TRACE),
        )
        .with(chainkit::capture_layer())
        .init();
    cleared::assert_migrations_cleared_by_their_statements().await;
}
