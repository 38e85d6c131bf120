//! Where each chain stands: read in one round of statements for all chains.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::backend;
use crate::chain::Chain;
use crate::error::Error;

/// Whether a migration has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Recorded in the chain's version table.
    Applied,
    /// Not recorded yet.
    Pending,
}

/// One migration of a chain and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// The migration's name.
    pub name: String,
    /// Applied or pending.
    pub status: Status,
    /// When it was applied, in seconds since the Unix epoch (sea-orm-migration's format).
    pub applied_at: Option<i64>,
    /// The migration's file, where the chain declares checksums.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// This build's checksum of the migration's file, where the chain declares checksums.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The checksum recorded when it was applied, where one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_checksum: Option<String>,
    /// Whether it was applied from a file with another checksum: edited since.
    pub modified: bool,
}

impl MigrationStatus {
    /// Whether it is applied with no checksum recorded although this build has one: applied
    /// by a build without checksums or by stock sea-orm-migration. The next start records it.
    pub fn unchecked(&self) -> bool {
        self.status == Status::Applied
            && self.checksum.is_some()
            && self.recorded_checksum.is_none()
    }
}

/// Where one chain stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStatus {
    /// `engine` or the workflow project's namespace.
    pub namespace: String,
    /// The chain's version table.
    pub version_table: String,
    /// Every migration of the chain, oldest first.
    pub migrations: Vec<MigrationStatus>,
    /// Versions recorded in the version table that this build does not know (the database
    /// was migrated by a newer build).
    #[serde(skip)]
    pub unknown_applied: Vec<String>,
    /// A migration that started outside a transaction and never finished.
    #[serde(skip)]
    pub interrupted: Option<Interrupted>,
}

impl ChainStatus {
    /// How many migrations are applied.
    pub fn applied_count(&self) -> usize {
        self.migrations
            .iter()
            .filter(|m| m.status == Status::Applied)
            .count()
    }

    /// The names of the pending migrations, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &str> {
        self.migrations
            .iter()
            .filter(|m| m.status == Status::Pending)
            .map(|m| m.name.as_str())
    }

    /// The applied migrations whose files were edited since (see [`MigrationStatus::modified`]).
    pub fn modified(&self) -> impl Iterator<Item = &MigrationStatus> {
        self.migrations.iter().filter(|m| m.modified)
    }

    /// The newest applied migration, if any.
    pub fn latest_applied(&self) -> Option<&str> {
        self.migrations
            .iter()
            .rev()
            .find(|m| m.status == Status::Applied)
            .map(|m| m.name.as_str())
    }
}

/// What the database records for one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Whether the version table exists.
    pub table_exists: bool,
    /// version → applied_at
    pub applied: BTreeMap<String, i64>,
    /// A migration that started outside a transaction and never finished. A record whose
    /// migration finished (applied, for `up`; no longer applied, for `down`) is left over from
    /// a run that stopped before clearing it (on MySQL the runner clears a chain's record once
    /// per chain, not after each migration): not interrupted.
    pub interrupted: Option<Interrupted>,
    /// version → (checksum, applied_at), from the checksum table.
    pub checksums: BTreeMap<String, (String, i64)>,
}

/// A migration recorded as started outside a transaction that never finished: the process
/// died, or the migration failed on a backend that cannot roll DDL back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interrupted {
    /// The migration.
    pub migration: String,
    /// `up` or `down`.
    pub direction: String,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: i64,
}

/// What one read of the database found: each chain's records, and, unless the read took the
/// one-statement path, every table.
#[derive(Debug, Clone, Default)]
pub(crate) struct DbState {
    /// Every base table; `None` when the state was read in one statement.
    pub tables: Option<BTreeSet<String>>,
    /// Whether the progress table exists.
    pub progress_exists: bool,
    /// Whether the checksum table exists (read only where a chain declares checksums).
    pub checksums_exist: bool,
    /// Per chain, in the order asked.
    pub recorded: Vec<Recorded>,
}

/// How [`read_state`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Read {
    /// First try one statement reading every version table and the progress table, which
    /// works once they all exist (every startup after the first); else as `Listing`.
    Optimistic,
    /// List the tables, then read the version tables that exist: two statements.
    Listing,
}

/// Reads the version tables of `chains` with at most two statements whatever their number
/// (one on the optimistic path). Creates nothing.
pub(crate) async fn read_state<C: ConnectionTrait>(
    db: &C,
    chains: &[&Chain],
    read: Read,
) -> Result<DbState, Error> {
    let index: BTreeMap<&str, usize> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.namespace(), i))
        .collect();
    let with_checksums = chains.iter().any(|c| c.has_checksums());
    if read == Read::Optimistic {
        let all: Vec<(&str, &str)> = chains
            .iter()
            .map(|c| (c.namespace(), c.version_table()))
            .collect();
        if let Ok(rows) = read_rows(db, &all, true, with_checksums).await {
            let mut recorded = vec![
                Recorded {
                    table_exists: true,
                    ..Recorded::default()
                };
                chains.len()
            ];
            let ambiguous = fill(&mut recorded, &index, &all, rows);
            read_ambiguous(db, &mut recorded, &index, &all, ambiguous).await?;
            return Ok(DbState {
                tables: None,
                progress_exists: true,
                checksums_exist: with_checksums,
                recorded,
            });
        }
    }
    let tables = list_tables(db, "listing tables").await?;
    let mut recorded: Vec<Recorded> = chains
        .iter()
        .map(|c| Recorded {
            table_exists: tables.contains(c.version_table()),
            ..Recorded::default()
        })
        .collect();
    let progress = tables.contains(backend::PROGRESS_TABLE);
    let checksums = with_checksums && tables.contains(backend::CHECKSUM_TABLE);
    let readable: Vec<(&str, &str)> = chains
        .iter()
        .filter(|c| tables.contains(c.version_table()))
        .map(|c| (c.namespace(), c.version_table()))
        .collect();
    if readable.is_empty() && !progress && !checksums {
        return Ok(DbState {
            tables: Some(tables),
            progress_exists: progress,
            checksums_exist: checksums,
            recorded,
        });
    }
    let rows = match read_rows(db, &readable, progress, checksums).await {
        Ok(rows) => rows,
        Err(source) => return Err(unreadable(db, &readable, progress, checksums, source).await),
    };
    let ambiguous = fill(&mut recorded, &index, &readable, rows);
    read_ambiguous(db, &mut recorded, &index, &readable, ambiguous).await?;
    Ok(DbState {
        tables: Some(tables),
        progress_exists: progress,
        checksums_exist: checksums,
        recorded,
    })
}

/// One row of [`backend::read_versions`].
pub(crate) struct VersionRow {
    /// For a version table's row, the position of its table in the tables read.
    chain: Option<usize>,
    /// For a progress or checksum row, the namespace.
    namespace: Option<String>,
    version: String,
    at: i64,
    kind: Option<String>,
}

/// What [`fill`] could not take from SQLite's joined rows, because a version (or another
/// field) written by hand holds a separator: to be read again row by row.
#[derive(Debug, Default, PartialEq, Eq)]
struct Ambiguous {
    /// Positions in the tables read.
    tables: Vec<usize>,
    /// The checksum rows.
    checksums: bool,
}

/// The rows a joined row of [`backend::read_versions`] holds, each split into its `fields`;
/// `None` unless there are `count` of them with exactly that many fields each (a separator
/// inside a field makes more).
fn split_joined(joined: &str, count: i64, fields: usize) -> Option<Vec<Vec<&str>>> {
    if count == 0 {
        return joined.is_empty().then(Vec::new);
    }
    let rows: Vec<Vec<&str>> = joined
        .split(backend::ROW_SEPARATOR)
        .map(|row| row.split(backend::FIELD_SEPARATOR).collect())
        .collect();
    let whole = i64::try_from(rows.len()).is_ok_and(|n| n == count)
        && rows.iter().all(|row| row.len() == fields);
    whole.then_some(rows)
}

/// Sorts the rows read from `tables` (namespace, version table) into each chain's records;
/// returns what it could not read from joined rows.
fn fill(
    recorded: &mut [Recorded],
    index: &BTreeMap<&str, usize>,
    tables: &[(&str, &str)],
    rows: Vec<VersionRow>,
) -> Ambiguous {
    let mut ambiguous = Ambiguous::default();
    let of_table: Vec<Option<usize>> = tables
        .iter()
        .map(|(ns, _)| index.get(ns).copied())
        .collect();
    for row in rows {
        let i = match (row.chain, &row.namespace) {
            (Some(position), _) => of_table.get(position).copied().flatten(),
            (None, Some(ns)) => index.get(ns.as_str()).copied(),
            (None, None) => None,
        };
        let Some(i) = i else {
            continue;
        };
        match row.kind.as_deref() {
            None => {
                recorded[i].applied.insert(row.version, row.at);
            }
            Some(backend::AGGREGATED_VERSIONS) => match split_joined(&row.version, row.at, 2) {
                Some(pairs) => {
                    for pair in pairs {
                        recorded[i]
                            .applied
                            .insert(pair[0].to_owned(), pair[1].parse().unwrap_or_default());
                    }
                }
                None => ambiguous.tables.extend(row.chain),
            },
            Some(backend::AGGREGATED_CHECKSUMS) => match split_joined(&row.version, row.at, 3) {
                Some(triples) => {
                    for t in triples {
                        recorded[i].checksums.insert(
                            t[0].to_owned(),
                            (t[2].to_owned(), t[1].parse().unwrap_or_default()),
                        );
                    }
                }
                None => ambiguous.checksums = true,
            },
            Some(direction @ ("up" | "down")) => {
                recorded[i].interrupted = Some(Interrupted {
                    migration: row.version,
                    direction: direction.to_owned(),
                    started_at: row.at,
                });
            }
            // a row of the checksum table: its `kind` is the checksum
            Some(sum) => {
                recorded[i]
                    .checksums
                    .insert(row.version, (sum.to_owned(), row.at));
            }
        }
    }
    if ambiguous != Ambiguous::default() {
        // what is applied is not all known yet: the caller reads it again, and fills again
        return ambiguous;
    }
    for r in recorded.iter_mut() {
        if r.interrupted
            .as_ref()
            .is_some_and(|i| (i.direction == "up") == r.applied.contains_key(&i.migration))
        {
            // the migration finished (its version row says so): the record of a run that
            // ended before clearing it
            r.interrupted = None;
        }
    }
    ambiguous
}

/// Every base table of the current database/schema; `context` names the work in an error.
pub(crate) async fn list_tables<C: ConnectionTrait>(
    db: &C,
    context: &str,
) -> Result<BTreeSet<String>, Error> {
    let backend = db.get_database_backend();
    db.query_all_raw(backend::list_tables(backend))
        .await
        .map_err(Error::db(context))?
        .into_iter()
        .map(|row| row.try_get::<String>("", "t"))
        .collect::<Result<_, _>>()
        .map_err(Error::db(context))
}

async fn read_rows<C: ConnectionTrait>(
    db: &C,
    tables: &[(&str, &str)],
    progress: bool,
    checksums: bool,
) -> Result<Vec<VersionRow>, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let statement = backend::read_versions(backend, tables, progress, checksums);
    read_rows_of(db, statement).await
}

/// Reads what SQLite's joined rows could not give (see [`Ambiguous`]) again, row by row, into
/// `recorded`: one more statement, only where a version row written by hand holds a separator.
async fn read_ambiguous<C: ConnectionTrait>(
    db: &C,
    recorded: &mut [Recorded],
    index: &BTreeMap<&str, usize>,
    tables: &[(&str, &str)],
    ambiguous: Ambiguous,
) -> Result<(), Error> {
    if ambiguous == Ambiguous::default() {
        return Ok(());
    }
    let again: Vec<(&str, &str)> = ambiguous
        .tables
        .iter()
        .filter_map(|&p| tables.get(p).copied())
        .collect();
    let statement = backend::read_versions_as(
        db.get_database_backend(),
        &again,
        false,
        ambiguous.checksums,
        false,
    );
    let rows = read_rows_of(db, statement)
        .await
        .map_err(Error::db("reading version rows"))?;
    fill(recorded, index, &again, rows);
    Ok(())
}

async fn read_rows_of<C: ConnectionTrait>(
    db: &C,
    statement: sea_orm::Statement,
) -> Result<Vec<VersionRow>, sea_orm::DbErr> {
    let rows = db.query_all_raw(statement).await?;
    if let Some(read) = pg_version_rows(&rows) {
        return read;
    }
    let aggregated = db.get_database_backend() == sea_orm::DbBackend::Sqlite;
    rows.into_iter()
        .map(|row| {
            let chain = row
                .try_get_by_index::<Option<i64>>(0)?
                .and_then(|c| usize::try_from(c).ok());
            // a version table's row has neither namespace nor kind, unless aggregated (SQLite):
            // most rows are those, and decoding what is known to be NULL is most of the cost
            let (namespace, kind) = if chain.is_some() && !aggregated {
                (None, None)
            } else {
                (row.try_get_by_index(1)?, row.try_get_by_index(4)?)
            };
            Ok(VersionRow {
                chain,
                namespace,
                version: row.try_get_by_index(2)?,
                at: row.try_get_by_index(3)?,
                kind,
            })
        })
        .collect()
}

/// PostgreSQL's rows of [`backend::read_versions`] decoded from the driver's rows directly,
/// their column types checked once on the first row: checking every value's type, as
/// SeaORM's getters do, was a large part of the client's time in a start with nothing to do
/// (about a tenth of a millisecond at 500 rows). `None` where the rows are not PostgreSQL's,
/// or the columns not of the types the statement gives (a version table made by hand with
/// other types): the caller decodes them value by value, with errors that say what is wrong.
fn pg_version_rows(
    rows: &[sea_orm::QueryResult],
) -> Option<Result<Vec<VersionRow>, sea_orm::DbErr>> {
    use sea_orm::sqlx::{Column as _, Row as _, TypeInfo as _};
    const INT: &[&str] = &["INT8"];
    // what sqlx decodes a `String` from
    const TEXT: &[&str] = &["TEXT", "VARCHAR", "BPCHAR", "NAME"];
    let first = rows.first()?.try_as_pg_row()?;
    let columns = first.columns();
    let typed = [INT, TEXT, TEXT, INT, TEXT]
        .iter()
        .enumerate()
        .all(|(i, names)| {
            columns
                .get(i)
                .is_some_and(|c| names.contains(&c.type_info().name()))
        });
    if !typed || columns.len() != 5 {
        return None;
    }
    let error = |e: sea_orm::sqlx::Error| {
        sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)))
    };
    let mut read = Vec::with_capacity(rows.len());
    for row in rows {
        let row = row.try_as_pg_row()?;
        let decoded = (|| {
            let chain = row
                .try_get_unchecked::<Option<i64>, _>(0)?
                .and_then(|c| usize::try_from(c).ok());
            let (namespace, kind) = if chain.is_some() {
                (None, None)
            } else {
                (row.try_get_unchecked(1)?, row.try_get_unchecked(4)?)
            };
            Ok(VersionRow {
                chain,
                namespace,
                version: row.try_get_unchecked(2)?,
                at: row.try_get_unchecked(3)?,
                kind,
            })
        })();
        match decoded {
            Ok(r) => read.push(r),
            Err(e) => return Some(Err(error(e))),
        }
    }
    Some(Ok(read))
}

/// Finds which version table could not be read, reading them one by one.
async fn unreadable<C: ConnectionTrait>(
    db: &C,
    tables: &[(&str, &str)],
    progress: bool,
    checksums: bool,
    source: sea_orm::DbErr,
) -> Error {
    for table in tables {
        if let Err(source) = read_rows(db, std::slice::from_ref(table), false, false).await {
            return Error::UnreadableVersionTable {
                namespace: table.0.to_owned(),
                version_table: table.1.to_owned(),
                source: Box::new(source),
            };
        }
    }
    Error::Database {
        context: match (progress, checksums) {
            (true, true) => format!(
                "reading {} and {}",
                backend::PROGRESS_TABLE,
                backend::CHECKSUM_TABLE
            ),
            (true, false) => format!("reading {}", backend::PROGRESS_TABLE),
            (false, true) => format!("reading {}", backend::CHECKSUM_TABLE),
            (false, false) => "reading the version tables".to_owned(),
        },
        source: Box::new(source),
    }
}

/// Joins a chain's migrations with what the database records.
pub(crate) fn chain_status(chain: &Chain, recorded: &Recorded) -> ChainStatus {
    let names = chain.migration_names();
    let distinct = names.windows(2).all(|w| w[0] < w[1]);
    let sources = chain.sources();
    let migrations: Vec<MigrationStatus> = names
        .into_iter()
        .map(|name| {
            let applied_at = recorded.applied.get(&name).copied();
            let source = sources.get(&name);
            let checksum = source.map(|s| s.checksum.to_recorded());
            // a checksum row counts only for the version row it was recorded with
            let recorded_checksum = applied_at.and_then(|at| {
                recorded
                    .checksums
                    .get(&name)
                    .filter(|(_, recorded_at)| *recorded_at == at)
                    .map(|(sum, _)| sum.clone())
            });
            MigrationStatus {
                status: if applied_at.is_some() {
                    Status::Applied
                } else {
                    Status::Pending
                },
                modified: matches!((&checksum, &recorded_checksum), (Some(c), Some(r)) if c != r),
                file: source.map(|s| s.file()),
                name,
                applied_at,
                checksum,
                recorded_checksum,
            }
        })
        .collect();
    // every version recorded is a migration of the chain when as many of its (distinct)
    // names are recorded: no set to build on the way of almost every start
    let found = migrations.iter().filter(|m| m.applied_at.is_some()).count();
    let unknown_applied = if distinct && found == recorded.applied.len() {
        Vec::new()
    } else {
        let known: std::collections::HashSet<&str> =
            migrations.iter().map(|m| m.name.as_str()).collect();
        recorded
            .applied
            .keys()
            .filter(|v| !known.contains(v.as_str()))
            .cloned()
            .collect()
    };
    ChainStatus {
        namespace: chain.namespace().to_owned(),
        version_table: chain.version_table().to_owned(),
        migrations,
        unknown_applied,
        interrupted: recorded.interrupted.clone(),
    }
}

/// Tables that look like a workflow project's but belong to no registered chain: a project
/// that was removed from the engine, or never registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unregistered {
    /// The namespace the tables' names imply.
    pub namespace: String,
    /// Its `ext_{ns}_*` tables and `seaql_migrations_{ns}`, sorted.
    pub tables: Vec<String>,
}

/// What `status` reports: every chain, and tables of unregistered namespaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// Every chain, in run order.
    pub chains: Vec<ChainStatus>,
    /// Tables no registered chain owns, grouped by the namespace their names imply.
    pub unregistered: Vec<Unregistered>,
    /// Extensions installed in the database (PostgreSQL), with their versions: database-wide,
    /// any chain may create one, and no scoped operation drops one.
    pub extensions: Vec<String>,
}

/// The namespace a table's name implies, if it looks like a workflow project's table or
/// version table.
pub(crate) fn implied_namespace(table: &str) -> Option<&str> {
    let ns = if let Some(rest) = table.strip_prefix("ext_") {
        rest.split_once('_').map(|(ns, _)| ns)?
    } else {
        table.strip_prefix("seaql_migrations_")?
    };
    crate::namespace::check_namespace(ns).ok().map(|()| ns)
}

/// Groups the tables of unregistered namespaces.
pub(crate) fn unregistered(tables: &BTreeSet<String>, chains: &[&Chain]) -> Vec<Unregistered> {
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for table in tables {
        if let Some(ns) = implied_namespace(table)
            && !chains.iter().any(|c| c.namespace() == ns)
        {
            found.entry(ns.to_owned()).or_default().push(table.clone());
        }
    }
    found
        .into_iter()
        .map(|(namespace, tables)| Unregistered { namespace, tables })
        .collect()
}

/// Where every chain stands, in run order, and which tables belong to no registered chain.
/// Reads with a fixed number of statements and creates nothing, so it works on a read-only
/// connection.
///
/// # Errors
/// [`Error::UnreadableVersionTable`] naming the chain whose records cannot be read;
/// [`Error::Database`] when the catalog cannot be read.
pub async fn status<C: ConnectionTrait>(db: &C, chains: &[&Chain]) -> Result<StatusReport, Error> {
    let state = read_state(db, chains, Read::Listing).await?;
    let mut extensions = Vec::new();
    if let Some(stmt) = backend::list_extensions(db.get_database_backend()) {
        for row in db
            .query_all_raw(stmt)
            .await
            .map_err(Error::db("listing extensions"))?
        {
            extensions.push(
                row.try_get::<String>("", "e")
                    .map_err(Error::db("listing extensions"))?,
            );
        }
    }
    Ok(StatusReport {
        extensions,
        chains: chains
            .iter()
            .zip(&state.recorded)
            .map(|(c, r)| chain_status(c, r))
            .collect(),
        unregistered: unregistered(&state.tables.unwrap_or_default(), chains),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_record_counts_only_while_its_migration_is_unfinished() {
        let progress = |version: &str, direction: &str| VersionRow {
            chain: None,
            namespace: Some("a".into()),
            version: version.into(),
            at: 7,
            kind: Some(direction.into()),
        };
        let applied = || VersionRow {
            chain: Some(0),
            namespace: None,
            version: "m1".into(),
            at: 1,
            kind: None,
        };
        let index = BTreeMap::from([("a", 0)]);
        let tables = [("a", "seaql_migrations_a")];
        let interrupted = |rows: Vec<VersionRow>| {
            let mut recorded = vec![Recorded::default()];
            fill(&mut recorded, &index, &tables, rows);
            recorded[0]
                .interrupted
                .as_ref()
                .map(|i| i.migration.clone())
        };
        // up: unfinished while not recorded; down: while still recorded
        assert_eq!(interrupted(vec![progress("m2", "up")]), Some("m2".into()));
        assert_eq!(interrupted(vec![progress("m1", "up"), applied()]), None);
        assert_eq!(
            interrupted(vec![progress("m1", "down"), applied()]),
            Some("m1".into())
        );
        assert_eq!(interrupted(vec![progress("m1", "down")]), None);
    }

    #[test]
    fn versions_recorded_for_no_migration_of_the_chain_are_found_in_any_listing_order() {
        use crate::testing::{SqlMigration, sql_chain};
        let chain = |names: &[&str]| {
            sql_chain(
                "acme",
                names.iter().map(|n| SqlMigration::new(n, &[])).collect(),
            )
        };
        let recorded = |versions: &[&str]| Recorded {
            table_exists: true,
            applied: versions.iter().map(|v| ((*v).to_owned(), 1)).collect(),
            ..Recorded::default()
        };
        let unknown = |names: &[&str], versions: &[&str]| {
            chain_status(&chain(names), &recorded(versions)).unknown_applied
        };
        assert!(unknown(&["m1", "m2"], &["m1", "m2"]).is_empty());
        assert!(unknown(&["m2", "m1"], &["m1"]).is_empty());
        assert_eq!(unknown(&["m1", "m2"], &["m1", "m9"]), ["m9"]);
        assert_eq!(unknown(&["m2", "m1"], &["m1", "m9"]), ["m9"]);
        // a name listed twice (a registry refuses it; a chain run on its own may have it)
        // finds its version twice: counting is not enough
        assert_eq!(unknown(&["m1", "m1"], &["m1", "m9"]), ["m9"]);
    }

    #[test]
    fn table_names_imply_a_namespace_only_when_it_is_valid() {
        assert_eq!(implied_namespace("ext_billing_invoices"), Some("billing"));
        assert_eq!(
            implied_namespace("seaql_migrations_billing"),
            Some("billing")
        );
        assert_eq!(implied_namespace("seaql_migrations"), None);
        assert_eq!(implied_namespace("seaql_migrations_in_progress"), None);
        assert_eq!(implied_namespace("users"), None);
        assert_eq!(implied_namespace("ext_Bad_x"), None);
        assert_eq!(implied_namespace("ext_nounderscore"), None);
    }

    #[test]
    fn tables_of_unregistered_namespaces_are_grouped() {
        let tables: BTreeSet<String> = [
            "users",
            "ext_template_requests",
            "seaql_migrations_template",
            "ext_gone_a",
            "ext_gone_b",
            "seaql_migrations_gone",
            "seaql_migrations_other",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let template = crate::testing::sql_chain("template", vec![]);
        let found = unregistered(&tables, &[&template]);
        assert_eq!(
            found,
            [
                Unregistered {
                    namespace: "gone".into(),
                    tables: vec![
                        "ext_gone_a".into(),
                        "ext_gone_b".into(),
                        "seaql_migrations_gone".into()
                    ],
                },
                Unregistered {
                    namespace: "other".into(),
                    tables: vec!["seaql_migrations_other".into()],
                },
            ]
        );
    }

    /// Version rows written by hand may hold anything, the separators of SQLite's one-row read
    /// of a version table among it: every version comes back as written, on both read paths.
    #[tokio::test]
    async fn versions_holding_separators_are_read_as_written() {
        use crate::testing::{TestDatabase, sql_chain};
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let versions = [
            "m\u{1}x",
            "m\u{2}1",
            "m\u{1}\u{2}5\u{1}",
            "plain",
            "m,comma",
            "",
        ];
        for db in TestDatabase::all().await {
            let conn = db.connect().await;
            let backend = conn.get_database_backend();
            let chain = sql_chain("a", vec![]);
            let other = sql_chain("b", vec![]);
            for create in [
                backend.build(&backend::create_version_table(
                    backend,
                    chain.version_table(),
                )),
                backend.build(&backend::create_version_table(
                    backend,
                    other.version_table(),
                )),
                backend.build(&backend::create_progress_table()),
            ] {
                conn.execute_raw(create).await.unwrap();
            }
            let insert = |table: &str, version: &str, at: i64| {
                let (a, b) = if backend == DbBackend::Postgres {
                    ("$1", "$2")
                } else {
                    ("?", "?")
                };
                Statement::from_sql_and_values(
                    backend,
                    format!(
                        "INSERT INTO {} (version, applied_at) VALUES ({a}, {b})",
                        backend::quote(backend, table)
                    ),
                    [version.into(), at.into()],
                )
            };
            for (i, version) in versions.iter().enumerate() {
                let at = i64::try_from(i).unwrap() + 1;
                conn.execute_raw(insert(chain.version_table(), version, at))
                    .await
                    .unwrap();
            }
            conn.execute_raw(insert(other.version_table(), "m1", 9))
                .await
                .unwrap();
            let expected: BTreeMap<String, i64> = versions
                .iter()
                .zip(1..)
                .map(|(v, at)| ((*v).to_owned(), at))
                .collect();
            for read in [Read::Optimistic, Read::Listing] {
                let state = read_state(&conn, &[&chain, &other], read).await.unwrap();
                assert_eq!(state.recorded[0].applied, expected, "{backend:?} {read:?}");
                let b: Vec<_> = state.recorded[1].applied.iter().collect();
                assert_eq!(b, [(&"m1".to_owned(), &9)], "{backend:?} {read:?}");
            }
            conn.close().await.ok();
            db.drop_database().await;
        }
    }

    #[test]
    fn joined_rows_split_only_into_as_many_rows_as_were_joined() {
        let joined = "a\u{2}1\u{1}b\u{2}2";
        assert_eq!(
            split_joined(joined, 2, 2),
            Some(vec![vec!["a", "1"], vec!["b", "2"]])
        );
        // a separator inside a field: more rows, or more fields
        assert_eq!(split_joined(joined, 1, 2), None);
        assert_eq!(split_joined("a\u{2}b\u{2}1", 1, 2), None);
        assert_eq!(split_joined("", 0, 2), Some(vec![]));
        assert_eq!(split_joined("\u{2}1", 1, 2), Some(vec![vec!["", "1"]]));
    }
}
