//! Proof Key for Code Exchange (RFC 7636) on the email flows: a link verified in the browser
//! lands with a one-time auth code instead of a session, and only the client holding the
//! verifier behind the challenge can exchange it.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthMethod, TokenDigest, UserId};
use crate::ports::{Random, RandomError};

/// Shortest challenge or verifier RFC 7636 allows.
const MIN_LEN: usize = 43;
/// Longest challenge or verifier RFC 7636 allows.
const MAX_LEN: usize = 128;
/// Random bytes behind an auth code (256 bits).
const AUTH_CODE_BYTES: usize = 32;
/// Prefix of the link token of a PKCE flow, so the landing page knows where errors go.
pub const PKCE_LINK_PREFIX: &str = "pkce_";

/// How the verifier is turned into the challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeMethod {
    /// base64url(SHA-256(verifier)), unpadded.
    S256,
    /// The verifier itself; refused unless the operator enables it.
    Plain,
}

impl ChallengeMethod {
    /// Stored and wire name (Supabase Auth's lowercase spelling).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "s256",
            Self::Plain => "plain",
        }
    }

    /// Reads a name, case-insensitively.
    pub fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "s256" => Some(Self::S256),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// Why a challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Only one of `code_challenge` and `code_challenge_method` was given.
    #[error("code_challenge and code_challenge_method go together")]
    Incomplete,
    /// The method is neither `s256` nor `plain`.
    #[error("code_challenge_method must be s256 or plain")]
    UnknownMethod,
    /// `plain` while the operator has not enabled it.
    #[error("code_challenge_method plain is not enabled on this server; use s256")]
    PlainRefused,
    /// Not 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
    #[error("code_challenge must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'")]
    Malformed,
}

/// A client's code challenge, checked on construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge {
    method: ChallengeMethod,
    value: String,
}

fn well_formed(text: &str) -> bool {
    (MIN_LEN..=MAX_LEN).contains(&text.len())
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl CodeChallenge {
    /// Reads the request's `code_challenge` and `code_challenge_method`: `None` when neither is
    /// given (the implicit flow, which auth-js sends as two nulls).
    pub fn from_request(
        challenge: Option<&str>,
        method: Option<&str>,
        allow_plain: bool,
    ) -> Result<Option<Self>, ChallengeError> {
        fn given(value: Option<&str>) -> Option<&str> {
            value.map(str::trim).filter(|v| !v.is_empty())
        }
        match (given(challenge), given(method)) {
            (None, None) => Ok(None),
            (Some(challenge), Some(method)) => {
                let method = ChallengeMethod::parse(method).ok_or(ChallengeError::UnknownMethod)?;
                if method == ChallengeMethod::Plain && !allow_plain {
                    return Err(ChallengeError::PlainRefused);
                }
                Self::new(method, challenge).map(Some)
            }
            _ => Err(ChallengeError::Incomplete),
        }
    }

    /// A challenge of a known method, as stored.
    pub fn new(method: ChallengeMethod, value: &str) -> Result<Self, ChallengeError> {
        if !well_formed(value) {
            return Err(ChallengeError::Malformed);
        }
        Ok(Self { method, value: value.to_owned() })
    }

    /// The method.
    pub fn method(&self) -> ChallengeMethod {
        self.method
    }

    /// The challenge as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// Whether `verifier` is the one this challenge was made from (compared in constant time).
    pub fn accepts(&self, verifier: &str) -> bool {
        if !well_formed(verifier) {
            return false;
        }
        let expected = match self.method {
            ChallengeMethod::S256 => URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())),
            ChallengeMethod::Plain => verifier.to_owned(),
        };
        expected.as_bytes().ct_eq(self.value.as_bytes()).into()
    }
}

/// A one-time code handed to the browser in place of a session, waiting to be exchanged
/// (`POST /token?grant_type=pkce`). Only its digest is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// Digest of the code.
    pub digest: TokenDigest,
    /// Who it signs in.
    pub user_id: UserId,
    /// The challenge the exchange must answer.
    pub challenge: CodeChallenge,
    /// How the user proved themselves (the session's `amr`).
    pub auth_method: AuthMethod,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// After this it cannot be exchanged.
    pub expires_at: DateTime<Utc>,
}

/// An auth code as it goes into the redirect; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthCodeSecret(String);

impl AuthCodeSecret {
    /// The code for the redirect URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AuthCodeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthCodeSecret(..)")
    }
}

impl AuthCode {
    /// Draws a 256-bit code for `user`, valid for `ttl` from `now`.
    pub fn issue(
        random: &dyn Random,
        user_id: UserId,
        challenge: CodeChallenge,
        auth_method: AuthMethod,
        now: DateTime<Utc>,
        ttl: Duration,
    ) -> Result<(AuthCodeSecret, Self), RandomError> {
        let mut bytes = [0u8; AUTH_CODE_BYTES];
        random.fill(&mut bytes)?;
        let secret = AuthCodeSecret(URL_SAFE_NO_PAD.encode(bytes));
        let code = Self {
            digest: auth_code_digest(secret.as_str()),
            user_id,
            challenge,
            auth_method,
            created_at: now,
            expires_at: now + ttl,
        };
        Ok((secret, code))
    }
}

/// Digest of an auth code as presented.
pub fn auth_code_digest(presented: &str) -> TokenDigest {
    TokenDigest::of(presented.trim().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SequentialRandom;

    // RFC 7636, appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn s256_accepts_only_its_verifier() {
        let challenge = CodeChallenge::from_request(Some(CHALLENGE), Some("S256"), false).unwrap().unwrap();
        assert_eq!(challenge.method(), ChallengeMethod::S256);
        assert!(challenge.accepts(VERIFIER));
        assert!(!challenge.accepts(&VERIFIER.replace('d', "e")));
        assert!(!challenge.accepts(CHALLENGE));
        assert!(!challenge.accepts("short"));
    }

    #[test]
    fn plain_needs_the_operator() {
        assert_eq!(
            CodeChallenge::from_request(Some(VERIFIER), Some("plain"), false),
            Err(ChallengeError::PlainRefused)
        );
        let plain = CodeChallenge::from_request(Some(VERIFIER), Some("plain"), true).unwrap().unwrap();
        assert!(plain.accepts(VERIFIER));
        assert!(!plain.accepts(CHALLENGE));
    }

    #[test]
    fn requests_without_pkce_and_bad_parameters() {
        assert_eq!(CodeChallenge::from_request(None, None, false), Ok(None));
        assert_eq!(CodeChallenge::from_request(Some(" "), Some(""), false), Ok(None));
        assert_eq!(CodeChallenge::from_request(Some(CHALLENGE), None, false), Err(ChallengeError::Incomplete));
        assert_eq!(CodeChallenge::from_request(None, Some("s256"), false), Err(ChallengeError::Incomplete));
        assert_eq!(
            CodeChallenge::from_request(Some(CHALLENGE), Some("md5"), false),
            Err(ChallengeError::UnknownMethod)
        );
        assert_eq!(CodeChallenge::from_request(Some("abc"), Some("s256"), false), Err(ChallengeError::Malformed));
        let spaced = format!("{} {}", &CHALLENGE[..20], &CHALLENGE[21..]);
        assert_eq!(CodeChallenge::from_request(Some(&spaced), Some("s256"), false), Err(ChallengeError::Malformed));
    }

    #[test]
    fn auth_codes_are_random_and_stored_as_digests() {
        let random = SequentialRandom::default();
        let challenge = CodeChallenge::new(ChallengeMethod::S256, CHALLENGE).unwrap();
        let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
        let user = UserId::from_uuid(uuid::Uuid::from_u128(7));
        let (secret, code) =
            AuthCode::issue(&random, user, challenge.clone(), AuthMethod::Magiclink, now, Duration::minutes(5))
                .unwrap();
        let (other, _) =
            AuthCode::issue(&random, user, challenge, AuthMethod::Magiclink, now, Duration::minutes(5)).unwrap();
        assert_ne!(secret, other);
        assert_eq!(secret.as_str().len(), 43);
        assert_eq!(code.digest, auth_code_digest(secret.as_str()));
        assert_eq!(code.expires_at - code.created_at, Duration::minutes(5));
        assert_eq!(format!("{secret:?}"), "AuthCodeSecret(..)");
    }
}
