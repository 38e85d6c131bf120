//! `data-dependent`: a change to a table that already existed that succeeds only if its rows
//! allow it: NOT NULL added, a UNIQUE index added, a NOT NULL column without default added.

use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;

pub(super) fn check(input: &Input<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for change in input.changes {
        if !input.existed(change.table()) {
            continue;
        }
        match change {
            Change::AlterColumn { table, from, to } if from.nullable && !to.nullable => {
                findings.push(Finding::new(
                    FindingKind::DataDependent,
                    "not-null-added",
                    column(table, &from.name),
                    "fails if any row holds NULL there: fill those rows first (in this or an \
                     earlier migration)",
                ));
            }
            Change::AddIndex { table, index } if index.unique => {
                findings.push(Finding::new(
                    FindingKind::DataDependent,
                    "unique-added",
                    format!("index on {table:?} ({})", index.columns.join(", ")),
                    "fails if two rows already share a value: look for duplicates first",
                ));
            }
            Change::AddColumn { table, column: c }
                if !c.nullable && c.default.is_none() && c.extra.is_empty() =>
            {
                findings.push(Finding::new(
                    FindingKind::DataDependent,
                    "required-column-added",
                    column(table, &c.name),
                    "NOT NULL without a default fails as soon as the table has a row: give it a \
                     default, or add it nullable, fill it, then make it NOT NULL",
                ));
            }
            _ => {}
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rules::fixtures::{col, index};
    use sea_orm::DbBackend;

    #[test]
    fn not_null_unique_and_required_columns_on_existing_tables_depend_on_the_rows() {
        let changes = [
            Change::AlterColumn {
                table: "t".into(),
                from: col("a", "text", true, None),
                to: col("a", "text", false, None),
            },
            Change::AddIndex {
                table: "t".into(),
                index: index(&["b"], true),
            },
            Change::AddColumn {
                table: "t".into(),
                column: col("c", "integer", false, None),
            },
            Change::AddColumn {
                table: "t".into(),
                column: col("d", "integer", false, Some("0")),
            },
        ];
        let input = Input {
            backend: DbBackend::MySql,
            changes: &changes,
            objects: &[],
            statements: &[],
        };
        let codes: Vec<String> = check(&input).into_iter().map(|f| f.code).collect();
        assert_eq!(
            codes,
            ["not-null-added", "unique-added", "required-column-added"]
        );
    }

    #[test]
    fn a_table_created_by_the_same_migration_has_no_rows_to_worry_about() {
        let changes = [
            Change::CreateTable { table: "t".into() },
            Change::AddIndex {
                table: "t".into(),
                index: index(&["b"], true),
            },
        ];
        let input = Input {
            backend: DbBackend::Postgres,
            changes: &changes,
            objects: &[],
            statements: &[],
        };
        assert!(check(&input).is_empty());
    }
}
