//! The offline mode: a script for the database's own client (`psql`, `mariadb`, `sqlite3`)
//! that applies the pending migrations and records them as the engine would: version rows,
//! checksum rows, and on MySQL (and for migrations outside a transaction) the progress record
//! that makes a start refuse to run after a half-applied migration.

use std::fmt::Write as _;

use sea_orm::DbBackend;

use super::{Plan, PlannedMigration};
use crate::backend::{self, CHECKSUM_TABLE, PROGRESS_TABLE};

/// `'text'` as an SQL string literal.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Seconds since the Unix epoch, as the database computes them when the script runs.
fn now(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "CAST(EXTRACT(EPOCH FROM now()) AS bigint)",
        DbBackend::MySql => "UNIX_TIMESTAMP()",
        _ => "CAST(strftime('%s', 'now') AS INTEGER)",
    }
}

/// One statement, terminated for the client. MySQL's client splits at every `;`, so a
/// statement holding one (a trigger or routine body) goes under another delimiter.
fn terminated(backend: DbBackend, sql: &str) -> String {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    if backend == DbBackend::MySql && sql.contains(';') {
        format!("DELIMITER $$\n{sql}$$\nDELIMITER ;\n")
    } else {
        format!("{sql};\n")
    }
}

/// Every line of `text` behind `-- `.
fn commented(text: &str) -> String {
    text.lines().map(|l| format!("-- {l}\n")).collect()
}

fn built<S: sea_orm::StatementBuilder>(backend: DbBackend, stmt: &S) -> String {
    terminated(backend, &backend.build(stmt).to_string())
}

/// Whether a migration's work is recorded in the progress table while it runs: where it is
/// not applied whole or not at all.
fn tracked(backend: DbBackend, m: &PlannedMigration) -> bool {
    backend == DbBackend::MySql || !m.in_transaction
}

pub(super) fn write(plan: &Plan) -> String {
    let be = plan.backend;
    let q = |name: &str| backend::quote(be, name);
    let mut out = String::new();
    let client = match be {
        DbBackend::Postgres => "psql",
        DbBackend::MySql => "mariadb (or mysql)",
        _ => "sqlite3",
    };
    let _ = writeln!(
        out,
        "-- The pending migrations, for {client}, in run order: {} migration(s) in {} chain(s).\n\
         -- Written by `migrate plan --sql` from a rehearsal; it stops at the first error.",
        plan.migrations.len(),
        plan.chains.len()
    );
    match be {
        DbBackend::Postgres => out.push_str("\\set ON_ERROR_STOP on\n"),
        DbBackend::MySql => {}
        _ => out.push_str(".bail on\n"),
    }
    // the tables a start creates before it runs anything, so that the script leaves what a
    // start would
    if !plan.progress_exists {
        out.push_str(&built(be, &backend::create_progress_table()));
    }
    if plan.checksums.1 && !plan.checksums.0 {
        out.push_str(&built(be, &backend::create_checksum_table()));
    }
    for chain in &plan.chains {
        let _ = writeln!(
            out,
            "\n-- namespace {:?}: version table {}",
            chain.namespace, chain.version_table
        );
        if !chain.version_table_exists {
            out.push_str(&built(
                be,
                &backend::create_version_table(&chain.version_table),
            ));
        }
        let vt = q(&chain.version_table);
        for m in plan
            .migrations
            .iter()
            .filter(|m| m.namespace == chain.namespace)
        {
            let ns = literal(&m.namespace);
            let version = literal(&m.migration);
            let _ = writeln!(out, "\n-- migration {}", m.migration);
            if m.reads() {
                out.push_str(
                    "-- DATA-DEPENDENT: this migration reads the database while it runs (the reads\n\
                     -- are below, commented out). What it writes here was worked out from the\n\
                     -- rehearsal's data and may differ on another database or at another time.\n",
                );
            }
            let transaction = m.in_transaction && be != DbBackend::MySql;
            if transaction {
                out.push_str("BEGIN;\n");
            }
            if tracked(be, m) {
                let _ = writeln!(
                    out,
                    "INSERT INTO {} (namespace, version, direction, started_at) VALUES ({ns}, \
                     {version}, 'up', {});",
                    q(PROGRESS_TABLE),
                    now(be)
                );
            }
            for s in &m.statements {
                if s.read {
                    out.push_str(&commented(&format!("read: {}", s.sql.trim())));
                } else {
                    out.push_str(&terminated(be, &s.sql));
                }
            }
            let _ = writeln!(
                out,
                "INSERT INTO {vt} (version, applied_at) VALUES ({version}, {});",
                now(be)
            );
            if let Some(sum) = &m.checksum {
                let table = q(CHECKSUM_TABLE);
                let _ = writeln!(
                    out,
                    "DELETE FROM {table} WHERE namespace = {ns} AND version = {version};\n\
                     INSERT INTO {table} (namespace, version, checksum, applied_at) SELECT {ns}, \
                     version, {}, applied_at FROM {vt} WHERE version = {version};",
                    literal(sum)
                );
            }
            if tracked(be, m) {
                let _ = writeln!(
                    out,
                    "DELETE FROM {} WHERE namespace = {ns};",
                    q(PROGRESS_TABLE)
                );
            }
            if transaction {
                out.push_str("COMMIT;\n");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mysql_statement_holding_semicolons_goes_under_another_delimiter() {
        assert_eq!(
            terminated(DbBackend::MySql, "CREATE TRIGGER t BEGIN SET @a = 1; END;"),
            "DELIMITER $$\nCREATE TRIGGER t BEGIN SET @a = 1; END$$\nDELIMITER ;\n"
        );
        assert_eq!(
            terminated(DbBackend::MySql, "DROP TABLE t;"),
            "DROP TABLE t;\n"
        );
        assert_eq!(
            terminated(DbBackend::Postgres, "CREATE FUNCTION f() AS $$ a; b $$"),
            "CREATE FUNCTION f() AS $$ a; b $$;\n"
        );
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
    }
}
