//! The engine's entities. Their tables never start with `ext_`: that prefix belongs to
//! workflow projects.

pub mod task;
pub mod user;
pub mod workflow_instance;

use sea_orm::sea_query::Index;

/// The engine's entities, as the engine's chain declares them: their tables are checked
/// against the engine's scope at startup, and `engine migrate check --ns engine` compares them
/// with what the engine's migrations create.
pub fn declare(e: &mut chainkit::Entities) {
    e.entity(user::Entity)
        .entity(workflow_instance::Entity)
        .entity(task::Entity)
        // entity attributes cannot declare an index over two columns
        .index(
            Index::create()
                .name("idx_tasks_assignee_id_state")
                .table("tasks")
                .col("assignee_id")
                .col("state")
                .to_owned(),
        );
}
