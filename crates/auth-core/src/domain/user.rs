use std::fmt;

use chrono::{DateTime, Utc};

use super::{Email, Metadata, Phone, UserId, Username};

/// A password hash in PHC string form (`$argon2id$v=19$...`). Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by a hasher or read back from storage.
    pub fn new(phc: impl Into<String>) -> Self {
        Self(phc.into())
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// An account. Every field is plain data; the use cases in [`crate::service`] keep it coherent.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Stable id, the `sub` of its tokens.
    pub id: UserId,
    /// Audience its tokens are issued for.
    pub aud: String,
    /// Database role its tokens carry (PostgREST switches to it).
    pub role: String,
    /// Normalised email address, unique among users.
    pub email: Option<Email>,
    /// Phone number, unique among users.
    pub phone: Option<Phone>,
    /// Optional handle, unique case-insensitively.
    pub username: Option<Username>,
    /// Hash of the password; `None` for accounts without one (anonymous, invited).
    pub password_hash: Option<PasswordHash>,
    /// When the email address was confirmed.
    pub email_confirmed_at: Option<DateTime<Utc>>,
    /// When the phone number was confirmed.
    pub phone_confirmed_at: Option<DateTime<Utc>>,
    /// When the last confirmation message was sent.
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    /// Operator-controlled data; users can never write it.
    pub app_metadata: Metadata,
    /// User-controlled data (profile fields such as `first_name`).
    pub user_metadata: Metadata,
    /// Sign-in and token use are refused until this instant.
    pub banned_until: Option<DateTime<Utc>>,
    /// Created by anonymous sign-in; has no email, phone or password.
    pub is_anonymous: bool,
    /// Last time a session was started for the user.
    pub last_sign_in_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change to any field.
    pub updated_at: DateTime<Utc>,
    /// When its emailed secrets were last sent, and the pending email change.
    pub mail: MailState,
    /// When an operator soft-deleted the account (its contacts, password, metadata and
    /// sessions are gone; the row stays, so rows referring to it stay too).
    pub deleted_at: Option<DateTime<Utc>>,
}

/// When a user's emailed secrets were last sent, and the address a pending email change goes
/// to: Supabase Auth's columns of the same names, which its user object shows. (The
/// confirmation's time is [`User::confirmation_sent_at`].)
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MailState {
    /// The last invitation.
    pub invited_at: Option<DateTime<Utc>>,
    /// The last recovery link or magic link (Supabase Auth sends both as recovery secrets).
    pub recovery_sent_at: Option<DateTime<Utc>>,
    /// The address a pending email change goes to (`new_email`).
    pub email_change: Option<Email>,
    /// The last email-change mail.
    pub email_change_sent_at: Option<DateTime<Utc>>,
    /// The last reauthentication code.
    pub reauthentication_sent_at: Option<DateTime<Utc>>,
    /// The number a pending phone change goes to (`new_phone`).
    pub phone_change: Option<Phone>,
    /// The last phone-change code.
    pub phone_change_sent_at: Option<DateTime<Utc>>,
}

impl User {
    /// Whether a ban is in force at `now`.
    pub fn is_banned(&self, now: DateTime<Utc>) -> bool {
        self.banned_until.is_some_and(|until| until > now)
    }

    /// The earliest confirmation of any contact (Supabase Auth's `confirmed_at`).
    pub fn confirmed_at(&self) -> Option<DateTime<Utc>> {
        match (self.email_confirmed_at, self.phone_confirmed_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
