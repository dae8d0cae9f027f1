use async_trait::async_trait;

use crate::domain::{Password, PasswordHash};

/// Hashing failed for a reason other than a wrong password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// The stored hash is not in a format this hasher reads.
    #[error("stored password hash is unreadable")]
    UnreadableHash,
    /// The hashing pool is shut down or overloaded beyond its queue.
    #[error("password hashing unavailable: {0}")]
    Unavailable(String),
    /// As many hashes as the hasher queues are already waiting; nothing was done.
    #[error("password hashing queue is full")]
    Overloaded {
        /// A hint of how long the queue takes to drain.
        retry_after: std::time::Duration,
    },
}

/// The verdict on a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordCheck {
    /// The password does not match (or there was no hash to match).
    Mismatch,
    /// The password matches.
    Match {
        /// The hash was made by another scheme (bcrypt imported from GoTrue, an older argon2
        /// variant) or with other parameters than the current ones, and should be replaced by
        /// [`PasswordHasher::hash`] of the same password.
        needs_rehash: bool,
    },
}

/// Slow, salted password hashing (argon2id in production).
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password with a fresh salt and the current parameters.
    ///
    /// - MUST NOT block the caller's executor thread: the work runs elsewhere, with bounded
    ///   concurrency so memory stays bounded under a flood.
    /// - SHOULD bound how many requests wait, answering [`HashError::Overloaded`] at once
    ///   when that many already do (for `verify` too), so a flood is shed, not queued.
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;

    /// Checks a password against a stored hash.
    ///
    /// - With `hash` absent (unknown account, account without password), MUST do the same work as
    ///   a real verification and return [`PasswordCheck::Mismatch`], so that timing does not tell
    ///   whether an account exists.
    /// - MUST compare in constant time.
    /// - MUST accept every scheme it can read, not only the one [`PasswordHasher::hash`] writes,
    ///   and MUST answer a match on a hash that `hash` would not produce today (another scheme,
    ///   other parameters) with `needs_rehash: true`. Password sign-in then stores a fresh hash,
    ///   so imported hashes are upgraded by the first sign-in that proves the password.
    /// - A stored hash in no scheme it reads is [`HashError::UnreadableHash`], never a mismatch.
    async fn verify<'a>(&self, password: &Password, hash: Option<&'a PasswordHash>)
    -> Result<PasswordCheck, HashError>;

    /// Whether a hash made elsewhere (an operator's `password_hash`) may be stored as a user's:
    /// `Err` with the reason, for the operator, unless `verify` reads its scheme and its cost is
    /// within what a sign-in may spend. Does no hashing.
    ///
    /// - MUST refuse every hash `verify` would answer [`HashError::UnreadableHash`] for, or
    ///   would refuse to verify for its cost.
    fn check_stored(&self, hash: &PasswordHash) -> Result<(), String> {
        let _ = hash;
        Err("this server stores no password hash made elsewhere".into())
    }
}
