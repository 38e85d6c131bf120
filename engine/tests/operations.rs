//! What operators rely on: several engines started at once, a lock that times out with a
//! clear message, and clear errors for bad connection input. Real separate processes.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chainkit::testing::{Backend, TestDatabase};
use sea_orm::ConnectionTrait;

fn engine_command(url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_engine"));
    command
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG");
    command
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn count(db: &sea_orm::DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn engines_started_at_once_all_succeed_and_apply_every_migration_once() {
    const ENGINES: usize = 4;
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let children: Vec<_> = (0..ENGINES)
            .map(|_| {
                engine_command(&test_db.url, &[])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let outputs: Vec<Output> = children
            .into_iter()
            .map(|c| c.wait_with_output().unwrap())
            .collect();
        let mut applied = 0;
        for out in &outputs {
            assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
            applied += text(&out.stdout)
                .lines()
                .filter(|l| l.trim_start().starts_with("+ m"))
                .count();
        }
        // whatever workflow projects the workspace registers
        let registry = engine::registry().unwrap();
        let total: usize = registry
            .chains()
            .iter()
            .map(|c| c.migration_names().len())
            .sum();
        assert_eq!(
            applied, total,
            "{backend}: every migration applied by exactly one engine"
        );
        let db = test_db.connect().await;
        for chain in registry.chains() {
            assert_eq!(
                count(&db, chain.version_table()).await,
                chain.migration_names().len() as i64,
                "{backend}: {}",
                chain.namespace()
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_waiting_engine_says_for_whom_and_gives_up_after_the_lock_timeout() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let held = chainkit::lock(&db, Duration::from_secs(5)).await.unwrap();

        let started = Instant::now();
        let out = engine_command(&test_db.url, &["--lock-timeout", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{backend}");
        assert!(started.elapsed() < Duration::from_secs(15), "{backend}");
        let err = text(&out.stderr);
        assert!(
            err.contains("waiting for the migration lock, held by "),
            "{backend}: {err}"
        );
        assert!(
            err.contains("error: timed out after 1s waiting for the migration lock, held by "),
            "{backend}: {err}"
        );
        let holder = match backend {
            Backend::Postgres => format!("chainkit migrate (pid {})", std::process::id()),
            Backend::MySql => "MySQL connection ".to_owned(),
            Backend::Sqlite => format!("process {}", std::process::id()),
        };
        assert!(err.contains(&holder), "{backend}: {err}");
        // a command that changes something waits for the lock too
        let out = engine_command(&test_db.url, &["migrate", "up", "--lock-timeout", "1"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{backend}");
        // status does not
        let out = engine_command(&test_db.url, &["migrate", "status"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}");

        held.release(&db).await.unwrap();
        let out = engine_command(&test_db.url, &["--lock-timeout", "5"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

/// One line on stderr, exit code 1, no password, no panic.
fn assert_one_line_error(out: &Output, starts: &str, password: Option<&str>) {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.starts_with(starts), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    if let Some(p) = password {
        assert!(!err.contains(p), "{err}");
    }
}

#[test]
fn bad_connection_input_is_one_line_without_the_password() {
    let run = |url: &str| {
        engine_command(url, &["--connect-timeout", "3"])
            .output()
            .unwrap()
    };
    // unparsable
    let out = run("postgres://app:s3cret@[not-a-host/db");
    assert_one_line_error(
        &out,
        "error: cannot connect to postgres://app:***@",
        Some("s3cret"),
    );
    let out = run("ftp://example.org/db");
    assert_one_line_error(
        &out,
        "error: cannot connect to ftp://example.org/db: unsupported URL",
        None,
    );
    // unreachable host (nothing listens on port 1), within the bounded timeout
    let started = Instant::now();
    let out = run("mysql://root:s3cret@127.0.0.1:1/test");
    assert_one_line_error(
        &out,
        "error: cannot connect to mysql://root:***@127.0.0.1:1/test: ",
        Some("s3cret"),
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // an SQLite file that does not exist, opened without mode=rwc
    let out = run("sqlite:///nonexistent-dir/engine.db");
    assert_one_line_error(
        &out,
        "error: cannot connect to sqlite:///nonexistent-dir/engine.db: ",
        None,
    );
}

#[test]
fn wrong_credentials_and_missing_databases_are_named() {
    let mut cases = Vec::new();
    if let Ok(url) = std::env::var("TEST_POSTGRES_URL") {
        cases.push(chainkit::testing::with_database(
            &url.replacen("://", "://nosuchuser:s3cret@", 1)
                .replacen("postgres@", "", 1)
                .replacen("root@", "", 1),
            "test",
        ));
        cases.push(chainkit::testing::with_database(&url, "no_such_database"));
    }
    if let Ok(url) = std::env::var("TEST_MYSQL_URL") {
        cases.push(url.replacen("root@", "root:wrong-s3cret@", 1));
        cases.push(chainkit::testing::with_database(&url, "no_such_database"));
        // a MySQL URL naming no database connects, but there is nothing to migrate
        let no_database = chainkit::testing::with_database(&url, "");
        let out = engine_command(&no_database, &["--lock-timeout", "3"])
            .output()
            .unwrap();
        assert_one_line_error(
            &out,
            "error: migration lock: no database is selected; name one in the URL",
            None,
        );
    }
    for url in cases {
        let out = engine_command(&url, &["--connect-timeout", "3"])
            .output()
            .unwrap();
        let redacted = chainkit::redact_url(&url);
        assert_one_line_error(
            &out,
            &format!("error: cannot connect to {redacted}: "),
            Some("s3cret"),
        );
        let err = text(&out.stderr);
        assert!(
            err.contains("password")
                || err.contains("denied")
                || err.contains("does not exist")
                || err.contains("Unknown database")
                || err.contains("nosuchuser"),
            "{err}"
        );
    }
}

/// The URL forms operators paste, each with the secret it holds (raw, and as the server would
/// see it when percent-encoded).
const SECRET_URLS: &[(&str, &[&str])] = &[
    (
        "postgres://bob@127.0.0.1:1/x?password=hunter2secret",
        &["hunter2secret"],
    ),
    (
        "postgres://bob@127.0.0.1:1/x?sslmode=disable&password=hunter2secret",
        &["hunter2secret"],
    ),
    (
        "mysql://bob@127.0.0.1:1/x?password=hunter2secret",
        &["hunter2secret"],
    ),
    (
        "postgres://bob:hunter2secret%73@127.0.0.1:1/x",
        &["hunter2secret%73", "hunter2secrets"],
    ),
    (
        "mysql://bob:hunter2secret@127.0.0.1:3306/nosuchdb",
        &["hunter2secret"],
    ),
];

#[test]
fn no_command_prints_a_secret_of_its_url() {
    let commands: &[&[&str]] = &[
        &[],
        &["migrate", "status"],
        &["migrate", "status", "--json"],
        &["migrate", "up"],
        &["migrate", "up", "--ns", "engine"],
        &["migrate", "down", "--ns", "engine"],
        &["migrate", "fresh", "--ns", "template"],
        &["migrate", "reset", "--ns", "template"],
        &["migrate", "refresh", "--ns", "template"],
        &["migrate", "resolve", "--ns", "template", "m1", "--applied"],
        &["migrate", "check"],
        &[
            "migrate",
            "autogenerate",
            "--ns",
            "template",
            "nothing_to_write",
        ],
    ];
    for (url, secrets) in SECRET_URLS {
        for args in commands {
            // from the command line and from DATABASE_URL
            for from_env in [false, true] {
                let mut command = Command::new(env!("CARGO_BIN_EXE_engine"));
                if from_env {
                    command.env("DATABASE_URL", url);
                } else {
                    command.env_remove("DATABASE_URL").args(["-u", url]);
                }
                let out = command
                    .args(*args)
                    .args(["--connect-timeout", "2"])
                    .env("RUST_LOG", "debug")
                    .output()
                    .unwrap();
                let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
                for secret in *secrets {
                    assert!(
                        !all.contains(secret),
                        "{args:?} with {url} (from env: {from_env}) shows {secret}:\n{all}"
                    );
                }
                // check and autogenerate use a server only when named on the command line
                let scratch_only =
                    from_env && args.iter().any(|a| *a == "check" || *a == "autogenerate");
                if !scratch_only {
                    assert_ne!(out.status.code(), Some(0), "{args:?} with {url}: {all}");
                }
            }
        }
    }
}

#[test]
fn a_refused_port_is_reported_as_refused_at_once() {
    for url in ["postgres://bob@127.0.0.1:1/x", "mysql://bob@127.0.0.1:1/x"] {
        let started = Instant::now();
        let out = engine_command(url, &["--connect-timeout", "10"])
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("connection refused at 127.0.0.1:1"),
            "{url}: {stderr}"
        );
        assert!(elapsed < Duration::from_secs(1), "{url}: took {elapsed:?}");
    }
}
