use serde_json::{Value, json};

use super::{AuthService, ClientInfo};
use crate::domain::{
    Actor, AuditAction, AuditEvent, BanDuration, Email, Metadata, Password, PasswordHash, Phone, Session, SessionId,
    User, UserChange, UserId, UserQuery, Username,
};
use crate::error::{AuthError, MissingRow};

/// What an operator sets on a user; absent fields stay as they are (or take their defaults on
/// creation).
#[derive(Debug, Clone, Default)]
pub struct AdminUserAttributes {
    /// The new user's id (creation only); generated when absent.
    pub id: Option<UserId>,
    /// Email address, applied directly (no confirmation mail).
    pub email: Option<String>,
    /// Phone number, applied directly.
    pub phone: Option<String>,
    /// Username; an empty string removes it.
    pub username: Option<String>,
    /// A new password (the policy applies); every session of the user ends.
    pub password: Option<Password>,
    /// A password hash made elsewhere (bcrypt or argon2, within the hasher's cost bounds),
    /// stored as it is, instead of `password`.
    pub password_hash: Option<PasswordHash>,
    /// `true` marks the email address confirmed now.
    pub email_confirm: Option<bool>,
    /// `true` marks the phone number confirmed now.
    pub phone_confirm: Option<bool>,
    /// Merged into `user_metadata` (a key set to null is removed).
    pub user_metadata: Option<Value>,
    /// Merged into `app_metadata`.
    pub app_metadata: Option<Value>,
    /// `24h`-style duration or `none`; a ban ends every session at once.
    pub ban_duration: Option<String>,
    /// Database role written into the user's tokens.
    pub role: Option<String>,
}

/// One page of users and how many match in all.
#[derive(Debug, Clone)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<User>,
    /// Users matching the filter, on every page.
    pub total: u64,
}

impl AuthService {
    /// Checks administrator credentials: a token of this server naming the service role. A
    /// token that belongs to a session must also have a live session, and its user must hold
    /// the service role now and not be banned.
    pub async fn authorize_admin(&self, token: &str) -> Result<(), AuthError> {
        let now = self.ports.clock.now();
        let claims = self.ports.signer.verify(token, now.timestamp()).map_err(AuthError::BadJwt)?;
        if claims.role != self.settings.roles.service {
            return Err(AuthError::NotAdmin);
        }
        if let Some(session_id) = claims.session_id {
            let session = self.ports.sessions.find_session(session_id).await?.ok_or(AuthError::SessionNotFound)?;
            let owner_matches = session.user_id.to_string() == claims.sub;
            if !owner_matches || !session.is_active(now, &self.settings.session_limits) {
                return Err(AuthError::SessionNotFound);
            }
            // The claim is what the role was when the token was signed: an operator may have
            // demoted or banned the user since.
            let user = self.ports.users.find_user(session.user_id).await?.ok_or(AuthError::SessionNotFound)?;
            if user.role != self.settings.roles.service || user.is_banned(now) {
                return Err(AuthError::NotAdmin);
            }
        }
        Ok(())
    }

    /// A page of users matching `query`, with the total count.
    pub async fn admin_list_users(&self, query: &UserQuery) -> Result<UserPage, AuthError> {
        let users = self.ports.users.list_users(query).await?;
        let total = self.ports.users.count_users(query).await?;
        Ok(UserPage { users, total })
    }

    /// The user with this id.
    pub async fn admin_get_user(&self, id: UserId) -> Result<User, AuthError> {
        self.ports.users.find_user(id).await?.ok_or(AuthError::UserNotFound)
    }

    /// The user named by an id, an email address (with `@`) or a username.
    pub async fn admin_find_user(&self, name: &str) -> Result<User, AuthError> {
        let name = name.trim();
        let found = if let Ok(id) = name.parse::<UserId>() {
            self.ports.users.find_user(id).await?
        } else if name.contains('@') {
            self.ports.users.find_user_by_email(&Email::parse(name)?).await?
        } else {
            self.ports.users.find_user_by_username(&Username::parse(name)?).await?
        };
        found.ok_or(AuthError::UserNotFound)
    }

    /// Creates a user as an operator: email, phone or username required; no confirmation mail.
    pub async fn admin_create_user(
        &self,
        attributes: AdminUserAttributes,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let now = self.ports.clock.now();
        let email = non_empty(attributes.email.as_deref()).map(Email::parse).transpose()?;
        let phone = non_empty(attributes.phone.as_deref()).map(Phone::parse).transpose()?;
        let username = non_empty(attributes.username.as_deref()).map(Username::parse).transpose()?;
        if email.is_none() && phone.is_none() && username.is_none() {
            return Err(AuthError::Validation {
                field: "email",
                message: "a user needs an email address, a phone number or a username".into(),
            });
        }
        let provider = if email.is_some() || username.is_some() { "email" } else { "phone" };
        let mut app_metadata = Metadata::new();
        app_metadata.insert("provider", Value::from(provider));
        app_metadata.insert("providers", Value::from(vec![provider]));
        let id = match attributes.id {
            Some(id) if id.as_uuid().is_nil() => {
                return Err(AuthError::Validation { field: "id", message: "id cannot be a nil UUID".into() });
            }
            Some(id) => id,
            None => UserId::generate(self.ports.random.as_ref())?,
        };
        let mut user = User {
            id,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email_confirmed_at: None,
            email,
            phone,
            username,
            password_hash: None,
            phone_confirmed_at: None,
            confirmation_sent_at: None,
            app_metadata,
            user_metadata: Metadata::new(),
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
            mail: Default::default(),
            deleted_at: None,
        };
        let changes = self.apply(&mut user, &mut UserChange::default(), attributes, now).await?;
        match self.ports.users.create_user(&user).await {
            // Only an id the operator chose can be taken.
            Err(crate::ports::StoreError::Conflict(crate::ports::UniqueField::Id)) => {
                return Err(AuthError::UserAlreadyExists);
            }
            other => other?,
        }
        let details = json!({ "fields": changes.fields });
        self.audit(AuditAction::AdminUserCreated, Actor::Admin, Some(user.id), client, details).await;
        if changes.banned == Some(true) {
            self.audit(AuditAction::AdminUserBanned, Actor::Admin, Some(user.id), client, json!({})).await;
        }
        Ok(user)
    }

    /// Changes a user as an operator. A new password, a ban, or a changed role or `app_metadata`
    /// ends every session of the user.
    pub async fn admin_update_user(
        &self,
        id: UserId,
        attributes: AdminUserAttributes,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let now = self.ports.clock.now();
        let mut preview = self.admin_get_user(id).await?;
        let mut change = UserChange::at(now);
        let changes = self.apply(&mut preview, &mut change, attributes, now).await?;
        // Only the fields the operator set are written: a concurrent change of the others
        // (the user's own new password, another operator's ban) stays.
        let stored = self.ports.users.change_user(id, &change).await.or_missing(AuthError::UserNotFound)?;
        let user = stored.ok_or(AuthError::UserNotFound)?;
        // What the user's tokens claim (their role, their app_metadata, which row-level
        // policies read) must not outlive the operator's change, nor a password or a ban.
        if changes.password || changes.banned == Some(true) || changes.claims {
            self.ports.sessions.revoke_user_sessions(id, None, now).await?;
        }
        let target = Some(id);
        if !changes.fields.is_empty() {
            let details = json!({ "fields": changes.fields });
            self.audit(AuditAction::AdminUserUpdated, Actor::Admin, target, client, details).await;
        }
        if changes.password {
            self.audit(AuditAction::AdminPasswordSet, Actor::Admin, target, client, json!({})).await;
        }
        match changes.banned {
            Some(true) => {
                let details = json!({ "banned_until": user.banned_until });
                self.audit(AuditAction::AdminUserBanned, Actor::Admin, target, client, details).await;
            }
            Some(false) => self.audit(AuditAction::AdminUserUnbanned, Actor::Admin, target, client, json!({})).await,
            None => {}
        }
        Ok(user)
    }

    /// Deletes a user with every session and token, returning the user as it was. A `soft`
    /// deletion keeps the row, emptied and marked `deleted_at` (Supabase Auth's
    /// `should_soft_delete`), so the application's rows that refer to it stay; a user already
    /// soft-deleted is not found for another one.
    pub async fn admin_delete_user(&self, id: UserId, soft: bool, client: &ClientInfo) -> Result<User, AuthError> {
        let user = self.admin_get_user(id).await?;
        let deleted = if soft {
            self.ports.users.soft_delete_user(id, self.ports.clock.now()).await?
        } else {
            self.ports.users.delete_user(id).await?
        };
        if !deleted {
            return Err(AuthError::UserNotFound);
        }
        let details = json!({ "soft": soft });
        self.audit(AuditAction::AdminUserDeleted, Actor::Admin, Some(id), client, details).await;
        Ok(user)
    }

    /// Ends every session of a user; returns how many were live.
    pub async fn admin_logout_user(&self, id: UserId, client: &ClientInfo) -> Result<u64, AuthError> {
        self.admin_get_user(id).await?;
        let ended = self.ports.sessions.revoke_user_sessions(id, None, self.ports.clock.now()).await?;
        let details = json!({ "sessions": ended });
        self.audit(AuditAction::AdminSessionsRevoked, Actor::Admin, Some(id), client, details).await;
        Ok(ended)
    }

    /// A user's live sessions, oldest first.
    pub async fn admin_list_sessions(&self, id: UserId) -> Result<Vec<Session>, AuthError> {
        self.admin_get_user(id).await?;
        Ok(self.ports.sessions.list_sessions(id).await?)
    }

    /// Ends one session.
    pub async fn admin_revoke_session(&self, id: SessionId, client: &ClientInfo) -> Result<(), AuthError> {
        let session = self.ports.sessions.find_session(id).await?.ok_or(AuthError::SessionNotFound)?;
        if !self.ports.sessions.revoke_session(id, self.ports.clock.now()).await? {
            return Err(AuthError::SessionNotFound);
        }
        let details = json!({ "session_id": id.to_string() });
        self.audit(AuditAction::AdminSessionsRevoked, Actor::Admin, Some(session.user_id), client, details).await;
        Ok(())
    }

    /// Audit events, newest first, with the total count.
    pub async fn audit_events(&self, offset: u64, limit: u64) -> Result<(Vec<AuditEvent>, u64), AuthError> {
        let events = self.ports.audit.list_events(offset, limit).await?;
        let total = self.ports.audit.count_events().await?;
        Ok((events, total))
    }

    /// Records an event that happened outside the use cases (a key rotation at the command line).
    pub async fn record_admin_event(&self, action: AuditAction, client: &ClientInfo, details: Value) {
        self.audit(action, Actor::Admin, None, client, details).await;
    }

    /// Applies `attributes` to `user` (a preview, for the checks that look at the whole
    /// account) and to `change` (what is written), validating each; nothing is stored here.
    async fn apply(
        &self,
        user: &mut User,
        change: &mut UserChange,
        attributes: AdminUserAttributes,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<AppliedChanges, AuthError> {
        let max = self.settings.metadata_max_bytes;
        let mut applied = AppliedChanges::default();
        if let Some(email) = non_empty(attributes.email.as_deref()) {
            let email = Email::parse(email)?;
            if user.email.as_ref() != Some(&email) {
                // A new address is unconfirmed until confirmed (`email_confirm`).
                user.email = Some(email.clone());
                user.email_confirmed_at = None;
                change.email = Some(email);
                change.email_confirmed_at = Some(None);
                applied.fields.push("email");
            }
        }
        if let Some(phone) = non_empty(attributes.phone.as_deref()) {
            let phone = Phone::parse(phone)?;
            if user.phone.as_ref() != Some(&phone) {
                user.phone = Some(phone.clone());
                change.phone = Some(phone);
                applied.fields.push("phone");
            }
        }
        if let Some(name) = attributes.username {
            user.username = non_empty(Some(&name)).map(Username::parse).transpose()?;
            super::account::keeps_sign_in_name(user)?;
            change.username = Some(user.username.clone());
            applied.fields.push("username");
        }
        if attributes.email_confirm == Some(true) && user.email.is_some() && user.email_confirmed_at.is_none() {
            user.email_confirmed_at = Some(now);
            change.email_confirmed_at = Some(Some(now));
            if let Some(verified) = user.user_metadata.email_verified() {
                user.user_metadata = verified;
                change.user_metadata = Some(user.user_metadata.clone());
            }
            applied.fields.push("email_confirmed_at");
        }
        // An anonymous account given a confirmed address is anonymous no longer.
        if user.is_anonymous && user.email.is_some() && user.email_confirmed_at.is_some() {
            user.is_anonymous = false;
            change.is_anonymous = Some(false);
        }
        if attributes.phone_confirm == Some(true) && user.phone.is_some() && user.phone_confirmed_at.is_none() {
            user.phone_confirmed_at = Some(now);
            change.phone_confirmed_at = Some(Some(now));
            applied.fields.push("phone_confirmed_at");
        }
        if let Some(data) = attributes.user_metadata {
            user.user_metadata.merge(Metadata::from_value(data, max)?, max)?;
            change.user_metadata = Some(user.user_metadata.clone());
            applied.fields.push("user_metadata");
        }
        if let Some(data) = attributes.app_metadata {
            let before = user.app_metadata.clone();
            user.app_metadata.merge(Metadata::from_value(data, max)?, max)?;
            applied.claims |= user.app_metadata != before;
            change.app_metadata = Some(user.app_metadata.clone());
            applied.fields.push("app_metadata");
        }
        if let Some(role) = attributes.role {
            let role = role.trim();
            let valid = !role.is_empty()
                && role.len() <= 63
                && role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !role.starts_with(|c: char| c.is_ascii_digit());
            if !valid {
                return Err(AuthError::Validation {
                    field: "role",
                    message: "a role is a database role name: letters, digits and '_', at most 63".into(),
                });
            }
            applied.claims |= user.role != role;
            user.role = role.to_owned();
            change.role = Some(user.role.clone());
            applied.fields.push("role");
        }
        if let Some(duration) = attributes.ban_duration {
            let duration = BanDuration::parse(&duration)
                .map_err(|e| AuthError::Validation { field: "ban_duration", message: e.to_string() })?;
            match duration {
                BanDuration::None => {
                    if user.is_banned(now) {
                        applied.banned = Some(false);
                    }
                    user.banned_until = None;
                }
                BanDuration::For(length) => {
                    applied.banned = Some(true);
                    user.banned_until = Some(now + length);
                }
            }
            change.banned_until = Some(user.banned_until);
        }
        if attributes.password.is_some() && attributes.password_hash.is_some() {
            return Err(AuthError::Validation {
                field: "password_hash",
                message: "Only a password or a password hash should be provided".into(),
            });
        }
        if let Some(hash) = attributes.password_hash {
            super::account::may_have_password(user)?;
            self.ports
                .hasher
                .check_stored(&hash)
                .map_err(|message| AuthError::Validation { field: "password_hash", message })?;
            user.password_hash = Some(hash);
            change.password_hash = Some(user.password_hash.clone());
            change.voids = super::account::VOIDED_BY_PASSWORD.to_vec();
            applied.password = true;
        }
        if let Some(password) = attributes.password {
            super::account::may_have_password(user)?;
            self.settings.password_policy.check(&password)?;
            user.password_hash = Some(self.ports.hasher.hash(&password).await?);
            change.password_hash = Some(user.password_hash.clone());
            // An operator's new password voids the secrets mailed before it, as the user's own does.
            change.voids = super::account::VOIDED_BY_PASSWORD.to_vec();
            applied.password = true;
        }
        Ok(applied)
    }
}

/// What [`AuthService::apply`] changed, for the audit log and the session rules.
#[derive(Debug, Default)]
struct AppliedChanges {
    fields: Vec<&'static str>,
    password: bool,
    /// The role or `app_metadata` changed: what the user's tokens claim is stale.
    claims: bool,
    /// `Some(true)` banned, `Some(false)` unbanned.
    banned: Option<bool>,
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}
