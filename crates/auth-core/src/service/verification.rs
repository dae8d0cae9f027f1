//! `/verify`: redeeming an emailed link or code once, for a session or, for a PKCE link in the
//! browser, an auth code.

use serde_json::json;

use super::{AuthService, ClientInfo, IssuedSession};
use crate::domain::{
    Actor, AuditAction, AuthCode, AuthCodeSecret, AuthMethod, CodeChallenge, Contact, Email, OneTimeKind, OneTimeToken,
    UserChange, UserId, code_digest, link_digest,
};
use crate::error::AuthError;
use crate::ports::Redemption;

/// Where a `/verify` answer goes: JSON to the caller, or a redirect of the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyChannel {
    /// The caller gets the session (auth-js `verifyOtp`); for a PKCE link only with the
    /// flow's verifier ([`VerifyProof::PkceLink`]).
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
    /// A code sent by SMS: confirms the number and signs in.
    Sms,
    /// A phone change, confirmed from the new number.
    PhoneChange,
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
            "sms" => Ok(Self::Sms),
            "phone_change" => Ok(Self::PhoneChange),
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
            Self::Sms => "sms",
            Self::PhoneChange => "phone_change",
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
            // Only with the number they were sent to ([`VerifyProof::PhoneCode`]).
            Self::Sms | Self::PhoneChange => &[],
        }
    }
}

/// The proof presented to `/verify`.
#[derive(Clone, PartialEq, Eq)]
pub enum VerifyProof {
    /// The token of an emailed link (`token_hash`, or `token` in a link).
    Link(String),
    /// The token of a PKCE link (`pkce_…`) posted by the client that started the flow, with
    /// the verifier behind the flow's challenge.
    PkceLink {
        /// The link token.
        token: String,
        /// The PKCE code verifier.
        code_verifier: String,
    },
    /// The 6-digit code with the address it was sent to.
    Code {
        /// The address.
        email: String,
        /// The code.
        code: String,
    },
    /// A code sent by SMS, with the number it was sent to.
    PhoneCode {
        /// The number.
        phone: String,
        /// The code.
        code: String,
    },
}

impl std::fmt::Debug for VerifyProof {
    // Both forms are one-time secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Link(_) => f.write_str("VerifyProof::Link(..)"),
            Self::PkceLink { .. } => f.write_str("VerifyProof::PkceLink(..)"),
            Self::Code { .. } => f.write_str("VerifyProof::Code(..)"),
            Self::PhoneCode { .. } => f.write_str("VerifyProof::PhoneCode(..)"),
        }
    }
}

/// The `/verify` type a stored secret of `kind` is verified with (written into its link).
pub(super) fn verify_type_for(kind: OneTimeKind) -> VerifyType {
    match kind {
        OneTimeKind::Confirmation => VerifyType::Signup,
        OneTimeKind::Recovery => VerifyType::Recovery,
        OneTimeKind::MagicLink => VerifyType::MagicLink,
        OneTimeKind::Invite => VerifyType::Invite,
        // Never redeemed through /verify: the code goes into `PUT /user` as the nonce.
        OneTimeKind::Reauthentication => VerifyType::Email,
        OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew => VerifyType::EmailChange,
        OneTimeKind::PhoneConfirmation => VerifyType::Sms,
        OneTimeKind::PhoneChange => VerifyType::PhoneChange,
    }
}

/// The kinds of secret a guess at `kind` counts against: both halves of an email change.
fn counted_with(kind: OneTimeKind) -> Vec<OneTimeKind> {
    match kind {
        OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew => {
            vec![OneTimeKind::EmailChangeCurrent, OneTimeKind::EmailChangeNew]
        }
        other => vec![other],
    }
}

impl AuthService {
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
        let (token, by_code) = match (proof, kind) {
            (VerifyProof::PhoneCode { phone, code }, VerifyType::Sms | VerifyType::PhoneChange) => {
                return self.verify_phone(kind == VerifyType::PhoneChange, phone, code, client).await;
            }
            (VerifyProof::PhoneCode { .. }, _) | (_, VerifyType::Sms | VerifyType::PhoneChange) => {
                return Err(AuthError::Validation { field: "type", message: "Invalid email verification type".into() });
            }
            (VerifyProof::Link(presented) | VerifyProof::PkceLink { token: presented, .. }, _) => {
                (self.token_by_link(kind, presented).await?, false)
            }
            (VerifyProof::Code { email, code }, _) => (self.token_by_code(kind, email, code).await?, true),
        };
        // A PKCE link answers a session only to the client holding the flow's verifier:
        // whoever merely read the link (a mail scanner's log, a forwarded mail) must not get
        // one by posting it. The browser gets an auth code instead, which needs the verifier
        // too. Refused before anything is used up, so the owner's click still works.
        if let (VerifyChannel::Api, Some(challenge), false) = (channel, &token.pkce, by_code) {
            let VerifyProof::PkceLink { code_verifier, .. } = proof else {
                return Err(AuthError::Validation {
                    field: "code_verifier",
                    message: "this link belongs to a PKCE flow: send its code_verifier too".into(),
                });
            };
            if !challenge.accepts(code_verifier.trim()) {
                return Err(AuthError::BadCodeVerifier);
            }
        }
        if matches!(token.kind, OneTimeKind::EmailChangeCurrent | OneTimeKind::EmailChangeNew) {
            return self.confirm_email_change(&token, channel, client).await;
        }
        let now = self.ports.clock.now();
        let mut user = self.ports.users.find_user(token.user_id).await?.ok_or(AuthError::OtpExpired)?;
        if user.is_banned(now) {
            return Err(AuthError::UserBanned);
        }
        // A secret sent to an address the account no longer has is void.
        if user.email.as_ref() != token.sent_to.email() {
            return Err(AuthError::OtpExpired);
        }
        // Only what using the secret changes is written: a ban, a password or a role set since
        // the user was read stays.
        let mut change = UserChange::at(now);
        change.last_sign_in_at = Some(now);
        if user.email_confirmed_at.is_none() {
            // The secret went to this address, so using it proves the address. A password set
            // before anyone proved it may be someone else's (an account made in another's name
            // before they arrived): unless this is that sign-up's own confirmation, it goes,
            // and only that password (one set meanwhile makes the use fail, to be tried again).
            if token.kind != OneTimeKind::Confirmation {
                change.password_hash = Some(None);
                change.only_if_password = Some(user.password_hash.clone());
            }
            change.email_confirmed_at = Some(Some(now));
            change.user_metadata = user.user_metadata.email_verified();
        }
        change.apply_to(&mut user);
        let method = match (token.kind, by_code) {
            (OneTimeKind::Confirmation, _) => AuthMethod::EmailSignup,
            (OneTimeKind::Recovery, _) => AuthMethod::Recovery,
            (OneTimeKind::MagicLink, true) => AuthMethod::Otp,
            (OneTimeKind::MagicLink, false) => AuthMethod::Magiclink,
            (OneTimeKind::Invite, _) => AuthMethod::Invite,
            (
                OneTimeKind::Reauthentication
                | OneTimeKind::EmailChangeCurrent
                | OneTimeKind::EmailChangeNew
                | OneTimeKind::PhoneConfirmation
                | OneTimeKind::PhoneChange,
                _,
            ) => {
                return Err(AuthError::OtpExpired);
            }
        };
        if let (VerifyChannel::Browser, Some(challenge)) = (channel, &token.pkce) {
            return self.redeem_for_auth_code(&token, &change, challenge, method).await;
        }
        let (session, refresh) = self.new_session(&user, method, client, now)?;
        self.redeem_token(&token, &change, Redemption::Session(session.clone(), refresh.digest()), None).await?;
        let details = json!({"method": method.as_str(), "session_id": session.id.to_string()});
        self.audit(AuditAction::Login, Actor::User(user.id), Some(user.id), client, details).await;
        Ok(Verified::Session(Box::new(self.issue(user, session, refresh, now).await?)))
    }

    /// The unexpired secret of a type `kind` may redeem whose link token was `presented`.
    async fn token_by_link(&self, kind: VerifyType, presented: &str) -> Result<OneTimeToken, AuthError> {
        let now = self.ports.clock.now();
        let token = self.ports.flows.find_token_by_link(&link_digest(presented)).await?;
        token.filter(|t| kind.kinds().contains(&t.kind) && now <= t.link_expires_at).ok_or(AuthError::OtpExpired)
    }

    /// The unexpired secret of a type `kind` may redeem whose code, sent to `email`, is `code`.
    /// Every guess is counted against each secret it is tried on before it is compared, so
    /// parallel guesses get no more tries than serial ones.
    async fn token_by_code(&self, kind: VerifyType, email: &str, code: &str) -> Result<OneTimeToken, AuthError> {
        let now = self.ports.clock.now();
        let address = Email::parse(email).map_err(|_| AuthError::OtpExpired)?;
        let mut tried: Vec<(UserId, Vec<OneTimeKind>)> = Vec::new();
        if let Some(user) = self.ports.users.find_user_by_email(&address).await? {
            let mut kinds = Vec::new();
            for counted in kind.kinds().iter().flat_map(|k| counted_with(*k)) {
                if !kinds.contains(&counted) {
                    kinds.push(counted);
                }
            }
            tried.push((user.id, kinds));
        }
        if kind == VerifyType::EmailChange {
            // The new address belongs to nobody yet: its code is found by recipient.
            let to = Contact::Email(address.clone());
            for pending in self.ports.flows.find_tokens_sent_to(&to, OneTimeKind::EmailChangeNew).await? {
                if !tried.iter().any(|(user, _)| *user == pending.user_id) {
                    tried.push((pending.user_id, counted_with(pending.kind)));
                }
            }
        }
        for (user, kinds) in tried {
            let guesses: Vec<_> = kinds.iter().map(|k| (*k, code_digest(user, *k, code))).collect();
            if let Some(token) = self.ports.flows.try_code(user, &guesses).await?
                && now <= token.code_expires_at
                && kind.kinds().contains(&token.kind)
            {
                return Ok(token);
            }
        }
        Err(AuthError::OtpExpired)
    }

    /// Uses `token` for a PKCE client: writes `change` and stores an auth code that `method`
    /// signed in, for the client holding the verifier to exchange.
    async fn redeem_for_auth_code(
        &self,
        token: &OneTimeToken,
        change: &UserChange,
        challenge: &CodeChallenge,
        method: AuthMethod,
    ) -> Result<Verified, AuthError> {
        let now = self.ports.clock.now();
        let ttl = self.settings.email.auth_code_ttl;
        let (secret, code) =
            AuthCode::issue(self.ports.random.as_ref(), token.user_id, challenge.clone(), method, now, ttl)?;
        self.redeem_token(token, change, Redemption::AuthCode(code), None).await?;
        Ok(Verified::AuthCode(secret))
    }
}
