//! `blocking` on MySQL and MariaDB: changes to a table that already existed that the server
//! makes by copying the table (ALGORITHM=COPY), refusing writes while it copies: a column's
//! type changed, the primary key changed, a foreign key added while foreign key checks are on.

use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;

pub(super) fn check(input: &Input<'_>) -> Vec<Finding> {
    let advice = "the table is copied and writes to it wait until the copy ends: run it when \
                  the table is quiet, or with an online schema change tool";
    input
        .changes
        .iter()
        .filter(|c| input.existed(c.table()))
        .filter_map(|c| match c {
            Change::AlterColumn { table, from, to } if from.sql_type != to.sql_type => {
                Some(Finding::new(
                    FindingKind::Blocking,
                    "table-copy",
                    column(table, &from.name),
                    advice,
                ))
            }
            Change::PrimaryKey { table, .. } => Some(Finding::new(
                FindingKind::Blocking,
                "table-copy",
                format!("primary key of {table:?}"),
                advice,
            )),
            Change::AddForeignKey { table, key } => Some(Finding::new(
                FindingKind::Blocking,
                "table-copy",
                format!(
                    "foreign key {table:?} ({}) -> {:?}",
                    key.columns.join(", "),
                    key.ref_table
                ),
                advice,
            )),
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
    fn a_type_change_on_an_existing_mysql_table_copies_it() {
        let changes = [
            Change::AlterColumn {
                table: "t".into(),
                from: col("a", "varchar(20)", true, None),
                to: col("a", "varchar(40)", true, None),
            },
            Change::AlterColumn {
                table: "t".into(),
                from: col("b", "int", true, None),
                to: col("b", "int", true, Some("0")),
            },
        ];
        let input = input(DbBackend::MySql, &changes);
        let found = check(&input);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].object, r#"column "t"."a""#);
        assert_eq!(found[0].kind, FindingKind::Blocking);
    }
}
