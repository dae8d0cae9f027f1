//! External identities: a user's accounts at identity providers (Supabase Auth's
//! `auth.identities`), and the flow state of a browser sign-in through one of them.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{CodeChallenge, FlowId, IdentityId, TokenDigest, UserId};
use crate::ports::{Random, RandomError};

/// Longest provider name (`custom:<id>` included).
const PROVIDER_MAX_LEN: usize = 64;
/// Random bytes behind a browser binding (256 bits).
const BINDING_BYTES: usize = 32;

/// A provider's name as `/authorize?provider=` and identities carry it: lower-case letters,
/// digits, `_`, `-` and `:`, at most 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderName(String);

/// A provider name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a provider name is 1 to 64 characters of a-z, 0-9, '_', '-' and ':'")]
pub struct ProviderNameError;

impl ProviderName {
    /// Reads a name, lower-casing it as Supabase Auth does.
    pub fn parse(name: &str) -> Result<Self, ProviderNameError> {
        let name = name.trim().to_ascii_lowercase();
        let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b':');
        if name.is_empty() || name.len() > PROVIDER_MAX_LEN || !name.bytes().all(allowed) {
            return Err(ProviderNameError);
        }
        Ok(Self(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProviderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One of a user's accounts at an identity provider.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// The row's id (`identity_id` on the wire).
    pub id: IdentityId,
    /// Whose identity it is.
    pub user_id: UserId,
    /// The provider.
    pub provider: ProviderName,
    /// The provider's subject for the user (`id` on the wire); unique per provider.
    pub provider_id: String,
    /// The claims the provider gave at the last sign-in (a JSON object).
    pub identity_data: Value,
    /// The provider's email address for the user, lower-cased.
    pub email: Option<String>,
    /// The last sign-in through it.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// When it was linked.
    pub created_at: DateTime<Utc>,
    /// When its data last changed.
    pub updated_at: DateTime<Utc>,
}

impl Identity {
    /// The email address `identity_data` names, lower-cased, as the stored `email` column.
    pub fn email_of(identity_data: &Value) -> Option<String> {
        let email = identity_data.get("email")?.as_str()?.trim();
        (!email.is_empty()).then(|| email.to_lowercase())
    }
}

/// A secret kept in the browser that started an external sign-in (a cookie), proving at the
/// callback that the same browser comes back: a login planted with another browser's `state`
/// is refused. The upstream PKCE verifier and the OpenID nonce are derived from it, so neither
/// is stored. `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserBinding(String);

impl BrowserBinding {
    /// Draws a new binding.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        let mut bytes = [0u8; BINDING_BYTES];
        random.fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// A binding as the browser presented it.
    pub fn presented(value: &str) -> Self {
        Self(value.trim().to_owned())
    }

    /// The cookie's value.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the flow state stores.
    pub fn digest(&self) -> TokenDigest {
        TokenDigest::of(self.0.as_bytes())
    }

    /// The PKCE verifier sent to the provider's token endpoint (43 characters).
    pub fn provider_verifier(&self) -> String {
        self.derive("authd oauth pkce verifier")
    }

    /// The challenge of [`BrowserBinding::provider_verifier`], sent to the provider's
    /// authorization endpoint.
    pub fn provider_challenge(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(self.provider_verifier().as_bytes()))
    }

    /// The OpenID `nonce` of the flow.
    pub fn nonce(&self) -> String {
        self.derive("authd oauth nonce")
    }

    fn derive(&self, purpose: &str) -> String {
        let mut hash = Sha256::new();
        hash.update(purpose.as_bytes());
        hash.update([0]);
        hash.update(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(hash.finalize())
    }
}

impl fmt::Debug for BrowserBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrowserBinding(..)")
    }
}

/// The server's memory of one external sign-in between `/authorize` and `/callback`: its id is
/// the OAuth `state`. Used once, then deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthFlow {
    /// The OAuth `state`.
    pub id: FlowId,
    /// Digest of the [`BrowserBinding`] of the browser that started it.
    pub browser: TokenDigest,
    /// The provider.
    pub provider: ProviderName,
    /// Where the browser goes afterwards (already checked against the allow-list).
    pub redirect_to: String,
    /// The client's PKCE challenge: the callback answers with an auth code instead of a session.
    pub challenge: Option<CodeChallenge>,
    /// The user an identity is linked to (`/user/identities/authorize`).
    pub linking_target: Option<UserId>,
    /// When `/authorize` began it.
    pub created_at: DateTime<Utc>,
    /// After this the callback refuses it.
    pub expires_at: DateTime<Utc>,
}

/// SHA-256 of `nonce` as lowercase hex: what an ID token must carry for the raw nonce a client
/// sends to `POST /token?grant_type=id_token` (Supabase Auth's rule).
pub fn hashed_nonce(nonce: &str) -> String {
    Sha256::digest(nonce.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CodeChallenge;
    use crate::testing::SequentialRandom;

    #[test]
    fn provider_names_are_lower_case_and_plain() {
        assert_eq!(ProviderName::parse(" GitHub ").unwrap().as_str(), "github");
        assert_eq!(ProviderName::parse("custom:acme-1").unwrap().as_str(), "custom:acme-1");
        assert!(ProviderName::parse("").is_err());
        assert!(ProviderName::parse("git hub").is_err());
        assert!(ProviderName::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn bindings_derive_a_valid_verifier_and_a_nonce() {
        let binding = BrowserBinding::generate(&SequentialRandom::default()).unwrap();
        let verifier = binding.provider_verifier();
        let challenge =
            CodeChallenge::new(crate::domain::ChallengeMethod::S256, &binding.provider_challenge()).unwrap();
        assert!(challenge.accepts(&verifier));
        assert_ne!(binding.nonce(), verifier);
        assert_eq!(BrowserBinding::presented(binding.as_str()).digest(), binding.digest());
        assert_eq!(format!("{binding:?}"), "BrowserBinding(..)");
    }

    #[test]
    fn nonces_hash_to_lowercase_hex() {
        assert_eq!(hashed_nonce("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn identity_email_is_lower_cased() {
        assert_eq!(Identity::email_of(&serde_json::json!({"email": "A@B.io"})).as_deref(), Some("a@b.io"));
        assert_eq!(Identity::email_of(&serde_json::json!({"email": ""})), None);
    }
}
