//! `cargo xtask new-project` and `new-migration` in a temporary copy of the workspace, built
//! and run the way a new user would.

use std::path::{Path, PathBuf};

mod common;

use common::{cargo, copy_workspace, text, xtask};

/// The files xtask may change, to compare before and after.
fn registration_files(dir: &Path) -> Vec<String> {
    [
        "Cargo.toml",
        "engine/Cargo.toml",
        "engine/src/workflow_projects.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(dir.join(f)).unwrap())
    .collect()
}

/// The namespaces of the copy: `engine`, then every `ext-{ns}-migration`, sorted (as xtask
/// lists them); a user's workspace may have projects of its own.
fn namespaces(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = entries(dir)
        .iter()
        .filter_map(|n| n.strip_prefix("ext-")?.strip_suffix("-migration"))
        .map(str::to_owned)
        .collect();
    found.sort();
    found.insert(0, "engine".to_owned());
    found
}

/// A namespace no project of the copy has yet: `billing`, or `billing2`, … .
fn free_namespace(dir: &Path) -> String {
    let taken = namespaces(dir);
    std::iter::once("billing".to_owned())
        .chain((2..).map(|i| format!("billing{i}")))
        .find(|n| !taken.contains(n))
        .unwrap()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_new_project_and_a_new_migration_build_test_and_run_with_no_hand_edit() {
    let ws = copy_workspace("build");
    let registration = registration_files(&ws);
    let listing = entries(&ws);
    let ns = free_namespace(&ws);
    let (krate, migration_crate) = (format!("ext-{ns}"), format!("ext-{ns}-migration"));
    // from a directory inside the workspace, not its root
    let out = xtask(&ws.join("engine/src"), &["new-project", "--ns", &ns]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lib = std::fs::read_to_string(ws.join(&migration_crate).join("src/lib.rs")).unwrap();
    assert!(lib.contains("chainkit::version_table_iden(NAMESPACE)"));
    assert!(!lib.contains("template"), "{lib}");
    let entity = std::fs::read_to_string(ws.join(&krate).join("src/entities/request.rs")).unwrap();
    assert!(entity.contains(&format!(r#"table_name = "ext_{ns}_requests""#)));
    for dir in [&krate, &migration_crate] {
        for file in walk(&ws.join(dir)) {
            let content = std::fs::read_to_string(&file).unwrap();
            assert!(
                !content.contains("template"),
                "{} mentions template",
                file.display()
            );
        }
    }
    assert!(
        std::fs::read_to_string(ws.join("engine/src/workflow_projects.rs"))
            .unwrap()
            .contains(&format!("ext_{ns}_migration::chain(),"))
    );

    let out = cargo(&ws, &["test", "-p", &migration_crate]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("test migrations_round_trip_up_down_up ... ok"));
    assert!(text(&out.stdout).contains("test entities_and_migrations_agree ... ok"));
    // the engine's own tests hold with one more project registered
    let out = cargo(&ws, &["test", "-p", "engine"]);
    assert!(
        out.status.success(),
        "engine's tests with {ns} registered:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );

    let db = format!("sqlite://{}/engine.db?mode=rwc", ws.display());
    let run = |args: &[&str]| {
        let mut all = vec!["run", "-q", "-p", "engine", "--"];
        all.extend(args);
        all.extend(["-u", &db]);
        cargo(&ws, &all)
    };
    let out = run(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let version_table = format!("seaql_migrations_{ns}");
    assert!(
        stdout.lines().any(|l| l.split_whitespace().take(4).eq([
            ns.as_str(),
            version_table.as_str(),
            "applied",
            "2"
        ])),
        "{stdout}"
    );
    // the copied project declares its entities: check compares them with its migrations
    let out = run(&["migrate", "check", "--ns", &ns]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!(
            "namespace \"{ns}\": entities and migrations agree"
        )),
        "{}",
        text(&out.stdout)
    );
    // its own binary speaks for it
    let own = |args: &[&str]| {
        let mut all = vec!["run", "-q", "-p", migration_crate.as_str(), "--"];
        all.extend(args);
        cargo(&ws, &all)
    };
    let version = text(&own(&["--version"]).stdout);
    assert_eq!(
        version.trim(),
        format!(
            "{migration_crate} 0.1.0 (engine {})",
            chainkit::ENGINE_VERSION
        )
    );
    let help = text(&own(&["--help"]).stdout);
    assert!(help.contains(&format!("workflow project `{ns}`")), "{help}");
    assert!(!help.contains("every chain in run order"), "{help}");
    let fresh_help = text(&own(&["fresh", "--help"]).stdout);
    assert!(!fresh_help.contains("--all"), "{fresh_help}");
    assert!(!fresh_help.contains("--ns"), "{fresh_help}");

    let out = xtask(&ws, &["new-migration", "--ns", &ns, "add_invoice_due_date"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let name = "m20261125_094640_add_invoice_due_date";
    assert!(
        ws.join(&migration_crate)
            .join(format!("src/{name}.rs"))
            .is_file()
    );
    let lib = std::fs::read_to_string(ws.join(&migration_crate).join("src/lib.rs")).unwrap();
    assert!(lib.contains(&format!("mod {name};")));
    assert!(lib.contains(&format!(
        "    {name},\n    // new migrations go above this line"
    )));

    let out = cargo(&ws, &["build", "--workspace"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = cargo(&ws, &["fmt", "--all", "--check"]);
    assert!(
        out.status.success(),
        "generated code is not formatted: {}",
        text(&out.stdout)
    );
    // an unwritten migration refuses to run, by name, and nothing of it is recorded
    let out = run(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(&format!("{name}: up() is not written yet")),
        "{}",
        text(&out.stderr)
    );

    // and the project goes away again: the chain reset first, then the files
    let out = run(&["migrate", "reset", "--ns", &ns]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for refused in ["template", "engine", "nosuch"] {
        let out = xtask(&ws, &["remove-project", "--ns", refused]);
        assert_eq!(out.status.code(), Some(1), "{refused}");
        assert!(text(&out.stderr).contains(refused), "{}", text(&out.stderr));
    }
    let out = xtask(&ws, &["remove-project", "--ns", &ns]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(registration_files(&ws), registration);
    let mut now = entries(&ws);
    now.retain(|e| !e.starts_with("engine.db"));
    assert_eq!(now, listing);
    let out = cargo(&ws, &["build", "-q", "-p", "engine"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    std::fs::remove_dir_all(&ws).ok();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let ws = copy_workspace("refuse");
    let before = registration_files(&ws);
    let listing = entries(&ws);
    let known = namespaces(&ws).join(", ");
    let taken = format!("error: namespace \"template\" is taken; taken: {known}");
    let unknown = format!("error: unknown namespace \"nope\"; known: {known}");
    let cases: &[(&[&str], &str)] = &[
        (
            &["new-project", "--ns", "bill_ing"],
            "error: namespace \"bill_ing\" must not contain '_'",
        ),
        (
            &["new-project", "--ns", "Billing"],
            "error: namespace \"Billing\" must start with a lowercase letter",
        ),
        (
            &["new-project", "--ns", "engine"],
            "error: namespace \"engine\" is reserved",
        ),
        (&["new-project", "--ns", "template"], &taken),
        (
            &["new-project", "--ns", "abcdefghijklmnopq"],
            "error: namespace \"abcdefghijklmnopq\" is 17 bytes long",
        ),
        (&["new-migration", "--ns", "nope", "add_x"], &unknown),
        (
            &["new-migration", "--ns", "template", "Add-X"],
            "error: migration name \"Add-X\" is not a snake_case identifier",
        ),
    ];
    for (args, expected) in cases {
        let out = xtask(&ws, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(
            text(&out.stderr).starts_with(expected),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    // an existing directory
    std::fs::create_dir(ws.join("ext-acme")).unwrap();
    let out = xtask(&ws, &["new-project", "--ns", "acme"]);
    assert!(
        text(&out.stderr).contains("ext-acme already exists"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir(ws.join("ext-acme")).unwrap();
    // a registration file edited by hand: refused before anything is written
    let registry = ws.join("engine/src/workflow_projects.rs");
    let original = std::fs::read_to_string(&registry).unwrap();
    std::fs::write(
        &registry,
        original.replace("// workflow projects (one line each", "// edited"),
    )
    .unwrap();
    let out = xtask(&ws, &["new-project", "--ns", "acme"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot find the line"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&registry, original).unwrap();
    // an existing migration file
    let out = xtask(&ws, &["new-migration", "--ns", "template", "add_x"]);
    assert!(out.status.success());
    let lib_after_first =
        std::fs::read_to_string(ws.join("ext-template-migration/src/lib.rs")).unwrap();
    let out = xtask(&ws, &["new-migration", "--ns", "template", "add_x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("m20261125_094640_add_x.rs already exists"));
    assert_eq!(
        std::fs::read_to_string(ws.join("ext-template-migration/src/lib.rs")).unwrap(),
        lib_after_first
    );

    assert_eq!(registration_files(&ws), before);
    assert_eq!(entries(&ws), listing);
    std::fs::remove_dir_all(&ws).ok();
}
