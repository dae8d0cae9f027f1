//! One GoTrue row as an authd user.

use auth_core::domain::{Email, MailState, Metadata, PasswordHash, Phone, User, UserId};
use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::{Defaults, HashAdmission};

/// One GoTrue row, read.
pub(crate) enum Converted {
    User { user: Box<User>, dropped: Option<Dropped> },
    Deleted,
    Sso,
}

/// Why a user's password hash was not carried over.
pub(crate) enum Dropped {
    /// A scheme authd does not read.
    Unreadable,
    /// More work than a sign-in may cost; the reason.
    TooCostly(String),
}

/// Whether authd's hasher reads a GoTrue hash: bcrypt (what GoTrue writes) and argon2 (what it
/// accepts from its own imports). Firebase scrypt and encrypted hashes are not read.
pub(crate) fn readable_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$argon2id$", "$argon2i$", "$argon2d$"].iter().any(|p| hash.starts_with(p))
}

/// A GoTrue row as an authd user, or why not (`(id, reason)`).
pub(crate) fn convert(row: &Row, defaults: &Defaults, admit: &HashAdmission) -> Result<Converted, (String, String)> {
    let id: uuid::Uuid = row.get("id");
    let refuse = |reason: String| (id.to_string(), reason);
    if row.get::<_, Option<DateTime<Utc>>>("deleted_at").is_some() {
        return Ok(Converted::Deleted);
    }
    if row.get::<_, bool>("is_sso_user") {
        return Ok(Converted::Sso);
    }
    let text = |name: &str| row.get::<_, Option<String>>(name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let email = text("email")
        .map(|e| Email::parse(&e))
        .transpose()
        .map_err(|e| refuse(format!("authd does not accept its email address: {e}")))?;
    let phone = text("phone")
        .map(|p| Phone::parse(&p))
        .transpose()
        .map_err(|e| refuse(format!("authd does not accept its phone number: {e}")))?;
    let (password_hash, dropped) = match text("encrypted_password") {
        None => (None, None),
        Some(hash) if !readable_hash(&hash) => (None, Some(Dropped::Unreadable)),
        Some(hash) => match admit.check(&hash) {
            Ok(()) => (Some(PasswordHash::new(hash)), None),
            Err(why) => (None, Some(Dropped::TooCostly(why))),
        },
    };
    let metadata = |name: &str| match row.get::<_, Option<serde_json::Value>>(name) {
        Some(value @ serde_json::Value::Object(_)) => Metadata::from_stored(value),
        _ => Metadata::new(),
    };
    let time = |name: &str| row.get::<_, Option<DateTime<Utc>>>(name);
    let created_at = time("created_at").or_else(|| time("updated_at")).unwrap_or(defaults.now);
    let user = User {
        id: UserId::from_uuid(id),
        aud: text("aud").unwrap_or_else(|| defaults.aud.clone()),
        role: text("role").unwrap_or_else(|| defaults.role.clone()),
        email,
        phone,
        username: None,
        password_hash,
        email_confirmed_at: time("email_confirmed_at"),
        phone_confirmed_at: time("phone_confirmed_at"),
        confirmation_sent_at: time("confirmation_sent_at"),
        app_metadata: metadata("raw_app_meta_data"),
        user_metadata: metadata("raw_user_meta_data"),
        banned_until: time("banned_until"),
        is_anonymous: row.get("is_anonymous"),
        last_sign_in_at: time("last_sign_in_at"),
        created_at,
        updated_at: time("updated_at").unwrap_or(created_at),
        // A pending email change is not carried (its secrets are GoTrue's), so neither is its time.
        mail: MailState {
            invited_at: time("invited_at"),
            recovery_sent_at: time("recovery_sent_at"),
            reauthentication_sent_at: time("reauthentication_sent_at"),
            ..MailState::default()
        },
        deleted_at: None,
    };
    Ok(Converted::User { user: Box::new(user), dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_authd_reads_are_kept() {
        assert!(readable_hash("$2a$10$abcdefghijklmnopqrstuv"));
        assert!(readable_hash("$2b$10$abcdefghijklmnopqrstuv"));
        assert!(readable_hash("$argon2id$v=19$m=19456,t=2,p=1$abc$def"));
        assert!(!readable_hash("$fbscrypt$v=1,n=14,r=8,p=1$abc$def"));
        assert!(!readable_hash("e:1:{\"key_id\":\"k\"}"));
    }
}
