//! A corpus of the patterns real SeaORM chains use, as one chain that can be put in as the
//! engine's (names without a prefix) or as a workflow project's (`ext_{ns}_…`): enum types
//! used and unused, views and a materialized view, functions, triggers, a sequence, an enum
//! value added and used in the next migration, data seeded through an entity, a nested
//! transaction, a migration outside transactions (PostgreSQL `CREATE INDEX CONCURRENTLY`,
//! SQLite's foreign-keys-off table rebuild), the `pg_trgm` extension, and raw DML on its own
//! version table. Every migration's `down` undoes it.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use chainkit::Chain;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, EntityTrait, Set, TransactionTrait};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};

/// Which backends a statement list is for.
#[derive(Clone, Copy)]
pub enum On {
    All,
    Sqlite,
    Postgres,
    MySql,
    /// PostgreSQL and MySQL/MariaDB
    Servers,
}

impl On {
    pub fn covers(self, backend: DbBackend) -> bool {
        match self {
            Self::All => true,
            Self::Sqlite => backend == DbBackend::Sqlite,
            Self::Postgres => backend == DbBackend::Postgres,
            Self::MySql => backend == DbBackend::MySql,
            Self::Servers => backend != DbBackend::Sqlite,
        }
    }
}

/// A migration of raw SQL, per backend; `{p}` in a statement is replaced by the chain's
/// prefix and `{vt}` by its version table.
#[derive(Clone)]
pub struct Sql {
    name: String,
    up: Vec<(On, String)>,
    down: Vec<(On, String)>,
    use_transaction: Option<bool>,
}

impl Sql {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            up: Vec::new(),
            down: Vec::new(),
            use_transaction: None,
        }
    }

    pub fn up(mut self, on: On, sql: &[&str]) -> Self {
        self.up.extend(sql.iter().map(|s| (on, (*s).to_owned())));
        self
    }

    pub fn down(mut self, on: On, sql: &[&str]) -> Self {
        self.down.extend(sql.iter().map(|s| (on, (*s).to_owned())));
        self
    }

    pub fn no_transaction(mut self) -> Self {
        self.use_transaction = Some(false);
        self
    }

    fn fill(mut self, prefix: &str, version_table: &str) -> Self {
        for (_, sql) in self.up.iter_mut().chain(self.down.iter_mut()) {
            *sql = sql.replace("{p}", prefix).replace("{vt}", version_table);
        }
        self
    }
}

async fn run_all(manager: &SchemaManager<'_>, list: &[(On, String)]) -> Result<(), DbErr> {
    let backend = manager.get_database_backend();
    for (on, sql) in list {
        if on.covers(backend) {
            manager.get_connection().execute_unprepared(sql).await?;
        }
    }
    Ok(())
}

impl MigrationName for Sql {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Sql {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, &self.up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_all(manager, &self.down).await
    }

    fn use_transaction(&self) -> Option<bool> {
        self.use_transaction
    }
}

macro_rules! item_entity {
    ($module:ident, $table:literal) => {
        /// The items table, as an application's entity sees it (its enum column left out).
        pub mod $module {
            use sea_orm::entity::prelude::*;

            #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
            #[sea_orm(table_name = $table)]
            pub struct Model {
                #[sea_orm(primary_key)]
                pub id: i32,
                pub name: String,
            }

            #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
            pub enum Relation {}

            impl ActiveModelBehavior for ActiveModel {}
        }
    };
}

item_entity!(engine_item, "items");
item_entity!(rw_item, "ext_rw_items");

/// Uses the enum value the migration before added, seeds a row through an entity, and counts
/// how often its `up` ran (a side effect outside the database, such as generating a key).
struct UseValueAndSeed {
    prefix: String,
    runs: Arc<AtomicUsize>,
}

impl MigrationName for UseValueAndSeed {
    fn name(&self) -> &str {
        "m20260301_000006_use_value_and_seed"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for UseValueAndSeed {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let p = &self.prefix;
        let conn = manager.get_connection();
        let mood = match manager.get_database_backend() {
            DbBackend::Postgres => format!("'excited'::{p}mood"),
            _ => "'excited'".to_owned(),
        };
        conn.execute_unprepared(&format!(
            "INSERT INTO {p}items (name, mood) VALUES ('first', {mood})"
        ))
        .await?;
        if p.is_empty() {
            engine_item::Entity::insert(engine_item::ActiveModel {
                name: Set("second".to_owned()),
                ..Default::default()
            })
            .exec(conn)
            .await?;
        } else {
            rw_item::Entity::insert(rw_item::ActiveModel {
                name: Set("second".to_owned()),
                ..Default::default()
            })
            .exec(conn)
            .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "DELETE FROM {}items WHERE name IN ('first', 'second', 'renamed')",
                self.prefix
            ))
            .await?;
        Ok(())
    }
}

/// Creates two tables, one referencing the other, and fills them inside a transaction of its
/// own (nested in the runner's where there is one).
struct NestedTransaction {
    prefix: String,
}

impl MigrationName for NestedTransaction {
    fn name(&self) -> &str {
        "m20260301_000007_owners_and_pets"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for NestedTransaction {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let p = &self.prefix;
        let conn = manager.get_connection();
        conn.execute_unprepared(&format!(
            "CREATE TABLE {p}owners (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)"
        ))
        .await?;
        conn.execute_unprepared(&format!(
            "CREATE TABLE {p}pets (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, \
             CONSTRAINT fk_{p}pets_owner FOREIGN KEY (owner_id) REFERENCES {p}owners (id))"
        ))
        .await?;
        let txn = conn.begin().await?;
        txn.execute_unprepared(&format!(
            "INSERT INTO {p}owners (id, name) VALUES (1, 'ada'), (2, 'bob')"
        ))
        .await?;
        txn.execute_unprepared(&format!(
            "INSERT INTO {p}pets (id, owner_id) VALUES (1, 1), (2, 2)"
        ))
        .await?;
        txn.commit().await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let p = &self.prefix;
        let conn = manager.get_connection();
        conn.execute_unprepared(&format!("DROP TABLE {p}pets"))
            .await?;
        conn.execute_unprepared(&format!("DROP TABLE {p}owners"))
            .await?;
        Ok(())
    }
}

/// The names of the corpus's migrations, in order.
pub const MIGRATIONS: [&str; 10] = [
    "m20260301_000001_types_and_items",
    "m20260301_000002_views",
    "m20260301_000003_function_and_trigger",
    "m20260301_000004_sequence",
    "m20260301_000005_add_enum_value",
    "m20260301_000006_use_value_and_seed",
    "m20260301_000007_owners_and_pets",
    "m20260301_000008_outside_transactions",
    "m20260301_000009_trigram_index",
    "m20260301_000010_clean_old_version_rows",
];

/// The corpus's migrations for a chain whose objects start with `prefix`, recording itself in
/// `version_table`; `runs` counts the runs of the seeding migration's `up`.
pub fn migrations(
    prefix: &str,
    version_table: &str,
    runs: &Arc<AtomicUsize>,
) -> Vec<Box<dyn MigrationTrait>> {
    let sql = |m: Sql| Box::new(m.fill(prefix, version_table)) as Box<dyn MigrationTrait>;
    vec![
        sql(Sql::new(MIGRATIONS[0])
            .up(
                On::Postgres,
                &[
                    "CREATE TYPE {p}mood AS ENUM ('calm', 'happy')",
                    // created and never used by a column, as sea-orm-migration's own test
                    // chain does
                    "CREATE TYPE {p}unused AS ENUM ('a', 'b')",
                    "CREATE TABLE {p}items (id SERIAL PRIMARY KEY, name VARCHAR(100) NOT NULL, \
                     mood {p}mood, touched INTEGER NOT NULL DEFAULT 0)",
                ],
            )
            .up(
                On::MySql,
                &["CREATE TABLE {p}items (id INT AUTO_INCREMENT PRIMARY KEY, \
                   name VARCHAR(100) NOT NULL, mood ENUM('calm', 'happy'), \
                   touched INT NOT NULL DEFAULT 0)"],
            )
            .up(
                On::Sqlite,
                &["CREATE TABLE {p}items (id INTEGER PRIMARY KEY AUTOINCREMENT, \
                   name VARCHAR(100) NOT NULL, mood TEXT, touched INTEGER NOT NULL DEFAULT 0)"],
            )
            .down(On::All, &["DROP TABLE {p}items"])
            .down(On::Postgres, &["DROP TYPE {p}mood", "DROP TYPE {p}unused"])),
        sql(Sql::new(MIGRATIONS[1])
            .up(
                On::All,
                &["CREATE VIEW {p}item_names AS SELECT id, name FROM {p}items"],
            )
            .up(
                On::Postgres,
                &["CREATE MATERIALIZED VIEW {p}item_stats AS SELECT count(*) AS n FROM {p}items"],
            )
            .down(On::Postgres, &["DROP MATERIALIZED VIEW {p}item_stats"])
            .down(On::All, &["DROP VIEW {p}item_names"])),
        sql(Sql::new(MIGRATIONS[2])
            .up(
                On::Postgres,
                &[
                    "CREATE FUNCTION {p}touch() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN NEW.touched := OLD.touched + 1; RETURN NEW; END $$",
                    "CREATE TRIGGER {p}items_touch BEFORE UPDATE ON {p}items \
                     FOR EACH ROW EXECUTE FUNCTION {p}touch()",
                    "CREATE FUNCTION {p}twice(x integer) RETURNS integer LANGUAGE sql \
                     IMMUTABLE AS 'SELECT x * 2'",
                ],
            )
            .up(
                On::MySql,
                &[
                    "CREATE TRIGGER {p}items_touch BEFORE UPDATE ON {p}items \
                     FOR EACH ROW SET NEW.touched = OLD.touched + 1",
                    "CREATE FUNCTION {p}twice(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
                ],
            )
            .up(
                On::Sqlite,
                &["CREATE TRIGGER {p}items_touch AFTER UPDATE OF name ON {p}items BEGIN \
                   UPDATE {p}items SET touched = touched + 1 WHERE id = NEW.id; END"],
            )
            .down(
                On::Postgres,
                &[
                    "DROP FUNCTION {p}twice(integer)",
                    "DROP TRIGGER {p}items_touch ON {p}items",
                    "DROP FUNCTION {p}touch()",
                ],
            )
            .down(
                On::MySql,
                &["DROP FUNCTION {p}twice", "DROP TRIGGER {p}items_touch"],
            )
            .down(On::Sqlite, &["DROP TRIGGER {p}items_touch"])),
        sql(Sql::new(MIGRATIONS[3])
            .up(On::Postgres, &["CREATE SEQUENCE {p}ticket_seq START 100"])
            .up(On::MySql, &["CREATE SEQUENCE {p}ticket_seq START WITH 100"])
            .down(On::Servers, &["DROP SEQUENCE {p}ticket_seq"])),
        // PostgreSQL: the value can only be used once this is committed
        sql(Sql::new(MIGRATIONS[4])
            .up(On::Postgres, &["ALTER TYPE {p}mood ADD VALUE 'excited'"])
            .up(
                On::MySql,
                &["ALTER TABLE {p}items MODIFY mood ENUM('calm', 'happy', 'excited')"],
            )
            .down(
                On::MySql,
                &["ALTER TABLE {p}items MODIFY mood ENUM('calm', 'happy')"],
            )),
        Box::new(UseValueAndSeed {
            prefix: prefix.to_owned(),
            runs: runs.clone(),
        }),
        Box::new(NestedTransaction {
            prefix: prefix.to_owned(),
        }),
        sql(Sql::new(MIGRATIONS[7])
            .no_transaction()
            .up(
                On::Postgres,
                &["CREATE INDEX CONCURRENTLY {p}items_name_idx ON {p}items (name)"],
            )
            .up(
                On::MySql,
                &["CREATE INDEX {p}items_name_idx ON {p}items (name)"],
            )
            // SQLite's documented procedure for a change ALTER TABLE cannot make, on a table
            // other tables' rows refer to: only outside a transaction does the PRAGMA work
            .up(
                On::Sqlite,
                &[
                    "PRAGMA foreign_keys = OFF",
                    "BEGIN",
                    "CREATE TABLE {p}owners_new (id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL)",
                    "INSERT INTO {p}owners_new (id, name) SELECT id, name FROM {p}owners",
                    "DROP TABLE {p}owners",
                    "ALTER TABLE {p}owners_new RENAME TO {p}owners",
                    "COMMIT",
                    "PRAGMA foreign_keys = ON",
                ],
            )
            .down(On::Postgres, &["DROP INDEX CONCURRENTLY {p}items_name_idx"])
            .down(On::MySql, &["DROP INDEX {p}items_name_idx ON {p}items"])),
        sql(Sql::new(MIGRATIONS[8])
            .up(
                On::Postgres,
                &[
                    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
                    "CREATE INDEX {p}items_trgm ON {p}items USING gin (name gin_trgm_ops)",
                ],
            )
            .down(On::Postgres, &["DROP INDEX {p}items_trgm"])),
        // a chain tidying its own version table after renaming a migration
        sql(Sql::new(MIGRATIONS[9])
            .up(
                On::All,
                &[
                    "DELETE FROM {vt} WHERE version = 'm20250101_000000_renamed_away'",
                    "UPDATE {vt} SET applied_at = applied_at WHERE version = 'nothing'",
                ],
            )),
    ]
}

/// The corpus as the chain `namespace`: unprefixed for the engine, `ext_{ns}_` otherwise.
pub fn chain(namespace: &str, runs: &Arc<AtomicUsize>) -> Chain {
    chain_with(namespace, runs, Vec::new)
}

/// The corpus as the chain `namespace`, followed by `more()`.
pub fn chain_with<F>(namespace: &str, runs: &Arc<AtomicUsize>, more: F) -> Chain
where
    F: Fn() -> Vec<Box<dyn MigrationTrait>> + Send + Sync + 'static,
{
    let (prefix, table) = names(namespace);
    let runs = runs.clone();
    let version_table = table.clone();
    Chain::from_fn(namespace, &version_table, move || {
        let mut all = migrations(&prefix, &table, &runs);
        all.extend(more());
        all
    })
}

/// The prefix and version table of `namespace`.
pub fn names(namespace: &str) -> (String, String) {
    if namespace == chainkit::ENGINE_NAMESPACE {
        (String::new(), chainkit::ENGINE_VERSION_TABLE.to_owned())
    } else {
        (
            chainkit::table_prefix(namespace),
            chainkit::version_table(namespace),
        )
    }
}

/// A migration that fails while `fail` is set.
pub struct FailWhile {
    pub name: &'static str,
    pub fail: Arc<AtomicBool>,
}

impl MigrationName for FailWhile {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for FailWhile {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if self.fail.load(Ordering::SeqCst) {
            // an error from the database itself
            manager
                .get_connection()
                .execute_unprepared("SELECT * FROM no_such_table_anywhere")
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// A migration whose `up` runs `up` and then panics (`panic_up`), or whose `down` panics, as
/// an irreversible migration does by design.
pub struct Panicking {
    pub name: &'static str,
    pub up: Vec<String>,
    pub panic_up: bool,
}

impl MigrationName for Panicking {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Panicking {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for sql in &self.up {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        if self.panic_up {
            panic!("this migration panics in up");
        }
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        panic!("irreversible: this migration cannot be rolled back");
    }
}
