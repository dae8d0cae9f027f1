//! Changing a user's address: the request (`PUT /user` with a new email), resending its mails,
//! and confirming each half from `/verify`.

use serde_json::json;

use super::links::quiet_over_quota;
use super::verification::{Verified, VerifyChannel};
use super::{AuthService, ClientInfo, LinkOptions, Principal};
use crate::domain::{Actor, AuditAction, AuthCode, AuthMethod, Email, MailKind, OneTimeKind, OneTimeToken, UserChange};
use crate::error::AuthError;
use crate::ports::Redemption;

/// The two halves of a change: the secret kind and the mail that carries it.
const HALVES: [(OneTimeKind, MailKind); 2] = [
    (OneTimeKind::EmailChangeNew, MailKind::EmailChangeNew),
    (OneTimeKind::EmailChangeCurrent, MailKind::EmailChangeCurrent),
];

impl AuthService {
    /// `PUT /user` with a new address: mails a confirmation to the new address and, with secure
    /// email change on and a current address to ask, an approval to the current one. The
    /// change applies when every mailed secret of it has been used.
    pub async fn request_email_change(
        &self,
        principal: &Principal,
        new_email: &str,
        link: &LinkOptions,
    ) -> Result<(), AuthError> {
        self.admit_mail(MailKind::EmailChangeNew, new_email).await?;
        let new_email = Email::parse(new_email)?;
        let user = &principal.user;
        if user.email.as_ref() == Some(&new_email) {
            return Ok(());
        }
        if self.ports.users.find_user_by_email(&new_email).await?.is_some() {
            return Err(AuthError::EmailExists);
        }
        if user.is_anonymous && self.settings.autoconfirm {
            // As a sign-up would with autoconfirm (Supabase Auth does the same): the address
            // applies at once and the account is anonymous no longer.
            let mut change = UserChange::at(self.ports.clock.now());
            change.email_confirmed_at = Some(change.updated_at);
            change.email = Some(new_email);
            change.is_anonymous = Some(false);
            self.ports.users.change_user(user.id, &change).await?;
            return Ok(());
        }
        let mut sends = vec![(new_email.clone(), OneTimeKind::EmailChangeNew, MailKind::EmailChangeNew)];
        if let Some(current) = &user.email
            && self.settings.email.secure_email_change
        {
            sends.push((current.clone(), OneTimeKind::EmailChangeCurrent, MailKind::EmailChangeCurrent));
        }
        let mut secrets = Vec::with_capacity(sends.len());
        for (to, kind, mail_kind) in sends {
            let (token, mail) = self.prepare_secret(user, &to, kind, mail_kind, link, Some(&new_email))?;
            secrets.push((token, Some(mail.into())));
        }
        // Both halves and their mails in one write, replacing every half of an earlier
        // request (an approval pending from one may never complete another): a failure leaves
        // neither, so a change never waits on the new address alone by accident.
        let halves = HALVES.map(|(kind, _)| kind);
        self.issue_secrets(user.id, &secrets, &halves, true).await
    }

    /// `POST /resend` for an email change: new secrets, and mails, for the halves of the change
    /// pending on the account with this address that have yet to be confirmed. Answers alike
    /// whether or not a change is pending.
    pub async fn resend_email_change(&self, email: &str, link: &LinkOptions) -> Result<(), AuthError> {
        // Counted with the requests that start a change, as one allowance per address.
        let Some(user) = self.user_to_mail(email, MailKind::EmailChangeNew).await? else { return Ok(()) };
        if user.is_banned(self.ports.clock.now()) {
            return Ok(());
        }
        let mut secrets = Vec::with_capacity(HALVES.len());
        for (kind, mail_kind) in HALVES {
            let Some(pending) = self.ports.flows.find_token(user.id, kind).await? else { continue };
            let Some(new_email) = &pending.relates_to else { continue };
            // Anyone may ask for a resend: the flow keeps the challenge it started with, so a
            // stranger can neither take it back to the implicit flow nor swap in their own.
            let link = LinkOptions { pkce: pending.pkce.clone(), ..link.clone() };
            let Some(to) = pending.sent_to.email() else { continue };
            let (token, mail) = self.prepare_secret(&user, to, kind, mail_kind, &link, Some(new_email))?;
            secrets.push((token, Some(mail.into())));
        }
        if secrets.is_empty() {
            return Ok(());
        }
        // Re-issued together, so their attempt counts restart together.
        quiet_over_quota(self.issue_secrets(user.id, &secrets, &[], true).await)
    }

    /// Uses one email-change secret. The change applies, and the user is signed in, when no
    /// secret of the change is left; until then the other address still has to confirm.
    pub(super) async fn confirm_email_change(
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
        // Halves naming different addresses come from requests that overlapped; neither may be
        // used, or one address would approve a change to an address it never saw.
        if let Some(pending) = self.ports.flows.find_token(user.id, other).await?
            && pending.relates_to.as_ref() != Some(&new_email)
        {
            return Err(AuthError::OtpExpired);
        }
        let mut change = UserChange::at(now);
        change.email = Some(new_email);
        change.email_confirmed_at = Some(Some(now));
        change.email_change = Some(None);
        change.last_sign_in_at = Some(now);
        // A confirmed address is a way to sign in: the account is anonymous no longer.
        if user.is_anonymous {
            change.is_anonymous = Some(false);
        }
        let mut changed = user.clone();
        change.apply_to(&mut changed);
        // One write decides, under the user's lock: this half is used and, when no other half
        // is left (expired or not), the change applies with what it starts. Two halves used
        // at once apply it exactly once.
        let confirmed = if let (VerifyChannel::Browser, Some(challenge)) = (channel, &token.pkce) {
            let ttl = self.settings.email.auth_code_ttl;
            let (secret, code) = AuthCode::issue(
                self.ports.random.as_ref(),
                user.id,
                challenge.clone(),
                AuthMethod::EmailChange,
                now,
                ttl,
            )?;
            if !self.redeem_token(token, &change, Redemption::AuthCode(code), Some(other)).await? {
                return Ok(Verified::AwaitingOtherAddress);
            }
            // Applied now, whether or not the code is ever exchanged.
            (Verified::AuthCode(secret), json!({"fields": ["email"], "pkce": true}))
        } else {
            let (session, refresh) = self.new_session(&changed, AuthMethod::EmailChange, client, now)?;
            let started = Redemption::Session(session.clone(), refresh.digest());
            if !self.redeem_token(token, &change, started, Some(other)).await? {
                return Ok(Verified::AwaitingOtherAddress);
            }
            let details = json!({"fields": ["email"], "session_id": session.id.to_string()});
            (Verified::Session(Box::new(self.issue(changed, session, refresh, now).await?)), details)
        };
        let (verified, details) = confirmed;
        self.audit(AuditAction::UserUpdated, Actor::User(user.id), Some(user.id), client, details).await;
        Ok(verified)
    }
}
