//! SQLite's rows: UUIDs as 16-byte blobs and JSON as text, converted through the portable rows.

use auth_core::ports::StoreError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::schema::{
    audit_log, auth_codes, mail_outbox, one_time_tokens, refresh_tokens, sessions, signing_keys, users,
};
use crate::rows::{
    AuditRow, AuthCodeRow, KeyRow, NewAuditRow, NewOutboxRow, NewTokenRow, OneTimeRow, OutboxRow, SessionRow, TokenRow,
    UserRow,
};

fn uuid(bytes: &[u8]) -> Result<Uuid, StoreError> {
    Uuid::from_slice(bytes).map_err(|e| StoreError::Internal(format!("stored id is not a UUID: {e}")))
}

fn json(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Internal(format!("stored metadata is not JSON: {e}")))
}

/// A row of `users`.
#[derive(Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = users, check_for_backend(diesel::sqlite::Sqlite), treat_none_as_null = true)]
pub struct SqliteUserRow {
    pub id: Vec<u8>,
    pub aud: String,
    pub role: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub username: Option<String>,
    pub encrypted_password: Option<String>,
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub phone_confirmed_at: Option<DateTime<Utc>>,
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    pub raw_app_meta_data: String,
    pub raw_user_meta_data: String,
    pub banned_until: Option<DateTime<Utc>>,
    pub is_anonymous: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for SqliteUserRow {
    fn from(r: UserRow) -> Self {
        Self {
            id: r.id.as_bytes().to_vec(),
            aud: r.aud,
            role: r.role,
            email: r.email,
            phone: r.phone,
            username: r.username,
            encrypted_password: r.encrypted_password,
            email_confirmed_at: r.email_confirmed_at,
            phone_confirmed_at: r.phone_confirmed_at,
            confirmation_sent_at: r.confirmation_sent_at,
            raw_app_meta_data: r.raw_app_meta_data.to_string(),
            raw_user_meta_data: r.raw_user_meta_data.to_string(),
            banned_until: r.banned_until,
            is_anonymous: r.is_anonymous,
            last_sign_in_at: r.last_sign_in_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

impl TryFrom<SqliteUserRow> for UserRow {
    type Error = StoreError;

    fn try_from(r: SqliteUserRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid(&r.id)?,
            aud: r.aud,
            role: r.role,
            email: r.email,
            phone: r.phone,
            username: r.username,
            encrypted_password: r.encrypted_password,
            email_confirmed_at: r.email_confirmed_at,
            phone_confirmed_at: r.phone_confirmed_at,
            confirmation_sent_at: r.confirmation_sent_at,
            raw_app_meta_data: json(&r.raw_app_meta_data)?,
            raw_user_meta_data: json(&r.raw_user_meta_data)?,
            banned_until: r.banned_until,
            is_anonymous: r.is_anonymous,
            last_sign_in_at: r.last_sign_in_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// A row of `sessions`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteSessionRow {
    pub id: Vec<u8>,
    pub user_id: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub aal: String,
    pub auth_method: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<SessionRow> for SqliteSessionRow {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id.as_bytes().to_vec(),
            user_id: r.user_id.as_bytes().to_vec(),
            created_at: r.created_at,
            refreshed_at: r.refreshed_at,
            not_after: r.not_after,
            aal: r.aal,
            auth_method: r.auth_method,
            user_agent: r.user_agent,
            ip: r.ip,
            revoked_at: r.revoked_at,
        }
    }
}

impl TryFrom<SqliteSessionRow> for SessionRow {
    type Error = StoreError;

    fn try_from(r: SqliteSessionRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: uuid(&r.id)?,
            user_id: uuid(&r.user_id)?,
            created_at: r.created_at,
            refreshed_at: r.refreshed_at,
            not_after: r.not_after,
            aal: r.aal,
            auth_method: r.auth_method,
            user_agent: r.user_agent,
            ip: r.ip,
            revoked_at: r.revoked_at,
        })
    }
}

/// A row of `refresh_tokens`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteTokenRow {
    pub id: i64,
    pub session_id: Vec<u8>,
    pub token_digest: Vec<u8>,
    pub parent: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<SqliteTokenRow> for TokenRow {
    type Error = StoreError;

    fn try_from(r: SqliteTokenRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            session_id: uuid(&r.session_id)?,
            token_digest: r.token_digest,
            parent: r.parent,
            created_at: r.created_at,
            used_at: r.used_at,
            revoked_at: r.revoked_at,
        })
    }
}

/// A new row of `refresh_tokens`.
#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct SqliteNewTokenRow {
    pub session_id: Vec<u8>,
    pub token_digest: Vec<u8>,
    pub parent: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<NewTokenRow> for SqliteNewTokenRow {
    fn from(r: NewTokenRow) -> Self {
        Self {
            session_id: r.session_id.as_bytes().to_vec(),
            token_digest: r.token_digest,
            parent: r.parent,
            created_at: r.created_at,
        }
    }
}

/// A row of `signing_keys`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteKeyRow {
    pub kid: String,
    pub purpose: String,
    pub algorithm: String,
    pub material: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
}

impl From<KeyRow> for SqliteKeyRow {
    fn from(r: KeyRow) -> Self {
        Self {
            kid: r.kid,
            purpose: r.purpose,
            algorithm: r.algorithm,
            material: r.material,
            created_at: r.created_at,
            activates_at: r.activates_at,
        }
    }
}

impl From<SqliteKeyRow> for KeyRow {
    fn from(r: SqliteKeyRow) -> Self {
        Self {
            kid: r.kid,
            purpose: r.purpose,
            algorithm: r.algorithm,
            material: r.material,
            created_at: r.created_at,
            activates_at: r.activates_at,
        }
    }
}

/// A row of `audit_log`.
#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteAuditRow {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub action: String,
    pub actor: String,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

impl TryFrom<SqliteAuditRow> for AuditRow {
    type Error = StoreError;

    fn try_from(r: SqliteAuditRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            created_at: r.created_at,
            action: r.action,
            actor: r.actor,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
            details: json(&r.details)?,
        })
    }
}

/// A new row of `audit_log`.
#[derive(Insertable)]
#[diesel(table_name = audit_log, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteNewAuditRow {
    pub created_at: DateTime<Utc>,
    pub action: String,
    pub actor: String,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
}

impl From<NewAuditRow> for SqliteNewAuditRow {
    fn from(r: NewAuditRow) -> Self {
        Self {
            created_at: r.created_at,
            action: r.action,
            actor: r.actor,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
            details: r.details.to_string(),
        }
    }
}

/// A row of `one_time_tokens`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_tokens, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteOneTimeRow {
    pub user_id: Vec<u8>,
    pub kind: String,
    pub link_digest: Vec<u8>,
    pub code_digest: Vec<u8>,
    pub sent_to: String,
    pub relates_to: Option<String>,
    pub created_at: DateTime<Utc>,
    pub link_expires_at: DateTime<Utc>,
    pub code_expires_at: DateTime<Utc>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

impl From<OneTimeRow> for SqliteOneTimeRow {
    fn from(r: OneTimeRow) -> Self {
        Self {
            user_id: r.user_id.as_bytes().to_vec(),
            kind: r.kind,
            link_digest: r.link_digest,
            code_digest: r.code_digest,
            sent_to: r.sent_to,
            relates_to: r.relates_to,
            created_at: r.created_at,
            link_expires_at: r.link_expires_at,
            code_expires_at: r.code_expires_at,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
        }
    }
}

impl TryFrom<SqliteOneTimeRow> for OneTimeRow {
    type Error = StoreError;

    fn try_from(r: SqliteOneTimeRow) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: uuid(&r.user_id)?,
            kind: r.kind,
            link_digest: r.link_digest,
            code_digest: r.code_digest,
            sent_to: r.sent_to,
            relates_to: r.relates_to,
            created_at: r.created_at,
            link_expires_at: r.link_expires_at,
            code_expires_at: r.code_expires_at,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
        })
    }
}

/// A row of `auth_codes`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_codes, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteAuthCodeRow {
    pub code_digest: Vec<u8>,
    pub user_id: Vec<u8>,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub auth_method: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<AuthCodeRow> for SqliteAuthCodeRow {
    fn from(r: AuthCodeRow) -> Self {
        Self {
            code_digest: r.code_digest,
            user_id: r.user_id.as_bytes().to_vec(),
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
            auth_method: r.auth_method,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }
    }
}

impl TryFrom<SqliteAuthCodeRow> for AuthCodeRow {
    type Error = StoreError;

    fn try_from(r: SqliteAuthCodeRow) -> Result<Self, StoreError> {
        Ok(Self {
            code_digest: r.code_digest,
            user_id: uuid(&r.user_id)?,
            code_challenge: r.code_challenge,
            code_challenge_method: r.code_challenge_method,
            auth_method: r.auth_method,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

/// A new row of `mail_outbox`.
#[derive(Insertable)]
#[diesel(table_name = mail_outbox, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteNewOutboxRow {
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub queued_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
}

impl From<NewOutboxRow> for SqliteNewOutboxRow {
    fn from(r: NewOutboxRow) -> Self {
        Self {
            kind: r.kind,
            recipient: r.recipient,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            queued_at: r.queued_at,
            next_attempt_at: r.next_attempt_at,
        }
    }
}

/// The columns of `mail_outbox` a delivery needs.
#[derive(Queryable, Selectable)]
#[diesel(table_name = mail_outbox, check_for_backend(diesel::sqlite::Sqlite))]
pub struct SqliteOutboxRow {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub queued_at: DateTime<Utc>,
    pub attempts: i32,
}

impl From<SqliteOutboxRow> for OutboxRow {
    fn from(r: SqliteOutboxRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            recipient: r.recipient,
            subject: r.subject,
            text_body: r.text_body,
            html_body: r.html_body,
            queued_at: r.queued_at,
            attempts: r.attempts,
        }
    }
}
