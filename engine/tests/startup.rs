//! The engine's startup with its real chains, through the library and the binary, on every
//! available backend (SQLite always; PostgreSQL and MySQL when their test URLs are set).

use std::process::{Command, Output};

use chainkit::testing::{TestDatabase, table_names};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;

fn engine(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .output()
        .expect("running the engine binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn the_template_project_is_discovered_from_its_dependency() {
    let registry = engine::registry().unwrap();
    let namespaces = registry.namespaces();
    assert_eq!(namespaces[0], "engine");
    assert!(
        namespaces.contains(&"template".to_owned()),
        "{namespaces:?}"
    );
    assert_eq!(
        registry.get("template").unwrap().version_table(),
        "seaql_migrations_template"
    );
}

#[test]
fn workflow_projects_pin_the_exact_engine_version() {
    let engine_version = env!("CARGO_PKG_VERSION");
    assert_eq!(chainkit::ENGINE_VERSION, engine_version);
    assert_eq!(ext_template::ENGINE_VERSION, engine_version);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for manifest in [
        "ext-template/Cargo.toml",
        "ext-template-migration/Cargo.toml",
    ] {
        let text = std::fs::read_to_string(root.join(manifest)).unwrap();
        let pin =
            format!(r#"chainkit = {{ path = "../chainkit", version = "={engine_version}" }}"#);
        assert!(
            text.contains(&pin),
            "{manifest} must require chainkit ={engine_version}"
        );
    }
}

#[tokio::test]
async fn the_binary_applies_every_chain_then_nothing_and_reports_status_as_json() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let first = engine(&test_db.url, &[]);
        assert!(first.status.success(), "{backend}: {}", text(&first.stderr));
        let out = text(&first.stdout);
        // one summary line per registered chain, in run order
        let registry = engine::registry().unwrap();
        let summaries: Vec<Vec<&str>> = out
            .lines()
            .filter(|l| l.contains(" now; "))
            .map(|l| l.split_whitespace().take(5).collect())
            .collect();
        let expected: Vec<Vec<String>> = registry
            .chains()
            .iter()
            .map(|c| {
                vec![
                    c.namespace().to_owned(),
                    c.version_table().to_owned(),
                    "applied".to_owned(),
                    c.migration_names().len().to_string(),
                    "now;".to_owned(),
                ]
            })
            .collect();
        assert_eq!(summaries, expected, "{out}");
        assert!(out.contains("+ m20260201_000001_create_requests"), "{out}");

        let second = engine(&test_db.url, &[]);
        assert!(
            second.status.success(),
            "{backend}: {}",
            text(&second.stderr)
        );
        let out = text(&second.stdout);
        assert!(out.contains("0 migration(s) applied"), "{out}");
        assert!(!out.contains('+'), "{out}");

        let status = engine(&test_db.url, &["migrate", "status", "--json"]);
        assert!(
            status.status.success(),
            "{backend}: {}",
            text(&status.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let chains = json.as_array().unwrap();
        assert_eq!(chains.len(), registry.chains().len());
        for (chain, registered) in chains.iter().zip(registry.chains()) {
            assert_eq!(chain["namespace"], registered.namespace());
            assert_eq!(chain["version_table"], registered.version_table());
            let migrations = chain["migrations"].as_array().unwrap();
            assert_eq!(migrations.len(), registered.migration_names().len());
            for m in migrations {
                assert_eq!(m["status"], "applied");
                assert!(m["applied_at"].as_i64().unwrap() > 1_700_000_000);
                assert!(m["name"].as_str().unwrap().starts_with("m2026"));
            }
        }

        let db = test_db.connect().await;
        let tables = table_names(&db).await;
        for t in [
            "users",
            "workflow_instances",
            "tasks",
            "ext_template_requests",
            "ext_template_request_items",
        ] {
            assert!(
                tables.contains(&t.to_owned()),
                "{backend}: {t} missing from {tables:?}"
            );
        }
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn status_on_an_empty_database_lists_everything_pending_and_creates_nothing() {
    for test_db in TestDatabase::all().await {
        let status = engine(&test_db.url, &["migrate", "status", "--json"]);
        assert!(status.status.success(), "{}", text(&status.stderr));
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        for chain in json.as_array().unwrap() {
            for m in chain["migrations"].as_array().unwrap() {
                assert_eq!(m["status"], "pending");
                assert!(m["applied_at"].is_null());
            }
        }
        let db = test_db.connect().await;
        assert!(table_names(&db).await.is_empty(), "{}", test_db.backend);
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn a_failing_workflow_migration_exits_non_zero_naming_namespace_migration_and_cause() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        // something already occupies the template's first table
        db.execute_unprepared("CREATE TABLE ext_template_requests (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.close().await.ok();

        let run = engine(&test_db.url, &[]);
        assert_eq!(run.status.code(), Some(1), "{backend}");
        let stderr = text(&run.stderr);
        // progress first, as each migration is applied, then the error
        assert!(
            stderr.contains("INFO applied engine m20260115_000001_create_tasks\n"),
            "{backend}: {stderr}"
        );
        let err = &stderr[stderr.find("error: ").expect("an error line")..];
        assert!(
            err.starts_with(
                "error: namespace \"template\": migration m20260201_000001_create_requests (up): "
            ),
            "{backend}: {err}"
        );
        assert!(err.contains("ext_template_requests"), "{backend}: {err}");
        assert!(err.contains("already exists"), "{backend}: {err}");
        assert!(
            err.contains("engine m20260115_000001_create_tasks"),
            "{backend}: {err}"
        );
        assert!(!err.contains("panicked"), "{backend}: {err}");

        // the engine chain was applied; the template chain recorded nothing
        let status = engine(&test_db.url, &["migrate", "status", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let chain = |ns: &str| {
            json.as_array()
                .unwrap()
                .iter()
                .find(|c| c["namespace"] == ns)
                .unwrap()
                .clone()
        };
        assert_eq!(chain("engine")["migrations"][1]["status"], "applied");
        assert_eq!(chain("template")["migrations"][0]["status"], "pending");
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn stock_sea_orm_migration_and_this_runner_read_each_others_version_tables() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        // the stock runner applies both chains ...
        engine_migration::Migrator::up(&db, None).await.unwrap();
        ext_template_migration::Migrator::up(&db, None)
            .await
            .unwrap();
        // ... this runner sees them applied
        let registry = engine::registry().unwrap();
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        // (other workflow projects the workspace registers are applied now)
        assert_eq!(report.applied_to("engine").count(), 0, "{backend}");
        assert_eq!(report.applied_to("template").count(), 0, "{backend}");
        // the stock runner rolls one back; this runner re-applies it
        ext_template_migration::Migrator::down(&db, Some(1))
            .await
            .unwrap();
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        let applied: Vec<&str> = report.applied_to("template").collect();
        assert_eq!(
            applied,
            ["m20260215_000001_add_request_status"],
            "{backend}"
        );
        // and the stock status agrees
        let pending = ext_template_migration::Migrator::get_pending_migrations(&db)
            .await
            .unwrap();
        assert!(pending.is_empty(), "{backend}");
        assert!(
            engine_migration::Migrator::get_pending_migrations(&db)
                .await
                .unwrap()
                .is_empty()
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn version_tables_this_runner_creates_work_with_stock_sea_orm_migration() {
    // this runner's version tables bound `version` to 255 (see README, Compatibility): the
    // stock runner reads and writes them as its own
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let db = test_db.connect().await;
        let registry = engine::registry().unwrap();
        chainkit::migrate(&db, &registry).await.unwrap();
        assert!(
            ext_template_migration::Migrator::get_pending_migrations(&db)
                .await
                .unwrap()
                .is_empty(),
            "{backend}"
        );
        ext_template_migration::Migrator::down(&db, Some(1))
            .await
            .unwrap();
        assert_eq!(
            ext_template_migration::Migrator::get_pending_migrations(&db)
                .await
                .unwrap()
                .len(),
            1,
            "{backend}"
        );
        ext_template_migration::Migrator::up(&db, None)
            .await
            .unwrap();
        let report = chainkit::migrate(&db, &registry).await.unwrap();
        assert_eq!(report.applied_to("template").count(), 0, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[test]
fn a_bad_database_url_is_one_line_without_the_password() {
    let run = engine(
        "postgres://app:s3cret@127.0.0.1:1/nowhere",
        &["--connect-timeout", "2"],
    );
    assert_eq!(run.status.code(), Some(1));
    let err = text(&run.stderr);
    assert!(
        err.starts_with("error: cannot connect to postgres://app:***@127.0.0.1:1/nowhere: "),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let run = engine("not a url", &[]);
    assert_eq!(run.status.code(), Some(1));
    assert!(text(&run.stderr).starts_with("error: cannot connect to not a url: unsupported URL"));
}

#[tokio::test]
async fn scoped_commands_of_the_binary_leave_the_engine_tables_alone() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        assert!(engine(&test_db.url, &[]).status.success());
        let db = test_db.connect().await;
        db.execute_unprepared(
            "INSERT INTO users (id, username, display_name, created_at) \
             VALUES (1, 'ada', 'Ada', '2026-01-01 00:00:00')",
        )
        .await
        .unwrap();
        db.close().await.ok();

        let fresh = engine(&test_db.url, &["migrate", "fresh", "--ns", "template"]);
        assert!(fresh.status.success(), "{backend}: {}", text(&fresh.stderr));
        let out = text(&fresh.stdout);
        assert!(
            out.contains("dropped      table \"ext_template_requests\""),
            "{out}"
        );
        assert!(out.contains("3 object(s) dropped, 2 applied"), "{out}");

        let registry = engine::registry().unwrap();
        let workflows: Vec<&str> = registry.workflows().iter().map(|c| c.namespace()).collect();
        let refused = engine(&test_db.url, &["migrate", "reset", "--ns", "engine"]);
        assert_eq!(refused.status.code(), Some(1));
        assert!(
            text(&refused.stderr).contains(&format!(
                "workflow chains have applied migrations: {}",
                workflows.join(", ")
            )),
            "{}",
            text(&refused.stderr)
        );
        // a wrong command line: exit 2, as for any usage error
        let no_ns = engine(&test_db.url, &["migrate", "down"]);
        assert_eq!(no_ns.status.code(), Some(2));
        assert_eq!(
            text(&no_ns.stderr).trim(),
            format!(
                "error: down: which chain? pass --ns with one of: {}",
                registry.namespaces().join(", ")
            )
        );

        let db = test_db.connect().await;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM users",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 1, "{backend}");
        // a removed workflow project's leftovers are reported, not fatal
        db.execute_unprepared("CREATE TABLE ext_gone_things (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.close().await.ok();
        let status = engine(&test_db.url, &["migrate", "status"]);
        assert!(status.status.success());
        assert!(
            text(&status.stderr).contains(
                "warning: namespace \"gone\" is not registered with this engine, but its tables \
                 are in the database (a removed workflow project?): ext_gone_things"
            ),
            "{}",
            text(&status.stderr)
        );
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn the_engine_entities_agree_with_the_engine_migrations() {
    let registry = engine::registry().unwrap();
    chainkit::testing::assert_entities_match(&registry, "engine").await;
}

#[test]
fn migrate_check_agrees_for_every_chain_and_refuses_an_unknown_namespace() {
    // a disagreement (exit 1, the differences listed) is tested in xtask's autogenerate test,
    // which changes the entities of a copy of the workspace
    let out = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["migrate", "check"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("namespace \"engine\": entities and migrations agree"),
        "{text}"
    );
    assert!(
        text.contains("namespace \"template\": entities and migrations agree"),
        "{text}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["migrate", "check", "--ns", "nosuch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nosuch"));
}

#[tokio::test]
async fn a_closed_stdout_ends_the_output_quietly_after_migrating() {
    use std::process::Stdio;
    let test_db = TestDatabase::create(chainkit::testing::Backend::Sqlite).await;
    for args in [&[][..], &["migrate", "status"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_engine"))
            .args(args)
            .env("DATABASE_URL", &test_db.url)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("running the engine binary");
        // `engine | head -0`: the reader is gone before the first line is written
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = text(&out.stderr);
        assert!(out.status.success(), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("Broken pipe"), "{args:?}: {stderr}");
    }
    let db = test_db.connect().await;
    assert!(
        table_names(&db)
            .await
            .contains(&"seaql_migrations".to_owned()),
        "the engine migrated although nobody read its output"
    );
    db.close().await.ok();
    test_db.drop_database().await;
}

/// Runs the engine in `dir` with the default database (no `DATABASE_URL`).
fn engine_in(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("RUST_LOG")
        .output()
        .expect("running the engine binary")
}

#[test]
fn read_only_commands_and_command_line_mistakes_create_nothing() {
    let dir = std::env::temp_dir().join(format!("engine-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::path::absolute(dir.join("engine.db")).unwrap();

    let status = engine_in(&dir, &["migrate", "status"]);
    assert!(status.status.success(), "{}", text(&status.stderr));
    assert!(
        text(&status.stderr).contains(&format!("there is no database at {}", file.display())),
        "{}",
        text(&status.stderr)
    );
    assert!(text(&status.stdout).contains("pending"));
    let json = engine_in(&dir, &["migrate", "status", "--json"]);
    assert!(json.status.success());
    // a wrong command line exits 2, before anything is opened
    for (args, says) in [
        (&["migrate", "down"][..], "pass --ns"),
        (&["migrate", "fresh"][..], "pass --ns"),
        (
            &["migrate", "resolve", "--ns", "template", "m1"][..],
            "<--applied|--rolled-back|--accept-checksum>",
        ),
        (&["--connect-timeout", "0"][..], "--connect-timeout"),
        (&["migrate", "up", "--ns", "nosuch"][..], "nosuch"),
    ] {
        let out = engine_in(&dir, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let entries: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert!(entries.is_empty(), "created: {entries:?}");

    // the startup names the file it opens, absolute
    let run = engine_in(&dir, &[]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert!(
        text(&run.stdout).starts_with(&format!(
            "database: sqlite://engine.db?mode=rwc (file {})\n",
            file.display()
        )),
        "{}",
        text(&run.stdout)
    );
    assert!(file.is_file());
    std::fs::remove_dir_all(&dir).ok();
}
