use serde_json::{Value, json};

use super::{AuthService, ClientInfo, LinkOptions, Principal, password_throttle};
use crate::domain::{
    Actor, AuditAction, AuthMethod, Metadata, OneTimeKind, Password, PasswordHash, User, UserChange, Username,
};
use crate::error::{AuthError, MissingRow};
use crate::ports::PasswordCheck;

/// The emailed secrets a new password voids: whoever still holds one of them (a link read in
/// a mailbox rule, say) must not sign in with it after the owner changed the password.
pub(super) const VOIDED_BY_PASSWORD: [OneTimeKind; 3] =
    [OneTimeKind::MagicLink, OneTimeKind::Recovery, OneTimeKind::Reauthentication];

/// Which sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogoutScope {
    /// Every session of the user.
    #[default]
    Global,
    /// Only the caller's session.
    Local,
    /// Every session but the caller's.
    Others,
}

/// Changes a user asks for on their own account. Absent fields stay as they are.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    /// Merged into `user_metadata`; a key set to null is removed.
    pub data: Option<Value>,
    /// A new password.
    pub password: Option<Password>,
    /// The current password, required for a password change when the policy says so.
    pub current_password: Option<Password>,
    /// A new username; an empty string removes it.
    pub username: Option<String>,
    /// A code from `GET /reauthenticate`, accepted in place of the current password.
    pub nonce: Option<String>,
    /// A new email address: starts an email change (mailed; it applies once confirmed).
    pub email: Option<String>,
    /// Where the email change's links land, and its PKCE challenge.
    pub email_link: LinkOptions,
    /// A new phone number: starts a phone change (a code to the new number; it applies once
    /// verified).
    pub phone: Option<String>,
    /// How the phone change's code travels: `sms` (the default) or `whatsapp`.
    pub channel: Option<String>,
}

impl AuthService {
    /// A new password or email address for a user with a verified factor needs an aal2
    /// session, as Supabase Auth requires; metadata and username changes do not.
    async fn require_aal2_for_credentials(
        &self,
        principal: &Principal,
        changes: &UserChanges,
    ) -> Result<(), AuthError> {
        let new_password = changes.password.as_ref().is_some_and(|p| !p.expose().is_empty());
        let current = principal.user.email.as_ref().map(|e| e.as_str());
        let new_email = changes.email.as_deref().is_some_and(|e| !e.trim().is_empty() && Some(e.trim()) != current);
        if !(new_password || new_email) || principal.session.aal == crate::domain::Aal::Aal2 {
            return Ok(());
        }
        let factors = self.ports.factors.list_factors(principal.user.id).await?;
        if factors.iter().any(crate::domain::Factor::is_verified) {
            return Err(crate::MfaError::UpdateNeedsAal2.into());
        }
        Ok(())
    }

    /// The caller's user as stored now.
    pub fn current_user(&self, principal: &Principal) -> User {
        principal.user.clone()
    }

    /// Applies changes to the caller's own account. A password change ends every other session;
    /// a new email address is only mailed here, and applies once confirmed.
    pub async fn update_user(&self, principal: &Principal, changes: UserChanges) -> Result<User, AuthError> {
        self.require_aal2_for_credentials(principal, &changes).await?;
        if !phone_unchanged(&principal.user, changes.phone.as_deref())
            && let Some(phone) = changes.phone.as_deref()
        {
            self.request_phone_change(&principal.user, phone, changes.channel.as_deref()).await?;
        }
        if let Some(email) = changes.email.as_deref().filter(|e| !e.trim().is_empty()) {
            match self.request_email_change(principal, email, &changes.email_link).await {
                // A taken address answers like a free one (nothing is mailed), so this is no
                // way to learn which addresses have accounts.
                Ok(()) | Err(AuthError::EmailExists) => {}
                Err(other) => return Err(other),
            }
        }
        // Only the fields asked for are written, never the rest of the user as read when this
        // request authenticated: a ban or a role set meanwhile stays.
        let now = self.ports.clock.now();
        let mut change = UserChange::at(now);
        // The account as the change would leave it, for the rules that look at all of it.
        let mut preview = principal.user.clone();
        let mut fields = Vec::new();
        if let Some(data) = changes.data {
            let patch = Metadata::from_value(data, self.settings.metadata_max_bytes)?;
            let mut merged = principal.user.user_metadata.clone();
            merged.merge(patch, self.settings.metadata_max_bytes)?;
            change.user_metadata = Some(merged);
            fields.push("user_metadata");
        }
        if let Some(name) = changes.username {
            let username = if name.trim().is_empty() { None } else { Some(Username::parse(&name)?) };
            preview.username = username.clone();
            keeps_sign_in_name(&preview)?;
            change.username = Some(username);
            fields.push("username");
        }
        let password_changed = match changes.password {
            Some(password) => {
                // A session started from a recovery mail proved the address: no current password
                // needed, for as long as the mail's link would have worked.
                let recovering = principal.session.auth_method == crate::domain::AuthMethod::Recovery
                    && self.ports.clock.now() - principal.session.created_at <= self.settings.email.link_ttl;
                let nonce = changes.nonce.as_deref().filter(|n| !n.trim().is_empty());
                let reauthenticated = match nonce {
                    Some(nonce) if changes.current_password.is_none() => {
                        self.use_reauthentication(&principal.user, nonce).await?;
                        true
                    }
                    _ => false,
                };
                if !recovering && !reauthenticated {
                    self.passwordless_needs_proof(principal)?;
                }
                let current =
                    if recovering || reauthenticated { None } else { Some(changes.current_password.as_ref()) };
                let hash = self.change_password(&preview, &password, current, &principal.client).await?;
                change.password_hash = Some(Some(hash));
                // Checked against the password read when this request began: a password set
                // meanwhile (a reset by the owner, an operator's) is never overwritten by it.
                change.only_if_password = Some(principal.user.password_hash.clone());
                change.voids = VOIDED_BY_PASSWORD.to_vec();
                true
            }
            None => false,
        };
        // An anonymous account that now has a username and a password can be signed in to:
        // it is anonymous no longer (an email address stops it being so once confirmed).
        if principal.user.is_anonymous
            && preview.username.is_some()
            && (password_changed || preview.password_hash.is_some())
        {
            change.is_anonymous = Some(false);
        }
        // Deleted since this request authenticated.
        let stored =
            self.ports.users.change_user(principal.user.id, &change).await.or_missing(AuthError::UserNotFound)?;
        // The password changed since this request began; that change ended this session.
        let user = stored.ok_or(AuthError::SessionNotFound)?;
        let (actor, client) = (Actor::User(user.id), &principal.client);
        if password_changed {
            self.ports.sessions.revoke_user_sessions(user.id, Some(principal.session.id), now).await?;
            self.audit(AuditAction::PasswordChanged, actor.clone(), Some(user.id), client, json!({})).await;
        }
        if !fields.is_empty() {
            self.audit(AuditAction::UserUpdated, actor, Some(user.id), client, json!({ "fields": fields })).await;
        }
        Ok(user)
    }

    /// The hash of `password` as `user`'s new one, once the policy and the proof allow it.
    async fn change_password(
        &self,
        user: &User,
        password: &Password,
        current: Option<Option<&Password>>,
        client: &ClientInfo,
    ) -> Result<PasswordHash, AuthError> {
        may_have_password(user)?;
        self.settings.password_policy.check(password)?;
        if let Some(existing) = &user.password_hash {
            // `None`: the caller proved itself otherwise (a recovery session).
            if let Some(current) = current
                && self.settings.require_current_password
            {
                let current = current.ok_or(AuthError::CurrentPasswordRequired)?;
                self.check_own_password(user, current, existing, client).await?;
            }
            if matches!(self.ports.hasher.verify(password, Some(existing)).await?, PasswordCheck::Match { .. }) {
                return Err(AuthError::SamePassword);
            }
        }
        Ok(self.ports.hasher.hash(password).await?)
    }

    /// Deletes the caller's own account after checking the password (an account without one:
    /// a reauthentication code, or a recent sign-in by email); every session and token dies
    /// with it.
    pub async fn delete_own_account(
        &self,
        principal: &Principal,
        password: Option<&Password>,
        nonce: Option<&str>,
    ) -> Result<(), AuthError> {
        if !self.settings.self_delete_enabled {
            return Err(AuthError::FeatureDisabled("account deletion"));
        }
        if let Some(hash) = &principal.user.password_hash {
            let password = password.ok_or(AuthError::CurrentPasswordRequired)?;
            self.check_own_password(&principal.user, password, hash, &principal.client).await?;
        } else if let Some(nonce) = nonce.filter(|n| !n.trim().is_empty()) {
            self.use_reauthentication(&principal.user, nonce).await?;
        } else {
            self.passwordless_needs_proof(principal)?;
        }
        self.ports.users.delete_user(principal.user.id).await?;
        let id = principal.user.id;
        self.audit(AuditAction::AccountDeleted, Actor::User(id), Some(id), &principal.client, json!({})).await;
        Ok(())
    }

    /// Checks a password the signed-in user typed to prove it is them, under the per-account
    /// throttle: a stolen access token is no faster a way to guess the password than sign-in.
    async fn check_own_password(
        &self,
        user: &User,
        given: &Password,
        stored: &PasswordHash,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let account = password_throttle::account_key(Some(user.id), "");
        let reservation = self.reserve_password_check(&account, client).await?;
        if self.ports.hasher.verify(given, Some(stored)).await? == PasswordCheck::Mismatch {
            return Err(AuthError::CurrentPasswordInvalid);
        }
        self.password_check_passed(reservation).await;
        Ok(())
    }

    /// Refuses a first password or a deletion of an account without a password, unless its
    /// session was started by an emailed link or code within `reauthentication_window`: for
    /// such an account a stolen access token must not become a permanent credential. An
    /// account without an email address has nothing to prove itself with and is let through.
    fn passwordless_needs_proof(&self, principal: &Principal) -> Result<(), AuthError> {
        let user = &principal.user;
        if user.password_hash.is_some() || user.email.is_none() {
            return Ok(());
        }
        let session = &principal.session;
        let by_email = matches!(
            session.auth_method,
            AuthMethod::Otp
                | AuthMethod::Magiclink
                | AuthMethod::Recovery
                | AuthMethod::Invite
                | AuthMethod::EmailSignup
                | AuthMethod::EmailChange
        );
        let age = self.ports.clock.now() - session.created_at;
        if by_email && age <= self.settings.reauthentication_window {
            return Ok(());
        }
        Err(AuthError::ReauthenticationNeeded)
    }

    /// Ends the caller's sessions in the given scope.
    pub async fn logout(&self, principal: &Principal, scope: LogoutScope) -> Result<(), AuthError> {
        let now = self.ports.clock.now();
        let user = principal.user.id;
        let session = principal.session.id;
        match scope {
            LogoutScope::Global => self.ports.sessions.revoke_user_sessions(user, None, now).await.map(drop)?,
            LogoutScope::Local => self.ports.sessions.revoke_session(session, now).await.map(drop)?,
            LogoutScope::Others => {
                self.ports.sessions.revoke_user_sessions(user, Some(session), now).await.map(drop)?
            }
        }
        let scope_name = match scope {
            LogoutScope::Global => "global",
            LogoutScope::Local => "local",
            LogoutScope::Others => "others",
        };
        let details = json!({"scope": scope_name, "session_id": session.to_string()});
        self.audit(AuditAction::Logout, Actor::User(user), Some(user), &principal.client, details).await;
        Ok(())
    }
}

/// Whether the account has a name to sign in with: an email address, a phone number or a username.
fn has_sign_in_name(user: &User) -> bool {
    user.email.is_some() || user.phone.is_some() || user.username.is_some()
}

/// Refuses a change that leaves an account with a password but nothing to sign in with.
pub(super) fn keeps_sign_in_name(user: &User) -> Result<(), AuthError> {
    if user.password_hash.is_some() && !has_sign_in_name(user) {
        return Err(AuthError::Validation {
            field: "username",
            message: "the username is this account's only sign-in name and cannot be removed".into(),
        });
    }
    Ok(())
}

/// Refuses a password on an account that has nothing to sign in with.
pub(super) fn may_have_password(user: &User) -> Result<(), AuthError> {
    if !has_sign_in_name(user) {
        return Err(AuthError::Validation {
            field: "password",
            message: "an account without an email address, phone number or username cannot have a password".into(),
        });
    }
    Ok(())
}

/// Whether `phone` leaves the account's number as it is: absent, empty, or the same number
/// (with or without its `+`).
fn phone_unchanged(user: &User, phone: Option<&str>) -> bool {
    phone.is_none_or(|p| {
        let p = p.trim();
        p.is_empty() || user.phone.as_ref().is_some_and(|old| old.as_str() == p.trim_start_matches('+'))
    })
}
