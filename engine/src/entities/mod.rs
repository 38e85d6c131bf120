//! The engine's entities. Their tables never start with `ext_`: that prefix belongs to
//! workflow projects.

pub mod task;
pub mod user;
pub mod workflow_instance;

use sea_orm::EntityName;

/// The tables of the engine's entities, checked against the engine's scope at startup.
pub fn tables() -> Vec<&'static str> {
    vec![
        user::Entity.table_name(),
        workflow_instance::Entity.table_name(),
        task::Entity.table_name(),
    ]
}
