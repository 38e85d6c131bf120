use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE ext_pf_items (id INTEGER PRIMARY KEY, note VARCHAR(20), qty INTEGER)",
            )
            .await
            .map(|_| ())
    }
}
