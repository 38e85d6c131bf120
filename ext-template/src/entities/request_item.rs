//! One line of a request.

use sea_orm::entity::prelude::*;

/// A row of `ext_template_request_items`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ext_template_request_items")]
pub struct Model {
    /// Primary key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The request this item belongs to.
    #[sea_orm(indexed)]
    pub request_id: i64,
    /// What is requested.
    #[sea_orm(column_type = "String(StringLen::N(500))")]
    pub description: String,
    /// How many.
    pub quantity: i32,
}

/// Relations of `ext_template_request_items`.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The request.
    #[sea_orm(
        belongs_to = "super::request::Entity",
        from = "Column::RequestId",
        to = "super::request::Column::Id",
        on_delete = "Cascade"
    )]
    Request,
}

impl Related<super::request::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Request.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
