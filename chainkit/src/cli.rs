//! Command-line parts shared by the engine binary and every workflow project's binary:
//! the database arguments, and how reports, status and errors are printed.

use std::fmt::Write as _;
use std::time::Duration;

use crate::error::Error;
use crate::runner::RunReport;
use crate::status::{ChainStatus, Status};

/// Where the engine keeps its data when no `DATABASE_URL` is given: an SQLite file in the
/// working directory, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://engine.db?mode=rwc";

/// How to reach the database, as sea-orm-migration's CLI takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE?mode=rwc, postgres://USER@HOST/DB or mysql://USER@HOST/DB
    #[arg(
        short = 'u',
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        global = true,
        hide_env_values = true
    )]
    pub database_url: String,

    /// Seconds to wait for the database connection before giving up
    #[arg(long, value_name = "SECONDS", default_value_t = 10, global = true)]
    pub connect_timeout: u64,
}

impl DatabaseArgs {
    /// The connect timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }
}

fn format_time(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| unix.to_string())
}

fn widths(chains: &[ChainStatus]) -> (usize, usize) {
    (
        chains.iter().map(|c| c.namespace.len()).max().unwrap_or(0),
        chains
            .iter()
            .map(|c| c.version_table.len())
            .max()
            .unwrap_or(0),
    )
}

/// Where a chain stands, in a few words: `2/2 applied, at m…` or `nothing applied`.
fn position(chain: &ChainStatus) -> String {
    let applied = chain.applied_count();
    let total = chain.migrations.len();
    let pending = total - applied;
    let mut out = format!("{applied}/{total} applied");
    if let Some(latest) = chain.latest_applied() {
        let _ = write!(out, ", at {latest}");
    }
    if pending > 0 {
        let _ = write!(out, ", {pending} pending");
    }
    out
}

/// The summary of a run: per namespace what was applied and where each chain stands.
pub fn format_run_report(report: &RunReport, elapsed: Duration) -> String {
    let (ns_w, table_w) = widths(&report.chains);
    let mut out = String::new();
    for chain in &report.chains {
        let now: Vec<&str> = report.applied_to(&chain.namespace).collect();
        let _ = writeln!(
            out,
            "{:ns_w$}  {:table_w$}  applied {} now; {}",
            chain.namespace,
            chain.version_table,
            now.len(),
            position(chain)
        );
        for name in now {
            let _ = writeln!(out, "{:ns_w$}    + {name}", "");
        }
    }
    let chains_touched = report
        .chains
        .iter()
        .filter(|c| report.applied_to(&c.namespace).next().is_some())
        .count();
    let _ = writeln!(
        out,
        "{} migration(s) applied in {} chain(s), {} chain(s) checked, in {} ms",
        report.applied.len(),
        chains_touched,
        report.chains.len(),
        elapsed.as_millis()
    );
    out
}

/// Every chain's migrations, applied or pending, for people.
pub fn format_status(chains: &[ChainStatus]) -> String {
    let (ns_w, table_w) = widths(chains);
    let mut out = String::new();
    for chain in chains {
        let _ = writeln!(
            out,
            "{:ns_w$}  {:table_w$}  {}",
            chain.namespace,
            chain.version_table,
            position(chain)
        );
        for m in &chain.migrations {
            match (m.status, m.applied_at) {
                (Status::Applied, Some(at)) => {
                    let _ = writeln!(out, "    applied  {}  {}", format_time(at), m.name);
                }
                _ => {
                    let _ = writeln!(out, "    pending  {:20}  {}", "", m.name);
                }
            }
        }
    }
    out
}

/// Every chain's migrations as the JSON array `engine migrate status --json` prints:
/// `[{"namespace", "version_table", "migrations": [{"name", "status", "applied_at"}]}]`.
pub fn format_status_json(chains: &[ChainStatus]) -> String {
    serde_json::to_string_pretty(chains).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Warnings a status shows without failing: versions recorded that this build does not have.
pub fn status_warnings(chains: &[ChainStatus]) -> Vec<String> {
    chains
        .iter()
        .flat_map(|c| {
            c.unknown_applied.iter().map(move |v| {
                format!(
                    "warning: namespace {:?}: {} records migration {v}, which this build does not \
                     have (the database was migrated by a newer build)",
                    c.namespace, c.version_table
                )
            })
        })
        .collect()
}

/// An error as the binaries print it: the message, then what was applied before a failure
/// and whether the failed migration left anything behind.
pub fn format_error(error: &Error) -> String {
    let mut out = format!("error: {error}");
    if let Error::MigrationFailed {
        rolled_back,
        applied,
        ..
    } = error
    {
        if *rolled_back {
            out.push_str("\n  the failed migration was rolled back: it left nothing behind");
        } else {
            out.push_str(
                "\n  this backend cannot roll back DDL: statements of the failed migration that \
                 ran before the error remain; check the schema before running again",
            );
        }
        if applied.is_empty() {
            out.push_str("\n  nothing was applied before the failure");
        } else {
            out.push_str("\n  applied before the failure:");
            for a in applied {
                let _ = write!(out, "\n    {} {}", a.namespace, a.migration);
            }
        }
        out.push_str("\n  the chains after it were not run");
    }
    out
}
