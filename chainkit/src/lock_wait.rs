//! How long a migration statement may wait for a table lock (`--ddl-lock-timeout`), how a
//! migration opts out ([`wait_for_locks`]), and what a migration that gave up is told.
//!
//! A migration's `ALTER TABLE` queued behind a long transaction holds its lock request, and
//! every later query on that table queues behind the migration: the application stalls for as
//! long as the migration waits. So the session the runner migrates on waits at most the DDL
//! lock timeout (PostgreSQL `lock_timeout`, MySQL `lock_wait_timeout` and
//! `innodb_lock_wait_timeout`, SQLite's busy timeout), set when it connects. Giving up is a
//! failed migration like any other.

use std::sync::Mutex;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr};
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

/// What a migration's session was seen waiting for, from a second session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Seen {
    /// The table it waited to lock, where known.
    pub(crate) table: Option<String>,
    /// The statement that waited.
    pub(crate) statement: Option<String>,
}

/// How long a migration runs before a second session looks at what it waits for: almost
/// every migration is done before, and costs nothing more than a timer.
const FIRST_LOOK: Duration = Duration::from_millis(300);
/// How soon the second session looks again; the pause grows to [`LAST_LOOK`], below the least
/// DDL lock timeout (a second), so that every statement that gives up is seen waiting.
const NEXT_LOOK: Duration = Duration::from_millis(200);
const LAST_LOOK: Duration = Duration::from_millis(500);

/// Runs `work` (a migration, on `db`'s session) and, should it take longer than a moment,
/// looks from a second session, again and again, at what that session waits for (PostgreSQL
/// `pg_locks`, MySQL/MariaDB `PROCESSLIST`), so that a migration that gives up waiting for a
/// lock can be told which table. The migration's session is found as the holder of the
/// migration lock; without it (or on SQLite, where nothing can be seen) nothing is.
pub(crate) async fn observed<F: std::future::Future>(
    db: &DatabaseConnection,
    work: F,
) -> (F::Output, Option<Seen>) {
    let backend = db.get_database_backend();
    if !matches!(backend, DbBackend::Postgres | DbBackend::MySql) {
        return (work.await, None);
    }
    let seen: Mutex<Option<Seen>> = Mutex::new(None);
    let opened: Mutex<Option<DatabaseConnection>> = Mutex::new(None);
    let watch = async {
        tokio::time::sleep(FIRST_LOOK).await;
        if let Some(Ok(other)) = crate::connect::another_session(db).await {
            *opened.lock().expect("not poisoned") = Some(other.clone());
            let mut pause = NEXT_LOOK;
            loop {
                // the latest wait seen; a statement that gives up has waited at least a
                // second (the least --ddl-lock-timeout), so its wait is seen before it ends
                if let Some(now) = look(&other, backend).await {
                    *seen.lock().expect("not poisoned") = Some(now);
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LAST_LOOK);
            }
        }
        std::future::pending::<()>().await;
    };
    let out = tokio::select! {
        biased;
        out = work => out,
        () = watch => unreachable!("the watch never ends"),
    };
    let other = opened.lock().expect("not poisoned").take();
    if let Some(other) = other {
        other.close().await.ok();
    }
    let seen = seen.lock().expect("not poisoned").take();
    (out, seen)
}

/// What the holder of the migration lock waits for, if it waits for a lock.
async fn look(other: &DatabaseConnection, backend: DbBackend) -> Option<Seen> {
    let sql = match backend {
        DbBackend::Postgres => format!(
            "SELECT coalesce(c.relname::text, '') AS rel, coalesce(a.query, '') AS stmt \
             FROM pg_locks m JOIN pg_locks w ON w.pid = m.pid AND NOT w.granted \
             LEFT JOIN pg_class c ON c.oid = w.relation \
             LEFT JOIN pg_stat_activity a ON a.pid = w.pid \
             WHERE m.locktype = 'advisory' AND m.granted AND m.classid = {} AND m.objid = {} \
               AND m.objsubid = 1 \
               AND m.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             LIMIT 1",
            crate::lock::PG_LOCK_KEY >> 32,
            crate::lock::PG_LOCK_KEY & 0xffff_ffff
        ),
        _ => "SELECT coalesce(p.STATE, '') AS rel, coalesce(p.INFO, '') AS stmt, \
                coalesce(t.trx_state, '') AS trx \
              FROM information_schema.PROCESSLIST p \
              LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID \
              WHERE p.ID = IS_USED_LOCK(CONCAT('chainkit_migrate:', DATABASE()))"
            .to_owned(),
    };
    let row = other
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .ok()??;
    let get = |c: &str| row.try_get::<String>("", c).unwrap_or_default();
    let statement = Some(get("stmt")).filter(|s| !s.trim().is_empty());
    let table = if backend == DbBackend::Postgres {
        // a lock on a table, or (a row lock) on another transaction: then the statement tells
        Some(get("rel"))
            .filter(|r| !r.is_empty())
            .or_else(|| statement.as_deref().and_then(table_of))
    } else {
        // MySQL: waiting for a metadata lock ("Waiting for table metadata lock") or a row lock
        let waits = get("rel").to_ascii_lowercase().contains("lock") || get("trx") == "LOCK WAIT";
        if !waits {
            return None;
        }
        statement.as_deref().and_then(table_of)
    };
    Some(Seen { table, statement })
}

/// The table a statement locks, read from its text: `ALTER TABLE t`, `CREATE INDEX … ON t`,
/// `INSERT INTO t`, `UPDATE t`, `DELETE FROM t`, `DROP TABLE t`, `TRUNCATE t`, `RENAME TABLE
/// t`, `LOCK TABLE(S) t`, `CREATE TRIGGER … ON t`; the name unquoted, without its schema.
pub(crate) fn table_of(statement: &str) -> Option<String> {
    let words = sql_words(statement);
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let at = |i: usize| upper.get(i).map(String::as_str);
    let skip = |mut i: usize, noise: &[&str]| {
        while at(i).is_some_and(|w| noise.contains(&w)) {
            i += 1;
        }
        i
    };
    const NOISE: &[&str] = &[
        "IF",
        "EXISTS",
        "ONLY",
        "IGNORE",
        "LOW_PRIORITY",
        "QUICK",
        "TABLE",
    ];
    let name_at = match (at(0)?, at(1)) {
        ("ALTER" | "DROP" | "RENAME" | "LOCK", Some("TABLE" | "TABLES")) => skip(2, NOISE),
        ("TRUNCATE", _) | ("UPDATE", _) => skip(1, NOISE),
        ("INSERT" | "REPLACE", _) | ("DELETE", _) => {
            let i = upper.iter().position(|w| w == "INTO" || w == "FROM")?;
            skip(i + 1, NOISE)
        }
        ("CREATE", _) if upper.iter().any(|w| w == "INDEX" || w == "TRIGGER") => {
            let i = upper.iter().position(|w| w == "ON")?;
            skip(i + 1, NOISE)
        }
        _ => return None,
    };
    let mut name = words.get(name_at)?.as_str();
    // schema.table: the words are split at the dot
    if words.get(name_at + 1).is_some_and(|w| w == ".") {
        name = words.get(name_at + 2)?.as_str();
    }
    let unquoted = name
        .strip_prefix(['`', '"'])
        .and_then(|n| n.strip_suffix(['`', '"']))
        .unwrap_or(name);
    (!unquoted.is_empty() && name != "(").then(|| unquoted.replace("``", "`").replace("\"\"", "\""))
}

/// `sql` cut into words: quoted identifiers whole, `.`, `(`, `)`, `,` and `;` on their own,
/// string literals and comments dropped.
fn sql_words(sql: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '-' if chars.peek() == Some(&'-') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for c in chars.by_ref() {
                    if last == '*' && c == '/' {
                        break;
                    }
                    last = c;
                }
            }
            '`' | '"' | '\'' => {
                let mut word = String::from(c);
                while let Some(n) = chars.next() {
                    word.push(n);
                    if n == c {
                        if chars.peek() == Some(&c) {
                            word.push(chars.next().expect("peeked"));
                        } else {
                            break;
                        }
                    }
                }
                if c != '\'' {
                    words.push(word);
                }
            }
            '.' | '(' | ')' | ',' | ';' => words.push(c.to_string()),
            _ => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "`\"'.(),;".contains(n) {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                words.push(word);
            }
        }
    }
    words
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

/// What a migration that gave up waiting for a lock is told: on which table and in which
/// statement where a second session saw it wait ([`observed`]), how long it waited, and who
/// holds locks where the database tells: on PostgreSQL the sessions holding locks on tables of
/// the schema, with the tables; on MySQL/MariaDB the other sessions with open transactions;
/// on SQLite, which locks the whole file, that another connection writes to it. `conn` must
/// be usable again (rolled back to before the migration, or outside a transaction).
pub(crate) async fn explain<C: ConnectionTrait>(conn: &C, seen: Option<&Seen>) -> String {
    let waited = match current_timeout(conn).await {
        Some(t) => format!("after {} s (--ddl-lock-timeout)", t.as_secs_f64()),
        None => "(no --ddl-lock-timeout is set: the server's own timeout)".to_owned(),
    };
    let on = match seen.and_then(|s| s.table.as_deref()) {
        Some(table) => format!(" on table {table:?}"),
        None => String::new(),
    };
    let mut out = format!("gave up waiting for a lock{on} {waited}");
    if let Some(statement) = seen.and_then(|s| s.statement.as_deref()) {
        out.push_str(&format!(" in `{}`", crate::error::shorten(statement)));
    }
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
    fn the_locked_table_is_read_from_the_statement() {
        for (statement, table) in [
            ("ALTER TABLE users ADD COLUMN nickname TEXT", Some("users")),
            (
                "ALTER TABLE IF EXISTS ONLY \"public\".\"users\" ADD x int",
                Some("users"),
            ),
            (
                "alter table `test`.`ext_billing_invoices` add `due` date",
                Some("ext_billing_invoices"),
            ),
            ("ALTER TABLE `we``ird` ADD x INT", Some("we`ird")),
            (
                "CREATE UNIQUE INDEX IF NOT EXISTS idx ON ext_a_t (a, b)",
                Some("ext_a_t"),
            ),
            (
                "CREATE INDEX CONCURRENTLY \"i\" ON ONLY \"t\" USING btree (a)",
                Some("t"),
            ),
            (
                "CREATE TRIGGER tr BEFORE INSERT ON `orders` FOR EACH ROW SET NEW.a = 1",
                Some("orders"),
            ),
            (
                "INSERT INTO seaql_migrations (version) VALUES ('m1')",
                Some("seaql_migrations"),
            ),
            ("INSERT IGNORE INTO t VALUES (1)", Some("t")),
            ("UPDATE LOW_PRIORITY t SET a = 'ON x'", Some("t")),
            (
                "DELETE FROM ext_a_items WHERE note = 'INTO y'",
                Some("ext_a_items"),
            ),
            (
                "-- a comment\n/* another */ DROP TABLE IF EXISTS t2, t3",
                Some("t2"),
            ),
            ("TRUNCATE TABLE t", Some("t")),
            ("RENAME TABLE a TO b", Some("a")),
            ("LOCK TABLES t WRITE", Some("t")),
            ("SELECT 1", None),
            ("CREATE TABLE t (a int)", None),
            ("ALTER TABLE", None),
            ("", None),
            ("INSERT", None),
            ("ALTER TABLE (", None),
            ("'unterminated", None),
        ] {
            assert_eq!(table_of(statement).as_deref(), table, "{statement}");
        }
    }

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
