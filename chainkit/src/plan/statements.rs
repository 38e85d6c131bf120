//! What a captured statement is: its bare words (outside quotes and comments), and whether it
//! only reads.

/// The bare words of `sql`: identifiers and keywords outside string literals, quoted
/// identifiers and comments.
pub(crate) fn words(sql: &str) -> impl Iterator<Item = &str> {
    let bytes = sql.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
                // a quoted identifier is a word too; a string literal is not
                let end = closing(bytes, i + 1, c);
                if c != b'\'' {
                    spans.push((i + 1, end.min(bytes.len())));
                }
                i = end + 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'#' => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |n| i + 2 + n + 2);
            }
            c if c.is_ascii_alphanumeric() || c == b'_' => {
                let start = i;
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                spans.push((start, i));
            }
            _ => i += 1,
        }
    }
    spans.into_iter().map(move |(a, b)| &sql[a..b])
}

/// Where the quote opened before `from` closes (a doubled quote is an escaped one).
fn closing(bytes: &[u8], mut from: usize, quote: u8) -> usize {
    while from < bytes.len() {
        if bytes[from] == b'\\' && quote == b'\'' {
            from += 2;
            continue;
        }
        if bytes[from] == quote {
            if bytes.get(from + 1) == Some(&quote) {
                from += 2;
                continue;
            }
            return from;
        }
        from += 1;
    }
    bytes.len()
}

/// Whether `sql` only reads: a query (`SELECT`, `SHOW`, `EXPLAIN`, `VALUES`, a `WITH` that
/// writes nothing) or an SQLite `PRAGMA` that sets nothing.
pub(crate) fn is_read(sql: &str) -> bool {
    let mut all = words(sql).map(str::to_ascii_uppercase);
    let Some(first) = all.next() else {
        return false;
    };
    match first.as_str() {
        "SELECT" | "SHOW" | "EXPLAIN" | "DESCRIBE" | "DESC" | "VALUES" => true,
        "WITH" => !all.any(|w| ["INSERT", "UPDATE", "DELETE", "MERGE"].contains(&w.as_str())),
        "PRAGMA" => !sql.contains('='),
        _ => false,
    }
}

/// What a transaction-control statement does, if `sql` is one: sqlx logs some of those a
/// migration's own transactions send (`COMMIT`, `RELEASE SAVEPOINT`) and not others (`BEGIN`,
/// `SAVEPOINT` on PostgreSQL), so they are kept out of a plan's statements.
pub(crate) fn transaction_control(sql: &str) -> Option<Control> {
    let mut all = words(sql).map(str::to_ascii_uppercase);
    let first = all.next()?;
    Some(match first.as_str() {
        "BEGIN" | "START" | "SAVEPOINT" => Control::Open,
        "COMMIT" | "END" | "RELEASE" => Control::Keep,
        "ROLLBACK" | "ABORT" => Control::Undo,
        _ => return None,
    })
}

/// What a transaction-control statement does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Control {
    /// Opens a transaction or savepoint.
    Open,
    /// Commits or releases one.
    Keep,
    /// Throws work away.
    Undo,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_skip_literals_and_comments_and_keep_quoted_identifiers() {
        let w: Vec<&str> = words(
            "ALTER TABLE \"t\" -- rename it\n RENAME /* not */ COLUMN `a` TO b; SELECT 'rename'",
        )
        .collect();
        assert_eq!(
            w,
            [
                "ALTER", "TABLE", "t", "RENAME", "COLUMN", "a", "TO", "b", "SELECT"
            ]
        );
    }

    #[test]
    fn queries_read_and_everything_else_writes() {
        assert!(is_read("SELECT 1"));
        assert!(is_read("  select * from t"));
        assert!(is_read("WITH x AS (SELECT 1) SELECT * FROM x"));
        assert!(is_read("PRAGMA table_info(t)"));
        assert!(is_read("SHOW TABLES"));
        assert!(!is_read(
            "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"
        ));
        assert!(!is_read("PRAGMA foreign_keys = OFF"));
        assert!(!is_read("INSERT INTO t VALUES (1)"));
        assert!(!is_read("CREATE TABLE t (a int)"));
        assert!(!is_read("/* SELECT */ DELETE FROM t"));
        assert!(!is_read(""));
    }

    #[test]
    fn transaction_control_is_told_apart() {
        assert_eq!(transaction_control("BEGIN"), Some(Control::Open));
        assert_eq!(
            transaction_control("SAVEPOINT _sqlx_savepoint_1"),
            Some(Control::Open)
        );
        assert_eq!(
            transaction_control("RELEASE SAVEPOINT _sqlx_savepoint_1"),
            Some(Control::Keep)
        );
        assert_eq!(transaction_control("commit"), Some(Control::Keep));
        assert_eq!(
            transaction_control("ROLLBACK TO SAVEPOINT s"),
            Some(Control::Undo)
        );
        assert_eq!(transaction_control("INSERT INTO begin VALUES (1)"), None);
        assert_eq!(transaction_control("CREATE TABLE \"commit\" (a int)"), None);
    }

    #[test]
    fn an_unclosed_quote_ends_the_words() {
        assert_eq!(words("SELECT 'oops").collect::<Vec<_>>(), ["SELECT"]);
        assert_eq!(words("x \"y").collect::<Vec<_>>(), ["x", "y"]);
    }
}
