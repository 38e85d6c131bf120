//! `engine migrate plan` as an operator runs it, on the engine's and every registered
//! workflow project's real chains: the JSON plan of an empty database, and the offline
//! script run through the database's own client (`psql`, `mariadb`, `sqlite3`).

use std::process::{Command, Output};

use chainkit::testing::{Backend, TestDatabase, run_sql_script, schema_objects, table_names};

fn engine(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(args)
        .env("DATABASE_URL", url)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Each chain's applied migrations.
async fn applied(db: &sea_orm::DatabaseConnection) -> Vec<(String, Vec<String>)> {
    let registry = engine::registry().unwrap();
    chainkit::status(db, &registry)
        .await
        .unwrap()
        .chains
        .into_iter()
        .map(|c| {
            let names = c
                .migrations
                .iter()
                .filter(|m| m.applied_at.is_some())
                .map(|m| m.name.clone())
                .collect();
            (c.namespace, names)
        })
        .collect()
}

#[tokio::test]
async fn plan_json_on_an_empty_database_lists_every_pending_migration_and_creates_nothing() {
    let registry = engine::registry().unwrap();
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let out = engine(&test_db.url, &["migrate", "plan", "--json"]);
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        let plan: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{backend}: {e}: {}", text(&out.stdout)));
        let listed: Vec<(String, String)> = plan
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["namespace"].as_str().unwrap().to_owned(),
                    m["migration"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let expected: Vec<(String, String)> = registry
            .chains()
            .iter()
            .flat_map(|c| {
                c.migration_names()
                    .into_iter()
                    .map(|m| (c.namespace().to_owned(), m))
            })
            .collect();
        assert_eq!(listed, expected, "{backend}: every chain's, in run order");
        assert!(listed.iter().any(|(ns, _)| ns == "template"), "{backend}");
        for m in plan.as_array().unwrap() {
            let statements = m["statements"].as_array().unwrap();
            assert!(!statements.is_empty(), "{backend}: {m}");
            assert!(
                statements
                    .iter()
                    .any(|s| s["sql"].as_str().unwrap().contains("CREATE")),
                "{backend}: {m}"
            );
            assert!(
                m["changes"].as_array().is_some_and(|c| !c.is_empty()),
                "{m}"
            );
            assert!(m["findings"].is_array(), "{m}");
        }
        let db = test_db.connect().await;
        assert!(
            table_names(&db).await.is_empty(),
            "{backend}: plan created nothing"
        );
        // a plain CREATE INDEX on a table that exists (the template's second migration)
        let blocking = plan.as_array().unwrap().iter().any(|m| {
            m["findings"].as_array().unwrap().iter().any(|f| {
                f["kind"] == "blocking" && f["code"] == "squawk:require-concurrent-index-creation"
            })
        });
        assert_eq!(blocking, backend == Backend::Postgres, "{backend}");
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn the_sql_script_through_the_databases_own_client_leaves_what_the_engine_would() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let out = engine(&test_db.url, &["migrate", "plan", "--sql"]);
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        let Some(ran) = run_sql_script(backend, &test_db.url, &script) else {
            test_db.drop_database().await;
            continue;
        };
        assert!(
            ran.status.success(),
            "{backend}: {}\n{script}",
            text(&ran.stderr)
        );

        // the same chains applied by the engine itself, on another fresh database
        let reference = TestDatabase::create(backend).await;
        let started = engine(&reference.url, &[]);
        assert!(started.status.success(), "{}", text(&started.stderr));

        let db = test_db.connect().await;
        let other = reference.connect().await;
        let (ours, theirs) = (
            chainkit::snapshot(&db).await.unwrap(),
            chainkit::snapshot(&other).await.unwrap(),
        );
        assert!(
            schema_objects(&ours, backend).len() > 4,
            "{backend}: {:?}",
            schema_objects(&ours, backend)
        );
        assert_eq!(
            schema_objects(&ours, backend),
            schema_objects(&theirs, backend),
            "{backend}: same schema"
        );
        assert_eq!(
            applied(&db).await,
            applied(&other).await,
            "{backend}: same version rows"
        );
        db.close().await.ok();
        other.close().await.ok();

        // and a start finds nothing to do, not even an edited file
        let start = engine(&test_db.url, &[]);
        assert!(start.status.success(), "{backend}: {}", text(&start.stderr));
        assert!(
            text(&start.stdout).contains("0 migration(s) applied"),
            "{backend}: {}",
            text(&start.stdout)
        );
        let plan = engine(&test_db.url, &["migrate", "plan"]);
        assert!(
            text(&plan.stdout).starts_with("nothing to apply"),
            "{backend}: {}",
            text(&plan.stdout)
        );
        reference.drop_database().await;
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn plan_refuses_contradictory_or_unknown_options_as_usage_errors() {
    let url = "sqlite::memory:";
    let both = engine(url, &["migrate", "plan", "--json", "--sql"]);
    assert_eq!(both.status.code(), Some(2), "{}", text(&both.stderr));
    let unknown = engine(url, &["migrate", "plan", "--deny", "scary"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown.stderr));
    assert!(
        text(&unknown.stderr).contains("destructive"),
        "lists the kinds: {}",
        text(&unknown.stderr)
    );
    let ns = engine(url, &["migrate", "plan", "--ns", "nope"]);
    assert_eq!(ns.status.code(), Some(2), "{}", text(&ns.stderr));
    let help = engine(url, &["migrate", "plan", "--help"]);
    assert!(
        text(&help.stdout).contains("--deny"),
        "{}",
        text(&help.stdout)
    );
}

#[test]
fn plan_on_a_missing_sqlite_file_plans_an_empty_database_and_creates_no_file() {
    let file = std::env::temp_dir().join(format!("engine-plan-missing-{}.db", std::process::id()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let out = engine(&url, &["migrate", "plan"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("planned against an empty one"),
        "{}",
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("m20260101_000001_create_users_and_workflow_instances"));
    assert!(!file.exists(), "plan created {}", file.display());
}

#[test]
fn plan_of_one_chain_says_which_earlier_chains_it_leaves_out() {
    let file = std::env::temp_dir().join(format!("engine-plan-ns-{}.db", std::process::id()));
    std::fs::write(&file, b"").unwrap();
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let out = engine(&url, &["migrate", "plan", "--ns", "template"]);
    for suffix in ["", ".migrate-lock", "-wal", "-shm", "-journal"] {
        std::fs::remove_file(format!("{}{suffix}", file.display())).ok();
    }
    let engine_migrations = engine::registry()
        .unwrap()
        .get("engine")
        .unwrap()
        .migration_names()
        .len();
    assert!(
        text(&out.stderr).contains(&format!(
            "note: namespace \"engine\" has {engine_migrations} pending migration(s) that a \
             start runs first; this plan rehearses \"template\" alone"
        )),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !text(&out.stdout).contains("namespace \"engine\""),
        "{}",
        text(&out.stdout)
    );
}
