use chrono::{DateTime, Utc};

/// The source of the current time. The domain never reads the system clock itself, so tests
/// decide what time it is.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current time.
    ///
    /// - MUST be UTC.
    /// - SHOULD NOT go backwards between calls (tests may move it freely).
    fn now(&self) -> DateTime<Utc>;
}
