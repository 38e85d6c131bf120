//! Project automation, run as `cargo xtask` (the alias is in `.cargo/config.toml`).
//!
//! Keep it light: no SeaORM, no database driver. xtask does file work itself and, where a
//! database is needed, runs the chain's own binary through cargo.

mod bench;
mod edit;
mod names;
mod new_migration;
mod new_project;
mod remove_project;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Project automation for the workflow engine's workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new migration mYYYYMMDD_HHMMSS_NAME.rs into a chain's migration crate and add
    /// it to that chain's Migrator: a blank one to write by hand, or with --autogenerate the
    /// difference between the chain's entities and what its migrations create
    NewMigration {
        /// The chain: `engine`, or a workflow project's namespace
        #[arg(long)]
        ns: String,
        /// What the migration does, in snake_case: add_invoice_due_date
        name: String,
        /// Write the migration from the entities: builds and runs the chain's own binary
        /// (`autogenerate`), which compares on scratch databases; writes nothing when the
        /// entities and migrations agree
        #[arg(long)]
        autogenerate: bool,
        /// With --autogenerate: compare on scratch databases made on this PostgreSQL or MySQL
        /// server (for backend-specific types) instead of SQLite in memory
        #[arg(long, value_name = "URL", requires = "autogenerate")]
        database_url: Option<String>,
    },
    /// Create workflow project NS: copy ext-template and ext-template-migration to ext-NS and
    /// ext-NS-migration, add both to the workspace and register the chain with the engine
    NewProject {
        /// The new namespace: [a-z][a-z0-9]*, at most 16 characters
        #[arg(long)]
        ns: String,
    },
    /// Remove workflow project NS from the workspace: undo what new-project wrote (its two
    /// crates, its workspace members, its dependency and registration in the engine). Refuses
    /// the template. The database is not touched: run `engine migrate reset --ns NS` first
    RemoveProject {
        /// The project's namespace
        #[arg(long)]
        ns: String,
    },
    /// Benchmark startup against the plain sea-orm-migration loop (built in release mode):
    /// fresh apply and no-op startup, this runner, the plain loop and the floor (one query
    /// reading every version table), medians of several runs; also this runner's no-op with
    /// the chains declaring checksums, as chains made from the template do (`checked`), and
    /// each no-op on a connection just opened, as a new process starts (`cold`)
    Bench {
        /// Number of chains, the engine's included
        #[arg(long, default_value_t = 50, value_parser = at_least_one)]
        chains: usize,
        /// Migrations per chain
        #[arg(long, default_value_t = 10, value_parser = at_least_one)]
        migrations: usize,
        /// A PostgreSQL or MySQL server to measure on as well (scratch databases are created
        /// there and dropped); repeatable. SQLite is always measured
        #[arg(long = "database-url", value_name = "URL")]
        database_urls: Vec<String>,
        /// Fresh installs measured per figure (a multiple of 4 gives each of the four installs
        /// of a repetition every place in their order equally often); the median is reported
        #[arg(long, default_value_t = 4, value_parser = at_least_one, value_name = "N")]
        fresh_reps: usize,
        /// Plain no-op starts measured per figure, each right after an untimed one of its
        /// kind (unless it took a second or more); the median is reported
        #[arg(long, default_value_t = 7, value_parser = at_least_one, value_name = "N")]
        reps: usize,
        /// This runner's no-op starts and floor reads measured per figure, the same way: each
        /// takes well under a millisecond, where one sample moves by a third with whatever
        /// else the machine does, so their medians take more samples to settle
        #[arg(long, default_value_t = 35, value_parser = at_least_one, value_name = "N")]
        noop_reps: usize,
        /// No-op starts (this runner's, the floor's and the plain loop's) measured per figure
        /// on a connection just opened, as a new process starts (`cold`): the server parses
        /// and plans every statement anew there
        #[arg(long, default_value_t = 15, value_parser = at_least_one, value_name = "N")]
        cold_reps: usize,
        /// Print one JSON object per backend and line
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = workspace::Workspace::find().and_then(|ws| match cli.command {
        Command::NewMigration {
            ns,
            name,
            autogenerate: false,
            ..
        } => new_migration::run(&ws, &ns, &name),
        Command::NewMigration {
            ns,
            name,
            database_url,
            ..
        } => new_migration::autogenerate(&ws, &ns, &name, database_url.as_deref()),
        Command::NewProject { ns } => new_project::run(&ws, &ns),
        Command::RemoveProject { ns } => remove_project::run(&ws, &ns),
        Command::Bench {
            chains,
            migrations,
            database_urls,
            fresh_reps,
            reps,
            noop_reps,
            cold_reps,
            json,
        } => {
            let mut args = vec![
                format!("--chains={chains}"),
                format!("--migrations={migrations}"),
                format!("--fresh-reps={fresh_reps}"),
                format!("--reps={reps}"),
                format!("--noop-reps={noop_reps}"),
                format!("--cold-reps={cold_reps}"),
            ];
            args.extend(database_urls.iter().map(|u| format!("--database-url={u}")));
            if json {
                args.push("--json".to_owned());
            }
            bench::run(&ws, &args)
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A count of 1 or more.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}
