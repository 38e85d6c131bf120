//! Everything that differs between SQLite, PostgreSQL and MySQL, one small rule per function.
//! No other module matches on the backend.

use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Query, SelectStatement, Table, TableCreateStatement, UnionType,
};
use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{DbBackend, Statement, Value};
use sea_orm_migration::MigrationTrait;

use crate::schema::ObjectKind;

/// Whether DDL takes part in transactions, so that a failed migration leaves no trace.
pub(crate) fn transactional_ddl(backend: DbBackend) -> bool {
    matches!(backend, DbBackend::Postgres | DbBackend::Sqlite)
}

/// Whether the database itself refuses to drop an object others depend on (views, routines,
/// defaults naming it), so that only a drop can tell what stands in the way.
pub(crate) fn tracks_dependencies(backend: DbBackend) -> bool {
    backend == DbBackend::Postgres
}

/// Whether `migration` runs inside a transaction: its own choice if it makes one
/// (`use_transaction()`), otherwise wherever DDL is transactional. Unlike plain
/// sea-orm-migration this includes SQLite, so a failed SQLite migration leaves no trace.
pub(crate) fn use_transaction(migration: &dyn MigrationTrait, backend: DbBackend) -> bool {
    migration
        .use_transaction()
        .unwrap_or_else(|| transactional_ddl(backend))
}

/// The table recording migrations that started outside a transaction and have not finished:
/// a row here after a crash means the migration may be half-done. Its name cannot be a
/// chain's version table (`in_progress` is not a valid namespace).
pub(crate) const PROGRESS_TABLE: &str = "seaql_migrations_in_progress";

/// The table recording each applied migration's checksum, per namespace, beside the version
/// tables (which keep sea-orm-migration's format). A row counts only while its `applied_at`
/// equals the version row's: one left behind by a tool that knows nothing of it is stale.
/// Its name cannot be a chain's version table (`source_checksums` is not a valid namespace).
pub(crate) const CHECKSUM_TABLE: &str = "seaql_migrations_source_checksums";

/// `CREATE TABLE IF NOT EXISTS` for [`CHECKSUM_TABLE`].
pub(crate) fn create_checksum_table() -> TableCreateStatement {
    use sea_orm::sea_query::{ColumnDef, Index};
    Table::create()
        .table(Alias::new(CHECKSUM_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("namespace"))
                .string_len(64)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("version"))
                .string_len(255)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("checksum"))
                .string_len(64)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("applied_at"))
                .big_integer()
                .not_null(),
        )
        .primary_key(
            Index::create()
                .col(Alias::new("namespace"))
                .col(Alias::new("version")),
        )
        .to_owned()
}

/// One row of [`CHECKSUM_TABLE`]: namespace, migration, checksum, applied_at.
pub(crate) type ChecksumRow<'a> = (&'a str, &'a str, &'a str, i64);

/// Records (or replaces) checksums in [`CHECKSUM_TABLE`]. `rows` must not be empty.
pub(crate) fn upsert_checksums(rows: &[ChecksumRow<'_>]) -> sea_orm::sea_query::InsertStatement {
    use sea_orm::sea_query::OnConflict;
    let mut stmt = Query::insert();
    stmt.into_table(Alias::new(CHECKSUM_TABLE)).columns([
        Alias::new("namespace"),
        Alias::new("version"),
        Alias::new("checksum"),
        Alias::new("applied_at"),
    ]);
    for (namespace, version, checksum, at) in rows {
        stmt.values_panic([
            (*namespace).into(),
            (*version).into(),
            (*checksum).into(),
            (*at).into(),
        ]);
    }
    stmt.on_conflict(
        OnConflict::columns([Alias::new("namespace"), Alias::new("version")])
            .update_columns([Alias::new("checksum"), Alias::new("applied_at")])
            .to_owned(),
    );
    stmt
}

/// Forgets the checksum of `migration` of `namespace` (every one of the namespace without
/// `migration`).
pub(crate) fn delete_checksums(
    namespace: &str,
    migration: Option<&str>,
) -> sea_orm::sea_query::DeleteStatement {
    let mut stmt = Query::delete();
    stmt.from_table(Alias::new(CHECKSUM_TABLE))
        .and_where(Expr::col(Alias::new("namespace")).eq(namespace));
    if let Some(migration) = migration {
        stmt.and_where(Expr::col(Alias::new("version")).eq(migration));
    }
    stmt
}

/// One statement reading every row of the given version tables, three columns: `chain`, the
/// table's position in `tables`, `version` and `applied_at`. With `progress`, also the rows
/// of [`PROGRESS_TABLE`] (`chain` [`PROGRESS_ROW`]); with `checksums`, those of
/// [`CHECKSUM_TABLE`] (`chain` [`CHECKSUM_ROW`], or on SQLite one row of them all,
/// [`CHECKSUM_ROWS`]). Their other fields come in `version` in a form the reader parses
/// exactly whatever they hold: a progress row's as a JSON array (there are few), a checksum
/// row's each after its length ([`CHECKSUM_ROW`]: there is one per applied migration).
/// `tables` must not be empty unless `progress` is set.
///
/// A start's only statement, and a new process's connection has to parse and plan it before
/// it runs, so each version table's select is its two columns and a constant: PostgreSQL
/// plans a `UNION` of 200 such selects in about 7 ms, of 200 selects of bare columns in
/// about 12 ms, and of 200 with an expression on a column (the chain written ahead of the
/// version, `'1:' || version`, as this read was first shaped) in about 18 ms; on a connection
/// that has run it before, the plan is reused and the extra column costs a few per cent of
/// the read. On SQLite the database joins each version
/// table's rows into one (`version \x02 applied_at` pairs separated by `\x01`, `applied_at`
/// the number of rows joined), which halves the read: SQLite's driver hands rows over one by
/// one from its worker thread. PostgreSQL sends rows faster than it aggregates them, and
/// MySQL's `GROUP_CONCAT` cuts its result at `group_concat_max_len` (1024 bytes by default on
/// MySQL), so both read a row per migration.
///
/// The text is written directly (building a `UNION` of many selects with sea-query costs a
/// tenth of a millisecond per fifty chains); every name in it is a checked version table.
/// Every start of a program reads the same tables: the last text made is kept and handed out
/// again for the same tables (comparing them costs a twentieth of writing the text).
pub(crate) fn read_versions(
    backend: DbBackend,
    tables: &[(&str, &str)],
    progress: bool,
    checksums: bool,
) -> Statement {
    /// The last text made, and what it was made for.
    struct Made {
        backend: DbBackend,
        tables: Vec<String>,
        progress: bool,
        checksums: bool,
        sql: String,
    }
    static LAST: std::sync::Mutex<Option<Made>> = std::sync::Mutex::new(None);
    let same = |made: &Made| {
        made.backend == backend
            && made.progress == progress
            && made.checksums == checksums
            && made.tables.len() == tables.len()
            && made.tables.iter().zip(tables).all(|(a, (_, b))| a == b)
    };
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(made) = last.as_ref().filter(|m| same(m)) {
        return Statement::from_string(backend, made.sql.clone());
    }
    let statement = read_versions_as(
        backend,
        tables,
        progress,
        checksums,
        backend == DbBackend::Sqlite,
    );
    *last = Some(Made {
        backend,
        tables: tables.iter().map(|(_, t)| (*t).to_owned()).collect(),
        progress,
        checksums,
        sql: statement.sql.clone(),
    });
    statement
}

/// [`read_versions`], the rows of each version table joined into one (`aggregate`, SQLite)
/// or not. A joined row's `applied_at` is the number of rows joined: a version written by
/// hand that holds a separator makes the row split into another number, and the reader reads
/// that table again, row by row.
pub(crate) fn read_versions_as(
    backend: DbBackend,
    tables: &[(&str, &str)],
    progress: bool,
    checksums: bool,
    aggregate: bool,
) -> Statement {
    let q = |name: &str| quote(backend, name);
    let json = |fields: &str| match backend {
        DbBackend::Postgres => format!("CAST(json_build_array({fields}) AS TEXT)"),
        DbBackend::MySql => format!("CAST(JSON_ARRAY({fields}) AS CHAR)"),
        _ => format!("json_array({fields})"),
    };
    // each select's columns as bare columns and constants where it can: an expression on a
    // column in each of many selects is what makes the text slow to plan (see above)
    let mut selects: Vec<String> = tables
        .iter()
        .zip(0..)
        .map(|((_, table), i)| {
            if aggregate {
                // the separators written into the text, not made by `char()` for every row
                format!(
                    "SELECT {i} AS chain, coalesce(group_concat(version || '{FIELD_SEPARATOR}' \
                     || applied_at, '{ROW_SEPARATOR}'), '') AS version, count(*) AS applied_at \
                     FROM {}",
                    q(table)
                )
            } else {
                format!("SELECT {i} AS chain, version, applied_at FROM {}", q(table))
            }
        })
        .collect();
    if progress {
        selects.push(format!(
            "SELECT {PROGRESS_ROW} AS chain, {} AS version, started_at AS applied_at FROM {}",
            json("namespace, direction, version"),
            q(PROGRESS_TABLE)
        ));
    }
    if checksums {
        selects.push(if aggregate {
            format!(
                "SELECT {CHECKSUM_ROWS} AS chain, \
                 json_group_array(json_array(namespace, version, applied_at, checksum)) \
                 AS version, count(*) AS applied_at FROM {}",
                q(CHECKSUM_TABLE)
            )
        } else {
            // each field ahead of the version counted (in characters: MySQL's `LENGTH`
            // counts the bytes of the column's character set, not of what the client gets);
            // PostgreSQL's the second arm (SQLite's rows are aggregated, above: its
            // `json_group_array` costs it half what a `group_concat` of the joined fields does)
            let fields = match backend {
                DbBackend::MySql => {
                    "CONCAT(CHAR_LENGTH(namespace), ':', namespace, \
                     CHAR_LENGTH(checksum), ':', checksum, version)"
                }
                _ => {
                    "char_length(namespace) || ':' || namespace || \
                      char_length(checksum) || ':' || checksum || version"
                }
            };
            format!(
                "SELECT {CHECKSUM_ROW} AS chain, {fields} AS version, applied_at FROM {}",
                q(CHECKSUM_TABLE)
            )
        });
    }
    Statement::from_string(backend, selects.join(" UNION ALL "))
}

/// The `chain` of a row of [`read_versions`] from [`PROGRESS_TABLE`]: its `version` is the
/// JSON array `[namespace, direction, version]`, its `applied_at` when the migration started.
pub(crate) const PROGRESS_ROW: i64 = -1;
/// The `chain` of a row of [`read_versions`] from [`CHECKSUM_TABLE`]: its `version` is
/// `{n}:{namespace}{m}:{checksum}{version}`, `n` and `m` the lengths in characters of the
/// fields after them (JSON, which the rest of the table's rows come as, made the database's
/// work on 500 rows three times as long: PostgreSQL read a `json_build_array` of the three
/// columns in 0.37 ms, the counted text in 0.13 ms).
pub(crate) const CHECKSUM_ROW: i64 = -2;
/// The `chain` of SQLite's one row of [`read_versions`] holding every row of
/// [`CHECKSUM_TABLE`]: its `version` is a JSON array of `[namespace, version, applied_at,
/// checksum]` arrays.
pub(crate) const CHECKSUM_ROWS: i64 = -3;
/// Between the rows a joined row of [`read_versions`] holds.
pub(crate) const ROW_SEPARATOR: char = '\u{1}';
/// Between the fields of one of them.
pub(crate) const FIELD_SEPARATOR: char = '\u{2}';

/// `CREATE TABLE IF NOT EXISTS` for [`PROGRESS_TABLE`].
pub(crate) fn create_progress_table() -> TableCreateStatement {
    use sea_orm::sea_query::ColumnDef;
    Table::create()
        .table(Alias::new(PROGRESS_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("namespace"))
                .string_len(64)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("version"))
                .string_len(255)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("direction"))
                .string_len(8)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("started_at"))
                .big_integer()
                .not_null(),
        )
        .to_owned()
}

/// Records that `migration` of `namespace` starts outside a transaction, replacing the
/// namespace's record of a migration that finished before it (see
/// [`crate::status::Recorded::interrupted`]).
pub(crate) fn insert_progress(
    namespace: &str,
    migration: &str,
    direction: &str,
) -> sea_orm::sea_query::InsertStatement {
    use sea_orm::sea_query::OnConflict;
    Query::insert()
        .into_table(Alias::new(PROGRESS_TABLE))
        .columns([
            Alias::new("namespace"),
            Alias::new("version"),
            Alias::new("direction"),
            Alias::new("started_at"),
        ])
        .values_panic([
            namespace.into(),
            migration.into(),
            direction.into(),
            now_unix().into(),
        ])
        .on_conflict(
            OnConflict::column(Alias::new("namespace"))
                .update_columns([
                    Alias::new("version"),
                    Alias::new("direction"),
                    Alias::new("started_at"),
                ])
                .to_owned(),
        )
        .to_owned()
}

/// Clears the progress record of `namespace`.
pub(crate) fn delete_progress(namespace: &str) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new(PROGRESS_TABLE))
        .and_where(Expr::col(Alias::new("namespace")).eq(namespace))
        .to_owned()
}

/// The longest migration name a version table holds, in bytes: sea-orm-migration's
/// `varchar(255)` on MySQL, and this runner's on every backend (see [`create_version_table`];
/// the progress and checksum tables hold names of the same length).
pub const MAX_MIGRATION_NAME_LEN: usize = 255;

/// `CREATE TABLE IF NOT EXISTS` for a version table, in sea-orm-migration's own format
/// (`version` text, the key, and `applied_at` a 64-bit integer), with one difference:
/// `version` is `varchar(255)` on every backend, where sea-orm-migration's entity gives
/// PostgreSQL an unbounded `varchar`. PostgreSQL gives a table that can hold a row wider than
/// about 2 kB a TOAST table and its index besides: two more files to create, which made a
/// version table take 6.6 ms to create against 3.6 ms (200 in one transaction). MySQL's is
/// the same text as sea-orm-migration's; either kind of table works with both.
pub(crate) fn create_version_table(table: &str) -> TableCreateStatement {
    use sea_orm::sea_query::ColumnDef;
    Table::create()
        .table(Alias::new(table))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("version"))
                .string_len(MAX_MIGRATION_NAME_LEN as u32)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("applied_at"))
                .big_integer()
                .not_null(),
        )
        .to_owned()
}

/// Records `migration` as applied in `table`.
pub(crate) fn insert_version(
    table: &str,
    migration: &str,
    applied_at: i64,
) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new(table))
        .columns([Alias::new("version"), Alias::new("applied_at")])
        .values_panic([migration.into(), applied_at.into()])
        .to_owned()
}

/// Records `migration` as applied in (`applied`), or removes it from, the version table
/// `table`. On PostgreSQL with `labels`, the statement also returns, as `labels`, how many
/// labels each enum type of the current schema has afterwards (`mood 3,status 2`, see
/// [`parse_enum_labels`]): the runner commits when a type that existed before the migration
/// gained or lost labels, since PostgreSQL does not let a transaction use an enum value it
/// added. (Planning that read costs about a millisecond in a transaction that created many
/// tables: the runner asks for it only when the migration may have changed an enum type.)
///
/// With `checksum` (the chain's namespace and, when applied, the migration's checksum), the
/// migration's row of [`CHECKSUM_TABLE`] is written or removed too: by the same statement on
/// PostgreSQL (a data-modifying `WITH`), by the second statement returned elsewhere.
pub(crate) fn record_version(
    backend: DbBackend,
    table: &str,
    migration: &str,
    applied: bool,
    checksum: Option<(&str, Option<&str>)>,
    labels: bool,
) -> Vec<Statement> {
    let at = now_unix();
    let checksum_stmt = checksum.map(|(namespace, sum)| match sum {
        Some(sum) if applied => {
            backend.build(&upsert_checksums(&[(namespace, migration, sum, at)]))
        }
        _ => backend.build(&delete_checksums(namespace, Some(migration))),
    });
    let mut version = record_version_row(backend, table, migration, applied, at, labels);
    match checksum_stmt {
        None => vec![version],
        Some(extra) if backend == DbBackend::Postgres => {
            // WITH c AS (<checksum statement>) <version statement>: renumber the version
            // statement's parameters after the checksum statement's
            let shift = extra.values.as_ref().map_or(0, |v| v.0.len());
            let mut sql = version.sql.clone();
            let count = version.values.as_ref().map_or(0, |v| v.0.len());
            for i in (1..=count).rev() {
                sql = sql.replace(&format!("${i}"), &format!("${}", i + shift));
            }
            let mut values = extra.values.clone().map(|v| v.0).unwrap_or_default();
            values.extend(version.values.take().map(|v| v.0).unwrap_or_default());
            vec![Statement::from_sql_and_values(
                backend,
                format!("WITH c AS ({}) {sql}", extra.sql),
                values,
            )]
        }
        Some(extra) => vec![version, extra],
    }
}

fn record_version_row(
    backend: DbBackend,
    table: &str,
    migration: &str,
    applied: bool,
    at: i64,
    labels: bool,
) -> Statement {
    let probe = || {
        Query::returning().expr(Expr::cust(
            "(SELECT string_agg(l.typname || ' ' || l.n::text, ',') FROM \
             (SELECT t.typname::text AS typname, count(*) AS n FROM pg_enum e \
              JOIN pg_type t ON t.oid = e.enumtypid \
              JOIN pg_namespace s ON s.oid = t.typnamespace \
              WHERE s.nspname = current_schema() GROUP BY t.typname) l) AS labels",
        ))
    };
    let postgres = backend == DbBackend::Postgres && labels;
    if applied {
        let mut stmt = insert_version(table, migration, at);
        if postgres {
            stmt.returning(probe());
        }
        backend.build(&stmt)
    } else {
        let mut stmt = delete_version(table, migration);
        if postgres {
            stmt.returning(probe());
        }
        backend.build(&stmt)
    }
}

/// The `labels` column [`record_version`] returns, as enum type -> number of labels.
pub(crate) fn parse_enum_labels(text: Option<&str>) -> BTreeMap<String, i64> {
    text.unwrap_or_default()
        .split(',')
        .filter_map(|entry| {
            let (name, n) = entry.rsplit_once(' ')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .collect()
}

/// Forgets that `migration` was applied.
pub(crate) fn delete_version(table: &str, migration: &str) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new("version")).eq(migration))
        .to_owned()
}

/// The extensions of the database with their versions, as rows `e` (`pg_trgm 1.6`); `None`
/// on backends without extensions. PostgreSQL's own `plpgsql` is left out.
pub(crate) fn list_extensions(backend: DbBackend) -> Option<Statement> {
    (backend == DbBackend::Postgres).then(|| {
        Statement::from_string(
            backend,
            "SELECT extname || ' ' || extversion AS e FROM pg_extension \
             WHERE extname <> 'plpgsql' ORDER BY extname",
        )
    })
}

/// Every base table of the current database/schema, as one statement with a `t` column.
pub(crate) fn list_tables(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        }
        _ => {
            "SELECT TABLE_NAME AS t FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        }
    };
    Statement::from_string(backend, sql)
}

/// The schema catalog as rows `k` kind, `t` object name, `d` description line. `k` is
/// `table`, `view`, `matview`, `sequence`, `type`, `function` or `extension` for a row naming
/// the object itself, and `rel` for a line of the relation `t` (a column, an index, a
/// constraint, a trigger, a view's definition). Objects that belong to an extension are left
/// out (they are the extension's), and so are SQLite's own tables.
pub(crate) fn schema_catalog(backend: DbBackend) -> Statement {
    Statement::from_string(backend, catalog_sql(backend))
}

/// [`schema_catalog`] for the isolation guard, which compares two snapshots of one database
/// taken moments apart: on PostgreSQL a column's type as its OID and a default as a hash of
/// its stored tree, which name the same thing within one database and cost half as much to
/// read as their deparsed text (which `fresh`'s drops and the round-trip assertion, comparing
/// across re-creations, need).
pub(crate) fn guard_catalog(backend: DbBackend) -> Statement {
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let full = catalog_sql(DbBackend::Postgres);
        let cheap = full
            .replace("a.atttypid::regtype::text", "a.atttypid::text")
            .replace("pg_get_expr(d.adbin, d.adrelid)", "md5(d.adbin::text)")
            .replace("s.seqtypid::regtype::text", "s.seqtypid::text");
        debug_assert!(cheap.len() < full.len(), "the replaced parts are there");
        cheap
    });
    match backend {
        DbBackend::Postgres => Statement::from_string(backend, POSTGRES.as_str()),
        _ => schema_catalog(backend),
    }
}

/// The parts of the guard's catalog a read of some names ([`guard_catalog_of`]) may leave
/// out, on PostgreSQL and MySQL: each is needed only where the names have such objects
/// already or a statement may have made one. On MySQL views, triggers and routines each cost
/// as much as reading the names' columns (MariaDB fills a temporary table on disk for
/// `information_schema` tables with long text columns), foreign keys a select per name; on
/// PostgreSQL every part left out is joins fewer to start (binding the statement takes a
/// quarter less time for a chain that creates tables and indexes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CatalogParts {
    /// Views' definitions (PostgreSQL: rules, a view's among them).
    pub(crate) views: bool,
    /// Triggers on the tables named.
    pub(crate) triggers: bool,
    /// Functions and procedures named so.
    pub(crate) routines: bool,
    /// The foreign keys of the tables named (MySQL's `KEY_COLUMN_USAGE`; PostgreSQL reads
    /// them with the constraints, always).
    pub(crate) references: bool,
    /// PostgreSQL's types of their own, their enum labels and composite attributes.
    pub(crate) types: bool,
    /// Not a part but how MySQL reads one: the names' columns with one `IN (…)` select
    /// instead of one select per name (see [`mysql_columns_in_one_select`]).
    pub(crate) columns_in_one_select: bool,
}

impl CatalogParts {
    /// Every part.
    pub(crate) const ALL: Self = Self {
        views: true,
        triggers: true,
        routines: true,
        references: true,
        types: true,
        columns_in_one_select: false,
    };

    /// The parts either reads.
    pub(crate) fn union(self, other: Self) -> Self {
        Self {
            views: self.views || other.views,
            triggers: self.triggers || other.triggers,
            routines: self.routines || other.routines,
            references: self.references || other.references,
            types: self.types || other.types,
            columns_in_one_select: self.columns_in_one_select || other.columns_in_one_select,
        }
    }
}

/// Whether MySQL reads the columns of `names` names, in a schema of `tables` tables, with one
/// `IN (…)` select rather than one select per name. MariaDB fills a temporary table on disk
/// for every select on `information_schema.COLUMNS` (about 0.28 ms each on MariaDB 10.11;
/// its other parts read here take a sixth of that, so they stay per name), but for an
/// `IN (…)` list it walks every table of the schema (about 0.3 ms and 1.2 µs a table): 3 ms
/// against 1.1 for a chain of ten tables among 500, the same for two tables among 200.
pub(crate) fn mysql_columns_in_one_select(names: usize, tables: usize) -> bool {
    names > 1 && 280 * names > 300 + tables * 6 / 5
}

/// [`guard_catalog`] restricted to the objects named `names` and the lines of the relations
/// named so (their columns, indexes, constraints, triggers, owned sequences): what a migration
/// that touched only these names can have changed. The database filters the catalog's own
/// rows, so the cost follows the names, not the size of the database. On PostgreSQL and
/// MySQL, `parts_wanted` says which of the optional parts to read (the others are read
/// everywhere; SQLite's catalog is one select, read whole).
pub(crate) fn guard_catalog_of(
    backend: DbBackend,
    names: &[&str],
    parts_wanted: CatalogParts,
) -> Statement {
    let catalog = guard_catalog(backend);
    let sql = match backend {
        // one SELECT over sqlite_master, which has no index: filtered on the names first
        // (SQLite tests the terms in the order written, and the pattern of the other costs
        // two fifths of the scan: 140 against 84 µs a read among 1000 objects)
        DbBackend::Sqlite => {
            let (head, rest) = catalog
                .sql
                .split_once(" WHERE ")
                .expect("SQLite's catalog select has a WHERE clause");
            format!(
                "{head} WHERE tbl_name IN ({}) AND {rest}",
                vec!["?"; names.len()].join(", ")
            )
        }
        // each part filtered on its own name column, compared as `name` so that the catalog's
        // indexes serve; extensions left out (never a chain's), write counts of the version
        // tables named; the optional parts only when wanted
        DbBackend::Postgres => {
            let list = (1..=names.len())
                .map(|i| format!("${i}::name"))
                .collect::<Vec<_>>()
                .join(", ");
            let parts: Vec<&str> = catalog.sql.split(" UNION ALL ").collect();
            debug_assert_eq!(parts.len(), POSTGRES_PARTS.len());
            parts
                .iter()
                .zip(POSTGRES_PARTS)
                .filter_map(|(part, (column, which))| {
                    let column = column.filter(|_| which.wanted(parts_wanted))?;
                    Some(match column {
                        // a sequence goes by its own name or by its owner's
                        OWNED_SEQUENCES => format!(
                            "{part} AND s.seqrelid IN (SELECT x.oid FROM pg_class x \
                             WHERE x.relname IN ({list}) UNION ALL SELECT e.objid FROM pg_depend e \
                             JOIN pg_class y ON y.oid = e.refobjid WHERE y.relname IN ({list}) \
                             AND e.classid = 'pg_class'::regclass \
                             AND e.refclassid = 'pg_class'::regclass AND e.deptype IN ('a', 'i'))"
                        ),
                        _ => format!("{part} AND {column} IN ({list})"),
                    })
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        }
        // MariaDB looks a table up directly for `TABLE_NAME = ?` (a twentieth of a
        // millisecond a part and name, columns aside), but lists the schema's tables for
        // `IN (…)` (close to a millisecond a part among 600 tables): a part per name, except
        // for routines, which are not filed by table, and columns where one list costs less
        _ => {
            let mut values = Vec::new();
            let mut selects = Vec::new();
            let parts: Vec<&str> = catalog.sql.split(" UNION ALL ").collect();
            debug_assert_eq!(parts.len(), MYSQL_PARTS.len());
            for (part, (column, which)) in parts.iter().zip(MYSQL_PARTS) {
                if !which.wanted(parts_wanted) {
                    continue;
                }
                let listed = match which {
                    Part::Routines => true,
                    Part::Columns => parts_wanted.columns_in_one_select,
                    _ => false,
                };
                if listed {
                    let list = vec!["?"; names.len()].join(", ");
                    selects.push(format!("{part} AND {column} IN ({list})"));
                    values.extend(names.iter().map(|n| Value::from(*n)));
                } else {
                    for name in names {
                        selects.push(format!("{part} AND {column} = ?"));
                        values.push(Value::from(*name));
                    }
                }
            }
            return Statement::from_sql_and_values(backend, selects.join(" UNION ALL "), values);
        }
    };
    let values: Vec<Value> = names.iter().map(|n| Value::from(*n)).collect();
    Statement::from_sql_and_values(backend, sql, values)
}

/// The name column of each part of PostgreSQL's catalog statement, in order (`None`: left out
/// of [`guard_catalog_of`]), and when it is read.
const POSTGRES_PARTS: [(Option<&str>, Part); 14] = [
    (Some("c.relname"), Part::Always),
    (Some("c.relname"), Part::Always),
    (Some("c.relname"), Part::Views),
    (Some("t.relname"), Part::Always),
    (Some("c.relname"), Part::Always),
    (Some("c.relname"), Part::Triggers),
    (Some(OWNED_SEQUENCES), Part::Always),
    (Some("t.typname"), Part::Types),
    (Some("t.typname"), Part::Types),
    (Some("t.typname"), Part::Types),
    (Some("p.proname"), Part::Routines),
    (None, Part::Always),
    (Some("c.relname"), Part::Always),
    (None, Part::Always),
];

/// The sequences part, keyed by the sequence's name or its owning table's.
const OWNED_SEQUENCES: &str = "sequences";

/// Whether [`guard_catalog_of`] reads a part of the catalog statement always, or only with
/// one of [`CatalogParts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Always,
    /// Always, and MySQL's columns (read per name or in one list).
    Columns,
    Views,
    Triggers,
    Routines,
    References,
    Types,
}

impl Part {
    fn wanted(self, parts: CatalogParts) -> bool {
        match self {
            Part::Always | Part::Columns => true,
            Part::Views => parts.views,
            Part::Triggers => parts.triggers,
            Part::Routines => parts.routines,
            Part::References => parts.references,
            Part::Types => parts.types,
        }
    }
}

/// The name column of each part of MySQL's catalog statement, in order, and when it is read.
const MYSQL_PARTS: [(&str, Part); 8] = [
    ("TABLE_NAME", Part::Always),
    ("TABLE_NAME", Part::Columns),
    ("TABLE_NAME", Part::Always),
    ("TABLE_NAME", Part::Always),
    ("TABLE_NAME", Part::References),
    ("TABLE_NAME", Part::Views),
    ("EVENT_OBJECT_TABLE", Part::Triggers),
    ("ROUTINE_NAME", Part::Routines),
];

fn catalog_sql(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => {
            "SELECT CASE type WHEN 'table' THEN 'table' WHEN 'view' THEN 'view' ELSE 'rel' END AS k, \
               tbl_name AS t, type || ' ' || name || ' ' || coalesce(sql, '') AS d \
             FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        }
        // straight from the catalogs, deparsing only expressions (defaults, checks, index
        // expressions) and views and rules (their stored trees name tables by OID, which a
        // re-created table changes), and hashing bodies: a fraction of the cost of pg_indexes
        // and pg_get_constraintdef
        DbBackend::Postgres => {
            "SELECT CASE c.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'matview' \
               WHEN 'S' THEN 'sequence' ELSE 'table' END AS k, c.relname::text AS t, \
               'relation ' || c.relkind::text AS d \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S') \
               AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_class'::regclass \
                 AND e.objid = c.oid AND (e.deptype = 'e' OR (c.relkind = 'S' \
                 AND e.refclassid = 'pg_class'::regclass AND e.deptype IN ('a', 'i')))) \
             UNION ALL \
             SELECT 'rel', c.relname::text, 'column ' || a.attname || ' ' || a.atttypid::regtype::text \
               || ' ' || a.atttypmod::text || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
               LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm') \
             UNION ALL \
             SELECT 'rel', c.relname::text, 'rule ' || r.rulename || ' ' \
               || md5(CASE WHEN r.rulename = '_RETURN' THEN pg_get_viewdef(c.oid) \
                  ELSE pg_get_ruledef(r.oid) END) \
               FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class \
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT 'rel', t.relname::text, 'index ' || i.relname || ' ' || x.indkey::text || ' ' \
               || x.indisunique::text \
               || coalesce(' ' || pg_get_expr(x.indexprs, x.indrelid), '') \
               || coalesce(' where ' || pg_get_expr(x.indpred, x.indrelid), '') \
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
               JOIN pg_class t ON t.oid = x.indrelid \
               JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT 'rel', c.relname::text, 'constraint ' || con.conname || ' ' || con.contype::text \
               || ' ' || coalesce(con.conkey::text, '') \
               || coalesce(' references ' || nullif(con.confrelid, 0)::regclass::text || ' ' \
                  || con.confkey::text || ' ' || con.confupdtype::text || con.confdeltype::text, '') \
               || coalesce(' check ' || pg_get_expr(con.conbin, con.conrelid), '') \
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT 'rel', c.relname::text, 'trigger ' || g.tgname || ' ' || g.tgfoid::regprocedure::text \
               || ' ' || g.tgtype::text || ' ' || g.tgenabled::text \
               FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE NOT g.tgisinternal AND n.nspname = current_schema() \
             UNION ALL \
             SELECT 'rel', coalesce(o.relname, c.relname)::text, 'sequence ' || c.relname || ' ' \
               || s.seqtypid::regtype::text || ' ' || s.seqstart::text || ' ' || s.seqincrement::text \
               FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               LEFT JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                 AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
               LEFT JOIN pg_class o ON o.oid = d.refobjid \
               WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT 'type', t.typname::text, 'type ' || t.typtype::text \
               || coalesce(' ' || nullif(t.typbasetype, 0)::regtype::text, '') \
               || CASE WHEN t.typnotnull THEN ' not null' ELSE '' END \
               FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
               LEFT JOIN pg_class r ON r.oid = t.typrelid \
               WHERE n.nspname = current_schema() \
               AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND r.relkind = 'c')) \
               AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_type'::regclass \
                 AND e.objid = t.oid AND e.deptype = 'e') \
             UNION ALL \
             SELECT 'type', t.typname::text, 'label ' || e.enumsortorder::text || ' ' || e.enumlabel \
               FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid \
               JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT 'type', t.typname::text, 'attribute ' || a.attname || ' ' || a.atttypid::regtype::text \
               FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
               JOIN pg_class r ON r.oid = t.typrelid AND r.relkind = 'c' \
               JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 \
               WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT 'function', p.proname::text, 'function ' || p.prokind::text || ' ' \
               || p.prorettype::text || ' ' || md5(coalesce(p.prosrc, '')) || ' ' \
               || p.oid::regprocedure::text \
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
               WHERE n.nspname = current_schema() \
               AND NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = 'pg_proc'::regclass \
                 AND e.objid = p.oid AND e.deptype = 'e') \
             UNION ALL \
             SELECT 'extension', x.extname::text, 'extension ' || x.extversion FROM pg_extension x \
             UNION ALL \
             SELECT 'writes', c.relname::text, (pg_stat_get_xact_tuples_inserted(c.oid) \
               + pg_stat_get_xact_tuples_updated(c.oid) + pg_stat_get_xact_tuples_deleted(c.oid))::text \
               || ' ' || c.relfilenode::text || ' ' || now()::text || ' ' || pg_backend_pid()::text \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'm') \
               AND c.relname LIKE 'seaql\\_migrations%' \
             UNION ALL \
             SELECT 'opaque', e.evtname::text, 'event trigger' FROM pg_event_trigger e \
               WHERE e.evtenabled <> 'D'"
        }
        _ => {
            "SELECT CASE TABLE_TYPE WHEN 'VIEW' THEN 'view' WHEN 'SEQUENCE' THEN 'sequence' \
               ELSE 'table' END AS k, TABLE_NAME AS t, CONCAT('relation ', TABLE_TYPE) AS d \
               FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'rel', TABLE_NAME, CONCAT('column ', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE, \
               ' ', COALESCE(COLUMN_DEFAULT, 'no default'), ' ', EXTRA) \
               FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'rel', TABLE_NAME, CONCAT('index ', INDEX_NAME, ' ', SEQ_IN_INDEX, ' ', COLUMN_NAME, ' ', NON_UNIQUE) \
               FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'rel', TABLE_NAME, CONCAT('constraint ', CONSTRAINT_NAME, ' ', CONSTRAINT_TYPE) \
               FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'rel', TABLE_NAME, CONCAT('references ', CONSTRAINT_NAME, ' ', COLUMN_NAME, ' ', \
               REFERENCED_TABLE_NAME, ' ', REFERENCED_COLUMN_NAME) \
               FROM information_schema.KEY_COLUMN_USAGE \
               WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
             UNION ALL \
             SELECT 'rel', TABLE_NAME, CONCAT('view ', MD5(VIEW_DEFINITION)) \
               FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'rel', EVENT_OBJECT_TABLE, CONCAT('trigger ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', \
               EVENT_MANIPULATION, ' ', MD5(ACTION_STATEMENT)) \
               FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'function', ROUTINE_NAME, CONCAT(ROUTINE_TYPE, ' ', MD5(COALESCE(ROUTINE_DEFINITION, ''))) \
               FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
        }
    }
}

/// One statement reading every row of `tables` (version tables, and the progress table among
/// them) as rows `t` table, `k` key (the version; for the progress table the namespace) and
/// `v` the line describing the row. Where DDL is transactional (the runner compares whole
/// segments there), a version table comes as one row: its versions, sorted by their bytes and
/// joined with commas (see [`crate::schema::Snapshot::with_version_row`]), so that the
/// database does the work and the reading stays one row per chain.
pub(crate) fn read_all_rows(backend: DbBackend, tables: &[String]) -> SelectStatement {
    let aggregate = match backend {
        DbBackend::Sqlite => Some("coalesce(group_concat(version, ',' ORDER BY version), '')"),
        DbBackend::Postgres => {
            Some("coalesce(string_agg(version, ',' ORDER BY version COLLATE \"C\"), '')")
        }
        _ => None,
    };
    let mut selects = tables.iter().map(|table| {
        let literal = Expr::val(table.as_str());
        let mut select = Query::select();
        select.expr_as(literal.clone(), Alias::new("t"));
        match aggregate {
            // keyed by namespace, the line the version and the direction (as
            // `Snapshot::with_progress_row` writes it) or the checksum
            _ if table == PROGRESS_TABLE || table == CHECKSUM_TABLE => {
                let other = if table == PROGRESS_TABLE {
                    "direction"
                } else {
                    "checksum"
                };
                select
                    .expr_as(Expr::col(Alias::new("namespace")), Alias::new("k"))
                    .expr_as(
                        Expr::cust(if backend == DbBackend::MySql {
                            format!("CONCAT(version, ' ', {other})")
                        } else {
                            format!("version || ' ' || {other}")
                        }),
                        Alias::new("v"),
                    )
            }
            Some(joined) => select
                .expr_as(literal, Alias::new("k"))
                .expr_as(Expr::cust(joined), Alias::new("v")),
            None => select
                .expr_as(Expr::col(Alias::new("version")), Alias::new("k"))
                .expr_as(Expr::col(Alias::new("version")), Alias::new("v")),
        };
        select.from(Alias::new(table.as_str())).to_owned()
    });
    let mut query = selects.next().expect("at least one table");
    for select in selects {
        query.union(UnionType::All, select);
    }
    query
}

/// The columns of every table, in order, as rows `t` table, `c` column, `ty` type as the
/// database reports it, `nn` 1 when NOT NULL, `df` the default expression (or NULL), `ex`
/// anything else that defines the column (MySQL's `auto_increment`), `pk` the position in the
/// primary key on SQLite, whose rowid primary keys have no index (0 elsewhere).
pub(crate) fn catalog_columns(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, p.name AS c, p.type AS ty, p.\"notnull\" AS nn, \
               p.dflt_value AS df, p.pk AS pk, \
               CASE WHEN p.pk = 1 AND upper(m.sql) LIKE '%AUTOINCREMENT%' \
                 THEN 'auto_increment' ELSE '' END AS ex \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
        }
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t, a.attname::text AS c, \
               format_type(a.atttypid, a.atttypmod) AS ty, \
               CASE WHEN a.attnotnull THEN 1 ELSE 0 END AS nn, \
               pg_get_expr(d.adbin, d.adrelid) AS df, \
               CASE WHEN a.attidentity <> '' THEN 'identity' ELSE '' END AS ex, 0 AS pk \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             ORDER BY c.relname, a.attnum"
        }
        _ => {
            "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, \
               CASE WHEN IS_NULLABLE = 'NO' THEN 1 ELSE 0 END AS nn, \
               COLUMN_DEFAULT AS df, EXTRA AS ex, 0 AS pk \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             ORDER BY TABLE_NAME, ORDINAL_POSITION"
        }
    };
    Statement::from_string(backend, sql)
}

/// Every index's columns, as rows `t` table, `i` index name, `u` 1 when unique, `p` 1 for
/// the primary key, `c` column, `k` 1 when a UNIQUE constraint owns the index (SQLite and
/// PostgreSQL; a MySQL unique key is an index), ordered by position. Expression indexes are
/// left out.
pub(crate) fn catalog_indexes(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, l.name AS i, l.\"unique\" AS u, \
               CASE WHEN l.origin = 'pk' THEN 1 ELSE 0 END AS p, x.name AS c, \
               CASE WHEN l.origin = 'u' THEN 1 ELSE 0 END AS k \
             FROM sqlite_master m JOIN pragma_index_list(m.name) l \
             JOIN pragma_index_info(l.name) x \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND x.name IS NOT NULL \
             ORDER BY m.name, l.name, x.seqno"
        }
        DbBackend::Postgres => {
            "SELECT t.relname::text AS t, i.relname::text AS i, \
               CASE WHEN x.indisunique THEN 1 ELSE 0 END AS u, \
               CASE WHEN x.indisprimary THEN 1 ELSE 0 END AS p, a.attname::text AS c, \
               CASE WHEN EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid \
                 AND k.contype IN ('u', 'x')) THEN 1 ELSE 0 END AS k \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE n.nspname = current_schema() AND x.indexprs IS NULL \
             ORDER BY t.relname, i.relname, k.ord"
        }
        _ => {
            "SELECT TABLE_NAME AS t, INDEX_NAME AS i, CASE WHEN NON_UNIQUE = 0 THEN 1 ELSE 0 END AS u, \
               CASE WHEN INDEX_NAME = 'PRIMARY' THEN 1 ELSE 0 END AS p, COLUMN_NAME AS c, 0 AS k \
             FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IS NOT NULL \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        }
    };
    Statement::from_string(backend, sql)
}

/// Every foreign key's column pairs, as rows `t` table, `i` an identifier of the key, `rt`
/// the referenced table, `c` column, `rc` referenced column (NULL on SQLite when it is the
/// primary key), `ou`/`od` the ON UPDATE/ON DELETE action, ordered by position.
pub(crate) fn catalog_foreign_keys(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, CAST(f.id AS TEXT) AS i, f.\"table\" AS rt, f.\"from\" AS c, \
               f.\"to\" AS rc, f.on_update AS ou, f.on_delete AS od \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, f.id, f.seq"
        }
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t, con.conname::text AS i, r.relname::text AS rt, \
               a.attname::text AS c, ra.attname::text AS rc, \
               con.confupdtype::text AS ou, con.confdeltype::text AS od \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class r ON r.oid = con.confrelid \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(a1, a2, ord) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.a1 \
             JOIN pg_attribute ra ON ra.attrelid = r.oid AND ra.attnum = k.a2 \
             WHERE con.contype = 'f' AND n.nspname = current_schema() \
             ORDER BY c.relname, con.conname, k.ord"
        }
        _ => {
            "SELECT k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS i, k.REFERENCED_TABLE_NAME AS rt, \
               k.COLUMN_NAME AS c, k.REFERENCED_COLUMN_NAME AS rc, \
               r.UPDATE_RULE AS ou, r.DELETE_RULE AS od \
             FROM information_schema.KEY_COLUMN_USAGE k \
             JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
               ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
               AND r.TABLE_NAME = k.TABLE_NAME \
             WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        }
    };
    Statement::from_string(backend, sql)
}

/// A foreign key action as the catalog reports it, in SQL words (`CASCADE`, `SET NULL`…).
pub(crate) fn foreign_key_action(backend: DbBackend, raw: &str) -> String {
    match (backend, raw) {
        (DbBackend::Postgres, "a") => "NO ACTION",
        (DbBackend::Postgres, "r") => "RESTRICT",
        (DbBackend::Postgres, "c") => "CASCADE",
        (DbBackend::Postgres, "n") => "SET NULL",
        (DbBackend::Postgres, "d") => "SET DEFAULT",
        (_, other) => return other.to_uppercase(),
    }
    .to_owned()
}

/// Every foreign key of the current database/schema as (`from_table`, `to_table`) rows.
pub(crate) fn foreign_keys(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS from_table, p.\"table\" AS to_table FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'"
        }
        DbBackend::Postgres => {
            "SELECT cl.relname::text AS from_table, rf.relname::text AS to_table \
             FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid \
             JOIN pg_class rf ON rf.oid = con.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace \
             WHERE con.contype = 'f' AND n.nspname = current_schema()"
        }
        _ => {
            "SELECT TABLE_NAME AS from_table, REFERENCED_TABLE_NAME AS to_table \
             FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
        }
    };
    Statement::from_string(backend, sql)
}

/// PostgreSQL enum types used by columns, as (`type_name`, `table_name`) rows; `None` on
/// backends without named types.
pub(crate) fn enum_types_in_use(backend: DbBackend) -> Option<Statement> {
    match backend {
        DbBackend::Postgres => Some(Statement::from_string(
            backend,
            "SELECT t.typname::text AS type_name, c.relname::text AS table_name \
             FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace \
             LEFT JOIN pg_attribute a ON a.atttypid = t.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') \
             WHERE t.typtype = 'e' AND tn.nspname = current_schema()",
        )),
        _ => None,
    }
}

/// The text of a MySQL statement with its values written in as literals, for several
/// statements sent in one round trip (a prepared statement holds one). `None` when a value is
/// not a number or a string of letters, digits, `_`, `-`, `.`, `:` and spaces: no other
/// character needs no quoting under every `sql_mode` (a backslash escapes, or does not, with
/// `NO_BACKSLASH_ESCAPES`), so the caller sends such a statement prepared instead.
pub(crate) fn inline_mysql(stmt: &Statement) -> Option<String> {
    use sea_orm::sea_query::Value;
    let values = stmt.values.as_ref().map_or(&[][..], |v| v.0.as_slice());
    let mut values = values.iter();
    let mut out = String::with_capacity(stmt.sql.len() + 64);
    let mut quote: Option<char> = None;
    for c in stmt.sql.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '`' | '\'' | '"') => quote = Some(c),
            (None, '?') => {
                let literal = match values.next()? {
                    Value::BigInt(Some(n)) => n.to_string(),
                    Value::Int(Some(n)) => n.to_string(),
                    Value::BigUnsigned(Some(n)) => n.to_string(),
                    Value::String(Some(text))
                        if text
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_-.: ".contains(c)) =>
                    {
                        format!("'{text}'")
                    }
                    _ => return None,
                };
                out.push_str(&literal);
                continue;
            }
            (None, _) => {}
        }
        out.push(c);
    }
    // every value used, and no quote left open
    (values.next().is_none() && quote.is_none()).then_some(out)
}

/// Quotes an identifier for `backend`.
/// MySQL: locks the tables (or views) `names` on this session for reading, without waiting
/// for a lock another session holds (MariaDB; MySQL 8 waits a second at most), the session's
/// lock wait restored afterwards. Another session's DDL on them waits until `UNLOCK TABLES`.
pub(crate) fn lock_for_reading(names: &std::collections::BTreeSet<String>) -> String {
    let list = names
        .iter()
        .map(|name| format!("{} READ", quote(DbBackend::MySql, name)))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SET SESSION lock_wait_timeout = 0; LOCK TABLES {list}; \
         SET SESSION lock_wait_timeout = DEFAULT"
    )
}

pub(crate) fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// The order in which a chain's objects are dropped, by kind: what depends on others first
/// (views on tables and functions; tables on functions, sequences and types; functions on
/// types). PostgreSQL tells when something else stands in the way, and the drop retries.
pub(crate) const DROP_ORDER: [ObjectKind; 6] = [
    ObjectKind::View,
    ObjectKind::MaterializedView,
    ObjectKind::Table,
    ObjectKind::Function,
    ObjectKind::Sequence,
    ObjectKind::Type,
];

/// Statements that drop `objects` of one `kind` (each with the lines its snapshot holds).
/// Tables come in dependency order (referencing first); PostgreSQL drops each kind in one
/// statement, which handles dependencies among them; MySQL drops tables with foreign key
/// checks off meanwhile, since the order is already right and a cycle would block it.
pub(crate) fn drop_objects(
    backend: DbBackend,
    kind: ObjectKind,
    objects: &[(&str, &BTreeSet<String>)],
) -> Vec<Statement> {
    if objects.is_empty() {
        return Vec::new();
    }
    let names = || {
        objects
            .iter()
            .map(|(n, _)| quote(backend, n))
            .collect::<Vec<_>>()
    };
    let sql: Vec<String> = match (backend, kind) {
        (DbBackend::Postgres, ObjectKind::Function) => {
            // every overload, by its signature: the last word of its `function` line
            let signatures: Vec<&str> = objects
                .iter()
                .flat_map(|(_, lines)| lines.iter())
                .filter_map(|l| l.strip_prefix("function "))
                .filter_map(|l| l.splitn(4, ' ').nth(3))
                .collect();
            vec![format!("DROP ROUTINE {}", signatures.join(", "))]
        }
        (DbBackend::Postgres, _) => {
            let word = match kind {
                ObjectKind::View => "VIEW",
                ObjectKind::MaterializedView => "MATERIALIZED VIEW",
                ObjectKind::Sequence => "SEQUENCE IF EXISTS",
                ObjectKind::Type => "TYPE",
                _ => "TABLE",
            };
            vec![format!("DROP {word} {}", names().join(", "))]
        }
        (DbBackend::MySql, ObjectKind::Table) => {
            let mut sql = vec!["SET FOREIGN_KEY_CHECKS = 0".to_owned()];
            sql.extend(names().into_iter().map(|n| format!("DROP TABLE {n}")));
            sql.push("SET FOREIGN_KEY_CHECKS = 1".to_owned());
            sql
        }
        (DbBackend::MySql, ObjectKind::Function) => objects
            .iter()
            .flat_map(|(name, lines)| {
                lines.iter().filter_map(move |l| {
                    let routine = l.split(' ').next().unwrap_or("FUNCTION");
                    matches!(routine, "FUNCTION" | "PROCEDURE")
                        .then(|| format!("DROP {routine} IF EXISTS {}", quote(backend, name)))
                })
            })
            .collect(),
        (_, ObjectKind::View) => names()
            .into_iter()
            .map(|n| format!("DROP VIEW {n}"))
            .collect(),
        (_, ObjectKind::Sequence) => names()
            .into_iter()
            .map(|n| format!("DROP SEQUENCE IF EXISTS {n}"))
            .collect(),
        _ => names()
            .into_iter()
            .map(|n| format!("DROP TABLE {n}"))
            .collect(),
    };
    sql.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}

/// Views, triggers and routines with their definitions, as rows `k` kind (`view`, `trigger`,
/// `function`), `n` name, `o` the table a trigger is on (else the name), `b` the definition;
/// for the backends that do not track what a definition depends on (SQLite, MySQL), so that a
/// scoped drop can tell whether an object outside the chain names one of its objects.
/// `None` on PostgreSQL, which refuses such a drop itself.
pub(crate) fn definitions(backend: DbBackend) -> Option<Statement> {
    let sql = match backend {
        DbBackend::Postgres => return None,
        DbBackend::Sqlite => {
            "SELECT type AS k, name AS n, tbl_name AS o, coalesce(sql, '') AS b FROM sqlite_master \
             WHERE type IN ('view', 'trigger')"
        }
        _ => {
            "SELECT 'view' AS k, TABLE_NAME AS n, TABLE_NAME AS o, VIEW_DEFINITION AS b \
               FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'trigger', TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT \
               FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT 'function', ROUTINE_NAME, ROUTINE_NAME, COALESCE(ROUTINE_DEFINITION, '') \
               FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()"
        }
    };
    Some(Statement::from_string(backend, sql))
}

/// Whether PostgreSQL refused a drop because other objects depend on what it drops
/// (SQLSTATE 2BP01).
pub(crate) fn is_dependency_error(err: &sea_orm::DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        sea_orm::DbErr::Exec(RuntimeErr::SqlxError(e))
        | sea_orm::DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .is_some_and(|c| c == "2BP01"),
        _ => false,
    }
}

/// Seconds since the Unix epoch, as sea-orm-migration records `applied_at`.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_table_is_sea_orm_migrations_with_a_bounded_version_on_every_backend() {
        use sea_orm::Schema;
        use sea_orm_migration::seaql_migrations;
        let stock = |b: DbBackend| {
            let mut stmt = Schema::new(b).create_table_from_entity(seaql_migrations::Entity);
            stmt.table(Alias::new("seaql_migrations_a")).if_not_exists();
            b.build(&stmt).to_string()
        };
        let ours = |b: DbBackend| {
            b.build(&create_version_table("seaql_migrations_a"))
                .to_string()
        };
        // MySQL: the very text sea-orm-migration sends
        assert_eq!(ours(DbBackend::MySql), stock(DbBackend::MySql));
        // PostgreSQL: the same but for the bound, which spares the TOAST table
        assert_eq!(
            ours(DbBackend::Postgres),
            stock(DbBackend::Postgres).replace("\"version\" varchar", "\"version\" varchar(255)")
        );
        assert!(
            ours(DbBackend::Postgres).contains("\"version\" varchar(255) NOT NULL PRIMARY KEY")
        );
        assert!(ours(DbBackend::Sqlite).contains("\"version\" varchar(255) NOT NULL PRIMARY KEY"));
    }

    #[test]
    fn only_plain_values_are_written_into_a_mysql_statements_text() {
        let b = DbBackend::MySql;
        let insert = b.build(&insert_version(
            "seaql_migrations_a",
            "m20260101_000001_x",
            7,
        ));
        assert_eq!(
            inline_mysql(&insert).as_deref(),
            Some(
                "INSERT INTO `seaql_migrations_a` (`version`, `applied_at`) \
                 VALUES ('m20260101_000001_x', 7)"
            )
        );
        let upsert = b.build(&insert_progress("a", "m20260101_000002_y", "up"));
        let text = inline_mysql(&upsert).expect("plain values");
        assert!(
            text.contains("VALUES ('a', 'm20260101_000002_y', 'up', "),
            "{text}"
        );
        assert!(!text.contains('?'), "{text}");
        // a question mark in a quoted name is not a placeholder
        let odd = Statement::from_sql_and_values(b, "DELETE FROM `t?` WHERE v = ?", ["m".into()]);
        assert_eq!(
            inline_mysql(&odd).as_deref(),
            Some("DELETE FROM `t?` WHERE v = 'm'")
        );
        // what a careless or hostile migration name may hold is never written in
        for name in [
            "m1'; DROP TABLE users; --",
            "m1\\",
            "m1\"",
            "m1`",
            "m1\n",
            "m1\u{0}",
            "m\u{e9}",
        ] {
            let stmt = b.build(&insert_version("seaql_migrations_a", name, 7));
            assert_eq!(inline_mysql(&stmt), None, "{name:?}");
        }
        // values and placeholders must match
        let short = Statement::from_sql_and_values(b, "SELECT ?, ?", [1i64.into()]);
        assert_eq!(inline_mysql(&short), None);
        let long = Statement::from_sql_and_values(b, "SELECT ?", [1i64.into(), 2i64.into()]);
        assert_eq!(inline_mysql(&long), None);
    }

    #[test]
    fn a_postgres_read_of_names_reads_optional_parts_only_when_asked() {
        let names = ["ext_a_t", "ext_a_u"];
        let optional = ["pg_rewrite", "pg_trigger", "pg_enum", "pg_proc", "pg_type"];
        let some = guard_catalog_of(DbBackend::Postgres, &names, CatalogParts::default());
        for catalog in optional {
            assert!(!some.sql.contains(catalog), "{catalog}: {}", some.sql);
        }
        for catalog in ["pg_attribute", "pg_index", "pg_constraint", "pg_sequence"] {
            assert!(some.sql.contains(catalog), "{catalog}: {}", some.sql);
        }
        assert_eq!(some.values.as_ref().map(|v| v.0.len()), Some(2));
        let all = guard_catalog_of(DbBackend::Postgres, &names, CatalogParts::ALL);
        for catalog in optional {
            assert!(all.sql.contains(catalog), "{catalog}: {}", all.sql);
        }
        let types = CatalogParts {
            types: true,
            ..CatalogParts::default()
        };
        let with_types = guard_catalog_of(DbBackend::Postgres, &names, types);
        assert_eq!(with_types.sql.matches("t.typname IN").count(), 3);
        assert!(!with_types.sql.contains("pg_proc"));
    }

    #[test]
    fn a_mysql_read_of_names_looks_each_up_and_reads_optional_parts_only_when_asked() {
        let names = ["ext_a_t", "ext_a_u"];
        let placeholders = |s: &Statement| s.sql.matches('?').count();
        let some = guard_catalog_of(DbBackend::MySql, &names, CatalogParts::default());
        // four parts always, each once per name; no list that makes MariaDB list the schema
        assert_eq!(some.sql.matches(" UNION ALL ").count(), 7, "{}", some.sql);
        assert!(!some.sql.contains(" IN ("), "{}", some.sql);
        for part in ["KEY_COLUMN_USAGE", "VIEWS", "TRIGGERS", "ROUTINES"] {
            assert!(!some.sql.contains(part), "{part}: {}", some.sql);
        }
        let values = some.values.as_ref().map_or(0, |v| v.0.len());
        assert_eq!(values, placeholders(&some));
        let keys = CatalogParts {
            references: true,
            ..CatalogParts::default()
        };
        let with_keys = guard_catalog_of(DbBackend::MySql, &names, keys);
        assert_eq!(with_keys.sql.matches("KEY_COLUMN_USAGE").count(), 2);
        let all = guard_catalog_of(DbBackend::MySql, &names, CatalogParts::ALL);
        for part in ["KEY_COLUMN_USAGE", "VIEWS", "TRIGGERS", "ROUTINES"] {
            assert!(all.sql.contains(part), "{part}: {}", all.sql);
        }
        // routines are not filed by table: one list for them
        assert!(all.sql.contains("ROUTINE_NAME IN (?, ?)"), "{}", all.sql);
        let values = all.values.as_ref().map_or(0, |v| v.0.len());
        assert_eq!(values, placeholders(&all));
        assert_eq!(values, 2 * 7 + 2);
        // columns in one list where asked: the same selects otherwise
        let listed = CatalogParts {
            columns_in_one_select: true,
            ..CatalogParts::default()
        };
        let listed = guard_catalog_of(DbBackend::MySql, &names, listed);
        assert_eq!(
            listed.sql.matches(" UNION ALL ").count(),
            6,
            "{}",
            listed.sql
        );
        assert_eq!(listed.sql.matches("COLUMNS WHERE").count(), 1);
        assert!(
            listed.sql.contains("TABLE_NAME IN (?, ?)"),
            "{}",
            listed.sql
        );
        let values = listed.values.as_ref().map_or(0, |v| v.0.len());
        assert_eq!(values, placeholders(&listed));
    }

    #[test]
    fn mysql_reads_columns_in_one_list_where_the_schema_is_small_for_the_names() {
        assert!(!mysql_columns_in_one_select(1, 0));
        assert!(mysql_columns_in_one_select(2, 100));
        assert!(!mysql_columns_in_one_select(2, 500));
        assert!(mysql_columns_in_one_select(11, 550));
        assert!(!mysql_columns_in_one_select(11, 5000));
    }

    #[test]
    fn the_state_read_is_made_once_for_the_same_tables() {
        let tables = [("engine", "seaql_migrations"), ("a", "seaql_migrations_a")];
        let first = read_versions(DbBackend::Postgres, &tables, true, false).sql;
        assert_eq!(
            read_versions(DbBackend::Postgres, &tables, true, false).sql,
            first
        );
        // anything else that makes the text makes it again
        let fewer = read_versions(DbBackend::Postgres, &tables[..1], true, false).sql;
        assert!(!fewer.contains("seaql_migrations_a"), "{fewer}");
        let other = [("engine", "seaql_migrations"), ("b", "seaql_migrations_b")];
        let renamed = read_versions(DbBackend::Postgres, &other, true, false).sql;
        assert!(renamed.contains("seaql_migrations_b"), "{renamed}");
        let mysql = read_versions(DbBackend::MySql, &other, true, false).sql;
        assert!(mysql.contains("`seaql_migrations_b`"), "{mysql}");
        let checksums = read_versions(DbBackend::MySql, &other, true, true).sql;
        assert!(checksums.contains(CHECKSUM_TABLE), "{checksums}");
        let no_progress = read_versions(DbBackend::MySql, &other, false, true).sql;
        assert!(!no_progress.contains(PROGRESS_TABLE), "{no_progress}");
        assert_eq!(
            read_versions(DbBackend::Postgres, &tables, true, false).sql,
            first
        );
    }

    #[test]
    fn all_version_tables_are_read_in_one_statement() {
        let tables = [
            ("engine", "seaql_migrations"),
            ("acme", "seaql_migrations_acme"),
        ];
        let pg = read_versions(DbBackend::Postgres, &tables, true, true).sql;
        assert_eq!(pg.matches("SELECT").count(), 4, "{pg}");
        assert_eq!(pg.matches(" UNION ALL ").count(), 3, "{pg}");
        assert!(pg.contains(r#"FROM "seaql_migrations_acme""#), "{pg}");
        assert!(
            pg.contains(r#"SELECT 1 AS chain, version, applied_at FROM "seaql_migrations_acme""#),
            "{pg}"
        );
        assert!(
            pg.contains("CAST(json_build_array(namespace, direction, version) AS TEXT)"),
            "{pg}"
        );
        let mysql = read_versions(DbBackend::MySql, &tables, false, false).sql;
        assert!(
            mysql.starts_with("SELECT 0 AS chain, version, applied_at FROM `seaql_migrations`"),
            "{mysql}"
        );
        let sqlite = read_versions(DbBackend::Sqlite, &tables, false, true).sql;
        assert!(sqlite.contains("group_concat(version"), "{sqlite}");
        assert!(sqlite.contains("json_group_array("), "{sqlite}");
        let progress_only = read_versions(DbBackend::Sqlite, &[], true, false).sql;
        assert!(
            progress_only.starts_with("SELECT -1 AS chain, json_array(namespace, direction"),
            "{progress_only}"
        );
    }

    #[test]
    fn enum_label_counts_are_read_back_from_the_probe() {
        let parsed = parse_enum_labels(Some("mood 3,odd name 2"));
        assert_eq!(parsed.get("mood"), Some(&3));
        assert_eq!(parsed.get("odd name"), Some(&2));
        assert!(parse_enum_labels(None).is_empty());
    }

    #[test]
    fn transactions_follow_the_backend_unless_the_migration_says_otherwise() {
        assert!(transactional_ddl(DbBackend::Postgres));
        assert!(transactional_ddl(DbBackend::Sqlite));
        assert!(!transactional_ddl(DbBackend::MySql));
    }
}
