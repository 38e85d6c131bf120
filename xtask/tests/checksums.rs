//! Checksums with rebuilt binaries, in a temporary copy of the workspace: a database migrated by
//! a build without checksums is adopted, a comment-only edit of an applied migration starts
//! fine, a real edit is refused until `resolve --accept-checksum`. On SQLite, and on PostgreSQL
//! and MySQL when `TEST_POSTGRES_URL` / `TEST_MYSQL_URL` are set.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use chainkit::testing::TestDatabase;
use common::{cargo, copy_workspace, target_dir, text};

const MIGRATION: &str = "m20260115_000001_create_tasks";

fn build(ws: &Path) {
    let out = cargo(ws, &["build", "-q", "-p", "engine"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

fn engine(url: &str, args: &[&str]) -> Output {
    Command::new(target_dir().join("debug/engine"))
        .args(args)
        .args(["--database-url", url])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

/// `migrate status --json`, parsed.
fn status(url: &str) -> serde_json::Value {
    let out = engine(url, &["migrate", "status", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every applied migration of every chain, as (namespace, name, its JSON).
fn applied(status: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut out = Vec::new();
    for chain in status.as_array().unwrap() {
        for m in chain["migrations"].as_array().unwrap() {
            if m["status"] == "applied" {
                out.push((
                    chain["namespace"].as_str().unwrap().to_owned(),
                    m["name"].as_str().unwrap().to_owned(),
                    m.clone(),
                ));
            }
        }
    }
    out
}

/// How many migrations the chains of `status` have.
fn migrations(status: &serde_json::Value) -> usize {
    status
        .as_array()
        .unwrap()
        .iter()
        .map(|chain| chain["migrations"].as_array().unwrap().len())
        .sum()
}

fn edit(file: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text.contains(from), "{}: {from}", file.display());
    std::fs::write(file, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn an_edited_applied_migration_is_caught_by_the_rebuilt_engine_on_every_backend() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let databases = runtime.block_on(TestDatabase::all());
    let urls: Vec<String> = databases.iter().map(|d| d.url.clone()).collect();
    let ws = copy_workspace("checksums");
    // the engine's chain and every workflow project's (a user's workspace may have more)
    let mut libs = vec![ws.join("engine-migration/src/lib.rs")];
    for entry in std::fs::read_dir(&ws).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.starts_with("ext-") && name.ends_with("-migration") {
            libs.push(ws.join(name).join("src/lib.rs"));
        }
    }
    let with_checksums: Vec<String> = libs
        .iter()
        .map(|l| std::fs::read_to_string(l).unwrap())
        .collect();

    // a build without checksums (as before they existed) migrates every database
    for lib in &libs {
        edit(lib, "        .checksums(MIGRATIONS)\n", "");
    }
    build(&ws);
    for url in &urls {
        let out = engine(url, &[]);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        assert!(
            applied(&status(url))
                .iter()
                .all(|(_, _, m)| m.get("checksum").is_none()),
            "{url}"
        );
    }

    // the build with checksums adopts them: recorded at the first start, nothing refused
    for (lib, text) in libs.iter().zip(&with_checksums) {
        std::fs::write(lib, text).unwrap();
    }
    build(&ws);
    for url in &urls {
        let out = engine(url, &[]);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        let status = status(url);
        let all = applied(&status);
        assert_eq!(all.len(), migrations(&status), "{url}: {all:?}");
        for (ns, name, m) in &all {
            assert!(
                m["checksum"].as_str().unwrap().starts_with("t1:"),
                "{ns} {name}"
            );
            assert_eq!(m["recorded_checksum"], m["checksum"], "{url}: {ns} {name}");
        }
    }

    // formatting and comments do not count
    let file = ws.join(format!("engine-migration/src/{MIGRATION}.rs"));
    edit(
        &file,
        "impl MigrationTrait for Migration {\n",
        "/// Tasks of workflow instances.\nimpl MigrationTrait for Migration {\n    // a comment\n\n",
    );
    edit(
        &file,
        ".col(ColumnDef::new(Tasks::AssigneeId).big_integer().null())",
        ".col(\n ColumnDef::new(Tasks::AssigneeId)\n.big_integer()\n.null(),\n)",
    );
    build(&ws);
    for url in &urls {
        let out = engine(url, &[]);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
    }

    // a changed token does: every start refuses before running anything, naming it
    edit(&file, "string_len(32)", "string_len(40)");
    build(&ws);
    for url in &urls {
        let out = engine(url, &[]);
        assert_eq!(out.status.code(), Some(1), "{url}: {}", text(&out.stderr));
        let stderr = text(&out.stderr);
        for part in [
            &format!("namespace \"engine\": migration {MIGRATION} was edited after it was applied"),
            &format!("engine-migration/src/{MIGRATION}.rs"),
            &format!("engine migrate resolve --ns engine {MIGRATION} --accept-checksum"),
        ] {
            assert!(stderr.contains(part.as_str()), "{url}: {stderr}");
        }
        let out = engine(url, &["migrate", "status"]);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("MODIFIED since it was applied"),
            "{}",
            text(&out.stdout)
        );
        let modified: Vec<String> = applied(&status(url))
            .into_iter()
            .filter(|(_, _, m)| m["modified"] == true)
            .map(|(_, name, _)| name)
            .collect();
        assert_eq!(modified, [MIGRATION], "{url}");

        let out = engine(
            url,
            &[
                "migrate",
                "resolve",
                "--ns",
                "engine",
                MIGRATION,
                "--accept-checksum",
            ],
        );
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        let out = engine(url, &[]);
        assert!(out.status.success(), "{url}: {}", text(&out.stderr));
        assert!(
            applied(&status(url))
                .iter()
                .all(|(_, _, m)| m["modified"] == false),
            "{url}"
        );
    }

    runtime.block_on(async {
        for db in databases {
            db.drop_database().await;
        }
    });
    std::fs::remove_dir_all(&ws).ok();
}
