//! `engine`: runs the startup sequence, or a `migrate` command.

use std::process::ExitCode;
use std::time::Instant;

use chainkit::cli::{
    DatabaseArgs, Manages, MigrateCommand, block_on, format_run_report, init_logging, run_migrate,
};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The workflow engine. With no command it brings the database up to date: the engine's
/// migrations first, then every workflow project's, and prints where each chain stands.
#[derive(Debug, Parser)]
#[command(name = "engine", version, about)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and manage the migration chains, one chain at a time (--ns)
    #[command(subcommand)]
    Migrate(MigrateCommand),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.database.note_sources(&matches);
    init_logging();
    block_on(run(cli))
}

async fn run(cli: Cli) -> Result<(), chainkit::Error> {
    let registry = engine::registry()?;
    match cli.command {
        None => {
            let url = &cli.database.database_url;
            let started = Instant::now();
            chainkit::cli::out(&format!(
                "database: {}\n",
                chainkit::cli::describe_database(url)
            ));
            if chainkit::is_in_memory(url) {
                tracing::warn!(
                    "the database is in memory: nothing is kept after the engine exits \
                     (for a file, use sqlite://FILE?mode=rwc)"
                );
            }
            let options = cli.database.startup_options();
            let report = chainkit::startup(url, &registry, &options).await?;
            chainkit::cli::out(&format_run_report(&report, started.elapsed()));
            Ok(())
        }
        Some(Command::Migrate(command)) => {
            run_migrate(&registry, &cli.database, command, Manages::All).await
        }
    }
}
