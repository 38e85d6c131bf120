use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

// its data moved elsewhere in an earlier release: reviewed, accepted
impl chainkit::Acknowledge for Migration {
    const FINDINGS: &'static [&'static str] = &["column-dropped"];
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE ext_pf_items DROP COLUMN note")
            .await
            .map(|_| ())
    }
}
