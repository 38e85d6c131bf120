//! Checksums of migration sources, computed at build time: an applied migration whose source
//! was edited afterwards is caught at startup.
//!
//! A checksum covers the tokens of the migration's own file, not its formatting: whitespace,
//! line breaks, comments (doc comments too) and a comma before a closing bracket or after a
//! closing brace (which rustfmt adds and removes) do not count; every other token does,
//! string literals byte for byte. Helpers the migration calls in other files are not covered.
//!
//! [`of`] is a `const fn`, so [`migrations!`](crate::migrations) computes every checksum while
//! the migration crate compiles, and a start hashes nothing.

/// The prefix of every checksum this build computes: the algorithm's version, so that a
/// later algorithm can tell its own checksums from these.
pub const ALGORITHM: &str = "t1";

const FNV_OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
const FNV_PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;

/// A migration file's checksum: FNV-1a (128 bits) over its tokens, each followed by a
/// separator so that `ab` and `a b` differ.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Checksum(pub u128);

impl Checksum {
    /// The checksum as recorded: `t1:` and 32 hexadecimal digits.
    pub fn to_recorded(self) -> String {
        // written by hand: a start with nothing to do makes one for every migration of every
        // chain, and `format!` took ten times as long
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0; ALGORITHM.len() + 33];
        let (algorithm, digits) = text.split_at_mut(ALGORITHM.len() + 1);
        algorithm[..ALGORITHM.len()].copy_from_slice(ALGORITHM.as_bytes());
        algorithm[ALGORITHM.len()] = b':';
        for (i, digit) in digits.iter_mut().rev().enumerate() {
            *digit = HEX[((self.0 >> (i * 4)) & 0xf) as usize];
        }
        String::from_utf8(text.to_vec()).expect("ASCII")
    }
}

impl std::fmt::Debug for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_recorded())
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_recorded())
    }
}

const fn mix(hash: u128, byte: u8) -> u128 {
    (hash ^ byte as u128).wrapping_mul(FNV_PRIME)
}

const fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Where the whitespace and comments from `i` on end.
const fn skip_trivia(s: &[u8], mut i: usize) -> usize {
    while i < s.len() {
        let b = s[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b == b'/' && i + 1 < s.len() && s[i + 1] == b'/' {
            while i < s.len() && s[i] != b'\n' {
                i += 1;
            }
        } else if b == b'/' && i + 1 < s.len() && s[i + 1] == b'*' {
            // block comments nest
            let mut depth = 1;
            i += 2;
            while i < s.len() && depth > 0 {
                if s[i] == b'/' && i + 1 < s.len() && s[i + 1] == b'*' {
                    depth += 1;
                    i += 2;
                } else if s[i] == b'*' && i + 1 < s.len() && s[i + 1] == b'/' {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else {
            break;
        }
    }
    i
}

/// The end of the token starting at `i` (not trivia, `i < s.len()`).
const fn token_end(s: &[u8], i: usize) -> usize {
    let b = s[i];
    if b == b'"' {
        return quoted_end(s, i + 1, b'"');
    }
    if b == b'\'' {
        // a char literal ('a', '\n', '\u{1F600}', 'é') or a lifetime ('a)
        if i + 1 < s.len() && s[i + 1] == b'\\' {
            return quoted_end(s, i + 1, b'\'');
        }
        let mut j = i + 1;
        if j < s.len() {
            j += 1;
            // the rest of a multi-byte character
            while j < s.len() && s[j] & 0xC0 == 0x80 {
                j += 1;
            }
        }
        if j < s.len() && s[j] == b'\'' {
            return j + 1;
        }
        return i + 1;
    }
    if is_ident(b) {
        let mut j = i;
        while j < s.len() && is_ident(s[j]) {
            j += 1;
        }
        // raw strings: r"…", r#"…"#, br"…", cr#"…"#
        let raw = (j - i == 1 && s[i] == b'r')
            || (j - i == 2 && (s[i] == b'b' || s[i] == b'c') && s[i + 1] == b'r');
        if raw && j < s.len() && (s[j] == b'#' || s[j] == b'"') {
            let mut hashes = 0;
            while j < s.len() && s[j] == b'#' {
                hashes += 1;
                j += 1;
            }
            if j < s.len() && s[j] == b'"' {
                j += 1;
                while j < s.len() {
                    if s[j] == b'"' {
                        let mut k = 0;
                        while k < hashes && j + 1 + k < s.len() && s[j + 1 + k] == b'#' {
                            k += 1;
                        }
                        if k == hashes {
                            return j + 1 + hashes;
                        }
                    }
                    j += 1;
                }
                return j;
            }
            // `r#ident`: a raw identifier
            while j < s.len() && is_ident(s[j]) {
                j += 1;
            }
        }
        return j;
    }
    i + 1
}

/// The end of a literal quoted with `quote` whose contents start at `i`.
const fn quoted_end(s: &[u8], mut i: usize, quote: u8) -> usize {
    while i < s.len() {
        if s[i] == b'\\' {
            i += 2;
        } else if s[i] == quote {
            return i + 1;
        } else {
            i += 1;
        }
    }
    s.len()
}

/// The checksum of a migration's source text (see the module's documentation for what
/// counts).
pub const fn of(source: &str) -> Checksum {
    let s = source.as_bytes();
    let mut hash = FNV_OFFSET;
    let mut i = skip_trivia(s, 0);
    // the last token hashed was `}`
    let mut after_brace = false;
    while i < s.len() {
        let end = token_end(s, i);
        let next = skip_trivia(s, end);
        let comma = end - i == 1 && s[i] == b',';
        let before_close = next < s.len() && matches!(s[next], b')' | b']' | b'}');
        if !(comma && (after_brace || before_close || next >= s.len())) {
            let mut j = i;
            while j < end {
                hash = mix(hash, s[j]);
                j += 1;
            }
            hash = mix(hash, 0);
            after_brace = end - i == 1 && s[i] == b'}';
        }
        i = next;
    }
    Checksum(hash)
}

/// One migration of a chain's list, as [`migrations!`](crate::migrations) records it.
#[derive(Clone, Copy)]
pub struct MigrationSource {
    /// The migration's module, which names it (`DeriveMigrationName`).
    pub module: &'static str,
    /// The file that lists the migrations (`file!()` of the crate's `lib.rs`); the
    /// migration's own file is `{module}.rs` beside it.
    pub list_file: &'static str,
    /// The checksum of the migration's file.
    pub checksum: Checksum,
    /// Makes the migration.
    pub new: fn() -> Box<dyn sea_orm_migration::MigrationTrait>,
    /// The codes of the `migrate plan` findings the migration acknowledges
    /// ([`crate::Acknowledge`]; none where it does not implement it).
    pub acknowledged: fn() -> &'static [&'static str],
}

impl MigrationSource {
    /// The migration's file, as the compiler was given it (relative to the workspace).
    pub fn file(&self) -> String {
        self.file_in(self.dir())
    }

    /// The directory of the list file (what `Path::parent` gives, empty where none).
    pub(crate) fn dir(&self) -> &'static str {
        std::path::Path::new(self.list_file)
            .parent()
            .and_then(std::path::Path::to_str)
            .unwrap_or("")
    }

    /// [`Self::file`] in `dir`, the list file's [`Self::dir`]: what `Path::join` makes,
    /// without its allocations (a start makes one for every migration of every chain that
    /// declares checksums, and finds the directory once per list file).
    pub(crate) fn file_in(&self, dir: &str) -> String {
        let mut file = String::with_capacity(dir.len() + self.module.len() + 4);
        file.push_str(dir);
        if !dir.is_empty() && !dir.ends_with(std::path::is_separator) {
            file.push(std::path::MAIN_SEPARATOR);
        }
        file.push_str(self.module);
        file.push_str(".rs");
        file
    }
}

impl std::fmt::Debug for MigrationSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MigrationSource")
            .field("module", &self.module)
            .field("file", &self.file())
            .field("checksum", &self.checksum)
            .finish()
    }
}

/// A chain's migrations with their checksums, oldest first: what
/// [`migrations!`](crate::migrations) makes.
#[derive(Debug, Clone, Copy)]
pub struct Migrations(pub &'static [MigrationSource]);

impl Migrations {
    /// The migrations, made: what `MigratorTrait::migrations` returns.
    pub fn boxed(&self) -> Vec<Box<dyn sea_orm_migration::MigrationTrait>> {
        self.0.iter().map(|m| (m.new)()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_checksum_is_the_algorithm_and_32_hex_digits() {
        for sum in [0, 1, 0xabc, u128::MAX, FNV_OFFSET, 1 << 127, u128::MAX >> 4] {
            assert_eq!(
                Checksum(sum).to_recorded(),
                format!("{ALGORITHM}:{sum:032x}")
            );
        }
    }

    #[test]
    fn a_migration_file_is_the_module_beside_the_list() {
        for list_file in [
            "ext-billing-migration/src/lib.rs",
            "lib.rs",
            "",
            "/lib.rs",
            "/abs/crate/src/lib.rs",
            "./src/lib.rs",
            "a//b/lib.rs",
        ] {
            let source = MigrationSource {
                module: "m20260101_000001_create",
                list_file,
                checksum: Checksum(1),
                new: || unreachable!(),
                acknowledged: || &[],
            };
            let joined = std::path::Path::new(list_file)
                .parent()
                .unwrap_or(std::path::Path::new(""))
                .join("m20260101_000001_create.rs");
            assert_eq!(source.file(), joined.display().to_string(), "{list_file:?}");
        }
    }

    const MIGRATION: &str = r##"use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("ext_billing_invoices")
                    .col(ColumnDef::new("id").integer().not_null().primary_key())
                    .col(ColumnDef::new("note").string_len(40))
                    .to_owned(),
            )
            .await?;
        let kind = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                "pg"
            },
            _ => "other",
        };
        let _ = (kind, 'x', '\'', r#"a "quoted" // not a comment"#);
        Ok(())
    }
}
"##;

    #[test]
    fn formatting_and_comments_do_not_count() {
        let reformatted = r##"use sea_orm_migration::prelude::*;
/// A doc comment, new.
#[derive(DeriveMigrationName)] pub struct Migration;
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    // a new comment
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(Table::create().table("ext_billing_invoices")
            .col(ColumnDef::new("id").integer().not_null().primary_key(),)
            .col(ColumnDef::new("note").string_len(40)) /* and /* nested */ one */
            .to_owned()).await?;


        let kind = match manager.get_database_backend() {
            sea_orm::DbBackend::Postgres => { "pg" }
            _ => "other"
        };
        let _ = (kind, 'x', '\'', r#"a "quoted" // not a comment"#,);
        Ok(())
    }
}"##;
        assert_eq!(of(MIGRATION), of(reformatted));
    }

    #[test]
    fn a_changed_token_counts() {
        for (from, to) in [
            ("string_len(40)", "string_len(41)"),
            ("\"note\"", "\"notes\""),
            ("not_null().primary_key()", "primary_key()"),
            ("// not a comment", "//  not a comment"),
            ("'x'", "'y'"),
            ("\"pg\"", "\"p g\""),
        ] {
            assert!(MIGRATION.contains(from), "{from}");
            let edited = MIGRATION.replacen(from, to, 1);
            assert_ne!(of(MIGRATION), of(&edited), "{from} -> {to}");
        }
        // tokens, not characters: joining two differs from the pair
        assert_ne!(of("a b"), of("ab"));
        assert_ne!(of("a\"b c\""), of("a\"b  c\""));
    }

    #[test]
    fn odd_input_hashes_without_panicking() {
        for text in [
            "",
            "'",
            "\"",
            "r#\"",
            "r##\"a\"#",
            "/* open",
            "'\\",
            "é'",
            "'é'",
            "a,",
            ",",
            "}",
        ] {
            let _ = of(text);
        }
        assert_eq!(of(""), of("  // only a comment\n"));
        assert_eq!(of("x").to_recorded().len(), 35);
        assert!(of("x").to_recorded().starts_with("t1:"));
    }

    #[test]
    fn computed_at_build_time() {
        const AT_BUILD: Checksum = of(MIGRATION);
        assert_eq!(AT_BUILD, of(MIGRATION));
    }
}
