use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Requests::Table)
                    .col(
                        ColumnDef::new(Requests::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Requests::WorkflowInstanceId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Requests::Title).string_len(200).not_null())
                    .col(
                        ColumnDef::new(Requests::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ext_template_requests_workflow_instance_id")
                            .from(Requests::Table, Requests::WorkflowInstanceId)
                            .to(WorkflowInstances::Table, WorkflowInstances::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RequestItems::Table)
                    .col(
                        ColumnDef::new(RequestItems::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(RequestItems::RequestId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RequestItems::Description)
                            .string_len(500)
                            .not_null(),
                    )
                    .col(ColumnDef::new(RequestItems::Quantity).integer().not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_ext_template_request_items_request_id")
                            .from(RequestItems::Table, RequestItems::RequestId)
                            .to(Requests::Table, Requests::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_ext_template_request_items_request_id")
                    .table(RequestItems::Table)
                    .col(RequestItems::RequestId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RequestItems::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Requests::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Requests {
    #[sea_orm(iden = "ext_template_requests")]
    Table,
    Id,
    WorkflowInstanceId,
    Title,
    CreatedAt,
}

#[derive(DeriveIden)]
enum RequestItems {
    #[sea_orm(iden = "ext_template_request_items")]
    Table,
    Id,
    RequestId,
    Description,
    Quantity,
}

/// The engine's table a request refers to (read-only: this chain never alters it).
#[derive(DeriveIden)]
enum WorkflowInstances {
    Table,
    Id,
}
