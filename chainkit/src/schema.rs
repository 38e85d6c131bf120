//! Snapshots of every schema object, and what changed between two of them.
//!
//! A snapshot maps every object of the current database or schema (tables, views, materialized
//! views, sequences, types, functions and procedures, extensions) to a set of text lines
//! describing it: columns with type, nullability and default; indexes, constraints and
//! triggers on it; a hash of a view's or a function's definition; an enum type's labels. It
//! also holds the rows of every version table, of the progress table and of the checksum
//! table. At most two statements read it whatever the number of objects. Two snapshots compare object by object, which is what
//! the isolation guard and the round-trip assertion need: not a full schema model, but an exact
//! answer to "did this object change".
//!
//! Who owns what is one rule, the same on every backend: an object belongs to the chain its
//! name puts it in ([`TableScope::contains`]); indexes, constraints, triggers and the
//! sequences a column owns (`SERIAL`, identity) belong to the table or view they are on,
//! whatever their names; extensions are database-wide and belong to
//! nobody. The rows of a version table belong to the chain that records itself there, and a
//! row of the progress table to the namespace it names.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::backend::{self, CatalogParts};
use crate::error::Error;
use crate::scope::{TableScope, is_version_table};

/// What kind of schema object a snapshot entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// A base table (PostgreSQL: also a partitioned table).
    Table,
    /// A view.
    View,
    /// A PostgreSQL materialized view.
    MaterializedView,
    /// A sequence (PostgreSQL; MariaDB).
    Sequence,
    /// A PostgreSQL type of its own: enum, composite, domain or range.
    Type,
    /// A function or procedure (PostgreSQL, MySQL): all overloads of one name.
    Function,
    /// An extension (PostgreSQL). Database-wide: never a chain's.
    Extension,
    /// The rows of a version table (`seaql_migrations`, `seaql_migrations_{ns}`).
    VersionRows,
    /// The row of the progress table that names one namespace.
    ProgressRow,
    /// The rows of the checksum table that name one namespace.
    ChecksumRows,
}

impl ObjectKind {
    /// The kinds the catalog describes (not rows).
    pub(crate) const CATALOG: [Self; 7] = [
        Self::Table,
        Self::View,
        Self::MaterializedView,
        Self::Sequence,
        Self::Type,
        Self::Function,
        Self::Extension,
    ];

    /// The words an error message uses for the kind.
    pub fn noun(self) -> &'static str {
        match self {
            Self::Table => "table",
            Self::View => "view",
            Self::MaterializedView => "materialized view",
            Self::Sequence => "sequence",
            Self::Type => "type",
            Self::Function => "function",
            Self::Extension => "extension",
            Self::VersionRows => "rows of version table",
            Self::ProgressRow => "progress record of namespace",
            Self::ChecksumRows => "checksum records of namespace",
        }
    }

    /// Whether the kind is a schema object a chain can own and drop (not rows, not an
    /// extension).
    pub fn is_schema_object(self) -> bool {
        !matches!(
            self,
            Self::Extension | Self::VersionRows | Self::ProgressRow | Self::ChecksumRows
        )
    }

    /// The kind a catalog row's `k` column names.
    fn from_code(code: &str) -> Option<Self> {
        Some(match code {
            "table" => Self::Table,
            "view" => Self::View,
            "matview" => Self::MaterializedView,
            "sequence" => Self::Sequence,
            "type" => Self::Type,
            "function" => Self::Function,
            "extension" => Self::Extension,
            _ => return None,
        })
    }
}

/// One object: its kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// What it is.
    pub kind: ObjectKind,
    /// Its name (for [`ObjectKind::ProgressRow`], the namespace).
    pub name: String,
}

impl ObjectKey {
    /// A table.
    pub fn table(name: &str) -> Self {
        Self {
            kind: ObjectKind::Table,
            name: name.to_owned(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind.noun(), self.name)
    }
}

/// The schema of the current database (SQLite `main`, the PostgreSQL current schema, the
/// MySQL current database), object by object, with the rows of the version tables.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    objects: BTreeMap<ObjectKey, BTreeSet<String>>,
    /// PostgreSQL: per version table (and the progress and checksum tables), what this
    /// transaction wrote to it so far (`pg_stat_get_xact_tuples_inserted` and the others),
    /// its file node (which `TRUNCATE` changes) and which transaction: a table whose line is
    /// the same in a later snapshot of the same transaction holds the same rows, which need
    /// not be read again.
    writes: BTreeMap<String, String>,
    /// PostgreSQL: the database has enabled event triggers, which may do anything when a
    /// statement runs, so no statement can be cleared by what it says.
    pub(crate) opaque: bool,
}

impl PartialEq for Snapshot {
    fn eq(&self, other: &Self) -> bool {
        self.objects == other.objects
    }
}

impl Eq for Snapshot {}

/// How an object changed between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// It did not exist before.
    Created,
    /// It no longer exists.
    Dropped,
    /// Its definition (columns, indexes, constraints, triggers, body, labels, rows) changed.
    Altered,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Dropped => "dropped",
            Self::Altered => "altered",
        })
    }
}

/// One object that changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjectChange {
    /// The object.
    pub object: ObjectKey,
    /// How it changed.
    pub kind: ChangeKind,
}

impl fmt::Display for ObjectChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.object.kind, self.kind) {
            (
                ObjectKind::VersionRows | ObjectKind::ProgressRow | ObjectKind::ChecksumRows,
                ChangeKind::Created,
            ) => {
                write!(f, "{} written", self.object)
            }
            (
                ObjectKind::VersionRows | ObjectKind::ProgressRow | ObjectKind::ChecksumRows,
                ChangeKind::Dropped,
            ) => {
                write!(f, "{} deleted", self.object)
            }
            (
                ObjectKind::VersionRows | ObjectKind::ProgressRow | ObjectKind::ChecksumRows,
                ChangeKind::Altered,
            ) => {
                write!(f, "{} changed", self.object)
            }
            _ => write!(f, "{} {}", self.object, self.kind),
        }
    }
}

/// Whether the chain of `scope`, recording itself in `own_version_table` under `own_namespace`,
/// owns `object`.
pub(crate) fn owns(
    scope: &TableScope,
    own_namespace: &str,
    own_version_table: &str,
    object: &ObjectKey,
) -> bool {
    match object.kind {
        ObjectKind::Extension => false,
        ObjectKind::VersionRows => object.name == own_version_table,
        ObjectKind::ProgressRow | ObjectKind::ChecksumRows => object.name == own_namespace,
        _ => object.name == own_version_table || scope.contains(&object.name),
    }
}

impl Snapshot {
    /// Builds a snapshot from (object, description line) pairs.
    pub fn from_lines<I, L>(lines: I) -> Self
    where
        I: IntoIterator<Item = (ObjectKey, L)>,
        L: Into<String>,
    {
        let mut objects: BTreeMap<ObjectKey, BTreeSet<String>> = BTreeMap::new();
        for (key, line) in lines {
            objects.entry(key).or_default().insert(line.into());
        }
        Self {
            objects,
            ..Self::default()
        }
    }

    /// Builds a snapshot of tables only from (table, description line) pairs.
    pub fn from_table_lines<I, T, L>(lines: I) -> Self
    where
        I: IntoIterator<Item = (T, L)>,
        T: AsRef<str>,
        L: Into<String>,
    {
        Self::from_lines(
            lines
                .into_iter()
                .map(|(t, l)| (ObjectKey::table(t.as_ref()), l)),
        )
    }

    /// Every object, sorted by kind and name.
    pub fn objects(&self) -> impl Iterator<Item = &ObjectKey> {
        self.objects.keys()
    }

    /// The base tables, sorted.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.of_kind(ObjectKind::Table)
    }

    /// The names of the objects of one kind, sorted.
    pub fn of_kind(&self, kind: ObjectKind) -> impl Iterator<Item = &str> {
        self.objects
            .keys()
            .filter(move |k| k.kind == kind)
            .map(|k| k.name.as_str())
    }

    /// Whether the base table `table` exists.
    pub fn contains(&self, table: &str) -> bool {
        self.objects.contains_key(&ObjectKey::table(table))
    }

    /// The lines describing the base table `table`.
    pub fn describe(&self, table: &str) -> Option<&BTreeSet<String>> {
        self.objects.get(&ObjectKey::table(table))
    }

    /// The lines describing `object`.
    pub fn lines(&self, object: &ObjectKey) -> Option<&BTreeSet<String>> {
        self.objects.get(object)
    }

    /// How many labels each enum type of the snapshot has (PostgreSQL; none elsewhere).
    pub(crate) fn enum_labels(&self) -> BTreeMap<String, i64> {
        self.objects
            .iter()
            .filter(|(k, _)| k.kind == ObjectKind::Type)
            .filter_map(|(k, lines)| {
                let n = lines.iter().filter(|l| l.starts_with("label ")).count() as i64;
                (n > 0).then(|| (k.name.clone(), n))
            })
            .collect()
    }

    /// Every object that differs between `self` (before) and `after`.
    pub fn changes(&self, after: &Snapshot) -> Vec<ObjectChange> {
        let keys: BTreeSet<&ObjectKey> = self.objects.keys().chain(after.objects.keys()).collect();
        keys.into_iter()
            .filter_map(|key| {
                let kind = match (self.objects.get(key), after.objects.get(key)) {
                    (None, Some(_)) => ChangeKind::Created,
                    (Some(_), None) => ChangeKind::Dropped,
                    (Some(a), Some(b)) if a != b => ChangeKind::Altered,
                    _ => return None,
                };
                Some(ObjectChange {
                    object: key.clone(),
                    kind,
                })
            })
            .collect()
    }

    /// The changes to objects the chain does not own: those outside `scope`, other chains'
    /// version rows and progress records. Extensions are database-wide and never count.
    pub fn trespasses(
        &self,
        after: &Snapshot,
        scope: &TableScope,
        own_namespace: &str,
        own_version_table: &str,
    ) -> Vec<ObjectChange> {
        self.changes(after)
            .into_iter()
            .filter(|c| {
                c.object.kind != ObjectKind::Extension
                    && !owns(scope, own_namespace, own_version_table, &c.object)
            })
            .collect()
    }

    /// The same snapshot without the objects the chain of `scope`, recording itself in
    /// `version_table` under `namespace`, owns (its version and checksum rows included).
    pub fn outside_of(&self, scope: &TableScope, namespace: &str, version_table: &str) -> Snapshot {
        Snapshot {
            objects: self
                .objects
                .iter()
                .filter(|(k, _)| !owns(scope, namespace, version_table, k))
                .map(|(k, l)| (k.clone(), l.clone()))
                .collect(),
            ..Self::default()
        }
    }

    /// The same snapshot restricted to the objects whose names `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> Snapshot {
        Snapshot {
            objects: self
                .objects
                .iter()
                .filter(|(k, _)| keep(&k.name))
                .map(|(k, l)| (k.clone(), l.clone()))
                .collect(),
            ..Self::default()
        }
    }

    /// The same snapshot with `migration` recorded in (or, unless `applied`, removed from)
    /// `version_table`: the runner's own write, made after the snapshot was read.
    pub(crate) fn with_version_row(
        mut self,
        version_table: &str,
        migration: &str,
        applied: bool,
    ) -> Self {
        let rows = self.version_rows_mut(version_table);
        if applied {
            rows.insert(migration.to_owned());
        } else {
            rows.remove(migration);
        }
        self
    }

    /// [`Self::with_version_row`] where the snapshot holds a version table's rows joined into
    /// one line (PostgreSQL, SQLite: see `backend::read_all_rows`), sorted by their bytes.
    pub(crate) fn with_joined_version_row(
        mut self,
        version_table: &str,
        migration: &str,
        applied: bool,
    ) -> Self {
        let rows = self.version_rows_mut(version_table);
        let joined = rows.pop_first().unwrap_or_default();
        let mut versions: BTreeSet<&str> = joined.split(',').filter(|v| !v.is_empty()).collect();
        if applied {
            versions.insert(migration);
        } else {
            versions.remove(migration);
        }
        rows.insert(versions.into_iter().collect::<Vec<_>>().join(","));
        self
    }

    /// Records that the version table `table` was just created, empty.
    pub(crate) fn with_empty_version_table(mut self, table: &str, joined: bool) -> Self {
        let rows = self.version_rows_mut(table);
        rows.clear();
        if joined {
            rows.insert(String::new());
        }
        self
    }

    /// The rows of the version table `table`, made empty where the snapshot has none.
    fn version_rows_mut(&mut self, table: &str) -> &mut BTreeSet<String> {
        self.objects
            .entry(ObjectKey {
                kind: ObjectKind::VersionRows,
                name: table.to_owned(),
            })
            .or_default()
    }

    /// The same snapshot with the progress row of `namespace` saying `migration` runs in
    /// `direction`: the runner's own write.
    pub(crate) fn with_progress_row(
        mut self,
        namespace: &str,
        migration: &str,
        direction: &str,
    ) -> Self {
        self.objects.insert(
            ObjectKey {
                kind: ObjectKind::ProgressRow,
                name: namespace.to_owned(),
            },
            BTreeSet::from([format!("{migration} {direction}")]),
        );
        self
    }

    /// The same snapshot without the progress record of `namespace`: the runner's own write.
    pub(crate) fn without_progress_row(mut self, namespace: &str) -> Self {
        self.objects.remove(&ObjectKey {
            kind: ObjectKind::ProgressRow,
            name: namespace.to_owned(),
        });
        self
    }

    /// The same snapshot with the checksum row of `migration` of `namespace` replaced by one
    /// with `checksum` (removed with `None`): the runner's own write.
    pub(crate) fn with_checksum_row(
        mut self,
        namespace: &str,
        migration: &str,
        checksum: Option<String>,
    ) -> Self {
        let rows = self
            .objects
            .entry(ObjectKey {
                kind: ObjectKind::ChecksumRows,
                name: namespace.to_owned(),
            })
            .or_default();
        let prefix = format!("{migration} ");
        rows.retain(|line| !line.starts_with(&prefix));
        if let Some(checksum) = checksum {
            rows.insert(format!("{prefix}{checksum}"));
        }
        if rows.is_empty() {
            self.objects.remove(&ObjectKey {
                kind: ObjectKind::ChecksumRows,
                name: namespace.to_owned(),
            });
        }
        self
    }

    /// The objects of the catalog named `name`, with their lines, to be given to another name
    /// with [`Self::with_objects_named`].
    pub(crate) fn objects_named(&self, name: &str) -> Vec<(ObjectKind, BTreeSet<String>)> {
        let mut key = ObjectKey::table(name);
        ObjectKind::CATALOG
            .into_iter()
            .filter_map(|kind| {
                key.kind = kind;
                Some((kind, self.objects.get(&key)?.clone()))
            })
            .collect()
    }

    /// The same snapshot with `objects` (see [`Self::objects_named`]) named `name`, in place
    /// of any object of the catalog of that name.
    pub(crate) fn with_objects_named(
        mut self,
        name: &str,
        objects: &[(ObjectKind, BTreeSet<String>)],
    ) -> Self {
        let mut key = ObjectKey::table(name);
        for kind in ObjectKind::CATALOG {
            key.kind = kind;
            self.objects.remove(&key);
        }
        self.objects.extend(objects.iter().map(|(kind, lines)| {
            (
                ObjectKey {
                    kind: *kind,
                    name: name.to_owned(),
                },
                lines.clone(),
            )
        }));
        self
    }

    /// Replaces every schema object named in `names` by what `fresh` (a read of those names
    /// only) holds of them.
    pub(crate) fn replace_named(&mut self, names: &BTreeSet<String>, fresh: Snapshot) {
        // looked up name by name and kind: the snapshot holds the whole database, and this
        // runs once per chain
        for name in names {
            let mut key = ObjectKey::table(name);
            for kind in ObjectKind::CATALOG
                .into_iter()
                .filter(|k| k.is_schema_object())
            {
                key.kind = kind;
                self.objects.remove(&key);
            }
        }
        self.objects.extend(
            fresh
                .objects
                .into_iter()
                .filter(|(k, _)| k.kind.is_schema_object() && names.contains(&k.name)),
        );
        // PostgreSQL: what the transaction has written to the version tables named, so that a
        // later read knows their rows (which the runner keeps) unchanged since
        self.writes.extend(fresh.writes);
    }

    /// The optional parts of the catalog (see [`CatalogParts`]) in which objects named
    /// `names` have lines: views (and rules), triggers on them, functions or procedures of
    /// their names, their foreign keys, types.
    pub(crate) fn catalog_parts_of(&self, names: &BTreeSet<String>) -> CatalogParts {
        let mut parts = CatalogParts::default();
        // looked up name by name: the snapshot holds the whole database, once per chain
        for name in names {
            let mut key = ObjectKey::table(name);
            for kind in ObjectKind::CATALOG {
                key.kind = kind;
                let Some(lines) = self.objects.get(&key) else {
                    continue;
                };
                parts = parts.union(Self::parts_of(kind, lines));
            }
        }
        parts
    }

    /// The optional parts of the catalog an object of `kind` with `lines` has lines in.
    fn parts_of(kind: ObjectKind, lines: &BTreeSet<String>) -> CatalogParts {
        let mut parts = CatalogParts::default();
        match kind {
            ObjectKind::View | ObjectKind::MaterializedView => parts.views = true,
            ObjectKind::Function => parts.routines = true,
            ObjectKind::Type => parts.types = true,
            _ => {}
        }
        parts.views |= lines
            .iter()
            .any(|l| l.starts_with("view ") || l.starts_with("rule "));
        parts.triggers |= lines.iter().any(|l| l.starts_with("trigger "));
        parts.references |= lines.iter().any(|l| l.starts_with("references "));
        parts
    }

    /// The version tables and the progress table the snapshot holds.
    fn row_tables(&self) -> Vec<String> {
        self.tables()
            .filter(|t| is_version_table(t))
            .map(str::to_owned)
            .collect()
    }
}

/// Reads every object of the current schema and the rows of every version table: two
/// statements.
///
/// # Errors
/// [`Error::Database`] when the catalog cannot be read.
pub async fn snapshot<C: ConnectionTrait>(db: &C) -> Result<Snapshot, Error> {
    read_snapshot(db, backend::schema_catalog(db.get_database_backend()), None).await
}

/// The isolation guard's [`snapshot`] (see [`backend::guard_catalog`]; compare only with
/// another of these), taking from `previous` (a snapshot of the same transaction) the rows of
/// every version table this transaction has not written to since (PostgreSQL): at many
/// chains, reading every version table is most of a snapshot's cost.
///
/// # Errors
/// As [`snapshot`].
pub(crate) async fn snapshot_since<C: ConnectionTrait>(
    db: &C,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, Error> {
    read_snapshot(
        db,
        backend::guard_catalog(db.get_database_backend()),
        previous,
    )
    .await
}

/// The objects named `names` and the lines of the relations named so, as the guard's
/// catalog reads them (compare only with [`snapshot_since`]), without any rows: one statement
/// whose cost follows the names, not the database. Of the optional parts of the catalog
/// (PostgreSQL, MySQL; see [`backend::CatalogParts`]) only `parts` are read: the caller knows
/// the names have no objects of the others, before as after.
///
/// # Errors
/// As [`snapshot`].
pub(crate) async fn snapshot_of<C: ConnectionTrait>(
    db: &C,
    names: &BTreeSet<String>,
    parts: CatalogParts,
) -> Result<Snapshot, Error> {
    if names.is_empty() {
        return Ok(Snapshot::default());
    }
    let backend = db.get_database_backend();
    let mut list: Vec<&str> = names.iter().map(String::as_str).collect();
    if backend != DbBackend::MySql {
        // padded with repeats to a power of two, so that few statement texts are ever
        // prepared (MySQL's parts per name would read a repeated name again)
        let last = list[list.len() - 1];
        list.resize(list.len().next_power_of_two(), last);
    }
    let catalog = backend::guard_catalog_of(backend, &list, parts);
    let mut snapshot = if backend == DbBackend::Postgres {
        with_generic_plans(db, read_catalog(db, catalog)).await?
    } else {
        read_catalog(db, catalog).await?
    };
    snapshot.objects.retain(|k, _| names.contains(&k.name));
    Ok(snapshot)
}

/// Runs `read` on PostgreSQL with the prepared statement's generic plan, the setting as it
/// was restored afterwards. PostgreSQL would otherwise plan the catalog statement anew for
/// each set of names (its custom plans look cheaper), and planning it in a transaction that
/// created many tables takes 1 to 15 ms, against a tenth of a millisecond to reuse the
/// generic plan, which reads the catalogs' name indexes.
async fn with_generic_plans<C: ConnectionTrait, T>(
    db: &C,
    read: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let context = "setting plan_cache_mode for the guard's read";
    let set = Statement::from_string(
        DbBackend::Postgres,
        "SELECT s.old, CASE WHEN s.old IS NULL THEN NULL \
         ELSE set_config('plan_cache_mode', 'force_generic_plan', true) END AS new \
         FROM (SELECT current_setting('plan_cache_mode', true) AS old) s",
    );
    let old: Option<String> = db
        .query_one_raw(set)
        .await
        .map_err(Error::db(context))?
        .and_then(|row| row.try_get("", "old").ok());
    let output = read.await?;
    if let Some(old) = old {
        let restore = Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('plan_cache_mode', $1, true)",
            [old.into()],
        );
        db.query_one_raw(restore)
            .await
            .map_err(Error::db(context))?;
    }
    Ok(output)
}

async fn read_snapshot<C: ConnectionTrait>(
    db: &C,
    catalog: sea_orm::Statement,
    previous: Option<&Snapshot>,
) -> Result<Snapshot, Error> {
    let mut snapshot = read_catalog(db, catalog).await?;
    read_rows(db, &mut snapshot, previous).await?;
    Ok(snapshot)
}

/// Reads the catalog statement `catalog` into a snapshot without rows.
async fn read_catalog<C: ConnectionTrait>(
    db: &C,
    catalog: sea_orm::Statement,
) -> Result<Snapshot, Error> {
    let context = "reading the schema catalog";
    let rows = db
        .query_all_raw(catalog)
        .await
        .map_err(Error::db(context))?;
    let mut headers: BTreeMap<String, ObjectKind> = BTreeMap::new();
    let mut writes: BTreeMap<String, String> = BTreeMap::new();
    let mut opaque = false;
    let mut lines: Vec<(String, Option<ObjectKind>, String)> = Vec::with_capacity(rows.len());
    for row in rows {
        let code: String = row.try_get("", "k").map_err(Error::db(context))?;
        let name: String = row.try_get("", "t").map_err(Error::db(context))?;
        let line: Option<String> = row.try_get("", "d").map_err(Error::db(context))?;
        if code == "writes" {
            writes.insert(name, line.unwrap_or_default());
            continue;
        }
        if code == "opaque" {
            opaque = true;
            continue;
        }
        let kind = ObjectKind::from_code(&code);
        if let Some(
            k @ (ObjectKind::Table
            | ObjectKind::View
            | ObjectKind::MaterializedView
            | ObjectKind::Sequence),
        ) = kind
        {
            headers.insert(name.clone(), k);
        }
        lines.push((name, kind, line.unwrap_or_default()));
    }
    let mut snapshot = Snapshot::from_lines(lines.into_iter().map(|(name, kind, line)| {
        // lines of a relation (`rel`: columns, indexes, triggers…) go to whatever it is
        let kind = kind
            .or_else(|| headers.get(&name).copied())
            .unwrap_or(ObjectKind::Table);
        (ObjectKey { kind, name }, line)
    }));
    snapshot.writes = writes;
    snapshot.opaque = opaque;
    Ok(snapshot)
}

/// Adds the rows of every version table and of the progress table to `snapshot`: one
/// statement, or one per table when one of them cannot be read (it is then left out: a table
/// that only looks like a version table).
async fn read_rows<C: ConnectionTrait>(
    db: &C,
    snapshot: &mut Snapshot,
    previous: Option<&Snapshot>,
) -> Result<(), Error> {
    let mut tables = snapshot.row_tables();
    if let Some(previous) = previous {
        // unwritten since `previous` (same transaction, same writes, same file): same rows
        tables.retain(|table| {
            let same = snapshot
                .writes
                .get(table)
                .is_some_and(|w| previous.writes.get(table) == Some(w));
            if same {
                for (key, lines) in previous.objects.iter().filter(|(k, _)| rows_of(k, table)) {
                    snapshot.objects.insert(key.clone(), lines.clone());
                }
            }
            !same
        });
    }
    if tables.is_empty() {
        return Ok(());
    }
    let rows = match fetch_rows(db, &tables).await {
        Ok(rows) => rows,
        Err(_) => {
            let mut rows = Vec::new();
            for table in &tables {
                if let Ok(more) = fetch_rows(db, std::slice::from_ref(table)).await {
                    rows.extend(more);
                }
            }
            rows
        }
    };
    for table in &tables {
        if table != backend::PROGRESS_TABLE && table != backend::CHECKSUM_TABLE {
            // an empty version table still has (no) rows to compare
            snapshot
                .objects
                .entry(ObjectKey {
                    kind: ObjectKind::VersionRows,
                    name: table.clone(),
                })
                .or_default();
        }
    }
    for (table, key, line) in rows {
        let key = if table == backend::PROGRESS_TABLE {
            ObjectKey {
                kind: ObjectKind::ProgressRow,
                name: key,
            }
        } else if table == backend::CHECKSUM_TABLE {
            ObjectKey {
                kind: ObjectKind::ChecksumRows,
                name: key,
            }
        } else {
            ObjectKey {
                kind: ObjectKind::VersionRows,
                name: table,
            }
        };
        snapshot.objects.entry(key).or_default().insert(line);
    }
    Ok(())
}

/// Whether the snapshot entry `key` holds rows read from `table`.
fn rows_of(key: &ObjectKey, table: &str) -> bool {
    match key.kind {
        ObjectKind::VersionRows => key.name == table,
        ObjectKind::ProgressRow => table == backend::PROGRESS_TABLE,
        ObjectKind::ChecksumRows => table == backend::CHECKSUM_TABLE,
        _ => false,
    }
}

async fn fetch_rows<C: ConnectionTrait>(
    db: &C,
    tables: &[String],
) -> Result<Vec<(String, String, String)>, sea_orm::DbErr> {
    let rows = db
        .query_all(&backend::read_all_rows(db.get_database_backend(), tables))
        .await?;
    rows.into_iter()
        .map(|row| {
            let table: String = row.try_get("", "t")?;
            let key: String = row.try_get("", "k")?;
            let line: String = row.try_get("", "v")?;
            Ok((table, key, line))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: ObjectKind, name: &str) -> ObjectKey {
        ObjectKey {
            kind,
            name: name.to_owned(),
        }
    }

    fn snap(lines: &[(ObjectKind, &str, &str)]) -> Snapshot {
        Snapshot::from_lines(lines.iter().map(|(k, n, l)| (key(*k, n), *l)))
    }

    #[test]
    fn the_objects_of_one_name_are_given_to_another_in_place_of_its_own() {
        use ObjectKind::*;
        let before = snap(&[
            (Table, "v1", "column version"),
            (Table, "v1", "index PRIMARY"),
            (VersionRows, "v1", "m1"),
            (Table, "v2", "column stale"),
            (View, "v2", "view 1"),
            (Table, "other", "column x"),
        ]);
        let lines = before.objects_named("v1");
        assert_eq!(lines.len(), 1, "the version rows are not the catalog's");
        let after = before.clone().with_objects_named("v2", &lines);
        assert_eq!(after.describe("v2"), before.describe("v1"));
        assert_eq!(after.lines(&key(View, "v2")), None);
        assert_eq!(after.lines(&key(VersionRows, "v2")), None);
        assert_eq!(after.describe("other"), before.describe("other"));
        assert_eq!(after.describe("v1"), before.describe("v1"));
        assert_eq!(
            before.with_objects_named("new", &lines).describe("new"),
            after.describe("v1")
        );
    }

    #[test]
    fn created_dropped_and_altered_objects_are_told_apart() {
        use ObjectKind::*;
        let before = snap(&[(Table, "users", "column id"), (Table, "tasks", "column id")]);
        let after = snap(&[
            (Table, "users", "column id"),
            (Table, "users", "column name"),
            (View, "ext_a_x", "rule 1"),
        ]);
        let found: Vec<String> = before
            .changes(&after)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                r#"table "tasks" dropped"#,
                r#"table "users" altered"#,
                r#"view "ext_a_x" created"#
            ]
        );
        assert!(before.changes(&before).is_empty());
    }

    #[test]
    fn trespasses_are_changes_to_objects_of_other_chains() {
        use ObjectKind::*;
        let before = snap(&[
            (Table, "users", "column id"),
            (VersionRows, "seaql_migrations", "m1"),
            (ProgressRow, "other", "m1 up"),
        ]);
        let after = snap(&[
            (Table, "users", "column id"),
            (Table, "users", "trigger ext_acme_audit"),
            (Table, "ext_acme_orders", "column id"),
            (View, "ext_other_x", "rule"),
            (Function, "set_updated_at", "function f"),
            (Type, "ext_acme_mood", "label 1 calm"),
            (Extension, "pg_trgm", "extension 1.6"),
            (Table, "seaql_migrations_acme", "column version"),
            (VersionRows, "seaql_migrations_acme", "m1"),
            (ProgressRow, "acme", "m2 up"),
        ]);
        let found: Vec<String> = before
            .trespasses(
                &after,
                &TableScope::workflow("acme"),
                "acme",
                "seaql_migrations_acme",
            )
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                r#"table "users" altered"#,
                r#"view "ext_other_x" created"#,
                r#"function "set_updated_at" created"#,
                r#"rows of version table "seaql_migrations" deleted"#,
                r#"progress record of namespace "other" deleted"#,
            ]
        );
        let engine: Vec<String> = before
            .trespasses(&after, &TableScope::Engine, "engine", "seaql_migrations")
            .iter()
            .map(|c| c.object.name.clone())
            .collect();
        assert_eq!(
            engine,
            [
                "ext_acme_orders",
                "seaql_migrations_acme",
                "ext_other_x",
                "ext_acme_mood",
                "seaql_migrations_acme",
                "acme",
                "other"
            ]
        );
    }

    #[test]
    fn joined_version_rows_stay_sorted_by_their_bytes() {
        let empty = Snapshot::default().with_empty_version_table("seaql_migrations_a", true);
        let key = key(ObjectKind::VersionRows, "seaql_migrations_a");
        assert_eq!(empty.lines(&key).unwrap().iter().next().unwrap(), "");
        let s = empty
            .with_joined_version_row("seaql_migrations_a", "m2_b", true)
            .with_joined_version_row("seaql_migrations_a", "m1_a", true)
            .with_joined_version_row("seaql_migrations_a", "M0", true);
        let line: Vec<&String> = s.lines(&key).unwrap().iter().collect();
        assert_eq!(line, ["M0,m1_a,m2_b"]);
        let s = s
            .with_joined_version_row("seaql_migrations_a", "m1_a", false)
            .with_joined_version_row("seaql_migrations_a", "M0", false)
            .with_joined_version_row("seaql_migrations_a", "m2_b", false);
        assert_eq!(s.lines(&key).unwrap().iter().next().unwrap(), "");
    }

    #[test]
    fn the_optional_catalog_parts_of_names_are_those_they_have_lines_in() {
        let snapshot = Snapshot::from_lines([
            (key(ObjectKind::Table, "ext_a_t"), "column id int"),
            (
                key(ObjectKind::Table, "ext_a_t"),
                "trigger trg BEFORE INSERT 0f",
            ),
            (key(ObjectKind::Table, "ext_a_u"), "column id int"),
            (key(ObjectKind::View, "ext_a_v"), "view 3e"),
            (key(ObjectKind::Function, "ext_a_f"), "FUNCTION 9a"),
            (
                key(ObjectKind::Table, "ext_a_w"),
                "references fk t ext_a_t id",
            ),
            (key(ObjectKind::Type, "ext_a_e"), "label 1 x"),
        ]);
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
        assert_eq!(
            snapshot.catalog_parts_of(&names(&["ext_a_u", "ext_a_new"])),
            CatalogParts::default()
        );
        let parts = snapshot.catalog_parts_of(&names(&["ext_a_t"]));
        assert!(
            parts.triggers && !parts.views && !parts.routines && !parts.references && !parts.types,
            "{parts:?}"
        );
        assert_eq!(
            snapshot.catalog_parts_of(&names(&[
                "ext_a_t", "ext_a_v", "ext_a_f", "ext_a_w", "ext_a_e"
            ])),
            CatalogParts::ALL
        );
    }

    #[test]
    fn enum_labels_are_counted_over_every_type() {
        use ObjectKind::*;
        let s = snap(&[
            (Type, "a", "type e"),
            (Type, "a", "label 1 x"),
            (Type, "a", "label 2 y"),
            (Type, "b", "label 1 z"),
            (Table, "t", "label 1 not a type"),
        ]);
        let counts: Vec<(String, i64)> = s.enum_labels().into_iter().collect();
        assert_eq!(counts, [("a".to_owned(), 2), ("b".to_owned(), 1)]);
    }

    /// The guard's read of some names gives exactly the lines its full read has for them,
    /// whatever characters the names hold (each a parameter).
    #[tokio::test]
    async fn a_read_of_some_names_has_the_full_reads_lines_for_any_name() {
        use crate::testing::TestDatabase;
        use sea_orm::ConnectionTrait;
        let odd = [
            "ext_a_plain",
            "ext_a \"q\"",
            "ext_a\\b",
            "ext_a,c",
            "ext_a{d}",
            "ext_a'e",
            "ext_a NULL",
            "ext_a_é",
        ];
        for db in TestDatabase::all().await {
            let conn = db.connect().await;
            let backend = conn.get_database_backend();
            for (i, name) in odd.iter().enumerate() {
                let table = backend::quote(backend, name);
                let index = backend::quote(backend, &format!("ext_a_i{i}"));
                conn.execute_unprepared(&format!(
                    "CREATE TABLE {table} (id integer PRIMARY KEY, v varchar(10) NOT NULL)"
                ))
                .await
                .unwrap_or_else(|e| panic!("{backend:?} {name}: {e}"));
                conn.execute_unprepared(&format!("CREATE INDEX {index} ON {table} (v)"))
                    .await
                    .unwrap();
            }
            conn.execute_unprepared("CREATE TABLE ext_a_other (id integer PRIMARY KEY)")
                .await
                .unwrap();
            let full = snapshot_since(&conn, None).await.unwrap();
            // one name, and all of them with a name the database does not hold
            // (on MySQL, the columns also read in one list)
            let listed = CatalogParts {
                columns_in_one_select: true,
                ..CatalogParts::ALL
            };
            let names = [vec!["ext_a \"q\""], [&odd[..], &["ext_a_none"]].concat()];
            for (wanted, parts) in names
                .iter()
                .flat_map(|n| [(n, CatalogParts::ALL), (n, listed)])
            {
                let wanted: BTreeSet<String> = wanted.iter().map(|n| (*n).to_owned()).collect();
                let some = snapshot_of(&conn, &wanted, parts).await.unwrap();
                let expected: Vec<_> = full
                    .objects
                    .iter()
                    .filter(|(k, _)| wanted.contains(&k.name))
                    .collect();
                assert_eq!(
                    some.objects.iter().collect::<Vec<_>>(),
                    expected,
                    "{backend:?}"
                );
                for name in wanted.iter().filter(|n| *n != "ext_a_none") {
                    let lines = some.objects.iter().find(|(k, _)| &k.name == name);
                    assert!(
                        lines.is_some_and(|(_, l)| l.iter().any(|l| l.contains("index"))),
                        "{backend:?}: {name} read back without its index: {lines:?}"
                    );
                }
            }
            conn.close().await.ok();
            db.drop_database().await;
        }
    }
}
