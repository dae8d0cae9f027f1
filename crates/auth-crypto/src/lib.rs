//! Adapters of authd's ports to the operating system and to crypto libraries: argon2id password
//! hashing on a bounded pool, JWT signing and verification (josekit), HMAC refresh-token
//! successors, the keys of both kept in a `KeyStore` (encrypted at rest under a key-encryption
//! key), OS randomness, the system clock and in-process rate-limit counters. No cryptography is
//! written here by hand.

mod argon2_engine;
mod argon2_hasher;
mod clock;
mod cost_bounds;
mod failure_floor;
mod hmac_secret;
mod jwk_set;
mod jwt;
mod key_encryption;
mod random;
mod rate_limiter;
mod sealed_key_store;
mod stored_keys;
mod token_chain;
mod token_lifetimes;
mod totp_factors;
mod verified_claims;

pub use argon2_hasher::{Argon2Hasher, Argon2Params, InvalidParams, PoolStats, WaitObserver};
pub use clock::SystemClock;
pub use cost_bounds::{CostBounds, UnsafeHash};
pub use hmac_secret::{HMAC_SECRET_MIN_LEN, HmacSecret, WeakSecret};
pub use jwk_set::JwkSetKeys;
pub use jwt::{JwtAlgorithm, JwtSigner, KeyError, KeyInfo, SigningKey};
pub use key_encryption::{KEK_LEN, KeyEncryptionError, KeyEncryptionKey, is_sealed};
pub use random::OsRandom;
pub use rate_limiter::InProcessLimiter;
pub use sealed_key_store::{SealError, SealedKeyStore};
pub use stored_keys::{InitialKeys, KeyRing, StoredKeys, StoredKeysError};
pub use token_chain::{HmacTokenChain, ShortKey, TOKEN_CHAIN_KEY_MIN_LEN};
pub use token_lifetimes::{CLOCK_SKEW_SECS, TokenLifetimes};
pub use totp_factors::TotpFactors;
