//! `drift` and `generate`: every kind of difference between entities and migrations is found
//! on each backend, only within the chain's scope, and written as a migration.

use chainkit::testing::{Backend, SqlMigration, sql_chain};
use chainkit::{Chain, Change, Entities, Registry, ScratchServer};
use sea_orm::DbErr;
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

/// The entities as the migrations knew them.
mod v1 {
    pub mod item {
        use sea_orm::entity::prelude::*;
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "ext_acme_items")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            #[sea_orm(indexed, column_type = "String(StringLen::N(100))")]
            pub name: String,
            pub qty: Option<i32>,
            #[sea_orm(default_value = "a", column_type = "String(StringLen::N(8))")]
            pub flag: String,
            pub old: Option<String>,
            #[sea_orm(unique, column_type = "String(StringLen::N(20))")]
            pub code: String,
            pub parent_id: Option<i64>,
        }
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::parent::Entity",
                from = "Column::ParentId",
                to = "super::parent::Column::Id"
            )]
            Parent,
        }
        impl ActiveModelBehavior for ActiveModel {}
    }
    pub mod parent {
        use sea_orm::entity::prelude::*;
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "ext_acme_parents")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
        }
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    }
    pub mod gone {
        use sea_orm::entity::prelude::*;
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "ext_acme_gone")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
        }
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}
        impl ActiveModelBehavior for ActiveModel {}
    }

    pub fn declare(e: &mut chainkit::Entities) {
        e.entity(parent::Entity)
            .entity(item::Entity)
            .entity(gone::Entity);
    }
}

/// The entities now.
mod v2 {
    pub mod item {
        use sea_orm::entity::prelude::*;
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "ext_acme_items")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            #[sea_orm(unique, column_type = "String(StringLen::N(200))")]
            pub name: String,
            pub qty: i32,
            #[sea_orm(default_value = "b", column_type = "String(StringLen::N(8))")]
            pub flag: String,
            pub status: Option<String>,
            #[sea_orm(column_type = "String(StringLen::N(20))")]
            pub code: String,
            pub parent_id: Option<i64>,
        }
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "crate::v1::parent::Entity",
                from = "Column::ParentId",
                to = "crate::v1::parent::Column::Id",
                on_delete = "Cascade"
            )]
            Parent,
        }
        impl ActiveModelBehavior for ActiveModel {}
    }
    pub mod new {
        use sea_orm::entity::prelude::*;
        #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
        #[sea_orm(table_name = "ext_acme_new")]
        pub struct Model {
            #[sea_orm(primary_key)]
            pub id: i64,
            #[sea_orm(indexed)]
            pub item_id: i64,
        }
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {
            #[sea_orm(
                belongs_to = "super::item::Entity",
                from = "Column::ItemId",
                to = "super::item::Column::Id"
            )]
            Item,
        }
        impl ActiveModelBehavior for ActiveModel {}
    }

    pub fn declare(e: &mut chainkit::Entities) {
        e.entity(crate::v1::parent::Entity)
            .entity(item::Entity)
            .entity(new::Entity);
    }
}

/// A migration creating what `declare` declares, on whichever backend it runs.
struct FromEntities(fn(&mut Entities));

impl MigrationName for FromEntities {
    fn name(&self) -> &str {
        "m20260301_000001_from_v1"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FromEntities {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut e = Entities::new(manager.get_database_backend());
        (self.0)(&mut e);
        for ty in e.types() {
            manager.create_type(ty.clone()).await?;
        }
        for table in e.tables() {
            manager.create_table(table.clone()).await?;
        }
        for index in e.indexes() {
            manager.create_index(index.clone()).await?;
        }
        Ok(())
    }
}

fn registry(entities: fn(&mut Entities)) -> Registry {
    let engine = sql_chain(
        "engine",
        vec![SqlMigration::new(
            "m20260101_000001_users",
            &["CREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(50))"],
        )],
    )
    .entities(|_| {});
    let acme = Chain::from_fn("acme", "seaql_migrations_acme", || {
        vec![Box::new(FromEntities(v1::declare)) as Box<dyn MigrationTrait>]
    })
    .entities(entities);
    // another project, with tables and no entities: never this chain's concern
    let other = sql_chain(
        "other",
        vec![SqlMigration::new(
            "m20260201_000001_t",
            &["CREATE TABLE ext_other_t (id INTEGER PRIMARY KEY, user_id INTEGER)"],
        )],
    );
    Registry::new(engine, [acme, other]).unwrap()
}

fn servers() -> Vec<(Backend, ScratchServer)> {
    Backend::available()
        .into_iter()
        .map(|b| {
            let url = b.env_var().and_then(|v| std::env::var(v).ok());
            (b, ScratchServer::from_url(url.as_deref()))
        })
        .collect()
}

fn summary(change: &Change) -> String {
    match change {
        Change::CreateTable { table } => format!("create {table}"),
        Change::DropTable { table } => format!("drop {table}"),
        Change::AddColumn { table, column } => format!("add {table}.{}", column.name),
        Change::DropColumn { table, column } => format!("drop {table}.{}", column.name),
        Change::AlterColumn { table, to, .. } => format!("alter {table}.{}", to.name),
        Change::AddIndex { table, index } => {
            format!("add index {table} {:?} {}", index.columns, index.unique)
        }
        Change::DropIndex { table, index } => {
            format!("drop index {table} {:?} {}", index.columns, index.unique)
        }
        Change::AddForeignKey { table, key } => {
            format!("add fk {table} -> {} {}", key.ref_table, key.on_delete)
        }
        Change::DropForeignKey { table, key } => {
            format!("drop fk {table} -> {} {}", key.ref_table, key.on_delete)
        }
        other => format!("{other}"),
    }
}

#[tokio::test]
async fn every_kind_of_difference_is_found_within_the_scope_on_every_backend() {
    for (backend, server) in servers() {
        let registry = registry(v2::declare);
        let drift = chainkit::drift(&registry, "acme", &server).await.unwrap();
        let found: Vec<String> = drift.changes.iter().map(summary).collect();
        let restrict = if backend == Backend::MySql {
            "RESTRICT"
        } else {
            "NO ACTION"
        };
        let expected = [
            "drop ext_acme_gone".to_owned(),
            "alter ext_acme_items.name".to_owned(),
            "alter ext_acme_items.qty".to_owned(),
            "alter ext_acme_items.flag".to_owned(),
            "add ext_acme_items.status".to_owned(),
            "drop ext_acme_items.old".to_owned(),
            r#"drop index ext_acme_items ["code"] true"#.to_owned(),
            r#"drop index ext_acme_items ["name"] false"#.to_owned(),
            r#"add index ext_acme_items ["name"] true"#.to_owned(),
            format!("drop fk ext_acme_items -> ext_acme_parents {restrict}"),
            "add fk ext_acme_items -> ext_acme_parents CASCADE".to_owned(),
            "create ext_acme_new".to_owned(),
        ];
        assert_eq!(found, expected, "{backend}:\n{drift}");

        let generated = chainkit::generate(&drift).unwrap();
        let source = generated.source;
        for foreign in ["users", "ext_other_t", "seaql_migrations"] {
            assert!(
                !source.contains(&format!("\"{foreign}\"")),
                "{backend}: {source}"
            );
        }
        assert!(
            source.contains(r#".drop_table(Table::drop().table("ext_acme_gone").to_owned())"#),
            "{backend}: {source}"
        );
        assert!(
            source.contains("chainkit::rebuild_sqlite_table("),
            "{backend}"
        );
        if backend != Backend::MySql {
            // the unique index on `code` belongs to a UNIQUE constraint there
            assert!(
                source.contains(r#".drop_constraint("ext_acme_items_code_key")"#),
                "{backend}: {source}"
            );
        }
        assert_eq!(generated.changes.len(), expected.len());

        // the entities the migrations were written from agree with them
        let same = registry_with_v1();
        let clean = chainkit::drift(&same, "acme", &server).await.unwrap();
        assert!(clean.is_clean(), "{backend}: {clean}");
        assert!(chainkit::generate(&clean).is_none());
    }
}

fn registry_with_v1() -> Registry {
    registry(v1::declare)
}

#[tokio::test]
async fn a_chain_without_entities_cannot_be_checked() {
    let registry = registry(v2::declare);
    let err = chainkit::drift(&registry, "other", &ScratchServer::SqliteMemory)
        .await
        .unwrap_err();
    assert!(
        matches!(err, chainkit::Error::NoEntities { ref namespace } if namespace == "other"),
        "{err}"
    );
}

#[tokio::test]
async fn a_migration_failing_in_the_scratch_database_is_reported_as_such() {
    let engine = sql_chain("engine", vec![]);
    let broken = sql_chain(
        "acme",
        vec![SqlMigration::new(
            "m20260301_000001_broken",
            &["CREATE TABLE ext_acme_x (id INTEGER PRIMARY KEY, nope NOSUCHTYPE("],
        )],
    )
    .entities(v2::declare);
    let registry = Registry::new(engine, [broken]).unwrap();
    let err = chainkit::drift(&registry, "acme", &ScratchServer::SqliteMemory)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, chainkit::Error::Scratch { .. }), "{message}");
    assert!(
        message.starts_with(
            "namespace \"acme\": comparing entities and migrations on scratch databases \
             (SQLite in memory): namespace \"acme\": migration m20260301_000001_broken"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn dependencies_are_replayed_first_and_their_tables_stay_out_of_the_comparison() {
    // beta's migration refers to acme's table, which must exist first on PostgreSQL and MySQL
    let beta = sql_chain(
        "beta",
        vec![SqlMigration::new(
            "m20260401_000001_t",
            &[
                "CREATE TABLE ext_beta_t (id BIGINT NOT NULL PRIMARY KEY, parent_id BIGINT, \
               CONSTRAINT fk_ext_beta_t_parent FOREIGN KEY (parent_id) \
               REFERENCES ext_acme_parents (id))",
            ],
        )],
    )
    .depends_on(["acme"])
    .entities(|_| {});
    let engine = sql_chain("engine", vec![]);
    let acme = Chain::from_fn("acme", "seaql_migrations_acme", || {
        vec![Box::new(FromEntities(v1::declare)) as Box<dyn MigrationTrait>]
    })
    .entities(v1::declare);
    let registry = Registry::new(engine, [beta, acme]).unwrap();
    for (backend, server) in servers() {
        let drift = chainkit::drift(&registry, "beta", &server)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        let found: Vec<String> = drift.changes.iter().map(summary).collect();
        // the table is beta's, its key to acme's table is not compared
        assert_eq!(found, ["drop ext_beta_t"], "{backend}: {drift}");
        let source = chainkit::generate(&drift).unwrap().source;
        assert!(!source.contains("ext_acme_"), "{backend}: {source}");
    }
}

mod with_enum {
    use sea_orm::entity::prelude::*;

    #[derive(Debug, Clone, PartialEq, Eq, EnumIter, DeriveActiveEnum)]
    #[sea_orm(rs_type = "String", db_type = "Enum", enum_name = "ext_acme_mood")]
    pub enum Mood {
        #[sea_orm(string_value = "happy")]
        Happy,
        #[sea_orm(string_value = "sad")]
        Sad,
    }

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "ext_acme_feelings")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i64,
        pub mood: Mood,
    }
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
    impl ActiveModelBehavior for ActiveModel {}

    pub fn declare(e: &mut chainkit::Entities) {
        e.entity(Entity);
    }
}

#[tokio::test]
async fn enum_columns_compare_equal_when_migrations_and_entities_agree() {
    let engine = sql_chain("engine", vec![]);
    let acme = Chain::from_fn("acme", "seaql_migrations_acme", || {
        vec![Box::new(FromEntities(with_enum::declare)) as Box<dyn MigrationTrait>]
    })
    .entities(with_enum::declare);
    let registry = Registry::new(engine, [acme]).unwrap();
    for (backend, server) in servers() {
        let drift = chainkit::drift(&registry, "acme", &server)
            .await
            .unwrap_or_else(|e| panic!("{backend}: {e}"));
        assert!(drift.is_clean(), "{backend}: {drift}");
        let column = &drift.migrated.tables["ext_acme_feelings"].columns[1];
        assert_eq!(column.name, "mood");
    }
}

#[tokio::test]
async fn a_new_enum_column_is_written_with_its_postgresql_type() {
    let engine = sql_chain("engine", vec![]);
    let acme = sql_chain("acme", vec![]).entities(with_enum::declare);
    let registry = Registry::new(engine, [acme]).unwrap();
    for (backend, server) in servers() {
        let drift = chainkit::drift(&registry, "acme", &server).await.unwrap();
        let source = chainkit::generate(&drift).unwrap().source;
        for expected in [
            r#".enumeration("ext_acme_mood", ["happy", "sad"])"#,
            r#".as_enum("ext_acme_mood")"#,
            r#".values(["happy", "sad"])"#,
            r#".name("ext_acme_mood")"#,
        ] {
            assert!(
                source.contains(expected),
                "{backend}: {expected} in {source}"
            );
        }
    }
}
