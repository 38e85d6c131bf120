//! Data entities of the `template` workflow project.

pub mod request;
pub mod request_item;

/// This project's entities, as its chain declares them: their tables are checked against
/// `ext_template_*` at startup, and `check` compares them with what the migrations create.
/// Add every new entity here; `autogenerate` writes the migration for it.
pub fn declare(e: &mut chainkit::Entities) {
    e.entity(request::Entity).entity(request_item::Entity);
}
