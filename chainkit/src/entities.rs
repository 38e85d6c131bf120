//! What a chain's entities describe: the tables and indexes its migrations should produce.
//!
//! A chain declares its entities with [`Chain::entities`](crate::Chain::entities); `check`
//! and `autogenerate` build them into a scratch database of the same backend as the one the
//! migrations are replayed into, and compare the two.

use sea_orm::sea_query::extension::postgres::TypeCreateStatement;
use sea_orm::sea_query::{IndexCreateStatement, TableCreateStatement};
use sea_orm::{DbBackend, EntityTrait, Schema};

/// The tables and indexes of a chain's entities, for one backend.
///
/// ```
/// # use sea_orm::entity::prelude::*;
/// # mod note {
/// #     use sea_orm::entity::prelude::*;
/// #     #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
/// #     #[sea_orm(table_name = "ext_billing_notes")]
/// #     pub struct Model { #[sea_orm(primary_key)] pub id: i64, pub body: String }
/// #     #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
/// #     pub enum Relation {}
/// #     impl ActiveModelBehavior for ActiveModel {}
/// # }
/// use sea_orm::sea_query::Index;
///
/// fn entities(e: &mut chainkit::Entities) {
///     e.entity(note::Entity);
///     // what entity attributes cannot say, such as an index over two columns
///     e.index(Index::create().name("idx_notes_pair").table("ext_billing_notes").col("id").col("body").to_owned());
/// }
/// # let mut e = chainkit::Entities::new(sea_orm::DbBackend::Sqlite);
/// # entities(&mut e);
/// # assert_eq!(e.table_names(), ["ext_billing_notes"]);
/// ```
#[derive(Debug, Clone)]
pub struct Entities {
    backend: DbBackend,
    types: Vec<TypeCreateStatement>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
}

impl Entities {
    /// No entities yet, for `backend`.
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            types: Vec::new(),
            tables: Vec::new(),
            indexes: Vec::new(),
        }
    }

    /// The backend the statements are built for.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Adds an entity: its table (columns, primary key, unique columns, foreign keys from
    /// `belongs_to` relations), the indexes of its `indexed` columns and, on PostgreSQL, the
    /// enum types of its columns.
    pub fn entity<E: EntityTrait>(&mut self, entity: E) -> &mut Self {
        let schema = Schema::new(self.backend);
        if self.backend == DbBackend::Postgres {
            for ty in schema.create_enum_from_entity(entity) {
                let text = self.backend.build(&ty).to_string();
                if !self
                    .types
                    .iter()
                    .any(|t| self.backend.build(t).to_string() == text)
                {
                    self.types.push(ty);
                }
            }
        }
        self.tables.push(schema.create_table_from_entity(entity));
        self.indexes.extend(schema.create_index_from_entity(entity));
        self
    }

    /// Adds an index that entity attributes cannot express (several columns, say).
    pub fn index(&mut self, index: IndexCreateStatement) -> &mut Self {
        self.indexes.push(index);
        self
    }

    /// The PostgreSQL enum types the tables use.
    pub fn types(&self) -> &[TypeCreateStatement] {
        &self.types
    }

    /// The table statements, in the order added.
    pub fn tables(&self) -> &[TableCreateStatement] {
        &self.tables
    }

    /// The index statements.
    pub fn indexes(&self) -> &[IndexCreateStatement] {
        &self.indexes
    }

    /// The names of the tables, in the order added.
    pub fn table_names(&self) -> Vec<String> {
        self.tables
            .iter()
            .filter_map(|t| t.get_table_name().map(table_ref_name))
            .collect()
    }

    /// The table statement of `table`.
    pub fn table(&self, table: &str) -> Option<&TableCreateStatement> {
        self.tables
            .iter()
            .find(|t| t.get_table_name().map(table_ref_name).as_deref() == Some(table))
    }

    /// The table statements ordered so that a table comes after the tables it refers to
    /// (where the references allow it), as PostgreSQL and MySQL need them created.
    pub(crate) fn tables_in_creation_order(&self) -> Vec<&TableCreateStatement> {
        let names = self.table_names();
        let order = order_by_references(names.iter().map(String::as_str).collect(), |t| {
            self.table(t)
                .map(|stmt| {
                    stmt.get_foreign_key_create_stmts()
                        .iter()
                        .filter_map(|fk| fk.get_foreign_key().get_ref_table().map(table_ref_name))
                        .collect()
                })
                .unwrap_or_default()
        });
        order.into_iter().filter_map(|t| self.table(t)).collect()
    }
}

/// `tables` ordered so that each comes after the tables of the set it refers to (`refs`);
/// a cycle of references keeps the given order.
pub(crate) fn order_by_references<'t>(
    mut left: Vec<&'t str>,
    refs: impl Fn(&str) -> Vec<String>,
) -> Vec<&'t str> {
    let mut order: Vec<&'t str> = Vec::new();
    while !left.is_empty() {
        let pos = left
            .iter()
            .position(|t| {
                refs(t)
                    .iter()
                    .all(|r| r == t || !left.contains(&r.as_str()))
            })
            .unwrap_or(0);
        order.push(left.remove(pos));
    }
    order
}

/// The plain name of a table reference (without schema).
pub(crate) fn table_ref_name(table: &sea_orm::sea_query::TableRef) -> String {
    use sea_orm::sea_query::TableRef;
    match table {
        TableRef::Table(name, _) => name.1.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_tables_come_first_and_cycles_keep_their_order() {
        let refs = |t: &str| match t {
            "c" => vec!["b".to_owned(), "outside".to_owned()],
            "b" => vec!["a".to_owned(), "b".to_owned()],
            _ => vec![],
        };
        assert_eq!(
            order_by_references(vec!["c", "a", "b"], refs),
            ["a", "b", "c"]
        );
        let cycle = |t: &str| vec![if t == "x" { "y" } else { "x" }.to_owned()];
        assert_eq!(order_by_references(vec!["x", "y"], cycle), ["x", "y"]);
    }
}
