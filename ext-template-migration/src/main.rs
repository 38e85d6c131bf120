//! `ext-template-migration`: this workflow project's own migration CLI, acting on its chain
//! only (`status`, `up`, `down`, `fresh`, `reset`, `refresh`; `--help` for more).

fn main() -> std::process::ExitCode {
    chainkit::cli::workflow_main(
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION"),
        ext_template_migration::NAMESPACE,
        ext_template_migration::registry(),
    )
}
