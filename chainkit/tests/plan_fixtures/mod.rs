//! A workflow chain `pf` written the way a project writes one (a module per migration, the
//! `migrations!` list), whose second migration acknowledges the finding it causes.

mod m20260301_000001_create_items;
mod m20260301_000002_drop_note;
mod m20260301_000003_drop_qty;

use sea_orm_migration::{MigrationTrait, MigratorTrait};

pub const MIGRATIONS: chainkit::Migrations = chainkit::migrations![
    m20260301_000001_create_items,
    m20260301_000002_drop_note,
    m20260301_000003_drop_qty,
];

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        MIGRATIONS.boxed()
    }

    fn migration_table_name() -> sea_orm::DynIden {
        chainkit::version_table_iden("pf")
    }
}

pub fn chain() -> chainkit::Chain {
    chainkit::Chain::workflow::<Migrator>("pf").checksums(MIGRATIONS)
}
