//! A structured model of the tables in a database, read from the backend's own catalog:
//! columns (type as the database reports it, nullability, default), primary key, indexes and
//! foreign keys. Indexes and foreign keys are identified by their columns, not their names,
//! so that two databases built different ways (by migrations, from entities) compare equal
//! when they hold the same schema.

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::{ConnectionTrait, DbBackend, QueryResult};

use crate::backend;
use crate::error::Error;

/// Every table of a database (or the part of it one chain owns), by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// The backend the catalog was read from.
    pub backend: Option<DbBackend>,
    /// The tables.
    pub tables: BTreeMap<String, TableModel>,
    /// The enum types of the schema (PostgreSQL; empty elsewhere).
    pub enum_types: BTreeSet<String>,
}

/// One table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableModel {
    /// The columns, in the table's order.
    pub columns: Vec<ColumnModel>,
    /// The primary key's columns, in order.
    pub primary_key: Vec<String>,
    /// The indexes other than the primary key's.
    pub indexes: Vec<IndexModel>,
    /// The foreign keys.
    pub foreign_keys: Vec<ForeignKeyModel>,
}

/// One column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnModel {
    /// The name.
    pub name: String,
    /// The type as the database reports it, e.g. `character varying(200)`.
    pub sql_type: String,
    /// Whether it accepts NULL.
    pub nullable: bool,
    /// The default expression as the database reports it.
    pub default: Option<String>,
    /// Anything else the catalog says about it (MySQL's `auto_increment`, PostgreSQL identity).
    pub extra: String,
}

/// One index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexModel {
    /// Its name in this database.
    pub name: String,
    /// Its columns, in order.
    pub columns: Vec<String>,
    /// Whether it is unique.
    pub unique: bool,
    /// Whether a UNIQUE constraint owns it (it goes with `DROP CONSTRAINT`, or on SQLite
    /// only with the table).
    pub constraint: bool,
}

/// One foreign key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyModel {
    /// Its name in this database (a number on SQLite, where keys have none).
    pub name: String,
    /// The referencing columns, in order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub ref_table: String,
    /// The referenced columns, in order.
    pub ref_columns: Vec<String>,
    /// ON UPDATE, in SQL words (`NO ACTION`, `CASCADE`…).
    pub on_update: String,
    /// ON DELETE, in SQL words.
    pub on_delete: String,
}

impl TableModel {
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&ColumnModel> {
        self.columns.iter().find(|c| c.name == name)
    }
}

impl IndexModel {
    /// What identifies the index when two databases are compared: columns and uniqueness.
    pub fn key(&self) -> (&[String], bool) {
        (&self.columns, self.unique)
    }
}

impl ForeignKeyModel {
    /// What identifies the key when two databases are compared: everything but its name.
    pub fn key(&self) -> (&[String], &str, &[String], &str, &str) {
        (
            &self.columns,
            &self.ref_table,
            &self.ref_columns,
            &self.on_update,
            &self.on_delete,
        )
    }
}

impl Catalog {
    /// The same catalog restricted to the tables `keep` accepts.
    pub fn filtered(mut self, keep: impl Fn(&str) -> bool) -> Self {
        self.tables.retain(|t, _| keep(t));
        self
    }
}

fn get<T: sea_orm::TryGetable>(row: &QueryResult, column: &str) -> Result<T, Error> {
    row.try_get("", column)
        .map_err(Error::db("reading the schema catalog"))
}

/// A number column that the backends report with different integer widths.
fn get_flag(row: &QueryResult, column: &str) -> Result<bool, Error> {
    if let Ok(v) = row.try_get::<i64>("", column) {
        return Ok(v != 0);
    }
    if let Ok(v) = row.try_get::<i32>("", column) {
        return Ok(v != 0);
    }
    get::<bool>(row, column)
}

/// Reads the tables of the current database (SQLite `main`, the PostgreSQL current schema, the
/// MySQL current database) in three statements.
///
/// # Errors
/// [`Error::Database`] when the catalog cannot be read.
pub async fn read_catalog<C: ConnectionTrait>(db: &C) -> Result<Catalog, Error> {
    let be = db.get_database_backend();
    let query = |stmt| async move {
        db.query_all_raw(stmt)
            .await
            .map_err(Error::db("reading the schema catalog"))
    };
    let mut tables: BTreeMap<String, TableModel> = BTreeMap::new();
    let mut rowid_keys: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    for row in query(backend::catalog_columns(be)).await? {
        let table: String = get(&row, "t")?;
        let position = row
            .try_get::<i64>("", "pk")
            .or_else(|_| row.try_get::<i32>("", "pk").map(i64::from))
            .unwrap_or(0);
        if position > 0 {
            rowid_keys
                .entry(table.clone())
                .or_default()
                .push((position, get(&row, "c")?));
        }
        let default: Option<String> = get(&row, "df")?;
        let extra: Option<String> = get(&row, "ex")?;
        tables.entry(table).or_default().columns.push(ColumnModel {
            name: get(&row, "c")?,
            sql_type: get::<Option<String>>(&row, "ty")?.unwrap_or_default(),
            nullable: !get_flag(&row, "nn")?,
            default,
            extra: extra.unwrap_or_default(),
        });
    }
    for (table, key) in &rowid_keys {
        let mut key = key.clone();
        key.sort();
        if let Some(model) = tables.get_mut(table) {
            model.primary_key = key.into_iter().map(|(_, c)| c).collect();
        }
    }
    let mut last: Option<(String, String)> = None;
    for row in query(backend::catalog_indexes(be)).await? {
        let table: String = get(&row, "t")?;
        let name: String = get(&row, "i")?;
        let column: String = get(&row, "c")?;
        let Some(model) = tables.get_mut(&table) else {
            continue;
        };
        if get_flag(&row, "p")? {
            if !rowid_keys.contains_key(&table) {
                model.primary_key.push(column);
            }
            continue;
        }
        let same = last.as_ref() == Some(&(table.clone(), name.clone()));
        match model.indexes.last_mut() {
            Some(index) if same => index.columns.push(column),
            _ => model.indexes.push(IndexModel {
                name: name.clone(),
                columns: vec![column],
                unique: get_flag(&row, "u")?,
                constraint: get_flag(&row, "k")?,
            }),
        }
        last = Some((table, name));
    }
    let mut last: Option<(String, String)> = None;
    let mut implicit: Vec<(String, usize)> = Vec::new();
    for row in query(backend::catalog_foreign_keys(be)).await? {
        let table: String = get(&row, "t")?;
        let name: String = get(&row, "i")?;
        let column: String = get(&row, "c")?;
        let ref_column: Option<String> = get(&row, "rc")?;
        let Some(model) = tables.get_mut(&table) else {
            continue;
        };
        let same = last.as_ref() == Some(&(table.clone(), name.clone()));
        if ref_column.is_none() {
            implicit.push((table.clone(), model.foreign_keys.len().saturating_sub(1)));
        }
        match model.foreign_keys.last_mut() {
            Some(key) if same => {
                key.columns.push(column);
                key.ref_columns.extend(ref_column);
            }
            _ => {
                let ou: String = get(&row, "ou")?;
                let od: String = get(&row, "od")?;
                model.foreign_keys.push(ForeignKeyModel {
                    name: name.clone(),
                    columns: vec![column],
                    ref_table: get(&row, "rt")?,
                    ref_columns: ref_column.into_iter().collect(),
                    on_update: backend::foreign_key_action(be, &ou),
                    on_delete: backend::foreign_key_action(be, &od),
                });
            }
        }
        last = Some((table, name));
    }
    // SQLite: `REFERENCES t` without columns means t's primary key
    for (table, _) in implicit {
        let keys: Vec<(usize, String)> = tables[&table]
            .foreign_keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.ref_columns.is_empty())
            .map(|(i, k)| (i, k.ref_table.clone()))
            .collect();
        for (i, target) in keys {
            let pk = tables
                .get(&target)
                .map(|t| t.primary_key.clone())
                .unwrap_or_default();
            if let Some(t) = tables.get_mut(&table) {
                t.foreign_keys[i].ref_columns = pk;
            }
        }
    }
    for model in tables.values_mut() {
        if be == DbBackend::MySql {
            // MySQL creates an index for a foreign key that has none, named after the key: it
            // comes and goes with the key, so it is not compared on its own
            let keys: Vec<String> = model.foreign_keys.iter().map(|k| k.name.clone()).collect();
            model.indexes.retain(|i| !keys.contains(&i.name));
        }
        // a primary key column never accepts NULL, whether or not it was declared NOT NULL
        for column in &mut model.columns {
            if model.primary_key.contains(&column.name) {
                column.nullable = false;
            }
        }
        model.indexes.sort_by(|a, b| a.key().cmp(&b.key()));
        model.indexes.dedup_by(|a, b| a.key() == b.key());
        model.foreign_keys.sort_by(|a, b| a.key().cmp(&b.key()));
    }
    let mut enum_types = BTreeSet::new();
    if let Some(stmt) = backend::enum_types_in_use(be) {
        for row in query(stmt).await? {
            enum_types.insert(get::<String>(&row, "type_name")?);
        }
    }
    Ok(Catalog {
        backend: Some(be),
        tables,
        enum_types,
    })
}
