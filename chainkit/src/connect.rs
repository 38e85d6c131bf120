//! Connecting for migrations: one connection, a bounded timeout, errors without passwords.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::error::Error;
use crate::redact::{redact_url, scrub};

/// How long connecting may take before giving up, unless told otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many prepared statements a MySQL connection for migrations keeps (sqlx's default:
/// 100). SeaORM prepares every statement it sends, and sqlx 0.9 leaves Nagle's algorithm on:
/// closing the least recently used statement to make room sends a packet the server does not
/// answer, so the next statement waits for the server's delayed acknowledgement, about 40 ms
/// on Linux. A fresh install of many migrations, each a few distinct statements, paid that on
/// nearly every statement (measured: a 500-migration install 1.5 times slower; with no cache,
/// 10 times). Enough room for every statement of a large run; the server frees them when the
/// connection closes (the engine's startup closes its connection after the run), and its
/// limit for all sessions together is `max_prepared_stmt_count`, 16382 by default.
pub(crate) const MYSQL_STATEMENT_CACHE: usize = 4096;

/// Opens a single-connection pool for running migrations, whose statements wait at most
/// [`DEFAULT_DDL_LOCK_TIMEOUT`](crate::DEFAULT_DDL_LOCK_TIMEOUT) for a lock.
///
/// One connection keeps the whole run on one database session, so that a session-level lock
/// and the run's transactions share it, and an in-memory SQLite database stays one database.
///
/// The connection logs its statements (sqlx, debug level), where the runner sees what
/// migrations send ([`capture_layer`](crate::capture_layer)). sqlx decides at connect time
/// whether a connection logs, so when the process has no global tracing subscriber yet, this
/// installs one holding only that layer: install yours, with the layer, before connecting.
///
/// # Errors
/// [`Error::Connect`] with the URL's secrets masked; at once when the port refuses or the host
/// is unknown.
pub async fn connect(url: &str, timeout: Duration) -> Result<DatabaseConnection, Error> {
    connect_with(
        url,
        timeout,
        Some(crate::lock_wait::DEFAULT_DDL_LOCK_TIMEOUT),
    )
    .await
}

/// A new one-connection pool to the database of `db` (PostgreSQL or MySQL, with `db`'s
/// connect options): `None` on SQLite, where another connection to an in-memory database
/// would be another database, and for connections that are not a driver's pool.
pub(crate) async fn another_session(
    db: &DatabaseConnection,
) -> Option<Result<DatabaseConnection, sea_orm::sqlx::Error>> {
    use sea_orm::DatabaseConnectionType as Inner;
    use sea_orm::sqlx::{mysql::MySqlPoolOptions, postgres::PgPoolOptions};
    Some(match &db.inner {
        Inner::SqlxPostgresPoolConnection(_) => {
            let options = db.get_postgres_connection_pool().connect_options();
            PgPoolOptions::new()
                .max_connections(1)
                .connect_with((*options).clone())
                .await
                .map(sea_orm::SqlxPostgresConnector::from_sqlx_postgres_pool)
        }
        Inner::SqlxMySqlPoolConnection(_) => {
            let options = db.get_mysql_connection_pool().connect_options();
            MySqlPoolOptions::new()
                .max_connections(1)
                .connect_with(
                    (*options)
                        .clone()
                        .statement_cache_capacity(MYSQL_STATEMENT_CACHE),
                )
                .await
                .map(sea_orm::SqlxMySqlConnector::from_sqlx_mysql_pool)
        }
        _ => return None,
    })
}

/// Whether `db` may hand out more than one connection (PostgreSQL and MySQL pools only:
/// SQLite's lock is the file's, whatever the connection).
pub(crate) fn many_sessions(db: &DatabaseConnection) -> bool {
    use sea_orm::DatabaseConnectionType as Inner;
    match &db.inner {
        Inner::SqlxPostgresPoolConnection(_) => {
            db.get_postgres_connection_pool()
                .options()
                .get_max_connections()
                > 1
        }
        Inner::SqlxMySqlPoolConnection(_) => {
            db.get_mysql_connection_pool()
                .options()
                .get_max_connections()
                > 1
        }
        _ => false,
    }
}

/// [`connect`], with statements waiting at most `ddl_lock_timeout` for a table lock (`None`:
/// without limit): PostgreSQL's `lock_timeout`, MySQL's `lock_wait_timeout` and
/// `innodb_lock_wait_timeout`, SQLite's busy timeout, for the session's whole life.
///
/// # Errors
/// As [`connect`].
pub async fn connect_with(
    url: &str,
    timeout: Duration,
    ddl_lock_timeout: Option<Duration>,
) -> Result<DatabaseConnection, Error> {
    open(url, timeout, ddl_lock_timeout).await
}

/// Opens the one-connection pool; every statement is logged by sqlx (at debug level, target
/// `sqlx::query`), where the runner sees what migrations send (see [`crate::clearance`]).
pub(crate) async fn open(
    url: &str,
    timeout: Duration,
    ddl_lock_timeout: Option<Duration>,
) -> Result<DatabaseConnection, Error> {
    open_with_log(url, timeout, ddl_lock_timeout, true).await
}

pub(crate) async fn open_with_log(
    url: &str,
    timeout: Duration,
    ddl_lock_timeout: Option<Duration>,
    log_statements: bool,
) -> Result<DatabaseConnection, Error> {
    let fail = |message: String| Error::Connect {
        url: redact_url(url),
        message: scrub(&message, url),
    };
    let scheme = url.split(':').next().unwrap_or_default();
    if !["sqlite", "postgres", "postgresql", "mysql", "mariadb"].contains(&scheme)
        || !url.contains(':')
    {
        return Err(fail(
            "unsupported URL; expected sqlite:PATH, postgres://… or mysql://…".to_owned(),
        ));
    }
    if log_statements {
        // sqlx decides at connect time whether the connection logs; with no subscriber yet,
        // it would not, and the runner could clear no migration by its statements
        crate::plan::capture::install();
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .test_before_acquire(false)
        .set_application_name(format!("chainkit migrate (pid {})", std::process::id()))
        .sqlx_logging(log_statements)
        .sqlx_logging_level(log::LevelFilter::Debug)
        .sqlx_slow_statements_logging_settings(log::LevelFilter::Debug, Duration::from_secs(1));
    let lock_ms = ddl_lock_timeout.map_or(0, |t| t.as_millis().max(1));
    options.map_sqlx_postgres_opts(move |o| o.options([("lock_timeout", lock_ms.to_string())]));
    options.map_sqlx_sqlite_opts(move |o| {
        o.busy_timeout(ddl_lock_timeout.unwrap_or(Duration::from_secs(i32::MAX as u64 / 1000)))
    });
    options.map_sqlx_mysql_opts(|o| o.statement_cache_capacity(MYSQL_STATEMENT_CACHE));
    if url.starts_with("mysql") || url.starts_with("mariadb") {
        // sqlx runs only static statements here; one short string per connection
        let sql: &'static str = Box::leak(
            crate::lock_wait::set_timeout_sql(DbBackend::MySql, ddl_lock_timeout).into_boxed_str(),
        );
        options.map_sqlx_mysql_pool_opts(move |o| {
            o.after_connect(move |conn, _| {
                Box::pin(async move {
                    use sea_orm::sqlx::Executor as _;
                    conn.execute(sql).await.map(|_| ())
                })
            })
        });
    }
    if url.contains(":memory:") || url.contains("mode=memory") {
        // the database lives as long as its one connection: never let the pool close it
        options.idle_timeout(None).max_lifetime(None);
    }
    let no_answer = || {
        fail(format!(
            "no connection within {}s; is the server running and reachable at this address?",
            timeout.as_secs()
        ))
    };
    // a refused port or an unknown host is known at once: say so, rather than let the pool
    // retry until the timeout and blame the timeout
    if let Some((host, port)) = server_address(url) {
        reachable(&host, port, timeout).await.map_err(fail)?;
    }
    match tokio::time::timeout(timeout + Duration::from_secs(1), Database::connect(options)).await {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) => {
            let message = e.to_string();
            if message.contains("pool timed out") {
                return Err(no_answer());
            }
            let message = message
                .trim_start_matches("Connection Error: ")
                .trim_start_matches("error returned from database: ");
            // PostgreSQL adds the line of its own source that raised the error
            let message = match message.rsplit_once(" at line ") {
                Some((head, line)) if line.chars().all(|c| c.is_ascii_digit()) => head,
                _ => message,
            };
            Err(fail(explain(message)))
        }
        Err(_) => Err(no_answer()),
    }
}

/// The host and TCP port a PostgreSQL or MySQL URL connects to (with the default port), when
/// it connects over TCP; `None` for SQLite and Unix sockets.
fn server_address(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://")?;
    let default = match scheme {
        "postgres" | "postgresql" => 5432,
        "mysql" | "mariadb" => 3306,
        _ => return None,
    };
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    if query
        .split('&')
        .any(|p| p.starts_with("host=") || p.starts_with("socket="))
    {
        return None;
    }
    let authority = before_query.split('/').next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() || host.starts_with('/') || host.starts_with('%') {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default,
    };
    Some((host.to_owned(), port))
}

/// Whether a TCP connection to `host:port` can be opened within `timeout`; the cause when the
/// answer is a clear no (the name does not resolve, every address refuses).
async fn reachable(host: &str, port: u16, timeout: Duration) -> Result<(), String> {
    let addresses: Vec<std::net::SocketAddr> =
        match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(e)) => return Err(format!("unknown host {host:?}: {e}")),
            // let the driver try, and tell its own story
            Err(_) => return Ok(()),
        };
    let mut refused = Vec::new();
    for address in &addresses {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused.push(address.to_string());
            }
            // unreachable, timed out, anything else: the driver's attempt says more
            _ => return Ok(()),
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(format!(
        "connection refused at {}: is the server running, and listening on port {port}?",
        refused.join(", ")
    ))
}

/// A driver's connection error with its cause named first, where it is one operators meet.
fn explain(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let cause = if lower.contains("password authentication failed")
        || lower.contains("access denied for user")
        || (lower.contains("role") && lower.contains("does not exist"))
    {
        "authentication failed"
    } else if lower.contains("unknown database")
        || (lower.contains("database") && lower.contains("does not exist"))
    {
        "the database does not exist (the engine creates tables, not databases)"
    } else if lower.contains("tls") || lower.contains("ssl") {
        "TLS"
    } else {
        return message.to_owned();
    };
    format!("{cause}: {message}")
}

/// `url` with its database path replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[after_scheme..]
        .find('/')
        .map(|i| after_scheme + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Whether `url` names an in-memory SQLite database (`sqlite::memory:`, `sqlite:`,
/// `sqlite://`, `mode=memory`), which lives only as long as its connection.
pub fn is_in_memory(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return false;
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = path.trim_start_matches("//");
    path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory")
}

/// The file an SQLite URL names (`sqlite://engine.db?mode=rwc` -> `engine.db`, relative to the
/// current directory); `None` for other backends and in-memory databases.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if is_in_memory(url) {
        return None;
    }
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.split_once('?').map_or(rest, |(p, _)| p);
    Some(std::path::PathBuf::from(path.trim_start_matches("//")))
}

/// How a command that only reads opens the database of `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOnly {
    /// Open this URL: the server's as given, an SQLite file opened read-only (`mode=ro`).
    Open(String),
    /// The SQLite file does not exist: there is nothing to read, and nothing may be created.
    Missing(std::path::PathBuf),
}

/// How to open `url` for a command that must not create or change anything.
pub fn read_only(url: &str) -> ReadOnly {
    let Some(file) = sqlite_file(url) else {
        return ReadOnly::Open(url.to_owned());
    };
    if !file.exists() {
        return ReadOnly::Missing(file);
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("mode="))
        .collect();
    params.push("mode=ro");
    ReadOnly::Open(format!("{base}?{}", params.join("&")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tcp_address_of_a_server_url_is_found() {
        let cases: &[(&str, Option<(&str, u16)>)] = &[
            (
                "postgres://bob@127.0.0.1:1/x?password=s",
                Some(("127.0.0.1", 1)),
            ),
            ("postgres://bob:pw@db.example/x", Some(("db.example", 5432))),
            ("mysql://root@127.0.0.1/test", Some(("127.0.0.1", 3306))),
            ("mysql://u:p@[::1]:3307/x", Some(("::1", 3307))),
            ("postgres:///x?host=/var/run/postgresql", None),
            ("postgres://%2Fvar%2Frun%2Fpostgresql/x", None),
            ("sqlite://engine.db?mode=rwc", None),
            ("postgres://h:notaport/x", None),
        ];
        for (url, expected) in cases {
            let found = server_address(url);
            assert_eq!(
                found.as_ref().map(|(h, p)| (h.as_str(), *p)),
                *expected,
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn a_refused_port_is_told_at_once_and_an_unknown_host_by_name() {
        let started = std::time::Instant::now();
        let err = connect("postgres://bob@127.0.0.1:1/x", Duration::from_secs(10))
            .await
            .unwrap_err()
            .to_string();
        assert!(started.elapsed() < Duration::from_secs(2), "{err}");
        assert!(err.contains("connection refused at 127.0.0.1:1"), "{err}");
        let err = connect("mysql://bob@no-such-host.invalid/x", Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown host \"no-such-host.invalid\""),
            "{err}"
        );
    }

    #[test]
    fn driver_errors_name_their_cause_first() {
        assert!(
            explain("password authentication failed for user \"bob\"")
                .starts_with("authentication failed: ")
        );
        assert!(
            explain("Access denied for user 'bob'@'localhost' (using password: YES)")
                .starts_with("authentication failed: ")
        );
        assert!(explain("Unknown database 'nosuchdb'").starts_with("the database does not exist"));
        assert!(
            explain("database \"x\" does not exist").starts_with("the database does not exist")
        );
        assert_eq!(explain("something else"), "something else");
    }

    #[test]
    fn in_memory_sqlite_urls_are_recognised() {
        for url in [
            "sqlite::memory:",
            "sqlite:",
            "sqlite://",
            "sqlite://x.db?mode=memory",
        ] {
            assert!(is_in_memory(url), "{url}");
        }
        for url in [
            "sqlite://engine.db?mode=rwc",
            "sqlite:engine.db",
            "postgres://h/db",
        ] {
            assert!(!is_in_memory(url), "{url}");
        }
    }

    #[test]
    fn read_only_commands_open_an_sqlite_file_read_only_and_never_create_one() {
        let dir = std::env::temp_dir().join(format!("chainkit-ro-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("engine.db");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        assert_eq!(read_only(&url), ReadOnly::Missing(file.clone()));
        std::fs::write(&file, b"").unwrap();
        assert_eq!(
            read_only(&url),
            ReadOnly::Open(format!("sqlite://{}?mode=ro", file.display()))
        );
        assert_eq!(
            read_only(&format!("sqlite:{}", file.display())),
            ReadOnly::Open(format!("sqlite:{}?mode=ro", file.display()))
        );
        std::fs::remove_dir_all(&dir).ok();
        let pg = "postgres://u@h/db";
        assert_eq!(read_only(pg), ReadOnly::Open(pg.to_owned()));
        assert_eq!(
            read_only("sqlite::memory:"),
            ReadOnly::Open("sqlite::memory:".to_owned())
        );
        assert_eq!(
            sqlite_file("sqlite://engine.db?mode=rwc"),
            Some("engine.db".into())
        );
        assert_eq!(sqlite_file("sqlite:///var/x.db"), Some("/var/x.db".into()));
        assert_eq!(sqlite_file("mysql://h/x"), None);
    }
}
