//! Snapshots of the database schema, per table, and what changed between two of them.
//!
//! A snapshot maps every table to a set of text lines describing it (columns with type,
//! nullability and default; indexes; constraints, foreign keys included), read from the
//! backend's catalog in one statement. Two snapshots compare table by table, which is what
//! the isolation guard and the round-trip assertion need: not a full schema model, but an
//! exact answer to "did this table change".

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sea_orm::ConnectionTrait;

use crate::backend;
use crate::error::Error;
use crate::scope::TableScope;

/// The schema of the current database (SQLite `main`, the PostgreSQL current schema, the
/// MySQL current database), table by table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    tables: BTreeMap<String, BTreeSet<String>>,
}

/// How a table changed between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// It did not exist before.
    Created,
    /// It no longer exists.
    Dropped,
    /// Its columns, indexes or constraints changed.
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

/// One table that changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TableChange {
    /// The table.
    pub table: String,
    /// How it changed.
    pub kind: ChangeKind,
}

impl fmt::Display for TableChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {:?} {}", self.table, self.kind)
    }
}

impl Snapshot {
    /// Builds a snapshot from (table, description line) pairs.
    pub fn from_lines<I, T, L>(lines: I) -> Self
    where
        I: IntoIterator<Item = (T, L)>,
        T: Into<String>,
        L: Into<String>,
    {
        let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (table, line) in lines {
            tables.entry(table.into()).or_default().insert(line.into());
        }
        Self { tables }
    }

    /// The tables, sorted.
    pub fn tables(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }

    /// Whether `table` exists.
    pub fn contains(&self, table: &str) -> bool {
        self.tables.contains_key(table)
    }

    /// The lines describing `table`.
    pub fn describe(&self, table: &str) -> Option<&BTreeSet<String>> {
        self.tables.get(table)
    }

    /// Every table that differs between `self` (before) and `after`.
    pub fn changes(&self, after: &Snapshot) -> Vec<TableChange> {
        let names: BTreeSet<&String> = self.tables.keys().chain(after.tables.keys()).collect();
        names
            .into_iter()
            .filter_map(|table| {
                let kind = match (self.tables.get(table), after.tables.get(table)) {
                    (None, Some(_)) => ChangeKind::Created,
                    (Some(_), None) => ChangeKind::Dropped,
                    (Some(a), Some(b)) if a != b => ChangeKind::Altered,
                    _ => return None,
                };
                Some(TableChange {
                    table: table.clone(),
                    kind,
                })
            })
            .collect()
    }

    /// The changes to tables outside `scope`, ignoring `own_version_table` (which the runner
    /// itself writes).
    pub fn trespasses(
        &self,
        after: &Snapshot,
        scope: &TableScope,
        own_version_table: &str,
    ) -> Vec<TableChange> {
        self.changes(after)
            .into_iter()
            .filter(|c| c.table != own_version_table && !scope.contains(&c.table))
            .collect()
    }

    /// The same snapshot restricted to the tables `keep` accepts.
    pub fn filtered(&self, keep: impl Fn(&str) -> bool) -> Snapshot {
        Snapshot {
            tables: self
                .tables
                .iter()
                .filter(|(t, _)| keep(t))
                .map(|(t, l)| (t.clone(), l.clone()))
                .collect(),
        }
    }
}

/// Reads the current schema in one statement.
///
/// # Errors
/// [`Error::Database`] when the catalog cannot be read.
pub async fn snapshot<C: ConnectionTrait>(db: &C) -> Result<Snapshot, Error> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(backend::schema_catalog(backend))
        .await
        .map_err(Error::db("reading the schema catalog"))?;
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let table: String = row
            .try_get("", "t")
            .map_err(Error::db("reading the schema catalog"))?;
        let line: Option<String> = row
            .try_get("", "d")
            .map_err(Error::db("reading the schema catalog"))?;
        lines.push((table, line.unwrap_or_default()));
    }
    Ok(Snapshot::from_lines(lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(lines: &[(&str, &str)]) -> Snapshot {
        Snapshot::from_lines(lines.iter().copied())
    }

    #[test]
    fn created_dropped_and_altered_tables_are_told_apart() {
        let before = snap(&[("users", "column id"), ("tasks", "column id")]);
        let after = snap(&[
            ("users", "column id"),
            ("users", "column name"),
            ("ext_a_x", "column id"),
        ]);
        assert_eq!(
            before.changes(&after),
            [
                TableChange {
                    table: "ext_a_x".into(),
                    kind: ChangeKind::Created
                },
                TableChange {
                    table: "tasks".into(),
                    kind: ChangeKind::Dropped
                },
                TableChange {
                    table: "users".into(),
                    kind: ChangeKind::Altered
                },
            ]
        );
        assert!(before.changes(&before).is_empty());
    }

    #[test]
    fn trespasses_are_changes_outside_the_scope_except_the_own_version_table() {
        let before = snap(&[("users", "column id")]);
        let after = snap(&[
            ("users", "column id"),
            ("users", "column extra"),
            ("ext_acme_orders", "column id"),
            ("ext_other_x", "column id"),
            ("seaql_migrations_acme", "column version"),
        ]);
        let found = before.trespasses(
            &after,
            &TableScope::workflow("acme"),
            "seaql_migrations_acme",
        );
        let names: Vec<String> = found.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [r#"table "ext_other_x" created"#, r#"table "users" altered"#]
        );
        let engine = before.trespasses(&after, &TableScope::Engine, "seaql_migrations");
        let names: Vec<&str> = engine.iter().map(|c| c.table.as_str()).collect();
        assert_eq!(
            names,
            ["ext_acme_orders", "ext_other_x", "seaql_migrations_acme"]
        );
    }
}
