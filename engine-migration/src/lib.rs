//! The workflow engine's own migration chain, recorded in sea-orm-migration's default version
//! table `seaql_migrations`.
//!
//! Engine migrations must never touch a workflow project's `ext_*` tables. New migrations are
//! created with `cargo xtask new-migration --ns engine NAME`.

pub use sea_orm_migration::prelude::*;

mod m20260101_000001_create_users_and_workflow_instances;
mod m20260115_000001_create_tasks;

/// The chain's migrations, oldest first, with their checksums.
const MIGRATIONS: chainkit::Migrations = chainkit::migrations![
    m20260101_000001_create_users_and_workflow_instances,
    m20260115_000001_create_tasks,
    // new migrations go above this line (`cargo xtask new-migration --ns engine NAME`)
];

/// The engine's migrator. Works with the stock `MigratorTrait` methods too.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        MIGRATIONS.boxed()
    }
}

/// The engine's chain, for the engine's [`chainkit::Registry`].
pub fn chain() -> chainkit::Chain {
    chainkit::Chain::engine::<Migrator>()
        .checksums(MIGRATIONS)
        .source_dir(env!("CARGO_MANIFEST_DIR"))
}
