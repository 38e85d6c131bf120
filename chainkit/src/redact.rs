//! Secrets never leave the process: database URLs and driver messages as they may be shown.
//!
//! A URL's secrets are the password of its user-info (`postgres://app:SECRET@db/x`) and the
//! values of query parameters that carry one (`?password=`, `sslpassword=`, `passfile=`, any
//! key containing `pass`, `pwd`, `secret`, `token` or `auth`, in any case, percent-encoded or
//! not). [`redact_url`] masks them in the URL; [`scrub`] removes them, raw and percent-decoded,
//! from any text that may repeat them (a driver's error message).

/// Whether a query parameter named `key` holds a secret.
fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key).to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "auth"]
        .iter()
        .any(|word| key.contains(word))
}

/// `text` with `%XX` escapes (and `+`, in a query) decoded; invalid escapes are kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match bytes[i] {
            b'%' if escaped.is_some() => {
                out.extend(escaped);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The parts of a URL: `scheme://`, user-info, the rest of the authority and path, the query.
struct Parts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    location: &'a str,
    query: Option<&'a str>,
}

fn split(url: &str) -> Option<Parts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (userinfo, location) = match before_query[..authority_end].rfind('@') {
        Some(at) => (Some(&before_query[..at]), &before_query[at + 1..]),
        None => (None, before_query),
    };
    Some(Parts {
        scheme,
        userinfo,
        location,
        query,
    })
}

/// The URL with every secret replaced by `***`:
/// `postgres://app:***@db/prod?sslmode=require&password=***`.
pub fn redact_url(url: &str) -> String {
    let Some(parts) = split(url) else {
        return url.to_owned();
    };
    let mut out = format!("{}://", parts.scheme);
    if let Some(userinfo) = parts.userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => out.push_str(&format!("{user}:***@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
    }
    out.push_str(parts.location);
    if let Some(query) = parts.query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Every secret of `url`, raw and percent-decoded, longest first.
fn secrets(url: &str) -> Vec<String> {
    let Some(parts) = split(url) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    if let Some((_, password)) = parts.userinfo.and_then(|u| u.split_once(':')) {
        found.push(password.to_owned());
    }
    for param in parts.query.unwrap_or_default().split('&') {
        if let Some((key, value)) = param.split_once('=')
            && is_secret_key(key)
        {
            found.push(value.to_owned());
        }
    }
    let decoded: Vec<String> = found.iter().map(|s| percent_decode(s)).collect();
    found.extend(decoded);
    // one- and two-character "secrets" would mangle every message they appear in
    found.retain(|s| s.chars().count() >= 3);
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

/// `message` on one line, without any secret of `url`, should a driver repeat one.
pub(crate) fn scrub(message: &str, url: &str) -> String {
    let mut out = message.replace('\n', " ");
    for secret in secrets(url) {
        out = out.replace(&secret, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (URL, the secret it holds, what it shows as)
    const FORMS: &[(&str, &str, &str)] = &[
        (
            "postgres://bob@HOST:1/x?password=S3cretValue",
            "S3cretValue",
            "postgres://bob@HOST:1/x?password=***",
        ),
        (
            "postgres://bob@HOST:1/x?sslmode=disable&password=S3cretValue",
            "S3cretValue",
            "postgres://bob@HOST:1/x?sslmode=disable&password=***",
        ),
        (
            "mysql://bob@HOST:1/x?password=S3cretValue",
            "S3cretValue",
            "mysql://bob@HOST:1/x?password=***",
        ),
        (
            "postgres://bob:S3cret%73@HOST:1/x",
            "S3crets",
            "postgres://bob:***@HOST:1/x",
        ),
        (
            "mysql://bob:S3cretValue@127.0.0.1:3306/nosuchdb",
            "S3cretValue",
            "mysql://bob:***@127.0.0.1:3306/nosuchdb",
        ),
        (
            "postgres://bob@h/x?PassWord=S3cretValue&application_name=a",
            "S3cretValue",
            "postgres://bob@h/x?PassWord=***&application_name=a",
        ),
        (
            "postgres://bob@h/x?sslpassword=S3cretValue",
            "S3cretValue",
            "postgres://bob@h/x?sslpassword=***",
        ),
        (
            "postgres://bob@h/x?passfile=%2Fhome%2Fbob%2F.pgpass",
            "/home/bob/.pgpass",
            "postgres://bob@h/x?passfile=***",
        ),
        (
            "postgres://bob@h/x?pass%77ord=S3cretValue",
            "S3cretValue",
            "postgres://bob@h/x?pass%77ord=***",
        ),
        ("postgres://a:p@ss@h/d", "p@ss", "postgres://a:***@h/d"),
        (
            "mysql://bob:S3cret%40Value@h/x?ssl-mode=required",
            "S3cret@Value",
            "mysql://bob:***@h/x?ssl-mode=required",
        ),
    ];

    #[test]
    fn every_form_of_secret_is_masked_in_urls() {
        for (url, secret, shown) in FORMS {
            let redacted = redact_url(url);
            assert_eq!(&redacted, shown, "{url}");
            assert!(!redacted.contains(secret), "{url}");
        }
    }

    #[test]
    fn urls_without_secrets_are_shown_as_they_are() {
        for url in [
            "postgres://app@db:5432/prod?sslmode=require",
            "mysql://root@127.0.0.1/test",
            "sqlite://engine.db?mode=rwc",
            "sqlite::memory:",
            "not a url",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn secrets_are_scrubbed_from_driver_messages_raw_and_decoded() {
        for (url, secret, _) in FORMS {
            let message = format!("error connecting to {url}: bad password {secret}\nfor bob");
            let scrubbed = scrub(&message, url);
            assert!(!scrubbed.contains(secret), "{url}: {scrubbed}");
            assert!(!scrubbed.contains('\n'));
            assert!(scrubbed.contains("for bob"));
        }
    }

    #[test]
    fn percent_escapes_are_decoded_and_broken_ones_kept() {
        assert_eq!(percent_decode("S3cret%73"), "S3crets");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
