//! Command-line parts shared by the engine binary and every workflow project's binary:
//! the database arguments, and how reports, status and errors are printed.

use std::fmt::Write as _;
use std::time::Duration;

use std::process::ExitCode;

use crate::error::Error;
use crate::ops::ScopedReport;
use crate::registry::Registry;
use crate::runner::RunReport;
use crate::status::{ChainStatus, Status, StatusReport};

/// Writes to standard output; a closed pipe (`engine | head -1`) ends the output quietly.
macro_rules! outp {
    ($($arg:tt)*) => { crate::cli::out(&format!($($arg)*)) };
}

/// [`outp!`] with a line break.
macro_rules! outln {
    ($($arg:tt)*) => { crate::cli::out(&format!("{}\n", format!($($arg)*))) };
}

/// Writes `text` to standard output. Errors are dropped: when the reader went away
/// (`engine | head -1`) the output ends quietly instead of panicking.
pub fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// `path` made absolute against the current directory (as it is when that fails).
fn absolute(path: &std::path::Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// The database a URL names, for the line a binary prints before it starts: the URL without
/// its password, and for an SQLite file the absolute path of the file.
pub fn describe_database(url: &str) -> String {
    let shown = crate::redact_url(url);
    match crate::sqlite_file(url) {
        Some(file) => format!("{shown} (file {})", absolute(&file).display()),
        None => shown,
    }
}

/// Where the engine keeps its data when no `DATABASE_URL` is given: an SQLite file in the
/// working directory, created on first run.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://engine.db?mode=rwc";

/// How to reach the database, as sea-orm-migration's CLI takes it.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Database URL: sqlite://FILE?mode=rwc (relative to the current directory),
    /// postgres://USER@HOST/DB or mysql://USER@HOST/DB; default: DATABASE_URL, else
    /// sqlite://engine.db?mode=rwc. `check` and `autogenerate` never use DATABASE_URL: given
    /// here, a PostgreSQL or MySQL server to make their scratch databases on
    #[arg(
        short = 'u',
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        global = true,
        hide_env = true,
        hide_default_value = true
    )]
    pub database_url: String,

    /// Seconds to wait for the database connection before giving up (at least 1)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10,
        global = true,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub connect_timeout: u64,

    /// Seconds to wait for the migration lock while another engine holds it
    #[arg(long, value_name = "SECONDS", default_value_t = 300, global = true)]
    pub lock_timeout: u64,

    /// Seconds a migration statement may wait for a table lock before it gives up (and the
    /// migration fails, rolled back where the backend can), so that a deploy never stalls the
    /// application behind a long transaction; 0: wait without limit
    #[arg(
        long,
        value_name = "SECONDS",
        env = "DDL_LOCK_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub ddl_lock_timeout: u64,

    /// Whether --database-url was given on the command line (not taken from DATABASE_URL or
    /// the default): `check` and `autogenerate` use a server only when asked to explicitly.
    #[arg(skip)]
    pub url_on_command_line: bool,
}

impl DatabaseArgs {
    /// Records from the parsed command line whether `--database-url` was given there.
    pub fn note_sources(&mut self, matches: &clap::ArgMatches) {
        self.url_on_command_line =
            matches.value_source("database_url") == Some(clap::parser::ValueSource::CommandLine);
    }

    /// Where `check` and `autogenerate` make their scratch databases: on the server of an
    /// explicit `--database-url` naming PostgreSQL or MySQL, else SQLite in memory.
    pub fn scratch_server(&self) -> crate::ScratchServer {
        crate::ScratchServer::from_url(
            self.url_on_command_line
                .then_some(self.database_url.as_str()),
        )
    }

    /// The connect timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout)
    }

    /// The DDL lock timeout (`None`: without limit).
    pub fn ddl_lock_timeout(&self) -> Option<Duration> {
        (self.ddl_lock_timeout > 0).then(|| Duration::from_secs(self.ddl_lock_timeout))
    }

    /// The lock timeout as a duration.
    pub fn lock_timeout(&self) -> Duration {
        Duration::from_secs(self.lock_timeout)
    }

    /// The startup options these arguments describe.
    pub fn startup_options(&self) -> crate::StartupOptions {
        crate::StartupOptions {
            connect_timeout: self.timeout(),
            lock_timeout: self.lock_timeout(),
            ddl_lock_timeout: self.ddl_lock_timeout(),
        }
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
                    let note = if m.modified {
                        format!(
                            "  MODIFIED since it was applied: {} has checksum {}, {} was \
                             recorded (`migrate resolve --ns {} {} --accept-checksum` once the \
                             edit is known to be harmless)",
                            m.file.as_deref().unwrap_or("its file"),
                            m.checksum.as_deref().unwrap_or_default(),
                            m.recorded_checksum.as_deref().unwrap_or_default(),
                            chain.namespace,
                            m.name
                        )
                    } else if m.unchecked() {
                        "  (no checksum recorded yet: the next start records it)".to_owned()
                    } else {
                        String::new()
                    };
                    let _ = writeln!(out, "    applied  {}  {}{note}", format_time(at), m.name);
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
/// `[{"namespace", "version_table", "migrations": [{"name", "status", "applied_at", "file",
/// "checksum", "recorded_checksum", "modified"}]}]` (`file` and the checksums where the chain
/// declares checksums and they are known).
pub fn format_status_json(chains: &[ChainStatus]) -> String {
    serde_json::to_string_pretty(chains).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Warnings a status shows without failing: versions recorded that this build does not have,
/// and tables of namespaces no chain is registered for.
pub fn status_warnings(report: &StatusReport) -> Vec<String> {
    let mut out: Vec<String> = report
        .chains
        .iter()
        .filter_map(|c| {
            c.interrupted.as_ref().map(|i| {
                format!(
                    "warning: namespace {:?}: migration {} did not finish ({}); run `engine \
                     migrate resolve --ns {} {} --applied|--rolled-back` once the schema is checked",
                    c.namespace, i.migration, i.direction, c.namespace, i.migration
                )
            })
        })
        .collect();
    out.extend(report.chains.iter().flat_map(|c| {
        c.unknown_applied.iter().map(move |v| {
            format!(
                "warning: namespace {:?}: {} records migration {v}, which this build does not \
                 have: the database was migrated by a newer build, or the migration's code was \
                 removed (then, once nothing of it remains: `engine migrate resolve --ns {} {v} \
                 --rolled-back`); until then the chain refuses to run",
                c.namespace, c.version_table, c.namespace
            )
        })
    }));
    for u in &report.unregistered {
        out.push(format!(
            "warning: namespace {:?} is not registered with this engine, but its tables are in \
             the database (a removed workflow project?): {}",
            u.namespace,
            u.tables.join(", ")
        ));
    }
    out
}

/// What a failed run did: whether the failing migration was rolled back, and what was applied
/// (or rolled back) before it.
fn failure_report(
    out: &mut String,
    namespace: &str,
    migration: &str,
    direction: &str,
    rolled_back: Option<bool>,
    applied: &[crate::AppliedMigration],
) {
    match rolled_back {
        Some(true) => {
            out.push_str("\n  the failed migration was rolled back: it left nothing behind")
        }
        Some(false) => {
            let _ = write!(
                out,
                "\n  it ran outside a transaction (as every migration does on MySQL, whose DDL \
                 commits at once): statements that ran before the error remain. Check the \
                 schema, then run `engine migrate resolve --ns {namespace} {migration} \
                 --applied` or `--rolled-back`; until then the chain refuses to run"
            );
        }
        None => {}
    }
    if direction == "down" {
        // a rollback acts on one chain: what it did before the failure stays rolled back
        if applied.is_empty() {
            out.push_str("\n  nothing was rolled back before the failure");
        } else {
            out.push_str("\n  rolled back (and committed) before the failure:");
            for a in applied {
                let _ = write!(out, "\n    {} {}", a.namespace, a.migration);
            }
        }
        return;
    }
    if applied.is_empty() {
        out.push_str("\n  nothing was committed before the failure");
    } else {
        out.push_str("\n  committed before the failure:");
        for a in applied {
            let _ = write!(out, "\n    {} {}", a.namespace, a.migration);
        }
    }
    if namespace == crate::ENGINE_NAMESPACE {
        out.push_str("\n  the engine's chain failed, so no workflow chain was run");
    } else {
        out.push_str("\n  the chains after it in the run order were not run");
    }
}

/// An error as the binaries print it: the message, then what was committed before a failure
/// and whether the failed migration left anything behind.
pub fn format_error(error: &Error) -> String {
    let mut out = format!("error: {error}");
    match error {
        Error::MigrationFailed {
            namespace,
            migration,
            direction,
            rolled_back,
            applied,
            ..
        }
        | Error::MigrationPanicked {
            namespace,
            migration,
            direction,
            rolled_back,
            applied,
            ..
        } => failure_report(
            &mut out,
            namespace,
            migration,
            direction,
            Some(*rolled_back),
            applied,
        ),
        Error::Trespass(t) => {
            let rolled_back = t.left_behind.is_some().then_some(false);
            failure_report(
                &mut out,
                &t.namespace,
                &t.migration,
                t.direction,
                rolled_back,
                &t.applied,
            );
        }
        _ => {}
    }
    out
}

/// The summary of a scoped `fresh`, `reset` or `refresh`.
pub fn format_scoped_report(report: &ScopedReport) -> String {
    let mut out = String::new();
    for m in &report.rolled_back {
        let _ = writeln!(out, "rolled back  {:10}  {}", m.namespace, m.migration);
    }
    for object in &report.dropped {
        let _ = writeln!(out, "dropped      {object}");
    }
    for m in &report.applied {
        let _ = writeln!(out, "applied      {:10}  {}", m.namespace, m.migration);
    }
    let _ = writeln!(
        out,
        "{} rolled back, {} object(s) dropped, {} applied",
        report.rolled_back.len(),
        report.dropped.len(),
        report.applied.len()
    );
    out
}

/// The `migrate` commands, shared by `engine migrate` and every workflow project's binary.
/// They follow sea-orm-migration's CLI: the same subcommand names, `-u/--database-url`,
/// `DATABASE_URL`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MigrateCommand {
    /// List every chain (namespace, version table) with each migration applied or pending
    Status {
        /// Print JSON: [{"namespace", "version_table", "migrations": [{"name", "status", "applied_at"}]}]
        #[arg(long)]
        json: bool,
    },
    /// Apply pending migrations: of one chain with --ns, else of every chain in run order
    Up {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// Apply at most this many migrations
        #[arg(short = 'n', long, visible_alias = "num")]
        steps: Option<u32>,
    },
    /// Roll back one chain's newest applied migrations (one unless --steps)
    Down {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// Roll back this many migrations
        #[arg(short = 'n', long, visible_alias = "num", default_value_t = 1)]
        steps: u32,
    },
    /// DANGEROUS: drop everything one chain owns (tables, views, types, functions,
    /// sequences, its version table), then apply the chain again. Nothing outside the chain
    /// is dropped (`ext_{ns}_*`; for the engine, the names without the ext_ prefix)
    Fresh {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// With --ns engine: first do the same to every workflow chain (reverse run order)
        #[arg(long)]
        all: bool,
    },
    /// DANGEROUS: roll back every applied migration of one chain, then drop what its downs
    /// left behind and its version table
    Reset {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// With --ns engine: first reset every workflow chain (reverse run order)
        #[arg(long)]
        all: bool,
    },
    /// Settle a migration that did not finish (after a crash, or a failure on MySQL): after
    /// checking the schema, record it as applied or as not applied. With --rolled-back it
    /// also forgets a migration whose code was removed. With --accept-checksum, record the
    /// current checksum of an applied migration whose file was edited
    #[command(group = clap::ArgGroup::new("outcome").required(true).args(["applied", "rolled_back", "accept_checksum"]))]
    Resolve {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// The migration, e.g. m20260201_000001_create_requests
        migration: String,
        /// It completed: record it as applied
        #[arg(long)]
        applied: bool,
        /// Nothing of it remains: record it as not applied
        #[arg(long)]
        rolled_back: bool,
        /// Its file was edited after it was applied, and the edit changes nothing this
        /// database needs (or a new migration makes up for it): record the file's current
        /// checksum, so that starts run again
        #[arg(long)]
        accept_checksum: bool,
    },
    /// Compare the entities with the schema the migrations produce, on scratch databases:
    /// SQLite in memory, or two fresh databases made (then dropped) on the server of an
    /// explicit --database-url, whose own database is not touched. Exit 1 listing the
    /// differences when they disagree
    Check {
        /// The chain: `engine` or a workflow project's namespace (default: every chain that
        /// declares its entities)
        #[arg(long)]
        ns: Option<String>,
    },
    /// Write a migration holding the difference between the entities and the schema the
    /// migrations produce (compared as `check` does), and add it to the chain's Migrator.
    /// Writes nothing when they agree
    Autogenerate {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// What the migration does, in snake_case: add_invoice_due_date
        name: String,
        /// The module name to write (default: mYYYYMMDD_HHMMSS_NAME, now)
        #[arg(long, hide = true)]
        module: Option<String>,
    },
    /// Show what applying the pending migrations would do, changing nothing: each one is
    /// run for real and thrown away (PostgreSQL and SQLite: in a transaction rolled back,
    /// under the migration lock; MySQL, or a migration outside a transaction: on a scratch
    /// database on the same server, dropped afterwards). Per migration: the statements it
    /// sends, what it creates, alters and drops, the guard's verdict, and findings
    /// (destructive, data-dependent, blocking, incompatible). Exit 0 whatever it finds,
    /// unless --deny; exit 1 when a migration would fail
    Plan {
        /// The chain: `engine` or a workflow project's namespace (default: every chain)
        #[arg(long)]
        ns: Option<String>,
        /// Print JSON: [{"namespace", "migration", "statements", "changes", "findings":
        /// [{"kind", "code", "object", "message", "acknowledged"}], …}]
        #[arg(long, conflicts_with = "sql")]
        json: bool,
        /// Print an SQL script for the database's own client (psql, mariadb, sqlite3) that
        /// applies the pending migrations and records them as a start would
        #[arg(long)]
        sql: bool,
        /// Exit 1 when a finding of these kinds is not acknowledged by its migration
        #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND[,KIND…]")]
        deny: Vec<crate::FindingKind>,
    },
    /// DANGEROUS: roll back every applied migration of one chain (its data goes with it),
    /// drop what the downs left behind, then apply them all again
    Refresh {
        /// The chain: `engine` or a workflow project's namespace
        #[arg(long)]
        ns: Option<String>,
        /// With --ns engine: first roll back every workflow chain (reverse run order)
        #[arg(long)]
        all: bool,
    },
}

impl MigrateCommand {
    fn name(&self) -> &'static str {
        match self {
            Self::Status { .. } => "status",
            Self::Up { .. } => "up",
            Self::Down { .. } => "down",
            Self::Fresh { .. } => "fresh",
            Self::Reset { .. } => "reset",
            Self::Refresh { .. } => "refresh",
            Self::Resolve { .. } => "resolve",
            Self::Check { .. } => "check",
            Self::Autogenerate { .. } => "autogenerate",
            Self::Plan { .. } => "plan",
        }
    }

    fn namespace(&self) -> Option<&str> {
        match self {
            Self::Status { .. } => None,
            Self::Up { ns, .. }
            | Self::Down { ns, .. }
            | Self::Fresh { ns, .. }
            | Self::Reset { ns, .. }
            | Self::Refresh { ns, .. }
            | Self::Resolve { ns, .. }
            | Self::Check { ns }
            | Self::Plan { ns, .. }
            | Self::Autogenerate { ns, .. } => ns.as_deref(),
        }
    }
}

/// Which chains a binary manages.
#[derive(Debug, Clone, Copy)]
pub enum Manages<'a> {
    /// The engine: every chain of the registry.
    All,
    /// A workflow project's own binary: that one chain.
    Only(&'a str),
}

/// Runs one `migrate` command against the database and prints its outcome.
///
/// # Errors
/// Whatever the command reports; also [`Error::NamespaceRequired`] and
/// [`Error::ForeignNamespace`] for a wrong `--ns`.
pub async fn run_migrate(
    registry: &Registry,
    database: &DatabaseArgs,
    command: MigrateCommand,
    manages: Manages<'_>,
) -> Result<(), Error> {
    let asked = command.namespace().map(str::to_owned);
    let namespace: Option<String> = match (manages, asked) {
        (Manages::Only(own), Some(asked)) if asked != own => {
            return Err(Error::ForeignNamespace {
                own: own.to_owned(),
                asked,
            });
        }
        (Manages::Only(own), _) => Some(own.to_owned()),
        (Manages::All, asked) => asked,
    };
    if let Some(ns) = &namespace {
        registry.get(ns)?;
    }
    let required = || {
        namespace.clone().ok_or_else(|| Error::NamespaceRequired {
            command: command.name().to_owned(),
            known: registry.namespaces(),
        })
    };
    // a wrong command line is told before anything is opened (or created)
    if matches!(
        command,
        MigrateCommand::Down { .. }
            | MigrateCommand::Fresh { .. }
            | MigrateCommand::Reset { .. }
            | MigrateCommand::Refresh { .. }
            | MigrateCommand::Resolve { .. }
    ) {
        required()?;
    }
    match &command {
        MigrateCommand::Check { .. } => {
            return check(registry, namespace.as_deref(), &database.scratch_server()).await;
        }
        MigrateCommand::Autogenerate { name, module, .. } => {
            let ns = required()?;
            return autogenerate(
                registry,
                &ns,
                name,
                module.as_deref(),
                &database.scratch_server(),
            )
            .await;
        }
        _ => {}
    }
    let url = match &command {
        // reads only: an SQLite file is opened read-only, and a missing one is not created
        MigrateCommand::Status { .. } => match crate::read_only(&database.database_url) {
            crate::ReadOnly::Open(url) => url,
            crate::ReadOnly::Missing(file) => {
                eprintln!(
                    "warning: there is no database at {}: nothing is applied yet (status \
                     creates nothing)",
                    absolute(&file).display()
                );
                "sqlite::memory:".to_owned()
            }
        },
        // a missing SQLite file is an empty database: planned as one, and not created
        MigrateCommand::Plan { .. } => match crate::read_only(&database.database_url) {
            crate::ReadOnly::Missing(file) => {
                eprintln!(
                    "note: there is no database at {}: planned against an empty one (plan \
                     creates nothing)",
                    absolute(&file).display()
                );
                "sqlite::memory:".to_owned()
            }
            crate::ReadOnly::Open(_) => database.database_url.clone(),
        },
        _ => database.database_url.clone(),
    };
    let db = if matches!(command, MigrateCommand::Plan { .. }) {
        crate::connect_for_plan(&url, database.timeout(), database.ddl_lock_timeout()).await?
    } else {
        crate::connect_with(&url, database.timeout(), database.ddl_lock_timeout()).await?
    };
    let held = match command {
        MigrateCommand::Status { .. } => None,
        _ => match crate::lock(&db, database.lock_timeout()).await {
            Ok(held) => Some(held),
            Err(e) => {
                db.close().await.ok();
                return Err(e);
            }
        },
    };
    let result = async {
        match &command {
            MigrateCommand::Status { json } => {
                let mut report = crate::status(&db, registry).await?;
                if let Manages::Only(own) = manages {
                    // this binary knows no other workflow project: their tables are not its
                    // concern, and not a sign of removal
                    report.chains.retain(|c| c.namespace == own);
                    report.unregistered.clear();
                }
                for warning in status_warnings(&report) {
                    eprintln!("{warning}");
                }
                if *json {
                    outln!("{}", format_status_json(&report.chains));
                } else {
                    outp!("{}", format_status(&report.chains));
                    if !report.extensions.is_empty() {
                        outln!(
                            "extensions (database-wide, never dropped by a chain): {}",
                            report.extensions.join(", ")
                        );
                    }
                }
            }
            MigrateCommand::Up { steps, .. } => {
                engine_up_to_date(&db, registry, manages).await?;
                let started = std::time::Instant::now();
                let report = crate::up(&db, registry, namespace.as_deref(), *steps).await?;
                outp!("{}", format_run_report(&report, started.elapsed()));
            }
            MigrateCommand::Down { steps, .. } => {
                let report = crate::down(&db, registry, &required()?, Some(*steps)).await?;
                for m in &report.applied {
                    outln!("rolled back  {:10}  {}", m.namespace, m.migration);
                }
                outln!("{} migration(s) rolled back", report.applied.len());
            }
            MigrateCommand::Fresh { all, .. } => {
                let report = crate::fresh(&db, registry, &required()?, *all).await?;
                outp!("{}", format_scoped_report(&report));
            }
            MigrateCommand::Reset { all, .. } => {
                let report = crate::reset(&db, registry, &required()?, *all).await?;
                outp!("{}", format_scoped_report(&report));
            }
            MigrateCommand::Refresh { all, .. } => {
                let report = crate::refresh(&db, registry, &required()?, *all).await?;
                outp!("{}", format_scoped_report(&report));
            }
            MigrateCommand::Check { .. } | MigrateCommand::Autogenerate { .. } => {}
            MigrateCommand::Plan {
                json, sql, deny, ..
            } => {
                engine_up_to_date(&db, registry, manages).await?;
                let plan = crate::plan(&db, &url, registry, namespace.as_deref()).await?;
                for (ns, pending) in &plan.left_out {
                    eprintln!(
                        "note: namespace {ns:?} has {pending} pending migration(s) that a start \
                         runs first; this plan rehearses {:?} alone, as `up --ns` applies it",
                        namespace.as_deref().unwrap_or_default()
                    );
                }
                if let Some(f) = &plan.failure {
                    if !*sql {
                        print_plan(&plan, *json);
                    }
                    return Err(Error::RehearsalFailed {
                        namespace: f.namespace.clone(),
                        migration: f.migration.clone(),
                        message: f.message.clone(),
                    });
                }
                if *sql {
                    outp!("{}", plan.sql_script()?);
                } else {
                    print_plan(&plan, *json);
                }
                let denied: Vec<(&crate::PlannedMigration, &crate::Finding)> = plan
                    .migrations
                    .iter()
                    .flat_map(|m| m.findings.iter().map(move |f| (m, f)))
                    .filter(|(_, f)| !f.acknowledged && deny.contains(&f.kind))
                    .collect();
                if let Some((m, f)) = denied.first() {
                    return Err(Error::PlanDenied {
                        count: denied.len(),
                        kinds: deny.iter().map(|k| k.word()).collect::<Vec<_>>().join(","),
                        first: format!(
                            "namespace {:?}: {}: {} {} {}",
                            m.namespace, m.migration, f.kind, f.code, f.object
                        ),
                    });
                }
            }
            MigrateCommand::Resolve {
                migration,
                applied,
                accept_checksum,
                ..
            } => {
                let ns = required()?;
                let (resolution, outcome) = if *applied {
                    (crate::Resolution::Applied, "recorded as applied")
                } else if *accept_checksum {
                    (
                        crate::Resolution::AcceptChecksum,
                        "recorded with its file's current checksum",
                    )
                } else {
                    (crate::Resolution::RolledBack, "recorded as not applied")
                };
                crate::resolve(&db, registry, &ns, migration, resolution).await?;
                outln!("namespace {ns:?}: migration {migration} {outcome}");
            }
        }
        Ok(())
    }
    .await;
    let released = match held {
        Some(held) => held.release(&db).await,
        None => Ok(()),
    };
    db.close().await.ok();
    result.and(released)
}

/// A workflow project's own binary acts on its chain only once the engine's is up to date
/// (the project's migrations build on the engine's tables).
async fn engine_up_to_date(
    db: &sea_orm::DatabaseConnection,
    registry: &Registry,
    manages: Manages<'_>,
) -> Result<(), Error> {
    if let Manages::Only(own) = manages {
        let status = crate::status(db, registry).await?;
        let pending = status.chains[0].pending().count();
        if pending > 0 {
            return Err(Error::EnginePending {
                namespace: own.to_owned(),
                pending,
            });
        }
    }
    Ok(())
}

/// `check`: compares one chain (or every chain declaring entities) and prints the outcome.
async fn check(
    registry: &Registry,
    namespace: Option<&str>,
    server: &crate::ScratchServer,
) -> Result<(), Error> {
    let chains: Vec<&crate::Chain> = match namespace {
        Some(ns) => vec![registry.get(ns)?],
        None => registry.chains().iter().collect(),
    };
    let mut disagree = Vec::new();
    for chain in chains {
        if namespace.is_none() && !chain.has_entities() {
            eprintln!(
                "namespace {:?}: declares no entities; not checked",
                chain.namespace()
            );
            continue;
        }
        let drift = crate::drift(registry, chain.namespace(), server).await?;
        outp!("{drift}");
        if !drift.is_clean() {
            disagree.push(drift.namespace);
        }
    }
    if disagree.is_empty() {
        Ok(())
    } else {
        Err(Error::Drift {
            namespaces: disagree,
        })
    }
}

/// `autogenerate`: writes the migration holding the difference, if there is one.
async fn autogenerate(
    registry: &Registry,
    namespace: &str,
    name: &str,
    module: Option<&str>,
    server: &crate::ScratchServer,
) -> Result<(), Error> {
    let fail = |reason: String| Error::Autogenerate {
        namespace: namespace.to_owned(),
        reason,
    };
    if !crate::valid_migration_name(name) {
        return Err(Error::InvalidMigrationName {
            name: name.to_owned(),
        });
    }
    let chain = registry.get(namespace)?;
    let Some(dir) = chain.migration_crate_dir() else {
        return Err(fail(
            "the chain does not say where its migration crate is (add \
             .source_dir(env!(\"CARGO_MANIFEST_DIR\")) in its chain() function)"
                .to_owned(),
        ));
    };
    let drift = crate::drift(registry, namespace, server).await?;
    let Some(generated) = crate::generate(&drift) else {
        outln!("namespace {namespace:?}: entities and migrations agree; no migration written");
        return Ok(());
    };
    let module = module
        .map(str::to_owned)
        .unwrap_or_else(|| crate::migration_module(chrono::Utc::now(), name));
    let file = crate::write_migration(namespace, dir, &module, &generated.source)?;
    outln!("created {}", file.display());
    for change in &generated.changes {
        outln!("  {change}");
    }
    outln!(
        "added it to the migrations() list in {}",
        dir.join("src/lib.rs").display()
    );
    if !generated.formatted {
        eprintln!("warning: rustfmt was not found or failed: run `cargo fmt` on the new file");
    }
    outln!("next: review it, then `cargo run -p engine` applies it");
    Ok(())
}

/// Prints a plan as text or JSON.
fn print_plan(plan: &crate::Plan, json: bool) {
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&plan.migrations).unwrap_or_default()
        );
    } else {
        outp!("{}", format_plan(plan));
    }
}

/// A plan as `migrate plan` prints it: per chain, per migration, its statements indented,
/// its changes, the guard's verdict and its findings, then a summary.
pub fn format_plan(plan: &crate::Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if plan.migrations.is_empty() && plan.failure.is_none() {
        out.push_str("nothing to apply: every chain is up to date\n");
        return out;
    }
    let _ = writeln!(
        out,
        "rehearsed {} pending migration(s) in {} chain(s) {}; nothing was changed",
        plan.migrations.len(),
        plan.chains.len(),
        match &plan.rehearsal {
            crate::plan::Rehearsal::Transaction => {
                "in a transaction that was rolled back".to_owned()
            }
            crate::plan::Rehearsal::Scratch { reason } => {
                format!("on a scratch database, dropped afterwards ({reason})")
            }
        }
    );
    for chain in &plan.chains {
        let _ = writeln!(
            out,
            "\nnamespace {:?} ({}{})",
            chain.namespace,
            chain.version_table,
            if chain.version_table_exists {
                ""
            } else {
                ", created"
            }
        );
        for m in plan
            .migrations
            .iter()
            .filter(|m| m.namespace == chain.namespace)
        {
            let failed = plan
                .failure
                .as_ref()
                .is_some_and(|f| f.namespace == m.namespace && f.migration == m.migration);
            let _ = writeln!(
                out,
                "  {}{}{}",
                m.migration,
                if m.in_transaction || plan.backend == sea_orm::DbBackend::MySql {
                    ""
                } else {
                    "  (outside a transaction)"
                },
                if failed { "  FAILS" } else { "" }
            );
            for s in &m.statements {
                let mut lines = s.sql.trim().lines();
                let first = lines.next().unwrap_or_default();
                let _ = writeln!(out, "      {}{first}", if s.read { "(read) " } else { "" });
                for line in lines {
                    let _ = writeln!(out, "        {line}");
                }
            }
            if m.statements.is_empty() {
                out.push_str("      (no statements)\n");
            }
            for c in &m.changes {
                let _ = writeln!(out, "    ~ {c}");
            }
            for t in &m.trespasses {
                let _ = writeln!(out, "    ! outside its chain, a start refuses it: {t}");
            }
            for f in &m.findings {
                let _ = writeln!(
                    out,
                    "    {} {} {} {}: {}",
                    if f.acknowledged { "ok" } else { "!!" },
                    f.kind,
                    f.code,
                    f.object,
                    f.message
                );
            }
            if let Some(f) = plan.failure.as_ref().filter(|_| failed) {
                let _ = writeln!(out, "    FAILS: {}", f.message);
            }
        }
    }
    let findings: Vec<&crate::Finding> = plan.migrations.iter().flat_map(|m| &m.findings).collect();
    let mut counts = std::collections::BTreeMap::new();
    for f in findings.iter().filter(|f| !f.acknowledged) {
        *counts.entry(f.kind).or_insert(0) += 1;
    }
    let acknowledged = findings.iter().filter(|f| f.acknowledged).count();
    let _ = writeln!(
        out,
        "\n{} finding(s){}{}",
        findings.len() - acknowledged,
        if counts.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                counts
                    .iter()
                    .map(|(k, n)| format!("{n} {k}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        if acknowledged > 0 {
            format!(", {acknowledged} acknowledged")
        } else {
            String::new()
        }
    );
    out
}

/// Logs to stderr: progress (each migration as it is applied or rolled back) and warnings
/// (such as waiting for the lock); `RUST_LOG` overrides.
pub fn init_logging() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{EnvFilter, Layer as _};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,chainkit=info"));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .with_filter(filter);
    let _ = tracing_subscriber::registry()
        .with(log)
        .with(crate::capture_layer())
        .try_init();
}

/// Runs `work` on a fresh async runtime; prints an error the way every binary here does and
/// turns the outcome into the process's exit code (0 or 1).
pub fn block_on<F>(work: F) -> ExitCode
where
    F: std::future::Future<Output = Result<(), Error>>,
{
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
    crate::panics::install_hook();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runtime.block_on(work)));
    match outcome {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("{}", format_error(&e));
            if e.is_usage() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
        Err(payload) => {
            eprintln!(
                "error: internal error: {} (set RUST_BACKTRACE=1 for a backtrace, and please \
                 report it)",
                crate::panics::message(payload.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

/// The `migrate` commands as a workflow project's own binary shows them: about its one chain,
/// without `--ns` (implied) and `--all` (the engine's), which stay accepted but hidden.
fn for_one_chain(command: clap::Command, ns: &str) -> clap::Command {
    let about = |name: &str| -> Option<String> {
        Some(match name {
            "status" => format!(
                "List this chain's migrations (version table seaql_migrations_{ns}), each \
                 applied or pending"
            ),
            "up" => "Apply this chain's pending migrations (the engine's own chain must be up \
                     to date)"
                .to_owned(),
            "down" => {
                "Roll back this chain's newest applied migrations (one unless --steps)".to_owned()
            }
            "fresh" => format!(
                "DANGEROUS: drop everything this chain owns (ext_{ns}_* tables, views, types, \
                 functions, sequences, and seaql_migrations_{ns}), then apply the chain again. \
                 Nothing outside the chain is dropped"
            ),
            "reset" => "DANGEROUS: roll back every applied migration of this chain, then drop \
                        what its downs left behind and its version table"
                .to_owned(),
            "refresh" => "DANGEROUS: roll back every applied migration of this chain (its data \
                          goes with it), drop what the downs left behind, then apply them all \
                          again"
                .to_owned(),
            "resolve" => "Settle a migration of this chain that did not finish (after a crash, \
                          or a failure on MySQL): after checking the schema, record it as \
                          applied or as not applied. With --rolled-back it also forgets a \
                          migration whose code was removed"
                .to_owned(),
            "check" => "Compare this chain's entities with the schema its migrations produce, \
                        on scratch databases (SQLite in memory, or on the server of an explicit \
                        --database-url, whose own database is not touched). Exit 1 listing the \
                        differences"
                .to_owned(),
            "autogenerate" => "Write a migration holding the difference between this chain's \
                               entities and the schema its migrations produce, and add it to \
                               its Migrator. Writes nothing when they agree"
                .to_owned(),
            "plan" => "Show what applying this chain's pending migrations would do, changing \
                       nothing (each is run for real and thrown away): the statements each \
                       sends, what it creates, alters and drops, the guard's verdict, and \
                       findings. Exit 1 when one would fail, or with --deny KIND when a \
                       finding of that kind is not acknowledged"
                .to_owned(),
            _ => return None,
        })
    };
    let names: Vec<String> = command
        .get_subcommands()
        .map(|c| c.get_name().to_owned())
        .collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(&name, |mut sub| {
            if let Some(text) = about(&name) {
                sub = sub.about(text);
            }
            for hidden in ["ns", "all"] {
                if sub.get_arguments().any(|a| a.get_id() == hidden) {
                    sub = sub.mut_arg(hidden, |a| a.hide(true));
                }
            }
            sub
        })
    })
}

/// The command line of a workflow project's own migration binary.
#[derive(Debug, clap::Parser)]
pub struct WorkflowCli {
    #[command(flatten)]
    database: DatabaseArgs,

    #[command(subcommand)]
    command: MigrateCommand,
}

/// The whole `main` of a workflow project's migration binary: parses the command line and
/// runs the command on the project's own chain. `version` is the project crate's own
/// (`env!("CARGO_PKG_VERSION")`); `--version` shows it with the engine version it pins.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     # let registry = || -> Result<chainkit::Registry, chainkit::Error> { unimplemented!() };
///     chainkit::cli::workflow_main(
///         "ext-billing-migration",
///         env!("CARGO_PKG_VERSION"),
///         "billing",
///         registry(),
///     )
/// }
/// ```
pub fn workflow_main(
    bin: &'static str,
    version: &'static str,
    namespace: &str,
    registry: Result<Registry, Error>,
) -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    // once per process
    let version: &'static str =
        Box::leak(format!("{version} (engine {})", crate::ENGINE_VERSION).into_boxed_str());
    let about = format!(
        "Migrations of workflow project `{namespace}`: tables ext_{namespace}_*, version table \
         seaql_migrations_{namespace}. Acts on this chain only; `engine migrate` acts on every \
         chain."
    );
    let mut command = for_one_chain(
        WorkflowCli::command()
            .name(bin)
            .bin_name(bin)
            .version(version)
            .about(about),
        namespace,
    );
    let matches = command.clone().get_matches();
    if let Some((sub, args)) = matches.subcommand()
        && args.try_get_one::<bool>("all").ok().flatten() == Some(&true)
    {
        command
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                format!(
                    "`{sub} --all` acts on every chain: run it as `engine migrate {sub} --ns \
                     engine --all`; this binary acts on namespace {namespace:?} only"
                ),
            )
            .exit();
    }
    let mut cli = match WorkflowCli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    cli.database.note_sources(&matches);
    init_logging();
    block_on(async {
        let registry = registry?;
        run_migrate(
            &registry,
            &cli.database,
            cli.command,
            Manages::Only(namespace),
        )
        .await
    })
}
