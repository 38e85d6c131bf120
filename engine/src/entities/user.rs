//! A person who starts workflows and works on tasks.

use sea_orm::entity::prelude::*;

/// A row of `users`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Unique login name.
    #[sea_orm(unique, column_type = "String(StringLen::N(100))")]
    pub username: String,
    /// Name shown to people.
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub display_name: String,
    /// When the user was created.
    pub created_at: DateTimeUtc,
}

/// Relations of `users`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// Workflow instances this user started.
    #[sea_orm(has_many = "super::workflow_instance::Entity")]
    WorkflowInstances,
    /// Tasks assigned to this user.
    #[sea_orm(has_many = "super::task::Entity")]
    Tasks,
}

impl ActiveModelBehavior for ActiveModel {}
