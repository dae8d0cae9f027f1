//! A [`KeyStore`] that encrypts key material on its way into another store and decrypts it on its
//! way out, so the store underneath only ever holds opaque (sealed) material; and the start-up
//! pass that checks every stored key and encrypts those kept in clear from before.

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::domain::{KeyMaterial, KeyPurpose, StoredKey};
use auth_core::ports::{KeyStore, Random, StoreError};
use chrono::{DateTime, Utc};

use crate::key_encryption::{KeyEncryptionError, KeyEncryptionKey, is_sealed, open_without_kek};

/// Every purpose a stored key can have, for the start-up pass.
const PURPOSES: [KeyPurpose; 3] = [KeyPurpose::AccessToken, KeyPurpose::ApiKey, KeyPurpose::RefreshChain];

/// Keys in `inner`, encrypted under a KEK when one is given. Without one, keys are written in
/// clear (the zero-setup default) and an encrypted key is refused when read.
pub struct SealedKeyStore {
    inner: Arc<dyn KeyStore>,
    kek: Option<KeyEncryptionKey>,
    random: Arc<dyn Random>,
}

impl SealedKeyStore {
    /// Keys in `inner`, sealed under `kek` (if any) with nonces drawn from `random`.
    pub fn new(inner: Arc<dyn KeyStore>, kek: Option<KeyEncryptionKey>, random: Arc<dyn Random>) -> Self {
        Self { inner, kek, random }
    }

    /// Whether keys are encrypted at rest.
    pub fn encrypts(&self) -> bool {
        self.kek.is_some()
    }

    /// Checks that every stored key can be read (refusing, by key id, one the KEK does not
    /// decrypt, or an encrypted one when no KEK is given) and, with a KEK, encrypts keys stored
    /// in clear in place. Returns how many it encrypted. Idempotent; replicas running it
    /// together each encrypt a key at most once between them (a compare-and-swap on the
    /// material), and each checks it can read what another wrote.
    pub async fn seal_stored_keys(&self) -> Result<usize, SealError> {
        let mut sealed = 0;
        let mut raced = false;
        for purpose in PURPOSES {
            for key in self.inner.list_keys(purpose).await? {
                self.open(&key.kid, &key.material)?;
                let Some(kek) = &self.kek else { continue };
                if is_sealed(&key.material) {
                    continue;
                }
                let new = kek.seal(&key.kid, &key.material, self.random.as_ref())?;
                if self.inner.replace_key_material(&key.kid, &key.material, &new).await? {
                    sealed += 1;
                } else {
                    raced = true;
                }
            }
        }
        if raced {
            // Another replica encrypted some key first: it must have used the same KEK.
            for purpose in PURPOSES {
                for key in self.inner.list_keys(purpose).await? {
                    self.open(&key.kid, &key.material)?;
                }
            }
        }
        Ok(sealed)
    }

    fn open(&self, kid: &str, material: &KeyMaterial) -> Result<KeyMaterial, KeyEncryptionError> {
        match &self.kek {
            Some(kek) => kek.open(kid, material),
            None => open_without_kek(kid, material),
        }
    }

    fn sealed(&self, key: &StoredKey) -> Result<StoredKey, StoreError> {
        let Some(kek) = &self.kek else { return Ok(key.clone()) };
        let material = kek.seal(&key.kid, &key.material, self.random.as_ref()).map_err(internal)?;
        Ok(StoredKey { material, ..key.clone() })
    }
}

impl std::fmt::Debug for SealedKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedKeyStore").field("encrypts", &self.encrypts()).finish_non_exhaustive()
    }
}

#[async_trait]
impl KeyStore for SealedKeyStore {
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        let keys = self.inner.list_keys(purpose).await?;
        keys.into_iter()
            .map(|key| Ok(StoredKey { material: self.open(&key.kid, &key.material).map_err(internal)?, ..key }))
            .collect()
    }

    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        self.inner.add_key(&self.sealed(key)?).await
    }

    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        self.inner.add_first_key(&self.sealed(key)?).await
    }

    /// Works on the stored form: `current` and `new` are passed through as they are.
    async fn replace_key_material(
        &self,
        kid: &str,
        current: &KeyMaterial,
        new: &KeyMaterial,
    ) -> Result<bool, StoreError> {
        self.inner.replace_key_material(kid, current, new).await
    }

    async fn retire_key(&self, kid: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.inner.retire_key(kid, at).await
    }
}

/// The start-up pass failed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The key store failed.
    #[error("cannot read or store the keys: {0}")]
    Store(#[from] StoreError),
    /// A key cannot be decrypted or encrypted (its id is named).
    #[error(transparent)]
    Encryption(#[from] KeyEncryptionError),
}

fn internal(error: KeyEncryptionError) -> StoreError {
    StoreError::Internal(error.to_string())
}

#[cfg(test)]
mod tests {
    use auth_core::memory::MemoryStore;
    use auth_core::testing::SequentialRandom;

    use super::*;
    use crate::key_encryption::KEK_LEN;

    fn kek(seed: u8) -> KeyEncryptionKey {
        let bytes: [u8; KEK_LEN] = std::array::from_fn(|i| seed.wrapping_add(u8::try_from(i * 3).unwrap()));
        KeyEncryptionKey::from_bytes(&bytes).unwrap()
    }

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn key(kid: &str, purpose: KeyPurpose) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            purpose,
            algorithm: "ES256".into(),
            material: KeyMaterial::new(format!(r#"{{"kid":"{kid}","d":"private"}}"#)),
            created_at: at(),
            activates_at: at(),
            retired_at: None,
        }
    }

    fn sealed(inner: &Arc<MemoryStore>, kek: Option<KeyEncryptionKey>) -> SealedKeyStore {
        SealedKeyStore::new(inner.clone(), kek, Arc::new(SequentialRandom::default()))
    }

    #[tokio::test]
    async fn keys_are_written_sealed_and_read_back_in_clear() {
        let inner = Arc::new(MemoryStore::new());
        let store = sealed(&inner, Some(kek(1)));
        let first = key("k1", KeyPurpose::AccessToken);
        store.add_key(&first).await.unwrap();
        assert!(store.add_first_key(&key("c1", KeyPurpose::RefreshChain)).await.unwrap());
        let raw = inner.list_keys(KeyPurpose::AccessToken).await.unwrap();
        assert!(is_sealed(&raw[0].material) && !raw[0].material.expose().contains("private"));
        assert!(is_sealed(&inner.list_keys(KeyPurpose::RefreshChain).await.unwrap()[0].material));
        assert_eq!(store.list_keys(KeyPurpose::AccessToken).await.unwrap(), vec![first]);
    }

    #[tokio::test]
    async fn keys_stored_in_clear_are_sealed_at_start_once() {
        let inner = Arc::new(MemoryStore::new());
        let plain = sealed(&inner, None);
        plain.add_key(&key("k1", KeyPurpose::AccessToken)).await.unwrap();
        plain.add_key(&key("a1", KeyPurpose::ApiKey)).await.unwrap();
        assert_eq!(plain.seal_stored_keys().await.unwrap(), 0, "nothing to do without a KEK");

        let store = sealed(&inner, Some(kek(1)));
        assert_eq!(store.seal_stored_keys().await.unwrap(), 2);
        for purpose in [KeyPurpose::AccessToken, KeyPurpose::ApiKey] {
            assert!(inner.list_keys(purpose).await.unwrap().iter().all(|k| is_sealed(&k.material)));
        }
        assert_eq!(store.seal_stored_keys().await.unwrap(), 0, "idempotent");
        assert_eq!(store.list_keys(KeyPurpose::ApiKey).await.unwrap(), vec![key("a1", KeyPurpose::ApiKey)]);
    }

    #[tokio::test]
    async fn a_wrong_kek_or_a_missing_one_refuses_naming_the_key() {
        let inner = Arc::new(MemoryStore::new());
        sealed(&inner, Some(kek(1))).add_key(&key("k1", KeyPurpose::AccessToken)).await.unwrap();

        let wrong = sealed(&inner, Some(kek(2))).seal_stored_keys().await.unwrap_err().to_string();
        assert!(wrong.contains("does not decrypt stored key k1"), "{wrong}");
        let missing = sealed(&inner, None).seal_stored_keys().await.unwrap_err().to_string();
        assert!(missing.contains("k1") && missing.contains("jwt.keys_encryption_key"), "{missing}");
        assert!(sealed(&inner, Some(kek(2))).list_keys(KeyPurpose::AccessToken).await.is_err());
    }
}
