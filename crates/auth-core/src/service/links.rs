//! Emailed links and codes: drawing a one-time secret, rendering its mail, and the use cases
//! that mail one (recovery, magic links and codes, confirmation resends, reauthentication)
//! or mail an account's username.

use serde_json::json;

use super::verification::verify_type_for;
use super::{AuthService, ClientInfo, Principal};
use crate::domain::{
    Actor, AuditAction, AuditEvent, CodeChallenge, Contact, Email, MailContext, MailKind, Metadata, OneTimeKind,
    OneTimeSecret, OneTimeToken, Outgoing, OutgoingMail, PKCE_LINK_PREFIX, PasswordHash, User, UserChange, UserId,
    code_digest, encode_query_value, link_digest,
};
use crate::error::{AuthError, MissingRow};
use crate::ports::{CodeQuota, Mail, Redemption};

/// How long an account's allowance of mailed secrets ([`super::EmailSettings::max_codes_per_day`])
/// lasts.
const QUOTA_WINDOW: chrono::Duration = chrono::Duration::days(1);

/// A request that answers alike for every address must not tell, by a refusal, that this one
/// has an account whose daily allowance of mails is spent: it answers as if it mailed.
pub(super) fn quiet_over_quota(outcome: Result<(), AuthError>) -> Result<(), AuthError> {
    match outcome {
        Err(AuthError::EmailRateLimited { .. }) => Ok(()),
        other => other,
    }
}

/// How an emailed link is to be used: where it lands, and whether the browser gets an auth
/// code (PKCE) instead of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkOptions {
    /// Where the link sends the browser (checked against the allow list when used).
    pub redirect_to: Option<String>,
    /// The client's PKCE challenge.
    pub pkce: Option<CodeChallenge>,
}

impl LinkOptions {
    /// Landing at `redirect_to`, without PKCE.
    pub fn redirect(redirect_to: Option<&str>) -> Self {
        Self { redirect_to: redirect_to.map(str::to_owned), pkce: None }
    }
}

/// What a passwordless sign-in request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMail {
    /// A link to click (`POST /magiclink`); the code comes with it.
    Link,
    /// A code to type (`POST /otp`); the link comes with it.
    Code,
}

/// A freshly drawn secret: what the user is sent, and the token that stores its digests.
pub(super) struct DrawnSecret {
    /// The code and the link token, in the clear.
    pub(super) secret: OneTimeSecret,
    /// The digests and expiry times to store.
    pub(super) token: OneTimeToken,
    /// The full link to `/verify`.
    pub(super) link: String,
    /// Where the link lands once verified (the allowed `redirect_to`, or the site URL).
    pub(super) landing: String,
}

impl AuthService {
    /// Draws a secret of `kind` for `user`, sent to `to`, and builds its token and link.
    /// A PKCE link's token carries a prefix, so its landing page knows where errors go.
    pub(super) fn draw_secret(
        &self,
        user: &User,
        to: &Email,
        kind: OneTimeKind,
        options: &LinkOptions,
    ) -> Result<DrawnSecret, AuthError> {
        let now = self.ports.clock.now();
        let secret = OneTimeSecret::generate(self.ports.random.as_ref())?;
        let email = &self.settings.email;
        let landing = email.redirects.resolve(options.redirect_to.as_deref());
        let link_token = match options.pkce {
            Some(_) => format!("{PKCE_LINK_PREFIX}{}", secret.link()),
            None => secret.link().to_owned(),
        };
        let link = format!(
            "{}?token={}&type={}&redirect_to={}",
            email.verify_url,
            link_token,
            verify_type_for(kind).as_str(),
            encode_query_value(&landing)
        );
        let token = OneTimeToken {
            user_id: user.id,
            kind,
            link_digest: link_digest(&link_token),
            code_digest: code_digest(user.id, kind, secret.code()),
            sent_to: Contact::Email(to.clone()),
            relates_to: None,
            created_at: now,
            link_expires_at: now + email.link_ttl,
            code_expires_at: now + email.code_ttl,
            pkce: options.pkce.clone(),
        };
        Ok(DrawnSecret { secret, token, link, landing })
    }

    /// Renders the mail of `kind` to `to` about `user`: with the drawn secret's code (and link,
    /// unless the kind has no use for one) when there is one, and the new address of an email
    /// change. The one place a [`MailContext`] is built.
    fn render_mail(
        &self,
        kind: MailKind,
        to: &Email,
        user: &User,
        drawn: Option<&DrawnSecret>,
        new_email: Option<&Email>,
    ) -> Result<Mail, AuthError> {
        let email = &self.settings.email;
        let context = MailContext {
            kind,
            to: to.clone(),
            code: drawn.map(|d| d.secret.code().to_owned()),
            // A reauthentication code is typed into the app that asked for it; a link has no use.
            link: drawn.filter(|d| d.token.kind != OneTimeKind::Reauthentication).map(|d| d.link.clone()),
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            new_email: new_email.cloned(),
            expires_in_minutes: drawn.map_or(0, |_| email.link_ttl.num_minutes()),
            code_expires_in_minutes: drawn.map_or(0, |_| email.code_ttl.num_minutes()),
        };
        let templates = self.ports.templates.as_ref().ok_or(AuthError::MailDisabled)?;
        templates.render(&context).map_err(|e| AuthError::Internal(e.to_string()))
    }

    /// Draws a secret for `user`, renders its mail and builds the token, ready to store;
    /// `new_email` is the address an email-change secret is about.
    pub(super) fn prepare_secret(
        &self,
        user: &User,
        to: &Email,
        kind: OneTimeKind,
        mail_kind: MailKind,
        link: &LinkOptions,
        new_email: Option<&Email>,
    ) -> Result<(OneTimeToken, OutgoingMail), AuthError> {
        let mut drawn = self.draw_secret(user, to, kind, link)?;
        drawn.token.relates_to = new_email.cloned();
        let mail = self.render_mail(mail_kind, to, user, Some(&drawn), new_email)?;
        Ok((drawn.token, OutgoingMail { kind: mail_kind, mail }))
    }

    /// Stores `secrets` of `user` and queues their mails, withdrawing its secrets of the
    /// `withdraw` kinds, all in one transaction. A `counted` issue (any request but an
    /// operator's) spends one of the account's daily allowance, and is refused with
    /// `over_email_send_rate_limit` once it is spent.
    pub(super) async fn issue_secrets(
        &self,
        user: UserId,
        secrets: &[(OneTimeToken, Option<Outgoing>)],
        withdraw: &[OneTimeKind],
        counted: bool,
    ) -> Result<(), AuthError> {
        let kinds: Vec<MailKind> = secrets.iter().filter_map(|(_, mail)| mail.as_ref()?.mail_kind()).collect();
        let now = self.ports.clock.now();
        let max = self.settings.email.max_codes_per_day;
        let quota = counted.then_some(CodeQuota { now, since: now - QUOTA_WINDOW, max });
        let write = self.ports.flows.issue_tokens(user, secrets, withdraw, quota);
        // The user was deleted since it was read.
        if self.queue_mail_with(&kinds, write).await.or_missing(AuthError::UserNotFound)? {
            Ok(())
        } else {
            Err(AuthError::EmailRateLimited { retry_after: QUOTA_WINDOW.to_std().unwrap_or_default() })
        }
    }

    /// Uses `token`, writing `change` to its user and starting what `then` says; `false` when
    /// a token of the `unless_pending` kind still waits (only this one was used). A token gone
    /// meanwhile (used, replaced) is `otp_expired`, as every failure of an emailed secret is.
    pub(super) async fn redeem_token(
        &self,
        token: &OneTimeToken,
        change: &UserChange,
        then: Redemption,
        unless_pending: Option<OneTimeKind>,
    ) -> Result<bool, AuthError> {
        self.ports.flows.redeem_token(token, change, then, unless_pending).await.or_missing(AuthError::OtpExpired)
    }

    /// Issues a new secret of `kind` to `user` and queues its mail, in one transaction.
    pub(super) async fn send_secret(
        &self,
        user: &User,
        kind: OneTimeKind,
        mail_kind: MailKind,
        link: &LinkOptions,
    ) -> Result<(), AuthError> {
        let Some(to) = &user.email else { return Ok(()) };
        let (token, mail) = self.prepare_secret(user, to, kind, mail_kind, link, None)?;
        self.issue_secrets(user.id, &[(token, Some(mail.into()))], &[], true).await
    }

    /// Creates an unconfirmed user together with its confirmation secret and mail.
    pub(super) async fn create_unconfirmed(
        &self,
        user: &User,
        link: &LinkOptions,
        event: &AuditEvent,
    ) -> Result<(), AuthError> {
        let to = user
            .email
            .as_ref()
            .ok_or(AuthError::Validation { field: "email", message: "an email address is required".into() })?;
        let (token, mail) =
            self.prepare_secret(user, to, OneTimeKind::Confirmation, MailKind::Confirmation, link, None)?;
        let kinds = [mail.kind];
        let write = async {
            self.ports
                .flows
                .create_user_with_token(user, &token, Some(mail.into()), std::slice::from_ref(event))
                .await
                .map(|()| true)
        };
        self.queue_mail_with(&kinds, write).await?;
        self.observed(std::slice::from_ref(event));
        Ok(())
    }

    /// A new, unconfirmed email user (no password unless given), not yet stored. Its
    /// `user_metadata` is seeded as a sign-up's (Supabase Auth), unless it is `invited`.
    pub(super) fn new_email_user(
        &self,
        address: Email,
        password_hash: Option<PasswordHash>,
        data: Option<serde_json::Value>,
        invited: bool,
    ) -> Result<User, AuthError> {
        let now = self.ports.clock.now();
        let id = UserId::generate(self.ports.random.as_ref())?;
        let mut user_metadata = Metadata::from_value(data.unwrap_or_default(), self.settings.metadata_max_bytes)?;
        if !invited {
            user_metadata = user_metadata.seeded_for_email(&id.to_string(), address.as_str(), false);
        }
        let mut app_metadata = Metadata::new();
        app_metadata.insert("provider", "email".into());
        app_metadata.insert("providers", vec!["email"].into());
        Ok(User {
            id,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email: Some(address),
            phone: None,
            username: None,
            password_hash,
            email_confirmed_at: None,
            phone_confirmed_at: None,
            confirmation_sent_at: Some(now),
            app_metadata,
            user_metadata,
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
            mail: Default::default(),
            deleted_at: None,
        })
    }

    /// The user with this address, when the address is well-formed and known, for a request
    /// that may mail it a `kind` (counted against the address whether known or not).
    pub(super) async fn user_to_mail(&self, email: &str, kind: MailKind) -> Result<Option<User>, AuthError> {
        self.admit_mail(kind, email).await?;
        let email = Email::parse(email)?;
        Ok(self.ports.users.find_user_by_email(&email).await?)
    }

    /// Where a verified link sends the browser: `requested` when allowed, else the site URL.
    pub fn redirect_target(&self, requested: Option<&str>) -> String {
        self.settings.email.redirects.resolve(requested)
    }

    /// `POST /resend` for a sign-up: a new confirmation mail when the address waits for one.
    /// Answers alike whether or not the address is known.
    pub async fn resend_confirmation(&self, email: &str, link: &LinkOptions) -> Result<(), AuthError> {
        if let Some(user) = self.user_to_mail(email, MailKind::Confirmation).await?
            && user.email_confirmed_at.is_none()
        {
            quiet_over_quota(self.send_secret(&user, OneTimeKind::Confirmation, MailKind::Confirmation, link).await)?;
        }
        Ok(())
    }

    /// `POST /recover`: a recovery mail when the address is known. Answers alike either way.
    pub async fn recover(&self, email: &str, link: &LinkOptions) -> Result<(), AuthError> {
        if let Some(user) = self.user_to_mail(email, MailKind::Recovery).await?
            && !user.is_banned(self.ports.clock.now())
        {
            quiet_over_quota(self.send_secret(&user, OneTimeKind::Recovery, MailKind::Recovery, link).await)?;
        }
        Ok(())
    }

    /// `POST /magiclink` and `POST /otp`: a sign-in mail (link and code) for a known address;
    /// an unknown one gets an account and a confirmation mail when `create_user` and sign-ups
    /// allow.
    pub async fn send_magic_link(
        &self,
        email: &str,
        asked: SignInMail,
        create_user: bool,
        data: Option<serde_json::Value>,
        link: &LinkOptions,
    ) -> Result<(), AuthError> {
        // `/magiclink` and `/otp` share one allowance per address, whatever the outcome mails.
        self.admit_mail(MailKind::MagicLink, email).await?;
        let address = Email::parse(email)?;
        // Checked before the look-up, so a bad request is refused alike for every address.
        Metadata::from_value(data.clone().unwrap_or_default(), self.settings.metadata_max_bytes)?;
        if let Some(user) = self.ports.users.find_user_by_email(&address).await? {
            if !user.is_banned(self.ports.clock.now()) {
                // A link always has somewhere to land (the site URL by default), so it is a
                // magic-link mail; a code-only request gets one when it names a target.
                let mail_kind = match (asked, &link.redirect_to) {
                    (SignInMail::Code, None) => MailKind::EmailOtp,
                    (SignInMail::Link, _) | (SignInMail::Code, Some(_)) => MailKind::MagicLink,
                };
                quiet_over_quota(self.send_secret(&user, OneTimeKind::MagicLink, mail_kind, link).await)?;
            }
            return Ok(());
        }
        if !create_user {
            // Supabase Auth refuses here, which tells that the address has no account; by
            // default authd answers alike so the call reveals nothing.
            if self.settings.email.otp_reveals_unknown_addresses {
                return Err(AuthError::OtpDisabled);
            }
            return Ok(());
        }
        if !self.settings.signup_enabled {
            // Refusing here would tell which addresses have accounts: answer alike, send nothing.
            return Ok(());
        }
        let user = self.new_email_user(address, None, data, false)?;
        let details = json!({"provider": "email", "via": "magiclink"});
        let event =
            self.event(AuditAction::Signup, Actor::User(user.id), Some(user.id), &ClientInfo::default(), details);
        match self.create_unconfirmed(&user, link, &event).await {
            // Created by a concurrent request a moment ago: that one sent the mail.
            Err(AuthError::EmailExists | AuthError::UserAlreadyExists) => Ok(()),
            other => other,
        }
    }

    /// `POST /recover/username` (from postgrest-auth): mails the username of the account with
    /// this address, if it has one. Answers alike either way.
    pub async fn forgot_username(&self, email: &str) -> Result<(), AuthError> {
        let Some(user) = self.user_to_mail(email, MailKind::ForgotUsername).await? else { return Ok(()) };
        let (Some(_), Some(to)) = (&user.username, &user.email) else { return Ok(()) };
        let mail = self.render_mail(MailKind::ForgotUsername, to, &user, None, None)?;
        let write = self.ports.flows.queue_mail(MailKind::ForgotUsername, &mail, self.ports.clock.now());
        self.queue_mail_with(&[MailKind::ForgotUsername], async { write.await.map(|()| true) }).await?;
        Ok(())
    }

    /// `GET /reauthenticate`: mails the signed-in user a code that `PUT /user` takes as `nonce`
    /// in place of the current password.
    pub async fn reauthenticate(&self, principal: &Principal) -> Result<(), AuthError> {
        let Some(email) = &principal.user.email else {
            return Err(AuthError::Validation {
                field: "email",
                message: "Reauthentication requires the user to have an email or a phone number".into(),
            });
        };
        self.admit_mail(MailKind::Reauthentication, email.as_str()).await?;
        let link = LinkOptions::default();
        self.send_secret(&principal.user, OneTimeKind::Reauthentication, MailKind::Reauthentication, &link).await
    }

    /// Uses a reauthentication code of `user`; any failure (none sent, wrong, expired, used
    /// meanwhile) is `reauthentication_not_valid`. The attempt is counted before the code is
    /// compared, so parallel guesses get no more tries.
    pub(super) async fn use_reauthentication(&self, user: &User, nonce: &str) -> Result<(), AuthError> {
        let kind = OneTimeKind::Reauthentication;
        let guess = [(kind, code_digest(user.id, kind, nonce))];
        let token = self.ports.flows.try_code(user.id, &guess).await?.ok_or(AuthError::ReauthenticationNotValid)?;
        if self.ports.clock.now() > token.code_expires_at {
            return Err(AuthError::ReauthenticationNotValid);
        }
        match self.redeem_token(&token, &UserChange::default(), Redemption::Nothing, None).await {
            Err(AuthError::OtpExpired) => Err(AuthError::ReauthenticationNotValid),
            other => other.map(drop),
        }
    }
}
