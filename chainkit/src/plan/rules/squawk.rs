//! PostgreSQL's statements through squawk, the field's reference linter for PostgreSQL
//! migrations: its findings that say a statement locks a table others use, mapped to
//! `blocking` (and a few to `destructive`). Its rules that the schema-diff rules already cover
//! on every backend (dropped tables and columns, renames, required columns) and its style
//! rules (prefer bigint, prefer text…) are left out.

use squawk_linter::{Linter, Rule};

use super::{Finding, FindingKind};

/// The squawk rules used, with the kind each maps to.
const RULES: &[(Rule, FindingKind)] = &[
    (Rule::RequireConcurrentIndexCreation, FindingKind::Blocking),
    (Rule::RequireConcurrentIndexDeletion, FindingKind::Blocking),
    (Rule::ConstraintMissingNotValid, FindingKind::Blocking),
    (Rule::AddingForeignKeyConstraint, FindingKind::Blocking),
    (Rule::ChangingColumnType, FindingKind::Blocking),
    (Rule::AddingSerialPrimaryKeyField, FindingKind::Blocking),
    (Rule::DisallowedUniqueConstraint, FindingKind::Blocking),
    (Rule::AddingFieldWithDefault, FindingKind::Blocking),
    (Rule::RequireConcurrentReindex, FindingKind::Blocking),
    (
        Rule::RequireConcurrentPartitionDetach,
        FindingKind::Blocking,
    ),
    (
        Rule::BanConcurrentIndexCreationInTransaction,
        FindingKind::Blocking,
    ),
    (Rule::BanTruncateCascade, FindingKind::Destructive),
    (Rule::BanDropDatabase, FindingKind::Destructive),
    (Rule::BanDropSchema, FindingKind::Destructive),
];

/// The findings of squawk's rules above over `statements`, one migration's, in order.
pub(crate) fn check(statements: &[String]) -> Vec<Finding> {
    let statements: Vec<&String> = statements
        .iter()
        .filter(|s| !crate::plan::statements::is_read(s))
        .collect();
    if statements.is_empty() {
        return Vec::new();
    }
    let text: String = statements
        .iter()
        .map(|s| format!("{};\n", s.trim().trim_end_matches(';')))
        .collect();
    let file = squawk_syntax::SourceFile::parse(&text);
    let mut linter = Linter::from(RULES.iter().map(|(r, _)| *r));
    linter.settings.assume_in_transaction = true;
    linter
        .lint(&file, &text)
        .into_iter()
        .filter_map(|v| {
            let kind = RULES.iter().find(|(r, _)| *r == v.code)?.1;
            let start = usize::from(v.text_range.start()).min(text.len());
            let end = usize::from(v.text_range.end()).clamp(start, text.len());
            let object = text
                .get(start..end)
                .map(|t| crate::error::shorten_to(t, 80))
                .unwrap_or_default();
            let message = match &v.help {
                Some(help) => format!(
                    "{} {help}",
                    v.message.trim_end_matches('.').to_owned() + "."
                ),
                None => v.message.clone(),
            };
            Some(Finding::new(
                kind,
                &format!("squawk:{}", v.code),
                object,
                message,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_create_index_blocks_writes() {
        let found = check(&[r#"CREATE INDEX "idx_t_a" ON "t" ("a")"#.to_owned()]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].kind, FindingKind::Blocking);
        assert_eq!(found[0].code, "squawk:require-concurrent-index-creation");
        assert!(found[0].object.starts_with("CREATE INDEX"), "{found:?}");
    }

    #[test]
    fn an_index_on_a_table_of_the_same_migration_and_a_concurrent_index_do_not() {
        let found = check(&[
            r#"CREATE TABLE "t" ("a" integer)"#.to_owned(),
            r#"CREATE INDEX "idx_t_a" ON "t" ("a")"#.to_owned(),
        ]);
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn a_foreign_key_added_without_not_valid_blocks() {
        let found = check(&[
            r#"ALTER TABLE "a" ADD CONSTRAINT "fk" FOREIGN KEY ("b_id") REFERENCES "b" ("id")"#
                .to_owned(),
        ]);
        assert!(
            found.iter().any(|f| f.kind == FindingKind::Blocking),
            "{found:?}"
        );
    }

    #[test]
    fn reads_and_unparsable_text_find_nothing() {
        assert!(check(&["SELECT 1".to_owned()]).is_empty());
        assert!(check(&["this is not sql".to_owned()]).is_empty());
    }
}
