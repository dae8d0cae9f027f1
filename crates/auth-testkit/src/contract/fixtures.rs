//! What the cases share: the types they use and builders of users, sessions, tokens and mails.

pub(super) use std::sync::Arc;

pub(super) use auth_core::domain::{
    Aal, Actor, AuditAction, AuditEvent, AuthCode, AuthMethod, ChallengeMethod, CodeChallenge, Contact, Email,
    ExpiryReason, KeyMaterial, KeyPurpose, MailKind, Metadata, OneTimeKind, OneTimeToken, Outgoing, OutgoingMail,
    OutgoingSms, PasswordHash, Phone, RefreshToken, Rotation, RotationOutcome, Session, SessionId, SessionLimits,
    SmsChannel, StoredKey, TokenDigest, User, UserChange, UserId, UserQuery, Username,
};
pub(super) use auth_core::ports::{CodeQuota, Mail, Redemption, SessionPrune, StoreError, UniqueField};
pub(super) use chrono::{DateTime, Duration, TimeZone, Utc};
pub(super) use futures_util::future::join_all;
pub(super) use serde_json::json;
pub(super) use uuid::Uuid;

pub(super) use super::Store;

/// An audit event of `user` acting on their own account at [`t0`], as a use case hands it to a
/// write that records it.
pub(super) fn event_by(user: &User, action: AuditAction) -> AuditEvent {
    AuditEvent {
        id: 0,
        at: t0(),
        action,
        actor: Actor::User(user.id),
        target: Some(user.id),
        ip: Some("192.0.2.7".into()),
        user_agent: Some("contract".into()),
        details: json!({"provider": "email"}),
    }
}

/// The actions in the audit log, oldest first.
pub(super) async fn audited(store: &Arc<impl Store>) -> Vec<AuditAction> {
    let mut events = store.list_events(0, 100).await.unwrap();
    events.reverse();
    events.into_iter().map(|e| e.action).collect()
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

pub(super) fn user(n: u128, email: Option<&str>, username: Option<&str>) -> User {
    User {
        id: UserId::from_uuid(Uuid::from_u128(n)),
        aud: "authenticated".into(),
        role: "authenticated".into(),
        email: email.map(|e| Email::parse(e).unwrap()),
        phone: None,
        username: username.map(|u| Username::parse(u).unwrap()),
        password_hash: Some(PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")),
        email_confirmed_at: None,
        phone_confirmed_at: None,
        confirmation_sent_at: None,
        app_metadata: Metadata::from_value(json!({"provider": "email", "providers": ["email"]}), 1024).unwrap(),
        user_metadata: Metadata::new(),
        banned_until: None,
        is_anonymous: false,
        last_sign_in_at: None,
        created_at: t0() + Duration::seconds(n as i64),
        updated_at: t0() + Duration::seconds(n as i64),
        mail: Default::default(),
        deleted_at: None,
    }
}

pub(super) fn session(n: u128, user: &User, created_at: DateTime<Utc>) -> Session {
    Session {
        id: SessionId::from_uuid(Uuid::from_u128(1_000_000 + n)),
        user_id: user.id,
        created_at,
        refreshed_at: None,
        not_after: None,
        aal: Aal::Aal1,
        auth_method: AuthMethod::Password,
        user_agent: Some("contract-suite/1.0".into()),
        ip: Some("203.0.113.7".into()),
        revoked_at: None,
        mfa: None,
    }
}

pub(super) fn token(name: &str) -> RefreshToken {
    RefreshToken::presented(name).unwrap()
}

pub(super) fn rotation(presented: &str, successor: &str, now: DateTime<Utc>) -> Rotation {
    Rotation {
        presented: token(presented).digest(),
        successor: token(successor).digest(),
        now,
        reuse_interval: Duration::seconds(10),
        lost_answer_window: Duration::zero(),
        limits: SessionLimits::default(),
        audit: None,
    }
}

/// A user with one session whose first token is `t0-token`, started at [`t0`].
pub(super) async fn signed_in(store: &Arc<impl Store>) -> (User, Session) {
    let user = user(1, Some("alice@example.com"), Some("alice"));
    store.create_user(&user).await.unwrap();
    let session = session(1, &user, t0());
    store.start_session(&session, &token("t0-token").digest(), &[]).await.unwrap();
    (user, session)
}

pub(super) fn rotated(outcome: RotationOutcome) -> Session {
    match outcome {
        RotationOutcome::Rotated(renewal) => renewal.session,
        other => panic!("expected Rotated, got {other:?}"),
    }
}

pub(super) fn one_time(user: &User, kind: OneTimeKind, name: &str, at: DateTime<Utc>) -> OneTimeToken {
    OneTimeToken {
        user_id: user.id,
        kind,
        link_digest: TokenDigest::of(format!("link-{name}").as_bytes()),
        code_digest: TokenDigest::of(format!("code-{name}").as_bytes()),
        sent_to: Contact::Email(user.email.clone().unwrap()),
        relates_to: None,
        created_at: at,
        link_expires_at: at + Duration::hours(1),
        code_expires_at: at + Duration::minutes(10),
        pkce: None,
    }
}

pub(super) fn outgoing(kind: MailKind, mail: Mail) -> Outgoing {
    Outgoing::Mail(OutgoingMail { kind, mail })
}

pub(super) fn mail(to: &str, n: u32) -> Mail {
    Mail {
        to: Email::parse(to).unwrap(),
        subject: format!("subject {n}"),
        text: format!("code {n}"),
        html: format!("<p>code {n}</p>"),
        reference: None,
    }
}

/// Stores one token (and its mail) as the only secret of an issue, without a quota.
pub(super) async fn issue(
    store: &Arc<impl Store>,
    token: &OneTimeToken,
    mail: Option<Outgoing>,
) -> Result<bool, StoreError> {
    store.issue_tokens(token.user_id, &[(token.clone(), mail)], &[], None).await
}

/// The sign-in a used secret writes: confirmed now, signed in now.
pub(super) fn signed_in_at(at: DateTime<Utc>) -> UserChange {
    UserChange {
        email_confirmed_at: Some(Some(at)),
        last_sign_in_at: Some(at),
        updated_at: Some(at),
        ..UserChange::default()
    }
}

/// `user` after `change`.
pub(super) fn after(user: &User, change: &UserChange) -> User {
    let mut changed = user.clone();
    change.apply_to(&mut changed);
    changed
}
