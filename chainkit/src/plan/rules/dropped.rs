//! `destructive`: a table, column, view, materialized view, type or sequence dropped (renames
//! excepted: they are `incompatible`).

use super::renamed::Renamed;
use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;
use crate::schema::{ChangeKind, ObjectKind};

pub(super) fn check(input: &Input<'_>, renamed: &Renamed) -> Vec<Finding> {
    let mut findings = Vec::new();
    for change in input.changes {
        match change {
            Change::DropTable { table } if !renamed.tables.iter().any(|(f, _)| f == table) => {
                findings.push(Finding::new(
                    FindingKind::Destructive,
                    "table-dropped",
                    format!("table {table:?}"),
                    "its rows are gone for good: make sure nothing reads it any more and that a \
                     backup holds what it had",
                ));
            }
            Change::DropColumn { table, column: c }
                if !renamed
                    .columns
                    .iter()
                    .any(|(t, f, _)| t == table && f == &c.name) =>
            {
                findings.push(Finding::new(
                    FindingKind::Destructive,
                    "column-dropped",
                    column(table, &c.name),
                    "its values are gone for good, and replicas on the previous build that still \
                     read it fail: stop using it in one release, drop it in the next",
                ));
            }
            _ => {}
        }
    }
    for change in input.objects {
        let code = match change.object.kind {
            ObjectKind::View => "view-dropped",
            ObjectKind::MaterializedView => "materialized-view-dropped",
            ObjectKind::Type => "type-dropped",
            ObjectKind::Sequence => "sequence-dropped",
            _ => continue,
        };
        if change.kind == ChangeKind::Dropped {
            findings.push(Finding::new(
                FindingKind::Destructive,
                code,
                change.object.to_string(),
                "whatever still uses it fails: make sure nothing does",
            ));
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rules::fixtures::{col, input};
    use crate::schema::{ObjectChange, ObjectKey};
    use sea_orm::DbBackend;

    #[test]
    fn dropped_tables_columns_views_and_types_are_destructive() {
        let changes = [
            Change::DropTable { table: "a".into() },
            Change::DropColumn {
                table: "b".into(),
                column: col("note", "text", true, None),
            },
        ];
        let objects = [
            ObjectChange {
                object: ObjectKey {
                    kind: ObjectKind::View,
                    name: "v".into(),
                },
                kind: ChangeKind::Dropped,
            },
            ObjectChange {
                object: ObjectKey {
                    kind: ObjectKind::Type,
                    name: "mood".into(),
                },
                kind: ChangeKind::Dropped,
            },
            ObjectChange {
                object: ObjectKey {
                    kind: ObjectKind::Function,
                    name: "f".into(),
                },
                kind: ChangeKind::Dropped,
            },
        ];
        let input = Input {
            backend: DbBackend::Sqlite,
            changes: &changes,
            objects: &objects,
            statements: &[],
        };
        let found = check(&input, &Renamed::default());
        let codes: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.code.as_str(), f.object.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("table-dropped", r#"table "a""#),
                ("column-dropped", r#"column "b"."note""#),
                ("view-dropped", r#"view "v""#),
                ("type-dropped", r#"type "mood""#),
            ]
        );
        assert!(found.iter().all(|f| f.kind == FindingKind::Destructive));
    }

    #[test]
    fn a_renamed_column_is_not_dropped() {
        let changes = [Change::DropColumn {
            table: "b".into(),
            column: col("note", "text", true, None),
        }];
        let renamed = Renamed {
            columns: vec![("b".into(), "note".into(), "remark".into())],
            ..Renamed::default()
        };
        let input = input(DbBackend::Sqlite, &changes);
        assert!(check(&input, &renamed).is_empty());
    }
}
