use async_trait::async_trait;

/// Why the service cannot take requests yet. The text is for the log: it may name hosts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The database did not answer a trivial query.
    #[error("the database does not answer: {0}")]
    Unreachable(String),
    /// The database answers, but migrations this build needs are not applied.
    #[error("{0} database migration(s) pending")]
    PendingMigrations(usize),
}

/// Whether the storage the service depends on can serve requests now (readiness, as opposed to
/// liveness).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait Readiness: Send + Sync {
    /// Checks the storage now.
    ///
    /// - MUST return `Ok` only when the database answered a query during this call and every
    ///   migration this build embeds is applied.
    /// - MUST NOT write anything (no migration, no bookkeeping table), so probes are harmless.
    /// - MAY take as long as the database does: the caller bounds it with a timeout.
    async fn check_ready(&self) -> Result<(), NotReady>;
}
