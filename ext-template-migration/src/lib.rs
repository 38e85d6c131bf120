//! Workflow project `template`: its migration chain, recorded in `seaql_migrations_template`.
//!
//! Every migration here may only create, alter or drop `ext_template_*` tables. New
//! migrations are created with `cargo xtask new-migration --ns template NAME`.

pub use sea_orm_migration::prelude::*;

mod m20260201_000001_create_requests;
mod m20260215_000001_add_request_status;

/// The chain's migrations, oldest first, with their checksums.
const MIGRATIONS: chainkit::Migrations = chainkit::migrations![
    m20260201_000001_create_requests,
    m20260215_000001_add_request_status,
    // new migrations go above this line (`cargo xtask new-migration --ns template NAME`)
];

/// This chain's namespace.
pub const NAMESPACE: &str = ext_template::NAMESPACE;

/// The migrator of workflow project `template`. Works with the stock `MigratorTrait` methods
/// and CLI too: its version table is `seaql_migrations_template`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        MIGRATIONS.boxed()
    }

    fn migration_table_name() -> DynIden {
        chainkit::version_table_iden(NAMESPACE)
    }
}

/// This project's chain, as the engine registers it.
pub fn chain() -> chainkit::Chain {
    chainkit::Chain::workflow::<Migrator>(NAMESPACE)
        .checksums(MIGRATIONS)
        .entities(ext_template::entities::declare)
        .source_dir(env!("CARGO_MANIFEST_DIR"))
}

/// The engine's chain and this one: what this project's own binary and tests run against.
///
/// # Errors
/// A namespace or scope rule this project breaks.
pub fn registry() -> Result<chainkit::Registry, chainkit::Error> {
    chainkit::Registry::new(engine_migration::chain(), [chain()])
}
