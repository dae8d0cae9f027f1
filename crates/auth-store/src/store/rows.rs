//! One row type per table, for both backends (the backend's `sql` column types
//! make that possible), and their conversion to and from domain entities.

use super::super::{Db, DbUuid, db_uuid, uuid};
use auth_core::domain::{
    Aal, Actor, AuditAction, AuditEvent, AuthCode, AuthMethod, ChallengeMethod, CodeChallenge, Contact, Email,
    FactorId, FactorType, KeyMaterial, KeyPurpose, MailKind, MailState, Metadata, MfaProof, OneTimeKind, OneTimeToken,
    Outgoing, OutgoingSms, PasswordHash, Phone, QueuedMail, QueuedSms, RefreshTokenRecord, Session, SessionId,
    SmsChannel, StoredKey, TokenDigest, User, UserChange, UserId, Username,
};
use auth_core::ports::StoreError;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;

use super::schema::{
    audit_log, auth_codes, mail_outbox, one_time_tokens, refresh_tokens, sessions, signing_keys, users,
};

/// A row of `users`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = users, check_for_backend(Db))]
pub struct UserRow {
    pub id: DbUuid,
    pub aud: String,
    pub role: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub username: Option<String>,
    pub encrypted_password: Option<String>,
    pub email_confirmed_at: Option<DateTime<Utc>>,
    pub phone_confirmed_at: Option<DateTime<Utc>>,
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    pub raw_app_meta_data: Value,
    pub raw_user_meta_data: Value,
    pub banned_until: Option<DateTime<Utc>>,
    pub is_anonymous: bool,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub invited_at: Option<DateTime<Utc>>,
    pub recovery_sent_at: Option<DateTime<Utc>>,
    pub email_change: Option<String>,
    pub email_change_sent_at: Option<DateTime<Utc>>,
    pub reauthentication_sent_at: Option<DateTime<Utc>>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub phone_change: Option<String>,
    pub phone_change_sent_at: Option<DateTime<Utc>>,
}

impl From<&User> for UserRow {
    fn from(user: &User) -> Self {
        Self {
            id: db_uuid(user.id.as_uuid()),
            aud: user.aud.clone(),
            role: user.role.clone(),
            email: user.email.as_ref().map(|e| e.as_str().to_owned()),
            phone: user.phone.as_ref().map(|p| p.as_str().to_owned()),
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            encrypted_password: user.password_hash.as_ref().map(|h| h.as_str().to_owned()),
            email_confirmed_at: user.email_confirmed_at,
            phone_confirmed_at: user.phone_confirmed_at,
            confirmation_sent_at: user.confirmation_sent_at,
            raw_app_meta_data: user.app_metadata.to_value(),
            raw_user_meta_data: user.user_metadata.to_value(),
            banned_until: user.banned_until,
            is_anonymous: user.is_anonymous,
            last_sign_in_at: user.last_sign_in_at,
            created_at: user.created_at,
            updated_at: user.updated_at,
            invited_at: user.mail.invited_at,
            recovery_sent_at: user.mail.recovery_sent_at,
            email_change: user.mail.email_change.as_ref().map(|e| e.as_str().to_owned()),
            email_change_sent_at: user.mail.email_change_sent_at,
            reauthentication_sent_at: user.mail.reauthentication_sent_at,
            deleted_at: user.deleted_at,
            phone_change: user.mail.phone_change.as_ref().map(|p| p.as_str().to_owned()),
            phone_change_sent_at: user.mail.phone_change_sent_at,
        }
    }
}

/// The columns of `users` a [`UserChange`] writes; `None` leaves a column as stored.
#[derive(AsChangeset)]
#[diesel(table_name = users, check_for_backend(Db))]
pub struct UserChangeRow {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub username: Option<Option<String>>,
    pub encrypted_password: Option<Option<String>>,
    pub email_confirmed_at: Option<Option<DateTime<Utc>>>,
    pub phone_confirmed_at: Option<Option<DateTime<Utc>>>,
    pub raw_app_meta_data: Option<Value>,
    pub raw_user_meta_data: Option<Value>,
    pub role: Option<String>,
    pub banned_until: Option<Option<DateTime<Utc>>>,
    pub last_sign_in_at: Option<DateTime<Utc>>,
    pub is_anonymous: Option<bool>,
    pub confirmation_sent_at: Option<DateTime<Utc>>,
    pub invited_at: Option<DateTime<Utc>>,
    pub recovery_sent_at: Option<DateTime<Utc>>,
    pub email_change: Option<Option<String>>,
    pub email_change_sent_at: Option<DateTime<Utc>>,
    pub reauthentication_sent_at: Option<DateTime<Utc>>,
    pub phone_change: Option<Option<String>>,
    pub phone_change_sent_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

impl From<&UserChange> for UserChangeRow {
    fn from(change: &UserChange) -> Self {
        let text = |s: &str| s.to_owned();
        Self {
            email: change.email.as_ref().map(|e| text(e.as_str())),
            phone: change.phone.as_ref().map(|p| text(p.as_str())),
            username: change.username.as_ref().map(|u| u.as_ref().map(|u| text(u.as_str()))),
            encrypted_password: change.password_hash.as_ref().map(|h| h.as_ref().map(|h| text(h.as_str()))),
            email_confirmed_at: change.email_confirmed_at,
            phone_confirmed_at: change.phone_confirmed_at,
            raw_app_meta_data: change.app_metadata.as_ref().map(Metadata::to_value),
            raw_user_meta_data: change.user_metadata.as_ref().map(Metadata::to_value),
            role: change.role.clone(),
            banned_until: change.banned_until,
            last_sign_in_at: change.last_sign_in_at,
            is_anonymous: change.is_anonymous,
            confirmation_sent_at: change.confirmation_sent_at,
            invited_at: change.invited_at,
            recovery_sent_at: change.recovery_sent_at,
            email_change: change.email_change.as_ref().map(|e| e.as_ref().map(|e| text(e.as_str()))),
            email_change_sent_at: change.email_change_sent_at,
            reauthentication_sent_at: change.reauthentication_sent_at,
            phone_change: change.phone_change.as_ref().map(|p| p.as_ref().map(|p| text(p.as_str()))),
            phone_change_sent_at: change.phone_change_sent_at,
            updated_at: change.updated_at,
        }
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            id: UserId::from_uuid(uuid(row.id)),
            aud: row.aud,
            role: row.role,
            email: row.email.map(|e| Email::parse(&e)).transpose().map_err(corrupt("users.email"))?,
            phone: row.phone.map(|p| Phone::parse(&p)).transpose().map_err(corrupt("users.phone"))?,
            username: row.username.map(|u| Username::parse(&u)).transpose().map_err(corrupt("users.username"))?,
            password_hash: row.encrypted_password.map(PasswordHash::new),
            email_confirmed_at: row.email_confirmed_at,
            phone_confirmed_at: row.phone_confirmed_at,
            confirmation_sent_at: row.confirmation_sent_at,
            app_metadata: Metadata::from_stored(row.raw_app_meta_data),
            user_metadata: Metadata::from_stored(row.raw_user_meta_data),
            banned_until: row.banned_until,
            is_anonymous: row.is_anonymous,
            last_sign_in_at: row.last_sign_in_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
            mail: MailState {
                invited_at: row.invited_at,
                recovery_sent_at: row.recovery_sent_at,
                email_change: row
                    .email_change
                    .map(|e| Email::parse(&e))
                    .transpose()
                    .map_err(corrupt("users.email_change"))?,
                email_change_sent_at: row.email_change_sent_at,
                reauthentication_sent_at: row.reauthentication_sent_at,
                phone_change: row
                    .phone_change
                    .map(|p| Phone::parse(&p))
                    .transpose()
                    .map_err(corrupt("users.phone_change"))?,
                phone_change_sent_at: row.phone_change_sent_at,
            },
            deleted_at: row.deleted_at,
        })
    }
}

/// A row of `sessions`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions, check_for_backend(Db))]
pub struct SessionRow {
    pub id: DbUuid,
    pub user_id: DbUuid,
    pub created_at: DateTime<Utc>,
    pub refreshed_at: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    pub aal: String,
    pub auth_method: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub mfa_factor_id: Option<DbUuid>,
    pub mfa_factor_type: Option<String>,
    pub mfa_verified_at: Option<DateTime<Utc>>,
}

impl From<&Session> for SessionRow {
    fn from(s: &Session) -> Self {
        Self {
            id: db_uuid(s.id.as_uuid()),
            user_id: db_uuid(s.user_id.as_uuid()),
            created_at: s.created_at,
            refreshed_at: s.refreshed_at,
            not_after: s.not_after,
            aal: s.aal.as_str().to_owned(),
            auth_method: s.auth_method.as_str().to_owned(),
            user_agent: s.user_agent.clone(),
            ip: s.ip.clone(),
            revoked_at: s.revoked_at,
            mfa_factor_id: s.mfa.as_ref().map(|m| db_uuid(m.factor_id.as_uuid())),
            mfa_factor_type: s.mfa.as_ref().map(|m| m.factor_type.as_str().to_owned()),
            mfa_verified_at: s.mfa.as_ref().map(|m| m.verified_at),
        }
    }
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self, StoreError> {
        Ok(Session {
            id: SessionId::from_uuid(uuid(row.id)),
            user_id: UserId::from_uuid(uuid(row.user_id)),
            created_at: row.created_at,
            refreshed_at: row.refreshed_at,
            not_after: row.not_after,
            aal: parsed(&row.aal, Aal::parse, "aal")?,
            auth_method: parsed(&row.auth_method, AuthMethod::parse, "auth method")?,
            user_agent: row.user_agent,
            ip: row.ip,
            revoked_at: row.revoked_at,
            mfa: match (row.mfa_factor_id, row.mfa_factor_type, row.mfa_verified_at) {
                (Some(id), Some(kind), Some(at)) => Some(MfaProof {
                    factor_id: FactorId::from_uuid(uuid(id)),
                    factor_type: parsed(&kind, FactorType::parse, "mfa factor type")?,
                    verified_at: at,
                }),
                _ => None,
            },
        })
    }
}

/// A row of `refresh_tokens`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens, check_for_backend(Db))]
pub struct TokenRow {
    /// Assigned by the database.
    #[diesel(skip_insertion)]
    pub id: i64,
    pub session_id: DbUuid,
    pub token_digest: Vec<u8>,
    pub parent: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl TryFrom<TokenRow> for RefreshTokenRecord {
    type Error = StoreError;

    fn try_from(row: TokenRow) -> Result<Self, StoreError> {
        Ok(RefreshTokenRecord {
            id: row.id,
            session_id: SessionId::from_uuid(uuid(row.session_id)),
            digest: digest(&row.token_digest)?,
            parent: row.parent,
            created_at: row.created_at,
            used_at: row.used_at,
            revoked_at: row.revoked_at,
        })
    }
}

impl TokenRow {
    /// Token `digest` of `session`, made at `at` to follow `parent` (none for a session's first).
    pub fn new(session: DbUuid, digest: &TokenDigest, parent: Option<i64>, at: DateTime<Utc>) -> Self {
        let token_digest = digest.as_bytes().to_vec();
        Self { id: 0, session_id: session, token_digest, parent, created_at: at, used_at: None, revoked_at: None }
    }
}

/// A stored value the domain refuses: the column and why.
fn corrupt<E: std::fmt::Display>(column: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Internal(format!("stored {column} is invalid: {e}"))
}

/// A stored name of one of the domain's enums (`parse` is its parser).
pub(super) fn parsed<T>(value: &str, parse: fn(&str) -> Option<T>, column: &'static str) -> Result<T, StoreError> {
    parse(value).ok_or_else(|| corrupt(column)(value))
}

/// A stored SHA-256 digest.
pub(super) fn digest(bytes: &[u8]) -> Result<TokenDigest, StoreError> {
    TokenDigest::from_slice(bytes).ok_or_else(|| corrupt("digest")("not 32 bytes"))
}

/// A row of `signing_keys`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys, check_for_backend(Db))]
pub struct KeyRow {
    pub kid: String,
    pub purpose: String,
    pub algorithm: String,
    pub material: String,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<&StoredKey> for KeyRow {
    fn from(key: &StoredKey) -> Self {
        Self {
            kid: key.kid.clone(),
            purpose: key.purpose.as_str().to_owned(),
            algorithm: key.algorithm.clone(),
            material: key.material.expose().to_owned(),
            created_at: key.created_at,
            activates_at: key.activates_at,
            retired_at: key.retired_at,
        }
    }
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self, StoreError> {
        Ok(StoredKey {
            purpose: parsed(&row.purpose, KeyPurpose::parse, "key purpose")?,
            kid: row.kid,
            algorithm: row.algorithm,
            material: KeyMaterial::new(row.material),
            created_at: row.created_at,
            activates_at: row.activates_at,
            retired_at: row.retired_at,
        })
    }
}

/// A row of `audit_log`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log, check_for_backend(Db))]
pub struct AuditRow {
    /// Assigned by the database.
    #[diesel(skip_insertion)]
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub action: String,
    pub actor: String,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

impl From<&AuditEvent> for AuditRow {
    fn from(event: &AuditEvent) -> Self {
        let actor = match &event.actor {
            Actor::User(id) => id.to_string(),
            Actor::Admin => "admin".to_owned(),
            Actor::Anonymous => "anonymous".to_owned(),
        };
        Self {
            id: event.id,
            created_at: event.at,
            action: event.action.as_str().to_owned(),
            actor,
            target_id: event.target.map(|id| id.to_string()),
            ip: event.ip.clone(),
            user_agent: event.user_agent.clone(),
            details: event.details.clone(),
        }
    }
}

impl TryFrom<AuditRow> for AuditEvent {
    type Error = StoreError;

    fn try_from(row: AuditRow) -> Result<Self, StoreError> {
        let bad = |what: &str| StoreError::Internal(format!("stored audit event {} has a bad {what}", row.id));
        let actor = match row.actor.as_str() {
            "admin" => Actor::Admin,
            "anonymous" => Actor::Anonymous,
            id => Actor::User(id.parse().map_err(|_| bad("actor"))?),
        };
        Ok(AuditEvent {
            id: row.id,
            at: row.created_at,
            action: AuditAction::parse(&row.action).ok_or_else(|| bad("action"))?,
            actor,
            target: row.target_id.as_deref().map(str::parse::<UserId>).transpose().map_err(|_| bad("target"))?,
            ip: row.ip,
            user_agent: row.user_agent,
            details: row.details,
        })
    }
}

/// A row of `one_time_tokens`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = one_time_tokens, check_for_backend(Db))]
pub struct OneTimeRow {
    pub user_id: DbUuid,
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

impl From<&OneTimeToken> for OneTimeRow {
    fn from(t: &OneTimeToken) -> Self {
        Self {
            user_id: db_uuid(t.user_id.as_uuid()),
            kind: t.kind.as_str().to_owned(),
            link_digest: t.link_digest.as_bytes().to_vec(),
            code_digest: t.code_digest.as_bytes().to_vec(),
            sent_to: t.sent_to.as_str().to_owned(),
            relates_to: t.relates_to.as_ref().map(|e| e.as_str().to_owned()),
            created_at: t.created_at,
            link_expires_at: t.link_expires_at,
            code_expires_at: t.code_expires_at,
            code_challenge: t.pkce.as_ref().map(|c| c.as_str().to_owned()),
            code_challenge_method: t.pkce.as_ref().map(|c| c.method().as_str().to_owned()),
        }
    }
}

impl TryFrom<OneTimeRow> for OneTimeToken {
    type Error = StoreError;

    fn try_from(r: OneTimeRow) -> Result<Self, StoreError> {
        Ok(Self {
            user_id: UserId::from_uuid(uuid(r.user_id)),
            kind: parsed(&r.kind, OneTimeKind::parse, "one-time kind")?,
            link_digest: digest(&r.link_digest)?,
            code_digest: digest(&r.code_digest)?,
            sent_to: Contact::parse_stored(&r.sent_to)
                .ok_or_else(|| corrupt("sent_to")("neither address nor number"))?,
            relates_to: r.relates_to.as_deref().map(Email::parse).transpose().map_err(corrupt("relates_to"))?,
            created_at: r.created_at,
            link_expires_at: r.link_expires_at,
            code_expires_at: r.code_expires_at,
            pkce: r.code_challenge.zip(r.code_challenge_method).map(|(c, m)| challenge_from(&c, &m)).transpose()?,
        })
    }
}

pub(super) fn challenge_from(challenge: &str, method: &str) -> Result<CodeChallenge, StoreError> {
    let method = parsed(method, ChallengeMethod::parse, "code challenge method")?;
    CodeChallenge::new(method, challenge).map_err(corrupt("code challenge"))
}

/// A row of `auth_codes`.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_codes, check_for_backend(Db))]
pub struct AuthCodeRow {
    pub code_digest: Vec<u8>,
    pub user_id: DbUuid,
    pub code_challenge: String,
    pub code_challenge_method: String,
    pub auth_method: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl From<&AuthCode> for AuthCodeRow {
    fn from(c: &AuthCode) -> Self {
        Self {
            code_digest: c.digest.as_bytes().to_vec(),
            user_id: db_uuid(c.user_id.as_uuid()),
            code_challenge: c.challenge.as_str().to_owned(),
            code_challenge_method: c.challenge.method().as_str().to_owned(),
            auth_method: c.auth_method.as_str().to_owned(),
            created_at: c.created_at,
            expires_at: c.expires_at,
        }
    }
}

impl TryFrom<AuthCodeRow> for AuthCode {
    type Error = StoreError;

    fn try_from(r: AuthCodeRow) -> Result<Self, StoreError> {
        Ok(Self {
            digest: digest(&r.code_digest)?,
            user_id: UserId::from_uuid(uuid(r.user_id)),
            challenge: challenge_from(&r.code_challenge, &r.code_challenge_method)?,
            auth_method: parsed(&r.auth_method, AuthMethod::parse, "auth method")?,
            created_at: r.created_at,
            expires_at: r.expires_at,
        })
    }
}

/// The columns of `mail_outbox` a queued message and its delivery need.
#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = mail_outbox, check_for_backend(Db))]
pub struct OutboxRow {
    /// Assigned by the database.
    #[diesel(skip_insertion)]
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub queued_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    pub attempts: i32,
    /// `email`, or the text message's channel (`sms`, `whatsapp`).
    pub channel: String,
}

/// The channel of mail in `mail_outbox` (text messages have theirs).
pub const EMAIL_CHANNEL: &str = "email";

impl OutboxRow {
    /// The message, mail or text, due at `at`.
    pub fn outgoing(outgoing: &Outgoing, at: DateTime<Utc>) -> Self {
        match outgoing {
            Outgoing::Mail(mail) => Self::new(mail.kind, &mail.mail, at),
            Outgoing::Sms(sms) => Self {
                id: 0,
                kind: sms.kind.as_str().to_owned(),
                recipient: sms.to.as_str().to_owned(),
                subject: String::new(),
                text_body: sms.text.clone(),
                html_body: String::new(),
                queued_at: at,
                next_attempt_at: at,
                attempts: 0,
                channel: sms.channel.as_str().to_owned(),
            },
        }
    }

    /// The mail, due at `at`.
    pub fn new(kind: MailKind, mail: &auth_core::ports::Mail, at: DateTime<Utc>) -> Self {
        Self {
            channel: EMAIL_CHANNEL.to_owned(),
            id: 0,
            kind: kind.as_str().to_owned(),
            recipient: mail.to.as_str().to_owned(),
            subject: mail.subject.clone(),
            text_body: mail.text.clone(),
            html_body: mail.html.clone(),
            queued_at: at,
            next_attempt_at: at,
            attempts: 0,
        }
    }
}

impl TryFrom<OutboxRow> for QueuedSms {
    type Error = StoreError;

    fn try_from(r: OutboxRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            sms: OutgoingSms {
                kind: parsed(&r.kind, OneTimeKind::parse, "text message kind")?,
                to: Phone::parse(&r.recipient).map_err(corrupt("recipient"))?,
                text: r.text_body,
                channel: parsed(&r.channel, SmsChannel::parse, "channel")?,
            },
            attempts: u32::try_from(r.attempts).unwrap_or_default(),
            queued_at: r.queued_at,
        })
    }
}

impl TryFrom<OutboxRow> for QueuedMail {
    type Error = StoreError;

    fn try_from(r: OutboxRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            kind: parsed(&r.kind, MailKind::parse, "mail kind")?,
            mail: auth_core::ports::Mail {
                to: Email::parse(&r.recipient).map_err(corrupt("recipient"))?,
                subject: r.subject,
                text: r.text_body,
                html: r.html_body,
                reference: None,
            },
            attempts: u32::try_from(r.attempts).unwrap_or_default(),
            queued_at: r.queued_at,
        })
    }
}
