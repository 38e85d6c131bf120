//! Project automation, run as `cargo xtask`.

fn main() {}
