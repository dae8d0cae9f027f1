use crate::domain::RefreshToken;

/// Derives the successor of a refresh token.
///
/// A rotation's new token is a keyed function of the token it replaces, so a client that retries
/// with the previous token (a lost response, several tabs at once) can be answered with the live
/// token again although storage keeps only digests.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait TokenChain: Send + Sync {
    /// The successor of `token`.
    ///
    /// - MUST be deterministic for a given key: the same token always has the same successor.
    /// - MUST be a keyed pseudo-random function (HMAC or stronger) whose key never leaves the
    ///   server, so that neither a stolen token nor a copy of the database reveals a successor.
    fn successor(&self, token: &RefreshToken) -> RefreshToken;
}
