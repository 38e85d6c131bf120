//! Panics inside migrations: their message, where they happened, and a hook that keeps the
//! default report (and its backtrace) for when `RUST_BACKTRACE` asks for it.

use std::any::Any;
use std::sync::Mutex;

/// Where the latest panic happened, as the hook saw it (`file:line:column`).
static LAST_LOCATION: Mutex<Option<String>> = Mutex::new(None);

/// The message of a panic payload, with where it happened when the hook of
/// [`install_hook`] saw it.
pub(crate) fn message(payload: &(dyn Any + Send)) -> String {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".to_owned()
    };
    let location = LAST_LOCATION.lock().ok().and_then(|mut l| l.take());
    match location {
        Some(at) => format!("{text} (at {at})"),
        None => text,
    }
}

/// Installs a panic hook for the binaries: it notes where a panic happened (for the report of
/// a panicking migration) and prints the default panic report only when `RUST_BACKTRACE` is
/// set, so a panicking migration ends in the usual one-message failure report.
pub fn install_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if let (Ok(mut last), Some(at)) = (LAST_LOCATION.lock(), info.location()) {
            *last = Some(at.to_string());
        }
        if std::env::var_os("RUST_BACKTRACE").is_some_and(|v| v != "0") {
            default(info);
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_message_is_read_from_either_payload_type() {
        assert_eq!(message(&"static text"), "static text");
        assert_eq!(message(&String::from("owned text")), "owned text");
        assert_eq!(message(&42_u8), "(a panic without a message)");
    }
}
