//! Keys kept in a [`KeyStore`]: the first ones made on an empty store, the current ring read back
//! as a [`JwtSigner`] and an [`HmacTokenChain`]. This is what a service embedding auth-core needs
//! so that access tokens keep verifying and refresh tokens keep rotating across restarts and
//! replicas, without authd's configuration.

use std::sync::Arc;

use auth_core::domain::{KeyMaterial, KeyPurpose, KeyStatus, StoredKey, key_statuses};
use auth_core::ports::{Clock, KeyStore, Random, RandomError, StoreError};
use chrono::{DateTime, TimeDelta, Utc};

use crate::jwt::{JwtAlgorithm, JwtSigner, KeyError, SigningKey};
use crate::key_encryption::KeyEncryptionKey;
use crate::sealed_key_store::{SealError, SealedKeyStore};
use crate::token_chain::{HmacTokenChain, TOKEN_CHAIN_KEY_MIN_LEN};
use crate::{OsRandom, SystemClock};

/// The keys could not be made, stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StoredKeysError {
    /// The key store failed.
    #[error("cannot read or store the keys: {0}")]
    Store(#[from] StoreError),
    /// No key of this purpose is active yet (`ensure_initial` makes the first ones).
    #[error("no active {0} key in the key store")]
    Missing(&'static str),
    /// A stored key cannot be loaded (its id is given, never its material).
    #[error("stored key {0} is unreadable")]
    Unreadable(String),
    /// A key could not be generated or put in a ring.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The random source failed.
    #[error(transparent)]
    Random(#[from] RandomError),
    /// A stored key cannot be decrypted (wrong key-encryption key, or an altered row).
    #[error(transparent)]
    Sealing(#[from] SealError),
}

/// Access-token and refresh-chain keys in a [`KeyStore`], generated with one algorithm.
pub struct StoredKeys {
    store: Arc<dyn KeyStore>,
    kek: Option<KeyEncryptionKey>,
    algorithm: JwtAlgorithm,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    token_lifetime: TimeDelta,
}

impl StoredKeys {
    /// Keys in `store`; new access-token keys are of `algorithm` (ES256 or RS256). Time comes
    /// from the system clock, randomness from the OS, and access tokens are taken to live an hour.
    pub fn new(store: Arc<dyn KeyStore>, algorithm: JwtAlgorithm) -> Self {
        Self {
            store,
            kek: None,
            algorithm,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            token_lifetime: TimeDelta::hours(1),
        }
    }

    /// Reads time from `clock` (the one the use cases get).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Draws the refresh-chain secret and its key id from `random` (OpenSSL generates the
    /// access-token keys).
    pub fn with_random(mut self, random: Arc<dyn Random>) -> Self {
        self.random = random;
        self
    }

    /// Encrypts the keys' material in the store under `kek` (a key kept outside the database):
    /// new keys are written encrypted, and `ensure_initial` encrypts those stored in clear.
    pub fn with_encryption(mut self, kek: KeyEncryptionKey) -> Self {
        self.kek = Some(kek);
        self
    }

    /// The store seen through the key-encryption key (if any).
    fn keys(&self) -> SealedKeyStore {
        SealedKeyStore::new(Arc::clone(&self.store), self.kek.clone(), Arc::clone(&self.random))
    }

    /// How long access tokens live (`AuthSettings::access_token_ttl`): a replaced key keeps
    /// verifying that long, so no token it signed is refused before it expires.
    pub fn with_token_lifetime(mut self, lifetime: TimeDelta) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Makes the first access-token and refresh-chain keys if the store has none of that
    /// purpose. Safe to call on every start: replicas starting together agree on one key.
    /// First checks that every stored key can be read and, with a key-encryption key, encrypts
    /// keys stored in clear.
    pub async fn ensure_initial(&self) -> Result<(), StoredKeysError> {
        let store = self.keys();
        store.seal_stored_keys().await?;
        let now = self.clock.now();
        let mut secret = [0u8; TOKEN_CHAIN_KEY_MIN_LEN];
        self.random.fill(&mut secret)?;
        let mut id = [0u8; 8];
        self.random.fill(&mut id)?;
        let chain = StoredKey {
            kid: format!("chain-{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            purpose: KeyPurpose::RefreshChain,
            algorithm: "HMAC-SHA256".into(),
            material: KeyMaterial::new(HmacTokenChain::encode_key(&secret)),
            created_at: now,
            activates_at: now,
        };
        store.add_first_key(&chain).await?;
        store.add_first_key(&generated_key(self.algorithm, now)?).await?;
        Ok(())
    }

    /// A signer over the current ring: the active access-token key signs, pending and replaced
    /// ones still verify. Tokens carry `aud == audience`, and `iss == issuer` unless it is empty.
    pub async fn signer(&self, audience: &str, issuer: &str) -> Result<JwtSigner, StoredKeysError> {
        let (signing, verify_only) = self.ring().await?;
        Ok(JwtSigner::new(signing, verify_only, audience, issuer)?)
    }

    /// Reads the ring again into a running `signer`, so a key added to the store (a rotation,
    /// by this replica or another) starts signing when it activates and old keys retire. Call it
    /// periodically; on an error the signer keeps its current ring.
    pub async fn reload(&self, signer: &JwtSigner) -> Result<(), StoredKeysError> {
        let (signing, verify_only) = self.ring().await?;
        Ok(signer.replace_keys(signing, verify_only)?)
    }

    /// The active access-token key, and the pending and replaced ones that only verify.
    async fn ring(&self) -> Result<(SigningKey, Vec<SigningKey>), StoredKeysError> {
        let keys = self.keys().list_keys(KeyPurpose::AccessToken).await?;
        let mut signing = None;
        let mut verify_only = Vec::new();
        for (stored, status) in key_statuses(&keys, self.clock.now(), self.token_lifetime) {
            let load = || SigningKey::from_jwk_json(stored.material.expose()).map_err(|_| unreadable(stored));
            match status {
                KeyStatus::Signing => signing = Some(load()?),
                KeyStatus::Pending | KeyStatus::Verifying => verify_only.push(load()?),
                KeyStatus::Retired => {}
            }
        }
        let signing = signing.ok_or(StoredKeysError::Missing(KeyPurpose::AccessToken.as_str()))?;
        Ok((signing, verify_only))
    }

    /// The refresh-token chain, keyed with the active refresh-chain key.
    pub async fn token_chain(&self) -> Result<HmacTokenChain, StoredKeysError> {
        let keys = self.keys().list_keys(KeyPurpose::RefreshChain).await?;
        let (stored, _) = key_statuses(&keys, self.clock.now(), self.token_lifetime)
            .into_iter()
            .find(|(_, status)| *status == KeyStatus::Signing)
            .ok_or(StoredKeysError::Missing(KeyPurpose::RefreshChain.as_str()))?;
        HmacTokenChain::from_encoded(stored.material.expose()).map_err(|_| unreadable(stored))
    }
}

impl std::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKeys")
            .field("algorithm", &self.algorithm)
            .field("encrypted", &self.kek.is_some())
            .finish_non_exhaustive()
    }
}

fn unreadable(key: &StoredKey) -> StoredKeysError {
    StoredKeysError::Unreadable(key.kid.clone())
}

/// A new access-token key, active from `now`.
fn generated_key(algorithm: JwtAlgorithm, now: DateTime<Utc>) -> Result<StoredKey, KeyError> {
    let key = SigningKey::generate(algorithm)?;
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        purpose: KeyPurpose::AccessToken,
        algorithm: algorithm.name().to_owned(),
        material: KeyMaterial::new(key.to_private_jwk_json()),
        created_at: now,
        activates_at: now,
    })
}

#[cfg(test)]
mod tests {
    use auth_core::domain::{Aal, AccessClaims, RefreshToken};
    use auth_core::memory::MemoryStore;
    use auth_core::ports::{TokenChain, TokenSigner};

    use super::*;

    fn claims(now: i64) -> AccessClaims {
        AccessClaims {
            iss: String::new(),
            sub: "6f1c8a58-7d39-4a51-9d4e-0b9fb3b8d2a1".into(),
            aud: "authenticated".into(),
            exp: now + 60,
            iat: now,
            email: String::new(),
            phone: String::new(),
            app_metadata: serde_json::json!({}),
            user_metadata: serde_json::json!({}),
            role: "authenticated".into(),
            aal: Aal::Aal1,
            amr: Vec::new(),
            session_id: None,
            is_anonymous: false,
        }
    }

    #[tokio::test]
    async fn keys_made_once_sign_and_chain_the_same_after_a_restart() {
        let store = Arc::new(MemoryStore::new());
        let first = StoredKeys::new(store.clone(), JwtAlgorithm::ES256);
        first.ensure_initial().await.unwrap();
        let signer = first.signer("authenticated", "").await.unwrap();
        let chain = first.token_chain().await.unwrap();

        // A second start over the same store makes no new key and reads the same ones back.
        let again = StoredKeys::new(store.clone(), JwtAlgorithm::ES256);
        again.ensure_initial().await.unwrap();
        assert_eq!(store.list_keys(KeyPurpose::AccessToken).await.unwrap().len(), 1);
        assert_eq!(store.list_keys(KeyPurpose::RefreshChain).await.unwrap().len(), 1);
        let now = SystemClock.now().timestamp();
        let token = signer.sign(&claims(now)).unwrap();
        assert!(again.signer("authenticated", "").await.unwrap().verify(&token, now).is_ok());
        let root = RefreshToken::from_bytes(&[7; 32]);
        assert_eq!(again.token_chain().await.unwrap().successor(&root), chain.successor(&root));
    }

    #[tokio::test]
    async fn a_reload_picks_up_a_rotated_key_and_keeps_the_old_one_verifying() {
        let store = Arc::new(MemoryStore::new());
        let keys = StoredKeys::new(store.clone(), JwtAlgorithm::ES256);
        keys.ensure_initial().await.unwrap();
        let signer = keys.signer("authenticated", "").await.unwrap();
        let now = SystemClock.now().timestamp();
        let before = signer.sign(&claims(now)).unwrap();

        let rotated = generated_key(JwtAlgorithm::ES256, SystemClock.now()).unwrap();
        store.add_key(&rotated).await.unwrap();
        keys.reload(&signer).await.unwrap();
        let kids: Vec<String> = signer.keys().into_iter().map(|k| k.kid).collect();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0], rotated.kid, "the newest active key signs");
        assert!(signer.verify(&before, now).is_ok(), "tokens of the replaced key still verify");
    }

    #[tokio::test]
    async fn with_a_kek_keys_are_stored_encrypted_and_read_back() {
        let kek = || crate::KeyEncryptionKey::from_base64("FiFwraL5Cf0pQvTov6D9d+uIAuGb9KvQfvFQ0ESj458=").unwrap();
        let store = Arc::new(MemoryStore::new());
        // Keys made before encryption was configured are encrypted at the next start.
        StoredKeys::new(store.clone(), JwtAlgorithm::ES256).ensure_initial().await.unwrap();
        let keys = StoredKeys::new(store.clone(), JwtAlgorithm::ES256).with_encryption(kek());
        keys.ensure_initial().await.unwrap();
        for purpose in [KeyPurpose::AccessToken, KeyPurpose::RefreshChain] {
            let raw = store.list_keys(purpose).await.unwrap();
            assert!(raw.len() == 1 && crate::is_sealed(&raw[0].material), "{purpose:?}");
        }
        let now = SystemClock.now().timestamp();
        let token = keys.signer("authenticated", "").await.unwrap().sign(&claims(now)).unwrap();
        assert!(keys.signer("authenticated", "").await.unwrap().verify(&token, now).is_ok());
        keys.token_chain().await.unwrap();
        let unkeyed = StoredKeys::new(store, JwtAlgorithm::ES256);
        assert!(matches!(unkeyed.ensure_initial().await, Err(StoredKeysError::Sealing(_))));
    }

    #[tokio::test]
    async fn an_empty_store_is_reported_not_guessed() {
        let keys = StoredKeys::new(Arc::new(MemoryStore::new()), JwtAlgorithm::ES256);
        assert!(matches!(keys.signer("authenticated", "").await, Err(StoredKeysError::Missing("access_token"))));
        assert!(matches!(keys.token_chain().await, Err(StoredKeysError::Missing("refresh_chain"))));
    }
}
