//! Writes a migration holding a [`Drift`]: readable sea-query builder code, `down` reversing
//! `up`, portable across SQLite, PostgreSQL and MySQL.
//!
//! What the entities declare is written from the entities' own column definitions (so an
//! `i64` stays `big_integer()` even when the scratch database was SQLite, which stores both
//! as `integer`). What only the migrations have (a dropped table or column, the old form of
//! a changed column) is written from the catalog of the scratch database.
//!
//! SQLite cannot change a column or a foreign key in place: where a table needs that, the
//! migration rebuilds it on SQLite ([`rebuild_sqlite_table`](crate::rebuild_sqlite_table))
//! and alters it in place elsewhere.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sea_orm::DbBackend;
use sea_orm::sea_query::{ColumnDef, ColumnType, Expr, StringLen, Value};

use crate::catalog::{ColumnModel, ForeignKeyModel, IndexModel, TableModel};
use crate::drift::{Change, Drift};
use crate::entities::order_by_references;
use crate::error::Error;

/// A migration written by [`generate`].
#[derive(Debug, Clone)]
pub struct GeneratedMigration {
    /// The Rust source of the migration module.
    pub source: String,
    /// One line per difference it holds, as `check` prints them.
    pub changes: Vec<String>,
    /// Whether rustfmt formatted it (it is written unformatted when rustfmt is missing).
    pub formatted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    Sqlite,
    NotSqlite,
}

struct Step {
    only: Only,
    up: String,
    down: String,
}

fn lit(s: &str) -> String {
    format!("{s:?}")
}

fn cols(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| format!(".col({})", lit(c)))
        .collect()
}

fn type_code(ty: &ColumnType) -> String {
    let len = |l: &StringLen, with: &str, without: &str| match l {
        StringLen::N(n) => format!(".{with}({n})"),
        _ => format!(".{without}()"),
    };
    match ty {
        ColumnType::Char(Some(n)) => format!(".char_len({n})"),
        ColumnType::Char(None) => ".char()".into(),
        ColumnType::String(l) => len(l, "string_len", "string"),
        ColumnType::Text => ".text()".into(),
        ColumnType::Blob => ".blob()".into(),
        ColumnType::TinyInteger => ".tiny_integer()".into(),
        ColumnType::SmallInteger => ".small_integer()".into(),
        ColumnType::Integer => ".integer()".into(),
        ColumnType::BigInteger => ".big_integer()".into(),
        ColumnType::TinyUnsigned => ".tiny_unsigned()".into(),
        ColumnType::SmallUnsigned => ".small_unsigned()".into(),
        ColumnType::Unsigned => ".unsigned()".into(),
        ColumnType::BigUnsigned => ".big_unsigned()".into(),
        ColumnType::Float => ".float()".into(),
        ColumnType::Double => ".double()".into(),
        ColumnType::Decimal(Some((p, s))) => format!(".decimal_len({p}, {s})"),
        ColumnType::Decimal(None) => ".decimal()".into(),
        ColumnType::DateTime => ".date_time()".into(),
        ColumnType::Timestamp => ".timestamp()".into(),
        ColumnType::TimestampWithTimeZone => ".timestamp_with_time_zone()".into(),
        ColumnType::Time => ".time()".into(),
        ColumnType::Date => ".date()".into(),
        ColumnType::Year => ".year()".into(),
        ColumnType::Binary(n) => format!(".binary_len({n})"),
        ColumnType::VarBinary(l) => match l {
            StringLen::N(n) => format!(".var_binary({n})"),
            _ => ".custom(\"varbinary\")".into(),
        },
        ColumnType::Boolean => ".boolean()".into(),
        ColumnType::Money(Some((p, s))) => format!(".money_len({p}, {s})"),
        ColumnType::Money(None) => ".money()".into(),
        ColumnType::Json => ".json()".into(),
        ColumnType::JsonBinary => ".json_binary()".into(),
        ColumnType::Uuid => ".uuid()".into(),
        ColumnType::Custom(name) => format!(".custom({})", lit(&name.to_string())),
        ColumnType::Enum { name, variants } => format!(
            ".enumeration({}, [{}])",
            lit(&name.to_string()),
            variants
                .iter()
                .map(|v| lit(&v.to_string()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ColumnType::Cidr => ".cidr()".into(),
        ColumnType::Inet => ".inet()".into(),
        ColumnType::MacAddr => ".mac_address()".into(),
        other => format!(".custom({})", lit(&format!("{other:?}"))),
    }
}

/// A type as the catalog reports it, as builder code.
fn raw_type_code(backend: DbBackend, raw: &str) -> String {
    let lower = raw.trim().to_lowercase();
    let (name, args) = match lower.split_once('(') {
        Some((n, rest)) => (
            n.trim().to_owned(),
            rest.split(')').next().unwrap_or("").to_owned(),
        ),
        None => (lower.clone(), String::new()),
    };
    let unsigned = lower.ends_with(" unsigned");
    let nums: Vec<u32> = args
        .split(',')
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    let first = nums.first().copied();
    match (backend, name.as_str(), unsigned) {
        (_, "bigint", false) => ".big_integer()".into(),
        (_, "bigint", true) => ".big_unsigned()".into(),
        (DbBackend::MySql, "int", false) | (_, "integer", false) => ".integer()".into(),
        (DbBackend::MySql, "int", true) => ".unsigned()".into(),
        (_, "smallint", false) => ".small_integer()".into(),
        (_, "smallint", true) => ".small_unsigned()".into(),
        (DbBackend::MySql, "tinyint", _) if first == Some(1) => ".boolean()".into(),
        (_, "tinyint", false) => ".tiny_integer()".into(),
        (_, "tinyint", true) => ".tiny_unsigned()".into(),
        (_, "varchar" | "character varying", _) => match first {
            Some(n) => format!(".string_len({n})"),
            None => ".string()".into(),
        },
        (_, "char" | "character", _) => match first {
            Some(n) => format!(".char_len({n})"),
            None => ".char()".into(),
        },
        (_, "text", _) => ".text()".into(),
        (_, "boolean" | "bool", _) => ".boolean()".into(),
        (_, "float" | "real", _) if nums.len() < 2 => ".float()".into(),
        (_, "double" | "double precision", _) => ".double()".into(),
        (_, "decimal" | "numeric" | "real", _) if nums.len() == 2 => {
            format!(".decimal_len({}, {})", nums[0], nums[1])
        }
        (_, "decimal" | "numeric" | "real_decimal", _) => ".decimal()".into(),
        (DbBackend::Postgres, "timestamp without time zone", _)
        | (_, "datetime" | "datetime_text", _) => ".date_time()".into(),
        (DbBackend::Postgres, "timestamp with time zone", _)
        | (DbBackend::MySql, "timestamp", _)
        | (_, "timestamp_with_timezone_text", _) => ".timestamp_with_time_zone()".into(),
        (_, "timestamp_text", _) => ".timestamp()".into(),
        (_, "date" | "date_text", _) => ".date()".into(),
        (_, "time" | "time without time zone" | "time_text", _) => ".time()".into(),
        (_, "uuid" | "uuid_text", _) => ".uuid()".into(),
        (_, "json" | "json_text", _) => ".json()".into(),
        (_, "jsonb" | "jsonb_text", _) => ".json_binary()".into(),
        (_, "blob" | "bytea", _) if first.is_none() => ".blob()".into(),
        (_, "blob" | "binary", _) => format!(".binary_len({})", first.unwrap_or(1)),
        _ => format!(".custom({})", lit(raw.trim())),
    }
}

/// A default expression as the catalog reports it, as builder code (empty when there is none
/// or it stands for auto-increment).
fn raw_default_code(backend: DbBackend, raw: Option<&str>) -> String {
    let Some(raw) = raw.map(str::trim) else {
        return String::new();
    };
    let lower = raw.to_lowercase();
    if lower == "null" || lower.starts_with("nextval(") {
        return String::new();
    }
    if lower == "current_timestamp" || lower == "current_timestamp()" || lower == "now()" {
        return ".default(Expr::current_timestamp())".into();
    }
    if lower == "true" || lower == "false" {
        return format!(".default({lower})");
    }
    // 'text' or 'text'::type
    let unquoted = raw
        .strip_prefix('\'')
        .and_then(|r| r.rsplit_once('\''))
        .filter(|(_, rest)| rest.is_empty() || rest.starts_with("::"))
        .map(|(inner, _)| inner.replace("''", "'"));
    if let Some(text) = unquoted {
        return format!(".default({})", lit(&text));
    }
    let number = raw.trim_start_matches('(').trim_end_matches(')');
    if number.parse::<i64>().is_ok() || number.parse::<f64>().is_ok() {
        return format!(".default({number})");
    }
    if backend == DbBackend::MySql {
        // MySQL reports text defaults without quotes
        return format!(".default({})", lit(raw));
    }
    format!(".default(Expr::cust({}))", lit(raw))
}

fn value_code(value: &Value) -> Option<String> {
    Some(match value {
        Value::Bool(Some(b)) => b.to_string(),
        Value::TinyInt(Some(n)) => n.to_string(),
        Value::SmallInt(Some(n)) => n.to_string(),
        Value::Int(Some(n)) => n.to_string(),
        Value::BigInt(Some(n)) => n.to_string(),
        Value::TinyUnsigned(Some(n)) => n.to_string(),
        Value::SmallUnsigned(Some(n)) => n.to_string(),
        Value::Unsigned(Some(n)) => n.to_string(),
        Value::BigUnsigned(Some(n)) => n.to_string(),
        Value::Float(Some(n)) => format!("{n:?}f32"),
        Value::Double(Some(n)) => format!("{n:?}"),
        Value::String(Some(s)) => lit(s),
        Value::Char(Some(c)) => lit(&c.to_string()),
        _ => return None,
    })
}

fn expr_sql(backend: DbBackend, expr: &Expr) -> String {
    let stmt = sea_orm::sea_query::Query::select()
        .expr(expr.clone())
        .to_owned();
    let sql = backend.build(&stmt).to_string();
    sql.strip_prefix("SELECT ").unwrap_or(&sql).to_owned()
}

/// An entity's column (from `Schema::create_table_from_entity`) as builder code, without
/// primary key or uniqueness (those are written as the table's primary key and as indexes).
fn entity_column_code(backend: DbBackend, column: &ColumnDef, in_primary_key: bool) -> String {
    let name = column.get_column_name();
    let spec = column.get_column_spec();
    let mut out = format!("ColumnDef::new({})", lit(&name));
    if let Some(ty) = column.get_column_type() {
        out.push_str(&type_code(ty));
    }
    out.push_str(if spec.nullable == Some(false) || in_primary_key {
        ".not_null()"
    } else {
        ".null()"
    });
    if spec.auto_increment {
        out.push_str(".auto_increment()");
    }
    if let Some(default) = &spec.default {
        match default {
            Expr::Value(v) | Expr::Constant(v) if value_code(v).is_some() => {
                let _ = write!(out, ".default({})", value_code(v).unwrap_or_default());
            }
            other => {
                let sql = expr_sql(backend, other);
                if sql.eq_ignore_ascii_case("CURRENT_TIMESTAMP") {
                    out.push_str(".default(Expr::current_timestamp())");
                } else {
                    let _ = write!(out, ".default(Expr::cust({}))", lit(&sql));
                }
            }
        }
    }
    out
}

/// A column as the catalog reports it, as builder code.
fn catalog_column_code(backend: DbBackend, column: &ColumnModel) -> String {
    let mut out = format!(
        "ColumnDef::new({}){}",
        lit(&column.name),
        raw_type_code(backend, &column.sql_type)
    );
    out.push_str(if column.nullable {
        ".null()"
    } else {
        ".not_null()"
    });
    let auto = column.extra.contains("auto_increment")
        || column.extra.contains("identity")
        || column
            .default
            .as_deref()
            .is_some_and(|d| d.starts_with("nextval("));
    if auto {
        out.push_str(".auto_increment()");
    }
    out.push_str(&raw_default_code(backend, column.default.as_deref()));
    out
}

fn action_code(action: &str) -> Option<&'static str> {
    match action {
        "CASCADE" => Some("ForeignKeyAction::Cascade"),
        "SET NULL" => Some("ForeignKeyAction::SetNull"),
        "SET DEFAULT" => Some("ForeignKeyAction::SetDefault"),
        "RESTRICT" => Some("ForeignKeyAction::Restrict"),
        _ => None,
    }
}

fn limit_name(name: String) -> String {
    if name.len() <= 63 {
        name
    } else {
        name.chars().take(63).collect()
    }
}

/// The name generated migrations give a foreign key they create, the same whichever backend
/// the comparison ran on, so that a later migration can drop it by name.
pub(crate) fn fk_create_name(table: &str, key: &ForeignKeyModel) -> String {
    limit_name(format!("fk_{table}_{}", key.columns.join("_")))
}

/// The name of an existing foreign key: its own, or where the catalog keeps none (SQLite),
/// the name generated migrations give (see [`fk_create_name`]).
fn fk_name(backend: DbBackend, table: &str, key: &ForeignKeyModel) -> String {
    if backend == DbBackend::Sqlite || key.name.chars().all(|c| c.is_ascii_digit()) {
        fk_create_name(table, key)
    } else {
        key.name.clone()
    }
}

/// A comment for a foreign key dropped by a name SQLite could not tell.
fn fk_name_note(backend: DbBackend) -> &'static str {
    if backend == DbBackend::Sqlite {
        "// SQLite keeps no foreign key names: this is the name generated migrations give; \
         compare on PostgreSQL or MySQL (--database-url) for the real one\n"
    } else {
        ""
    }
}

fn fk_body(name: &str, table: &str, key: &ForeignKeyModel) -> String {
    let mut out = format!("ForeignKey::create().name({})", lit(name));
    let _ = write!(out, ".from_tbl({})", lit(table));
    for c in &key.columns {
        let _ = write!(out, ".from_col({})", lit(c));
    }
    let _ = write!(out, ".to_tbl({})", lit(&key.ref_table));
    for c in &key.ref_columns {
        let _ = write!(out, ".to_col({})", lit(c));
    }
    if let Some(a) = action_code(&key.on_delete) {
        let _ = write!(out, ".on_delete({a})");
    }
    if let Some(a) = action_code(&key.on_update) {
        let _ = write!(out, ".on_update({a})");
    }
    out
}

/// The name an index is created with: its own, unless the database or SeaORM made it up (a
/// UNIQUE constraint's, SeaORM's `idx-{table}-{column}` for an `indexed` attribute): those get
/// the project's convention, `idx_{table}_{columns}` (`uq_…` when unique).
pub(crate) fn index_name(table: &str, index: &IndexModel) -> String {
    let generated = index.name.starts_with("sqlite_autoindex")
        || index.name.starts_with(&format!("idx-{table}-"))
        || index.name.ends_with("_key")
        || index.name.chars().all(|c| c.is_ascii_digit());
    if generated || index.name.is_empty() {
        let prefix = if index.unique { "uq" } else { "idx" };
        limit_name(format!("{prefix}_{table}_{}", index.columns.join("_")))
    } else {
        index.name.clone()
    }
}

fn create_index_code(table: &str, name: &str, index: &IndexModel) -> String {
    format!(
        "manager.create_index(Index::create().name({}).table({}){}{}.to_owned()).await?;",
        lit(name),
        lit(table),
        cols(&index.columns),
        if index.unique { ".unique()" } else { "" }
    )
}

fn drop_index_code(table: &str, name: &str) -> String {
    format!(
        "manager.drop_index(Index::drop().name({}).table({}).to_owned()).await?;",
        lit(name),
        lit(table)
    )
}

fn index_stmt(table: &str, name: &str, index: &IndexModel) -> String {
    format!(
        "Index::create().name({}).table({}){}{}.to_owned()",
        lit(name),
        lit(table),
        cols(&index.columns),
        if index.unique { ".unique()" } else { "" }
    )
}

struct Writer<'a> {
    drift: &'a Drift,
    backend: DbBackend,
}

impl<'a> Writer<'a> {
    fn new(drift: &'a Drift) -> Self {
        Self {
            drift,
            backend: drift.backend,
        }
    }

    fn declared(&self, table: &str) -> &TableModel {
        &self.drift.declared.tables[table]
    }

    fn migrated(&self, table: &str) -> &TableModel {
        &self.drift.migrated.tables[table]
    }

    /// A column of the migrations' database as builder code. SQLite reports `integer` for
    /// both 32- and 64-bit integers; key columns are taken as 64-bit, as SeaORM's ids are, so
    /// that foreign keys recreated from an SQLite comparison still match on MySQL.
    fn migrated_column_code(&self, table: &str, column: &ColumnModel) -> String {
        let is_key = |t: &str, c: &str| {
            self.drift.migrated.tables.get(t).is_some_and(|m| {
                m.primary_key.iter().any(|p| p == c)
                    || m.foreign_keys
                        .iter()
                        .any(|k| k.columns.iter().any(|x| x == c))
            })
        };
        if self.backend == DbBackend::Sqlite
            && column.sql_type.eq_ignore_ascii_case("integer")
            && is_key(table, &column.name)
        {
            let mut wide = column.clone();
            wide.sql_type = "bigint".to_owned();
            return catalog_column_code(self.backend, &wide);
        }
        catalog_column_code(self.backend, column)
    }

    fn in_scope(&self, table: &str) -> bool {
        self.drift.migrated.tables.contains_key(table)
            || self.drift.declared.tables.contains_key(table)
    }

    fn entity_column(&self, table: &str, column: &str) -> Option<String> {
        let stmt = self.drift.portable.table(table)?;
        let def = stmt
            .get_columns()
            .iter()
            .find(|c| c.get_column_name() == column)?;
        let pk = &self.declared(table).primary_key;
        Some(entity_column_code(
            self.backend,
            def,
            pk.iter().any(|p| p == column),
        ))
    }

    /// The builder code of a whole `Table::create()` for `table` as the entities declare it
    /// (`declared`) or as the migrations produce it.
    fn table_create(&self, table: &str, declared: bool) -> String {
        let model = if declared {
            self.declared(table)
        } else {
            self.migrated(table)
        };
        let mut out = format!("Table::create().table({})", lit(table));
        let single_pk = model.primary_key.len() == 1;
        for column in &model.columns {
            let code = if declared {
                self.entity_column(table, &column.name)
            } else {
                None
            }
            .unwrap_or_else(|| self.migrated_column_code(table, column));
            let pk = if single_pk && model.primary_key[0] == column.name {
                ".primary_key()"
            } else {
                ""
            };
            let _ = write!(out, ".col({code}{pk})");
        }
        if model.primary_key.len() > 1 {
            let _ = write!(
                out,
                ".primary_key(&mut Index::create(){})",
                cols(&model.primary_key)
            );
        }
        for key in &model.foreign_keys {
            if self.in_scope(&key.ref_table) {
                let name = if declared {
                    fk_create_name(table, key)
                } else {
                    fk_name(self.backend, table, key)
                };
                let _ = write!(out, ".foreign_key(&mut {})", fk_body(&name, table, key));
            }
        }
        out.push_str(".to_owned()");
        out
    }

    fn indexes_of(&self, table: &str, declared: bool) -> Vec<(String, IndexModel)> {
        let model = if declared {
            self.declared(table)
        } else {
            self.migrated(table)
        };
        model
            .indexes
            .iter()
            .map(|i| (index_name(table, i), i.clone()))
            .collect()
    }

    fn create_table_code(&self, table: &str, declared: bool) -> String {
        let mut out = format!(
            "manager.create_table({}).await?;",
            self.table_create(table, declared)
        );
        for (name, index) in self.indexes_of(table, declared) {
            out.push('\n');
            out.push_str(&create_index_code(table, &name, &index));
        }
        out
    }

    fn drop_table_code(table: &str) -> String {
        format!(
            "manager.drop_table(Table::drop().table({}).to_owned()).await?;",
            lit(table)
        )
    }

    fn rebuild_code(&self, table: &str, declared: bool) -> String {
        let indexes: Vec<String> = self
            .indexes_of(table, declared)
            .iter()
            .map(|(name, i)| index_stmt(table, name, i))
            .collect();
        format!(
            "chainkit::rebuild_sqlite_table(manager, {}, vec![{}]).await?;",
            self.table_create(table, declared),
            indexes.join(", ")
        )
    }

    fn alter(table: &str, option: &str) -> String {
        format!(
            "manager.alter_table(Table::alter().table({}).{option}.to_owned()).await?;",
            lit(table)
        )
    }

    fn drop_default(&self, table: &str, from: &ColumnModel, to: &ColumnModel) -> String {
        if from.default.is_some() && to.default.is_none() {
            format!(
                "\nif manager.get_database_backend() == sea_orm::DbBackend::Postgres {{\n\
                 // modify_column sets a default but does not remove one\n\
                 manager.get_connection().execute_unprepared({}).await?;\n}}",
                lit(&format!(
                    "ALTER TABLE \"{table}\" ALTER COLUMN \"{}\" DROP DEFAULT",
                    to.name
                ))
            )
        } else {
            String::new()
        }
    }

    /// Whether SQLite needs the table rebuilt for these changes: it cannot change a column or
    /// a foreign key in place, add a NOT NULL column without a default, drop a UNIQUE
    /// constraint, or drop a column a foreign key or the primary key uses.
    fn needs_rebuild(&self, table: &str, changes: &[&Change]) -> bool {
        let migrated = self.migrated(table);
        changes.iter().any(|c| match c {
            Change::AlterColumn { .. }
            | Change::AddForeignKey { .. }
            | Change::DropForeignKey { .. } => true,
            Change::AddColumn { column, .. } => !column.nullable && column.default.is_none(),
            Change::DropIndex { index, .. } => index.constraint,
            Change::DropColumn { column, .. } => {
                migrated.primary_key.contains(&column.name)
                    || migrated
                        .foreign_keys
                        .iter()
                        .any(|k| k.columns.contains(&column.name))
            }
            _ => false,
        })
    }

    fn steps(&self) -> Vec<Step> {
        let changes = &self.drift.changes;
        let tables: BTreeSet<&str> = changes.iter().map(Change::table).collect();
        let created: Vec<&str> = self.creation_order(
            changes
                .iter()
                .filter_map(|c| match c {
                    Change::CreateTable { table } => Some(table.as_str()),
                    _ => None,
                })
                .collect(),
        );
        let dropped: Vec<&str> = {
            let mut order = self.creation_order_migrated(
                changes
                    .iter()
                    .filter_map(|c| match c {
                        Change::DropTable { table } => Some(table.as_str()),
                        _ => None,
                    })
                    .collect(),
            );
            order.reverse();
            order
        };
        let altered: Vec<(&str, Vec<&Change>, bool)> = tables
            .iter()
            .filter(|t| !created.contains(t) && !dropped.contains(t))
            .map(|t| {
                let of: Vec<&Change> = changes.iter().filter(|c| c.table() == *t).collect();
                let rebuild = self.needs_rebuild(t, &of);
                (*t, of, rebuild)
            })
            .collect();
        let tag = |rebuild: bool| if rebuild { Only::NotSqlite } else { Only::All };
        let mut steps = Vec::new();
        // 1. foreign keys and indexes that go away
        for (table, of, rebuild) in &altered {
            for change in of {
                match change {
                    Change::DropForeignKey { key, .. } => {
                        let name = fk_name(self.backend, table, key);
                        steps.push(Step {
                            only: Only::NotSqlite,
                            up: format!(
                                "{}manager.drop_foreign_key(ForeignKey::drop().name({}).table({}).to_owned()).await?;",
                                fk_name_note(self.backend),
                                lit(&name),
                                lit(table)
                            ),
                            down: format!(
                                "manager.create_foreign_key({}.to_owned()).await?;",
                                fk_body(&name, table, key)
                            ),
                        });
                    }
                    Change::DropIndex { index, .. } => {
                        // dropped under its own name; recreated under a name of its own
                        let up = if index.constraint {
                            // a UNIQUE constraint owns the index: its name is the database's
                            // own choice, so each backend's default is written
                            let pg = limit_name(format!("{table}_{}_key", index.columns.join("_")));
                            format!(
                                "if manager.get_database_backend() == sea_orm::DbBackend::Postgres {{\n\
                                 // the UNIQUE constraint, under PostgreSQL's default name\n{}\n\
                                 }} else {{\n// MySQL names a unique key after its first column\n{}\n}}",
                                Self::alter(table, &format!("drop_constraint({})", lit(&pg))),
                                drop_index_code(table, &index.columns[0])
                            )
                        } else {
                            drop_index_code(table, &index.name)
                        };
                        let name = index_name(table, index);
                        steps.push(Step {
                            only: tag(*rebuild),
                            up,
                            down: create_index_code(table, &name, index),
                        });
                    }
                    _ => {}
                }
            }
        }
        // 2. tables that go away, referencing tables first
        for table in &dropped {
            let rename = if created.is_empty() {
                String::new()
            } else {
                " (if a new table replaces it, it may be a rename: \
                 Table::rename() keeps the data)"
                    .to_owned()
            };
            steps.push(Step {
                only: Only::All,
                up: format!(
                    "// no entity declares {table} any more{rename}\n{}",
                    Self::drop_table_code(table)
                ),
                down: self.create_table_code(table, false),
            });
        }
        // 2b. enum types the new tables and columns need, on PostgreSQL
        for (name, variants) in self.new_enums(&created) {
            let values = variants
                .iter()
                .map(|v| lit(v))
                .collect::<Vec<_>>()
                .join(", ");
            steps.push(Step {
                only: Only::All,
                up: format!(
                    "if manager.get_database_backend() == sea_orm::DbBackend::Postgres {{\n\
                     manager.create_type(sea_query::extension::postgres::Type::create()\
                     .as_enum({}).values([{values}]).to_owned()).await?;\n}}",
                    lit(&name)
                ),
                down: format!(
                    "if manager.get_database_backend() == sea_orm::DbBackend::Postgres {{\n\
                     manager.drop_type(sea_query::extension::postgres::Type::drop()\
                     .name({}).to_owned()).await?;\n}}",
                    lit(&name)
                ),
            });
        }
        // 3. new tables, referenced tables first
        for table in &created {
            steps.push(Step {
                only: Only::All,
                up: self.create_table_code(table, true),
                down: Self::drop_table_code(table),
            });
        }
        // 4. columns
        for (table, of, rebuild) in &altered {
            let added = of.iter().any(|c| matches!(c, Change::AddColumn { .. }));
            let removed = of.iter().any(|c| matches!(c, Change::DropColumn { .. }));
            let mut first = true;
            for change in of {
                let mut note = String::new();
                if first && added && removed {
                    note = format!(
                        "// {table}: a column is dropped and another added; if it is a rename, \
                         replace both with Table::alter().rename_column(..) to keep the data\n"
                    );
                }
                let step = match change {
                    Change::AddColumn { column, .. } => {
                        let code = self
                            .entity_column(table, &column.name)
                            .unwrap_or_else(|| catalog_column_code(self.backend, column));
                        if !column.nullable && column.default.is_none() {
                            note.push_str(
                                "// NOT NULL without a default: fails while the table has rows\n",
                            );
                        }
                        Step {
                            only: tag(*rebuild),
                            up: format!(
                                "{note}{}",
                                Self::alter(table, &format!("add_column({code})"))
                            ),
                            down: Self::alter(
                                table,
                                &format!("drop_column({})", lit(&column.name)),
                            ),
                        }
                    }
                    Change::DropColumn { column, .. } => Step {
                        only: tag(*rebuild),
                        up: format!(
                            "{note}{}",
                            Self::alter(table, &format!("drop_column({})", lit(&column.name)))
                        ),
                        down: Self::alter(
                            table,
                            &format!("add_column({})", self.migrated_column_code(table, column)),
                        ),
                    },
                    Change::AlterColumn { from, to, .. } => {
                        let new = self
                            .entity_column(table, &to.name)
                            .unwrap_or_else(|| catalog_column_code(self.backend, to));
                        let old = self.migrated_column_code(table, from);
                        Step {
                            only: Only::NotSqlite,
                            up: format!(
                                "{note}{}{}",
                                Self::alter(table, &format!("modify_column({new})")),
                                self.drop_default(table, from, to)
                            ),
                            down: format!(
                                "{}{}",
                                Self::alter(table, &format!("modify_column({old})")),
                                self.drop_default(table, to, from)
                            ),
                        }
                    }
                    Change::PrimaryKey { from, to, .. } => Step {
                        only: Only::All,
                        up: format!(
                            "// the primary key of {table} changes from ({}) to ({}): not \
                             generated, write it by hand",
                            from.join(", "),
                            to.join(", ")
                        ),
                        down: format!("// restore the primary key of {table} by hand"),
                    },
                    _ => continue,
                };
                first = false;
                steps.push(step);
            }
            if *rebuild {
                steps.push(Step {
                    only: Only::Sqlite,
                    up: format!(
                        "// SQLite cannot change a column or a foreign key in place: rebuild {table}\n{}",
                        self.rebuild_code(table, true)
                    ),
                    down: self.rebuild_code(table, false),
                });
            }
        }
        // 5. new indexes and foreign keys
        for (table, of, rebuild) in &altered {
            for change in of {
                match change {
                    Change::AddIndex { index, .. } => {
                        let name = index_name(table, index);
                        steps.push(Step {
                            only: tag(*rebuild),
                            up: create_index_code(table, &name, index),
                            down: drop_index_code(table, &name),
                        });
                    }
                    Change::AddForeignKey { key, .. } => {
                        let name = fk_create_name(table, key);
                        steps.push(Step {
                            only: Only::NotSqlite,
                            up: format!(
                                "manager.create_foreign_key({}.to_owned()).await?;",
                                fk_body(&name, table, key)
                            ),
                            down: format!(
                                "manager.drop_foreign_key(ForeignKey::drop().name({}).table({}).to_owned()).await?;",
                                lit(&name),
                                lit(table)
                            ),
                        });
                    }
                    _ => {}
                }
            }
        }
        steps
    }

    /// The enums (name, variants) that the new tables and the added or changed columns use and
    /// the migrations' database lacks (known only when it is PostgreSQL: elsewhere every such
    /// enum is created).
    fn new_enums(&self, created: &[&str]) -> Vec<(String, Vec<String>)> {
        let mut columns: Vec<(&str, &str)> = Vec::new();
        for table in created {
            for column in &self.declared(table).columns {
                columns.push((table, &column.name));
            }
        }
        for change in &self.drift.changes {
            match change {
                Change::AddColumn { table, column } => columns.push((table, &column.name)),
                Change::AlterColumn { table, to, .. } => columns.push((table, &to.name)),
                _ => {}
            }
        }
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (table, column) in columns {
            let Some(def) = self.drift.portable.table(table).and_then(|t| {
                t.get_columns()
                    .iter()
                    .find(|c| c.get_column_name() == column)
            }) else {
                continue;
            };
            if let Some(ColumnType::Enum { name, variants }) = def.get_column_type() {
                let name = name.to_string();
                if !self.drift.migrated.enum_types.contains(&name)
                    && !out.iter().any(|(n, _)| *n == name)
                {
                    out.push((name, variants.iter().map(ToString::to_string).collect()));
                }
            }
        }
        out
    }

    fn creation_order<'t>(&self, tables: Vec<&'t str>) -> Vec<&'t str> {
        order_by_references(tables, |t| {
            self.declared(t)
                .foreign_keys
                .iter()
                .map(|k| k.ref_table.clone())
                .collect()
        })
    }

    fn creation_order_migrated<'t>(&self, tables: Vec<&'t str>) -> Vec<&'t str> {
        order_by_references(tables, |t| {
            self.migrated(t)
                .foreign_keys
                .iter()
                .map(|k| k.ref_table.clone())
                .collect()
        })
    }
}

fn body(steps: &[(Only, &str)]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < steps.len() {
        let only = steps[i].0;
        let mut group = Vec::new();
        while i < steps.len() && steps[i].0 == only {
            group.push(steps[i].1);
            i += 1;
        }
        let code = group.join("\n");
        match only {
            Only::All => {
                out.push_str(&code);
                out.push('\n');
            }
            Only::Sqlite => {
                let _ = writeln!(out, "if sqlite {{\n{code}\n}}");
            }
            Only::NotSqlite => {
                let _ = writeln!(out, "if !sqlite {{\n{code}\n}}");
            }
        }
    }
    if steps.iter().any(|(o, _)| *o != Only::All) {
        out.insert_str(
            0,
            "let sqlite = manager.get_database_backend() == sea_orm::DbBackend::Sqlite;\n",
        );
    }
    out
}

/// The migration holding `drift`'s differences, or `None` when there are none.
pub fn generate(drift: &Drift) -> Option<GeneratedMigration> {
    if drift.is_clean() {
        return None;
    }
    let steps = Writer::new(drift).steps();
    let up: Vec<(Only, &str)> = steps.iter().map(|s| (s.only, s.up.as_str())).collect();
    let down: Vec<(Only, &str)> = steps
        .iter()
        .rev()
        .map(|s| (s.only, s.down.as_str()))
        .collect();
    let changes: Vec<String> = drift.changes.iter().map(ToString::to_string).collect();
    let scope = if drift.namespace == crate::ENGINE_NAMESPACE {
        "the engine's tables".to_owned()
    } else {
        format!("ext_{}_*", drift.namespace)
    };
    let mut header = format!(
        "//! Written by `autogenerate` from the entities of `{}` ({scope}), compared on {}.\n\
         //! Review it before applying: a dropped and an added column or table may be a rename.\n//!\n",
        drift.namespace,
        match drift.backend {
            DbBackend::Postgres => "PostgreSQL",
            DbBackend::MySql => "MySQL",
            _ => "SQLite",
        }
    );
    for line in &changes {
        let _ = writeln!(header, "//! {line}");
    }
    let findings = crate::plan::rules::for_generated(drift);
    if !findings.is_empty() {
        header.push_str(
            "//!\n//! What `migrate plan` will warn of (acknowledge what you accept with\n\
             //! `impl chainkit::Acknowledge for Migration`, naming the codes):\n",
        );
        for f in &findings {
            let _ = writeln!(
                header,
                "//! - {} {} {}: {}",
                f.kind, f.code, f.object, f.message
            );
        }
    }
    // SQLite's table rebuild switches foreign keys off, which it can only do outside a
    // transaction: such a migration opts out of the runner's, and opens its own elsewhere
    let rebuilds = steps
        .iter()
        .any(|s| s.only == Only::Sqlite && s.up.contains("rebuild_sqlite_table"));
    let (opt_out, open, close) = if rebuilds {
        (
            "/// SQLite rebuilds a table with foreign keys switched off, which needs no open \
             transaction; on the other backends up() and down() open their own.\n\
             fn use_transaction(&self) -> Option<bool> {\nSome(false)\n}\n\n",
            "let txn = if manager.get_database_backend() == sea_orm::DbBackend::Sqlite {\n\
             None\n} else {\nSome(manager.begin().await?)\n};\n\
             let manager = txn.as_ref().unwrap_or(manager);\n",
            "if let Some(txn) = txn {\ntxn.commit().await?;\n}\n",
        )
    } else {
        ("", "", "")
    };
    let source = format!(
        "{header}\nuse sea_orm_migration::prelude::*;\n\n\
         #[derive(DeriveMigrationName)]\npub struct Migration;\n\n\
         #[async_trait::async_trait]\nimpl MigrationTrait for Migration {{\n{opt_out}\
         async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {{\n{open}{}{close}Ok(())\n}}\n\n\
         async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {{\n{open}{}{close}Ok(())\n}}\n}}\n",
        body(&up),
        body(&down),
    );
    let formatted = rustfmt(&source);
    Some(GeneratedMigration {
        formatted: formatted.is_some(),
        source: formatted.unwrap_or(source),
        changes,
    })
}

/// `source` formatted by rustfmt, if rustfmt is there and accepts it.
fn rustfmt(source: &str) -> Option<String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into()))
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(source.as_bytes()).ok()?;
    let out = child.wait_with_output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()
}

/// Writes `source` as the migration module `module` into `crate_dir/src` and lists it in
/// `src/lib.rs` (after the last `mod m…;` line, and above the `// new migrations go above this
/// line` marker of `migrations()`). Returns the file written.
///
/// # Errors
/// [`Error::Autogenerate`] naming the file that cannot be read or written, or `lib.rs` lacking
/// the places to list the migration in.
pub fn write_migration(
    namespace: &str,
    crate_dir: &Path,
    module: &str,
    source: &str,
) -> Result<PathBuf, Error> {
    let fail = |reason: String| Error::Autogenerate {
        namespace: namespace.to_owned(),
        reason,
    };
    let file = crate_dir.join("src").join(format!("{module}.rs"));
    if file.exists() {
        return Err(fail(format!("{} already exists", file.display())));
    }
    let lib = crate_dir.join("src/lib.rs");
    let text = std::fs::read_to_string(&lib)
        .map_err(|e| fail(format!("reading {}: {e}", lib.display())))?;
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let last_mod = lines.iter().rposition(|l| l.starts_with("mod m"));
    let marker = lines.iter().position(|l| {
        l.trim_start()
            .starts_with("// new migrations go above this line")
    });
    let (Some(last_mod), Some(marker)) = (last_mod, marker) else {
        return Err(fail(format!(
            "{}: no `mod m…;` line or no `// new migrations go above this line` marker; was it \
             edited by hand?",
            lib.display()
        )));
    };
    let indent: String = lines[marker]
        .chars()
        .take_while(|c| c.is_whitespace())
        .collect();
    // a `chainkit::migrations![…]` list (which records checksums) names the module; a plain
    // `vec![…]` makes the migration
    let checksummed = text.contains("chainkit::migrations![");
    let mut out = String::with_capacity(text.len() + 2 * module.len() + 40);
    for (i, l) in lines.iter().enumerate() {
        if i == marker && checksummed {
            let _ = writeln!(out, "{indent}{module},");
        } else if i == marker {
            let _ = writeln!(out, "{indent}Box::new({module}::Migration),");
        }
        out.push_str(l);
        if i == last_mod {
            let _ = writeln!(out, "mod {module};");
        }
    }
    std::fs::write(&file, source).map_err(|e| fail(format!("writing {}: {e}", file.display())))?;
    if let Err(e) = std::fs::write(&lib, out) {
        std::fs::remove_file(&file).ok();
        return Err(fail(format!("writing {}: {e}", lib.display())));
    }
    Ok(file)
}

/// `mYYYYMMDD_HHMMSS_{name}` for `now`, as sea-orm-migration names migrations.
pub fn migration_module(now: chrono::DateTime<chrono::Utc>, name: &str) -> String {
    format!("m{}_{name}", now.format("%Y%m%d_%H%M%S"))
}

/// Whether `name` is a snake_case migration name: lowercase letters, digits and single
/// underscores, starting with a letter.
pub fn valid_migration_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__")
        && name.len() <= 200
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_types_read_back_as_builder_calls() {
        assert_eq!(
            raw_type_code(DbBackend::Postgres, "character varying(200)"),
            ".string_len(200)"
        );
        assert_eq!(
            raw_type_code(DbBackend::Postgres, "timestamp with time zone"),
            ".timestamp_with_time_zone()"
        );
        assert_eq!(
            raw_type_code(DbBackend::MySql, "bigint(20)"),
            ".big_integer()"
        );
        assert_eq!(raw_type_code(DbBackend::MySql, "tinyint(1)"), ".boolean()");
        assert_eq!(
            raw_type_code(DbBackend::Sqlite, "real(10, 2)"),
            ".decimal_len(10, 2)"
        );
        assert_eq!(
            raw_type_code(DbBackend::Postgres, "point"),
            ".custom(\"point\")"
        );
    }

    #[test]
    fn catalog_defaults_read_back_as_builder_calls() {
        let d = |b, s: &str| raw_default_code(b, Some(s));
        assert_eq!(
            d(DbBackend::Postgres, "'open'::character varying"),
            ".default(\"open\")"
        );
        assert_eq!(d(DbBackend::Sqlite, "'it''s'"), ".default(\"it's\")");
        assert_eq!(d(DbBackend::Postgres, "nextval('t_id_seq'::regclass)"), "");
        assert_eq!(d(DbBackend::MySql, "NULL"), "");
        assert_eq!(d(DbBackend::Sqlite, "5"), ".default(5)");
        assert_eq!(
            d(DbBackend::MySql, "current_timestamp()"),
            ".default(Expr::current_timestamp())"
        );
        assert_eq!(
            d(DbBackend::Postgres, "lower('x')"),
            ".default(Expr::cust(\"lower('x')\"))"
        );
    }

    #[test]
    fn migration_names_follow_sea_orm_migration() {
        // the instant `cargo xtask new-migration` names m20261125_094640 in its tests
        let t = chrono::DateTime::from_timestamp(1_795_600_000, 0).unwrap_or_default();
        assert_eq!(migration_module(t, "add_x"), "m20261125_094640_add_x");
        assert!(valid_migration_name("add_notes2"));
        assert!(!valid_migration_name("Add"));
        assert!(!valid_migration_name("a__b"));
    }
}
