//! `data-dependent`: a NOT NULL column without a default added to a table that already
//! existed, which fails as soon as the table has a row.

use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;

pub(super) fn check(input: &Input<'_>) -> Vec<Finding> {
    input
        .changes
        .iter()
        .filter(|c| input.existed(c.table()))
        .filter_map(|c| match c {
            Change::AddColumn { table, column: c }
                if !c.nullable && c.default.is_none() && c.extra.is_empty() =>
            {
                Some(Finding::new(
                    FindingKind::DataDependent,
                    "required-column-added",
                    column(table, &c.name),
                    "NOT NULL without a default fails as soon as the table has a row: give it a \
                     default, or add it nullable, fill it, then make it NOT NULL",
                ))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rules::fixtures::{col, input};
    use sea_orm::DbBackend;

    #[test]
    fn only_a_not_null_column_without_default_is_required() {
        let changes = [
            Change::AddColumn {
                table: "t".into(),
                column: col("c", "integer", false, None),
            },
            Change::AddColumn {
                table: "t".into(),
                column: col("d", "integer", false, Some("0")),
            },
            Change::AddColumn {
                table: "t".into(),
                column: col("e", "integer", true, None),
            },
        ];
        let input = input(DbBackend::MySql, &changes);
        let found = check(&input);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].object, r#"column "t"."c""#);
    }
}
