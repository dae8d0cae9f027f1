use std::fmt;

use auth_core::domain::RefreshToken;
use auth_core::ports::TokenChain;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Shortest key accepted, in bytes.
pub const TOKEN_CHAIN_KEY_MIN_LEN: usize = 32;
/// Domain separation, so this key's MACs can never be confused with another use.
const CONTEXT: &[u8] = b"authd refresh successor v1\0";

/// The key was too short, or its stored form unreadable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the refresh-token key must be at least {TOKEN_CHAIN_KEY_MIN_LEN} bytes of base64url")]
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

    /// A chain keyed with a stored key in the form [`HmacTokenChain::encode_key`] writes.
    pub fn from_encoded(material: &str) -> Result<Self, ShortKey> {
        let key = URL_SAFE_NO_PAD.decode(material.trim()).map_err(|_| ShortKey)?;
        Self::new(&key)
    }

    /// The storage form of a key: base64url without padding.
    pub fn encode_key(key: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(key)
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
    fn the_stored_form_round_trips_and_short_keys_are_refused() {
        let token = RefreshToken::presented("some-token").unwrap();
        let encoded = HmacTokenChain::encode_key(&[9u8; 32]);
        let chain = HmacTokenChain::from_encoded(&encoded).unwrap();
        assert_eq!(chain.successor(&token), HmacTokenChain::new(&[9u8; 32]).unwrap().successor(&token));
        assert_eq!(HmacTokenChain::from_encoded(&HmacTokenChain::encode_key(&[1u8; 16])).unwrap_err(), ShortKey);
        assert_eq!(HmacTokenChain::from_encoded("not base64 !").unwrap_err(), ShortKey);
    }

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
