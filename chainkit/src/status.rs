//! Where each chain stands: read in one round of statements for all chains.

use std::collections::{BTreeMap, BTreeSet, HashMap};

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
    pub applied: SortedMap<i64>,
    /// A migration that started outside a transaction and never finished. A record whose
    /// migration finished (applied, for `up`; no longer applied, for `down`) is left over from
    /// a run that stopped before clearing it (on MySQL the runner clears a chain's record once
    /// per chain, not after each migration): not interrupted.
    pub interrupted: Option<Interrupted>,
    /// version → (checksum, applied_at), from the checksum table.
    pub checksums: SortedMap<(String, i64)>,
}

/// A map from versions, kept as a list sorted by version: a start builds one per chain and
/// takes every entry out of it again, in order (walking it beside the chain's migrations);
/// as a `BTreeMap`, built and then emptied entry by entry, that was about a twentieth of the
/// client's work in a start with nothing to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SortedMap<V>(Vec<(String, V)>);

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<V> SortedMap<V> {
    /// The map of `entries` in any order; of equal versions the last one counts, as a map's
    /// inserts would have it.
    fn of(mut entries: Vec<(String, V)>) -> Self {
        if !entries.is_sorted_by(|a, b| a.0 < b.0) {
            // stable: equal versions stay in the order read
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut kept: Vec<(String, V)> = Vec::with_capacity(entries.len());
            for entry in entries {
                match kept.last_mut() {
                    Some(last) if last.0 == entry.0 => *last = entry,
                    _ => kept.push(entry),
                }
            }
            entries = kept;
        }
        Self(entries)
    }

    pub fn get(&self, version: &str) -> Option<&V> {
        self.0
            .binary_search_by(|(v, _)| v.as_str().cmp(version))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, version: &str) -> bool {
        self.get(version).is_some()
    }

    /// Adds `entries`, which replace those of the same versions (taken as they are where
    /// the map is empty).
    fn extend(&mut self, entries: Vec<(String, V)>) {
        if self.0.is_empty() {
            *self = Self::of(entries);
        } else if !entries.is_empty() {
            let mut all = std::mem::take(&mut self.0);
            all.extend(entries);
            *self = Self::of(all);
        }
    }
}

impl<V> FromIterator<(String, V)> for SortedMap<V> {
    fn from_iter<I: IntoIterator<Item = (String, V)>>(entries: I) -> Self {
        Self::of(entries.into_iter().collect())
    }
}

/// Each chain's position by its namespace: where it is expected first (the chain whose
/// table was read, the chain of the row before), by a map made only when that misses (a
/// start reads every version table in the chains' order, and checksum rows by namespace).
pub(crate) struct Positions<'a> {
    namespaces: Vec<&'a str>,
    map: std::cell::OnceCell<HashMap<&'a str, usize>>,
}

impl<'a> Positions<'a> {
    pub(crate) fn new(namespaces: Vec<&'a str>) -> Self {
        Self {
            namespaces,
            map: std::cell::OnceCell::new(),
        }
    }

    /// The position of `namespace`, looked for at `hint` first.
    fn of(&self, namespace: &str, hint: usize) -> Option<usize> {
        if self.namespaces.get(hint) == Some(&namespace) {
            return Some(hint);
        }
        self.map
            .get_or_init(|| {
                let mut map = HashMap::with_capacity(self.namespaces.len());
                for (i, ns) in self.namespaces.iter().enumerate() {
                    map.insert(*ns, i);
                }
                map
            })
            .get(namespace)
            .copied()
    }
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
    let index = Positions::new(chains.iter().map(|c| c.namespace()).collect());
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

/// What a read of [`backend::read_versions`] gave: each version table's rows, by the
/// position of the table in the tables read, and the other rows.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    /// Each table's versions and when they were applied.
    applied: Vec<Vec<(String, i64)>>,
    other: Vec<VersionRow>,
}

/// What one row of [`backend::read_versions`] other than a version table's holds (SQLite's
/// one row of every checksum row gives several).
#[derive(Debug)]
pub(crate) enum VersionRow {
    /// A whole version table's rows joined (SQLite), and how many were joined.
    Joined {
        table: usize,
        joined: String,
        count: i64,
    },
    /// A row of the progress table.
    Progress {
        namespace: String,
        direction: String,
        version: String,
        started_at: i64,
    },
    /// A row of the checksum table.
    Checksum {
        namespace: String,
        version: String,
        checksum: String,
        at: i64,
    },
}

impl Rows {
    /// Room for `rows` rows read from `tables` tables.
    fn with_capacity(tables: usize, rows: usize) -> Self {
        // a start reads as many rows from each table, or so: each list made at about its size
        let each = rows.checked_div(tables).unwrap_or(0);
        Self {
            applied: (0..tables).map(|_| Vec::with_capacity(each)).collect(),
            other: Vec::new(),
        }
    }

    /// Reads one row (its `chain`, `version` and `applied_at`); `joined`: the
    /// version tables' rows were joined, one row per table. A version row of no table read
    /// is left out.
    fn push(
        &mut self,
        chain: i64,
        version: String,
        at: i64,
        joined: bool,
    ) -> Result<(), sea_orm::DbErr> {
        let rows = &mut self.other;
        // the JSON the database wrote for a row of `table` (see `backend::read_versions`)
        let json = |table: &'static str| {
            move |e: serde_json::Error| {
                sea_orm::DbErr::Type(format!("reading a row of {table}: {e}"))
            }
        };
        match chain {
            backend::PROGRESS_ROW => {
                let (namespace, direction, migration) =
                    serde_json::from_str(&version).map_err(json(backend::PROGRESS_TABLE))?;
                rows.push(VersionRow::Progress {
                    namespace,
                    direction,
                    version: migration,
                    started_at: at,
                });
            }
            backend::CHECKSUM_ROW => {
                let fields = split_counted(&version).and_then(|(namespace, rest)| {
                    split_counted(rest).map(|(checksum, after)| {
                        let start = version.len() - after.len();
                        (namespace.to_owned(), checksum.to_owned(), start)
                    })
                });
                let Some((namespace, checksum, start)) = fields else {
                    return Err(sea_orm::DbErr::Type(format!(
                        "reading a row of {}: {version:?} is not two counted fields and a version",
                        backend::CHECKSUM_TABLE
                    )));
                };
                // the version, at the end of the text, keeps the text's allocation
                let mut version = version;
                version.replace_range(..start, "");
                rows.push(VersionRow::Checksum {
                    namespace,
                    version,
                    checksum,
                    at,
                });
            }
            backend::CHECKSUM_ROWS => {
                let all: Vec<(String, String, i64, String)> =
                    serde_json::from_str(&version).map_err(json(backend::CHECKSUM_TABLE))?;
                rows.extend(all.into_iter().map(|(namespace, version, at, checksum)| {
                    VersionRow::Checksum {
                        namespace,
                        version,
                        checksum,
                        at,
                    }
                }));
            }
            _ => {
                let table = usize::try_from(chain).map_err(|_| {
                    sea_orm::DbErr::Type(format!("a version row of no table read ({chain})"))
                })?;
                if joined {
                    rows.push(VersionRow::Joined {
                        table,
                        joined: version,
                        count: at,
                    });
                } else if let Some(list) = self.applied.get_mut(table) {
                    list.push((version, at));
                }
            }
        }
        Ok(())
    }
}

/// The rows a joined row of [`backend::read_versions`] holds, each split into its two
/// fields; `None` unless there are `count` of them with exactly two fields each (a separator
/// inside a field makes more).
fn split_joined(joined: &str, count: i64) -> Option<Vec<(&str, &str)>> {
    if count == 0 {
        return joined.is_empty().then(Vec::new);
    }
    // by bytes (the separators are ASCII, so every piece is whole UTF-8): `split` and
    // `split_once` by `char` took most of the work on a table's row
    let (row, field) = (backend::ROW_SEPARATOR as u8, backend::FIELD_SEPARATOR as u8);
    let mut pairs = Vec::with_capacity(usize::try_from(count).ok()?);
    let (mut start, mut middle) = (0, None);
    for (i, &b) in joined.as_bytes().iter().enumerate() {
        if b == field {
            if middle.replace(i).is_some() {
                return None;
            }
        } else if b == row {
            let m = middle.take()?;
            pairs.push((&joined[start..m], &joined[m + 1..i]));
            start = i + 1;
        }
    }
    let m = middle?;
    pairs.push((&joined[start..m], &joined[m + 1..]));
    i64::try_from(pairs.len())
        .is_ok_and(|n| n == count)
        .then_some(pairs)
}

/// Sorts the rows read from `tables` (namespace, version table) into each chain's records;
/// returns the positions of the tables whose joined rows could not be split (a version
/// written by hand holding a separator), for the caller to read again.
fn fill(
    recorded: &mut [Recorded],
    index: &Positions<'_>,
    tables: &[(&str, &str)],
    rows: Rows,
) -> Vec<usize> {
    let mut ambiguous = Vec::new();
    let of_table: Vec<Option<usize>> = tables
        .iter()
        .enumerate()
        .map(|(i, (ns, _))| index.of(ns, i))
        .collect();
    // the chain of the last row of the progress or checksum table: the next one's, likely
    let mut last = 0;
    let mut of_namespace = |ns: &str| {
        let found = index.of(ns, last);
        last = found.unwrap_or(last);
        found
    };
    // each chain's versions gathered first and made into its map at once, which sorts them
    // (where they are not in order already) in one go
    let mut applied: Vec<Vec<(String, i64)>> = vec![Vec::new(); recorded.len()];
    for (table, versions) in rows.applied.into_iter().enumerate() {
        if let Some(i) = of_table.get(table).copied().flatten() {
            if applied[i].is_empty() {
                applied[i] = versions;
            } else {
                applied[i].extend(versions);
            }
        }
    }
    let mut checksums: Vec<Vec<(String, (String, i64))>> = vec![Vec::new(); recorded.len()];
    for row in rows.other {
        match row {
            VersionRow::Joined {
                table,
                joined,
                count,
            } => {
                let Some(i) = of_table.get(table).copied().flatten() else {
                    continue;
                };
                match split_joined(&joined, count) {
                    Some(pairs) => applied[i].extend(
                        pairs
                            .into_iter()
                            .map(|(v, at)| (v.to_owned(), at.parse().unwrap_or_default())),
                    ),
                    None => ambiguous.push(table),
                }
            }
            VersionRow::Progress {
                namespace,
                direction,
                version,
                started_at,
            } => {
                if let Some(i) = of_namespace(&namespace) {
                    recorded[i].interrupted = Some(Interrupted {
                        migration: version,
                        direction,
                        started_at,
                    });
                }
            }
            VersionRow::Checksum {
                namespace,
                version,
                checksum,
                at,
            } => {
                if let Some(i) = of_namespace(&namespace) {
                    checksums[i].push((version, (checksum, at)));
                }
            }
        }
    }
    for ((r, versions), sums) in recorded.iter_mut().zip(applied).zip(checksums) {
        r.applied.extend(versions);
        r.checksums.extend(sums);
    }
    if !ambiguous.is_empty() {
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
) -> Result<Rows, sea_orm::DbErr> {
    let backend = db.get_database_backend();
    let statement = backend::read_versions(backend, tables, progress, checksums);
    read_rows_of(
        db,
        statement,
        tables.len(),
        backend == sea_orm::DbBackend::Sqlite,
    )
    .await
}

/// Reads the version tables whose joined rows could not be split (see [`fill`]) again, row by
/// row, into `recorded`: one more statement, only where a version row written by hand holds
/// a separator.
async fn read_ambiguous<C: ConnectionTrait>(
    db: &C,
    recorded: &mut [Recorded],
    index: &Positions<'_>,
    tables: &[(&str, &str)],
    ambiguous: Vec<usize>,
) -> Result<(), Error> {
    if ambiguous.is_empty() {
        return Ok(());
    }
    let again: Vec<(&str, &str)> = ambiguous
        .iter()
        .filter_map(|&p| tables.get(p).copied())
        .collect();
    let statement =
        backend::read_versions_as(db.get_database_backend(), &again, false, false, false);
    let rows = read_rows_of(db, statement, again.len(), false)
        .await
        .map_err(Error::db("reading version rows"))?;
    fill(recorded, index, &again, rows);
    Ok(())
}

/// The rows of a [`backend::read_versions_as`] statement reading `tables` version tables;
/// `joined`: as it was made.
async fn read_rows_of<C: ConnectionTrait>(
    db: &C,
    statement: sea_orm::Statement,
    tables: usize,
    joined: bool,
) -> Result<Rows, sea_orm::DbErr> {
    let rows = db.query_all_raw(statement).await?;
    // joined: a row per table, each list made when it is split
    let mut read = Rows::with_capacity(tables, if joined { 0 } else { rows.len() });
    if let Some(typed) = typed_version_rows(&rows, &mut read, joined) {
        return typed.map(|()| read);
    }
    for row in rows {
        // a constant: INT4 on PostgreSQL, which SeaORM does not give as `i64`
        let chain = row
            .try_get_by_index::<i64>(0)
            .or_else(|_| row.try_get_by_index::<i32>(0).map(i64::from))?;
        read.push(
            chain,
            row.try_get_by_index(1)?,
            row.try_get_by_index(2)?,
            joined,
        )?;
    }
    Ok(read)
}

/// Splits `{n}:{field}{rest}` (`n` the length of `field` in characters) into `field` and
/// `rest`; `None` where the text is not so.
fn split_counted(text: &str) -> Option<(&str, &str)> {
    let (count, after) = text.split_once(':')?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let count: usize = count.parse().ok()?;
    // as many bytes as characters where they are ASCII, as namespaces and checksums are
    if after.as_bytes().get(..count).is_some_and(<[u8]>::is_ascii) {
        return Some(after.split_at(count));
    }
    let end = match after.char_indices().nth(count) {
        Some((end, _)) => end,
        None if after.chars().count() == count => after.len(),
        None => return None,
    };
    Some(after.split_at(end))
}

/// The rows of [`backend::read_versions`] decoded from the driver's rows directly
/// (PostgreSQL's and MySQL's), their column types checked once on the first row: checking
/// every value's type, as SeaORM's getters do, was a large part of the client's time in a
/// start with nothing to do (about a tenth of a millisecond at 500 rows). `None` where the
/// rows are SQLite's, or the columns not of the types the statement gives (a version table
/// made by hand with other types): the caller decodes them value by value, with errors that
/// say what is wrong.
fn typed_version_rows(
    rows: &[sea_orm::QueryResult],
    read: &mut Rows,
    joined: bool,
) -> Option<Result<(), sea_orm::DbErr>> {
    let first = rows.first()?;
    if first.try_as_pg_row().is_some() {
        // what sqlx decodes a `String` from
        const TEXT: &[&str] = &["TEXT", "VARCHAR", "BPCHAR", "NAME"];
        const INT: &[&str] = &["INT8", "INT4"];
        decode_typed(rows, read, |r| r.try_as_pg_row(), INT, TEXT, joined)
    } else if first.try_as_mysql_row().is_some() {
        const INT: &[&str] = &["BIGINT", "INT", "MEDIUMINT", "SMALLINT", "TINYINT"];
        const TEXT: &[&str] = &[
            "VARCHAR",
            "CHAR",
            "TEXT",
            "TINYTEXT",
            "MEDIUMTEXT",
            "LONGTEXT",
        ];
        decode_typed(rows, read, |r| r.try_as_mysql_row(), INT, TEXT, joined)
    } else {
        None
    }
}

/// [`typed_version_rows`] for the driver rows `as_row` gives: the first row's three columns
/// of the types named in `int`, `text`, `int` (sqlx decodes an `i64` from an integer of any
/// width when not asked to check), or `None`.
fn decode_typed<'a, R>(
    rows: &'a [sea_orm::QueryResult],
    read: &mut Rows,
    as_row: impl Fn(&'a sea_orm::QueryResult) -> Option<&'a R>,
    int: &[&str],
    text: &[&str],
    joined: bool,
) -> Option<Result<(), sea_orm::DbErr>>
where
    R: sea_orm::sqlx::Row + 'a,
    usize: sea_orm::sqlx::ColumnIndex<R>,
    for<'r> i64: sea_orm::sqlx::Decode<'r, R::Database>,
    for<'r> &'r str: sea_orm::sqlx::Decode<'r, R::Database>,
{
    use sea_orm::sqlx::{Column as _, TypeInfo as _};
    let columns = as_row(rows.first()?)?.columns();
    let typed = columns.len() == 3
        && [int, text, int]
            .iter()
            .zip(columns)
            .all(|(names, c)| names.contains(&c.type_info().name()));
    if !typed {
        return None;
    }
    let error = |e: sea_orm::sqlx::Error| {
        sea_orm::DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e)))
    };
    for row in rows {
        let row = as_row(row)?;
        let decoded = (|| {
            Ok::<_, sea_orm::sqlx::Error>((
                row.try_get_unchecked::<i64, _>(0)?,
                row.try_get_unchecked::<&str, _>(1)?,
                row.try_get_unchecked::<i64, _>(2)?,
            ))
        })();
        let pushed = decoded
            .map_err(error)
            .and_then(|(chain, version, at)| read.push(chain, version.to_owned(), at, joined));
        if let Err(e) = pushed {
            return Some(Err(e));
        }
    }
    Some(Ok(()))
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
    chain_status_of(chain, recorded.clone())
}

/// [`chain_status`], taking what is recorded: each recorded version moves into the status of
/// its migration instead of being copied (a start with nothing to do builds every migration's
/// status: 500 copies and as many frees at 50 chains of 10).
pub(crate) fn chain_status_of(chain: &Chain, recorded: Recorded) -> ChainStatus {
    // the names made once per chain (`DeriveMigrationName` finds one in the file's path every
    // time); where they ascend, as versions are kept, each migration's recorded version and
    // checksum are found by walking both lists in step, and moved out
    let names = chain.names();
    let distinct = names.ascending;
    // a migration's source is found where it is declared (the list and the sources are
    // usually made from one `migrations!`), by name only where it is not
    let (declared, declared_names) = (chain.source_list(), chain.source_names());
    let mut by_name = None;
    // the directory of the last list file seen: every source of a chain usually shares one
    let mut dir: Option<(&'static str, &'static str)> = None;
    let Recorded {
        applied,
        checksums,
        interrupted,
        ..
    } = recorded;
    // walked where names are distinct, looked up where not
    let ((walked, applied), (walked_sums, checksums)) = if distinct {
        (
            (applied.0, SortedMap::default()),
            (checksums.0, SortedMap::default()),
        )
    } else {
        ((Vec::new(), applied), (Vec::new(), checksums))
    };
    let (mut versions, mut sums) = (
        walked.into_iter().peekable(),
        walked_sums.into_iter().peekable(),
    );
    let mut unknown_applied = Vec::new();
    let migrations: Vec<MigrationStatus> = names
        .list
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let name = name.as_str();
            let source = match declared.get(i) {
                Some(s) if declared_names[i] == name => Some(*s),
                _ if declared.is_empty() => None,
                _ => by_name
                    .get_or_insert_with(|| chain.sources())
                    .get(name)
                    .copied(),
            };
            // a name listed twice finds its version twice: moved only where names are distinct
            let (name, applied_at) = if distinct {
                // versions before it in order belong to no migration
                while let Some((version, _)) = versions.next_if(|(v, _)| v.as_str() < name) {
                    unknown_applied.push(version);
                }
                match versions.next_if(|(v, _)| v == name) {
                    Some((version, at)) => (version, Some(at)),
                    None => (name.to_owned(), None),
                }
            } else {
                (name.to_owned(), applied.get(name).copied())
            };
            let checksum = source.map(|s| s.checksum.to_recorded());
            // a checksum row counts only for the version row it was recorded with
            let recorded_checksum = applied_at.and_then(|at| {
                let row = if distinct {
                    while sums.next_if(|(v, _)| v.as_str() < name.as_str()).is_some() {}
                    sums.next_if(|(v, _)| *v == name).map(|(_, row)| row)
                } else {
                    checksums.get(&name).cloned()
                };
                row.filter(|(_, recorded_at)| *recorded_at == at)
                    .map(|(sum, _)| sum)
            });
            let file = source.map(|s| {
                let dir = match dir {
                    Some((list_file, dir)) if list_file == s.list_file => dir,
                    _ => dir.insert((s.list_file, s.dir())).1,
                };
                s.file_in(dir)
            });
            MigrationStatus {
                status: if applied_at.is_some() {
                    Status::Applied
                } else {
                    Status::Pending
                },
                modified: matches!((&checksum, &recorded_checksum), (Some(c), Some(r)) if c != r),
                file,
                name,
                applied_at,
                checksum,
                recorded_checksum,
            }
        })
        .collect();
    // with distinct names, what is left of the recorded versions belongs to no migration
    if distinct {
        unknown_applied.extend(versions.map(|(version, _)| version));
    } else {
        let known: std::collections::HashSet<&str> =
            migrations.iter().map(|m| m.name.as_str()).collect();
        unknown_applied = applied
            .0
            .into_iter()
            .map(|(version, _)| version)
            .filter(|v| !known.contains(v.as_str()))
            .collect();
    }
    ChainStatus {
        namespace: chain.namespace().to_owned(),
        version_table: chain.version_table().to_owned(),
        migrations,
        unknown_applied,
        interrupted,
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
        let progress = |version: &str, direction: &str| VersionRow::Progress {
            namespace: "a".into(),
            direction: direction.into(),
            version: version.into(),
            started_at: 7,
        };
        let index = Positions::new(vec!["a"]);
        let tables = [("a", "seaql_migrations_a")];
        // the progress row, and `m1` applied or not
        let interrupted = |progress: VersionRow, applied: bool| {
            let mut recorded = vec![Recorded::default()];
            let rows = Rows {
                applied: vec![if applied {
                    vec![("m1".to_owned(), 1)]
                } else {
                    vec![]
                }],
                other: vec![progress],
            };
            fill(&mut recorded, &index, &tables, rows);
            recorded[0]
                .interrupted
                .as_ref()
                .map(|i| i.migration.clone())
        };
        // up: unfinished while not recorded; down: while still recorded
        assert_eq!(interrupted(progress("m2", "up"), false), Some("m2".into()));
        assert_eq!(interrupted(progress("m1", "up"), true), None);
        assert_eq!(interrupted(progress("m1", "down"), true), Some("m1".into()));
        assert_eq!(interrupted(progress("m1", "down"), false), None);
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
        assert_eq!(
            unknown(&["m1", "m2"], &["m0", "m1", "m15", "m3"]),
            ["m0", "m15", "m3"]
        );
        assert!(unknown(&["m2", "m1"], &["m1"]).is_empty());
        assert_eq!(unknown(&["m1", "m2"], &["m1", "m9"]), ["m9"]);
        assert_eq!(unknown(&["m2", "m1"], &["m1", "m9"]), ["m9"]);
        // a name listed twice (a registry refuses it; a chain run on its own may have it)
        // finds its version twice: counting is not enough
        assert_eq!(unknown(&["m1", "m1"], &["m1", "m9"]), ["m9"]);
        // each migration's status, whether its version moved into it or was looked up
        for names in [&["m1", "m2", "m3"][..], &["m1", "m1", "m3"]] {
            let status = chain_status(&chain(names), &recorded(&["m1", "m3", "m9"]));
            let got: Vec<(&str, Option<i64>, Status)> = status
                .migrations
                .iter()
                .map(|m| (m.name.as_str(), m.applied_at, m.status))
                .collect();
            let want: Vec<(&str, Option<i64>, Status)> = names
                .iter()
                .map(|&n| match n {
                    "m2" => (n, None, Status::Pending),
                    _ => (n, Some(1), Status::Applied),
                })
                .collect();
            assert_eq!(got, want, "{names:?}");
        }
    }

    #[test]
    fn each_migration_finds_its_own_source_whatever_the_order_of_the_declared_ones() {
        use crate::checksum::{Checksum, MigrationSource, Migrations};
        use crate::testing::{SqlMigration, sql_chain};
        fn source(
            module: &'static str,
            sum: u128,
            new: fn() -> Box<dyn MigrationTrait>,
        ) -> MigrationSource {
            MigrationSource {
                module,
                list_file: "ext-acme-migration/src/lib.rs",
                checksum: Checksum(sum),
                new,
                acknowledged: || &[],
            }
        }
        use sea_orm_migration::MigrationTrait;
        let in_order: &'static [MigrationSource] = Box::leak(Box::new([
            source("m1", 1, || Box::new(SqlMigration::new("m1", &[]))),
            source("m2", 2, || Box::new(SqlMigration::new("m2", &[]))),
            source("m3", 3, || Box::new(SqlMigration::new("m3", &[]))),
        ]));
        // declared in another order, one missing, one of no migration of the list
        let shuffled: &'static [MigrationSource] = Box::leak(Box::new([
            source("m3", 3, || Box::new(SqlMigration::new("m3", &[]))),
            source("m9", 9, || Box::new(SqlMigration::new("m9", &[]))),
            source("m1", 1, || Box::new(SqlMigration::new("m1", &[]))),
        ]));
        let recorded = Recorded {
            table_exists: true,
            applied: [("m1", 5), ("m2", 6), ("m3", 7)]
                .iter()
                .map(|&(v, at)| (v.to_owned(), at))
                .collect(),
            checksums: [("m1", 1, 5), ("m2", 2, 6), ("m3", 4, 7)]
                .iter()
                .map(|&(v, sum, at)| (v.to_owned(), (Checksum(sum).to_recorded(), at)))
                .collect(),
            ..Recorded::default()
        };
        let chain = || {
            sql_chain(
                "acme",
                ["m1", "m2", "m3"]
                    .iter()
                    .map(|n| SqlMigration::new(n, &[]))
                    .collect(),
            )
        };
        let seen = |sources: &'static [MigrationSource]| {
            chain_status(&chain().checksums(Migrations(sources)), &recorded)
                .migrations
                .into_iter()
                .map(|m| (m.name, m.checksum, m.recorded_checksum, m.modified, m.file))
                .collect::<Vec<_>>()
        };
        let sum = |n: u128| Some(Checksum(n).to_recorded());
        let file = |m: &str| Some(format!("ext-acme-migration/src/{m}.rs"));
        assert_eq!(
            seen(in_order),
            [
                ("m1".to_owned(), sum(1), sum(1), false, file("m1")),
                ("m2".to_owned(), sum(2), sum(2), false, file("m2")),
                ("m3".to_owned(), sum(3), sum(4), true, file("m3")),
            ]
        );
        assert_eq!(
            seen(shuffled),
            [
                ("m1".to_owned(), sum(1), sum(1), false, file("m1")),
                ("m2".to_owned(), None, sum(2), false, None),
                ("m3".to_owned(), sum(3), sum(4), true, file("m3")),
            ]
        );
    }

    #[test]
    fn a_counted_field_is_split_by_characters() {
        assert_eq!(split_counted("1:ab"), Some(("a", "b")));
        assert_eq!(split_counted("3:a:bc:d"), Some(("a:b", "c:d")));
        assert_eq!(split_counted("2:éé"), Some(("éé", "")));
        assert_eq!(split_counted("0:rest"), Some(("", "rest")));
        for bad in [
            "",
            ":a",
            "x:a",
            "3:ab",
            "-1:a",
            "+1:a",
            " 1:a",
            "99999999999999999999999:a",
        ] {
            assert_eq!(split_counted(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_checksum_rows_fields_and_version_are_split_whatever_the_version_holds() {
        let mut rows = Rows::default();
        for (text, version) in [
            ("6:engine35:t1:0123456789abcdef0123456789abcdefm1", "m1"),
            ("7:billing3:t1:m_é:2", "m_é:2"),
            ("1:x0:", ""),
        ] {
            rows.push(backend::CHECKSUM_ROW, text.to_owned(), 7, false)
                .unwrap();
            let Some(VersionRow::Checksum {
                version: read, at, ..
            }) = rows.other.last()
            else {
                panic!("{text:?} read as no checksum row");
            };
            assert_eq!((read.as_str(), *at), (version, 7), "{text:?}");
        }
        let fields: Vec<_> = rows
            .other
            .iter()
            .filter_map(|r| match r {
                VersionRow::Checksum {
                    namespace,
                    checksum,
                    ..
                } => Some((namespace.as_str(), checksum.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            fields,
            [
                ("engine", "t1:0123456789abcdef0123456789abcdef"),
                ("billing", "t1:"),
                ("x", ""),
            ]
        );
        for bad in ["", "6:engine", "6:engine9:t1", "x:engine35:t1", "3:ab"] {
            let e = rows
                .push(backend::CHECKSUM_ROW, bad.to_owned(), 7, false)
                .unwrap_err()
                .to_string();
            assert!(e.contains("is not two counted fields"), "{bad:?}: {e}");
        }
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
    /// of a version table among it: every version comes back as written, on both read paths;
    /// so do the progress and checksum tables' rows, which come as JSON or counted fields.
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
            "m:colon",
            "3:looks tagged",
            "-1:[\"a\", \"up\", \"m\"]",
        ];
        for db in TestDatabase::all().await {
            let conn = db.connect().await;
            let backend = conn.get_database_backend();
            let chain = sql_chain("a", vec![]);
            let other = sql_chain("b", vec![]);
            for create in [
                backend.build(&backend::create_version_table(chain.version_table())),
                backend.build(&backend::create_version_table(other.version_table())),
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
            let expected: SortedMap<i64> = versions
                .iter()
                .zip(1..)
                .map(|(v, at)| ((*v).to_owned(), at))
                .collect();
            for read in [Read::Optimistic, Read::Listing] {
                let state = read_state(&conn, &[&chain, &other], read).await.unwrap();
                assert_eq!(state.recorded[0].applied, expected, "{backend:?} {read:?}");
                assert_eq!(
                    state.recorded[1].applied,
                    SortedMap::from_iter([("m1".to_owned(), 9)]),
                    "{backend:?} {read:?}"
                );
            }
            // the servers' rows decoded from the driver's directly, their columns' types as
            // the statement makes them
            let tables = [
                (chain.namespace(), chain.version_table()),
                (other.namespace(), other.version_table()),
            ];
            let rows = conn
                .query_all_raw(backend::read_versions(backend, &tables, true, false))
                .await
                .unwrap();
            let typed = typed_version_rows(&rows, &mut Rows::with_capacity(2, rows.len()), false);
            assert_eq!(
                typed.map(|r| r.is_ok()),
                (backend != DbBackend::Sqlite).then_some(true),
                "{backend:?}"
            );
            // the progress and checksum tables' rows come as JSON or counted fields: read as
            // written too
            conn.execute_raw(backend.build(&backend::create_checksum_table()))
                .await
                .unwrap();
            let odd = "m\"q\\b\u{1}\u{2}é,[]";
            let placeholders = |n: usize| {
                (1..=n)
                    .map(|i| {
                        if backend == DbBackend::Postgres {
                            format!("${i}")
                        } else {
                            "?".to_owned()
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            conn.execute_raw(Statement::from_sql_and_values(
                backend,
                format!(
                    "INSERT INTO {} (namespace, version, direction, started_at) VALUES ({})",
                    backend::PROGRESS_TABLE,
                    placeholders(4)
                ),
                ["a".into(), odd.into(), "up".into(), 5_i64.into()],
            ))
            .await
            .unwrap();
            // namespaces of no chain that a careless split would take for `a`'s
            for (ns, version, at) in [
                ("b", odd, 9_i64),
                ("b", "m1", 9),
                ("a", "plain", 4),
                ("a:1", "plain", 3),
                ("1:a", "plain", 3),
                ("é:a", "1:a", 3),
            ] {
                conn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    format!(
                        "INSERT INTO {} (namespace, version, checksum, applied_at) VALUES ({})",
                        backend::CHECKSUM_TABLE,
                        placeholders(4)
                    ),
                    [
                        ns.into(),
                        version.into(),
                        format!("t1:{version}").into(),
                        at.into(),
                    ],
                ))
                .await
                .unwrap();
            }
            let tables = [("a", chain.version_table()), ("b", other.version_table())];
            let index = Positions::new(vec!["a", "b"]);
            let rows = read_rows(&conn, &tables, true, true).await.unwrap();
            let mut recorded = vec![Recorded::default(), Recorded::default()];
            let ambiguous = fill(&mut recorded, &index, &tables, rows);
            read_ambiguous(&conn, &mut recorded, &index, &tables, ambiguous)
                .await
                .unwrap();
            assert_eq!(recorded[0].applied, expected, "{backend:?}");
            assert_eq!(
                recorded[0].interrupted,
                Some(Interrupted {
                    migration: odd.to_owned(),
                    direction: "up".to_owned(),
                    started_at: 5,
                }),
                "{backend:?}"
            );
            assert_eq!(
                recorded[0].checksums,
                SortedMap::from_iter([("plain".to_owned(), ("t1:plain".to_owned(), 4))]),
                "{backend:?}"
            );
            assert_eq!(
                recorded[1].checksums,
                SortedMap::from_iter([
                    ("m1".to_owned(), ("t1:m1".to_owned(), 9)),
                    (odd.to_owned(), (format!("t1:{odd}"), 9)),
                ]),
                "{backend:?}"
            );
            conn.close().await.ok();
            db.drop_database().await;
        }
    }

    #[test]
    fn a_sorted_map_keeps_the_last_of_equal_versions_as_a_map_would() {
        let entries = [("m2", 1), ("m1", 2), ("m2", 3), ("m0", 4), ("m1", 5)];
        let sorted: SortedMap<i64> = entries.iter().map(|&(v, at)| (v.to_owned(), at)).collect();
        let map: BTreeMap<String, i64> =
            entries.iter().map(|&(v, at)| (v.to_owned(), at)).collect();
        assert_eq!(sorted.0, map.clone().into_iter().collect::<Vec<_>>());
        for v in ["m0", "m1", "m2", "m3", ""] {
            assert_eq!(sorted.get(v), map.get(v), "{v}");
        }
        let mut more = sorted.clone();
        more.extend(vec![("m3".to_owned(), 6), ("m0".to_owned(), 7)]);
        assert_eq!(
            more.0,
            [("m0", 7), ("m1", 5), ("m2", 3), ("m3", 6)].map(|(v, at)| (v.to_owned(), at))
        );
        assert!(SortedMap::<i64>::default().get("m1").is_none());
    }

    #[test]
    fn joined_rows_split_only_into_as_many_rows_as_were_joined() {
        let joined = "a\u{2}1\u{1}b\u{2}2";
        assert_eq!(split_joined(joined, 2), Some(vec![("a", "1"), ("b", "2")]));
        // a separator inside a field: more rows, or more fields, or fewer
        assert_eq!(split_joined(joined, 1), None);
        assert_eq!(split_joined("a\u{2}b\u{2}1", 1), None);
        assert_eq!(split_joined("a\u{1}b\u{2}1", 2), None);
        assert_eq!(split_joined("", 0), Some(vec![]));
        assert_eq!(split_joined("\u{2}1", 1), Some(vec![("", "1")]));
        assert_eq!(split_joined("\u{2}", 1), Some(vec![("", "")]));
        assert_eq!(
            split_joined("é\u{2}1\u{1}\u{2}", 2),
            Some(vec![("é", "1"), ("", "")])
        );
        // a row without its field separator, or an empty text for rows
        assert_eq!(split_joined("a1", 1), None);
        assert_eq!(split_joined("a\u{2}1\u{1}", 2), None);
        assert_eq!(split_joined("\u{1}a\u{2}1", 2), None);
        assert_eq!(split_joined("", 1), None);
    }
}
