//! The use cases, one concept per module: sign-up, sign-in, refresh, access checks, account
//! changes, the emailed links and codes (sending, `/verify`, email change, PKCE), the
//! operator's user management and links, and mail delivery. Each one reads time and
//! randomness through the ports and leaves storage consistent.

mod account;
mod admin;
mod admin_links;
mod authenticate;
mod delivery;
mod email_change;
mod external;
mod external_accounts;
mod identities;
mod issue;
mod links;
mod mail_throttle;
mod mfa;
mod password_throttle;
mod phone;
mod pkce;
mod pruning;
mod recovery_codes;
mod refresh;
mod sign_in;
mod signup;
mod verification;

use std::sync::Arc;

use chrono::Duration;

use crate::domain::{Actor, AuditAction, AuditEvent, MailKind, RedirectPolicy, UserId};
use crate::domain::{METADATA_DEFAULT_MAX_BYTES, PasswordPolicy, SessionLimits};
use crate::error::AuthError;
use crate::ports::{
    AuditLog, Clock, EmailFlowStore, FactorStore, IdentityProviders, IdentityStore, MailTemplates, NoLimits,
    NoObserver, NoProviders, Observer, PasswordHasher, Random, RateLimiter, SessionStore, SmsSender, StoreError,
    StorePorts, TokenChain, TokenSigner, Totp, UserStore,
};

pub use account::{LogoutScope, UserChanges};
pub use admin::{AdminUserAttributes, UserPage};
pub use admin_links::{GeneratedLink, LinkType};
pub use authenticate::Principal;
pub use delivery::{DeliveryReport, MailDelivery, SmsReport};
pub use external::{
    CallbackFailure, ExternalCallback, ExternalLanding, ExternalSettings, ExternalStart, ExternalStarted, LandedWith,
};
pub use identities::has_email_identity;
pub use issue::IssuedSession;
pub use links::{LinkOptions, SignInMail};
pub use mfa::{MfaSettings, TotpEnrollment};
pub use password_throttle::PasswordThrottle;
pub use phone::{SmsSettings, TestOtp};
pub use pruning::{PrunePolicy, PruneReport, Pruner};
pub use recovery_codes::{RecoveryCodeSet, RecoveryCodeStatus};
pub use sign_in::Identifier;
pub use signup::{SignupOutcome, SignupRequest};
pub use verification::{Verified, VerifyChannel, VerifyProof, VerifyType};

/// The adapters a service runs on.
#[derive(Clone)]
pub struct Ports {
    /// User persistence.
    pub users: Arc<dyn UserStore>,
    /// Session and refresh-token persistence.
    pub sessions: Arc<dyn SessionStore>,
    /// Password hashing.
    pub hasher: Arc<dyn PasswordHasher>,
    /// Access-token signing.
    pub signer: Arc<dyn TokenSigner>,
    /// Refresh-token successors.
    pub chain: Arc<dyn TokenChain>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Randomness.
    pub random: Arc<dyn Random>,
    /// The audit log.
    pub audit: Arc<dyn AuditLog>,
    /// Emailed one-time secrets and the outbox.
    pub flows: Arc<dyn EmailFlowStore>,
    /// Mail rendering; `None` for a service that sends no mail, whose use cases that would
    /// queue one refuse with [`AuthError::MailDisabled`] before writing anything.
    pub templates: Option<Arc<dyn MailTemplates>>,
    /// Second factors and their challenges.
    pub factors: Arc<dyn FactorStore>,
    /// TOTP codes and sealed secrets; `None` for a service without TOTP factors, whose
    /// enrollments and verifications refuse as turned off.
    pub totp: Option<Arc<dyn Totp>>,
    /// External identities and their sign-in flows.
    pub identities: Arc<dyn IdentityStore>,
    /// The identity providers ([`NoProviders`] until [`Ports::with_providers`]).
    pub providers: Arc<dyn IdentityProviders>,
    /// The SMS provider; `None` for a service that sends no text messages (phone sign-in then
    /// works only for test numbers, when it is turned on at all).
    pub sms: Option<Arc<dyn SmsSender>>,
}

impl Ports {
    /// The ports of a service over one store's `stores`, with these crypto adapters, clock and
    /// random source, and no mail templates (see [`Ports::with_templates`]).
    pub fn new(
        stores: &StorePorts,
        hasher: Arc<dyn PasswordHasher>,
        signer: Arc<dyn TokenSigner>,
        chain: Arc<dyn TokenChain>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        Self {
            users: Arc::clone(&stores.users),
            sessions: Arc::clone(&stores.sessions),
            hasher,
            signer,
            chain,
            clock,
            random,
            audit: Arc::clone(&stores.audit),
            flows: Arc::clone(&stores.flows),
            templates: None,
            factors: Arc::clone(&stores.factors),
            totp: None,
            identities: Arc::clone(&stores.identities),
            providers: Arc::new(NoProviders),
            sms: None,
        }
    }

    /// These ports, signing users in through `providers` (auth-idp's `Providers`, or your own).
    pub fn with_providers(mut self, providers: Arc<dyn IdentityProviders>) -> Self {
        self.providers = providers;
        self
    }

    /// These ports, sending text messages through `sms` (auth-sms's providers, or your own).
    pub fn with_sms(mut self, sms: Arc<dyn SmsSender>) -> Self {
        self.sms = Some(sms);
        self
    }

    /// These ports, with TOTP factors computed and sealed by `totp` (auth-crypto's
    /// `TotpFactors`, or your own).
    pub fn with_totp(mut self, totp: Arc<dyn Totp>) -> Self {
        self.totp = Some(totp);
        self
    }

    /// These ports, rendering mail with `templates` (auth-mail's `Templates`, or your own), so
    /// the email flows (confirmation, recovery, magic links, email change, invitations) work.
    pub fn with_templates(mut self, templates: Arc<dyn MailTemplates>) -> Self {
        self.templates = Some(templates);
        self
    }
}

/// How emailed links and codes behave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// Where links may send the browser after verification.
    pub redirects: RedirectPolicy,
    /// The public URL of this server's `GET /verify`, which emailed links point at.
    pub verify_url: String,
    /// How long an emailed link works.
    pub link_ttl: Duration,
    /// How long an emailed code works.
    pub code_ttl: Duration,
    /// Least time between two mails of one kind to one address (zero: no limit).
    pub send_interval: Duration,
    /// An email change needs the current address's approval as well as the new one's.
    pub secure_email_change: bool,
    /// PKCE's `plain` method is accepted (off: only `s256`).
    pub allow_plain_pkce: bool,
    /// How long a PKCE auth code can be exchanged after its link was used.
    pub auth_code_ttl: Duration,
    /// `POST /otp` with `create_user: false` for an address without an account answers
    /// [`AuthError::OtpDisabled`], as Supabase Auth does, which tells that the address has no
    /// account; off, it answers as for a known address and sends nothing.
    pub otp_reveals_unknown_addresses: bool,
    /// Most secrets mailed to one account in a day at its own or anyone's request (an
    /// operator's generated links do not count); each carries a code, so this bounds the
    /// guesses at an account's codes across re-issues.
    pub max_codes_per_day: u32,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            redirects: RedirectPolicy::local_default(),
            verify_url: "http://127.0.0.1:9999/auth/v1/verify".into(),
            link_ttl: Duration::hours(1),
            code_ttl: Duration::minutes(10),
            send_interval: Duration::seconds(60),
            secure_email_change: true,
            allow_plain_pkce: false,
            auth_code_ttl: Duration::minutes(5),
            otp_reveals_unknown_addresses: false,
            max_codes_per_day: 10,
        }
    }
}

/// Database role names written into tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleNames {
    /// Requests without a user (the anon key).
    pub anonymous: String,
    /// Signed-in users.
    pub authenticated: String,
    /// Operators (the service-role key).
    pub service: String,
}

impl Default for RoleNames {
    fn default() -> Self {
        Self { anonymous: "anon".into(), authenticated: "authenticated".into(), service: "service_role".into() }
    }
}

/// The behaviour the operator chose; built by the binary from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// `iss` of access tokens; empty leaves the claim out.
    pub issuer: String,
    /// `aud` of access tokens.
    pub audience: String,
    /// Role names.
    pub roles: RoleNames,
    /// Lifetime of an access token.
    pub access_token_ttl: Duration,
    /// How long a used refresh token may be presented again without counting as reuse.
    pub reuse_interval: Duration,
    /// How long a used refresh token whose successor was never used may be presented again
    /// and get that successor (see [`crate::domain::Rotation::lost_answer_window`]).
    pub lost_answer_window: Duration,
    /// Session timebox and inactivity timeout.
    pub session_limits: SessionLimits,
    /// Rules for new passwords.
    pub password_policy: PasswordPolicy,
    /// Largest serialised `user_metadata` or `app_metadata`, in bytes.
    pub metadata_max_bytes: usize,
    /// Whether new accounts may sign up.
    pub signup_enabled: bool,
    /// Whether new email addresses count as confirmed at once.
    pub autoconfirm: bool,
    /// Whether anonymous sign-in is allowed.
    pub anonymous_enabled: bool,
    /// Whether a password change needs the current password.
    pub require_current_password: bool,
    /// Whether users may delete their own account.
    pub self_delete_enabled: bool,
    /// Per-account throttle of password checks.
    pub password_throttle: PasswordThrottle,
    /// How long after an email-proven sign-in (magic link, code, invitation, confirmation) an
    /// account without a password may set one or delete itself without a reauthentication code.
    pub reauthentication_window: Duration,
    /// Emailed links and codes.
    pub email: EmailSettings,
    /// Second factors.
    pub mfa: MfaSettings,
    /// External sign-in.
    pub external: ExternalSettings,
    /// Phone sign-in and the text messages it sends.
    pub sms: SmsSettings,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: "authenticated".into(),
            roles: RoleNames::default(),
            access_token_ttl: Duration::seconds(3600),
            reuse_interval: Duration::seconds(10),
            lost_answer_window: Duration::hours(24),
            session_limits: SessionLimits::default(),
            password_policy: PasswordPolicy::default(),
            metadata_max_bytes: METADATA_DEFAULT_MAX_BYTES,
            signup_enabled: true,
            autoconfirm: false,
            anonymous_enabled: false,
            require_current_password: true,
            self_delete_enabled: true,
            password_throttle: PasswordThrottle::default(),
            reauthentication_window: Duration::minutes(5),
            email: EmailSettings::default(),
            mfa: MfaSettings::default(),
            external: ExternalSettings::default(),
            sms: SmsSettings::default(),
        }
    }
}

/// Who is asking, for the session record (never used to decide anything here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// Client IP as the HTTP adapter determined it.
    pub ip: Option<String>,
    /// `User-Agent` header.
    pub user_agent: Option<String>,
}

/// The use cases over a set of ports, reporting what they do to an [`Observer`].
///
/// Clones share their state: the rate limiter (and with it the per-address mail throttle).
#[derive(Clone)]
pub struct AuthService {
    ports: Ports,
    settings: Arc<AuthSettings>,
    observer: Arc<dyn Observer>,
    limiter: Arc<dyn RateLimiter>,
}

impl AuthService {
    /// A service over `ports`, behaving as `settings` say.
    pub fn new(ports: Ports, settings: AuthSettings) -> Self {
        Self { ports, settings: Arc::new(settings), observer: Arc::new(NoObserver), limiter: Arc::new(NoLimits) }
    }

    /// This service, throttling password checks per account and mail per address on `limiter`
    /// (until then, [`NoLimits`]: no throttle). The HTTP adapter counts its per-IP limits on the same one.
    pub fn with_limiter(mut self, limiter: Arc<dyn RateLimiter>) -> Self {
        self.limiter = limiter;
        self
    }

    /// The rate limiter the service counts on.
    pub fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.limiter
    }

    /// This service, reporting audit events and queued mails to `observer` (metrics, for one).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Refuses a use case that would mail when this service was built without templates.
    fn require_mail(&self) -> Result<(), AuthError> {
        match self.ports.templates {
            Some(_) => Ok(()),
            None => Err(AuthError::MailDisabled),
        }
    }

    /// The settings in force.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Appends an event to the audit log; never fails the use case (see [`AuditLog::record`]).
    async fn audit(
        &self,
        action: AuditAction,
        actor: Actor,
        target: Option<UserId>,
        client: &ClientInfo,
        details: serde_json::Value,
    ) {
        let event = self.event(action, actor, target, client, details);
        // Observed as it is recorded: the event happened even if the log cannot keep it.
        self.observer.recorded(&event);
        self.ports.audit.record(event).await;
    }

    /// An audit event happening now, for a write that records it in its own transaction (and
    /// reports it with [`Self::observed`] once it committed).
    fn event(
        &self,
        action: AuditAction,
        actor: Actor,
        target: Option<UserId>,
        client: &ClientInfo,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            id: 0,
            at: self.ports.clock.now(),
            action,
            actor,
            target,
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            details,
        }
    }

    /// Reports the events that a committed write recorded.
    fn observed(&self, events: &[AuditEvent]) {
        for event in events {
            self.observer.recorded(event);
        }
    }

    /// Runs `write`, which queues a mail of each of `kinds` with what it stores when it answers
    /// `true`, and reports the mails to the observer once the write succeeded. Every mail is
    /// queued here.
    async fn queue_mail_with(
        &self,
        kinds: &[MailKind],
        write: impl Future<Output = Result<bool, StoreError>>,
    ) -> Result<bool, StoreError> {
        let queued = write.await?;
        if queued {
            for kind in kinds {
                self.observer.mail_queued(*kind);
            }
        }
        Ok(queued)
    }

    /// The public signing keys as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.ports.signer.jwks()
    }
}
