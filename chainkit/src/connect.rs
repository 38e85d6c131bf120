//! Connecting for migrations: one connection, a bounded timeout, errors without passwords.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::error::Error;

/// How long connecting may take before giving up, unless told otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a single-connection pool for running migrations.
///
/// One connection keeps the whole run on one database session, so that a session-level lock
/// and the run's transactions share it, and an in-memory SQLite database stays one database.
///
/// # Errors
/// [`Error::Connect`] with the URL's password masked.
pub async fn connect(url: &str, timeout: Duration) -> Result<DatabaseConnection, Error> {
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
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .connect_timeout(timeout)
        .acquire_timeout(timeout)
        .test_before_acquire(false)
        .set_application_name(format!("chainkit migrate (pid {})", std::process::id()))
        .sqlx_logging(false);
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
            Err(fail(message.to_owned()))
        }
        Err(_) => Err(no_answer()),
    }
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

/// The URL with any password replaced by `***`: `postgres://app:***@db/prod`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_owned()
            }
        }
        None => url.to_owned(),
    }
}

/// Removes the URL's password from a driver message, should the driver repeat it.
fn scrub(message: &str, url: &str) -> String {
    let password = url
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?']).next())
        .and_then(|auth| auth.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, p)| p)
        .filter(|p| !p.is_empty());
    let one_line = message.replace('\n', " ");
    match password {
        Some(p) => one_line.replace(p, "***"),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_in_urls() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/prod?sslmode=require"),
            "postgres://app:***@db:5432/prod?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("sqlite://engine.db?mode=rwc"),
            "sqlite://engine.db?mode=rwc"
        );
        assert_eq!(redact_url("postgres://a:p@ss@h/d"), "postgres://a:***@h/d");
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
    fn passwords_are_scrubbed_from_driver_messages() {
        assert_eq!(
            scrub(
                "bad password s3cret\nfor app",
                "postgres://app:s3cret@db/prod"
            ),
            "bad password *** for app"
        );
    }
}
