//! MFA recovery codes: single-use codes a user keeps on paper for the day their authenticator is
//! lost. A set belongs to one factor of type `recovery_code`; only digests are stored.

use std::fmt;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{FactorId, SessionId, TokenDigest, UserId};
use crate::ports::{Random, RandomError};

/// Characters of one code.
pub const RECOVERY_CODE_LEN: usize = 16;

/// The alphabet of codes: lowercase letters and digits (36 symbols, about 82.7 bits a code).
const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// One recovery code in canonical form (16 lowercase letters and digits). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// Draws a uniformly random code.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut code = String::with_capacity(RECOVERY_CODE_LEN);
        while code.len() < RECOVERY_CODE_LEN {
            let mut bytes = [0u8; 32];
            random.fill(&mut bytes)?;
            // Rejection sampling: 252 is the largest multiple of 36 below 256, so every symbol is
            // equally likely.
            for byte in bytes.into_iter().filter(|b| *b < 252) {
                if code.len() == RECOVERY_CODE_LEN {
                    break;
                }
                code.push(char::from(ALPHABET[usize::from(byte % 36)]));
            }
        }
        Ok(Self(code))
    }

    /// A code as a user typed it, in canonical form: letter case, whitespace and `-` ignored.
    /// `None` when what is left cannot be a code.
    pub fn typed(input: &str) -> Option<Self> {
        let code: String =
            input.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_lowercase()).collect();
        let canonical = code.len() == RECOVERY_CODE_LEN && code.bytes().all(|b| ALPHABET.contains(&b));
        canonical.then_some(Self(code))
    }

    /// The code, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest stored for this code of `factor` (salted with the factor, so equal codes of
    /// two sets never share a digest).
    pub fn digest(&self, factor: FactorId) -> TokenDigest {
        let mut hasher = Sha256::new();
        hasher.update(b"authd-recovery-code\0");
        hasher.update(factor.to_string().as_bytes());
        hasher.update(b"\0");
        hasher.update(self.0.as_bytes());
        TokenDigest::from_array(hasher.finalize().into())
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(..)")
    }
}

/// How many codes a set has, and how many of them are unused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryCodeCount {
    /// Codes in the set.
    pub total: u32,
    /// Codes not used yet.
    pub remaining: u32,
}

/// A recovery code the use case wants spent, for the store to carry out atomically (see
/// `FactorStore::use_recovery_code`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCodeUse {
    /// The user.
    pub user_id: UserId,
    /// The user's recovery-code factor.
    pub factor_id: FactorId,
    /// The digest of the code presented.
    pub code: TokenDigest,
    /// The session to raise to aal2.
    pub session_id: SessionId,
    /// The session's new refresh token; every earlier one of the session is revoked.
    pub refresh_token: TokenDigest,
    /// Now.
    pub at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(std::sync::atomic::AtomicU8);

    impl Random for Counting {
        fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
            for b in buf {
                *b = self.0.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
            }
            Ok(())
        }
    }

    #[test]
    fn codes_are_canonical_and_typed_forms_read_back() {
        let code = RecoveryCode::generate(&Counting(0.into())).unwrap();
        assert_eq!(code.expose().len(), RECOVERY_CODE_LEN);
        assert_eq!(RecoveryCode::typed(code.expose()), Some(code.clone()));
        let grouped: Vec<String> =
            code.expose().as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).to_uppercase()).collect();
        assert_eq!(RecoveryCode::typed(&format!(" {} ", grouped.join("-"))), Some(code.clone()));
        assert_eq!(RecoveryCode::typed("short"), None);
        assert_eq!(RecoveryCode::typed("k4m9x7qp2ab8ht3!"), None);
        assert_eq!(format!("{code:?}"), "RecoveryCode(..)");
    }

    #[test]
    fn digests_are_salted_with_the_factor() {
        let code = RecoveryCode::typed("k4m9x7qp2ab8ht3z").unwrap();
        let (a, b) = (FactorId::from_uuid(uuid::Uuid::from_u128(1)), FactorId::from_uuid(uuid::Uuid::from_u128(2)));
        assert_ne!(code.digest(a), code.digest(b));
        assert_eq!(code.digest(a), code.digest(a));
    }
}
