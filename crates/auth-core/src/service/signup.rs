use serde_json::{Value, json};

use super::LinkOptions;
use super::{AuthService, ClientInfo, IssuedSession};
use crate::domain::{
    Actor, AuditAction, AuthMethod, CodeChallenge, Email, MailKind, Metadata, OneTimeKind, Password, Phone, User,
    UserChange, UserId, Username,
};
use crate::error::{AuthError, MissingRow};
use crate::ports::{HashError, PasswordCheck};

/// What a client sends to sign up. Every field is optional on the wire; the use case decides
/// which combinations make sense.
#[derive(Debug, Clone, Default)]
pub struct SignupRequest {
    /// Email address.
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Optional username.
    pub username: Option<String>,
    /// The password.
    pub password: Option<Password>,
    /// Initial `user_metadata`.
    pub data: Option<Value>,
    /// Where the confirmation link should send the browser (checked against the allow list).
    pub redirect_to: Option<String>,
    /// The client's PKCE challenge, for the confirmation link.
    pub pkce: Option<CodeChallenge>,
    /// How a phone sign-up's code travels: `sms` (the default) or `whatsapp`.
    pub channel: Option<String>,
}

/// The result of a sign-up.
#[derive(Debug, Clone)]
pub enum SignupOutcome {
    /// The account is usable at once (autoconfirm, username-only or anonymous).
    Session(Box<IssuedSession>),
    /// The account waits for its email address to be confirmed. For an address that already had
    /// a confirmed account this is a look-alike user that was not stored, so the answer does not
    /// reveal that the address is registered.
    ConfirmationPending(Box<User>),
}

impl AuthService {
    /// Signs up a new user, or an anonymous one when the request names no contact at all.
    pub async fn signup(&self, request: SignupRequest, client: &ClientInfo) -> Result<SignupOutcome, AuthError> {
        if !self.settings.signup_enabled {
            return Err(AuthError::SignupDisabled);
        }
        let email = request.email.as_deref().filter(|s| !s.trim().is_empty()).map(Email::parse).transpose()?;
        let phone = request.phone.as_deref().filter(|s| !s.trim().is_empty()).map(Phone::parse).transpose()?;
        let username = request.username.as_deref().filter(|s| !s.trim().is_empty()).map(Username::parse).transpose()?;
        let metadata = Metadata::from_value(request.data.unwrap_or(Value::Null), self.settings.metadata_max_bytes)?;
        let link = LinkOptions { redirect_to: request.redirect_to, pkce: request.pkce };

        if email.is_none() && phone.is_none() && username.is_none() && request.password.is_none() {
            return self.signup_anonymous(metadata, client).await;
        }
        if let Some(phone) = phone {
            if email.is_some() || username.is_some() {
                return Err(AuthError::Validation {
                    field: "phone",
                    message: "Only an email address or phone number should be provided on signup.".into(),
                });
            }
            let channel = self.sms_channel(request.channel.as_deref())?;
            if link.pkce.is_some() {
                return Err(AuthError::Validation {
                    field: "code_challenge",
                    message: "PKCE not supported for phone signups".into(),
                });
            }
            self.require_phone()?;
            let password = request.password.ok_or(AuthError::Validation {
                field: "password",
                message: "Signup requires a valid password".into(),
            })?;
            return self.signup_phone(phone, password, metadata, channel, client).await;
        }
        let password = request
            .password
            .ok_or(AuthError::Validation { field: "password", message: "Signup requires a valid password".into() })?;
        if email.is_none() && username.is_none() {
            return Err(AuthError::Validation {
                field: "email",
                message: "an email address or username is required".into(),
            });
        }
        self.settings.password_policy.check(&password)?;
        if email.is_some() && !self.settings.autoconfirm {
            // Refused before any look-up, so the answer is alike for every address.
            self.require_mail()?;
        }

        if let Some(email) = &email
            && let Some(existing) = self.ports.users.find_user_by_email(email).await?
        {
            return self.repeat_signup(existing, username, &password, metadata, &link).await;
        }
        if let Some(username) = &username
            && self.ports.users.find_user_by_username(username).await?.is_some()
        {
            return Err(AuthError::UsernameExists);
        }

        let now = self.ports.clock.now();
        let hash = self.ports.hasher.hash(&password).await?;
        let needs_confirmation = email.is_some() && !self.settings.autoconfirm;
        let id = UserId::generate(self.ports.random.as_ref())?;
        // Seeded with the email identity's fields, as Supabase Auth seeds it.
        let user_metadata = match &email {
            Some(email) => metadata.clone().seeded_for_email(&id.to_string(), email.as_str(), !needs_confirmation),
            None => metadata.clone(),
        };
        let user = User {
            id,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email_confirmed_at: (email.is_some() && !needs_confirmation).then_some(now),
            email,
            phone: None,
            username,
            password_hash: Some(hash),
            phone_confirmed_at: None,
            confirmation_sent_at: None,
            app_metadata: self.app_metadata_for("email"),
            user_metadata,
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
            mail: Default::default(),
            deleted_at: None,
        };
        let mut user = user;
        // A usable account is stored together with its first session, so a failure half-way
        // leaves no account that the client was told did not get made.
        let first_session = if needs_confirmation {
            None
        } else {
            user.last_sign_in_at = Some(now);
            Some(self.new_session(&user, AuthMethod::Password, client, now)?)
        };
        if needs_confirmation {
            user.confirmation_sent_at = Some(now);
        }
        let details = json!({"provider": "email"});
        let event = self.event(AuditAction::Signup, Actor::User(user.id), Some(user.id), client, details);
        let created = match &first_session {
            None => match self.create_unconfirmed(&user, &link, &event).await {
                Err(AuthError::EmailExists) => {
                    Err(crate::ports::StoreError::Conflict(crate::ports::UniqueField::Email))
                }
                Err(AuthError::UsernameExists) => {
                    Err(crate::ports::StoreError::Conflict(crate::ports::UniqueField::Username))
                }
                Err(other) => return Err(other),
                Ok(()) => Ok(()),
            },
            // `create_unconfirmed` reports its event itself once it committed.
            Some((session, token)) => self
                .ports
                .sessions
                .create_user_with_session(&user, session, &token.digest(), std::slice::from_ref(&event))
                .await
                .map(|()| self.observed(std::slice::from_ref(&event))),
        };
        match created {
            Ok(()) => {}
            // Lost a race with a concurrent sign-up of the same address: answer as a repeat.
            Err(crate::ports::StoreError::Conflict(crate::ports::UniqueField::Email)) => {
                if let Some(email) = &user.email
                    && let Some(existing) = self.ports.users.find_user_by_email(email).await?
                {
                    return self.repeat_signup(existing, user.username.clone(), &password, metadata, &link).await;
                }
                return Err(AuthError::UserAlreadyExists);
            }
            Err(other) => return Err(other.into()),
        }
        match first_session {
            None => Ok(SignupOutcome::ConfirmationPending(Box::new(user))),
            Some((session, token)) => {
                Ok(SignupOutcome::Session(Box::new(self.issue(user, session, token, now).await?)))
            }
        }
    }

    async fn signup_anonymous(&self, metadata: Metadata, client: &ClientInfo) -> Result<SignupOutcome, AuthError> {
        if !self.settings.anonymous_enabled {
            return Err(AuthError::AnonymousProviderDisabled);
        }
        let now = self.ports.clock.now();
        let user = User {
            id: UserId::generate(self.ports.random.as_ref())?,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email: None,
            phone: None,
            username: None,
            password_hash: None,
            email_confirmed_at: None,
            phone_confirmed_at: None,
            confirmation_sent_at: None,
            app_metadata: self.app_metadata_for("anonymous"),
            user_metadata: metadata,
            banned_until: None,
            is_anonymous: true,
            last_sign_in_at: Some(now),
            created_at: now,
            updated_at: now,
            mail: Default::default(),
            deleted_at: None,
        };
        let (session, token) = self.new_session(&user, AuthMethod::Anonymous, client, now)?;
        let details = json!({"provider": "anonymous"});
        let event = self.event(AuditAction::Signup, Actor::User(user.id), Some(user.id), client, details);
        self.ports
            .sessions
            .create_user_with_session(&user, &session, &token.digest(), std::slice::from_ref(&event))
            .await?;
        self.observed(std::slice::from_ref(&event));
        Ok(SignupOutcome::Session(Box::new(self.issue(user, session, token, now).await?)))
    }

    /// Sign-up of an address that already has an account.
    async fn repeat_signup(
        &self,
        existing: User,
        username: Option<Username>,
        password: &Password,
        metadata: Metadata,
        link: &LinkOptions,
    ) -> Result<SignupOutcome, AuthError> {
        if self.settings.autoconfirm {
            // Still the same hashing work as a new sign-up.
            self.ports.hasher.hash(password).await?;
            return Err(AuthError::UserAlreadyExists);
        }
        if existing.email_confirmed_at.is_none() {
            return self.repeat_unconfirmed_signup(existing, username, password, metadata, link).await;
        }
        // The same hashing work as a new sign-up, so the answer's timing does not tell a
        // registered address from a new one.
        self.ports.hasher.hash(password).await?;
        // Confirmed account and confirmation required: answer with a user that looks freshly
        // created, exactly as a new sign-up would, and store nothing. Built from defaults only:
        // nothing of the real account (its role, audience, metadata) may show through.
        let id = UserId::generate(self.ports.random.as_ref())?;
        let now = self.ports.clock.now();
        let decoy = self.pending_look_alike(id, existing.email, username, metadata, now);
        Ok(SignupOutcome::ConfirmationPending(Box::new(decoy)))
    }

    /// Sign-up of an address whose account nobody has confirmed yet.
    ///
    /// Nobody has proved the address, so neither sign-up can be trusted with the account: the
    /// same password again only asks for the mail once more, while a different one marks the
    /// account as contested and clears its password and data. Confirming then signs the
    /// mailbox's owner in with no password that someone else chose; they set their own inside
    /// that session. Letting the latest password win instead would let it ride on a
    /// confirmation mail sent to the first person.
    async fn repeat_unconfirmed_signup(
        &self,
        mut existing: User,
        username: Option<Username>,
        password: &Password,
        metadata: Metadata,
        link: &LinkOptions,
    ) -> Result<SignupOutcome, AuthError> {
        // One password check costs what a new sign-up's hash costs, so timing tells nothing.
        let same_password = match self.ports.hasher.verify(password, existing.password_hash.as_ref()).await {
            Ok(check) => matches!(check, PasswordCheck::Match { .. }),
            Err(HashError::UnreadableHash) => false,
            Err(other) => return Err(other.into()),
        };
        if !same_password && (existing.password_hash.is_some() || !existing.user_metadata.is_empty()) {
            // Those two fields only, and only while the password is still the one just checked.
            let mut change = UserChange::at(self.ports.clock.now());
            change.password_hash = Some(None);
            change.user_metadata = Some(Metadata::new());
            change.only_if_password = Some(existing.password_hash.clone());
            let cleared =
                self.ports.users.change_user(existing.id, &change).await.or_missing(AuthError::UserNotFound)?;
            // `None`: the password changed meanwhile, and whoever changed it decided.
            if let Some(cleared) = cleared {
                existing = cleared;
            }
        }
        // Signing up again is how people ask for the confirmation mail once more.
        if let Some(email) = &existing.email {
            let last = self.ports.flows.last_mail_to(email, MailKind::Confirmation).await?;
            let now = self.ports.clock.now();
            if last.is_none_or(|at| now - at >= self.settings.email.send_interval) {
                let sent = self.send_secret(&existing, OneTimeKind::Confirmation, MailKind::Confirmation, link).await;
                super::links::quiet_over_quota(sent)?;
            }
        }
        // The answer echoes what was sent, as a first sign-up's would, and never shows what
        // the stored account holds.
        let mut answer = self.pending_look_alike(existing.id, existing.email, username, metadata, existing.created_at);
        answer.confirmation_sent_at = existing.confirmation_sent_at;
        Ok(SignupOutcome::ConfirmationPending(Box::new(answer)))
    }

    /// The user a sign-up waiting for confirmation answers, from the request and defaults
    /// alone, so a repeat sign-up looks like a first one.
    fn pending_look_alike(
        &self,
        id: UserId,
        email: Option<Email>,
        username: Option<Username>,
        metadata: Metadata,
        created_at: chrono::DateTime<chrono::Utc>,
    ) -> User {
        let user_metadata = match &email {
            Some(address) => metadata.seeded_for_email(&id.to_string(), address.as_str(), false),
            None => metadata,
        };
        User {
            id,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email,
            phone: None,
            username,
            password_hash: None,
            email_confirmed_at: None,
            phone_confirmed_at: None,
            confirmation_sent_at: Some(created_at),
            app_metadata: self.app_metadata_for("email"),
            user_metadata,
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at,
            updated_at: created_at,
            mail: Default::default(),
            deleted_at: None,
        }
    }

    fn app_metadata_for(&self, provider: &str) -> Metadata {
        let mut app = Metadata::new();
        app.insert("provider", Value::from(provider));
        app.insert("providers", Value::from(vec![provider]));
        app
    }
}
