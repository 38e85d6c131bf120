//! Clearing a migration by what it sent: whether every statement it ran touched only objects
//! its chain owns, and which.
//!
//! The isolation guard's catalog diff reads every object of the database, so its cost grows
//! with the database. When the runner can see the statements a migration sent (sqlx's
//! statement log, [`crate::plan::capture`]), each one is parsed with a real SQL parser
//! (`sqlparser`, in the backend's dialect) and judged by a short list of rules that only
//! ever *clear*: `CREATE TABLE ext_a_t …`, `CREATE INDEX … ON ext_a_t`, `ALTER TABLE ext_a_t
//! ADD COLUMN …`, `INSERT INTO ext_a_t …` into a base table without triggers, reads, and the
//! like, when every name is the chain's. Anything else (a statement that does not parse, a
//! name of another chain's, a schema-qualified or mixed-case name, `CASCADE`, a rename, a
//! function call outside a list of built-ins, a version table, `DO`, `CALL`, a data-modifying
//! CTE, a `SET` of anything but a timeout or a check switch…) is *unclear*, and the runner
//! falls back to the full catalog diff for it. A wrong "unclear" costs time; a wrong "clear"
//! would let a trespass through, so every rule errs one way, and the runner also compares one
//! full catalog read at the end of a run with what the cleared statements left (see
//! `runner`).
//!
//! A cleared migration's touched names are read back from the catalog (only those), so that
//! the snapshot the runner keeps stays exact for the next full diff.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;

use sea_orm::DbBackend;
use sqlparser::ast::{
    AlterTableOperation, AlterTypeOperation, ContextModifier, DropBehavior, Expr, FromTable,
    ObjectName, ObjectNamePart, ObjectType, SequenceOptions, Set, Statement, TableFactor,
    TableObject, TableWithJoins, UserDefinedTypeRepresentation, Visit, Visitor,
};
use sqlparser::dialect::{Dialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;

use crate::backend::{self, CatalogParts};
use crate::schema::{ObjectKey, ObjectKind, Snapshot};
use crate::scope::{TableScope, is_version_table};

/// Built-in functions a cleared statement may call: they read or compute, and change no
/// schema object or version row. A function of the same name in the schema makes a call
/// unclear.
const FUNCTIONS: &[&str] = &[
    "abs",
    "array_agg",
    "avg",
    "cast",
    "ceil",
    "ceiling",
    "char_length",
    "coalesce",
    "concat",
    "concat_ws",
    "count",
    "curdate",
    "current_database",
    "current_date",
    "current_schema",
    "current_time",
    "current_timestamp",
    "curtime",
    "date",
    "date_part",
    "date_trunc",
    "database",
    "datetime",
    "floor",
    "format",
    "gen_random_uuid",
    "greatest",
    "group_concat",
    "hex",
    "if",
    "ifnull",
    "iif",
    "instr",
    "json_agg",
    "json_array",
    "json_build_object",
    "json_object",
    "jsonb_agg",
    "jsonb_build_object",
    "julianday",
    "last_insert_id",
    "least",
    "left",
    "length",
    "localtime",
    "localtimestamp",
    "lower",
    "lpad",
    "ltrim",
    "max",
    "md5",
    "min",
    "mod",
    "nextval",
    "now",
    "nullif",
    "position",
    "power",
    "printf",
    "random",
    "replace",
    "right",
    "round",
    "row_number",
    "rpad",
    "rtrim",
    "schema",
    "split_part",
    "strftime",
    "string_agg",
    "substr",
    "substring",
    "sum",
    "sysdate",
    "time",
    "to_char",
    "to_date",
    "to_json",
    "to_jsonb",
    "to_timestamp",
    "trim",
    "unixepoch",
    "upper",
    "utc_timestamp",
    "uuid",
    "uuid_generate_v4",
];

/// Built-in table functions a cleared statement may read from.
const TABLE_FUNCTIONS: &[&str] = &[
    "generate_series",
    "json_each",
    "json_tree",
    "jsonb_array_elements",
    "jsonb_each",
    "json_array_elements",
    "pragma_foreign_key_list",
    "pragma_index_info",
    "pragma_index_list",
    "pragma_index_xinfo",
    "pragma_table_info",
    "pragma_table_xinfo",
    "unnest",
];

/// Settings a migration may change: timeouts and check switches, which change no object.
const SETTINGS: &[&str] = &[
    "client_min_messages",
    "foreign_key_checks",
    "idle_in_transaction_session_timeout",
    "innodb_lock_wait_timeout",
    "lock_timeout",
    "lock_wait_timeout",
    "max_statement_time",
    "statement_timeout",
    "unique_checks",
];

/// SQLite pragmas a migration may run: reads, and the foreign-key switches of SQLite's table
/// rebuild.
const PRAGMAS: &[&str] = &[
    "defer_foreign_keys",
    "foreign_key_check",
    "foreign_key_list",
    "foreign_keys",
    "index_info",
    "index_list",
    "index_xinfo",
    "legacy_alter_table",
    "table_info",
    "table_xinfo",
];

/// What a name is known to be within the migrations being cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    /// A base table without triggers: rows may be written to it.
    PlainTable,
    /// Something else, or changed in a way that makes writing to it unclear.
    Other,
}

/// The clearance of a run of migrations of one chain, statement by statement.
pub(crate) struct Clearance<'a> {
    backend: DbBackend,
    scope: &'a TableScope,
    /// The schema as it stood before the first of them.
    schema: &'a Snapshot,
    /// Names whose objects these statements may have changed.
    touched: BTreeSet<String>,
    /// What these statements made of a name.
    known: BTreeMap<String, Known>,
    /// Indexes these statements created: index -> table.
    indexes: BTreeMap<String, String>,
    /// Functions and procedures these statements created.
    functions: BTreeSet<String>,
    /// Whether these statements created a view.
    views: bool,
    /// Whether these statements created a trigger.
    triggers: bool,
    /// Whether a statement may have made a foreign key: its text says `REFERENCES`, which
    /// every way of declaring one does (MySQL's `CREATE TABLE … LIKE` copies none).
    references: bool,
    /// Whether these statements created a type or a domain (PostgreSQL).
    types: bool,
    /// Whether a statement created or altered a type since
    /// [`Clearance::take_altered_types`].
    altered_types: bool,
}

impl<'a> Clearance<'a> {
    pub(crate) fn new(backend: DbBackend, scope: &'a TableScope, schema: &'a Snapshot) -> Self {
        Self {
            backend,
            scope,
            schema,
            touched: BTreeSet::new(),
            known: BTreeMap::new(),
            indexes: BTreeMap::new(),
            functions: BTreeSet::new(),
            views: false,
            triggers: false,
            references: false,
            types: false,
            altered_types: false,
        }
    }

    /// Whether a cleared statement created or altered a type (an enum type may have come or
    /// gained a label) since the last call.
    pub(crate) fn take_altered_types(&mut self) -> bool {
        std::mem::take(&mut self.altered_types)
    }

    /// The names whose objects the cleared statements may have changed.
    pub(crate) fn touched(&self) -> &BTreeSet<String> {
        &self.touched
    }

    /// The optional parts of the catalog in which the cleared statements may have made
    /// lines for names that had none: a view, a trigger, a function or procedure, a foreign
    /// key, a type. (What they changed or dropped had lines there before.)
    pub(crate) fn created_parts(&self) -> CatalogParts {
        CatalogParts {
            views: self.views,
            triggers: self.triggers,
            routines: !self.functions.is_empty(),
            references: self.references,
            types: self.types,
            ..CatalogParts::default()
        }
    }

    /// Clears one statement text (it may hold several statements), or says why it is unclear.
    pub(crate) fn statement(&mut self, sql: &str) -> Result<(), String> {
        self.references |= sql.to_ascii_lowercase().contains("references");
        if self.backend == DbBackend::Sqlite
            && let Some(pragma) = sqlite_pragma(sql)
        {
            // sqlparser reads `PRAGMA x = value` only with a number or a string
            return if PRAGMAS.contains(&pragma.as_str()) {
                Ok(())
            } else {
                Err(format!("PRAGMA {pragma}"))
            };
        }
        let dialect: &dyn Dialect = match self.backend {
            DbBackend::Postgres => &PostgreSqlDialect {},
            DbBackend::MySql => &MySqlDialect {},
            _ => &SQLiteDialect {},
        };
        let statements = Parser::new(dialect)
            .with_recursion_limit(64)
            .try_with_sql(sql)
            .and_then(|mut p| p.parse_statements())
            .map_err(|e| format!("not parsed: {e}"))?;
        for statement in &statements {
            self.one(statement)?;
        }
        Ok(())
    }

    fn one(&mut self, statement: &Statement) -> Result<(), String> {
        let mut calls = Calls {
            clearance: self,
            statements: 0,
            found: None,
        };
        let _ = statement.visit(&mut calls);
        let nested = calls.statements > 1;
        if let Some(why) = calls.found {
            return Err(why);
        }
        if nested && !matches!(statement, Statement::CreateTrigger(_)) {
            return Err("a statement inside a statement".to_owned());
        }
        match statement {
            Statement::Query(_) => Ok(()),
            Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } => Ok(()),
            Statement::Rollback {
                savepoint: Some(_), ..
            } => Ok(()),
            Statement::Insert(insert) => match &insert.table {
                TableObject::TableName(name) => self.writable(name),
                _ => Err("an insert into a function or a query".to_owned()),
            },
            Statement::Update(update) => {
                let name = single_table(&update.table)?;
                self.writable(name)
            }
            Statement::Delete(delete) => {
                if !delete.tables.is_empty() {
                    return Err("a delete from several tables".to_owned());
                }
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                match from.as_slice() {
                    [one] => self.writable(single_table(one)?),
                    _ => Err("a delete from several tables".to_owned()),
                }
            }
            Statement::CreateTable(create) => {
                if create.temporary
                    || create.inherits.is_some()
                    || create.partition_of.is_some()
                    || create.clone.is_some()
                {
                    return Err("a temporary, inheriting, partition or cloned table".to_owned());
                }
                let name = self.own(&create.name)?;
                self.known.insert(name.clone(), Known::PlainTable);
                self.touched.insert(name);
                Ok(())
            }
            Statement::CreateIndex(create) => {
                let table = self.own(&create.table_name)?;
                if let Some(index) = &create.name {
                    let index = self.stored(index)?;
                    self.indexes.insert(index, table.clone());
                }
                self.touched.insert(table);
                Ok(())
            }
            Statement::AlterTable(alter) => {
                let table = self.own(&alter.name)?;
                for operation in &alter.operations {
                    alterable(operation)?;
                    if matches!(operation, AlterTableOperation::DropColumn { .. }) {
                        self.no_view_may_break()?;
                    }
                }
                self.touched.insert(table);
                Ok(())
            }
            Statement::Drop {
                object_type,
                names,
                cascade,
                table,
                temporary,
                ..
            } => {
                if *cascade || *temporary {
                    return Err("DROP … CASCADE".to_owned());
                }
                if *object_type != ObjectType::Index {
                    self.no_view_may_break()?;
                }
                for name in names {
                    let owner = match object_type {
                        ObjectType::Table
                        | ObjectType::View
                        | ObjectType::MaterializedView
                        | ObjectType::Sequence
                        | ObjectType::Type => self.own(name)?,
                        ObjectType::Index => match table {
                            Some(table) => self.own(table)?,
                            None => {
                                let index = self.stored(name)?;
                                let table = self.index_table(&index)?;
                                self.check_owned(&table)?;
                                table
                            }
                        },
                        other => return Err(format!("DROP {other}")),
                    };
                    self.known.insert(owner.clone(), Known::Other);
                    self.touched.insert(owner);
                }
                Ok(())
            }
            Statement::DropFunction(drop) => {
                if drop.drop_behavior == Some(DropBehavior::Cascade) {
                    return Err("DROP … CASCADE".to_owned());
                }
                self.no_view_may_break()?;
                for function in &drop.func_desc {
                    let name = self.own(&function.name)?;
                    self.touched.insert(name);
                }
                Ok(())
            }
            Statement::DropTrigger(drop) => {
                if drop.option.is_some() {
                    return Err("DROP TRIGGER … CASCADE".to_owned());
                }
                let table = drop
                    .table_name
                    .as_ref()
                    .ok_or("DROP TRIGGER without its table")?;
                self.touch(table).map(|_| ())
            }
            Statement::CreateView(create) => {
                let name = self.own(&create.name)?;
                self.views = true;
                self.known.insert(name.clone(), Known::Other);
                self.touched.insert(name);
                Ok(())
            }
            Statement::CreateType {
                name,
                representation,
            } => {
                // a range type comes with a multirange type and constructor functions of
                // another name (derived, or given as an option); a base type with its C
                // functions: both unclear
                if !matches!(
                    representation,
                    Some(
                        UserDefinedTypeRepresentation::Enum { .. }
                            | UserDefinedTypeRepresentation::Composite { .. }
                    )
                ) {
                    return Err("a type other than an enum or composite type".to_owned());
                }
                // its labels count from here: a value added later must be committed first
                self.altered_types = true;
                self.types = true;
                self.touch(name).map(|_| ())
            }
            Statement::AlterType(alter) => {
                if matches!(alter.operation, AlterTypeOperation::Rename(_)) {
                    return Err("a renamed type".to_owned());
                }
                self.altered_types = true;
                self.touch(&alter.name).map(|_| ())
            }
            Statement::CreateDomain(create) => {
                self.types = true;
                self.touch(&create.name).map(|_| ())
            }
            Statement::CreateSequence {
                name,
                temporary,
                sequence_options,
                ..
            } => {
                // a sequence owned by a column goes with that column's table
                let owned_by = sequence_options
                    .iter()
                    .any(|o| matches!(o, SequenceOptions::OwnedBy(Some(_))));
                if *temporary || owned_by {
                    return Err("a temporary sequence, or one owned by a column".to_owned());
                }
                self.touch(name).map(|_| ())
            }
            Statement::CreateFunction(create) => {
                if create.temporary {
                    return Err("a temporary function".to_owned());
                }
                let name = self.touch(&create.name)?;
                self.functions.insert(name);
                Ok(())
            }
            Statement::CreateProcedure { name, .. } => {
                let name = self.touch(name)?;
                self.functions.insert(name);
                Ok(())
            }
            Statement::CreateTrigger(create) => {
                if create.temporary {
                    return Err("a temporary trigger".to_owned());
                }
                let table = self.own(&create.table_name)?;
                self.triggers = true;
                self.known.insert(table.clone(), Known::Other);
                self.touched.insert(table);
                Ok(())
            }
            Statement::Set(Set::SingleAssignment {
                scope, variable, ..
            }) => {
                if matches!(scope, Some(ContextModifier::Global)) {
                    return Err("SET GLOBAL".to_owned());
                }
                let setting = last_part(variable).to_ascii_lowercase();
                if SETTINGS.contains(&setting.as_str()) {
                    Ok(())
                } else {
                    Err(format!("SET {setting}"))
                }
            }
            Statement::Pragma { name, .. } => {
                let pragma = last_part(name).to_ascii_lowercase();
                if name.0.len() == 1 && PRAGMAS.contains(&pragma.as_str()) {
                    Ok(())
                } else {
                    Err(format!("PRAGMA {pragma}"))
                }
            }
            other => Err(first_words(&other.to_string())),
        }
    }

    /// MySQL: a view whose table, column or function is dropped stays, and its definition
    /// reads differently in the catalog from then on, wherever the view is; PostgreSQL and
    /// SQLite refuse such drops (or keep the view's text).
    fn no_view_may_break(&self) -> Result<(), String> {
        let views = self.views || self.schema.of_kind(ObjectKind::View).next().is_some();
        if self.backend == DbBackend::MySql && views {
            return Err("a drop where views may depend on what is dropped".to_owned());
        }
        Ok(())
    }

    /// The name as the database stores it, when it is one plain lower-case identifier.
    fn stored(&self, name: &ObjectName) -> Result<String, String> {
        let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else {
            return Err(format!("the qualified name {name}"));
        };
        let stored = match (self.backend, ident.quote_style) {
            (DbBackend::Postgres, None) => ident.value.to_lowercase(),
            _ => ident.value.clone(),
        };
        if stored.is_empty()
            || stored
                .chars()
                .any(|c| c.is_uppercase() || c.is_control() || c == '\0')
        {
            return Err(format!("the name {name}"));
        }
        Ok(stored)
    }

    /// The stored name, when the chain owns it, counted as touched.
    fn touch(&mut self, name: &ObjectName) -> Result<String, String> {
        let stored = self.own(name)?;
        self.touched.insert(stored.clone());
        Ok(stored)
    }

    /// The stored name, when the chain owns it.
    fn own(&self, name: &ObjectName) -> Result<String, String> {
        let stored = self.stored(name)?;
        self.check_owned(&stored)?;
        Ok(stored)
    }

    fn check_owned(&self, name: &str) -> Result<(), String> {
        let reserved = is_version_table(name)
            || name == backend::PROGRESS_TABLE
            || name == backend::CHECKSUM_TABLE
            || name.starts_with("sqlite_")
            || name.starts_with("pg_")
            || name == "information_schema";
        if reserved || !self.scope.contains(name) {
            return Err(format!("{name:?}, not the chain's"));
        }
        Ok(())
    }

    /// The table of the index `index`: created by these statements, or in the schema.
    fn index_table(&self, index: &str) -> Result<String, String> {
        if let Some(table) = self.indexes.get(index) {
            return Ok(table.clone());
        }
        let prefix = format!("index {index} ");
        self.schema
            .objects()
            .filter(|k| k.kind == ObjectKind::Table)
            .find(|k| {
                self.schema
                    .lines(k)
                    .is_some_and(|lines| lines.iter().any(|l| l.starts_with(&prefix)))
            })
            .map(|k| k.name.clone())
            .ok_or_else(|| format!("the index {index:?}, not found"))
    }

    /// Whether rows may be written to `name`: the chain's base table, without triggers or
    /// rules (which could write anywhere).
    fn writable(&self, name: &ObjectName) -> Result<(), String> {
        let table = self.own(name)?;
        let plain = match self.known.get(&table) {
            Some(known) => *known == Known::PlainTable,
            None => self
                .schema
                .lines(&ObjectKey::table(&table))
                .is_some_and(|lines| {
                    !lines
                        .iter()
                        .any(|l| l.starts_with("trigger ") || l.starts_with("rule "))
                }),
        };
        if plain {
            Ok(())
        } else {
            Err(format!(
                "rows written to {table:?}, not a known base table without triggers"
            ))
        }
    }

    /// Whether the function `name` (as called) is a built-in no statement here shadows.
    fn callable(&self, name: &ObjectName, list: &[&str]) -> Result<(), String> {
        let parts: Vec<&str> = name
            .0
            .iter()
            .map(|p| match p {
                ObjectNamePart::Identifier(i) => i.value.as_str(),
                ObjectNamePart::Function(_) => "",
            })
            .collect();
        let function = match parts.as_slice() {
            [f] => f.to_ascii_lowercase(),
            [schema, f] if schema.eq_ignore_ascii_case("pg_catalog") => f.to_ascii_lowercase(),
            _ => return Err(format!("a call of {name}")),
        };
        let shadowed = self.functions.contains(&function)
            || self
                .schema
                .lines(&ObjectKey {
                    kind: ObjectKind::Function,
                    name: function.clone(),
                })
                .is_some();
        if !list.contains(&function.as_str()) || shadowed {
            return Err(format!("a call of {function}"));
        }
        Ok(())
    }
}

/// The table a single-table `UPDATE` or `DELETE` writes to.
fn single_table(table: &TableWithJoins) -> Result<&ObjectName, String> {
    match (&table.relation, table.joins.as_slice()) {
        (
            TableFactor::Table {
                name, args: None, ..
            },
            [],
        ) => Ok(name),
        _ => Err("a write to several tables".to_owned()),
    }
}

/// Whether an `ALTER TABLE` operation changes only the table itself.
fn alterable(operation: &AlterTableOperation) -> Result<(), String> {
    use AlterTableOperation as Op;
    match operation {
        Op::AddConstraint { .. }
        | Op::AddColumn { .. }
        | Op::AlterColumn { .. }
        | Op::ModifyColumn { .. }
        | Op::DropPrimaryKey { .. }
        | Op::DropForeignKey { .. }
        | Op::DropIndex { .. }
        | Op::RenameConstraint { .. }
        | Op::ValidateConstraint { .. }
        | Op::Algorithm { .. }
        | Op::Lock { .. } => Ok(()),
        Op::DropConstraint { drop_behavior, .. } | Op::DropColumn { drop_behavior, .. }
            if *drop_behavior != Some(DropBehavior::Cascade) =>
        {
            Ok(())
        }
        Op::ChangeColumn {
            old_name, new_name, ..
        } if old_name.value == new_name.value => Ok(()),
        other => Err(format!("ALTER TABLE … {}", first_words(&other.to_string()))),
    }
}

/// The name of a SQLite `PRAGMA name`, `PRAGMA name = value` or `PRAGMA name(value)`, whose
/// value is one word, number or quoted name; `None` for anything else.
fn sqlite_pragma(sql: &str) -> Option<String> {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    let (keyword, rest) = sql.split_once(char::is_whitespace)?;
    if !keyword.eq_ignore_ascii_case("pragma") {
        return None;
    }
    let (name, value) = match rest.find(['=', '(']) {
        Some(at) => (&rest[..at], rest[at + 1..].trim().trim_end_matches(')')),
        None => (rest, ""),
    };
    let name = name.trim().to_ascii_lowercase();
    let word = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '\'' | '"' | '-'))
    };
    (!name.is_empty() && word(&name) && word(value.trim())).then_some(name)
}

fn last_part(name: &ObjectName) -> String {
    match name.0.last() {
        Some(ObjectNamePart::Identifier(i)) => i.value.clone(),
        _ => String::new(),
    }
}

/// The first words of a statement, for saying what was not cleared.
fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// Walks a statement for what no rule above sees: function calls, table functions, version
/// tables, `SELECT … INTO`, statements inside statements.
struct Calls<'c, 'a> {
    clearance: &'c Clearance<'a>,
    statements: usize,
    found: Option<String>,
}

impl Visitor for Calls<'_, '_> {
    type Break = ();

    fn pre_visit_statement(&mut self, _: &Statement) -> ControlFlow<()> {
        self.statements += 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr
            && let Err(why) = self.clearance.callable(&f.name, FUNCTIONS)
        {
            self.found = Some(why);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<()> {
        let called = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => Some(name),
            _ => None,
        };
        if let Some(name) = called
            && let Err(why) = self.clearance.callable(name, TABLE_FUNCTIONS)
        {
            self.found = Some(why);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &sqlparser::ast::Select) -> ControlFlow<()> {
        if select.into.is_some() {
            self.found = Some("SELECT … INTO".to_owned());
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        let name = last_part(relation).to_ascii_lowercase();
        if name.starts_with(crate::namespace::ENGINE_VERSION_TABLE) {
            self.found = Some(format!("the version table {name}"));
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Snapshot {
        Snapshot::from_lines([
            (ObjectKey::table("users"), "column id".to_owned()),
            (
                ObjectKey::table("users"),
                "index users_pkey 1 true".to_owned(),
            ),
            (ObjectKey::table("ext_a_t"), "column id".to_owned()),
            (
                ObjectKey::table("ext_a_t"),
                "index ext_a_t_name 2 false".to_owned(),
            ),
            (ObjectKey::table("ext_a_audited"), "column id".to_owned()),
            (
                ObjectKey::table("ext_a_audited"),
                "trigger ext_a_trg f() 7 O".to_owned(),
            ),
            (
                ObjectKey {
                    kind: ObjectKind::View,
                    name: "ext_a_v".to_owned(),
                },
                "rule _RETURN x".to_owned(),
            ),
            (
                ObjectKey {
                    kind: ObjectKind::Function,
                    name: "lower".to_owned(),
                },
                "function f".to_owned(),
            ),
        ])
    }

    /// The verdict on each statement, run one after the other in one clearance.
    fn verdicts(backend: DbBackend, scope: &TableScope, sql: &[&str]) -> Vec<Result<(), String>> {
        let schema = schema();
        let mut clearance = Clearance::new(backend, scope, &schema);
        sql.iter().map(|s| clearance.statement(s)).collect()
    }

    fn clear(backend: DbBackend, sql: &str) -> bool {
        verdicts(backend, &TableScope::workflow("a"), &[sql])[0].is_ok()
    }

    const ALL: [DbBackend; 3] = [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql];

    #[test]
    fn what_sea_query_writes_for_the_chains_own_tables_is_cleared() {
        let cases: &[(DbBackend, &str)] = &[
            (
                DbBackend::Postgres,
                r#"CREATE TABLE IF NOT EXISTS "ext_a_x" ( "id" serial NOT NULL PRIMARY KEY, "name" varchar NOT NULL DEFAULT 'x', "at" timestamp DEFAULT CURRENT_TIMESTAMP, "u" integer, CONSTRAINT "fk" FOREIGN KEY ("u") REFERENCES "users" ("id") ON DELETE CASCADE )"#,
            ),
            (
                DbBackend::MySql,
                "CREATE TABLE IF NOT EXISTS `ext_a_x` ( `id` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `kind` ENUM('a', 'b') NOT NULL, `at` timestamp NULL DEFAULT CURRENT_TIMESTAMP )",
            ),
            (
                DbBackend::Sqlite,
                r#"CREATE TABLE IF NOT EXISTS "ext_a_x" ( "id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "n" text )"#,
            ),
            (
                DbBackend::Postgres,
                r#"CREATE UNIQUE INDEX "idx-ext_a_t-name" ON "ext_a_t" ("name")"#,
            ),
            (DbBackend::MySql, "CREATE INDEX `idx` ON `ext_a_t` (`name`)"),
            (
                DbBackend::Postgres,
                r#"ALTER TABLE "ext_a_t" ADD COLUMN "x" integer NOT NULL DEFAULT 0"#,
            ),
            (DbBackend::Postgres, r#"DROP INDEX "ext_a_t_name""#),
            (DbBackend::Postgres, r#"DROP TABLE "ext_a_t""#),
            (
                DbBackend::Postgres,
                r#"INSERT INTO "ext_a_t" ("name") VALUES ($1), ($2) RETURNING "id""#,
            ),
            (
                DbBackend::MySql,
                "INSERT INTO `ext_a_t` (`name`) VALUES (?)",
            ),
            (
                DbBackend::Sqlite,
                r#"UPDATE "ext_a_t" SET "name" = upper("name") WHERE "id" IN (SELECT "id" FROM "users")"#,
            ),
            (
                DbBackend::Postgres,
                r#"DELETE FROM "ext_a_t" WHERE "id" = $1"#,
            ),
            (
                DbBackend::Postgres,
                "CREATE TYPE ext_a_mood AS ENUM ('calm')",
            ),
            (
                DbBackend::Postgres,
                "ALTER TYPE ext_a_mood ADD VALUE 'glad'",
            ),
            (
                DbBackend::Postgres,
                "CREATE OR REPLACE VIEW ext_a_w AS SELECT id FROM users",
            ),
            (
                DbBackend::Postgres,
                "CREATE FUNCTION ext_a_f() RETURNS trigger AS $$ BEGIN DELETE FROM seaql_migrations; RETURN NEW; END $$ LANGUAGE plpgsql",
            ),
            (DbBackend::Postgres, "SELECT 1"),
            (
                DbBackend::Sqlite,
                "SELECT COUNT(*) AS c FROM pragma_table_info('ext_a_t') WHERE name = 'x'",
            ),
            (DbBackend::MySql, "SET FOREIGN_KEY_CHECKS = 0"),
            (DbBackend::Postgres, "SET LOCAL lock_timeout = '5s'"),
            (DbBackend::Sqlite, "PRAGMA foreign_keys = OFF"),
            (DbBackend::Postgres, "SAVEPOINT sea_orm_1"),
            (DbBackend::Postgres, "ROLLBACK TO SAVEPOINT sea_orm_1"),
        ];
        for (backend, sql) in cases {
            let verdict = verdicts(*backend, &TableScope::workflow("a"), &[sql]);
            assert_eq!(verdict, [Ok(())], "{backend:?}: {sql}");
        }
    }

    #[test]
    fn anything_that_may_reach_past_the_chain_is_unclear() {
        let cases = [
            "CREATE TABLE users2 (id int)",
            "CREATE TABLE public.ext_a_x (id int)",
            r#"CREATE TABLE "EXT_A_X" (id int)"#,
            "CREATE TABLE ext_a_x (id int) INHERITS (users)",
            "CREATE INDEX i ON users (id)",
            "ALTER TABLE users ADD COLUMN x int",
            "ALTER TABLE ext_a_t RENAME TO users",
            "ALTER TABLE ext_a_t RENAME COLUMN id TO ident",
            "ALTER TABLE ext_a_t ADD COLUMN x int DEFAULT evil()",
            "ALTER TABLE ext_a_t DROP COLUMN id CASCADE",
            "DROP TABLE ext_a_t CASCADE",
            "DROP TABLE ext_a_t, users",
            "DROP INDEX users_pkey",
            "DROP INDEX unknown_index",
            "INSERT INTO users (id) VALUES (1)",
            "INSERT INTO ext_a_audited (id) VALUES (1)",
            "INSERT INTO ext_a_v (id) VALUES (1)",
            "INSERT INTO ext_a_t (id) SELECT version FROM seaql_migrations",
            "DELETE FROM seaql_migrations WHERE version = 'm1'",
            "DELETE FROM seaql_migrations_a",
            "UPDATE seaql_migrations_in_progress SET version = 'x'",
            "WITH d AS (DELETE FROM users RETURNING id) SELECT * FROM d",
            "SELECT evil()",
            "SELECT lower('X')",
            "SELECT * FROM evil()",
            "SELECT pg_catalog.set_config('search_path', 'x', false)",
            "SELECT id INTO ext_a_copy FROM users",
            "DO $$ BEGIN DROP TABLE users; END $$",
            "CALL ext_a_p()",
            "SET search_path TO other",
            "CREATE EXTENSION pg_trgm",
            "CREATE VIEW users_v AS SELECT 1",
            "CREATE TRIGGER t BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION ext_a_f()",
            "CREATE TYPE mood AS ENUM ('a')",
            "CREATE SEQUENCE ext_a_s OWNED BY users.id",
            "ALTER TYPE ext_a_mood RENAME TO mood",
            "COMMIT",
            "BEGIN",
            "TRUNCATE users",
            "GRANT ALL ON users TO public",
            "SELECT 1; DROP TABLE users",
            "this is not SQL",
        ];
        for sql in cases {
            assert!(!clear(DbBackend::Postgres, sql), "cleared: {sql}");
        }
        for backend in ALL {
            assert!(!clear(backend, "DROP TABLE users"), "{backend:?}");
            assert!(
                !clear(backend, "DELETE FROM seaql_migrations"),
                "{backend:?}"
            );
        }
        assert!(!clear(
            DbBackend::MySql,
            "SET GLOBAL foreign_key_checks = 0"
        ));
        // the schema has a view: on MySQL a drop may change how it reads
        assert!(!clear(DbBackend::MySql, "DROP TABLE ext_a_t"));
        assert!(!clear(
            DbBackend::MySql,
            "ALTER TABLE ext_a_t DROP COLUMN id"
        ));
        assert!(clear(
            DbBackend::MySql,
            "ALTER TABLE ext_a_t ADD COLUMN x int"
        ));
        assert!(!clear(DbBackend::MySql, "RENAME TABLE ext_a_t TO users"));
        assert!(!clear(
            DbBackend::MySql,
            "DELETE users, ext_a_t FROM users JOIN ext_a_t"
        ));
        assert!(!clear(
            DbBackend::MySql,
            "UPDATE ext_a_t JOIN users SET users.id = 1"
        ));
        assert!(!clear(DbBackend::Sqlite, "PRAGMA writable_schema = ON"));
        assert!(!clear(DbBackend::Sqlite, "PRAGMA main.writable_schema = 1"));
        assert!(!clear(
            DbBackend::Sqlite,
            "PRAGMA foreign_keys = OFF; DROP TABLE users"
        ));
        assert!(clear(DbBackend::Sqlite, "PRAGMA foreign_key_check"));
        assert!(clear(DbBackend::Sqlite, "PRAGMA table_info(\"ext_a_t\")"));
        assert!(!clear(DbBackend::Sqlite, "DROP TRIGGER t"));
        assert!(!clear(
            DbBackend::Sqlite,
            "CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM seaql_migrations; END"
        ));
    }

    #[test]
    fn names_fold_as_each_backend_stores_them() {
        // PostgreSQL folds unquoted names to lower case; the others keep them
        assert!(clear(DbBackend::Postgres, "CREATE TABLE EXT_A_X (id int)"));
        assert!(!clear(DbBackend::MySql, "CREATE TABLE EXT_A_X (id int)"));
        assert!(!clear(DbBackend::Sqlite, "CREATE TABLE Ext_A_X (id int)"));
    }

    #[test]
    fn the_engine_clears_its_own_names_and_nothing_of_a_workflow_project() {
        let engine = TableScope::Engine;
        let v = verdicts(
            DbBackend::Postgres,
            &engine,
            &[
                "CREATE TABLE tasks (id int)",
                "CREATE TABLE ext_a_x (id int)",
                "INSERT INTO seaql_migrations (version, applied_at) VALUES ('x', 1)",
            ],
        );
        assert!(v[0].is_ok());
        assert!(v[1].is_err() && v[2].is_err(), "{v:?}");
    }

    #[test]
    fn later_statements_see_what_earlier_ones_made() {
        let scope = TableScope::workflow("a");
        let v = verdicts(
            DbBackend::Postgres,
            &scope,
            &[
                // a table created here takes rows, until a trigger is put on it
                "CREATE TABLE ext_a_new (id int)",
                "INSERT INTO ext_a_new (id) VALUES (1)",
                "CREATE TRIGGER trg AFTER INSERT ON ext_a_new FOR EACH ROW EXECUTE FUNCTION ext_a_f()",
                "INSERT INTO ext_a_new (id) VALUES (2)",
                // an index created here can be dropped by name
                "CREATE INDEX ext_a_i ON ext_a_t (id)",
                "DROP INDEX ext_a_i",
                // a function created here is no built-in, and a table made a view takes no rows
                "CREATE FUNCTION now() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql",
                "DROP TABLE ext_a_t",
                "CREATE VIEW ext_a_t AS SELECT 1 AS id",
                "INSERT INTO ext_a_t (id) VALUES (1)",
            ],
        );
        let ok: Vec<bool> = v.iter().map(Result::is_ok).collect();
        assert_eq!(
            ok,
            [
                true, true, true, false, true, true, false, true, true, false
            ],
            "{v:?}"
        );
    }

    #[test]
    fn touched_names_are_the_objects_and_tables_changed() {
        let schema = schema();
        let scope = TableScope::workflow("a");
        let mut c = Clearance::new(DbBackend::Postgres, &scope, &schema);
        for sql in [
            "CREATE TABLE ext_a_x (id int)",
            "CREATE INDEX i ON ext_a_t (id)",
            "INSERT INTO ext_a_x (id) VALUES (1)",
            "SELECT * FROM users",
            "CREATE TYPE ext_a_e AS ENUM ('a')",
        ] {
            c.statement(sql).unwrap();
        }
        let touched: Vec<&str> = c.touched().iter().map(String::as_str).collect();
        assert_eq!(touched, ["ext_a_e", "ext_a_t", "ext_a_x"]);
    }

    #[test]
    fn a_foreign_key_made_is_a_part_to_read_back() {
        let schema = schema();
        let scope = TableScope::workflow("a");
        let mut c = Clearance::new(DbBackend::MySql, &scope, &schema);
        c.statement("CREATE TABLE ext_a_x (id int PRIMARY KEY, n int)")
            .unwrap();
        c.statement("ALTER TABLE ext_a_x ADD COLUMN m int").unwrap();
        assert!(!c.created_parts().references);
        for sql in [
            "CREATE TABLE ext_a_y (id int, t int, FOREIGN KEY (t) REFERENCES ext_a_x (id))",
            "ALTER TABLE ext_a_y ADD CONSTRAINT fk FOREIGN KEY (t) References users (id)",
            "CREATE TABLE ext_a_z (t int REFERENCES ext_a_x (id))",
        ] {
            let mut c = Clearance::new(DbBackend::MySql, &scope, &schema);
            c.statement(sql).unwrap();
            assert!(c.created_parts().references, "{sql}");
        }
    }

    #[test]
    fn a_type_made_is_a_part_to_read_back() {
        let schema = schema();
        let scope = TableScope::workflow("a");
        let mut c = Clearance::new(DbBackend::Postgres, &scope, &schema);
        c.statement("CREATE TABLE ext_a_x (id serial PRIMARY KEY, n int)")
            .unwrap();
        assert!(!c.created_parts().types);
        for sql in [
            "CREATE TYPE ext_a_mood AS ENUM ('a', 'b')",
            "CREATE TYPE ext_a_pair AS (a int, b text)",
            "CREATE DOMAIN ext_a_pos AS integer CHECK (VALUE > 0)",
        ] {
            let mut c = Clearance::new(DbBackend::Postgres, &scope, &schema);
            c.statement(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
            assert!(c.created_parts().types, "{sql}");
        }
        // types that come with objects of other names
        for sql in [
            "CREATE TYPE ext_a_span AS RANGE (subtype = integer)",
            "CREATE TYPE ext_a_daterange AS RANGE (subtype = date, multirange_type_name = x)",
            "CREATE TYPE ext_a_base (INPUT = ext_a_in, OUTPUT = ext_a_out)",
            "CREATE TYPE ext_a_shell",
        ] {
            assert!(!clear(DbBackend::Postgres, sql), "{sql}");
        }
    }
}
