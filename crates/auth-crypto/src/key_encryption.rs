//! Key material encrypted at rest: AES-256-GCM under a key-encryption key (KEK) that lives outside
//! the database, a fresh random nonce per write, and the key id as associated data, so a row's
//! ciphertext neither reads under another KEK nor under another key id.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use auth_core::domain::KeyMaterial;
use auth_core::ports::{Random, RandomError};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// Length of a key-encryption key in bytes.
pub const KEK_LEN: usize = 32;

/// Marks encrypted material; the version names the cipher and the layout after it.
const SEALED_PREFIX: &str = "enc:v1:";

/// AES-GCM's nonce length.
const NONCE_LEN: usize = 12;

/// Separates this use of the KEK from any other, should the same key ever be reused.
const AAD_DOMAIN: &[u8] = b"authd signing key v1\0";

/// How to make a good key, quoted by every message about a bad one.
const HOW_TO_MAKE_ONE: &str = "make one with `openssl rand -base64 32`";

/// Key material could not be encrypted or decrypted, or the KEK itself is unusable. Messages
/// name key ids, never material.
#[derive(Debug, thiserror::Error)]
pub enum KeyEncryptionError {
    /// The configured KEK is not 32 random bytes in base64.
    #[error("the key-encryption key {0}; {HOW_TO_MAKE_ONE}")]
    InvalidKek(&'static str),
    /// A stored key is encrypted but no KEK is configured.
    #[error(
        "stored key {0} is encrypted but no key-encryption key is configured (jwt.keys_encryption_key or jwt.keys_encryption_key_file)"
    )]
    NoKek(String),
    /// The KEK does not decrypt a stored key: another KEK, or the row was altered or copied to
    /// another key id.
    #[error(
        "the key-encryption key does not decrypt stored key {0} (a different key-encryption key, or the row was altered)"
    )]
    Undecryptable(String),
    /// The random source failed while drawing a nonce.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The key-encryption key. `Debug` never shows it.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    cipher: Aes256Gcm,
}

impl KeyEncryptionKey {
    /// Reads a KEK written as base64 (standard alphabet, as `openssl rand -base64 32` prints it;
    /// surrounding whitespace is ignored). It must be exactly 32 bytes and look random.
    pub fn from_base64(text: &str) -> Result<Self, KeyEncryptionError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyEncryptionError::InvalidKek("is not valid base64"))?;
        let bytes: [u8; KEK_LEN] =
            bytes.try_into().map_err(|_| KeyEncryptionError::InvalidKek("must be exactly 32 bytes once decoded"))?;
        Self::from_bytes(&bytes)
    }

    /// A KEK from its 32 bytes; a key made of few distinct byte values (all zeros, a repeated
    /// pattern) is refused, which 32 random bytes practically never are.
    pub fn from_bytes(bytes: &[u8; KEK_LEN]) -> Result<Self, KeyEncryptionError> {
        let mut seen = [false; 256];
        for byte in bytes {
            seen[usize::from(*byte)] = true;
        }
        if seen.iter().filter(|s| **s).count() < 16 {
            return Err(KeyEncryptionError::InvalidKek("does not look random"));
        }
        Ok(Self { cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)) })
    }

    /// Encrypts `material` for the key `kid` under a fresh nonce from `random`.
    pub fn seal(
        &self,
        kid: &str,
        material: &KeyMaterial,
        random: &dyn Random,
    ) -> Result<KeyMaterial, KeyEncryptionError> {
        // Encryption fails only for inputs of gigabytes; say so without the material.
        let sealed = self.seal_text(&associated_data(kid), material.expose(), random)?;
        sealed.map(KeyMaterial::new).ok_or_else(|| KeyEncryptionError::Undecryptable(kid.to_owned()))
    }

    /// Decrypts the material of key `kid`; material stored before encryption (not sealed) is
    /// given back as it is.
    pub fn open(&self, kid: &str, material: &KeyMaterial) -> Result<KeyMaterial, KeyEncryptionError> {
        if !is_sealed(material) {
            return Ok(material.clone());
        }
        let plain = self.open_text(&associated_data(kid), material.expose());
        plain.map(KeyMaterial::new).ok_or_else(|| KeyEncryptionError::Undecryptable(kid.to_owned()))
    }

    /// `plain` encrypted with `aad` as associated data under a fresh nonce, in the sealed
    /// form (`enc:v1:` and base64url of nonce and ciphertext); `None` when the cipher refuses.
    pub(crate) fn seal_text(
        &self,
        aad: &[u8],
        plain: &str,
        random: &dyn Random,
    ) -> Result<Option<String>, KeyEncryptionError> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce)?;
        let Ok(sealed) = self.cipher.encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad }) else {
            return Ok(None);
        };
        let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(Some(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(blob))))
    }

    /// The plaintext of a sealed `stored` value written with `aad`; `None` when it is not
    /// sealed, or does not open (another KEK, other associated data, altered).
    pub(crate) fn open_text(&self, aad: &[u8], stored: &str) -> Option<String> {
        let encoded = stored.strip_prefix(SEALED_PREFIX)?;
        let blob = URL_SAFE_NO_PAD.decode(encoded).ok()?;
        if blob.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = blob.split_at(NONCE_LEN);
        let plain = self.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).ok()?;
        String::from_utf8(plain).ok()
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

/// Whether `material` is encrypted (written under a KEK), without decrypting it.
pub fn is_sealed(material: &KeyMaterial) -> bool {
    is_sealed_text(material.expose())
}

/// Whether a stored value is in the sealed form.
pub(crate) fn is_sealed_text(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// Material read without a KEK: plaintext passes, encrypted material is refused by key id.
pub fn open_without_kek(kid: &str, material: &KeyMaterial) -> Result<KeyMaterial, KeyEncryptionError> {
    if is_sealed(material) { Err(KeyEncryptionError::NoKek(kid.to_owned())) } else { Ok(material.clone()) }
}

fn associated_data(kid: &str) -> Vec<u8> {
    [AAD_DOMAIN, kid.as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use auth_core::testing::SequentialRandom;

    use super::*;

    fn kek(seed: u8) -> KeyEncryptionKey {
        let bytes: [u8; KEK_LEN] = std::array::from_fn(|i| seed.wrapping_add(u8::try_from(i).unwrap()));
        KeyEncryptionKey::from_bytes(&bytes).unwrap()
    }

    fn material() -> KeyMaterial {
        KeyMaterial::new(r#"{"kty":"EC","d":"c2VjcmV0LXByaXZhdGUtcGFydA"}"#)
    }

    #[test]
    fn sealed_material_round_trips_and_hides_the_plaintext() {
        let random = SequentialRandom::default();
        let sealed = kek(1).seal("k1", &material(), &random).unwrap();
        assert!(is_sealed(&sealed));
        assert!(!sealed.expose().contains("c2VjcmV0"), "the private part is not readable");
        assert_eq!(kek(1).open("k1", &sealed).unwrap(), material());
        let again = kek(1).seal("k1", &material(), &random).unwrap();
        assert_ne!(again, sealed, "every write draws its own nonce");
    }

    #[test]
    fn another_kek_another_kid_or_a_changed_byte_is_refused() {
        let sealed = kek(1).seal("k1", &material(), &SequentialRandom::default()).unwrap();
        let refused = |result: Result<KeyMaterial, KeyEncryptionError>| matches!(result, Err(KeyEncryptionError::Undecryptable(kid)) if kid == "k1" || kid == "k2");
        assert!(refused(kek(2).open("k1", &sealed)), "wrong KEK");
        assert!(refused(kek(1).open("k2", &sealed)), "ciphertext moved to another kid");
        let mut tampered = sealed.expose().to_owned();
        let last = tampered.pop().unwrap();
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(refused(kek(1).open("k1", &KeyMaterial::new(tampered))), "tampered");
        assert!(refused(kek(1).open("k1", &KeyMaterial::new("enc:v1:AAAA"))), "truncated");
    }

    #[test]
    fn plaintext_from_before_still_reads_and_sealed_needs_the_kek() {
        assert_eq!(kek(1).open("k1", &material()).unwrap(), material());
        assert_eq!(open_without_kek("k1", &material()).unwrap(), material());
        let sealed = kek(1).seal("k1", &material(), &SequentialRandom::default()).unwrap();
        let error = open_without_kek("k1", &sealed).unwrap_err();
        assert!(error.to_string().contains("jwt.keys_encryption_key"), "{error}");
    }

    #[test]
    fn a_bad_kek_is_refused_with_how_to_make_one() {
        for (text, why) in [
            ("not base64!", "not valid base64"),
            ("c2hvcnQ=", "exactly 32 bytes"),
            ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "does not look random"),
        ] {
            let error = KeyEncryptionKey::from_base64(text).unwrap_err().to_string();
            assert!(error.contains(why) && error.contains("openssl rand -base64 32"), "{error}");
        }
        let good = STANDARD.encode(std::array::from_fn::<u8, KEK_LEN, _>(|i| u8::try_from(i * 7).unwrap()));
        assert!(KeyEncryptionKey::from_base64(&format!(" {good}\n")).is_ok());
        assert_eq!(format!("{:?}", kek(1)), "KeyEncryptionKey(<redacted>)");
    }
}
