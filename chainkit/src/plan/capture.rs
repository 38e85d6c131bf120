//! The statements a migration sends, captured from the connection while it runs.
//!
//! SeaORM's metric callback does not see `execute_unprepared`, and nothing else in SeaORM
//! wraps a connection, so the capture listens where every statement passes: sqlx's own
//! statement log (`sqlx::query` events, each with the statement's full text). A migration
//! runs inside a `chainkit_capture` span; [`layer`] files every statement event logged under
//! such a span (among the current span's ancestors, whatever layers want them) under the
//! span's id. SQLite's driver runs statements on a worker thread that enters the span current
//! where the statement was sent, so the capture is found there too; that is also why the
//! layer must be in the global subscriber. The metric callback, which sees a statement's bound
//! values, then replaces the text of the statement it just saw by the text with its values
//! written in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use sea_orm::DatabaseConnection;
use tracing::Instrument;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The span name a capture runs in.
const SPAN: &str = "chainkit_capture";
/// The target of sqlx's statement log.
const SQLX_TARGET: &str = "sqlx::query";

/// One statement a migration sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Its text, with bound values written in where it had any.
    pub sql: String,
    /// The text the driver was given (placeholders for bound values).
    pub(crate) raw: String,
    /// Whether its bound values are written in (seen by the metric callback).
    pub(crate) rendered: bool,
}

/// What one capture saw.
#[derive(Debug, Default)]
pub(crate) struct Record {
    /// The statements, in order.
    pub statements: Vec<Captured>,
    /// Whether the work rolled back a transaction of its own (SeaORM's
    /// `DatabaseTransaction::rollback`, whose span is seen on every backend, unlike the
    /// statement, which SQLite's driver does not log).
    pub rolled_back: bool,
}

static NEXT: AtomicU64 = AtomicU64::new(1);
/// How many captures run now, in the whole process: while none does, the layer wants no
/// statement log (and where it is alone in its subscriber, sqlx, which makes each statement's
/// summary and a copy of its text whenever the subscriber says someone may want them, makes
/// none).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);

/// One running capture, counted in [`ACTIVE`] until dropped (also when the capture's future
/// is dropped before it ends).
struct Active;

impl Active {
    fn start() -> Self {
        ACTIVE.fetch_add(1, Ordering::SeqCst);
        Self
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Ordering::SeqCst);
    }
}
static BUFFERS: Mutex<Option<HashMap<u64, Record>>> = Mutex::new(None);
/// The target of SeaORM's transaction spans.
const TRANSACTION_TARGET: &str = "sea_orm::database::transaction";

tokio::task_local! {
    static CURRENT: u64;
}

fn with_buffers<R>(f: impl FnOnce(&mut HashMap<u64, Record>) -> R) -> R {
    let mut guard = BUFFERS.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

/// Runs `work`, returning its output and the statements sent while it ran (on connections
/// opened by [`crate::connect`], which log every statement).
pub(crate) async fn capture<F: Future>(work: F) -> (F::Output, Record) {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    with_buffers(|b| b.insert(id, Record::default()));
    let span = tracing::info_span!(target: "chainkit::capture", SPAN, capture = id);
    let active = Active::start();
    let output = CURRENT.scope(id, work.instrument(span)).await;
    drop(active);
    let captured = with_buffers(|b| b.remove(&id)).unwrap_or_default();
    (output, captured)
}

/// Makes `db` write bound values into the statements captured on it.
pub(crate) fn render_values_on(db: &mut DatabaseConnection) {
    db.set_metric_callback(|info| {
        let Ok(id) = CURRENT.try_with(|id| *id) else {
            return;
        };
        if info.statement.values.is_none() {
            return;
        }
        with_buffers(|b| {
            if let Some(last) = b.get_mut(&id).and_then(|record| {
                record
                    .statements
                    .iter_mut()
                    .rev()
                    .find(|c| !c.rendered && c.raw == info.statement.sql)
            }) {
                last.sql = info.statement.to_string();
                last.rendered = true;
            }
        });
    });
}

/// Whether statements can be captured in this process: the layer is in the global
/// subscriber. Installs a subscriber holding only the layer when the process has none.
pub(crate) async fn available(db: &DatabaseConnection) -> bool {
    use sea_orm::ConnectionTrait;
    install();
    let (_, captured) = capture(db.execute_unprepared("SELECT 1")).await;
    !captured.statements.is_empty()
}

/// Installs a global subscriber holding only the capture layer, when the process has none:
/// tried once per process, the first time a connection is opened (concurrent first calls
/// wait for it).
///
/// Whether a global subscriber exists is found by trying to set one:
/// `tracing::dispatcher::has_been_set` also answers yes once any thread has set a scoped
/// default (`with_default`, `WithSubscriber`), which would leave a program without the
/// capture for good. Once set, every callsite's cached interest is computed again: one that
/// another thread met for the first time while the subscriber was being set was asked of no
/// subscriber, and tracing would keep it silent until something made it ask again.
pub(crate) fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        // alone in the subscriber, the layer filters for the whole of it: where no capture
        // runs, sqlx is told that no one takes its statement log, and makes none
        let alone = CaptureLayer {
            alone: true,
            ..CaptureLayer::default()
        };
        let subscriber = tracing_subscriber::registry().with(alone);
        if tracing::subscriber::set_global_default(subscriber).is_ok() {
            tracing::callsite::rebuild_interest_cache();
        }
    });
}

/// The layer that captures statements: add it to the program's global subscriber (the
/// binaries' [`crate::cli::init_logging`] does) for `migrate plan` to see what migrations
/// send. It looks only at sqlx's statement log, and only while a capture runs: elsewhere a
/// statement costs it nothing. (sqlx still makes each statement's log, a summary and a copy
/// of its text, since a subscriber of layers with filters of their own answers that someone
/// may want it; in a program without a subscriber of its own, [`crate::connect`] installs
/// this layer alone, and sqlx then makes the log only while a capture runs.)
///
/// ```no_run
/// use tracing_subscriber::layer::SubscriberExt;
/// use tracing_subscriber::util::SubscriberInitExt;
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(chainkit::capture_layer())
///     .init();
/// ```
pub fn layer<S>() -> impl Layer<S>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = tracing_subscriber::filter::dynamic_filter_fn(|meta, _| wanted_now(meta))
        .with_callsite_filter(interest);
    CaptureLayer::default().with_filter(filter)
}

/// What the layer wants of a callsite: the capture spans and SeaORM's rollbacks always,
/// sqlx's statement log at each statement ([`wanted_now`]), nothing else.
fn interest(meta: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
    use tracing::subscriber::Interest;
    if meta.target() == SQLX_TARGET {
        Interest::sometimes()
    } else if wanted_now(meta) {
        Interest::always()
    } else {
        Interest::never()
    }
}

/// Whether the layer wants a span or event now: sqlx's statement log while a capture runs
/// anywhere (the statement's own capture, if any, is found by its spans in `on_event`).
fn wanted_now(meta: &tracing::Metadata<'_>) -> bool {
    if meta.target() == SQLX_TARGET {
        ACTIVE.load(Ordering::SeqCst) > 0
    } else {
        meta.name() == SPAN || (meta.target() == TRANSACTION_TARGET && meta.name() == "rollback")
    }
}

#[derive(Default)]
struct CaptureLayer {
    /// The subscriber the layer is part of, to walk a span's ancestors past the spans its
    /// filter leaves out (set when the subscriber is made a dispatcher).
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
    /// Alone in its subscriber, without a filter of its own ([`install`]): it filters for
    /// the whole subscriber.
    alone: bool,
}

impl CaptureLayer {
    /// The capture that the span `id` (the current span where a statement was logged) is
    /// inside: the span's own ancestors, spans the layer's filter leaves out included.
    ///
    /// The filtered view looks for the first span the filter enabled among the spans the
    /// logging thread has entered, not among a span's ancestors. SQLite's driver logs on its
    /// worker thread, which enters only the span current where the statement was sent: when
    /// that is a span another layer wants (SeaORM's `execute_raw`, with a subscriber at trace
    /// level, or the migration's own spans), or one tracing made although no layer wants it
    /// (it can for a callsite two threads meet for the first time at once), the worker has no
    /// span the filter enabled, and the statement would go unseen while others are seen.
    fn capture_above(&self, id: &tracing::span::Id) -> Option<u64> {
        use tracing_subscriber::registry::{LookupSpan, SpanData};
        let dispatch = self.dispatch.get()?.upgrade()?;
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let mut data = registry.span_data(id)?;
        loop {
            if let Some(capture) = data.extensions().get::<CaptureId>() {
                return Some(capture.0);
            }
            let parent = data.parent()?.clone();
            data = registry.span_data(&parent)?;
        }
    }
}

/// The id of a capture span, kept in the span's extensions.
struct CaptureId(u64);

#[derive(Default)]
struct IdVisitor(Option<u64>);

impl Visit for IdVisitor {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "capture" {
            self.0 = Some(value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[derive(Default)]
struct StatementVisitor {
    summary: String,
    statement: String,
}

impl Visit for StatementVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => value.clone_into(&mut self.summary),
            "db.statement" => value.clone_into(&mut self.statement),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        // sqlx records the two texts as `String`s, which some paths pass as Debug
        let text = || format!("{value:?}");
        match field.name() {
            "summary" if self.summary.is_empty() => self.summary = unquote(&text()),
            "db.statement" if self.statement.is_empty() => self.statement = unquote(&text()),
            _ => {}
        }
    }
}

fn unquote(debug: &str) -> String {
    serde_json::from_str::<String>(debug).unwrap_or_else(|_| debug.to_owned())
}

impl StatementVisitor {
    /// The statement's text: sqlx logs a short statement as its summary alone, and a longer
    /// one as `\n\n{text}\n` beside a summary of its first words.
    fn text(self) -> String {
        if self.statement.is_empty() {
            self.summary
        } else {
            let s = self
                .statement
                .strip_prefix("\n\n")
                .unwrap_or(&self.statement);
            s.strip_suffix('\n').unwrap_or(s).to_owned()
        }
    }
}

impl<S> Layer<S> for CaptureLayer
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        if attrs.metadata().target() == TRANSACTION_TARGET {
            // a transaction of the migration's own rolled back
            if let Some(capture) = ctx.span(id).and_then(|span| {
                span.scope()
                    .find_map(|s| s.extensions().get::<CaptureId>().map(|c| c.0))
            }) {
                with_buffers(|b| {
                    if let Some(record) = b.get_mut(&capture) {
                        record.rolled_back = true;
                    }
                });
            }
            return;
        }
        if attrs.metadata().name() != SPAN {
            return;
        }
        let mut visitor = IdVisitor::default();
        attrs.record(&mut visitor);
        if let (Some(capture), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(CaptureId(capture));
        }
    }

    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if self.alone {
            interest(meta)
        } else {
            tracing::subscriber::Interest::always()
        }
    }

    fn enabled(&self, meta: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        !self.alone || wanted_now(meta)
    }

    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.dispatch.set(subscriber.downgrade()).ok();
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if event.metadata().target() != SQLX_TARGET {
            return;
        }
        let current = if event.is_contextual() {
            ctx.current_span().id().cloned()
        } else {
            event.parent().cloned()
        };
        let Some(capture) = current.and_then(|id| self.capture_above(&id)).or_else(|| {
            ctx.event_scope(event)?
                .into_iter()
                .find_map(|span| span.extensions().get::<CaptureId>().map(|c| c.0))
        }) else {
            return;
        };
        let mut visitor = StatementVisitor::default();
        event.record(&mut visitor);
        let raw = visitor.text();
        with_buffers(|b| {
            if let Some(record) = b.get_mut(&capture) {
                record.statements.push(Captured {
                    sql: raw.clone(),
                    raw,
                    rendered: false,
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_statement_is_its_summary_and_a_long_one_its_logged_text() {
        let short = StatementVisitor {
            summary: "SELECT 1".into(),
            statement: String::new(),
        };
        assert_eq!(short.text(), "SELECT 1");
        let long = StatementVisitor {
            summary: "CREATE TABLE t (a …".into(),
            statement: "\n\nCREATE TABLE t (a int,\n  b int)\n".into(),
        };
        assert_eq!(long.text(), "CREATE TABLE t (a int,\n  b int)");
    }
}
