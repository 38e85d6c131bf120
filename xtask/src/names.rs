//! Name rules and migration file names.

use anyhow::{Result, bail};

/// The namespace rules of `chainkit::check_namespace` (xtask links no engine crate, so they are
/// restated here; the engine checks them again at startup): `[a-z][a-z0-9]*`, at most 16
/// bytes, not `engine`.
pub fn check_namespace(ns: &str) -> Result<()> {
    let mut chars = ns.chars();
    match chars.next() {
        None => bail!("a namespace cannot be empty"),
        Some(c) if !c.is_ascii_lowercase() => {
            bail!("namespace {ns:?} must start with a lowercase letter a-z")
        }
        _ => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit())) {
        if c == '_' {
            bail!(
                "namespace {ns:?} must not contain '_': `ext_{{ns}}_` would then be the prefix of \
                 another namespace's tables"
            );
        }
        bail!(
            "namespace {ns:?} contains {c:?}; only lowercase letters a-z and digits 0-9 are allowed"
        );
    }
    if ns.len() > 16 {
        bail!(
            "namespace {ns:?} is {} bytes long; at most 16 are allowed",
            ns.len()
        );
    }
    if ns == "engine" {
        bail!("namespace \"engine\" is reserved for the engine's own chain");
    }
    Ok(())
}

/// A migration NAME: a snake_case identifier, `add_invoice_due_date`.
pub fn check_migration_name(name: &str) -> Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    if !valid {
        bail!(
            "migration name {name:?} is not a snake_case identifier: lowercase letters, digits \
             and single underscores, starting with a letter (e.g. add_invoice_due_date)"
        );
    }
    if name.len() > 200 {
        bail!("migration name {name:?} is too long");
    }
    Ok(())
}

/// `mYYYYMMDD_HHMMSS_{name}` for the UTC time `unix` seconds since the epoch, as
/// sea-orm-migration names its files.
pub fn migration_module(unix: u64, name: &str) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "m{y:04}{m:02}{d:02}_{:02}{:02}{:02}_{name}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migration_modules_are_named_as_sea_orm_migration_names_them() {
        assert_eq!(migration_module(0, "init"), "m19700101_000000_init");
        // 2026-03-01 10:15:00 UTC
        assert_eq!(
            migration_module(1_772_360_100, "add_invoice"),
            "m20260301_101500_add_invoice"
        );
        // a leap day
        assert_eq!(migration_module(1_709_164_800, "x"), "m20240229_000000_x");
    }

    #[test]
    fn migration_names_must_be_snake_case() {
        for ok in ["add_invoice", "a", "v2_backfill"] {
            assert!(check_migration_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "AddInvoice",
            "add-invoice",
            "_add",
            "add_",
            "add__x",
            "1add",
            "",
            "add invoice",
        ] {
            assert!(check_migration_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespaces_follow_the_engine_rules() {
        assert!(check_namespace("billing").is_ok());
        for bad in ["", "Billing", "bill_ing", "engine", "9x", &"a".repeat(17)] {
            assert!(check_namespace(bad).is_err(), "{bad}");
        }
    }
}
