//! A step of a workflow instance, possibly assigned to a user.

use sea_orm::entity::prelude::*;

/// A row of `tasks`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The instance the task belongs to.
    #[sea_orm(indexed)]
    pub workflow_instance_id: i64,
    /// Task name from the workflow definition.
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub name: String,
    /// `open`, `done`…
    #[sea_orm(column_type = "String(StringLen::N(32))")]
    pub state: String,
    /// The user it is assigned to, if any.
    pub assignee_id: Option<i64>,
    /// When it is due, if ever.
    pub due_at: Option<DateTimeUtc>,
    /// When it was created.
    pub created_at: DateTimeUtc,
}

/// Relations of `tasks`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The task's workflow instance.
    #[sea_orm(
        belongs_to = "super::workflow_instance::Entity",
        from = "Column::WorkflowInstanceId",
        to = "super::workflow_instance::Column::Id",
        on_delete = "Cascade"
    )]
    WorkflowInstance,
    /// The assignee.
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::AssigneeId",
        to = "super::user::Column::Id",
        on_delete = "SetNull"
    )]
    Assignee,
}

impl Related<super::workflow_instance::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::WorkflowInstance.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

impl Related<super::user::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Assignee.def()
    }
}
