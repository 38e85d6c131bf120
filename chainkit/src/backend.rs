//! Everything that differs between SQLite, PostgreSQL and MySQL, one small rule per function.
//! No other module matches on the backend.

use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Query, SelectStatement, Table, TableCreateStatement, UnionType,
};
use sea_orm::{DbBackend, Schema, Statement, Value};
use sea_orm_migration::{MigrationTrait, seaql_migrations};

/// Whether DDL takes part in transactions, so that a failed migration leaves no trace.
pub(crate) fn transactional_ddl(backend: DbBackend) -> bool {
    matches!(backend, DbBackend::Postgres | DbBackend::Sqlite)
}

/// Whether `migration` runs inside a transaction: its own choice if it makes one
/// (`use_transaction()`), otherwise wherever DDL is transactional. Unlike plain
/// sea-orm-migration this includes SQLite, so a failed SQLite migration leaves no trace.
pub(crate) fn use_transaction(migration: &dyn MigrationTrait, backend: DbBackend) -> bool {
    migration
        .use_transaction()
        .unwrap_or_else(|| transactional_ddl(backend))
}

/// Whether consecutive transactional migrations may share one transaction (one savepoint
/// each). Not on MySQL: its DDL commits implicitly, so each gets its own.
pub(crate) fn batch_transactions(backend: DbBackend) -> bool {
    transactional_ddl(backend)
}

/// Which of `tables` exist in the current database/schema, as one statement with a
/// `table_name` column.
pub(crate) fn existing_tables(backend: DbBackend, tables: &[&str]) -> Statement {
    let placeholders = |first: usize| -> String {
        (0..tables.len())
            .map(|i| match backend {
                DbBackend::Postgres => format!("${}", first + i),
                _ => "?".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = match backend {
        DbBackend::Sqlite => format!(
            "SELECT name AS table_name FROM sqlite_master WHERE type = 'table' AND name IN ({})",
            placeholders(1)
        ),
        DbBackend::Postgres => format!(
            "SELECT table_name::text AS table_name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name IN ({})",
            placeholders(1)
        ),
        _ => format!(
            "SELECT TABLE_NAME AS table_name FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND TABLE_NAME IN ({})",
            placeholders(1)
        ),
    };
    let values: Vec<Value> = tables.iter().map(|t| (*t).into()).collect();
    Statement::from_sql_and_values(backend, sql, values)
}

/// One statement reading every row of the given version tables, tagged with the chain's
/// namespace in a `chain_ns` column. `tables` must not be empty.
pub(crate) fn read_versions(tables: &[(&str, &str)]) -> SelectStatement {
    let select = |(namespace, table): &(&str, &str)| -> SelectStatement {
        // namespaces are [a-z0-9]+ (checked by the registry), so the literal is safe
        Query::select()
            .expr_as(Expr::cust(format!("'{namespace}'")), Alias::new("chain_ns"))
            .column(Alias::new("version"))
            .column(Alias::new("applied_at"))
            .from(Alias::new(*table))
            .to_owned()
    };
    let mut query = select(&tables[0]);
    for table in &tables[1..] {
        query.union(UnionType::All, select(table));
    }
    query
}

/// `CREATE TABLE IF NOT EXISTS` for a version table, in sea-orm-migration's own format.
pub(crate) fn create_version_table(backend: DbBackend, table: &str) -> TableCreateStatement {
    let mut stmt = Schema::new(backend).create_table_from_entity(seaql_migrations::Entity);
    stmt.table(Alias::new(table)).if_not_exists();
    stmt
}

/// Records `migration` as applied in `table`.
pub(crate) fn insert_version(
    table: &str,
    migration: &str,
    applied_at: i64,
) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new(table))
        .columns([Alias::new("version"), Alias::new("applied_at")])
        .values_panic([migration.into(), applied_at.into()])
        .to_owned()
}

/// Forgets that `migration` was applied.
#[allow(dead_code)] // used by `down`
pub(crate) fn delete_version(table: &str, migration: &str) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new("version")).eq(migration))
        .to_owned()
}

/// `DROP TABLE IF EXISTS` for a version table.
#[allow(dead_code)]
pub(crate) fn drop_version_table(table: &str) -> sea_orm::sea_query::TableDropStatement {
    Table::drop()
        .table(Alias::new(table))
        .if_exists()
        .to_owned()
}

/// Seconds since the Unix epoch, as sea-orm-migration records `applied_at`.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::sea_query::{MysqlQueryBuilder, PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn all_version_tables_are_read_in_one_statement() {
        let q = read_versions(&[
            ("engine", "seaql_migrations"),
            ("acme", "seaql_migrations_acme"),
        ]);
        let pg = q.to_string(PostgresQueryBuilder);
        assert_eq!(pg.matches("SELECT").count(), 2);
        assert!(pg.contains("UNION ALL"));
        assert!(pg.contains(r#"FROM "seaql_migrations_acme""#), "{pg}");
        assert!(
            q.to_string(MysqlQueryBuilder)
                .contains("FROM `seaql_migrations`")
        );
        assert!(
            q.to_string(SqliteQueryBuilder)
                .contains("'acme' AS \"chain_ns\"")
        );
    }

    #[test]
    fn transactions_follow_the_backend_unless_the_migration_says_otherwise() {
        assert!(transactional_ddl(DbBackend::Postgres));
        assert!(transactional_ddl(DbBackend::Sqlite));
        assert!(!transactional_ddl(DbBackend::MySql));
    }

    #[test]
    fn the_table_probe_binds_one_placeholder_per_table() {
        let s = existing_tables(DbBackend::Postgres, &["a", "b"]);
        assert!(s.sql.ends_with("IN ($1, $2)"), "{}", s.sql);
        let s = existing_tables(DbBackend::MySql, &["a", "b"]);
        assert!(s.sql.ends_with("IN (?, ?)"), "{}", s.sql);
    }
}
