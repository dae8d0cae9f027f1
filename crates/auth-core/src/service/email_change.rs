//! Changing a user's address: the request (`PUT /user` with a new email), resending its mails,
//! and confirming each half from `/verify`.

use serde_json::json;

use super::verification::{Verified, VerifyChannel};
use super::{AuthService, ClientInfo, LinkOptions, Principal};
use crate::domain::{Actor, AuditAction, AuthMethod, Email, MailKind, OneTimeKind, OneTimeToken};
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
        self.admit_mail(MailKind::EmailChangeNew, new_email)?;
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
        } else if let Some(stale) = self.ports.flows.find_token(user.id, OneTimeKind::EmailChangeCurrent).await? {
            // A change without a second confirmation replaces any pending approval. Gone
            // already (used or replaced meanwhile) is as good as withdrawn; any other failure
            // stops the change, or the stale approval could still complete it.
            match self.redeem_token(&stale, user, Redemption::Nothing).await {
                Ok(()) | Err(AuthError::OtpExpired) => {}
                Err(other) => return Err(other),
            }
        }
        for (to, kind, mail_kind) in sends {
            let (token, mail) = self.prepare_secret(user, &to, kind, mail_kind, link, Some(&new_email))?;
            self.issue_token(&token, Some(mail)).await?;
        }
        Ok(())
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
        for (kind, mail_kind) in HALVES {
            let Some(pending) = self.ports.flows.find_token(user.id, kind).await? else { continue };
            let Some(new_email) = &pending.relates_to else { continue };
            // Anyone may ask for a resend: the flow keeps the challenge it started with, so a
            // stranger can neither take it back to the implicit flow nor swap in their own.
            let link = LinkOptions { pkce: pending.pkce.clone(), ..link.clone() };
            let (token, mail) =
                self.prepare_secret(&user, &pending.sent_to, kind, mail_kind, &link, Some(new_email))?;
            self.issue_token(&token, Some(mail)).await?;
        }
        Ok(())
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
        // Any other half still pending blocks, expired or not: the change then needs a new
        // request, never just this address. Halves naming different addresses come from
        // requests that overlapped; neither may be used, or one address would approve a change
        // to an address it never saw.
        if let Some(pending) = self.ports.flows.find_token(user.id, other).await? {
            if pending.relates_to.as_ref() != Some(&new_email) {
                return Err(AuthError::OtpExpired);
            }
            self.redeem_token(token, &user, Redemption::Nothing).await?;
            return Ok(Verified::AwaitingOtherAddress);
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
        self.redeem_token(token, &changed, Redemption::Session(session.clone(), refresh.digest())).await?;
        let details = json!({"fields": ["email"], "session_id": session.id.to_string()});
        self.audit(AuditAction::UserUpdated, Actor::User(user.id), Some(user.id), client, details).await;
        Ok(Verified::Session(Box::new(self.issue(changed, session, refresh, now)?)))
    }
}
