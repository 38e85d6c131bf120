use sea_orm_migration::prelude::*;

use crate::m20260101_000001_create_users_and_workflow_instances::{Users, WorkflowInstances};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .col(
                        ColumnDef::new(Tasks::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Tasks::WorkflowInstanceId)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Tasks::Name).string_len(200).not_null())
                    .col(ColumnDef::new(Tasks::State).string_len(32).not_null())
                    .col(ColumnDef::new(Tasks::AssigneeId).big_integer().null())
                    .col(
                        ColumnDef::new(Tasks::DueAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Tasks::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_workflow_instance_id")
                            .from(Tasks::Table, Tasks::WorkflowInstanceId)
                            .to(WorkflowInstances::Table, WorkflowInstances::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_tasks_assignee_id")
                            .from(Tasks::Table, Tasks::AssigneeId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_workflow_instance_id")
                    .table(Tasks::Table)
                    .col(Tasks::WorkflowInstanceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_tasks_assignee_id_state")
                    .table(Tasks::Table)
                    .col(Tasks::AssigneeId)
                    .col(Tasks::State)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    WorkflowInstanceId,
    Name,
    State,
    AssigneeId,
    DueAt,
    CreatedAt,
}
