//! Where each chain stands: read in one round of statements for all chains.

use std::collections::BTreeMap;

use sea_orm::ConnectionTrait;
use serde::Serialize;

use crate::backend;
use crate::chain::Chain;
use crate::error::Error;

/// Whether a migration has been applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Recorded in the chain's version table.
    Applied,
    /// Not recorded yet.
    Pending,
}

/// One migration of a chain and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationStatus {
    /// The migration's name.
    pub name: String,
    /// Applied or pending.
    pub status: Status,
    /// When it was applied, in seconds since the Unix epoch (sea-orm-migration's format).
    pub applied_at: Option<i64>,
}

/// Where one chain stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStatus {
    /// `engine` or the workflow project's namespace.
    pub namespace: String,
    /// The chain's version table.
    pub version_table: String,
    /// Every migration of the chain, oldest first.
    pub migrations: Vec<MigrationStatus>,
    /// Versions recorded in the version table that this build does not know (the database
    /// was migrated by a newer build).
    #[serde(skip)]
    pub unknown_applied: Vec<String>,
}

impl ChainStatus {
    /// How many migrations are applied.
    pub fn applied_count(&self) -> usize {
        self.migrations
            .iter()
            .filter(|m| m.status == Status::Applied)
            .count()
    }

    /// The names of the pending migrations, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &str> {
        self.migrations
            .iter()
            .filter(|m| m.status == Status::Pending)
            .map(|m| m.name.as_str())
    }

    /// The newest applied migration, if any.
    pub fn latest_applied(&self) -> Option<&str> {
        self.migrations
            .iter()
            .rev()
            .find(|m| m.status == Status::Applied)
            .map(|m| m.name.as_str())
    }
}

/// What the database records for one chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Whether the version table exists.
    pub table_exists: bool,
    /// version → applied_at
    pub applied: BTreeMap<String, i64>,
}

/// Reads the version tables of `chains` with at most two statements, whatever their number:
/// which version tables exist, then all their rows at once. Creates nothing.
pub(crate) async fn read_recorded<C: ConnectionTrait>(
    db: &C,
    chains: &[&Chain],
) -> Result<Vec<Recorded>, Error> {
    let backend = db.get_database_backend();
    let names: Vec<&str> = chains.iter().map(|c| c.version_table()).collect();
    let rows = db
        .query_all_raw(backend::existing_tables(backend, &names))
        .await
        .map_err(Error::db("listing version tables"))?;
    let mut existing = std::collections::HashSet::new();
    for row in rows {
        let name: String = row
            .try_get("", "table_name")
            .map_err(Error::db("listing version tables"))?;
        existing.insert(name);
    }
    let mut recorded: Vec<Recorded> = chains
        .iter()
        .map(|c| Recorded {
            table_exists: existing.contains(c.version_table()),
            applied: BTreeMap::new(),
        })
        .collect();
    let readable: Vec<(&str, &str)> = chains
        .iter()
        .filter(|c| existing.contains(c.version_table()))
        .map(|c| (c.namespace(), c.version_table()))
        .collect();
    if readable.is_empty() {
        return Ok(recorded);
    }
    let context = || {
        format!(
            "reading version tables {}",
            readable
                .iter()
                .map(|(_, t)| *t)
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let rows = db
        .query_all(&backend::read_versions(&readable))
        .await
        .map_err(|e| Error::db(context())(e))?;
    let index: BTreeMap<&str, usize> = chains
        .iter()
        .enumerate()
        .map(|(i, c)| (c.namespace(), i))
        .collect();
    for row in rows {
        let read = || -> Result<(String, String, i64), sea_orm::DbErr> {
            Ok((
                row.try_get("", "chain_ns")?,
                row.try_get("", "version")?,
                row.try_get("", "applied_at")?,
            ))
        };
        let (ns, version, applied_at) = read().map_err(|e| Error::db(context())(e))?;
        if let Some(&i) = index.get(ns.as_str()) {
            recorded[i].applied.insert(version, applied_at);
        }
    }
    Ok(recorded)
}

/// Joins a chain's migrations with what the database records.
pub(crate) fn chain_status(chain: &Chain, recorded: &Recorded) -> ChainStatus {
    let names = chain.migration_names();
    let unknown_applied = recorded
        .applied
        .keys()
        .filter(|v| !names.contains(v))
        .cloned()
        .collect();
    let migrations = names
        .into_iter()
        .map(|name| {
            let applied_at = recorded.applied.get(&name).copied();
            MigrationStatus {
                status: if applied_at.is_some() {
                    Status::Applied
                } else {
                    Status::Pending
                },
                name,
                applied_at,
            }
        })
        .collect();
    ChainStatus {
        namespace: chain.namespace().to_owned(),
        version_table: chain.version_table().to_owned(),
        migrations,
        unknown_applied,
    }
}

/// Where every chain stands, in run order. Reads with a fixed number of statements and
/// creates nothing, so it works on a read-only connection.
///
/// # Errors
/// [`Error::Database`] when the version tables cannot be read.
pub async fn status<C: ConnectionTrait>(
    db: &C,
    chains: &[&Chain],
) -> Result<Vec<ChainStatus>, Error> {
    let recorded = read_recorded(db, chains).await?;
    Ok(chains
        .iter()
        .zip(&recorded)
        .map(|(c, r)| chain_status(c, r))
        .collect())
}
