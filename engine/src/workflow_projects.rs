//! The workflow projects this engine hosts: one line each, written by
//! `cargo xtask new-project`, beside the project's dependency in `engine/Cargo.toml`.
//! Their run order does not depend on this list (see `chainkit::Registry`).

/// Every registered workflow project's chain.
pub fn chains() -> Vec<chainkit::Chain> {
    vec![
        ext_template_migration::chain(),
        // workflow projects (one line each, written by `cargo xtask new-project`)
    ]
}
