//! `engine`: runs the startup sequence, or a `migrate` command.

use std::process::ExitCode;
use std::time::Instant;

use chainkit::cli::{
    DatabaseArgs, format_error, format_run_report, format_status, format_status_json,
    status_warnings,
};
use clap::{Parser, Subcommand};

/// The workflow engine. With no command it brings the database up to date: the engine's
/// migrations first, then every workflow project's, and prints where each chain stands.
#[derive(Debug, Parser)]
#[command(name = "engine", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    database: DatabaseArgs,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Inspect and manage the migration chains
    #[command(subcommand)]
    Migrate(Migrate),
}

#[derive(Debug, Subcommand)]
enum Migrate {
    /// List every chain (namespace, version table) with each migration applied or pending
    Status {
        /// Print JSON: [{"namespace", "version_table", "migrations": [{"name", "status", "applied_at"}]}]
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{}", format_error(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, chainkit::Error> {
    let registry = engine::registry()?;
    let url = &cli.database.database_url;
    match cli.command {
        None => {
            let started = Instant::now();
            println!("database: {}", chainkit::redact_url(url));
            let options = chainkit::StartupOptions {
                connect_timeout: cli.database.timeout(),
            };
            let report = chainkit::startup(url, &registry, &options).await?;
            print!("{}", format_run_report(&report, started.elapsed()));
        }
        Some(Command::Migrate(Migrate::Status { json })) => {
            let db = chainkit::connect(url, cli.database.timeout()).await?;
            let chains = chainkit::status(&db, &registry).await;
            db.close().await.ok();
            let chains = chains?;
            for warning in status_warnings(&chains) {
                eprintln!("{warning}");
            }
            if json {
                println!("{}", format_status_json(&chains));
            } else {
                print!("{}", format_status(&chains));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
