//! `data-dependent`: a unique index added to a table that already existed, which fails if two
//! rows already share a value.

use super::{Finding, FindingKind, Input};
use crate::drift::Change;

pub(super) fn check(input: &Input<'_>) -> Vec<Finding> {
    input
        .changes
        .iter()
        .filter(|c| input.existed(c.table()))
        .filter_map(|c| match c {
            Change::AddIndex { table, index } if index.unique => Some(Finding::new(
                FindingKind::DataDependent,
                "unique-added",
                format!("index on {table:?} ({})", index.columns.join(", ")),
                "fails if two rows already share a value: look for duplicates first",
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::rules::fixtures::{index, input};
    use sea_orm::DbBackend;

    #[test]
    fn a_unique_index_on_an_existing_table_depends_on_the_rows() {
        let changes = [
            Change::AddIndex {
                table: "t".into(),
                index: index(&["b"], true),
            },
            Change::AddIndex {
                table: "t".into(),
                index: index(&["c"], false),
            },
        ];
        let input = input(DbBackend::Sqlite, &changes);
        let found = check(&input);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].object, r#"index on "t" (b)"#);
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
        let input = input(DbBackend::Postgres, &changes);
        assert!(check(&input).is_empty());
    }
}
