//! `cargo xtask new-migration --ns NS NAME`.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::edit::{Edit, insert_before};
use crate::names::{check_migration_name, migration_module};
use crate::workspace::Workspace;

/// The line of every chain's `migrations()` list that new migrations go above.
pub const LIST_MARKER: &str = "// new migrations go above this line";

/// The time a new migration is named after: now, or `XTASK_NOW` (seconds since the Unix
/// epoch) for reproducible names.
fn now() -> Result<u64> {
    match std::env::var("XTASK_NOW") {
        Ok(v) => v
            .parse()
            .with_context(|| format!("XTASK_NOW={v:?} is not a number of seconds")),
        Err(_) => Ok(SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs()),
    }
}

fn check_args(ws: &Workspace, ns: &str, name: &str) -> Result<()> {
    check_migration_name(name)?;
    let known = ws.namespaces()?;
    if !known.iter().any(|k| k == ns) {
        bail!("unknown namespace {ns:?}; known: {}", known.join(", "));
    }
    Ok(())
}

/// `--autogenerate`: runs the chain's own binary through cargo (`engine migrate autogenerate
/// --ns engine` for the engine), which compares on scratch databases and writes the file.
pub fn autogenerate(
    ws: &Workspace,
    ns: &str,
    name: &str,
    database_url: Option<&str>,
) -> Result<()> {
    check_args(ws, ns, name)?;
    let module = migration_module(now()?, name);
    let package = if ns == "engine" {
        "engine".to_owned()
    } else {
        format!("ext-{ns}-migration")
    };
    let mut args: Vec<String> = vec![
        "run".into(),
        "--quiet".into(),
        "-p".into(),
        package,
        "--".into(),
    ];
    if ns == "engine" {
        args.extend([
            "migrate".into(),
            "autogenerate".into(),
            "--ns".into(),
            "engine".into(),
        ]);
    } else {
        args.push("autogenerate".into());
    }
    args.extend([name.to_owned(), "--module".into(), module]);
    if let Some(url) = database_url {
        args.extend(["--database-url".into(), url.to_owned()]);
    }
    // the URL may hold a password
    let shown: Vec<&str> = args
        .iter()
        .map(|a| {
            if Some(a.as_str()) == database_url {
                "URL"
            } else {
                a.as_str()
            }
        })
        .collect();
    eprintln!(
        "building and running the {ns} chain's binary: cargo {}",
        shown.join(" ")
    );
    let status = crate::workspace::cargo(ws.root())
        .args(&args)
        .env_remove("DATABASE_URL")
        .status()
        .context("running cargo")?;
    if !status.success() {
        bail!("autogenerate for {ns:?} failed (see above)");
    }
    Ok(())
}

/// Writes the migration file and adds it to the chain's `Migrator`.
pub fn run(ws: &Workspace, ns: &str, name: &str) -> Result<()> {
    check_args(ws, ns, name)?;
    let krate = ws.migration_crate(ns);
    let module = migration_module(now()?, name);
    let file = krate.join("src").join(format!("{module}.rs"));
    if file.exists() {
        bail!("{} already exists", file.display());
    }
    let lib = krate.join("src/lib.rs");
    let text =
        std::fs::read_to_string(&lib).with_context(|| format!("reading {}", lib.display()))?;
    let text = add_module(&text, &module, &lib)?;
    let entry = list_entry(&text, &module);
    let text = insert_before(&text, LIST_MARKER, &entry, &lib)?;
    let mut edit = Edit::default();
    edit.write(&file, &migration_file(ns, &module))?;
    edit.write(&lib, &text)?;
    edit.commit();
    let shown = |p: &std::path::Path| p.strip_prefix(ws.root()).unwrap_or(p).display().to_string();
    println!("created {}", shown(&file));
    println!("added it to the migrations() list in {}", shown(&lib));
    println!("next: write its up() and down(), then `cargo run -p engine` applies it");
    Ok(())
}

/// The line that lists `module` above the [`LIST_MARKER`] of `lib_rs`, indented as the
/// marker: its name in a `chainkit::migrations![…]` list (which records checksums), else
/// `Box::new(module::Migration),` in a plain `vec![…]`.
fn list_entry(lib_rs: &str, module: &str) -> String {
    let indent: String = lib_rs
        .lines()
        .find(|l| l.contains(LIST_MARKER))
        .map(|l| l.chars().take_while(|c| c.is_whitespace()).collect())
        .unwrap_or_default();
    if lib_rs.contains("chainkit::migrations![") {
        format!("{indent}{module},")
    } else {
        format!("{indent}Box::new({module}::Migration),")
    }
}

/// `text` with `mod {module};` after the last `mod m…;` line.
fn add_module(text: &str, module: &str, file: &std::path::Path) -> Result<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let Some(last) = lines.iter().rposition(|l| l.starts_with("mod m")) else {
        bail!(
            "{}: no `mod m…;` line to add the new module after; was it edited by hand?",
            file.display()
        );
    };
    let mut out = String::with_capacity(text.len() + module.len() + 8);
    for (i, l) in lines.iter().enumerate() {
        out.push_str(l);
        if i == last {
            out.push_str(&format!("mod {module};\n"));
        }
    }
    Ok(out)
}

/// A new migration: compiles as it is, and refuses to run until it is written.
fn migration_file(ns: &str, module: &str) -> String {
    let (scope, example) = if ns == "engine" {
        (
            "This is the engine's chain: it must not touch any `ext_` table.".to_owned(),
            "workflow_labels".to_owned(),
        )
    } else {
        (
            format!(
                "This chain may only create, alter or drop tables starting with `ext_{ns}_`: \
                 touching any other table is refused."
            ),
            format!("ext_{ns}_things"),
        )
    };
    format!(
        r#"use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {{
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        // {scope}
        // For example:
        //
        // manager
        //     .create_table(
        //         Table::create()
        //             .table(Alias::new("{example}"))
        //             .col(
        //                 ColumnDef::new(Alias::new("id"))
        //                     .big_integer()
        //                     .not_null()
        //                     .auto_increment()
        //                     .primary_key(),
        //             )
        //             .to_owned(),
        //     )
        //     .await
        let _ = manager;
        Err(DbErr::Migration(
            "{module}: up() is not written yet".to_owned(),
        ))
    }}

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {{
        // Undo exactly what up() does. For example:
        //
        // manager
        //     .drop_table(Table::drop().table(Alias::new("{example}")).to_owned())
        //     .await
        let _ = manager;
        Err(DbErr::Migration(
            "{module}: down() is not written yet".to_owned(),
        ))
    }}
}}
"#
    )
}
