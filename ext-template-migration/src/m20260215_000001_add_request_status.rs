use sea_orm_migration::prelude::*;

use crate::m20260201_000001_create_requests::Requests;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Requests::Table)
                    .add_column(
                        ColumnDef::new(RequestsStatus::Status)
                            .string_len(32)
                            .not_null()
                            .default("open"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ext_template_requests_status")
                    .table(Requests::Table)
                    .col(RequestsStatus::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_ext_template_requests_status")
                    .table(Requests::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Requests::Table)
                    .drop_column(RequestsStatus::Status)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RequestsStatus {
    Status,
}
