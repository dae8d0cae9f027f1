//! Keys kept in a [`KeyStore`]: the first ones made on an empty store, the current ring read back
//! as a [`JwtSigner`] and an [`HmacTokenChain`], rotations, and the retirement of a compromised
//! key. The one place the key lifecycle is carried out: authd's binary builds on it, and so does a
//! service embedding auth-core, so that access tokens keep verifying and refresh tokens keep
//! rotating across restarts and replicas.

use std::sync::Arc;

use auth_core::domain::{KeyMaterial, KeyPurpose, KeyStatus, StoredKey, key_statuses};
use auth_core::ports::{Clock, KeyStore, Random, RandomError, StoreError};
use chrono::{DateTime, TimeDelta, Utc};

use crate::jwt::{JwtAlgorithm, JwtSigner, KeyError, SigningKey};
use crate::key_encryption::KeyEncryptionKey;
use crate::sealed_key_store::{SealError, SealedKeyStore};
use crate::token_chain::{HmacTokenChain, TOKEN_CHAIN_KEY_MIN_LEN};
use crate::{OsRandom, SystemClock};

/// Every purpose, in the order listings show them.
const PURPOSES: [KeyPurpose; 3] = [KeyPurpose::AccessToken, KeyPurpose::ApiKey, KeyPurpose::RefreshChain];

/// The keys could not be made, stored, read or changed.
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
    /// No stored key has this id.
    #[error("no key {0:?} in the key store")]
    UnknownKey(String),
    /// Retiring this key would leave its purpose nothing to sign with: another key must be
    /// rotated in (and active) first.
    #[error("key {kid} is the active {purpose} signing key; rotate a new one in before retiring it")]
    StillSigning {
        /// The key asked for.
        kid: String,
        /// What it signs.
        purpose: &'static str,
    },
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

/// What [`StoredKeys::ensure_initial`] did.
#[derive(Debug, Default)]
pub struct InitialKeys {
    /// How many keys stored in clear it encrypted under the key-encryption key.
    pub sealed: usize,
    /// The keys it made (none when the store had them already).
    pub made: Vec<StoredKey>,
}

/// A ring read from the store: the key that signs, and those that only verify.
pub struct KeyRing {
    /// The active access-token key.
    pub signing: SigningKey,
    /// Pending and replaced access-token keys still verifying, and the API-key signing key
    /// (with [`StoredKeys::with_api_key_signing`]).
    pub verify_only: Vec<SigningKey>,
}

/// Access-token, refresh-chain and (optionally) API-key signing keys in a [`KeyStore`].
pub struct StoredKeys {
    store: Arc<dyn KeyStore>,
    kek: Option<KeyEncryptionKey>,
    /// New access-token keys are of this algorithm; `None` when they are kept elsewhere.
    algorithm: Option<JwtAlgorithm>,
    api_keys: bool,
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
            algorithm: Some(algorithm),
            api_keys: false,
            clock: Arc::new(SystemClock),
            random: Arc::new(OsRandom),
            token_lifetime: TimeDelta::hours(1),
        }
    }

    /// Only the refresh-chain key in `store`: access tokens are signed with a key kept elsewhere
    /// (authd's configured secret or private key), so there is no access-token ring to read.
    pub fn chain_only(store: Arc<dyn KeyStore>) -> Self {
        Self { algorithm: None, ..Self::new(store, JwtAlgorithm::ES256) }
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

    /// Also keeps a key that signs long-lived API keys (authd's anon and service-role keys):
    /// `ensure_initial` makes it, the ring verifies what it signs, and only the newest one
    /// counts, so [`rotate_api_key`](Self::rotate_api_key) revokes what the previous one signed.
    pub fn with_api_key_signing(mut self) -> Self {
        self.api_keys = true;
        self
    }

    /// How long access tokens live (`AuthSettings::access_token_ttl`): a replaced key keeps
    /// verifying that long, so no token it signed is refused before it expires.
    pub fn with_token_lifetime(mut self, lifetime: TimeDelta) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Whether key material is encrypted at rest.
    pub fn encrypts(&self) -> bool {
        self.kek.is_some()
    }

    /// The store seen through the key-encryption key (if any).
    fn keys(&self) -> SealedKeyStore {
        SealedKeyStore::new(Arc::clone(&self.store), self.kek.clone(), Arc::clone(&self.random))
    }

    /// Makes the first key of each purpose kept here if the store has none of it. Safe to call
    /// on every start: replicas starting together agree on one key. First checks that every
    /// stored key can be read and, with a key-encryption key, encrypts keys stored in clear.
    pub async fn ensure_initial(&self) -> Result<InitialKeys, StoredKeysError> {
        let store = self.keys();
        let mut done = InitialKeys { sealed: store.seal_stored_keys().await?, made: Vec::new() };
        let now = self.clock.now();
        let mut secret = [0u8; TOKEN_CHAIN_KEY_MIN_LEN];
        self.random.fill(&mut secret)?;
        let mut id = [0u8; 8];
        self.random.fill(&mut id)?;
        let mut first = vec![StoredKey {
            kid: format!("chain-{}", id.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            purpose: KeyPurpose::RefreshChain,
            algorithm: "HMAC-SHA256".into(),
            material: KeyMaterial::new(HmacTokenChain::encode_key(&secret)),
            created_at: now,
            activates_at: now,
            retired_at: None,
        }];
        if let Some(algorithm) = self.algorithm {
            first.push(generated_key(algorithm, KeyPurpose::AccessToken, now, now)?);
            if self.api_keys {
                first.push(generated_key(algorithm, KeyPurpose::ApiKey, now, now)?);
            }
        }
        for key in first {
            if store.add_first_key(&key).await? {
                done.made.push(key);
            }
        }
        Ok(done)
    }

    /// A signer over the current ring: the active access-token key signs, pending and replaced
    /// ones still verify. Tokens carry `aud == audience`, and `iss == issuer` unless it is empty.
    pub async fn signer(&self, audience: &str, issuer: &str) -> Result<JwtSigner, StoredKeysError> {
        let ring = self.ring().await?;
        Ok(JwtSigner::new(ring.signing, ring.verify_only, audience, issuer)?)
    }

    /// Reads the ring again into a running `signer`, so a key added to the store (a rotation,
    /// by this replica or another) starts signing when it activates, old keys retire, and a key
    /// retired by an operator is dropped. Call it periodically; on an error the signer keeps its
    /// current ring. Returns whether the ring changed (the JWKS to publish changed with it).
    pub async fn reload(&self, signer: &JwtSigner) -> Result<bool, StoredKeysError> {
        let ring = self.ring().await?;
        let kids = |keys: &mut dyn Iterator<Item = String>| keys.collect::<Vec<_>>();
        let now = kids(&mut std::iter::once(&ring.signing).chain(&ring.verify_only).map(|k| k.kid().to_owned()));
        if now == kids(&mut signer.keys().into_iter().map(|k| k.kid)) {
            return Ok(false);
        }
        signer.replace_keys(ring.signing, ring.verify_only)?;
        Ok(true)
    }

    /// The active access-token key, and the keys that only verify: pending and replaced
    /// access-token keys, and the API-key signing key when kept.
    pub async fn ring(&self) -> Result<KeyRing, StoredKeysError> {
        let mut signing = None;
        let mut verify_only = Vec::new();
        for (stored, status) in self.statuses(KeyPurpose::AccessToken).await? {
            let load = || SigningKey::from_jwk_json(stored.material.expose()).map_err(|_| unreadable(&stored));
            match status {
                KeyStatus::Signing => signing = Some(load()?),
                KeyStatus::Pending | KeyStatus::Verifying => verify_only.push(load()?),
                KeyStatus::Retired => {}
            }
        }
        let signing = signing.ok_or(StoredKeysError::Missing(KeyPurpose::AccessToken.as_str()))?;
        if self.api_keys {
            // Published and accepted like any key, so PostgREST and authd take the API keys it signs.
            verify_only.push(self.api_key_signer().await?.0);
        }
        Ok(KeyRing { signing, verify_only })
    }

    /// The refresh-token chain, keyed with the active refresh-chain key.
    pub async fn token_chain(&self) -> Result<HmacTokenChain, StoredKeysError> {
        let stored = self.signing(KeyPurpose::RefreshChain).await?;
        HmacTokenChain::from_encoded(stored.material.expose()).map_err(|_| unreadable(&stored))
    }

    /// The key that signs API keys, and since when it does.
    pub async fn api_key_signer(&self) -> Result<(SigningKey, DateTime<Utc>), StoredKeysError> {
        let stored = self.signing(KeyPurpose::ApiKey).await?;
        let key = SigningKey::from_jwk_json(stored.material.expose()).map_err(|_| unreadable(&stored))?;
        Ok((key, stored.activates_at))
    }

    /// The signing key of `purpose` now.
    async fn signing(&self, purpose: KeyPurpose) -> Result<StoredKey, StoredKeysError> {
        self.statuses(purpose)
            .await?
            .into_iter()
            .find_map(|(key, status)| (status == KeyStatus::Signing).then_some(key))
            .ok_or(StoredKeysError::Missing(purpose.as_str()))
    }

    /// Every stored key of `purpose` with its status now, newest first. Only the newest API-key
    /// key counts; the others of a purpose verify for the access-token lifetime once replaced.
    pub async fn statuses(&self, purpose: KeyPurpose) -> Result<Vec<(StoredKey, KeyStatus)>, StoredKeysError> {
        let keys = self.keys().list_keys(purpose).await?;
        let lifetime = if purpose == KeyPurpose::ApiKey { TimeDelta::zero() } else { self.token_lifetime };
        Ok(key_statuses(&keys, self.clock.now(), lifetime).into_iter().map(|(k, s)| (k.clone(), s)).collect())
    }

    /// Adds a new access-token key that signs from `activates_at` (published at once); the key
    /// it replaces keeps verifying for the token lifetime.
    pub async fn rotate(&self, activates_at: DateTime<Utc>) -> Result<StoredKey, StoredKeysError> {
        let algorithm = self.algorithm.ok_or(StoredKeysError::Missing(KeyPurpose::AccessToken.as_str()))?;
        let key = generated_key(algorithm, KeyPurpose::AccessToken, self.clock.now(), activates_at)?;
        self.keys().add_key(&key).await?;
        Ok(key)
    }

    /// Replaces the API-key signing key at once: API keys signed by the previous one stop
    /// verifying at the next reload.
    pub async fn rotate_api_key(&self) -> Result<StoredKey, StoredKeysError> {
        let algorithm = self.algorithm.ok_or(StoredKeysError::Missing(KeyPurpose::ApiKey.as_str()))?;
        let now = self.clock.now();
        let key = generated_key(algorithm, KeyPurpose::ApiKey, now, now)?;
        self.keys().add_key(&key).await?;
        Ok(key)
    }

    /// Retires key `kid` now (a compromised key): it never signs or verifies again, here at
    /// the next [`reload`](Self::reload) and on every replica at theirs. Refused for the key
    /// that signs now ([`StoredKeysError::StillSigning`]): rotate a new one in first, so there is
    /// always a key to sign with. Retiring a retired key again changes nothing. Returns the key
    /// as it was before (its status included).
    pub async fn retire(&self, kid: &str) -> Result<(StoredKey, KeyStatus), StoredKeysError> {
        for purpose in PURPOSES {
            let Some((key, status)) = self.statuses(purpose).await?.into_iter().find(|(k, _)| k.kid == kid) else {
                continue;
            };
            if status == KeyStatus::Signing {
                return Err(StoredKeysError::StillSigning { kid: kid.to_owned(), purpose: purpose.as_str() });
            }
            self.store.retire_key(kid, self.clock.now()).await?;
            return Ok((key, status));
        }
        Err(StoredKeysError::UnknownKey(kid.to_owned()))
    }
}

impl std::fmt::Debug for StoredKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredKeys")
            .field("algorithm", &self.algorithm)
            .field("api_keys", &self.api_keys)
            .field("encrypted", &self.kek.is_some())
            .finish_non_exhaustive()
    }
}

fn unreadable(key: &StoredKey) -> StoredKeysError {
    StoredKeysError::Unreadable(key.kid.clone())
}

/// A new signing key of `purpose`, made `now`, signing from `activates_at`.
fn generated_key(
    algorithm: JwtAlgorithm,
    purpose: KeyPurpose,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> Result<StoredKey, KeyError> {
    let key = SigningKey::generate(algorithm)?;
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        purpose,
        algorithm: algorithm.name().to_owned(),
        material: KeyMaterial::new(key.to_private_jwk_json()),
        created_at: now,
        activates_at,
        retired_at: None,
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

        let rotated = keys.rotate(SystemClock.now()).await.unwrap();
        assert!(keys.reload(&signer).await.unwrap(), "the ring changed");
        assert!(!keys.reload(&signer).await.unwrap(), "and then did not");
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

    #[tokio::test]
    async fn a_retired_key_stops_verifying_at_the_next_reload_and_the_signing_key_cannot_be_retired() {
        let store = Arc::new(MemoryStore::new());
        let keys = StoredKeys::new(store.clone(), JwtAlgorithm::ES256).with_api_key_signing();
        let made = keys.ensure_initial().await.unwrap().made;
        assert_eq!(made.len(), 3, "chain, access and API-key keys");
        let signer = keys.signer("authenticated", "").await.unwrap();
        let now = SystemClock.now().timestamp();
        let leaked = signer.sign(&claims(now)).unwrap();
        let first = signer.keys()[0].kid.clone();

        let refused = keys.retire(&first).await.unwrap_err();
        assert!(matches!(&refused, StoredKeysError::StillSigning { purpose: "access_token", .. }), "{refused}");
        assert!(matches!(keys.retire("nope").await, Err(StoredKeysError::UnknownKey(_))));

        keys.rotate(SystemClock.now()).await.unwrap();
        keys.reload(&signer).await.unwrap();
        assert!(signer.verify(&leaked, now).is_ok(), "a replaced key verifies until retired");
        let (_, before) = keys.retire(&first).await.unwrap();
        assert_eq!(before, KeyStatus::Verifying);
        assert!(keys.reload(&signer).await.unwrap());
        assert!(signer.verify(&leaked, now).is_err(), "its tokens are refused after the reload");
        assert!(signer.keys().iter().all(|k| k.kid != first), "and it is no longer published");
        let statuses = keys.statuses(KeyPurpose::AccessToken).await.unwrap();
        assert!(statuses.iter().any(|(k, s)| k.kid == first && *s == KeyStatus::Retired && k.retired_at.is_some()));
        keys.retire(&first).await.unwrap();
    }
}
