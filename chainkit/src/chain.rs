//! A chain: one migrator with its namespace, version table, dependencies and entity tables.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use sea_orm::DbBackend;

use sea_orm_migration::{MigrationTrait, MigratorTrait};

use crate::checksum::{MigrationSource, Migrations};
use crate::entities::Entities;
use crate::namespace::{ENGINE_NAMESPACE, version_table};
use crate::scope::TableScope;

/// One migration chain as the engine sees it.
///
/// A workflow project's migration crate exposes one, built from its `Migrator`:
///
/// ```no_run
/// # use sea_orm_migration::prelude::*;
/// # struct Migrator;
/// # impl MigratorTrait for Migrator {
/// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
/// # }
/// pub fn chain() -> chainkit::Chain {
///     chainkit::Chain::workflow::<Migrator>("billing")
///         .entity_tables(["ext_billing_invoices", "ext_billing_lines"])
/// }
/// ```
#[derive(Clone)]
pub struct Chain {
    namespace: String,
    version_table: String,
    migrations: Arc<dyn Fn() -> Vec<Box<dyn MigrationTrait>> + Send + Sync>,
    depends_on: Vec<String>,
    entity_tables: Vec<String>,
    entities: Option<EntitiesFn>,
    source_dir: Option<PathBuf>,
    sources: Option<Migrations>,
    /// The declared sources' migration names, in the order declared, made on first use.
    source_names: Arc<OnceLock<Box<[String]>>>,
    /// The names of `migrations`' list, made on first use.
    names: Arc<OnceLock<Names>>,
}

/// A chain's migrations' names, oldest first, made once per chain ([`Chain::names`]).
pub(crate) struct Names {
    pub(crate) list: Box<[String]>,
    /// Whether every name is greater than the one before (sea-orm-migration's timestamped
    /// names are), so that statuses can walk them in step with the sorted versions.
    pub(crate) ascending: bool,
}

type EntitiesFn = Arc<dyn Fn(&mut Entities) + Send + Sync>;

impl Chain {
    /// The engine's chain, recorded in `M::migration_table_name()` (which must be
    /// sea-orm-migration's default `seaql_migrations`).
    pub fn engine<M: MigratorTrait + 'static>() -> Self {
        Self::of::<M>(ENGINE_NAMESPACE)
    }

    /// A workflow project's chain. `M::migration_table_name()` must be
    /// `seaql_migrations_{namespace}` (use [`version_table_iden`](crate::version_table_iden));
    /// the registry checks it and the namespace.
    pub fn workflow<M: MigratorTrait + 'static>(namespace: &str) -> Self {
        Self::of::<M>(namespace)
    }

    fn of<M: MigratorTrait + 'static>(namespace: &str) -> Self {
        Self::from_fn(
            namespace,
            &M::migration_table_name().to_string(),
            M::migrations,
        )
    }

    /// A chain from its parts, for chains without a `MigratorTrait` type (generated or test
    /// chains). `migrations` is called each time the chain's migrations are needed, and must
    /// return the same list every time, as a `MigratorTrait`'s does: their names are asked
    /// once per chain (see [`migration_names`](Self::migration_names)).
    pub fn from_fn<F>(namespace: &str, version_table: &str, migrations: F) -> Self
    where
        F: Fn() -> Vec<Box<dyn MigrationTrait>> + Send + Sync + 'static,
    {
        Self {
            namespace: namespace.to_owned(),
            version_table: version_table.to_owned(),
            migrations: Arc::new(migrations),
            depends_on: Vec::new(),
            entity_tables: Vec::new(),
            entities: None,
            source_dir: None,
            sources: None,
            source_names: Arc::default(),
            names: Arc::default(),
        }
    }

    /// Declares workflow projects whose chains must run before this one (for example because
    /// this project's tables refer to theirs).
    pub fn depends_on<I, S>(mut self, namespaces: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.depends_on
            .extend(namespaces.into_iter().map(Into::into));
        self
    }

    /// Declares the tables of the chain's entities; the registry checks that each lies in the
    /// chain's scope.
    pub fn entity_tables<I, S>(mut self, tables: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.entity_tables
            .extend(tables.into_iter().map(Into::into));
        self
    }

    /// Declares the chain's entities: what `check` compares the migrations with and
    /// `autogenerate` writes migrations from. Their tables count as declared entity tables
    /// (see [`entity_tables`](Self::entity_tables)).
    ///
    /// ```no_run
    /// # use sea_orm_migration::prelude::*;
    /// # struct Migrator;
    /// # impl MigratorTrait for Migrator {
    /// #     fn migrations() -> Vec<Box<dyn MigrationTrait>> { vec![] }
    /// # }
    /// # mod entities { pub fn declare(_: &mut chainkit::Entities) {} }
    /// pub fn chain() -> chainkit::Chain {
    ///     chainkit::Chain::workflow::<Migrator>("billing")
    ///         .entities(entities::declare)
    ///         .source_dir(env!("CARGO_MANIFEST_DIR"))
    /// }
    /// ```
    pub fn entities<F>(mut self, declare: F) -> Self
    where
        F: Fn(&mut Entities) + Send + Sync + 'static,
    {
        self.entities = Some(Arc::new(declare));
        self
    }

    /// Where the chain's migration crate lives (its `CARGO_MANIFEST_DIR`), so that
    /// `autogenerate` can write new migrations into its `src/` and list them in `src/lib.rs`.
    pub fn source_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.source_dir = Some(dir.into());
        self
    }

    /// Declares the checksums of the chain's migrations (the list [`migrations!`](crate::migrations)
    /// makes): each is recorded when its migration is applied, and a start refuses to run
    /// while an applied migration's file no longer has the checksum recorded for it.
    pub fn checksums(mut self, migrations: Migrations) -> Self {
        self.sources = Some(migrations);
        self.source_names = Arc::default();
        self
    }

    /// Each migration's name with its source and checksum, where declared
    /// ([`checksums`](Self::checksums)).
    pub fn sources(&self) -> BTreeMap<String, MigrationSource> {
        self.sources
            .iter()
            .flat_map(|m| m.0.iter())
            .zip(self.source_names())
            .map(|(source, name)| (name.clone(), *source))
            .collect()
    }

    /// The names of the declared sources' migrations, in the order declared: each migration
    /// is made and asked its name once per chain, not once per start (`DeriveMigrationName`
    /// finds the name in the file's path on every call: asked at every start, it was an
    /// eighth of the client's work in a start with checksums and nothing to do).
    pub(crate) fn source_names(&self) -> &[String] {
        self.source_names.get_or_init(|| {
            self.source_list()
                .iter()
                .map(|source| (source.new)().name().to_owned())
                .collect()
        })
    }

    /// The declared sources, in the order declared (empty where none are).
    pub(crate) fn source_list(&self) -> &'static [MigrationSource] {
        self.sources.map_or(&[], |m| m.0)
    }

    /// Whether the chain declares its migrations' checksums.
    pub fn has_checksums(&self) -> bool {
        self.sources.is_some_and(|m| !m.0.is_empty())
    }

    /// The checksum recorded for `migration` when it is applied: `None` where the chain
    /// declares no checksums (the checksum table is left alone), `Some(None)` for a migration
    /// the list does not hold (its row, if any, is removed).
    pub(crate) fn checksum_to_record(&self, migration: &str) -> Option<Option<String>> {
        let sources = self.sources.filter(|_| self.has_checksums())?;
        Some(
            self.source_names()
                .iter()
                .position(|name| name == migration)
                .map(|i| sources.0[i].checksum.to_recorded()),
        )
    }

    /// The migration crate's directory, if declared.
    pub fn migration_crate_dir(&self) -> Option<&Path> {
        self.source_dir.as_deref()
    }

    /// Whether the chain declares its entities.
    pub fn has_entities(&self) -> bool {
        self.entities.is_some()
    }

    /// The chain's entities as statements for `backend` (empty without [`entities`](Self::entities)).
    pub fn build_entities(&self, backend: DbBackend) -> Entities {
        let mut entities = Entities::new(backend);
        if let Some(declare) = &self.entities {
            declare(&mut entities);
        }
        entities
    }

    /// `engine`, or the workflow project's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Whether this is the engine's own chain.
    pub fn is_engine(&self) -> bool {
        self.namespace == ENGINE_NAMESPACE
    }

    /// The table the chain records its applied migrations in.
    pub fn version_table(&self) -> &str {
        &self.version_table
    }

    /// The version table this chain's namespace requires.
    pub fn expected_version_table(&self) -> String {
        if self.is_engine() {
            crate::namespace::ENGINE_VERSION_TABLE.to_owned()
        } else {
            version_table(&self.namespace)
        }
    }

    /// The chain's migrations, oldest first.
    pub fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        (self.migrations)()
    }

    /// Names of the chain's migrations, oldest first (asked once per chain, and kept).
    pub fn migration_names(&self) -> Vec<String> {
        self.names().list.to_vec()
    }

    /// The names of the chain's migrations, made the first time they are needed and kept
    /// (shared by the chain's clones): `DeriveMigrationName` finds a name in its file's path
    /// on every call, and naming every migration at every start was half of what a start with
    /// nothing to do added to the floor's read on MariaDB.
    pub(crate) fn names(&self) -> &Names {
        self.names.get_or_init(|| {
            let list: Box<[String]> = self
                .migrations()
                .iter()
                .map(|m| m.name().to_owned())
                .collect();
            let ascending = list.windows(2).all(|w| w[0] < w[1]);
            Names { list, ascending }
        })
    }

    /// Declared dependencies.
    pub fn dependencies(&self) -> &[String] {
        &self.depends_on
    }

    /// Declared entity tables, those of [`entities`](Self::entities) included.
    pub fn declared_entity_tables(&self) -> Vec<String> {
        let mut tables = self.entity_tables.clone();
        for table in self.build_entities(DbBackend::Sqlite).table_names() {
            if !tables.contains(&table) {
                tables.push(table);
            }
        }
        tables
    }

    /// The tables this chain owns.
    pub fn scope(&self) -> TableScope {
        if self.is_engine() {
            TableScope::Engine
        } else {
            TableScope::workflow(&self.namespace)
        }
    }
}

impl fmt::Debug for Chain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chain")
            .field("namespace", &self.namespace)
            .field("version_table", &self.version_table)
            .field("migrations", &self.migration_names())
            .field("depends_on", &self.depends_on)
            .field("entity_tables", &self.entity_tables)
            .field("entities", &self.entities.is_some())
            .field("source_dir", &self.source_dir)
            .field("checksums", &self.has_checksums())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use sea_orm::ConnectionTrait as _;
    use sea_orm_migration::{MigrationName, SchemaManager};

    use super::*;

    /// How many times any [`Named`] was asked its name.
    static ASKED: AtomicUsize = AtomicUsize::new(0);

    /// A migration that counts the times it is asked its name, as `DeriveMigrationName`
    /// works it out on every call.
    struct Named(&'static str);

    impl MigrationName for Named {
        fn name(&self) -> &str {
            ASKED.fetch_add(1, Ordering::SeqCst);
            self.0
        }
    }

    #[async_trait::async_trait]
    impl MigrationTrait for Named {
        async fn up(&self, manager: &SchemaManager) -> Result<(), sea_orm::DbErr> {
            let sql = format!("CREATE TABLE ext_named_{} (id integer)", self.0);
            manager.get_connection().execute_unprepared(&sql).await?;
            Ok(())
        }
    }

    /// A chain's migrations are named once, the first time their names are needed, and kept
    /// by the chain and its clones: a start with nothing to do asks none of them.
    #[tokio::test]
    async fn a_start_with_nothing_to_do_asks_no_migration_its_name() {
        let chain = Chain::from_fn("named", "seaql_migrations_named", || {
            vec![Box::new(Named("m1")), Box::new(Named("m2"))]
        });
        let registry = crate::Registry::new(
            crate::testing::sql_chain(ENGINE_NAMESPACE, Vec::new()),
            [chain.clone()],
        )
        .unwrap();
        let db = crate::connect("sqlite::memory:", crate::DEFAULT_CONNECT_TIMEOUT)
            .await
            .unwrap();
        let report = crate::migrate(&db, &registry).await.unwrap();
        assert_eq!(report.applied.len(), 2);
        let asked = ASKED.load(Ordering::SeqCst);
        for _ in 0..3 {
            let report = crate::migrate(&db, &registry).await.unwrap();
            assert!(report.applied.is_empty());
            assert_eq!(report.chains[1].migrations.len(), 2);
        }
        assert_eq!(chain.migration_names(), ["m1", "m2"]);
        assert_eq!(
            ASKED.load(Ordering::SeqCst),
            asked,
            "a no-op start asked names"
        );
    }
}
