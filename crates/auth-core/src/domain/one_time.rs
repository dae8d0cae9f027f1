use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{CodeChallenge, Contact, Email, TokenDigest, UserId};
use crate::ports::{Random, RandomError};

/// Random bytes behind an emailed link (256 bits).
const LINK_BYTES: usize = 32;
/// Digits of an emailed code.
pub const CODE_DIGITS: usize = 6;
/// Wrong codes a secret survives; the next wrong one deletes it, so a code cannot be guessed
/// (at most this many tries out of a million per mail).
pub const MAX_CODE_ATTEMPTS: u32 = 5;

/// What an emailed secret lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OneTimeKind {
    /// Confirm the address given at sign-up.
    Confirmation,
    /// Set a new password.
    Recovery,
    /// Sign in without a password.
    MagicLink,
    /// Accept an operator's invitation.
    Invite,
    /// Prove it is really the user before a password change (a code only).
    Reauthentication,
    /// Approve an email change, from the current address.
    EmailChangeCurrent,
    /// Confirm an email change, from the new address.
    EmailChangeNew,
    /// Confirm a phone number, or sign in with it: a code sent by SMS (Supabase Auth's
    /// `confirmation_token` of a phone user).
    PhoneConfirmation,
    /// Confirm a new phone number, from that number (by SMS).
    PhoneChange,
}

impl OneTimeKind {
    /// Every kind.
    pub const ALL: [Self; 9] = [
        Self::Confirmation,
        Self::Recovery,
        Self::MagicLink,
        Self::Invite,
        Self::Reauthentication,
        Self::EmailChangeCurrent,
        Self::EmailChangeNew,
        Self::PhoneConfirmation,
        Self::PhoneChange,
    ];

    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmation => "confirmation",
            Self::Recovery => "recovery",
            Self::MagicLink => "magiclink",
            Self::Invite => "invite",
            Self::Reauthentication => "reauthentication",
            Self::EmailChangeCurrent => "email_change_current",
            Self::EmailChangeNew => "email_change_new",
            Self::PhoneConfirmation => "phone_confirmation",
            Self::PhoneChange => "phone_change",
        }
    }

    /// Reads a stored name back.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A freshly drawn link token and code, as they go into the mail. Only their digests are
/// stored; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeSecret {
    link: String,
    code: String,
}

impl OneTimeSecret {
    /// Draws a 256-bit link token and a uniformly random 6-digit code.
    pub fn generate(random: &dyn Random) -> Result<Self, RandomError> {
        Self::generate_with_digits(random, CODE_DIGITS)
    }

    /// Draws a 256-bit link token and a uniformly random code of `digits` digits (at most 18;
    /// an SMS code's length is configurable). The link token of an SMS secret is never sent: it
    /// only keeps the stored row's link digest unique.
    pub fn generate_with_digits(random: &dyn Random, digits: usize) -> Result<Self, RandomError> {
        let digits = digits.clamp(1, 18);
        let mut bytes = [0u8; LINK_BYTES];
        random.fill(&mut bytes)?;
        let link = URL_SAFE_NO_PAD.encode(bytes);
        let modulus = 10u64.pow(u32::try_from(digits).unwrap_or(6));
        // Rejection sampling below the largest multiple of the modulus, so every code is
        // equally likely.
        let ceiling = u64::MAX - u64::MAX % modulus;
        let code = loop {
            let mut word = [0u8; 8];
            random.fill(&mut word)?;
            let n = u64::from_le_bytes(word);
            if n < ceiling {
                break format!("{:0width$}", n % modulus, width = digits);
            }
        };
        Ok(Self { link, code })
    }

    /// A secret whose code is the one given (a test number's fixed code), with a random link
    /// token.
    pub fn with_code(random: &dyn Random, code: &str) -> Result<Self, RandomError> {
        let drawn = Self::generate(random)?;
        Ok(Self { link: drawn.link, code: code.to_owned() })
    }

    /// The token that goes into the link.
    pub fn link(&self) -> &str {
        &self.link
    }

    /// The code the user can type.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Digest under which the link token is stored.
    pub fn link_digest(&self) -> TokenDigest {
        link_digest(&self.link)
    }
}

impl fmt::Debug for OneTimeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeSecret(..)")
    }
}

/// Digest of a link token as presented (the `token`/`token_hash` of a verify request).
pub fn link_digest(presented: &str) -> TokenDigest {
    TokenDigest::of(presented.trim().as_bytes())
}

/// Digest of a code for one user and kind, so equal codes of different users never collide.
pub fn code_digest(user: UserId, kind: OneTimeKind, code: &str) -> TokenDigest {
    let mut hasher = Sha256::new();
    hasher.update(b"authd-code\0");
    hasher.update(user.to_string().as_bytes());
    hasher.update(b"\0");
    hasher.update(kind.as_str().as_bytes());
    hasher.update(b"\0");
    hasher.update(code.trim().as_bytes());
    TokenDigest::from_array(hasher.finalize().into())
}

/// An emailed secret waiting to be used. At most one per user and kind: issuing a new one
/// replaces it, and using it deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    /// Whose it is.
    pub user_id: UserId,
    /// What it allows.
    pub kind: OneTimeKind,
    /// Digest of the link token.
    pub link_digest: TokenDigest,
    /// Digest of the code ([`code_digest`]).
    pub code_digest: TokenDigest,
    /// The address or number it was sent to.
    pub sent_to: Contact,
    /// The address being changed to, for email-change secrets.
    pub relates_to: Option<Email>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// After this the link no longer works.
    pub link_expires_at: DateTime<Utc>,
    /// After this the code no longer works.
    pub code_expires_at: DateTime<Utc>,
    /// The client's PKCE challenge: a link verified in the browser then lands with an auth
    /// code instead of a session.
    pub pkce: Option<CodeChallenge>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SequentialRandom;

    #[test]
    fn codes_are_six_digits_and_links_long() {
        let random = SequentialRandom::default();
        for _ in 0..50 {
            let secret = OneTimeSecret::generate(&random).unwrap();
            assert_eq!(secret.code().len(), CODE_DIGITS);
            assert!(secret.code().chars().all(|c| c.is_ascii_digit()));
            assert_eq!(secret.link().len(), 43);
            assert_eq!(secret.link_digest(), link_digest(secret.link()));
            let long = OneTimeSecret::generate_with_digits(&random, 10).unwrap();
            assert_eq!(long.code().len(), 10);
            assert!(long.code().chars().all(|c| c.is_ascii_digit()));
        }
        assert_eq!(format!("{:?}", OneTimeSecret::generate(&random).unwrap()), "OneTimeSecret(..)");
    }

    #[test]
    fn code_digests_depend_on_user_and_kind() {
        let a = UserId::from_uuid(uuid::Uuid::from_u128(1));
        let b = UserId::from_uuid(uuid::Uuid::from_u128(2));
        assert_ne!(code_digest(a, OneTimeKind::Recovery, "123456"), code_digest(b, OneTimeKind::Recovery, "123456"));
        assert_ne!(code_digest(a, OneTimeKind::Recovery, "123456"), code_digest(a, OneTimeKind::MagicLink, "123456"));
        assert_eq!(code_digest(a, OneTimeKind::Recovery, " 123456 "), code_digest(a, OneTimeKind::Recovery, "123456"));
    }
}
