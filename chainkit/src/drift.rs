//! Drift between a chain's entities and the schema its migrations produce.
//!
//! Nothing here touches a user's database. Two scratch databases of one backend are made
//! (SQLite in memory unless a PostgreSQL or MySQL server is named): into the first, the
//! engine's chain, the chain's dependencies and the chain itself are replayed; into the
//! second, the same chains minus this one, then the chain's entities are built with
//! `Schema::create_table_from_entity`. Both are read back from the database's own catalog,
//! restricted to the chain's scope, and compared like with like: the database normalises the
//! types on both sides.

use std::fmt;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

use crate::catalog::{Catalog, ColumnModel, ForeignKeyModel, IndexModel, read_catalog};
use crate::chain::Chain;
use crate::entities::Entities;
use crate::error::Error;
use crate::registry::Registry;

/// One difference: `+` what the entities have and the migrations do not produce, `-` the
/// reverse, `~` what both have but differently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// An entity whose table no migration creates.
    CreateTable {
        /// the table
        table: String,
    },
    /// A table in the chain's scope that no entity declares (a removed model).
    DropTable {
        /// the table
        table: String,
    },
    /// A column the entity has and the table lacks.
    AddColumn {
        /// the table
        table: String,
        /// the column, as the entities' database has it
        column: ColumnModel,
    },
    /// A column the table has and the entity lacks.
    DropColumn {
        /// the table
        table: String,
        /// the column, as the migrations' database has it
        column: ColumnModel,
    },
    /// A column whose type, nullability or default differs.
    AlterColumn {
        /// the table
        table: String,
        /// as the migrations produce it
        from: ColumnModel,
        /// as the entity declares it
        to: ColumnModel,
    },
    /// An index the entities have and the migrations do not create.
    AddIndex {
        /// the table
        table: String,
        /// the index
        index: IndexModel,
    },
    /// An index the migrations create and the entities lack.
    DropIndex {
        /// the table
        table: String,
        /// the index
        index: IndexModel,
    },
    /// A foreign key the entities have and the migrations do not create.
    AddForeignKey {
        /// the table
        table: String,
        /// the key
        key: ForeignKeyModel,
    },
    /// A foreign key the migrations create and the entities lack.
    DropForeignKey {
        /// the table
        table: String,
        /// the key
        key: ForeignKeyModel,
    },
    /// The primary key's columns differ.
    PrimaryKey {
        /// the table
        table: String,
        /// as the migrations produce it
        from: Vec<String>,
        /// as the entity declares it
        to: Vec<String>,
    },
}

impl Change {
    /// The table concerned.
    pub fn table(&self) -> &str {
        match self {
            Self::CreateTable { table }
            | Self::DropTable { table }
            | Self::AddColumn { table, .. }
            | Self::DropColumn { table, .. }
            | Self::AlterColumn { table, .. }
            | Self::AddIndex { table, .. }
            | Self::DropIndex { table, .. }
            | Self::AddForeignKey { table, .. }
            | Self::DropForeignKey { table, .. }
            | Self::PrimaryKey { table, .. } => table,
        }
    }
}

pub(crate) fn describe_column(c: &ColumnModel) -> String {
    let mut out = c.sql_type.clone();
    out.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    if let Some(d) = &c.default {
        out.push_str(" DEFAULT ");
        out.push_str(d);
    }
    if !c.extra.is_empty() {
        out.push(' ');
        out.push_str(&c.extra);
    }
    out
}

fn describe_key(k: &ForeignKeyModel) -> String {
    format!(
        "({}) -> {} ({}) ON DELETE {} ON UPDATE {}",
        k.columns.join(", "),
        k.ref_table,
        k.ref_columns.join(", "),
        k.on_delete,
        k.on_update
    )
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CreateTable { table } => write!(f, "+ table {table}: no migration creates it"),
            Self::DropTable { table } => write!(f, "- table {table}: no entity declares it"),
            Self::AddColumn { table, column } => write!(
                f,
                "+ column {table}.{}: {}",
                column.name,
                describe_column(column)
            ),
            Self::DropColumn { table, column } => write!(
                f,
                "- column {table}.{}: {}",
                column.name,
                describe_column(column)
            ),
            Self::AlterColumn { table, from, to } => write!(
                f,
                "~ column {table}.{}: {} (migrations) -> {} (entity)",
                from.name,
                describe_column(from),
                describe_column(to)
            ),
            Self::AddIndex { table, index } => write!(
                f,
                "+ {}index on {table} ({})",
                if index.unique { "unique " } else { "" },
                index.columns.join(", ")
            ),
            Self::DropIndex { table, index } => write!(
                f,
                "- {}index {} on {table} ({})",
                if index.unique { "unique " } else { "" },
                index.name,
                index.columns.join(", ")
            ),
            Self::AddForeignKey { table, key } => {
                write!(f, "+ foreign key on {table} {}", describe_key(key))
            }
            Self::DropForeignKey { table, key } => {
                write!(f, "- foreign key on {table} {}", describe_key(key))
            }
            Self::PrimaryKey { table, from, to } => write!(
                f,
                "~ primary key of {table}: ({}) (migrations) -> ({}) (entity)",
                from.join(", "),
                to.join(", ")
            ),
        }
    }
}

/// What `check` and `autogenerate` found for one chain.
#[derive(Debug, Clone)]
pub struct Drift {
    /// The chain.
    pub namespace: String,
    /// The backend both scratch databases ran on.
    pub backend: DbBackend,
    /// The chain's tables as its migrations produce them.
    pub migrated: Catalog,
    /// The chain's tables as its entities declare them.
    pub declared: Catalog,
    /// The entities' statements, for the backend above.
    pub entities: Entities,
    /// The entities' statements as SQLite builds them, which keeps every type as declared
    /// (enums with their variants): what generated code is written from.
    pub portable: Entities,
    /// The differences, tables in name order, within a table: columns, then indexes, then
    /// foreign keys.
    pub changes: Vec<Change>,
}

impl Drift {
    /// Whether entities and migrations agree.
    pub fn is_clean(&self) -> bool {
        self.changes.is_empty()
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changes.is_empty() {
            return writeln!(
                f,
                "namespace {:?}: entities and migrations agree",
                self.namespace
            );
        }
        writeln!(
            f,
            "namespace {:?}: entities and migrations disagree ({} difference(s); + only in the \
             entities, - only in the migrations, ~ different):",
            self.namespace,
            self.changes.len()
        )?;
        for change in &self.changes {
            writeln!(f, "  {change}")?;
        }
        Ok(())
    }
}

/// Compares two catalogs of one chain's scope: `migrated` (what the migrations produce) with
/// `declared` (what the entities declare). Foreign keys to tables outside the scope are left
/// out: a chain cannot change another chain's tables, and its entities cannot name them.
pub fn diff(migrated: &Catalog, declared: &Catalog) -> Vec<Change> {
    let mut changes = Vec::new();
    let names: std::collections::BTreeSet<&String> = migrated
        .tables
        .keys()
        .chain(declared.tables.keys())
        .collect();
    let in_scope = |t: &str| migrated.tables.contains_key(t) || declared.tables.contains_key(t);
    for name in names {
        let table = name.clone();
        let (from, to) = match (migrated.tables.get(name), declared.tables.get(name)) {
            (None, Some(_)) => {
                changes.push(Change::CreateTable { table });
                continue;
            }
            (Some(_), None) => {
                changes.push(Change::DropTable { table });
                continue;
            }
            (Some(from), Some(to)) => (from, to),
            (None, None) => continue,
        };
        for column in &to.columns {
            match from.column(&column.name) {
                None => changes.push(Change::AddColumn {
                    table: table.clone(),
                    column: column.clone(),
                }),
                Some(old) if old != column => changes.push(Change::AlterColumn {
                    table: table.clone(),
                    from: old.clone(),
                    to: column.clone(),
                }),
                Some(_) => {}
            }
        }
        for column in &from.columns {
            if to.column(&column.name).is_none() {
                changes.push(Change::DropColumn {
                    table: table.clone(),
                    column: column.clone(),
                });
            }
        }
        if from.primary_key != to.primary_key {
            changes.push(Change::PrimaryKey {
                table: table.clone(),
                from: from.primary_key.clone(),
                to: to.primary_key.clone(),
            });
        }
        for index in &from.indexes {
            if !to.indexes.iter().any(|i| i.key() == index.key()) {
                changes.push(Change::DropIndex {
                    table: table.clone(),
                    index: index.clone(),
                });
            }
        }
        for index in &to.indexes {
            if !from.indexes.iter().any(|i| i.key() == index.key()) {
                changes.push(Change::AddIndex {
                    table: table.clone(),
                    index: index.clone(),
                });
            }
        }
        for key in &from.foreign_keys {
            if in_scope(&key.ref_table) && !to.foreign_keys.iter().any(|k| k.key() == key.key()) {
                changes.push(Change::DropForeignKey {
                    table: table.clone(),
                    key: key.clone(),
                });
            }
        }
        for key in &to.foreign_keys {
            if in_scope(&key.ref_table) && !from.foreign_keys.iter().any(|k| k.key() == key.key()) {
                changes.push(Change::AddForeignKey {
                    table: table.clone(),
                    key: key.clone(),
                });
            }
        }
    }
    changes
}

/// Where the scratch databases are made: SQLite in memory, or fresh databases on the
/// PostgreSQL or MySQL server of a URL (dropped afterwards).
#[derive(Debug, Clone, Default)]
pub enum ScratchServer {
    /// SQLite, in memory.
    #[default]
    SqliteMemory,
    /// The server of this URL; its own database is not touched.
    Server(String),
}

impl ScratchServer {
    /// `SqliteMemory` for `None` or an SQLite URL, else the server of `url`.
    pub fn from_url(url: Option<&str>) -> Self {
        match url {
            Some(u) if !u.starts_with("sqlite:") => Self::Server(u.to_owned()),
            _ => Self::SqliteMemory,
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            Self::SqliteMemory => "SQLite in memory".to_owned(),
            Self::Server(url) => crate::redact_url(url),
        }
    }
}

/// A scratch database, removed by [`Scratch::remove`].
pub(crate) struct Scratch {
    pub(crate) db: DatabaseConnection,
    admin: Option<(DatabaseConnection, String)>,
}

static SCRATCH_COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl Scratch {
    /// A fresh scratch database on `server`; with `logged`, its statements are logged for
    /// capture (`migrate plan`).
    pub(crate) async fn create(server: &ScratchServer, logged: bool) -> Result<Self, Error> {
        let timeout = crate::DEFAULT_CONNECT_TIMEOUT;
        let open = |url: String| async move {
            if logged {
                crate::connect::open(&url, timeout, Some(crate::DEFAULT_DDL_LOCK_TIMEOUT)).await
            } else {
                crate::connect(&url, timeout).await
            }
        };
        match server {
            ScratchServer::SqliteMemory => Ok(Self {
                db: open("sqlite::memory:".to_owned()).await?,
                admin: None,
            }),
            ScratchServer::Server(url) => {
                let admin = crate::connect(url, timeout).await?;
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                let name = format!(
                    "chainkit_scratch_{}_{}_{}",
                    std::process::id(),
                    SCRATCH_COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
                    nanos % 1_000_000
                );
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .map_err(Error::db(format!(
                        "{}: creating the scratch database {name}",
                        crate::redact_url(url)
                    )))?;
                let db = match open(crate::connect::with_database(url, &name)).await {
                    Ok(db) => db,
                    Err(e) => {
                        drop_database(&admin, &name).await;
                        admin.close().await.ok();
                        return Err(e);
                    }
                };
                Ok(Self {
                    db,
                    admin: Some((admin, name)),
                })
            }
        }
    }

    pub(crate) async fn remove(self) {
        self.db.close().await.ok();
        if let Some((admin, name)) = self.admin {
            drop_database(&admin, &name).await;
            admin.close().await.ok();
        }
    }
}

async fn drop_database(admin: &DatabaseConnection, name: &str) {
    let sql = match admin.get_database_backend() {
        DbBackend::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS {name}"),
    };
    if let Err(e) = admin.execute_unprepared(&sql).await {
        tracing::warn!("could not drop the scratch database {name}: {e}");
    }
}

/// The chains to replay before `chain`: the engine's, then `chain`'s dependencies (and
/// theirs), in run order.
fn prerequisites<'a>(registry: &'a Registry, chain: &Chain) -> Vec<&'a Chain> {
    let mut needed: Vec<String> = chain.dependencies().to_vec();
    let mut i = 0;
    while i < needed.len() {
        if let Ok(dep) = registry.get(&needed[i]) {
            for d in dep.dependencies() {
                if !needed.contains(d) {
                    needed.push(d.clone());
                }
            }
        }
        i += 1;
    }
    registry
        .chains()
        .iter()
        .filter(|c| c.namespace() != chain.namespace())
        .filter(|c| c.is_engine() || needed.iter().any(|n| n == c.namespace()))
        .collect()
}

async fn replay(db: &DatabaseConnection, chains: &[&Chain]) -> Result<(), Error> {
    if chains.is_empty() {
        return Ok(());
    }
    // progress lines of a scratch replay would only be noise
    crate::runner::quietly(crate::runner::up(db, chains, None))
        .await
        .map(|_| ())
}

async fn build_entities(db: &DatabaseConnection, entities: &Entities) -> Result<(), Error> {
    let backend = db.get_database_backend();
    let context = |what: &str| format!("building the entities in a scratch database: {what}");
    for stmt in entities.types() {
        db.execute_raw(backend.build(stmt))
            .await
            .map_err(Error::db(context("creating a type")))?;
    }
    for table in entities.tables_in_creation_order() {
        let name = table
            .get_table_name()
            .map(crate::entities::table_ref_name)
            .unwrap_or_default();
        db.execute_raw(backend.build(table))
            .await
            .map_err(Error::db(context(&format!("creating table {name}"))))?;
    }
    for index in entities.indexes() {
        let name = index.get_index_spec().get_name().unwrap_or("").to_owned();
        db.execute_raw(backend.build(index))
            .await
            .map_err(Error::db(context(&format!("creating index {name}"))))?;
    }
    Ok(())
}

/// Compares `namespace`'s entities with the schema its migrations produce, on scratch
/// databases made on `server`.
///
/// # Errors
/// [`Error::NoEntities`] when the chain declares none; [`Error::UnknownNamespace`];
/// [`Error::MigrationFailed`] and the like when a chain cannot be replayed;
/// [`Error::Database`] when the scratch databases cannot be made or read.
pub async fn drift(
    registry: &Registry,
    namespace: &str,
    server: &ScratchServer,
) -> Result<Drift, Error> {
    let chain = registry.get(namespace)?;
    if !chain.has_entities() {
        return Err(Error::NoEntities {
            namespace: namespace.to_owned(),
        });
    }
    let before = prerequisites(registry, chain);
    let migrated_db = Scratch::create(server, false).await?;
    let result = async {
        let backend = migrated_db.db.get_database_backend();
        let mut all = before.clone();
        all.push(chain);
        replay(&migrated_db.db, &all).await?;
        let migrated = read_catalog(&migrated_db.db).await?;
        let declared_db = Scratch::create(server, false).await?;
        let entities = chain.build_entities(backend);
        let declared = async {
            replay(&declared_db.db, &before).await?;
            build_entities(&declared_db.db, &entities).await?;
            read_catalog(&declared_db.db).await
        }
        .await;
        declared_db.remove().await;
        Ok::<_, Error>((backend, migrated, declared?, entities))
    }
    .await;
    migrated_db.remove().await;
    // a failure here is in a scratch database, not in anyone's data: say so, and keep the
    // hints meant for real databases (resolve, what was applied) out of the message
    let (backend, migrated, declared, entities) = result.map_err(|e| Error::Scratch {
        namespace: namespace.to_owned(),
        server: server.describe(),
        source: Box::new(e),
    })?;
    let scope = chain.scope();
    let migrated = migrated.filtered(|t| scope.contains(t));
    let declared = declared.filtered(|t| scope.contains(t));
    let changes = diff(&migrated, &declared);
    Ok(Drift {
        namespace: namespace.to_owned(),
        backend,
        migrated,
        declared,
        entities,
        portable: chain.build_entities(DbBackend::Sqlite),
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::TableModel;

    fn col(name: &str, ty: &str, nullable: bool) -> ColumnModel {
        ColumnModel {
            name: name.into(),
            sql_type: ty.into(),
            nullable,
            default: None,
            extra: String::new(),
        }
    }

    fn catalog(tables: Vec<(&str, TableModel)>) -> Catalog {
        Catalog {
            backend: Some(DbBackend::Sqlite),
            tables: tables.into_iter().map(|(n, t)| (n.to_owned(), t)).collect(),
            enum_types: Default::default(),
        }
    }

    #[test]
    fn indexes_and_keys_are_matched_by_columns_not_names() {
        let table = |index_name: &str, key_name: &str| TableModel {
            columns: vec![col("id", "integer", false), col("a", "integer", true)],
            primary_key: vec!["id".into()],
            indexes: vec![IndexModel {
                name: index_name.into(),
                columns: vec!["a".into()],
                unique: false,
                constraint: false,
            }],
            foreign_keys: vec![ForeignKeyModel {
                name: key_name.into(),
                columns: vec!["a".into()],
                ref_table: "ext_x_t".into(),
                ref_columns: vec!["id".into()],
                on_update: "NO ACTION".into(),
                on_delete: "CASCADE".into(),
            }],
        };
        let a = catalog(vec![("ext_x_t", table("idx_a", "fk_1"))]);
        let b = catalog(vec![("ext_x_t", table("idx-ext_x_t-a", "fk-other"))]);
        assert!(diff(&a, &b).is_empty());
    }

    #[test]
    fn every_kind_of_difference_is_found() {
        let from = catalog(vec![
            (
                "ext_x_a",
                TableModel {
                    columns: vec![col("id", "integer", false), col("old", "text", true)],
                    primary_key: vec!["id".into()],
                    ..Default::default()
                },
            ),
            ("ext_x_gone", TableModel::default()),
        ]);
        let to = catalog(vec![
            (
                "ext_x_a",
                TableModel {
                    columns: vec![col("id", "bigint", false), col("new", "text", false)],
                    primary_key: vec!["id".into()],
                    indexes: vec![IndexModel {
                        name: "i".into(),
                        columns: vec!["new".into()],
                        unique: true,
                        constraint: false,
                    }],
                    ..Default::default()
                },
            ),
            ("ext_x_new", TableModel::default()),
        ]);
        let lines: Vec<String> = diff(&from, &to).iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "~ column ext_x_a.id: integer NOT NULL (migrations) -> bigint NOT NULL (entity)",
                "+ column ext_x_a.new: text NOT NULL",
                "- column ext_x_a.old: text NULL",
                "+ unique index on ext_x_a (new)",
                "- table ext_x_gone: no entity declares it",
                "+ table ext_x_new: no migration creates it",
            ]
        );
    }
}
