use std::fmt;

use auth_core::domain::RefreshToken;
use auth_core::ports::TokenChain;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest key accepted, in bytes.
pub const TOKEN_CHAIN_KEY_MIN_LEN: usize = 32;
/// Domain separation, so this key's MACs can never be confused with another use.
const CONTEXT: &[u8] = b"authd refresh successor v1\0";

/// The key was too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the refresh-token key must be at least {TOKEN_CHAIN_KEY_MIN_LEN} bytes")]
pub struct ShortKey;

/// Successors as HMAC-SHA-256 under a server-side key.
#[derive(Clone)]
pub struct HmacTokenChain {
    key: Vec<u8>,
}

impl HmacTokenChain {
    /// A chain keyed with `key` (at least 32 bytes of secret randomness).
    pub fn new(key: &[u8]) -> Result<Self, ShortKey> {
        if key.len() < TOKEN_CHAIN_KEY_MIN_LEN {
            return Err(ShortKey);
        }
        Ok(Self { key: key.to_vec() })
    }
}

impl fmt::Debug for HmacTokenChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacTokenChain(<redacted>)")
    }
}

impl TokenChain for HmacTokenChain {
    fn successor(&self, token: &RefreshToken) -> RefreshToken {
        // HMAC accepts keys of any length, so construction cannot fail for the key we hold.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return RefreshToken::from_bytes(token.digest().as_bytes());
        };
        mac.update(CONTEXT);
        mac.update(token.expose().as_bytes());
        RefreshToken::from_bytes(&mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_key_dependent() {
        let token = RefreshToken::presented("some-token").unwrap();
        let a = HmacTokenChain::new(&[7u8; 32]).unwrap();
        let b = HmacTokenChain::new(&[8u8; 32]).unwrap();
        assert_eq!(a.successor(&token), a.successor(&token));
        assert_ne!(a.successor(&token), b.successor(&token));
        assert_ne!(a.successor(&token), token);
        assert_eq!(a.successor(&token).expose().len(), 43);
        assert!(HmacTokenChain::new(&[1u8; 31]).is_err());
        assert!(!format!("{a:?}").contains('7'));
    }
}
