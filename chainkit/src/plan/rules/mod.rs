//! The rules that turn a migration's schema change and statements into findings: pure
//! functions, one file per rule (`dropped` covers every kind of object dropped, `narrowed` a
//! column's type changed), tested without a database. The schema-diff rules hold on every
//! backend; PostgreSQL's statements also go through squawk's linter ([`squawk`]).

mod dropped;
mod mysql_copy;
mod narrowed;
mod not_null;
mod renamed;
mod required_column;
pub(crate) mod squawk;
mod unique;

use sea_orm::DbBackend;
use serde::Serialize;

use crate::drift::Change;
use crate::schema::ObjectChange;

/// What a finding warns of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// Data goes away: a table, column, view or type dropped, a column narrowed.
    Destructive,
    /// Whether it succeeds depends on the rows: NOT NULL or UNIQUE added to a table that
    /// existed, a NOT NULL column without default added to one.
    DataDependent,
    /// It locks a table others use while it runs: an index built without CONCURRENTLY, a
    /// rewrite of the table, a constraint validated at once (PostgreSQL); a table copied
    /// (MySQL).
    Blocking,
    /// The previous build, still running on other replicas, breaks: a table or column
    /// renamed.
    Incompatible,
}

impl FindingKind {
    /// The word for it, as `--deny` takes it.
    pub fn word(self) -> &'static str {
        match self {
            Self::Destructive => "destructive",
            Self::DataDependent => "data-dependent",
            Self::Blocking => "blocking",
            Self::Incompatible => "incompatible",
        }
    }
}

impl std::fmt::Display for FindingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// One thing a reviewer should know about a migration before it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it warns of.
    pub kind: FindingKind,
    /// The rule that found it (`column-dropped`; squawk's rules as `squawk:<name>`): what a
    /// migration names to acknowledge it.
    pub code: String,
    /// The object concerned, e.g. `column "ext_billing_invoices"."note"`.
    pub object: String,
    /// One line of advice.
    pub message: String,
    /// Whether the migration acknowledges this code ([`crate::Acknowledge`]).
    pub acknowledged: bool,
}

impl Finding {
    pub(crate) fn new(
        kind: FindingKind,
        code: &str,
        object: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            code: code.to_owned(),
            object: object.into(),
            message: message.into(),
            acknowledged: false,
        }
    }
}

/// What the rules look at: one migration's change.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Input<'a> {
    /// The backend it ran on.
    pub backend: DbBackend,
    /// Its tables' changes, column by column (the catalog before and after it, compared).
    pub changes: &'a [Change],
    /// Every schema object it created, altered or dropped (views, types, functions…).
    pub objects: &'a [ObjectChange],
    /// The statements it sent, in order.
    pub statements: &'a [String],
}

impl Input<'_> {
    /// Whether `table` existed before the migration (it is not one the migration created).
    pub fn existed(&self, table: &str) -> bool {
        !self
            .changes
            .iter()
            .any(|c| matches!(c, Change::CreateTable { table: t } if t == table))
    }

    /// Whether a statement renames something (`RENAME`, outside quotes).
    pub fn renames(&self) -> bool {
        self.statements
            .iter()
            .any(|s| crate::plan::statements::words(s).any(|w| w.eq_ignore_ascii_case("rename")))
    }
}

/// Every finding of the rules that hold on all backends, then of the backend's own.
pub(crate) fn check(input: &Input<'_>) -> Vec<Finding> {
    let renamed = renamed::check(input);
    let mut findings = dropped::check(input, &renamed);
    let changes = renamed.applied_to(input.changes);
    let seen = Input {
        changes: &changes,
        ..*input
    };
    findings.extend(narrowed::check(&seen));
    findings.extend(not_null::check(&seen));
    findings.extend(unique::check(&seen));
    findings.extend(required_column::check(&seen));
    findings.extend(renamed.findings);
    match input.backend {
        DbBackend::MySql => findings.extend(mysql_copy::check(&seen)),
        DbBackend::Postgres => findings.extend(squawk::check(input.statements)),
        _ => {}
    }
    findings
}

/// The findings of a migration `autogenerate` writes from `drift`: the schema-diff rules on
/// its changes, and on PostgreSQL squawk's on the statements its index, foreign key and type
/// changes send (with the names the generated code gives them).
pub(crate) fn for_generated(drift: &crate::drift::Drift) -> Vec<Finding> {
    let q = |name: &str| crate::backend::quote(drift.backend, name);
    let list = |names: &[String]| names.iter().map(|n| q(n)).collect::<Vec<_>>().join(", ");
    let statements: Vec<String> = if drift.backend == DbBackend::Postgres {
        drift
            .changes
            .iter()
            .filter_map(|c| match c {
                Change::AddIndex { table, index } => Some(format!(
                    "CREATE {}INDEX {} ON {} ({})",
                    if index.unique { "UNIQUE " } else { "" },
                    q(&crate::codegen::index_name(table, index)),
                    q(table),
                    list(&index.columns)
                )),
                Change::AddForeignKey { table, key } => Some(format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
                    q(table),
                    q(&crate::codegen::fk_create_name(table, key)),
                    list(&key.columns),
                    q(&key.ref_table),
                    list(&key.ref_columns)
                )),
                Change::AlterColumn { table, from, to } if from.sql_type != to.sql_type => {
                    Some(format!(
                        "ALTER TABLE {} ALTER COLUMN {} TYPE {}",
                        q(table),
                        q(&from.name),
                        to.sql_type
                    ))
                }
                _ => None,
            })
            .collect()
    } else {
        Vec::new()
    };
    check(&Input {
        backend: drift.backend,
        changes: &drift.changes,
        objects: &[],
        statements: &statements,
    })
}

/// `column "table"."name"`.
pub(crate) fn column(table: &str, name: &str) -> String {
    format!("column {table:?}.{name:?}")
}

#[cfg(test)]
pub(crate) mod fixtures {
    use sea_orm::DbBackend;

    use super::Input;
    use crate::catalog::{ColumnModel, IndexModel};
    use crate::drift::Change;

    /// One migration's input with only table changes.
    pub fn input(backend: DbBackend, changes: &[Change]) -> Input<'_> {
        Input {
            backend,
            changes,
            objects: &[],
            statements: &[],
        }
    }

    pub fn col(name: &str, sql_type: &str, nullable: bool, default: Option<&str>) -> ColumnModel {
        ColumnModel {
            name: name.into(),
            sql_type: sql_type.into(),
            nullable,
            default: default.map(str::to_owned),
            extra: String::new(),
        }
    }

    pub fn index(columns: &[&str], unique: bool) -> IndexModel {
        IndexModel {
            name: format!("idx_{}", columns.join("_")),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            unique,
            constraint: false,
        }
    }
}
