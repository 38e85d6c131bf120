//! One run of a workflow definition.

use sea_orm::entity::prelude::*;

/// A row of `workflow_instances`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "workflow_instances")]
pub struct Model {
    /// Primary key; workflow projects refer to it as `workflow_instance_id`.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Key of the workflow definition this instance runs.
    #[sea_orm(indexed, column_type = "String(StringLen::N(200))")]
    pub definition_key: String,
    /// `running`, `completed`, `failed`…
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub state: String,
    /// The user who started it, if any.
    pub started_by: Option<i64>,
    /// When it started.
    pub created_at: DateTimeUtc,
}

/// Relations of `workflow_instances`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The user who started the instance.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::StartedBy",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    StartedBy,
    /// The instance's tasks.
    #[sea_orm(has_many = "super::task::Entity")]
    Tasks,
}

impl Related<super::task::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Tasks.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::StartedBy.def()
    }
}
