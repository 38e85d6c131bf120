//! Everything that differs between SQLite, PostgreSQL and MySQL, one small rule per function.
//! No other module matches on the backend.

use sea_orm::sea_query::{
    Alias, Expr, ExprTrait, Query, SelectStatement, Table, TableCreateStatement, UnionType,
};
use sea_orm::{DbBackend, Schema, Statement};
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

/// The table recording migrations that started outside a transaction and have not finished:
/// a row here after a crash means the migration may be half-done. Its name cannot be a
/// chain's version table (`in_progress` is not a valid namespace).
pub(crate) const PROGRESS_TABLE: &str = "seaql_migrations_in_progress";

/// One statement reading every row of the given version tables, tagged with the chain's
/// namespace in a `chain_ns` column and `applied` in a `kind` column; with `progress`, also
/// the rows of [`PROGRESS_TABLE`], whose `kind` is the direction (`up` or `down`). `tables`
/// must not be empty unless `progress` is set.
pub(crate) fn read_versions(tables: &[(&str, &str)], progress: bool) -> SelectStatement {
    let mut selects = tables.iter().map(|(namespace, table)| {
        // namespaces are [a-z0-9]+ (checked by the registry), so the literal is safe
        Query::select()
            .expr_as(Expr::cust(format!("'{namespace}'")), Alias::new("chain_ns"))
            .column(Alias::new("version"))
            .column(Alias::new("applied_at"))
            .expr_as(Expr::cust("'applied'"), Alias::new("kind"))
            .from(Alias::new(*table))
            .to_owned()
    });
    let progress = progress.then(|| {
        Query::select()
            .expr_as(Expr::col(Alias::new("namespace")), Alias::new("chain_ns"))
            .column(Alias::new("version"))
            .expr_as(
                Expr::col(Alias::new("started_at")),
                Alias::new("applied_at"),
            )
            .expr_as(Expr::col(Alias::new("direction")), Alias::new("kind"))
            .from(Alias::new(PROGRESS_TABLE))
            .to_owned()
    });
    let mut query = selects
        .next()
        .or_else(|| progress.clone())
        .expect("something to read");
    for select in selects {
        query.union(UnionType::All, select);
    }
    if let Some(p) = progress
        && !tables.is_empty()
    {
        query.union(UnionType::All, p);
    }
    query
}

/// `CREATE TABLE IF NOT EXISTS` for [`PROGRESS_TABLE`].
pub(crate) fn create_progress_table() -> TableCreateStatement {
    use sea_orm::sea_query::ColumnDef;
    Table::create()
        .table(Alias::new(PROGRESS_TABLE))
        .if_not_exists()
        .col(
            ColumnDef::new(Alias::new("namespace"))
                .string_len(64)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(Alias::new("version"))
                .string_len(255)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("direction"))
                .string_len(8)
                .not_null(),
        )
        .col(
            ColumnDef::new(Alias::new("started_at"))
                .big_integer()
                .not_null(),
        )
        .to_owned()
}

/// Records that `migration` of `namespace` starts outside a transaction.
pub(crate) fn insert_progress(
    namespace: &str,
    migration: &str,
    direction: &str,
) -> sea_orm::sea_query::InsertStatement {
    Query::insert()
        .into_table(Alias::new(PROGRESS_TABLE))
        .columns([
            Alias::new("namespace"),
            Alias::new("version"),
            Alias::new("direction"),
            Alias::new("started_at"),
        ])
        .values_panic([
            namespace.into(),
            migration.into(),
            direction.into(),
            now_unix().into(),
        ])
        .to_owned()
}

/// Clears the progress record of `namespace`.
pub(crate) fn delete_progress(namespace: &str) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new(PROGRESS_TABLE))
        .and_where(Expr::col(Alias::new("namespace")).eq(namespace))
        .to_owned()
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
pub(crate) fn delete_version(table: &str, migration: &str) -> sea_orm::sea_query::DeleteStatement {
    Query::delete()
        .from_table(Alias::new(table))
        .and_where(Expr::col(Alias::new("version")).eq(migration))
        .to_owned()
}

/// `DROP TABLE IF EXISTS` for a version table.
pub(crate) fn drop_version_table(table: &str) -> sea_orm::sea_query::TableDropStatement {
    Table::drop()
        .table(Alias::new(table))
        .if_exists()
        .to_owned()
}

/// Every base table of the current database/schema, as one statement with a `t` column.
pub(crate) fn list_tables(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')"
        }
        _ => {
            "SELECT TABLE_NAME AS t FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        }
    };
    Statement::from_string(backend, sql)
}

/// The schema catalog as (`t` table, `d` description line) rows: one row per table, column
/// (type, nullability, default), index and constraint.
pub(crate) fn schema_catalog(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT tbl_name AS t, type || ' ' || name || ' ' || coalesce(sql, '') AS d \
             FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        }
        // straight from the catalogs, deparsing only expressions (defaults, checks, index
        // expressions): a fraction of the cost of pg_indexes and pg_get_constraintdef
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t, 'table' AS d FROM pg_class c \
               JOIN pg_namespace n ON n.oid = c.relnamespace \
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             UNION ALL \
             SELECT c.relname::text, 'column ' || a.attname || ' ' || a.atttypid::regtype::text \
               || ' ' || a.atttypmod::text || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
               || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') \
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
               LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
               WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             UNION ALL \
             SELECT t.relname::text, 'index ' || i.relname || ' ' || x.indkey::text || ' ' \
               || x.indisunique::text \
               || coalesce(' ' || pg_get_expr(x.indexprs, x.indrelid), '') \
               || coalesce(' where ' || pg_get_expr(x.indpred, x.indrelid), '') \
               FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
               JOIN pg_class t ON t.oid = x.indrelid \
               JOIN pg_namespace n ON n.oid = t.relnamespace WHERE n.nspname = current_schema() \
             UNION ALL \
             SELECT c.relname::text, 'constraint ' || con.conname || ' ' || con.contype::text \
               || ' ' || coalesce(con.conkey::text, '') \
               || coalesce(' references ' || nullif(con.confrelid, 0)::regclass::text || ' ' \
                  || con.confkey::text || ' ' || con.confupdtype::text || con.confdeltype::text, '') \
               || coalesce(' check ' || pg_get_expr(con.conbin, con.conrelid), '') \
               FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
        }
        _ => {
            "SELECT TABLE_NAME AS t, 'table' AS d FROM information_schema.TABLES \
               WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' \
             UNION ALL \
             SELECT TABLE_NAME, CONCAT('column ', COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE, \
               ' ', COALESCE(COLUMN_DEFAULT, 'no default'), ' ', EXTRA) \
               FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT TABLE_NAME, CONCAT('index ', INDEX_NAME, ' ', SEQ_IN_INDEX, ' ', COLUMN_NAME, ' ', NON_UNIQUE) \
               FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT TABLE_NAME, CONCAT('constraint ', CONSTRAINT_NAME, ' ', CONSTRAINT_TYPE) \
               FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA = DATABASE() \
             UNION ALL \
             SELECT TABLE_NAME, CONCAT('references ', CONSTRAINT_NAME, ' ', COLUMN_NAME, ' ', \
               REFERENCED_TABLE_NAME, ' ', REFERENCED_COLUMN_NAME) \
               FROM information_schema.KEY_COLUMN_USAGE \
               WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL"
        }
    };
    Statement::from_string(backend, sql)
}

/// The columns of every table, in order, as rows `t` table, `c` column, `ty` type as the
/// database reports it, `nn` 1 when NOT NULL, `df` the default expression (or NULL), `ex`
/// anything else that defines the column (MySQL's `auto_increment`), `pk` the position in the
/// primary key on SQLite, whose rowid primary keys have no index (0 elsewhere).
pub(crate) fn catalog_columns(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, p.name AS c, p.type AS ty, p.\"notnull\" AS nn, \
               p.dflt_value AS df, p.pk AS pk, \
               CASE WHEN p.pk = 1 AND upper(m.sql) LIKE '%AUTOINCREMENT%' \
                 THEN 'auto_increment' ELSE '' END AS ex \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid"
        }
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t, a.attname::text AS c, \
               format_type(a.atttypid, a.atttypmod) AS ty, \
               CASE WHEN a.attnotnull THEN 1 ELSE 0 END AS nn, \
               pg_get_expr(d.adbin, d.adrelid) AS df, \
               CASE WHEN a.attidentity <> '' THEN 'identity' ELSE '' END AS ex, 0 AS pk \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') \
             ORDER BY c.relname, a.attnum"
        }
        _ => {
            "SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS ty, \
               CASE WHEN IS_NULLABLE = 'NO' THEN 1 ELSE 0 END AS nn, \
               COLUMN_DEFAULT AS df, EXTRA AS ex, 0 AS pk \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             ORDER BY TABLE_NAME, ORDINAL_POSITION"
        }
    };
    Statement::from_string(backend, sql)
}

/// Every index's columns, as rows `t` table, `i` index name, `u` 1 when unique, `p` 1 for
/// the primary key, `c` column, `k` 1 when a UNIQUE constraint owns the index (SQLite and
/// PostgreSQL; a MySQL unique key is an index), ordered by position. Expression indexes are
/// left out.
pub(crate) fn catalog_indexes(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, l.name AS i, l.\"unique\" AS u, \
               CASE WHEN l.origin = 'pk' THEN 1 ELSE 0 END AS p, x.name AS c, \
               CASE WHEN l.origin = 'u' THEN 1 ELSE 0 END AS k \
             FROM sqlite_master m JOIN pragma_index_list(m.name) l \
             JOIN pragma_index_info(l.name) x \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND x.name IS NOT NULL \
             ORDER BY m.name, l.name, x.seqno"
        }
        DbBackend::Postgres => {
            "SELECT t.relname::text AS t, i.relname::text AS i, \
               CASE WHEN x.indisunique THEN 1 ELSE 0 END AS u, \
               CASE WHEN x.indisprimary THEN 1 ELSE 0 END AS p, a.attname::text AS c, \
               CASE WHEN EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid \
                 AND k.contype IN ('u', 'x')) THEN 1 ELSE 0 END AS k \
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
             JOIN pg_class t ON t.oid = x.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             CROSS JOIN LATERAL unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum \
             WHERE n.nspname = current_schema() AND x.indexprs IS NULL \
             ORDER BY t.relname, i.relname, k.ord"
        }
        _ => {
            "SELECT TABLE_NAME AS t, INDEX_NAME AS i, CASE WHEN NON_UNIQUE = 0 THEN 1 ELSE 0 END AS u, \
               CASE WHEN INDEX_NAME = 'PRIMARY' THEN 1 ELSE 0 END AS p, COLUMN_NAME AS c, 0 AS k \
             FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IS NOT NULL \
             ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
        }
    };
    Statement::from_string(backend, sql)
}

/// Every foreign key's column pairs, as rows `t` table, `i` an identifier of the key, `rt`
/// the referenced table, `c` column, `rc` referenced column (NULL on SQLite when it is the
/// primary key), `ou`/`od` the ON UPDATE/ON DELETE action, ordered by position.
pub(crate) fn catalog_foreign_keys(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS t, CAST(f.id AS TEXT) AS i, f.\"table\" AS rt, f.\"from\" AS c, \
               f.\"to\" AS rc, f.on_update AS ou, f.on_delete AS od \
             FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, f.id, f.seq"
        }
        DbBackend::Postgres => {
            "SELECT c.relname::text AS t, con.conname::text AS i, r.relname::text AS rt, \
               a.attname::text AS c, ra.attname::text AS rc, \
               con.confupdtype::text AS ou, con.confdeltype::text AS od \
             FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_class r ON r.oid = con.confrelid \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(a1, a2, ord) \
             JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.a1 \
             JOIN pg_attribute ra ON ra.attrelid = r.oid AND ra.attnum = k.a2 \
             WHERE con.contype = 'f' AND n.nspname = current_schema() \
             ORDER BY c.relname, con.conname, k.ord"
        }
        _ => {
            "SELECT k.TABLE_NAME AS t, k.CONSTRAINT_NAME AS i, k.REFERENCED_TABLE_NAME AS rt, \
               k.COLUMN_NAME AS c, k.REFERENCED_COLUMN_NAME AS rc, \
               r.UPDATE_RULE AS ou, r.DELETE_RULE AS od \
             FROM information_schema.KEY_COLUMN_USAGE k \
             JOIN information_schema.REFERENTIAL_CONSTRAINTS r \
               ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME \
               AND r.TABLE_NAME = k.TABLE_NAME \
             WHERE k.TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL \
             ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
        }
    };
    Statement::from_string(backend, sql)
}

/// A foreign key action as the catalog reports it, in SQL words (`CASCADE`, `SET NULL`…).
pub(crate) fn foreign_key_action(backend: DbBackend, raw: &str) -> String {
    match (backend, raw) {
        (DbBackend::Postgres, "a") => "NO ACTION",
        (DbBackend::Postgres, "r") => "RESTRICT",
        (DbBackend::Postgres, "c") => "CASCADE",
        (DbBackend::Postgres, "n") => "SET NULL",
        (DbBackend::Postgres, "d") => "SET DEFAULT",
        (_, other) => return other.to_uppercase(),
    }
    .to_owned()
}

/// Every foreign key of the current database/schema as (`from_table`, `to_table`) rows.
pub(crate) fn foreign_keys(backend: DbBackend) -> Statement {
    let sql = match backend {
        DbBackend::Sqlite => {
            "SELECT m.name AS from_table, p.\"table\" AS to_table FROM sqlite_master m \
             JOIN pragma_foreign_key_list(m.name) p WHERE m.type = 'table'"
        }
        DbBackend::Postgres => {
            "SELECT cl.relname::text AS from_table, rf.relname::text AS to_table \
             FROM pg_constraint con JOIN pg_class cl ON cl.oid = con.conrelid \
             JOIN pg_class rf ON rf.oid = con.confrelid \
             JOIN pg_namespace n ON n.oid = cl.relnamespace \
             WHERE con.contype = 'f' AND n.nspname = current_schema()"
        }
        _ => {
            "SELECT TABLE_NAME AS from_table, REFERENCED_TABLE_NAME AS to_table \
             FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
        }
    };
    Statement::from_string(backend, sql)
}

/// PostgreSQL enum types used by columns, as (`type_name`, `table_name`) rows; `None` on
/// backends without named types.
pub(crate) fn enum_types_in_use(backend: DbBackend) -> Option<Statement> {
    match backend {
        DbBackend::Postgres => Some(Statement::from_string(
            backend,
            "SELECT t.typname::text AS type_name, c.relname::text AS table_name \
             FROM pg_type t JOIN pg_namespace tn ON tn.oid = t.typnamespace \
             LEFT JOIN pg_attribute a ON a.atttypid = t.oid AND a.attnum > 0 AND NOT a.attisdropped \
             LEFT JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') \
             WHERE t.typtype = 'e' AND tn.nspname = current_schema()",
        )),
        _ => None,
    }
}

/// Statements that drop `tables`, which no table outside the set references. Foreign keys
/// among them are handled: PostgreSQL drops them in one statement, MySQL with foreign key
/// checks off for the session meanwhile, SQLite in the order given (referencing tables first).
pub(crate) fn drop_tables(backend: DbBackend, tables: &[String]) -> Vec<Statement> {
    if tables.is_empty() {
        return Vec::new();
    }
    let quote = |t: &String| match backend {
        DbBackend::MySql => format!("`{t}`"),
        _ => format!("\"{t}\""),
    };
    let all = tables.iter().map(quote).collect::<Vec<_>>().join(", ");
    let sql: Vec<String> = match backend {
        DbBackend::Postgres => vec![format!("DROP TABLE {all}")],
        DbBackend::Sqlite => tables
            .iter()
            .map(|t| format!("DROP TABLE {}", quote(t)))
            .collect(),
        _ => vec![
            "SET FOREIGN_KEY_CHECKS = 0".to_owned(),
            format!("DROP TABLE {all}"),
            "SET FOREIGN_KEY_CHECKS = 1".to_owned(),
        ],
    };
    sql.into_iter()
        .map(|s| Statement::from_string(backend, s))
        .collect()
}

/// Drops a PostgreSQL type.
pub(crate) fn drop_type(backend: DbBackend, name: &str) -> Statement {
    Statement::from_string(backend, format!("DROP TYPE IF EXISTS \"{name}\""))
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
        let q = read_versions(
            &[
                ("engine", "seaql_migrations"),
                ("acme", "seaql_migrations_acme"),
            ],
            false,
        );
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
}
