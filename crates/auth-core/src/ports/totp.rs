use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::{FactorId, SealedSecret};

/// A TOTP secret in base32, as the user's app takes it. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(String);

impl TotpSecret {
    /// Wraps a base32 secret.
    pub fn new(base32: impl Into<String>) -> Self {
        Self(base32.into())
    }

    /// The base32 text, for the enrollment response only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

/// What a new TOTP factor hands the user once, and what is stored of it.
#[derive(Debug, Clone)]
pub struct TotpProvisioning {
    /// The secret, for typing into an app.
    pub secret: TotpSecret,
    /// The `otpauth://totp/…` URI.
    pub uri: String,
    /// The URI as a QR code, SVG markup.
    pub qr_svg: String,
    /// The secret sealed for storage.
    pub sealed: SealedSecret,
}

/// The TOTP adapter failed (its random source, or a stored secret it cannot open).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("totp: {0}")]
pub struct TotpError(pub String);

/// Time-based one-time passwords (RFC 6238: SHA-1, 6 digits, 30-second steps) and the sealing
/// of their secrets at rest.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
pub trait Totp: Send + Sync {
    /// A new secret for factor `factor` (at least 160 random bits), its `otpauth` URI naming
    /// `issuer` and `account`, its QR code, and its sealed form.
    ///
    /// - The sealed form MUST open only for the same `factor` (a row copied to another factor
    ///   does not verify), and MUST be encrypted when the adapter has a key-encryption key.
    fn provision(&self, factor: FactorId, issuer: &str, account: &str) -> Result<TotpProvisioning, TotpError>;

    /// The time step whose code `code` is, among the step of `at` and the one before and after
    /// it; `None` when it is none of them.
    ///
    /// - MUST compare in constant time, and fail (never answer `None`) when `sealed` does not
    ///   open for `factor`.
    fn matching_step(
        &self,
        factor: FactorId,
        sealed: &SealedSecret,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, TotpError>;
}
