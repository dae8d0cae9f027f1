//! The email flows: confirmation, recovery, magic links and codes, forgot-username, and the
//! verification that redeems what they send.

use serde_json::json;

use super::{AuthService, ClientInfo, IssuedSession};
use crate::domain::{
    Actor, AuditAction, AuthCode, AuthCodeSecret, AuthMethod, CodeChallenge, Email, MailContext, MailKind, Metadata,
    OneTimeKind, OneTimeSecret, OneTimeToken, OutgoingMail, PKCE_LINK_PREFIX, RefreshToken, User, UserId,
    auth_code_digest, code_digest, link_digest, query_value,
};
use crate::error::AuthError;
use crate::ports::{Mail, Redemption, StoreError};

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

/// Where a `/verify` answer goes: JSON to the caller, or a redirect of the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyChannel {
    /// The caller gets the session (auth-js `verifyOtp`), PKCE or not.
    Api,
    /// The browser is redirected: a PKCE link lands with an auth code, never a session.
    Browser,
}

/// What `/verify` is asked to check (Supabase Auth's `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyType {
    /// A sign-up confirmation.
    Signup,
    /// A magic link or sign-in code.
    MagicLink,
    /// A password recovery.
    Recovery,
    /// Any emailed sign-in secret: a magic link/code or a sign-up confirmation.
    Email,
    /// An operator's invitation.
    Invite,
    /// An email change, confirmed from the current or the new address.
    EmailChange,
}

/// What a successful `/verify` did.
#[derive(Debug, Clone)]
pub enum Verified {
    /// Signed in (for an email change: the change is done).
    Session(Box<IssuedSession>),
    /// Proved, in the browser, for a PKCE client: the code it exchanges for the session.
    AuthCode(AuthCodeSecret),
    /// One side of a double-confirmed email change: the other address must confirm too.
    AwaitingOtherAddress,
}

impl VerifyType {
    /// Reads Supabase Auth's type names.
    pub fn parse(name: &str) -> Result<Self, AuthError> {
        match name.trim() {
            "signup" => Ok(Self::Signup),
            "magiclink" => Ok(Self::MagicLink),
            "recovery" => Ok(Self::Recovery),
            "email" => Ok(Self::Email),
            "invite" => Ok(Self::Invite),
            "email_change" => Ok(Self::EmailChange),
            other => {
                Err(AuthError::Validation { field: "type", message: format!("unknown verification type {other:?}") })
            }
        }
    }

    /// The wire name used in links.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Signup => "signup",
            Self::MagicLink => "magiclink",
            Self::Recovery => "recovery",
            Self::Email => "email",
            Self::Invite => "invite",
            Self::EmailChange => "email_change",
        }
    }

    /// The kinds of stored secret this type may redeem, in the order tried.
    fn kinds(self) -> &'static [OneTimeKind] {
        match self {
            Self::Signup => &[OneTimeKind::Confirmation],
            Self::MagicLink => &[OneTimeKind::MagicLink],
            Self::Recovery => &[OneTimeKind::Recovery],
            Self::Email => &[OneTimeKind::MagicLink, OneTimeKind::Confirmation],
            Self::Invite => &[OneTimeKind::Invite],
            Self::EmailChange => &[OneTimeKind::EmailChangeCurrent, OneTimeKind::EmailChangeNew],
        }
    }
}

/// The proof presented to `/verify`.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifyProof {
    /// The token of an emailed link (`token_hash`, or `token` in a link).
    Link(String),
    /// The 6-digit code with the address it was sent to.
    Code {
        /// The address.
        email: String,
        /// The code.
        code: String,
    },
}

impl std::fmt::Debug for VerifyProof {
    // Both forms are one-time secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link(_) => f.write_str("VerifyProof::Link(..)"),
            Self::Code { .. } => f.write_str("VerifyProof::Code(..)"),
        }
    }
}

/// The link type a stored kind is verified with.
fn link_type(kind: OneTimeKind) -> VerifyType {
    match kind {
        OneTimeKind::Confirmation => VerifyType::Signup,
        OneTimeKind::Recovery => VerifyType::Recovery,
        OneTimeKind::MagicLink => VerifyType::MagicLink,
        OneTimeKind::Invite => VerifyType::Invite,
        // Never redeemed through /verify: the code goes into `PUT /user` as the nonce.
        OneTimeKind::Reauthentication => VerifyType::Email,
        OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew => VerifyType::EmailChange,
    }
}

/// The kinds of secret a wrong code for `kind` counts against: both halves of an email change.
fn counted_with(kind: OneTimeKind) -> Vec<OneTimeKind> {
    match kind {
        OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew => {
            vec![OneTimeKind::EmailChangeCurrent, OneTimeKind::EmailChangeNew]
        }
        other => vec![other],
    }
}

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
    /// The `type` to verify it with.
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
}

impl LinkType {
    /// Reads Supabase Auth's names.
    pub fn parse(name: &str) -> Result<Self, AuthError> {
        match name.trim() {
            "signup" => Ok(Self::Signup),
            "invite" => Ok(Self::Invite),
            "magiclink" => Ok(Self::MagicLink),
            "recovery" => Ok(Self::Recovery),
            "email_change_current" | "email_change_new" => Err(AuthError::FeatureDisabled("email change links")),
            other => Err(AuthError::Validation { field: "type", message: format!("unknown link type {other:?}") }),
        }
    }
}

impl AuthService {
    /// Draws a secret for `user`, renders its mail and builds the token, ready to store.
    fn prepare_secret(
        &self,
        user: &User,
        to: &Email,
        kind: OneTimeKind,
        mail_kind: MailKind,
        link: &LinkOptions,
    ) -> Result<(OneTimeToken, Mail), AuthError> {
        self.prepare_secret_about(user, to, kind, mail_kind, link, None)
    }

    /// [`Self::prepare_secret`] for a secret about a new address (an email change).
    fn prepare_secret_about(
        &self,
        user: &User,
        to: &Email,
        kind: OneTimeKind,
        mail_kind: MailKind,
        link: &LinkOptions,
        new_email: Option<&Email>,
    ) -> Result<(OneTimeToken, Mail), AuthError> {
        let (secret, mut token, link, _) = self.draw_secret(user, to, kind, link)?;
        token.relates_to = new_email.cloned();
        let email = &self.settings.email;
        // A reauthentication code is typed into the app that asked for it; a link has no use.
        let link = (kind != OneTimeKind::Reauthentication).then_some(link);
        let context = MailContext {
            kind: mail_kind,
            to: to.clone(),
            code: Some(secret.code().to_owned()),
            link,
            username: user.username.as_ref().map(|u| u.as_str().to_owned()),
            new_email: new_email.cloned(),
            expires_in_minutes: email.link_ttl.num_minutes(),
            code_expires_in_minutes: email.code_ttl.num_minutes(),
        };
        let mail = self.ports.templates.render(&context).map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok((token, mail))
    }

    /// Draws a secret for `user` and builds its token and link (and the link's landing page).
    /// A PKCE link's token carries a prefix, so its landing page knows where errors go.
    fn draw_secret(
        &self,
        user: &User,
        to: &Email,
        kind: OneTimeKind,
        options: &LinkOptions,
    ) -> Result<(OneTimeSecret, OneTimeToken, String, String), AuthError> {
        let now = self.ports.clock.now();
        let secret = OneTimeSecret::generate(self.ports.random.as_ref())?;
        let email = &self.settings.email;
        let target = email.redirects.resolve(options.redirect_to.as_deref());
        let link_token = match options.pkce {
            Some(_) => format!("{PKCE_LINK_PREFIX}{}", secret.link()),
            None => secret.link().to_owned(),
        };
        let link = format!(
            "{}?token={}&type={}&redirect_to={}",
            email.verify_url,
            link_token,
            link_type(kind).as_str(),
            query_value(&target)
        );
        let token = OneTimeToken {
            user_id: user.id,
            kind,
            link_digest: link_digest(&link_token),
            code_digest: code_digest(user.id, kind, secret.code()),
            sent_to: to.clone(),
            relates_to: None,
            created_at: now,
            link_expires_at: now + email.link_ttl,
            code_expires_at: now + email.code_ttl,
            pkce: options.pkce.clone(),
        };
        Ok((secret, token, link, target))
    }

    /// A new, unconfirmed email user (no password unless given), not yet stored.
    fn new_email_user(
        &self,
        address: Email,
        password_hash: Option<crate::domain::PasswordHash>,
        data: Option<serde_json::Value>,
    ) -> Result<User, AuthError> {
        let now = self.ports.clock.now();
        let mut app_metadata = Metadata::new();
        app_metadata.insert("provider", "email".into());
        app_metadata.insert("providers", vec!["email"].into());
        Ok(User {
            id: UserId::generate(self.ports.random.as_ref())?,
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
            user_metadata: Metadata::from_value(data.unwrap_or_default(), self.settings.metadata_max_bytes)?,
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
        })
    }

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
        let (user, created) = match existing {
            Some(user) if user.email_confirmed_at.is_some() => return Err(AuthError::EmailExists),
            Some(user) => (user, false),
            None => (self.new_email_user(address.clone(), None, data)?, true),
        };
        let link = LinkOptions::redirect(redirect_to);
        let (token, mail) = self.prepare_secret(&user, &address, OneTimeKind::Invite, MailKind::Invite, &link)?;
        let outgoing = Some(OutgoingMail { kind: MailKind::Invite, mail });
        if created {
            self.ports.flows.create_user_with_token(&user, &token, outgoing).await?;
            let details = json!({"fields": ["email"], "via": "invite"});
            self.audit(AuditAction::AdminUserCreated, Actor::Admin, Some(user.id), client, details).await;
        } else {
            self.ports.flows.issue_token(&token, outgoing).await?;
        }
        Ok(user)
    }

    /// `POST /admin/generate_link` (service role): makes the link and code a mail would carry,
    /// stores them, and hands them to the operator instead of mailing them.
    pub async fn generate_link(
        &self,
        kind: LinkType,
        email: &str,
        password: Option<&crate::domain::Password>,
        data: Option<serde_json::Value>,
        redirect_to: Option<&str>,
        client: &ClientInfo,
    ) -> Result<GeneratedLink, AuthError> {
        let address = Email::parse(email)?;
        let existing = self.ports.users.find_user_by_email(&address).await?;
        let (user, secret_kind, create) = match (kind, existing) {
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
                    user.password_hash = Some(self.ports.hasher.hash(password).await?);
                    self.ports.users.update_user(&user).await?;
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
                (self.new_email_user(address.clone(), Some(hash), data)?, OneTimeKind::Confirmation, true)
            }
            (LinkType::Invite, None) => (self.new_email_user(address.clone(), None, data)?, OneTimeKind::Invite, true),
            (LinkType::MagicLink, None) => {
                if !self.settings.signup_enabled {
                    return Err(AuthError::SignupDisabled);
                }
                (self.new_email_user(address.clone(), None, data)?, OneTimeKind::Confirmation, true)
            }
        };
        let (secret, token, action_link, target) =
            self.draw_secret(&user, &address, secret_kind, &LinkOptions::redirect(redirect_to))?;
        if create {
            self.ports.flows.create_user_with_token(&user, &token, None).await?;
            let details = json!({"fields": ["email"], "via": "generate_link"});
            self.audit(AuditAction::AdminUserCreated, Actor::Admin, Some(user.id), client, details).await;
        } else {
            self.ports.flows.issue_token(&token, None).await?;
        }
        Ok(GeneratedLink {
            user,
            action_link,
            email_otp: secret.code().to_owned(),
            hashed_token: secret.link().to_owned(),
            verification_type: link_type(secret_kind).as_str(),
            redirect_to: target,
        })
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
        let (token, mail) = self.prepare_secret(user, to, kind, mail_kind, link)?;
        self.ports.flows.issue_token(&token, Some(OutgoingMail { kind: mail_kind, mail })).await?;
        Ok(())
    }

    /// Creates an unconfirmed user together with its confirmation secret and mail.
    pub(super) async fn create_unconfirmed(&self, user: &User, link: &LinkOptions) -> Result<(), AuthError> {
        let to = user
            .email
            .as_ref()
            .ok_or(AuthError::Validation { field: "email", message: "an email address is required".into() })?;
        let (token, mail) = self.prepare_secret(user, to, OneTimeKind::Confirmation, MailKind::Confirmation, link)?;
        let outgoing = OutgoingMail { kind: MailKind::Confirmation, mail };
        self.ports.flows.create_user_with_token(user, &token, Some(outgoing)).await?;
        Ok(())
    }

    /// The user with this address, when the address is well-formed and known.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, AuthError> {
        let email = Email::parse(email)?;
        Ok(self.ports.users.find_user_by_email(&email).await?)
    }

    /// `POST /resend` for a sign-up: a new confirmation mail when the address waits for one.
    /// Answers alike whether or not the address is known.
    pub async fn resend_confirmation(&self, email: &str, link: &LinkOptions) -> Result<(), AuthError> {
        if let Some(user) = self.user_by_email(email).await?
            && user.email_confirmed_at.is_none()
        {
            self.send_secret(&user, OneTimeKind::Confirmation, MailKind::Confirmation, link).await?;
        }
        Ok(())
    }

    /// `POST /resend` for an email change: new secrets, and mails, for the halves of the change
    /// pending on the account with this address that have yet to be confirmed. Answers alike
    /// whether or not a change is pending.
    pub async fn resend_email_change(&self, email: &str, link: &LinkOptions) -> Result<(), AuthError> {
        let Some(user) = self.user_by_email(email).await? else { return Ok(()) };
        if user.is_banned(self.ports.clock.now()) {
            return Ok(());
        }
        let halves = [
            (OneTimeKind::EmailChangeNew, MailKind::EmailChangeNew),
            (OneTimeKind::EmailChangeCurrent, MailKind::EmailChangeCurrent),
        ];
        for (kind, mail_kind) in halves {
            let Some(pending) = self.ports.flows.find_token(user.id, kind).await? else { continue };
            let Some(new_email) = &pending.relates_to else { continue };
            // Anyone may ask for a resend: the flow keeps the challenge it started with, so a
            // stranger can neither take it back to the implicit flow nor swap in their own.
            let link = LinkOptions { pkce: pending.pkce.clone(), ..link.clone() };
            let (token, mail) =
                self.prepare_secret_about(&user, &pending.sent_to, kind, mail_kind, &link, Some(new_email))?;
            self.ports.flows.issue_token(&token, Some(OutgoingMail { kind: mail_kind, mail })).await?;
        }
        Ok(())
    }

    /// `POST /recover`: a recovery mail when the address is known. Answers alike either way.
    pub async fn recover(&self, email: &str, link: &LinkOptions) -> Result<(), AuthError> {
        if let Some(user) = self.user_by_email(email).await?
            && !user.is_banned(self.ports.clock.now())
        {
            self.send_secret(&user, OneTimeKind::Recovery, MailKind::Recovery, link).await?;
        }
        Ok(())
    }

    /// `POST /magiclink` and `POST /otp`: a sign-in mail (link and code) for a known address; an
    /// unknown one gets an account and a confirmation mail when `create_user` and sign-ups allow.
    pub async fn send_magic_link(
        &self,
        email: &str,
        create_user: bool,
        data: Option<serde_json::Value>,
        link: &LinkOptions,
    ) -> Result<(), AuthError> {
        let address = Email::parse(email)?;
        // Checked before the look-up, so a bad request is refused alike for every address.
        Metadata::from_value(data.clone().unwrap_or_default(), self.settings.metadata_max_bytes)?;
        if let Some(user) = self.ports.users.find_user_by_email(&address).await? {
            if !user.is_banned(self.ports.clock.now()) {
                let mail_kind = if link.redirect_to.is_some() { MailKind::MagicLink } else { MailKind::EmailOtp };
                self.send_secret(&user, OneTimeKind::MagicLink, mail_kind, link).await?;
            }
            return Ok(());
        }
        if !create_user {
            // Supabase Auth refuses here; authd answers alike so the call reveals nothing.
            return Ok(());
        }
        if !self.settings.signup_enabled {
            // Refusing here would tell which addresses have accounts: answer alike, send nothing.
            return Ok(());
        }
        let user = self.new_email_user(address, None, data)?;
        match self.create_unconfirmed(&user, link).await {
            // Created by a concurrent request a moment ago: that one sent the mail.
            Err(AuthError::EmailExists | AuthError::UserAlreadyExists) => Ok(()),
            other => {
                if other.is_ok() {
                    let details = json!({"provider": "email", "via": "magiclink"});
                    self.audit(
                        AuditAction::Signup,
                        Actor::User(user.id),
                        Some(user.id),
                        &ClientInfo::default(),
                        details,
                    )
                    .await;
                }
                other
            }
        }
    }

    /// `POST /recover/username` (from postgrest-auth): mails the username of the account with
    /// this address, if it has one. Answers alike either way.
    pub async fn forgot_username(&self, email: &str) -> Result<(), AuthError> {
        let Some(user) = self.user_by_email(email).await? else { return Ok(()) };
        let (Some(username), Some(to)) = (&user.username, &user.email) else { return Ok(()) };
        let context = MailContext {
            kind: MailKind::ForgotUsername,
            to: to.clone(),
            code: None,
            link: None,
            username: Some(username.as_str().to_owned()),
            new_email: None,
            expires_in_minutes: 0,
            code_expires_in_minutes: 0,
        };
        let mail = self.ports.templates.render(&context).map_err(|e| AuthError::Internal(e.to_string()))?;
        self.ports.flows.queue_mail(MailKind::ForgotUsername, &mail, self.ports.clock.now()).await?;
        Ok(())
    }

    /// `/verify`: redeems an emailed link or code once, confirms the address it was sent to,
    /// and starts a session (or, for a PKCE link in the browser, issues an auth code). Every
    /// failure is the same `otp_expired`.
    pub async fn verify(
        &self,
        kind: VerifyType,
        proof: &VerifyProof,
        channel: VerifyChannel,
        client: &ClientInfo,
    ) -> Result<Verified, AuthError> {
        let now = self.ports.clock.now();
        let (token, by_code) = match proof {
            VerifyProof::Link(presented) => {
                let token = self.ports.flows.find_token_by_link(&link_digest(presented)).await?;
                let token = token.filter(|t| kind.kinds().contains(&t.kind) && now <= t.link_expires_at);
                (token.ok_or(AuthError::OtpExpired)?, false)
            }
            VerifyProof::Code { email, code } => {
                let address = Email::parse(email).map_err(|_| AuthError::OtpExpired)?;
                let mut candidates = Vec::new();
                if let Some(user) = self.ports.users.find_user_by_email(&address).await? {
                    for kind in kind.kinds() {
                        candidates.extend(self.ports.flows.find_token(user.id, *kind).await?);
                    }
                }
                if kind == VerifyType::EmailChange {
                    // The new address belongs to nobody yet: its code is found by recipient.
                    let pending = self.ports.flows.find_tokens_sent_to(&address, OneTimeKind::EmailChangeNew).await?;
                    candidates.extend(pending);
                }
                let matches = |token: &OneTimeToken| {
                    token.code_digest == code_digest(token.user_id, token.kind, code) && now <= token.code_expires_at
                };
                match candidates.iter().find(|t| matches(t)) {
                    Some(token) => (token.clone(), true),
                    None => {
                        // Every wrong guess counts against the secrets it was tried on. The two
                        // secrets of an email change count together: had guesses burned the new
                        // address's alone, the current address's would apply the change unproved.
                        let mut counted = Vec::new();
                        for token in &candidates {
                            for kind in counted_with(token.kind) {
                                if !counted.contains(&(token.user_id, kind)) {
                                    counted.push((token.user_id, kind));
                                    self.ports.flows.count_failed_code(token.user_id, kind).await?;
                                }
                            }
                        }
                        return Err(AuthError::OtpExpired);
                    }
                }
            }
        };
        if matches!(token.kind, OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew) {
            return self.confirm_email_change(&token, channel, client).await;
        }
        let mut user = self.ports.users.find_user(token.user_id).await?.ok_or(AuthError::OtpExpired)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        // A secret sent to an address the account no longer has is void.
        if user.email.as_ref() != Some(&token.sent_to) {
            return Err(AuthError::OtpExpired);
        }
        if user.email_confirmed_at.is_none() {
            // The secret went to this address, so using it proves the address. A password set
            // before anyone proved it may be someone else's (an account made in another's name
            // before they arrived): unless this is that sign-up's own confirmation, it goes.
            if token.kind != OneTimeKind::Confirmation {
                user.password_hash = None;
            }
            user.email_confirmed_at = Some(now);
        }
        user.last_sign_in_at = Some(now);
        user.updated_at = now;
        let method = match (token.kind, by_code) {
            (OneTimeKind::Confirmation, _) => AuthMethod::EmailSignup,
            (OneTimeKind::Recovery, _) => AuthMethod::Recovery,
            (OneTimeKind::MagicLink, true) => AuthMethod::Otp,
            (OneTimeKind::MagicLink, false) => AuthMethod::Magiclink,
            (OneTimeKind::Invite, _) => AuthMethod::Invite,
            (OneTimeKind::Reauthentication | OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew, _) => {
                return Err(AuthError::OtpExpired);
            }
        };
        if let (VerifyChannel::Browser, Some(challenge)) = (channel, &token.pkce) {
            return self.redeem_for_auth_code(&token, &user, challenge, method).await;
        }
        let (session, refresh): (_, RefreshToken) = self.new_session(&user, method, client, now)?;
        match self.ports.flows.redeem_token(&token, &user, Redemption::Session(session.clone(), refresh.digest())).await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(AuthError::OtpExpired),
            Err(other) => return Err(other.into()),
        }
        let details = json!({"method": method.as_str(), "session_id": session.id.to_string()});
        self.audit(AuditAction::Login, Actor::User(user.id), Some(user.id), client, details).await;
        Ok(Verified::Session(Box::new(self.issue(user, session, refresh, now)?)))
    }

    /// `PUT /user` with a new address: mails a confirmation to the new address and, with secure
    /// email change on and a current address to ask, an approval to the current one. The
    /// change applies when every mailed secret of it has been used.
    pub async fn request_email_change(
        &self,
        principal: &super::Principal,
        new_email: &str,
        link: &LinkOptions,
    ) -> Result<(), AuthError> {
        let new_email = Email::parse(new_email)?;
        let user = &principal.user;
        if user.email.as_ref() == Some(&new_email) {
            return Ok(());
        }
        if self.ports.users.find_user_by_email(&new_email).await?.is_some() {
            return Err(AuthError::EmailExists);
        }
        let mut sends = vec![(new_email.clone(), OneTimeKind::EmailChangeNew, MailKind::EmailChangeNew)];
        if let Some(current) = &user.email
            && self.settings.email.secure_email_change
        {
            sends.push((current.clone(), OneTimeKind::EmailChangeCurrent, MailKind::EmailChangeCurrent));
        } else {
            // A change without a second confirmation replaces any pending approval.
            if let Some(stale) = self.ports.flows.find_token(user.id, OneTimeKind::EmailChangeCurrent).await? {
                let _ = self.ports.flows.redeem_token(&stale, user, Redemption::Nothing).await;
            }
        }
        for (to, kind, mail_kind) in sends {
            let (token, mail) = self.prepare_secret_about(user, &to, kind, mail_kind, link, Some(&new_email))?;
            self.ports.flows.issue_token(&token, Some(OutgoingMail { kind: mail_kind, mail })).await?;
        }
        Ok(())
    }

    /// Where a verified link sends the browser: `requested` when allowed, else the site URL.
    pub fn redirect_target(&self, requested: Option<&str>) -> String {
        self.settings.email.redirects.resolve(requested)
    }

    /// `GET /reauthenticate`: mails the signed-in user a code that `PUT /user` takes as `nonce`
    /// in place of the current password.
    pub async fn reauthenticate(&self, principal: &super::Principal) -> Result<(), AuthError> {
        if principal.user.email.is_none() {
            return Err(AuthError::Validation {
                field: "email",
                message: "reauthentication needs an email address on the account".into(),
            });
        }
        let link = LinkOptions::default();
        self.send_secret(&principal.user, OneTimeKind::Reauthentication, MailKind::Reauthentication, &link).await
    }

    /// Uses a reauthentication code of `user`; any failure is `otp_expired`.
    pub(super) async fn use_reauthentication(&self, user: &User, nonce: &str) -> Result<(), AuthError> {
        let now = self.ports.clock.now();
        let Some(token) = self.ports.flows.find_token(user.id, OneTimeKind::Reauthentication).await? else {
            return Err(AuthError::OtpExpired);
        };
        if token.code_digest != code_digest(user.id, token.kind, nonce) || now > token.code_expires_at {
            self.ports.flows.count_failed_code(user.id, OneTimeKind::Reauthentication).await?;
            return Err(AuthError::OtpExpired);
        }
        match self.ports.flows.redeem_token(&token, user, Redemption::Nothing).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => Err(AuthError::OtpExpired),
            Err(other) => Err(other.into()),
        }
    }

    /// Uses one email-change secret. The change applies, and the user is signed in, when no
    /// secret of the change is left; until then the other address still has to confirm.
    async fn confirm_email_change(
        &self,
        token: &OneTimeToken,
        channel: VerifyChannel,
        client: &ClientInfo,
    ) -> Result<Verified, AuthError> {
        let now = self.ports.clock.now();
        let new_email = token.relates_to.clone().ok_or(AuthError::OtpExpired)?;
        let user = self.ports.users.find_user(token.user_id).await?.ok_or(AuthError::OtpExpired)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        let other = match token.kind {
            OneTimeKind::EmailChangeCurrent => OneTimeKind::EmailChangeNew,
            _ => OneTimeKind::EmailChangeCurrent,
        };
        // Any other half still pending blocks, expired or not: the change then needs a new
        // request, never just this address. Halves naming different addresses come from
        // requests that overlapped; neither may be used, or one address would approve a change
        // to an address it never saw.
        if let Some(pending) = self.ports.flows.find_token(user.id, other).await? {
            if pending.relates_to.as_ref() != Some(&new_email) {
                return Err(AuthError::OtpExpired);
            }
            return match self.ports.flows.redeem_token(token, &user, Redemption::Nothing).await {
                Ok(()) => Ok(Verified::AwaitingOtherAddress),
                Err(StoreError::NotFound) => Err(AuthError::OtpExpired),
                Err(other) => Err(other.into()),
            };
        }
        let mut changed = user.clone();
        changed.email = Some(new_email);
        changed.email_confirmed_at = Some(now);
        changed.last_sign_in_at = Some(now);
        changed.updated_at = now;
        if let (VerifyChannel::Browser, Some(challenge)) = (channel, &token.pkce) {
            let verified = self.redeem_for_auth_code(token, &changed, challenge, AuthMethod::EmailChange).await?;
            // Applied now, whether or not the code is ever exchanged.
            let details = json!({"fields": ["email"], "pkce": true});
            self.audit(AuditAction::UserUpdated, Actor::User(user.id), Some(user.id), client, details).await;
            return Ok(verified);
        }
        let (session, refresh) = self.new_session(&changed, AuthMethod::EmailChange, client, now)?;
        match self
            .ports
            .flows
            .redeem_token(token, &changed, Redemption::Session(session.clone(), refresh.digest()))
            .await
        {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(AuthError::OtpExpired),
            Err(other) => return Err(other.into()),
        }
        let details = json!({"fields": ["email"], "session_id": session.id.to_string()});
        self.audit(AuditAction::UserUpdated, Actor::User(user.id), Some(user.id), client, details).await;
        Ok(Verified::Session(Box::new(self.issue(changed, session, refresh, now)?)))
    }

    /// Uses `token` for a PKCE client: stores `user` and an auth code that `method` signed
    /// in, for the client holding the verifier to exchange.
    async fn redeem_for_auth_code(
        &self,
        token: &OneTimeToken,
        user: &User,
        challenge: &CodeChallenge,
        method: AuthMethod,
    ) -> Result<Verified, AuthError> {
        let now = self.ports.clock.now();
        let ttl = self.settings.email.auth_code_ttl;
        let (secret, code) = AuthCode::issue(self.ports.random.as_ref(), user.id, challenge.clone(), method, now, ttl)?;
        match self.ports.flows.redeem_token(token, user, Redemption::AuthCode(code)).await {
            Ok(()) => Ok(Verified::AuthCode(secret)),
            Err(StoreError::NotFound) => Err(AuthError::OtpExpired),
            Err(other) => Err(other.into()),
        }
    }

    /// Reads a request's PKCE parameters against this server's settings (`plain` only when
    /// the operator allows it).
    pub fn code_challenge(
        &self,
        challenge: Option<&str>,
        method: Option<&str>,
    ) -> Result<Option<CodeChallenge>, AuthError> {
        Ok(CodeChallenge::from_request(challenge, method, self.settings.email.allow_plain_pkce)?)
    }

    /// `POST /token?grant_type=pkce`: exchanges an auth code and the verifier behind its
    /// challenge for a session. A code works once; a wrong verifier leaves it usable until it
    /// expires, since whoever holds the code cannot guess a verifier the client drew at random.
    pub async fn exchange_auth_code(
        &self,
        auth_code: &str,
        verifier: &str,
        client: &ClientInfo,
    ) -> Result<IssuedSession, AuthError> {
        if auth_code.trim().is_empty() || verifier.trim().is_empty() {
            return Err(AuthError::Validation {
                field: "auth_code",
                message: "both auth code and code verifier should be non-empty".into(),
            });
        }
        let now = self.ports.clock.now();
        let code =
            self.ports.flows.find_auth_code(&auth_code_digest(auth_code)).await?.ok_or(AuthError::FlowStateNotFound)?;
        if now > code.expires_at {
            return Err(AuthError::FlowStateExpired);
        }
        if !code.challenge.accepts(verifier.trim()) {
            return Err(AuthError::BadCodeVerifier);
        }
        let mut user = self.ports.users.find_user(code.user_id).await?.ok_or(AuthError::FlowStateNotFound)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        user.last_sign_in_at = Some(now);
        user.updated_at = now;
        let (session, refresh) = self.new_session(&user, code.auth_method, client, now)?;
        match self.ports.flows.redeem_auth_code(&code, &user, &session, &refresh.digest()).await {
            Ok(()) => {}
            Err(StoreError::NotFound) => return Err(AuthError::FlowStateNotFound),
            Err(other) => return Err(other.into()),
        }
        let details = json!({"method": code.auth_method.as_str(), "session_id": session.id.to_string(), "pkce": true});
        self.audit(AuditAction::Login, Actor::User(user.id), Some(user.id), client, details).await;
        self.issue(user, session, refresh, now)
    }
}
