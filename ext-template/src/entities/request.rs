//! A request handled by a workflow instance.

use sea_orm::entity::prelude::*;

/// A row of `ext_template_requests`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ext_template_requests")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The engine's workflow instance handling this request (`workflow_instances.id`).
    pub workflow_instance_id: i64,
    /// Short description.
    #[sea_orm(column_type = "String(StringLen::N(200))")]
    pub title: String,
    /// `open`, `approved`, `rejected`.
    #[sea_orm(
        indexed,
        default_value = "open",
        column_type = "String(StringLen::N(32))"
    )]
    pub status: String,
    /// When the request was made.
    pub created_at: DateTimeUtc,
}

/// Relations of `ext_template_requests`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The request's items.
    #[sea_orm(has_many = "super::request_item::Entity")]
    Items,
}

impl Related<super::request_item::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Items.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
