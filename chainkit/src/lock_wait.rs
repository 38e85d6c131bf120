//! How long a migration statement may wait for a table lock (`--ddl-lock-timeout`), how a
//! migration opts out ([`wait_for_locks`]), and what a migration that gave up is told.
//!
//! A migration's `ALTER TABLE` queued behind a long transaction holds its lock request, and
//! every later query on that table queues behind the migration: the application stalls for as
//! long as the migration waits. So the session the runner migrates on waits at most the DDL
//! lock timeout (PostgreSQL `lock_timeout`, MySQL `lock_wait_timeout` and
//! `innodb_lock_wait_timeout`, SQLite's busy timeout), set when it connects. Giving up is a
//! failed migration like any other.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::SchemaManager;

/// How long a migration statement waits for a lock unless told otherwise: long enough for
/// ordinary short transactions to finish, short enough that the queries queued behind a
/// waiting migration stall only briefly (strong_migrations uses the same).
pub const DEFAULT_DDL_LOCK_TIMEOUT: Duration = Duration::from_secs(10);

tokio::task_local! {
    /// Set by [`wait_for_locks`] inside a migration the runner runs: the statement that
    /// restores the session's timeout afterwards.
    static RESTORE: std::cell::RefCell<Option<String>>;
}

/// The statement that sets the session's lock timeout to `timeout` (`None`: no limit).
pub(crate) fn set_timeout_sql(backend: DbBackend, timeout: Option<Duration>) -> String {
    let ms = timeout.map_or(0, |t| t.as_millis().max(1));
    match backend {
        DbBackend::Postgres => format!("SET lock_timeout = {ms}"),
        DbBackend::MySql => {
            // whole seconds, at least 1; "no limit" is a year
            let secs = if ms == 0 {
                31_536_000
            } else {
                ms.div_ceil(1000)
            };
            format!("SET SESSION lock_wait_timeout = {secs}, innodb_lock_wait_timeout = {secs}")
        }
        _ => format!(
            "PRAGMA busy_timeout = {}",
            if ms == 0 { i32::MAX as u128 } else { ms }
        ),
    }
}

/// Lets the migration calling it wait for locks without limit, for the rest of its `up` or
/// `down` (the runner restores the DDL lock timeout after it): for a migration that must take
/// a lock on a busy table and may wait, as a migration opts out of transactions with
/// `use_transaction()`.
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # struct Migration;
/// # impl MigrationName for Migration { fn name(&self) -> &str { "m" } }
/// # #[async_trait::async_trait]
/// # impl MigrationTrait for Migration {
/// async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
///     chainkit::wait_for_locks(manager).await?;
///     manager
///         .get_connection()
///         .execute_unprepared("ALTER TABLE ext_billing_invoices ADD COLUMN due DATE")
///         .await?;
///     Ok(())
/// }
/// # }
/// ```
///
/// # Errors
/// The database's, when the setting cannot be changed.
pub async fn wait_for_locks(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    let conn = manager.get_connection();
    let current = current_timeout(conn).await;
    conn.execute_unprepared(&set_timeout_sql(backend, None))
        .await?;
    let restore = set_timeout_sql(backend, current);
    RESTORE
        .try_with(|r| {
            r.borrow_mut().get_or_insert(restore);
        })
        .ok();
    Ok(())
}

/// Runs `work` (a migration's `up` or `down`) and returns, when it called
/// [`wait_for_locks`], the statement that restores the session's timeout.
pub(crate) async fn watching<F: std::future::Future>(work: F) -> (F::Output, Option<String>) {
    RESTORE
        .scope(std::cell::RefCell::new(None), async {
            let out = work.await;
            (out, RESTORE.with(|r| r.borrow_mut().take()))
        })
        .await
}

/// The session's current lock timeout (`None`: without limit, or unknown).
async fn current_timeout<C: ConnectionTrait>(conn: &C) -> Option<Duration> {
    let backend = conn.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => {
            "SELECT CAST(setting AS BIGINT) AS ms FROM pg_settings WHERE name = 'lock_timeout'"
        }
        DbBackend::MySql => "SELECT CAST(@@SESSION.lock_wait_timeout * 1000 AS SIGNED) AS ms",
        _ => "SELECT timeout AS ms FROM pragma_busy_timeout",
    };
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .ok()??;
    let ms: i64 = row.try_get("", "ms").ok()?;
    (ms > 0 && ms < 31_536_000_000).then(|| Duration::from_millis(ms as u64))
}

/// Whether `err` says a statement gave up waiting for a lock: PostgreSQL `lock_timeout`
/// (SQLSTATE 55P03), MySQL/MariaDB error 1205, SQLite `SQLITE_BUSY`.
pub(crate) fn is_lock_timeout(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    let sqlx = match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    let Some(db) = sqlx.as_database_error() else {
        return false;
    };
    let code = db.code().unwrap_or_default();
    let message = db.message().to_ascii_lowercase();
    code == "55P03"
        || message.contains("lock wait timeout exceeded")
        || code == "5"
        || message.contains("database is locked")
}

/// What a migration that gave up waiting for a lock is told: how long it waited, and who
/// holds locks where the database tells: on PostgreSQL the sessions holding locks on tables of
/// the schema, with the tables; on MySQL/MariaDB the other sessions with open transactions;
/// on SQLite, which locks the whole file, that another connection writes to it. `conn` must
/// be usable again (rolled back to before the migration, or outside a transaction).
pub(crate) async fn explain<C: ConnectionTrait>(conn: &C) -> String {
    let waited = match current_timeout(conn).await {
        Some(t) => format!("after {} s (--ddl-lock-timeout)", t.as_secs_f64()),
        None => "(no --ddl-lock-timeout is set: the server's own timeout)".to_owned(),
    };
    let mut out = format!("gave up waiting for a lock {waited}");
    let backend = conn.get_database_backend();
    let holders = match backend {
        DbBackend::Postgres => {
            "SELECT DISTINCT l.pid AS pid, coalesce(a.application_name, '') AS app, \
               coalesce(a.state, '') AS state, c.relname::text AS rel, l.mode AS mode, \
               coalesce(to_char(a.xact_start, 'HH24:MI:SS'), '') AS since \
             FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.granted AND l.pid <> pg_backend_pid() AND n.nspname = current_schema() \
               AND c.relkind IN ('r', 'p', 'm') \
             ORDER BY rel, pid"
        }
        DbBackend::MySql => {
            "SELECT CAST(t.trx_mysql_thread_id AS SIGNED) AS pid, coalesce(p.USER, '') AS app, \
               coalesce(p.COMMAND, '') AS state, '' AS rel, t.trx_state AS mode, \
               CAST(t.trx_started AS CHAR) AS since \
             FROM information_schema.INNODB_TRX t \
             LEFT JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id \
             WHERE t.trx_mysql_thread_id <> CONNECTION_ID() ORDER BY t.trx_started"
        }
        _ => {
            out.push_str(
                ": another connection is writing to the database file (SQLite locks the whole \
                 file)",
            );
            return out;
        }
    };
    let Ok(rows) = conn
        .query_all_raw(sea_orm::Statement::from_string(backend, holders))
        .await
    else {
        return out;
    };
    let described: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let pid: i64 = r
                .try_get::<i64>("", "pid")
                .or_else(|_| r.try_get::<i32>("", "pid").map(i64::from))
                .ok()?;
            let get = |c: &str| r.try_get::<String>("", c).unwrap_or_default();
            Some(match backend {
                DbBackend::Postgres => format!(
                    "session pid {pid} (application {:?}, {}, transaction since {}) holds {} on \
                     table {:?}",
                    get("app"),
                    get("state"),
                    get("since"),
                    get("mode"),
                    get("rel")
                ),
                _ => format!(
                    "connection {pid} (user {:?}, {}) has a transaction open since {}",
                    get("app"),
                    get("state"),
                    get("since")
                ),
            })
        })
        .collect();
    if !described.is_empty() {
        out.push_str(&format!(": {}", described.join("; ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timeout_statement_fits_each_backend() {
        let two = Some(Duration::from_secs(2));
        assert_eq!(
            set_timeout_sql(DbBackend::Postgres, two),
            "SET lock_timeout = 2000"
        );
        assert_eq!(
            set_timeout_sql(DbBackend::MySql, two),
            "SET SESSION lock_wait_timeout = 2, innodb_lock_wait_timeout = 2"
        );
        assert_eq!(
            set_timeout_sql(DbBackend::Sqlite, two),
            "PRAGMA busy_timeout = 2000"
        );
        assert_eq!(
            set_timeout_sql(DbBackend::Postgres, None),
            "SET lock_timeout = 0"
        );
    }
}
