//! `incompatible`: a table or column renamed. The catalog sees a rename as one name gone and
//! another come; a statement that says `RENAME` and names both tells it apart from a drop.

use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;

/// The renames found, and their findings.
#[derive(Debug, Default)]
pub(super) struct Renamed {
    /// (from, to)
    pub tables: Vec<(String, String)>,
    /// (table, from, to)
    pub columns: Vec<(String, String, String)>,
    pub findings: Vec<Finding>,
}

impl Renamed {
    /// `changes` with each rename seen as what it is: a renamed column becomes one column
    /// altered (the old name, the new definition), a renamed table is no table dropped and
    /// none created (so the rules see it as a table that existed).
    pub fn applied_to(&self, changes: &[Change]) -> Vec<Change> {
        changes
            .iter()
            .filter_map(|c| match c {
                Change::DropTable { table } | Change::CreateTable { table }
                    if self.tables.iter().any(|(f, t)| f == table || t == table) =>
                {
                    None
                }
                Change::DropColumn { table, column }
                    if self
                        .columns
                        .iter()
                        .any(|(t, f, _)| t == table && *f == column.name) =>
                {
                    None
                }
                Change::AddColumn { table, column: to } => {
                    match self
                        .columns
                        .iter()
                        .find(|(t, _, n)| t == table && *n == to.name)
                    {
                        Some((_, from_name, _)) => {
                            let from = changes.iter().find_map(|c| match c {
                                Change::DropColumn { table: t, column }
                                    if t == table && column.name == *from_name =>
                                {
                                    Some(column)
                                }
                                _ => None,
                            })?;
                            Some(Change::AlterColumn {
                                table: table.clone(),
                                from: from.clone(),
                                to: crate::catalog::ColumnModel {
                                    name: from.name.clone(),
                                    ..to.clone()
                                },
                            })
                        }
                        None => Some(c.clone()),
                    }
                }
                _ => Some(c.clone()),
            })
            .collect()
    }
}

fn mentioned_together(input: &Input<'_>, names: &[&str]) -> bool {
    input.statements.iter().any(|s| {
        let words: Vec<String> = crate::plan::statements::words(s)
            .map(|w| w.to_ascii_lowercase())
            .collect();
        words.iter().any(|w| w == "rename")
            && names
                .iter()
                .all(|n| words.iter().any(|w| w == &n.to_ascii_lowercase()))
    })
}

pub(super) fn check(input: &Input<'_>) -> Renamed {
    let mut out = Renamed::default();
    if !input.renames() {
        return out;
    }
    for change in input.changes {
        if let Change::DropTable { table: from } = change {
            let to = input.changes.iter().find_map(|c| match c {
                Change::CreateTable { table: to } if mentioned_together(input, &[from, to]) => {
                    Some(to)
                }
                _ => None,
            });
            if let Some(to) = to {
                out.tables.push((from.clone(), to.clone()));
                out.findings.push(Finding::new(
                    FindingKind::Incompatible,
                    "table-renamed",
                    format!("table {from:?}"),
                    format!(
                        "renamed to {to:?}: replicas still on the previous build query {from:?} and \
                         fail; add the new name first (or a view under the old one) and drop the old \
                         in a later release"
                    ),
                ));
            }
        }
        if let Change::DropColumn {
            table,
            column: from,
        } = change
        {
            let to = input.changes.iter().find_map(|c| match c {
                Change::AddColumn {
                    table: t,
                    column: to,
                } if t == table && mentioned_together(input, &[&from.name, &to.name]) => Some(to),
                _ => None,
            });
            if let Some(to) = to {
                out.columns
                    .push((table.clone(), from.name.clone(), to.name.clone()));
                out.findings.push(Finding::new(
                    FindingKind::Incompatible,
                    "column-renamed",
                    column(table, &from.name),
                    format!(
                        "renamed to {:?}: replicas still on the previous build read and write {:?} \
                         and fail; add the new column, write both, and drop the old one in a later \
                         release",
                        to.name, from.name
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rules::fixtures::col;
    use sea_orm::DbBackend;

    fn input<'a>(changes: &'a [Change], statements: &'a [String]) -> Input<'a> {
        Input {
            backend: DbBackend::Postgres,
            changes,
            objects: &[],
            statements,
        }
    }

    #[test]
    fn a_column_renamed_by_statement_is_incompatible_not_dropped() {
        let changes = [
            Change::AddColumn {
                table: "t".into(),
                column: col("full_name", "text", true, None),
            },
            Change::DropColumn {
                table: "t".into(),
                column: col("name", "text", true, None),
            },
        ];
        let statements = [r#"ALTER TABLE "t" RENAME COLUMN "name" TO "full_name""#.to_owned()];
        let found = check(&input(&changes, &statements));
        assert_eq!(
            found.columns,
            [("t".into(), "name".into(), "full_name".into())]
        );
        assert_eq!(found.findings[0].code, "column-renamed");
        assert_eq!(found.findings[0].object, r#"column "t"."name""#);
    }

    #[test]
    fn a_renamed_column_made_not_null_is_one_column_altered() {
        let changes = [
            Change::AddColumn {
                table: "t".into(),
                column: col("quantity", "integer", false, None),
            },
            Change::DropColumn {
                table: "t".into(),
                column: col("qty", "integer", true, None),
            },
        ];
        let statements = [r#"ALTER TABLE t RENAME COLUMN qty TO quantity"#.to_owned()];
        let renamed = check(&input(&changes, &statements));
        assert_eq!(
            renamed.applied_to(&changes),
            [Change::AlterColumn {
                table: "t".into(),
                from: col("qty", "integer", true, None),
                to: col("qty", "integer", false, None),
            }]
        );
    }

    #[test]
    fn a_table_renamed_is_incompatible() {
        let changes = [
            Change::CreateTable { table: "b".into() },
            Change::DropTable { table: "a".into() },
        ];
        let statements = ["RENAME TABLE `a` TO `b`".to_owned()];
        let found = check(&input(&changes, &statements));
        assert_eq!(found.tables, [("a".into(), "b".into())]);
        assert_eq!(found.findings[0].kind, FindingKind::Incompatible);
    }

    #[test]
    fn a_drop_and_an_add_without_rename_are_no_rename() {
        let changes = [
            Change::AddColumn {
                table: "t".into(),
                column: col("b", "text", true, None),
            },
            Change::DropColumn {
                table: "t".into(),
                column: col("a", "text", true, None),
            },
        ];
        let statements = [
            r#"ALTER TABLE "t" ADD COLUMN "b" text"#.to_owned(),
            r#"ALTER TABLE "t" DROP COLUMN "a" -- rename later"#.to_owned(),
        ];
        assert!(check(&input(&changes, &statements)).findings.is_empty());
    }
}
