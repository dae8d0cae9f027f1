/// The randomness source could not produce bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("randomness unavailable: {0}")]
pub struct RandomError(pub String);

/// The source of secret random bytes: ids, refresh tokens, one-time codes.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Random: Send + Sync {
    /// Fills `buf` entirely.
    ///
    /// - MUST draw from a cryptographically secure generator in production.
    /// - MUST fail rather than return predictable bytes.
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError>;
}
