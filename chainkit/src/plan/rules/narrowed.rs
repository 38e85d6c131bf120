//! `destructive`: a column's type narrowed (shorter text, smaller integer, less precision),
//! which cuts or refuses values that fit before; `data-dependent`: a type changed to another
//! family (text to integer), which succeeds only if every value converts.

use super::{Finding, FindingKind, Input, column};
use crate::drift::Change;

/// A type as the catalog reports it, split into its base name and its arguments:
/// `character varying(200)` is (`character varying`, [200]).
fn parse(sql_type: &str) -> (String, Vec<i64>) {
    let t = sql_type.trim().to_ascii_lowercase();
    let t = t.strip_suffix(" unsigned").unwrap_or(&t).to_owned();
    match t.split_once('(') {
        Some((base, rest)) => {
            let args = rest
                .trim_end_matches(')')
                .split(',')
                .filter_map(|a| a.trim().parse().ok())
                .collect();
            (base.trim().to_owned(), args)
        }
        None => (t, Vec::new()),
    }
}

/// The width of an integer type in bytes, or `None` if it is not one.
fn integer_width(base: &str) -> Option<u8> {
    Some(match base {
        "tinyint" => 1,
        "smallint" | "int2" => 2,
        "mediumint" => 3,
        "integer" | "int" | "int4" | "serial" => 4,
        "bigint" | "int8" | "bigserial" => 8,
        _ => return None,
    })
}

fn is_text(base: &str) -> bool {
    matches!(
        base,
        "text"
            | "tinytext"
            | "mediumtext"
            | "longtext"
            | "character varying"
            | "varchar"
            | "character"
            | "char"
            | "bpchar"
            | "clob"
    )
}

/// The most characters a text type holds (`None`: no limit).
fn text_limit(base: &str, args: &[i64]) -> Option<i64> {
    match base {
        "tinytext" => Some(255),
        "text" | "mediumtext" | "longtext" | "clob" => None,
        _ => args.first().copied(),
    }
}

fn is_float(base: &str) -> Option<u8> {
    Some(match base {
        "real" | "float4" | "float" => 4,
        "double precision" | "double" | "float8" => 8,
        _ => return None,
    })
}

/// How `from` becomes `to`: `Some(true)` narrowed, `Some(false)` another family, `None`
/// widened or the same.
fn narrows(from: &str, to: &str) -> Option<bool> {
    let (fb, fa) = parse(from);
    let (tb, ta) = parse(to);
    if let (Some(f), Some(t)) = (integer_width(&fb), integer_width(&tb)) {
        return (t < f).then_some(true);
    }
    if is_text(&fb) && is_text(&tb) {
        return match (text_limit(&fb, &fa), text_limit(&tb, &ta)) {
            (None, Some(_)) => Some(true),
            (Some(f), Some(t)) if t < f => Some(true),
            _ => None,
        };
    }
    if let (Some(f), Some(t)) = (is_float(&fb), is_float(&tb)) {
        return (t < f).then_some(true);
    }
    if ["numeric", "decimal"].contains(&fb.as_str())
        && ["numeric", "decimal"].contains(&tb.as_str())
    {
        let less = |i: usize| {
            matches!((fa.get(i), ta.get(i)), (Some(f), Some(t)) if t < f)
                || (fa.get(i).is_none() && ta.get(i).is_some())
        };
        return (less(0) || less(1)).then_some(true);
    }
    if fb == tb {
        return None;
    }
    let widening = integer_width(&fb).is_some()
        && (integer_width(&tb).is_some()
            || is_float(&tb).is_some()
            || ["numeric", "decimal"].contains(&tb.as_str())
            || is_text(&tb));
    if widening || (is_text(&tb) && text_limit(&tb, &ta).is_none()) {
        return None;
    }
    Some(false)
}

pub(super) fn check(input: &Input<'_>) -> Vec<Finding> {
    input
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::AlterColumn { table, from, to } if from.sql_type != to.sql_type => {
                match narrows(&from.sql_type, &to.sql_type)? {
                    true => Some(Finding::new(
                        FindingKind::Destructive,
                        "column-narrowed",
                        column(table, &from.name),
                        format!(
                            "{} becomes {}: values that do not fit are cut or refused; check the \
                             longest or largest value first",
                            from.sql_type, to.sql_type
                        ),
                    )),
                    false => Some(Finding::new(
                        FindingKind::DataDependent,
                        "column-type-changed",
                        column(table, &from.name),
                        format!(
                            "{} becomes {}: it fails on the first value that does not convert; \
                             check the values first",
                            from.sql_type, to.sql_type
                        ),
                    )),
                }
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorter_text_smaller_integers_and_less_precision_narrow() {
        assert_eq!(
            narrows("character varying(200)", "character varying(100)"),
            Some(true)
        );
        assert_eq!(narrows("text", "varchar(20)"), Some(true));
        assert_eq!(narrows("bigint", "integer"), Some(true));
        assert_eq!(narrows("bigint(20)", "int(11)"), Some(true));
        assert_eq!(narrows("numeric(10,2)", "numeric(8,2)"), Some(true));
        assert_eq!(narrows("double precision", "real"), Some(true));
    }

    #[test]
    fn wider_types_do_not_narrow_and_other_families_depend_on_the_data() {
        assert_eq!(narrows("varchar(20)", "varchar(40)"), None);
        assert_eq!(narrows("varchar(20)", "text"), None);
        assert_eq!(narrows("integer", "bigint"), None);
        assert_eq!(narrows("integer", "text"), None);
        assert_eq!(narrows("text", "integer"), Some(false));
        assert_eq!(narrows("timestamp without time zone", "date"), Some(false));
    }
}
