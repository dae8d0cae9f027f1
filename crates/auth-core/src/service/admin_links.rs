//! Links an operator asks for: invitations (`POST /invite`, mailed) and generated links
//! (`POST /admin/generate_link`, handed to the operator instead of mailed).

use serde_json::json;

use super::verification::verify_type_for;
use super::{AuthService, ClientInfo, LinkOptions};
use crate::domain::{Actor, AuditAction, Email, MailKind, OneTimeKind, Password, User, UserChange};
use crate::error::{AuthError, MissingRow};

/// A link made for an operator instead of mailed (`POST /admin/generate_link`).
#[derive(Clone)]
pub struct GeneratedLink {
    /// The user the link is for (created when the type creates one).
    pub user: User,
    /// The link to hand to the user.
    pub action_link: String,
    /// The 6-digit code that works instead of the link.
    pub email_otp: String,
    /// The link's token, as `/verify` takes it in `token_hash`.
    pub hashed_token: String,
    /// The type asked for (Supabase Auth answers it back; the link's own `type` is the one to
    /// verify with, `email_change` for both halves of an email change).
    pub verification_type: &'static str,
    /// Where the link lands.
    pub redirect_to: String,
}

impl std::fmt::Debug for GeneratedLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedLink").field("user", &self.user.id).finish_non_exhaustive()
    }
}

/// Which link `POST /admin/generate_link` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkType {
    /// Sign-up confirmation (creates the user, with the password given).
    Signup,
    /// Invitation (creates the user).
    Invite,
    /// Magic link (an unknown address signs up).
    MagicLink,
    /// Password recovery.
    Recovery,
    /// Approval of an email change, for the current address (secure email change only).
    EmailChangeCurrent,
    /// Confirmation of an email change, for the new address.
    EmailChangeNew,
}

impl LinkType {
    /// Reads Supabase Auth's names.
    pub fn parse(name: &str) -> Result<Self, AuthError> {
        match name.trim() {
            "signup" => Ok(Self::Signup),
            "invite" => Ok(Self::Invite),
            "magiclink" => Ok(Self::MagicLink),
            "recovery" => Ok(Self::Recovery),
            "email_change_current" => Ok(Self::EmailChangeCurrent),
            "email_change_new" => Ok(Self::EmailChangeNew),
            other => Err(AuthError::Validation { field: "type", message: format!("unknown link type {other:?}") }),
        }
    }
}

impl AuthService {
    /// `POST /invite` (service role): creates the user, or re-invites one who has not confirmed,
    /// and mails the invitation.
    pub async fn invite_user(
        &self,
        email: &str,
        data: Option<serde_json::Value>,
        redirect_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        let address = Email::parse(email)?;
        let existing = self.ports.users.find_user_by_email(&address).await?;
        let (mut user, created) = match existing {
            Some(user) if user.email_confirmed_at.is_some() => return Err(AuthError::EmailExists),
            Some(user) => (user, false),
            None => (self.new_email_user(address.clone(), None, data, true)?, true),
        };
        let link = LinkOptions::redirect(redirect_to);
        let (token, mail) = self.prepare_secret(&user, &address, OneTimeKind::Invite, MailKind::Invite, &link, None)?;
        // The user as stored after the write, which records when the invitation was sent.
        let sent = UserChange::issued(&token);
        if created {
            let kinds = [mail.kind];
            let details = json!({"fields": ["email"], "via": "invite"});
            let event = self.event(AuditAction::AdminUserCreated, Actor::Admin, Some(user.id), client, details);
            let write =
                self.ports.flows.create_user_with_token(&user, &token, Some(mail.into()), std::slice::from_ref(&event));
            self.queue_mail_with(&kinds, async { write.await.map(|()| true) }).await?;
            self.observed(std::slice::from_ref(&event));
        } else {
            // An operator's invitation is not counted against the account's allowance.
            self.issue_secrets(user.id, &[(token, Some(mail.into()))], &[], false).await?;
        }
        sent.apply_to(&mut user);
        Ok(user)
    }

    /// `POST /admin/generate_link` (service role): makes the link and code a mail would carry,
    /// stores them, and hands them to the operator instead of mailing them.
    #[allow(clippy::too_many_arguments)]
    pub async fn generate_link(
        &self,
        kind: LinkType,
        email: &str,
        new_email: Option<&str>,
        password: Option<&Password>,
        data: Option<serde_json::Value>,
        redirect_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<GeneratedLink, AuthError> {
        let address = Email::parse(email)?;
        let existing = self.ports.users.find_user_by_email(&address).await?;
        if let LinkType::EmailChangeCurrent | LinkType::EmailChangeNew = kind {
            let user = existing.ok_or(AuthError::UserNotFound)?;
            return self.generate_email_change_link(kind, user, new_email.unwrap_or_default(), redirect_to).await;
        }
        let (mut user, secret_kind, create) = match (kind, existing) {
            (LinkType::EmailChangeCurrent | LinkType::EmailChangeNew, _) => return Err(AuthError::UserNotFound),
            (LinkType::Recovery, None) => return Err(AuthError::UserNotFound),
            (LinkType::Recovery, Some(user)) => (user, OneTimeKind::Recovery, false),
            (LinkType::MagicLink, Some(user)) => (user, OneTimeKind::MagicLink, false),
            (LinkType::Signup | LinkType::Invite, Some(user)) if user.email_confirmed_at.is_some() => {
                return Err(AuthError::EmailExists);
            }
            (LinkType::Signup, Some(mut user)) => {
                // The latest sign-up of an unconfirmed address sets its password.
                if let Some(password) = password {
                    self.settings.password_policy.check(password)?;
                    let mut change = UserChange::at(self.ports.clock.now());
                    change.password_hash = Some(Some(self.ports.hasher.hash(password).await?));
                    let stored = self.ports.users.change_user(user.id, &change).await;
                    user = stored.or_missing(AuthError::UserNotFound)?.ok_or(AuthError::UserNotFound)?;
                }
                (user, OneTimeKind::Confirmation, false)
            }
            (LinkType::Invite, Some(user)) => (user, OneTimeKind::Invite, false),
            (LinkType::Signup, None) => {
                let password = password.ok_or(AuthError::Validation {
                    field: "password",
                    message: "a sign-up link needs the new user's password".into(),
                })?;
                self.settings.password_policy.check(password)?;
                let hash = self.ports.hasher.hash(password).await?;
                (self.new_email_user(address.clone(), Some(hash), data, false)?, OneTimeKind::Confirmation, true)
            }
            (LinkType::Invite, None) => {
                (self.new_email_user(address.clone(), None, data, true)?, OneTimeKind::Invite, true)
            }
            (LinkType::MagicLink, None) => {
                if !self.settings.signup_enabled {
                    return Err(AuthError::SignupDisabled);
                }
                (self.new_email_user(address.clone(), None, data, false)?, OneTimeKind::Confirmation, true)
            }
        };
        let drawn = self.draw_secret(&user, &address, secret_kind, &LinkOptions::redirect(redirect_to))?;
        let sent = UserChange::issued(&drawn.token);
        if create {
            let details = json!({"fields": ["email"], "via": "generate_link"});
            let event = self.event(AuditAction::AdminUserCreated, Actor::Admin, Some(user.id), client, details);
            self.ports.flows.create_user_with_token(&user, &drawn.token, None, std::slice::from_ref(&event)).await?;
            self.observed(std::slice::from_ref(&event));
        } else {
            self.issue_secrets(user.id, &[(drawn.token, None)], &[], false).await?;
        }
        sent.apply_to(&mut user);
        Ok(GeneratedLink {
            user,
            email_otp: drawn.secret.code().to_owned(),
            hashed_token: drawn.secret.link().to_owned(),
            verification_type: verify_type_for(secret_kind).as_str(),
            action_link: drawn.link,
            redirect_to: drawn.landing,
        })
    }

    /// One half of an email change of `user` to `new_email`, handed to the operator: the change
    /// applies once every half issued for it is used. A half pending for another address is
    /// withdrawn; one for the same address stays (so an operator may generate both).
    async fn generate_email_change_link(
        &self,
        kind: LinkType,
        mut user: User,
        new_email: &str,
        redirect_to: Option<&str>,
    ) -> Result<GeneratedLink, AuthError> {
        let (secret_kind, verification_type) = match kind {
            LinkType::EmailChangeCurrent => {
                if !self.settings.email.secure_email_change {
                    return Err(AuthError::Validation {
                        field: "type",
                        message: "Enable secure email change to generate link for current email".into(),
                    });
                }
                (OneTimeKind::EmailChangeCurrent, "email_change_current")
            }
            _ => (OneTimeKind::EmailChangeNew, "email_change_new"),
        };
        let new_email = Email::parse(new_email)?;
        if let Some(holder) = self.ports.users.find_user_by_email(&new_email).await?
            && holder.id != user.id
        {
            return Err(AuthError::EmailExists);
        }
        let to = match secret_kind {
            OneTimeKind::EmailChangeCurrent => user.email.clone().ok_or(AuthError::UserNotFound)?,
            _ => new_email.clone(),
        };
        let mut drawn = self.draw_secret(&user, &to, secret_kind, &LinkOptions::redirect(redirect_to))?;
        drawn.token.relates_to = Some(new_email.clone());
        let mut withdraw = Vec::new();
        for half in [OneTimeKind::EmailChangeCurrent, OneTimeKind::EmailChangeNew] {
            if half != secret_kind
                && let Some(pending) = self.ports.flows.find_token(user.id, half).await?
                && pending.relates_to.as_ref() != Some(&new_email)
            {
                withdraw.push(half);
            }
        }
        let sent = UserChange::issued(&drawn.token);
        self.issue_secrets(user.id, &[(drawn.token, None)], &withdraw, false).await?;
        sent.apply_to(&mut user);
        Ok(GeneratedLink {
            user,
            email_otp: drawn.secret.code().to_owned(),
            hashed_token: drawn.secret.link().to_owned(),
            verification_type,
            action_link: drawn.link,
            redirect_to: drawn.landing,
        })
    }
}
