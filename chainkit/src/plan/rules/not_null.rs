//! `data-dependent`: NOT NULL added to a column of a table that already existed, which fails
//! if any row holds NULL there.

use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;

pub(super) fn check(input: &Input<'_>) -> Vec<Finding> {
    input
        .changes
        .iter()
        .filter(|c| input.existed(c.table()))
        .filter_map(|c| match c {
            Change::AlterColumn { table, from, to } if from.nullable && !to.nullable => {
                Some(Finding::new(
                    FindingKind::DataDependent,
                    "not-null-added",
                    column(table, &from.name),
                    "fails if any row holds NULL there: fill those rows first (in this or an \
                     earlier migration)",
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
    fn not_null_on_an_existing_table_depends_on_the_rows() {
        let changes = [Change::AlterColumn {
            table: "t".into(),
            from: col("a", "text", true, None),
            to: col("a", "text", false, None),
        }];
        let input = input(DbBackend::MySql, &changes);
        let found = check(&input);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].code, "not-null-added");
        assert_eq!(found[0].object, r#"column "t"."a""#);
    }

    #[test]
    fn a_column_made_nullable_is_no_finding() {
        let changes = [Change::AlterColumn {
            table: "t".into(),
            from: col("a", "text", false, None),
            to: col("a", "text", true, None),
        }];
        let input = input(DbBackend::Postgres, &changes);
        assert!(check(&input).is_empty());
    }
}
