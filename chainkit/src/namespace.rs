//! Namespace rules and the identifiers derived from a namespace.

use std::fmt;

/// The namespace of the engine's own chain. Reserved: no workflow project may take it.
pub const ENGINE_NAMESPACE: &str = "engine";

/// sea-orm-migration's default version table, used by the engine chain.
pub const ENGINE_VERSION_TABLE: &str = "seaql_migrations";

/// Longest workflow-project namespace, in bytes.
///
/// The longest prefix this project derives from a namespace is the foreign-key name prefix
/// `fk_ext_{ns}_` (8 bytes + namespace). With 16 bytes that is 24 bytes, leaving 39 bytes of
/// PostgreSQL's 63 (MySQL allows 64) for the table and column part of any derived name, and
/// `seaql_migrations_{ns}` stays at 33 bytes at most.
pub const MAX_NAMESPACE_LEN: usize = 16;

/// Longest identifier both PostgreSQL (63 bytes) and MySQL (64) accept.
pub const MAX_IDENTIFIER_LEN: usize = 63;

/// Why a namespace was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceRule {
    /// The namespace is empty.
    Empty,
    /// Longer than [`MAX_NAMESPACE_LEN`].
    TooLong {
        /// its length in bytes
        len: usize,
    },
    /// Does not start with a lowercase ASCII letter.
    FirstCharacter,
    /// Holds a character other than `a-z` and `0-9` (an underscore included).
    Character(char),
    /// The namespace is `engine`.
    Reserved,
}

impl fmt::Display for NamespaceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("a namespace cannot be empty"),
            Self::TooLong { len } => write!(
                f,
                "is {len} bytes long; at most {MAX_NAMESPACE_LEN} keep every derived table, \
                 index and constraint name within 63 bytes"
            ),
            Self::FirstCharacter => f.write_str("must start with a lowercase letter a-z"),
            Self::Character('_') => f.write_str(
                "must not contain '_': `ext_{ns}_` would then be the prefix of another \
                 namespace's tables",
            ),
            Self::Character(c) => write!(
                f,
                "contains {c:?}; only lowercase letters a-z and digits 0-9 are allowed"
            ),
            Self::Reserved => write!(
                f,
                "{ENGINE_NAMESPACE:?} is reserved for the engine's own chain"
            ),
        }
    }
}

/// A valid workflow-project namespace: `[a-z][a-z0-9]*`, at most [`MAX_NAMESPACE_LEN`]
/// bytes, not `engine`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Namespace(String);

impl Namespace {
    /// Checks `name` against the namespace rules.
    ///
    /// # Errors
    /// The first rule `name` breaks.
    pub fn parse(name: &str) -> Result<Self, NamespaceRule> {
        check_namespace(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The namespace as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a workflow-project namespace without allocating.
///
/// # Errors
/// The first rule `name` breaks.
pub fn check_namespace(name: &str) -> Result<(), NamespaceRule> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Err(NamespaceRule::Empty),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(if c.is_ascii_alphanumeric() || c == '_' {
                NamespaceRule::FirstCharacter
            } else {
                NamespaceRule::Character(c)
            });
        }
        Some(_) => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit())) {
        return Err(NamespaceRule::Character(c));
    }
    if name.len() > MAX_NAMESPACE_LEN {
        return Err(NamespaceRule::TooLong { len: name.len() });
    }
    if name == ENGINE_NAMESPACE {
        return Err(NamespaceRule::Reserved);
    }
    Ok(())
}

/// The version table of a workflow project's chain: `seaql_migrations_{ns}`.
pub fn version_table(namespace: &str) -> String {
    format!("{ENGINE_VERSION_TABLE}_{namespace}")
}

/// The prefix every table of a workflow project starts with: `ext_{ns}_`.
pub fn table_prefix(namespace: &str) -> String {
    format!("ext_{namespace}_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_lowercase_names_are_valid() {
        for ok in ["a", "billing", "hr2", "x1y2z3", "abcdefghijklmnop"] {
            assert_eq!(check_namespace(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn an_underscore_is_refused_so_no_prefix_can_cover_another_namespace() {
        assert_eq!(
            check_namespace("acme_x"),
            Err(NamespaceRule::Character('_'))
        );
        assert!(NamespaceRule::Character('_').to_string().contains("prefix"));
    }

    #[test]
    fn uppercase_digits_first_and_symbols_are_refused() {
        assert_eq!(
            check_namespace("Billing"),
            Err(NamespaceRule::FirstCharacter)
        );
        assert_eq!(check_namespace("1abc"), Err(NamespaceRule::FirstCharacter));
        assert_eq!(check_namespace("_abc"), Err(NamespaceRule::FirstCharacter));
        assert_eq!(check_namespace("abC"), Err(NamespaceRule::Character('C')));
        assert_eq!(check_namespace("a-b"), Err(NamespaceRule::Character('-')));
        assert_eq!(check_namespace("a b"), Err(NamespaceRule::Character(' ')));
        assert_eq!(check_namespace("café"), Err(NamespaceRule::Character('é')));
        assert_eq!(check_namespace("-a"), Err(NamespaceRule::Character('-')));
    }

    #[test]
    fn empty_and_reserved_names_are_refused() {
        assert_eq!(check_namespace(""), Err(NamespaceRule::Empty));
        assert_eq!(check_namespace("engine"), Err(NamespaceRule::Reserved));
        assert_eq!(check_namespace("engine2"), Ok(()));
    }

    #[test]
    fn the_length_bound_keeps_every_derived_identifier_within_63_bytes() {
        let longest = "a".repeat(MAX_NAMESPACE_LEN);
        assert_eq!(check_namespace(&longest), Ok(()));
        assert_eq!(
            check_namespace(&"a".repeat(MAX_NAMESPACE_LEN + 1)),
            Err(NamespaceRule::TooLong {
                len: MAX_NAMESPACE_LEN + 1
            })
        );
        assert!(version_table(&longest).len() <= MAX_IDENTIFIER_LEN);
        // the longest prefix we derive leaves room for a meaningful table/column part
        let fk_prefix = format!("fk_{}", table_prefix(&longest));
        assert!(MAX_IDENTIFIER_LEN - fk_prefix.len() >= 32);
    }

    #[test]
    fn derived_names_follow_the_conventions() {
        assert_eq!(version_table("billing"), "seaql_migrations_billing");
        assert_eq!(table_prefix("billing"), "ext_billing_");
    }
}
