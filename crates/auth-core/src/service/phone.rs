//! Phone accounts: sign-up, `POST /otp`, `/verify` with an SMS code, phone change and resends.
//! A code goes out as a text message queued in the outbox with the secret that carries it, in
//! one transaction, exactly as an emailed secret does; only its digest is stored.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{AuthService, ClientInfo, IssuedSession, Verified};
use crate::domain::{
    Actor, AuditAction, AuthMethod, Contact, LimitKey, Metadata, OneTimeKind, OneTimeSecret, OneTimeToken, Outgoing,
    OutgoingSms, Phone, Quota, SmsChannel, User, UserChange, UserId, code_digest,
};
use crate::error::{AuthError, MissingRow};
use crate::ports::{Admission, CodeQuota, LimiterError, Redemption};

/// A test number's fixed code (Supabase Auth's `GOTRUE_SMS_TEST_OTP`): nothing is sent to it.
#[derive(Clone, PartialEq, Eq)]
pub struct TestOtp {
    /// The code that number always gets.
    pub code: String,
}

impl std::fmt::Debug for TestOtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestOtp(..)")
    }
}

/// How phone sign-in and its text messages behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSettings {
    /// Phone sign-up and sign-in are on (`GOTRUE_EXTERNAL_PHONE_ENABLED`).
    pub enabled: bool,
    /// New numbers count as confirmed at once; no code is sent (`GOTRUE_SMS_AUTOCONFIRM`).
    pub autoconfirm: bool,
    /// How long a code works (`GOTRUE_SMS_OTP_EXP`).
    pub otp_ttl: Duration,
    /// Digits of a code, 6 to 10 (`GOTRUE_SMS_OTP_LENGTH`).
    pub otp_length: usize,
    /// Least time between two codes of one kind to one number (`GOTRUE_SMS_MAX_FREQUENCY`).
    pub send_interval: Duration,
    /// Most text messages the server sends, all numbers together (`GOTRUE_RATE_LIMIT_SMS_SENT`).
    pub global_limit: Quota,
    /// The message; `{{ .Code }}` is replaced by the code (`GOTRUE_SMS_TEMPLATE`).
    pub template: String,
    /// Numbers that get a fixed code and no message, for development.
    pub test_otp: BTreeMap<Phone, TestOtp>,
    /// After this the test numbers are ordinary numbers again.
    pub test_otp_valid_until: Option<DateTime<Utc>>,
    /// WhatsApp may be asked for (the provider sends it).
    pub whatsapp: bool,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            autoconfirm: false,
            otp_ttl: Duration::seconds(60),
            otp_length: 6,
            send_interval: Duration::seconds(60),
            global_limit: Quota { limit: 30, window: std::time::Duration::from_secs(3600) },
            template: "Your code is {{ .Code }}".into(),
            test_otp: BTreeMap::new(),
            test_otp_valid_until: None,
            whatsapp: false,
        }
    }
}

/// The message of `template` with `code` in it: Supabase Auth's template language knows one
/// variable, so `{{ .Code }}` (with or without the spaces) is all that is replaced.
pub(crate) fn render_sms(template: &str, code: &str) -> String {
    template.replace("{{ .Code }}", code).replace("{{.Code}}", code)
}

/// How long an account's allowance of codes lasts (shared with mailed ones).
const QUOTA_WINDOW: Duration = Duration::days(1);

impl AuthService {
    /// Refuses when phone sign-in is off.
    pub(super) fn require_phone(&self) -> Result<(), AuthError> {
        if self.settings.sms.enabled { Ok(()) } else { Err(AuthError::PhoneProviderDisabled) }
    }

    /// Reads a requested channel: `sms` by default, `whatsapp` only when the provider sends it.
    pub fn sms_channel(&self, requested: Option<&str>) -> Result<SmsChannel, AuthError> {
        let channel = requested.map(str::trim).filter(|c| !c.is_empty()).unwrap_or("sms");
        match SmsChannel::parse(channel) {
            Some(SmsChannel::Sms) => Ok(SmsChannel::Sms),
            Some(SmsChannel::Whatsapp) if self.settings.sms.whatsapp => Ok(SmsChannel::Whatsapp),
            _ => Err(AuthError::Validation {
                field: "channel",
                message: "Invalid channel, supported values are 'sms' or 'whatsapp'. 'whatsapp' is only supported if \
                          Twilio or Twilio Verify is used as the provider."
                    .into(),
            }),
        }
    }

    /// The fixed code of a test number, while test numbers are in force.
    fn test_code(&self, phone: &Phone) -> Option<&str> {
        let sms = &self.settings.sms;
        let in_force = sms.test_otp_valid_until.is_none_or(|until| self.ports.clock.now() < until);
        sms.test_otp.get(phone).filter(|_| in_force).map(|t| t.code.as_str())
    }

    /// Counts a request for a code of `kind` to `phone` (one per `sms.send_interval`), and,
    /// unless it goes to a test number, one message against the server's allowance.
    async fn admit_sms(&self, kind: OneTimeKind, phone: &Phone) -> Result<(), AuthError> {
        self.count_send_interval(kind, phone).await?;
        if self.test_code(phone).is_none() {
            self.hit_sms_limit(&LimitKey::new("sms_sent", "all"), self.settings.sms.global_limit).await?;
        }
        Ok(())
    }

    /// Counts one request for a code of `kind` to `phone` against `sms.send_interval`.
    async fn count_send_interval(&self, kind: OneTimeKind, phone: &Phone) -> Result<(), AuthError> {
        let Ok(window) = self.settings.sms.send_interval.to_std() else { return Ok(()) };
        let quota = Quota { limit: 1, window };
        self.hit_sms_limit(&LimitKey::new(&format!("sms_{}", kind.as_str()), phone.as_str()), quota).await
    }

    async fn hit_sms_limit(&self, key: &LimitKey, quota: Quota) -> Result<(), AuthError> {
        if quota.is_off() {
            return Ok(());
        }
        match self.limiter.hit(key, quota).await {
            Ok(Admission::Admitted) => Ok(()),
            Ok(Admission::Refused { retry_after }) => Err(AuthError::SmsRateLimited { retry_after }),
            // Closed: a limit that cannot count would let a flood of paid messages through.
            Err(LimiterError(detail)) => Err(AuthError::Unavailable(detail)),
        }
    }

    /// Draws a code of `kind` for `user`, sent to `to`, and the text message carrying it (none
    /// for a test number, whose code is fixed).
    fn prepare_sms(
        &self,
        user: &User,
        to: &Phone,
        kind: OneTimeKind,
        channel: SmsChannel,
    ) -> Result<(OneTimeToken, Option<Outgoing>), AuthError> {
        let now = self.ports.clock.now();
        let sms = &self.settings.sms;
        let test_code = self.test_code(to);
        if test_code.is_none() && self.ports.sms.is_none() {
            return Err(AuthError::SmsProviderMissing);
        }
        let secret = match test_code {
            Some(code) => OneTimeSecret::with_code(self.ports.random.as_ref(), code)?,
            None => OneTimeSecret::generate_with_digits(self.ports.random.as_ref(), sms.otp_length)?,
        };
        let token = OneTimeToken {
            user_id: user.id,
            kind,
            link_digest: secret.link_digest(),
            code_digest: code_digest(user.id, kind, secret.code()),
            sent_to: Contact::Phone(to.clone()),
            relates_to: None,
            created_at: now,
            link_expires_at: now + sms.otp_ttl,
            code_expires_at: now + sms.otp_ttl,
            pkce: None,
        };
        let message = test_code.is_none().then(|| {
            Outgoing::Sms(OutgoingSms { kind, to: to.clone(), text: render_sms(&sms.template, secret.code()), channel })
        });
        Ok((token, message))
    }

    /// Sends `user` a new code of `kind` to `to`: the secret and its message in one
    /// transaction, counted against the account's daily allowance of codes.
    async fn send_sms_code(
        &self,
        user: &User,
        to: &Phone,
        kind: OneTimeKind,
        channel: SmsChannel,
    ) -> Result<(), AuthError> {
        self.admit_sms(kind, to).await?;
        let (token, message) = self.prepare_sms(user, to, kind, channel)?;
        let now = self.ports.clock.now();
        let quota = CodeQuota { now, since: now - QUOTA_WINDOW, max: self.settings.email.max_codes_per_day };
        let issued = self
            .ports
            .flows
            .issue_tokens(user.id, &[(token, message)], &[], Some(quota))
            .await
            .or_missing(AuthError::UserNotFound)?;
        if issued {
            Ok(())
        } else {
            Err(AuthError::SmsRateLimited { retry_after: QUOTA_WINDOW.to_std().unwrap_or_default() })
        }
    }

    /// A new phone user, not yet stored.
    fn new_phone_user(
        &self,
        phone: Phone,
        password_hash: Option<crate::domain::PasswordHash>,
        metadata: Metadata,
        confirmed: bool,
    ) -> Result<User, AuthError> {
        let now = self.ports.clock.now();
        let id = UserId::generate(self.ports.random.as_ref())?;
        let mut app_metadata = Metadata::new();
        app_metadata.insert("provider", "phone".into());
        app_metadata.insert("providers", vec!["phone"].into());
        Ok(User {
            id,
            aud: self.settings.audience.clone(),
            role: self.settings.roles.authenticated.clone(),
            email: None,
            phone: Some(phone),
            username: None,
            password_hash,
            email_confirmed_at: None,
            phone_confirmed_at: confirmed.then_some(now),
            confirmation_sent_at: None,
            app_metadata,
            user_metadata: metadata,
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: now,
            updated_at: now,
            mail: Default::default(),
            deleted_at: None,
        })
    }

    /// Stores a new unconfirmed phone user with its confirmation code and message.
    async fn create_phone_user(&self, user: &User, channel: SmsChannel, client: &ClientInfo) -> Result<(), AuthError> {
        let phone = user.phone.clone().ok_or(AuthError::Internal("a phone user without a number".into()))?;
        self.admit_sms(OneTimeKind::PhoneConfirmation, &phone).await?;
        let (token, message) = self.prepare_sms(user, &phone, OneTimeKind::PhoneConfirmation, channel)?;
        let event =
            self.event(AuditAction::Signup, Actor::User(user.id), Some(user.id), client, json!({"provider": "phone"}));
        self.ports.flows.create_user_with_token(user, &token, message, std::slice::from_ref(&event)).await?;
        self.observed(std::slice::from_ref(&event));
        Ok(())
    }

    /// `POST /signup` with a phone number: a session when numbers are confirmed at once,
    /// otherwise the user, waiting for the code sent to the number.
    pub(super) async fn signup_phone(
        &self,
        phone: Phone,
        password: crate::domain::Password,
        metadata: Metadata,
        channel: SmsChannel,
        client: &ClientInfo,
    ) -> Result<super::SignupOutcome, AuthError> {
        self.require_phone()?;
        self.settings.password_policy.check(&password)?;
        let autoconfirm = self.settings.sms.autoconfirm;
        if let Some(existing) = self.ports.users.find_user_by_phone(&phone).await? {
            // The same hashing work as a new sign-up, so timing does not tell.
            self.ports.hasher.hash(&password).await?;
            if existing.phone_confirmed_at.is_some() {
                if autoconfirm {
                    return Err(AuthError::UserAlreadyExists);
                }
                // A look-alike of a fresh sign-up, nothing stored: the number's owner is not told.
                let decoy = self.new_phone_user(phone, None, metadata, false)?;
                return Ok(super::SignupOutcome::ConfirmationPending(Box::new(decoy)));
            }
            // Not confirmed yet: the code again (Supabase Auth changes nothing else).
            match self.send_sms_code(&existing, &phone, OneTimeKind::PhoneConfirmation, channel).await {
                Ok(()) | Err(AuthError::SmsRateLimited { .. }) => {}
                Err(other) => return Err(other),
            }
            let answer = self.new_phone_user(phone, None, metadata, false)?;
            let answer = User { id: existing.id, created_at: existing.created_at, ..answer };
            return Ok(super::SignupOutcome::ConfirmationPending(Box::new(answer)));
        }
        let hash = self.ports.hasher.hash(&password).await?;
        let mut user = self.new_phone_user(phone, Some(hash), metadata, autoconfirm)?;
        if autoconfirm {
            let now = self.ports.clock.now();
            user.last_sign_in_at = Some(now);
            let (session, token) = self.new_session(&user, AuthMethod::Password, client, now)?;
            let details = json!({"provider": "phone"});
            let event = self.event(AuditAction::Signup, Actor::User(user.id), Some(user.id), client, details);
            self.ports
                .sessions
                .create_user_with_session(&user, &session, &token.digest(), std::slice::from_ref(&event))
                .await?;
            self.observed(std::slice::from_ref(&event));
            return Ok(super::SignupOutcome::Session(Box::new(self.issue(user, session, token, now).await?)));
        }
        user.confirmation_sent_at = Some(self.ports.clock.now());
        self.create_phone_user(&user, channel, client).await?;
        Ok(super::SignupOutcome::ConfirmationPending(Box::new(user)))
    }

    /// `POST /otp` with a phone number: a code to sign in with; an unknown number gets an
    /// account (unless `create_user` is false) and its confirmation code, which signs in too.
    pub async fn send_phone_otp(
        &self,
        phone: &str,
        create_user: bool,
        data: Option<serde_json::Value>,
        channel: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.require_phone()?;
        let channel = self.sms_channel(channel)?;
        let phone = Phone::parse(phone)?;
        let metadata = Metadata::from_value(data.unwrap_or_default(), self.settings.metadata_max_bytes)?;
        if let Some(user) = self.ports.users.find_user_by_phone(&phone).await? {
            if user.is_banned(self.ports.clock.now()) {
                return Ok(());
            }
            return self.send_sms_code(&user, &phone, OneTimeKind::PhoneConfirmation, channel).await;
        }
        if !create_user {
            if self.settings.email.otp_reveals_unknown_addresses {
                return Err(AuthError::OtpDisabled);
            }
            // Counted as a send to a known number is, so a repeat answers 429 either way and
            // does not tell which numbers have an account.
            self.count_send_interval(OneTimeKind::PhoneConfirmation, &phone).await?;
            return Ok(());
        }
        if !self.settings.signup_enabled {
            return Err(AuthError::SignupDisabled);
        }
        let mut user = self.new_phone_user(phone, None, metadata, false)?;
        user.confirmation_sent_at = Some(self.ports.clock.now());
        match self.create_phone_user(&user, channel, client).await {
            // Created by a concurrent request a moment ago: that one sent the code.
            Err(AuthError::PhoneExists | AuthError::UserAlreadyExists) => Ok(()),
            other => other,
        }
    }

    /// `POST /resend` with `type` `sms` (the confirmation code again, while the number waits
    /// for it) or `phone_change` (the pending change's code again). Both find the user by its
    /// current number, as Supabase Auth does; an unknown number or nothing to resend answers
    /// alike.
    pub async fn resend_phone(&self, phone: &str, change: bool) -> Result<(), AuthError> {
        self.require_phone()?;
        let phone = Phone::parse(phone)?;
        let Some(user) = self.ports.users.find_user_by_phone(&phone).await? else { return Ok(()) };
        match (change, &user.mail.phone_change) {
            (false, _) if user.phone_confirmed_at.is_none() => {
                self.send_sms_code(&user, &phone, OneTimeKind::PhoneConfirmation, SmsChannel::Sms).await
            }
            (true, Some(new_phone)) => {
                let new_phone = new_phone.clone();
                self.send_sms_code(&user, &new_phone, OneTimeKind::PhoneChange, SmsChannel::Sms).await
            }
            _ => Ok(()),
        }
    }

    /// `PUT /user` with a new phone number: a code to the new number, which changes it once
    /// verified (`type: phone_change`); with `sms.autoconfirm` the number changes at once.
    pub(super) async fn request_phone_change(
        &self,
        user: &User,
        phone: &str,
        channel: Option<&str>,
    ) -> Result<(), AuthError> {
        self.require_phone()?;
        let channel = self.sms_channel(channel)?;
        let phone = Phone::parse(phone)?;
        if user.phone.as_ref() == Some(&phone) {
            return Ok(());
        }
        if self.ports.users.find_user_by_phone(&phone).await?.is_some() {
            return Err(AuthError::PhoneExists);
        }
        if self.settings.sms.autoconfirm {
            let now = self.ports.clock.now();
            let mut change = UserChange::at(now);
            change.phone = Some(phone);
            change.phone_confirmed_at = Some(Some(now));
            change.phone_change = Some(None);
            self.ports.users.change_user(user.id, &change).await.or_missing(AuthError::UserNotFound)?;
            return Ok(());
        }
        self.send_sms_code(user, &phone, OneTimeKind::PhoneChange, channel).await
    }

    /// `/verify` with a code sent by SMS: `sms` confirms the number (and signs in), and
    /// `phone_change` moves the account to the new number it was sent to. Every failure is
    /// `otp_expired`. Each guess is counted before it is compared.
    pub(super) async fn verify_phone(
        &self,
        change_number: bool,
        phone: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Verified, AuthError> {
        self.require_phone()?;
        let phone = Phone::parse(phone)?;
        let now = self.ports.clock.now();
        let kind = if change_number { OneTimeKind::PhoneChange } else { OneTimeKind::PhoneConfirmation };
        let users: Vec<UserId> = if change_number {
            let pending = self.ports.flows.find_tokens_sent_to(&Contact::Phone(phone.clone()), kind).await?;
            pending.into_iter().map(|t| t.user_id).collect()
        } else {
            self.ports.users.find_user_by_phone(&phone).await?.map(|u| u.id).into_iter().collect()
        };
        // Twilio Verify sends codes of its own, which only it can check (test numbers aside).
        let provider = self.ports.sms.as_ref().filter(|s| s.checks_codes() && self.test_code(&phone).is_none());
        let sent_here = Contact::Phone(phone.clone());
        let mut found = None;
        for user in users {
            let token = match provider {
                Some(provider) => match self.ports.flows.find_token(user, kind).await? {
                    Some(token) if token.sent_to == sent_here && now <= token.code_expires_at => {
                        let approved = provider.check_code(&phone, code).await.unwrap_or(false);
                        approved.then_some(token)
                    }
                    _ => None,
                },
                None => {
                    let guess = [(kind, code_digest(user, kind, code))];
                    self.ports.flows.try_code(user, &guess).await?
                }
            };
            if let Some(token) = token
                && now <= token.code_expires_at
                && token.sent_to == sent_here
            {
                found = Some(token);
                break;
            }
        }
        let token = found.ok_or(AuthError::OtpExpired)?;
        let mut user = self.ports.users.find_user(token.user_id).await?.ok_or(AuthError::OtpExpired)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        let mut change = UserChange::at(now);
        change.last_sign_in_at = Some(now);
        change.is_anonymous = Some(false);
        let action = if change_number {
            change.phone = Some(phone.clone());
            change.phone_confirmed_at = Some(Some(now));
            change.phone_change = Some(None);
            AuditAction::UserUpdated
        } else {
            // A code sent to a number the account no longer has is void.
            if user.phone.as_ref() != Some(&phone) {
                return Err(AuthError::OtpExpired);
            }
            if user.phone_confirmed_at.is_none() {
                change.phone_confirmed_at = Some(Some(now));
            }
            AuditAction::Login
        };
        change.apply_to(&mut user);
        let (session, refresh) = self.new_session(&user, AuthMethod::Otp, client, now)?;
        let redemption = Redemption::Session(session.clone(), refresh.digest());
        match self.ports.flows.redeem_token(&token, &change, redemption, None).await {
            Err(crate::ports::StoreError::Conflict(crate::ports::UniqueField::Phone)) => {
                return Err(AuthError::PhoneExists);
            }
            other => other.or_missing(AuthError::OtpExpired)?,
        };
        let details = json!({"method": "otp", "provider": "phone", "session_id": session.id.to_string()});
        self.audit(action, Actor::User(user.id), Some(user.id), client, details).await;
        let issued: IssuedSession = self.issue(user, session, refresh, now).await?;
        Ok(Verified::Session(Box::new(issued)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_takes_the_code_with_or_without_spaces() {
        assert_eq!(render_sms("Your code is {{ .Code }}", "123456"), "Your code is 123456");
        assert_eq!(render_sms("{{.Code}} is your code", "123456"), "123456 is your code");
    }
}
