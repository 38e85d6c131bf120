//! One database-level lock around everything that changes migration state, so that several
//! engines started at once against one database apply every migration exactly once.
//!
//! - PostgreSQL: a session-level advisory lock (`pg_try_advisory_lock`), scoped to the
//!   database.
//! - MySQL/MariaDB: `GET_LOCK` on a name that includes the database name (`GET_LOCK` is
//!   server-wide).
//! - SQLite: an exclusive OS file lock (`flock`) on `{database file}.migrate-lock`, which also
//!   holds between processes; an in-memory database needs none.
//!
//! All three are released when their holder ends, even by SIGKILL: the session locks with the
//! connection (once the server notices it is gone), the file lock with the process.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::error::Error;

/// How long to wait for the lock unless told otherwise.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(300);

/// The PostgreSQL advisory lock key: "chainkit" in ASCII.
pub(crate) const PG_LOCK_KEY: i64 = 0x6368_6169_6e6b_6974;

/// The held migration lock. Release it with [`MigrationLock::release`]; if it is dropped
/// instead, it is released when the connection closes (or, for SQLite, at once).
#[derive(Debug)]
pub struct MigrationLock {
    held: Held,
}

#[derive(Debug)]
enum Held {
    Session,
    File(File),
    Nothing,
}

/// Why the migration lock cannot be trusted on the server whose version string is `version`:
/// some servers that speak PostgreSQL's or MySQL's protocol accept the lock functions but do
/// not lock (every session "gets" the lock), so several engines would migrate at once.
pub(crate) fn untrusted_lock(version: &str) -> Option<String> {
    if version.contains("CockroachDB") {
        return Some(
            "CockroachDB's pg_try_advisory_lock is a stub that locks nothing (session-level \
             advisory locks are not implemented there)"
                .to_owned(),
        );
    }
    if let Some(at) = version.find("-TiDB-v") {
        let release = &version[at + "-TiDB-v".len()..];
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u32>().ok());
        let (major, minor) = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        if (major, minor) < (5, 3) {
            return Some(format!(
                "TiDB before 5.3 treats GET_LOCK as a no-op function (this is TiDB {release})"
            ));
        }
    }
    None
}

/// Refuses to go on when the server's version string (column `v` of the lock statement) names
/// a server whose lock does not lock.
fn trust_server(row: Option<&sea_orm::QueryResult>) -> Result<(), Error> {
    let version: String = row
        .and_then(|r| r.try_get::<String>("", "v").ok())
        .unwrap_or_default();
    match untrusted_lock(&version) {
        Some(reason) => Err(Error::Lock {
            message: format!(
                "refusing to migrate without a real lock: {reason}; the server says {version:?}. \
                 Supported: PostgreSQL, MySQL, MariaDB, SQLite"
            ),
        }),
        None => Ok(()),
    }
}

fn lock_failed(what: &str) -> impl FnOnce(sea_orm::DbErr) -> Error + '_ {
    move |e| Error::db(format!("migration lock: {what}"))(e)
}

/// Takes the migration lock on `db`'s database, waiting at most `timeout`. While it waits it
/// logs (at warn level) that it waits and, where the database tells, for whom.
///
/// On PostgreSQL and MySQL the lock belongs to the database session that took it: call this,
/// the work it guards and [`MigrationLock::release`] on a pool of one connection (as
/// [`connect`](crate::connect) opens; [`migrate`](crate::migrate) makes one itself when given
/// a larger pool).
///
/// # Errors
/// [`Error::LockTimeout`] when the lock is not free within `timeout`; [`Error::Database`] or
/// [`Error::Lock`] when it cannot be asked for.
pub async fn lock(db: &DatabaseConnection, timeout: Duration) -> Result<MigrationLock, Error> {
    let backend = db.get_database_backend();
    let started = Instant::now();
    let mut pause = Duration::from_millis(20);
    let mut told = false;
    let mut file: Option<File> = None;
    loop {
        let acquired = match backend {
            DbBackend::Postgres => {
                let row = db
                    .query_one_raw(Statement::from_sql_and_values(
                        backend,
                        "SELECT pg_try_advisory_lock($1) AS ok, version() AS v",
                        [PG_LOCK_KEY.into()],
                    ))
                    .await
                    .map_err(lock_failed("pg_try_advisory_lock"))?;
                trust_server(row.as_ref())?;
                row.map(|r| r.try_get::<bool>("", "ok"))
                    .transpose()
                    .map_err(lock_failed("pg_try_advisory_lock"))?
                    .unwrap_or(false)
                    .then_some(Held::Session)
            }
            DbBackend::MySql => {
                let row = db
                    .query_one_raw(Statement::from_string(
                        backend,
                        "SELECT GET_LOCK(CONCAT('chainkit_migrate:', DATABASE()), 0) AS ok, \
                         VERSION() AS v",
                    ))
                    .await
                    .map_err(lock_failed("GET_LOCK"))?;
                trust_server(row.as_ref())?;
                let ok: Option<i64> = row
                    .map(|r| r.try_get::<Option<i64>>("", "ok"))
                    .transpose()
                    .map_err(lock_failed("GET_LOCK"))?
                    .flatten();
                match ok {
                    Some(1) => Some(Held::Session),
                    Some(_) => None,
                    // GET_LOCK(NULL): DATABASE() is NULL
                    None => {
                        return Err(Error::Lock {
                            message: "no database is selected; name one in the URL \
                                      (mysql://USER@HOST:3306/DATABASE)"
                                .to_owned(),
                        });
                    }
                }
            }
            _ => match sqlite_lock_path(db).await? {
                None => Some(Held::Nothing),
                Some(path) => {
                    let f = match &file {
                        Some(f) => f,
                        None => file.insert(
                            OpenOptions::new()
                                .create(true)
                                .truncate(false)
                                .read(true)
                                .write(true)
                                .open(&path)
                                .map_err(|e| Error::Lock {
                                    message: format!("cannot open {}: {e}", path.display()),
                                })?,
                        ),
                    };
                    match f.try_lock() {
                        Ok(()) => {
                            let mut f = file.take().expect("opened above");
                            f.set_len(0).ok();
                            let _ = write!(f, "pid {}", std::process::id());
                            Some(Held::File(f))
                        }
                        Err(std::fs::TryLockError::WouldBlock) => None,
                        Err(std::fs::TryLockError::Error(e)) => {
                            return Err(Error::Lock {
                                message: format!("cannot lock {}: {e}", path.display()),
                            });
                        }
                    }
                }
            },
        };
        if let Some(held) = acquired {
            if told {
                tracing::warn!(
                    "took the migration lock after waiting {} ms",
                    started.elapsed().as_millis()
                );
            }
            return Ok(MigrationLock { held });
        }
        if started.elapsed() >= timeout {
            return Err(Error::LockTimeout {
                waited: timeout,
                holder: holder(db).await,
            });
        }
        if !told {
            told = true;
            match holder(db).await {
                Some(h) => tracing::warn!("waiting for the migration lock, held by {h}"),
                None => tracing::warn!("waiting for the migration lock, held by another engine"),
            }
        }
        let left = timeout.saturating_sub(started.elapsed());
        tokio::time::sleep(pause.min(left)).await;
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

/// Who holds the lock, as far as the database tells.
async fn holder(db: &DatabaseConnection) -> Option<String> {
    let backend = db.get_database_backend();
    match backend {
        DbBackend::Postgres => {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT a.pid AS pid, coalesce(a.application_name, '') AS app, \
                     coalesce(a.client_addr::text, 'local') AS client \
                     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                     WHERE l.locktype = 'advisory' AND l.granted \
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND l.classid = ($1 >> 32)::oid AND l.objid = ($1 & 4294967295)::oid",
                    [PG_LOCK_KEY.into()],
                ))
                .await
                .ok()??;
            let pid: i32 = row.try_get("", "pid").ok()?;
            let app: String = row.try_get("", "app").ok()?;
            let client: String = row.try_get("", "client").ok()?;
            Some(format!(
                "PostgreSQL session {pid} ({}from {client})",
                if app.is_empty() {
                    String::new()
                } else {
                    format!("{app}, ")
                }
            ))
        }
        DbBackend::MySql => {
            let row = db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT IS_USED_LOCK(CONCAT('chainkit_migrate:', DATABASE())) AS id",
                ))
                .await
                .ok()??;
            let id: Option<i64> = row.try_get("", "id").ok()?;
            id.map(|id| format!("MySQL connection {id}"))
        }
        _ => {
            let path = sqlite_lock_path(db).await.ok()??;
            let text = std::fs::read_to_string(&path).ok()?;
            let text = text.trim();
            (!text.is_empty()).then(|| {
                format!(
                    "process {} (see {})",
                    text.trim_start_matches("pid "),
                    path.display()
                )
            })
        }
    }
}

/// The lock file of an SQLite database: `{file}.migrate-lock`; `None` in memory.
async fn sqlite_lock_path(db: &DatabaseConnection) -> Result<Option<PathBuf>, Error> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await
        .map_err(lock_failed("PRAGMA database_list"))?;
    for row in rows {
        let name: String = row
            .try_get("", "name")
            .map_err(lock_failed("PRAGMA database_list"))?;
        if name == "main" {
            let file: String = row
                .try_get("", "file")
                .map_err(lock_failed("PRAGMA database_list"))?;
            return Ok((!file.is_empty()).then(|| PathBuf::from(format!("{file}.migrate-lock"))));
        }
    }
    Ok(None)
}

impl MigrationLock {
    /// Releases the lock.
    ///
    /// # Errors
    /// [`Error::Database`] when the database refuses; the lock then ends with the connection.
    pub async fn release(self, db: &DatabaseConnection) -> Result<(), Error> {
        let backend = db.get_database_backend();
        match self.held {
            Held::Session => {
                let sql = match backend {
                    DbBackend::Postgres => Statement::from_sql_and_values(
                        backend,
                        "SELECT pg_advisory_unlock($1)",
                        [PG_LOCK_KEY.into()],
                    ),
                    _ => Statement::from_string(
                        backend,
                        "SELECT RELEASE_LOCK(CONCAT('chainkit_migrate:', DATABASE()))",
                    ),
                };
                db.execute_raw(sql).await.map_err(lock_failed("release"))?;
            }
            Held::File(file) => {
                file.set_len(0).ok();
                file.unlock().ok();
            }
            Held::Nothing => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod trust_tests {
    use super::untrusted_lock;

    #[test]
    fn servers_whose_lock_does_not_lock_are_recognised_by_their_version_string() {
        for untrusted in [
            "CockroachDB CCL v23.1.11 (x86_64-pc-linux-gnu, built 2023/09/27 01:53:43, go1.19.10)",
            "CockroachDB CCL v25.2.0 (aarch64-unknown-linux-gnu, built 2025/05/12, go1.23.7)",
            "5.7.25-TiDB-v4.0.16",
            "5.7.25-TiDB-v5.2.1",
        ] {
            assert!(untrusted_lock(untrusted).is_some(), "{untrusted}");
        }
        for trusted in [
            "PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14+deb12u1) 12.2.0, 64-bit",
            "PostgreSQL 17.2 on aarch64-apple-darwin23.6.0, compiled by Apple clang version 16.0.0, 64-bit",
            "10.11.19-MariaDB-0+deb12u1",
            "8.0.39",
            "8.4.3-commercial",
            "5.7.25-TiDB-v5.3.0",
            "8.0.11-TiDB-v7.5.1",
            "",
        ] {
            assert!(untrusted_lock(trusted).is_none(), "{trusted}");
        }
    }
}
