//! What both stores share for the readiness check: the versions this build embeds, read from
//! diesel's bookkeeping table without creating it (a probe must not write).

use diesel::QueryableByName;
use diesel::backend::Backend;
use diesel::migration::MigrationSource;
use diesel::sql_types::Text;

/// A row of `__diesel_schema_migrations`.
#[derive(QueryableByName)]
pub(crate) struct AppliedVersion {
    #[diesel(sql_type = Text)]
    version: String,
}

/// How many of the migrations in `source` are missing from `applied`. Versions the database has
/// and this build does not (a newer replica migrated first) do not count against readiness.
pub(crate) fn pending<DB: Backend>(source: &impl MigrationSource<DB>, applied: &[AppliedVersion]) -> usize {
    let Ok(embedded) = source.migrations() else { return 0 };
    embedded
        .iter()
        .filter(|m| {
            let version = m.name().version().to_string();
            !applied.iter().any(|a| a.version == version)
        })
        .count()
}

/// Every embedded migration is pending: the bookkeeping table is missing or unreadable.
pub(crate) fn all<DB: Backend>(source: &impl MigrationSource<DB>) -> usize {
    source.migrations().map(|m| m.len()).unwrap_or(0)
}
