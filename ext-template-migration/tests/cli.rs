//! This project's own migration binary acts on its chain only.

use std::process::{Command, Output};

use chainkit::testing::TestDatabase;
use ext_template_migration::{Migrator, NAMESPACE};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigratorTrait;

fn cli(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ext-template-migration"))
        .arg("-u")
        .arg(url)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("running ext-template-migration")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn the_binary_manages_only_its_own_chain() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let up = cli(&test_db.url, &["up"]);
        assert_eq!(up.status.code(), Some(1), "{backend}");
        assert!(
            text(&up.stderr).contains("the engine's chain has 2 pending migration(s)"),
            "{}",
            text(&up.stderr)
        );

        let db = test_db.connect().await;
        let registry = ext_template_migration::registry().unwrap();
        chainkit::up(&db, &registry, Some("engine"), None)
            .await
            .unwrap();
        db.execute_unprepared("CREATE TABLE ext_other_things (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.close().await.ok();

        let up = cli(&test_db.url, &["up"]);
        assert!(up.status.success(), "{backend}: {}", text(&up.stderr));
        let down = cli(&test_db.url, &["down", "-n", "1"]);
        assert!(down.status.success(), "{backend}: {}", text(&down.stderr));
        let migrations = Migrator::migrations();
        let newest = migrations.last().unwrap().name();
        assert!(text(&down.stdout).contains(newest));

        let status = cli(&test_db.url, &["status", "--json"]);
        // another project's tables are none of this binary's business
        assert!(
            !text(&status.stderr).contains("not registered"),
            "{}",
            text(&status.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        let chains = json.as_array().unwrap();
        assert_eq!(chains.len(), 1);
        assert_eq!(chains[0]["namespace"], NAMESPACE);
        let listed = chains[0]["migrations"].as_array().unwrap();
        assert_eq!(listed.len(), migrations.len());
        assert_eq!(listed.last().unwrap()["status"], "pending");

        let foreign = cli(&test_db.url, &["fresh", "--ns", "engine"]);
        assert_eq!(foreign.status.code(), Some(2));
        assert!(text(&foreign.stderr).contains(&format!("manages namespace {NAMESPACE:?} only")));

        let reset = cli(&test_db.url, &["reset"]);
        assert!(reset.status.success(), "{backend}: {}", text(&reset.stderr));
        let db = test_db.connect().await;
        let tables = chainkit::testing::table_names(&db).await;
        let prefix = format!("ext_{NAMESPACE}_");
        assert!(!tables.iter().any(|t| t.starts_with(&prefix)), "{tables:?}");
        assert!(!tables.contains(&format!("seaql_migrations_{NAMESPACE}")));
        assert!(tables.contains(&"workflow_instances".to_owned()));
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[tokio::test]
async fn check_compares_on_each_backend_without_touching_the_database() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let out = cli(&test_db.url, &["check"]);
        assert!(out.status.success(), "{backend}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("namespace \"template\": entities and migrations agree"),
            "{backend}: {}",
            text(&out.stdout)
        );
        // the scratch databases are made beside it: the database itself stays empty
        let db = test_db.connect().await;
        assert!(
            chainkit::testing::table_names(&db).await.is_empty(),
            "{backend}"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}

#[test]
fn autogenerate_and_check_refuse_bad_requests_before_writing_anything() {
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
    let files = || std::fs::read_dir(src).unwrap().count();
    let before = files();
    let out = cli("sqlite::memory:", &["autogenerate", "Add-Thing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("\"Add-Thing\" is not a snake_case identifier"),
        "{}",
        text(&out.stderr)
    );
    let out = cli("sqlite::memory:", &["check", "--ns", "engine"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("manages namespace \"template\" only"));
    assert_eq!(files(), before);
}

#[test]
fn the_binary_speaks_for_its_own_project() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ext-template-migration"))
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap()
    };
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert_eq!(
        text(&version.stdout).trim(),
        format!(
            "ext-template-migration {} (engine {})",
            env!("CARGO_PKG_VERSION"),
            chainkit::ENGINE_VERSION
        )
    );
    let help = text(&run(&["--help"]).stdout);
    assert!(
        help.contains(&format!("workflow project `{NAMESPACE}`")),
        "{help}"
    );
    for engine_only in ["every chain in run order", "of one chain with --ns", "--ns"] {
        assert!(!help.contains(engine_only), "{engine_only}: {help}");
    }
    for command in ["fresh", "reset", "refresh", "down", "up", "status"] {
        let help = text(&run(&[command, "--help"]).stdout);
        assert!(!help.contains("--all"), "{command}: {help}");
        assert!(!help.contains("--ns"), "{command}: {help}");
        assert!(help.contains("this chain"), "{command}: {help}");
    }
    for dangerous in ["fresh", "reset", "refresh"] {
        assert!(text(&run(&[dangerous, "--help"]).stdout).starts_with("DANGEROUS"));
    }
    // the engine's option is refused, as a command line mistake
    let all = run(&["fresh", "--all", "-u", "sqlite::memory:"]);
    assert_eq!(all.status.code(), Some(2));
    assert!(text(&all.stderr).contains("engine migrate fresh --ns engine --all"));
    let other = run(&["down", "--ns", "engine", "-u", "sqlite::memory:"]);
    assert_eq!(other.status.code(), Some(2), "{}", text(&other.stderr));
}

#[tokio::test]
async fn plan_shows_this_chains_pending_migrations_and_changes_nothing() {
    for test_db in TestDatabase::all().await {
        let backend = test_db.backend;
        let early = cli(&test_db.url, &["plan"]);
        assert_eq!(
            early.status.code(),
            Some(1),
            "{backend}: the engine's chain first"
        );

        let db = test_db.connect().await;
        let registry = ext_template_migration::registry().unwrap();
        chainkit::up(&db, &registry, Some("engine"), None)
            .await
            .unwrap();
        let before = chainkit::snapshot(&db).await.unwrap();

        let plan = cli(&test_db.url, &["plan", "--json"]);
        assert!(plan.status.success(), "{backend}: {}", text(&plan.stderr));
        let listed: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
        let names: Vec<(&str, &str)> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["namespace"].as_str().unwrap(),
                    m["migration"].as_str().unwrap(),
                )
            })
            .collect();
        let expected: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_owned())
            .collect();
        assert_eq!(
            names,
            expected
                .iter()
                .map(|m| (NAMESPACE, m.as_str()))
                .collect::<Vec<_>>(),
            "{backend}"
        );
        assert_eq!(
            chainkit::snapshot(&db).await.unwrap(),
            before,
            "{backend}: nothing changed"
        );
        db.close().await.ok();
        test_db.drop_database().await;
    }
}
