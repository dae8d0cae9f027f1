//! The test world and its doubles: [`TestWorld`] builds the use cases over the in-memory store,
//! a clock that only moves when told to, a deterministic byte source, an instant "hasher",
//! unsigned tokens and an unkeyed token chain, with typed helpers for the common steps. They
//! make use-case and HTTP tests fast and deterministic; never wire them in production.

mod totp;

pub use totp::FakeTotp;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::AuthError;
use crate::domain::{AccessClaims, LimitKey, OutgoingSms, Password, PasswordHash, Quota, RefreshToken, gcra};
use crate::memory::MemoryStore;
use crate::ports::{
    Admission, Clock, HashError, LimiterError, Mail, MailOutbox, NoObserver, Observer, PasswordCheck, PasswordHasher,
    Random, RandomError, RateLimiter, SmsError, SmsReceipt, SmsSender, TokenChain, TokenError, TokenSigner,
};
use crate::service::{
    AuthService, AuthSettings, ClientInfo, Identifier, IssuedSession, Ports, SignupOutcome, SignupRequest,
};

/// The use cases over fresh test doubles, with handles on what tests poke: the store (to read
/// or seed it), the clock (to move it) and the hasher (to count its work). Swap or wrap a port
/// with [`TestWorld::with_ports`], watch the use cases with [`TestWorld::with_observer`], or get
/// a one-off service with [`TestWorld::service_with`].
pub struct TestWorld {
    /// The use cases over [`TestWorld::ports`].
    pub service: AuthService,
    /// Every storage port.
    pub store: Arc<MemoryStore>,
    /// The clock, at [`TestWorld::start`] until moved.
    pub clock: Arc<ManualClock>,
    /// The password hasher.
    pub hasher: Arc<PlainHasher>,
    /// The byte source.
    pub random: Arc<SequentialRandom>,
    /// The rate limiter the use cases count on, on the world's clock.
    pub limiter: Arc<MemoryLimiter>,
    ports: Ports,
    settings: AuthSettings,
    observer: Arc<dyn Observer>,
}

impl TestWorld {
    /// When every test world's clock starts: 2030-01-01T00:00:00Z.
    pub fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }

    /// A world behaving as `settings` say.
    pub fn new(settings: AuthSettings) -> Self {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(Self::start()));
        let hasher = Arc::new(PlainHasher::default());
        let random = Arc::new(SequentialRandom::default());
        let ports = Ports {
            sms: None,
            users: store.clone(),
            sessions: store.clone(),
            hasher: hasher.clone(),
            signer: Arc::new(UnsignedTokens),
            chain: Arc::new(DigestChain),
            clock: clock.clone(),
            random: random.clone(),
            audit: store.clone(),
            flows: store.clone(),
            templates: Some(Arc::new(PlainTemplates)),
            factors: store.clone(),
            totp: Some(Arc::new(FakeTotp::new(random.clone()))),
            identities: store.clone(),
            providers: Arc::new(crate::ports::NoProviders),
        };
        let limiter = Arc::new(MemoryLimiter::new(clock.clone()));
        let service = AuthService::new(ports.clone(), settings.clone()).with_limiter(limiter.clone());
        Self { service, store, clock, hasher, random, limiter, ports, settings, observer: Arc::new(NoObserver) }
    }

    /// A world with the default settings but autoconfirm on, so sign-ups answer sessions.
    pub fn autoconfirm() -> Self {
        Self::new(AuthSettings { autoconfirm: true, ..AuthSettings::default() })
    }

    /// This world with some ports swapped or wrapped (a mock, a metering decorator); the
    /// handles keep pointing at the originals.
    pub fn with_ports(mut self, change: impl FnOnce(&mut Ports)) -> Self {
        change(&mut self.ports);
        self.service = self.service_over(self.ports.clone());
        self
    }

    /// This world with its use cases reporting to `observer` (metrics, a recorder).
    pub fn with_observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self.service = self.service_over(self.ports.clone());
        self
    }

    /// A service over this world's ports, some swapped as `change` says, leaving the world as
    /// it is.
    pub fn service_with(&self, change: impl FnOnce(&mut Ports)) -> AuthService {
        let mut ports = self.ports.clone();
        change(&mut ports);
        self.service_over(ports)
    }

    fn service_over(&self, ports: Ports) -> AuthService {
        AuthService::new(ports, self.settings.clone())
            .with_observer(Arc::clone(&self.observer))
            .with_limiter(self.limiter.clone())
    }

    /// The ports the service runs on.
    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    /// The settings the service runs with.
    pub fn settings(&self) -> &AuthSettings {
        &self.settings
    }

    /// Signs up `email` with `password`.
    pub async fn sign_up(&self, email: &str, password: &str) -> Result<SignupOutcome, AuthError> {
        let request = SignupRequest {
            email: Some(email.into()),
            password: Some(Password::new(password)),
            ..SignupRequest::default()
        };
        self.service.signup(request, &test_client()).await
    }

    /// Signs up `email` with `password` and answers the session; an error when the sign-up
    /// waits for confirmation instead (autoconfirm off).
    pub async fn signed_in_user(&self, email: &str, password: &str) -> Result<IssuedSession, AuthError> {
        match self.sign_up(email, password).await? {
            SignupOutcome::Session(issued) => Ok(*issued),
            SignupOutcome::ConfirmationPending(_) => Err(AuthError::EmailNotConfirmed),
        }
    }

    /// Signs in by email address, phone number or username, with `password`.
    pub async fn sign_in(&self, login: &str, password: &str) -> Result<IssuedSession, AuthError> {
        let login = Identifier::parse_login(login)?;
        self.service.sign_in_with_password(&login, &Password::new(password), &test_client()).await
    }

    /// Exchanges a refresh token.
    pub async fn refresh(&self, session: &IssuedSession) -> Result<IssuedSession, AuthError> {
        self.service.refresh(session.refresh_token.expose(), &test_client()).await
    }

    /// Takes every queued mail out of the store's outbox, oldest first.
    pub async fn take_mail(&self) -> Result<Vec<SentMail>, AuthError> {
        take_mail(self.store.as_ref()).await
    }

    /// Takes every queued text message out of the store's outbox, oldest first.
    pub async fn take_sms(&self) -> Result<Vec<OutgoingSms>, AuthError> {
        let far = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single().unwrap_or_default();
        let queued = self.store.claim_due_sms(far, far, 1000).await?;
        for sms in &queued {
            self.store.mark_mail_sent(sms.id, far).await?;
        }
        Ok(queued.into_iter().map(|q| q.sms).collect())
    }
}

/// An SMS provider that keeps what it is given and answers as told: success, or a failure of
/// either kind.
#[derive(Debug, Default)]
pub struct RecordingSms {
    sent: Mutex<Vec<OutgoingSms>>,
    failure: Mutex<Option<SmsError>>,
}

impl RecordingSms {
    /// The messages accepted so far.
    pub fn sent(&self) -> Vec<OutgoingSms> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// From now on, answers `failure` (or success, with `None`).
    pub fn fail_with(&self, failure: Option<SmsError>) {
        if let Ok(mut slot) = self.failure.lock() {
            *slot = failure;
        }
    }
}

#[async_trait::async_trait]
impl SmsSender for RecordingSms {
    async fn send(&self, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
        if let Some(failure) = self.failure.lock().ok().and_then(|f| f.clone()) {
            return Err(failure);
        }
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(sms.clone());
        }
        Ok(SmsReceipt { message_id: Some("recorded".into()) })
    }

    fn supports_whatsapp(&self) -> bool {
        true
    }
}

/// The client every [`TestWorld`] helper calls from.
pub fn test_client() -> ClientInfo {
    ClientInfo { ip: Some("198.51.100.4".into()), user_agent: Some("tests".into()) }
}

/// A mail as [`PlainTemplates`] wrote it, read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMail {
    /// The template kind (`confirmation`, `recovery`…).
    pub kind: String,
    /// The recipient.
    pub to: String,
    /// The 6-digit code, or empty.
    pub code: String,
    /// The link, or empty.
    pub link: String,
    /// The username (forgot-username), or empty.
    pub username: String,
}

impl SentMail {
    /// Reads a mail [`PlainTemplates`] rendered.
    pub fn read(mail: &Mail) -> Self {
        let field = |name: &str| {
            let prefix = format!("{name}: ");
            mail.text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_default().to_owned()
        };
        Self {
            kind: field("kind"),
            to: mail.to.as_str().to_owned(),
            code: field("code"),
            link: field("link"),
            username: field("username"),
        }
    }

    /// The value of the link's query parameter `name`, as written (still percent-encoded).
    pub fn link_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.link.split_once('?')?;
        query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    /// The link's `token`, as `/verify` takes it in `token_hash`.
    pub fn link_token(&self) -> String {
        self.link_param("token").unwrap_or_default().to_owned()
    }
}

/// Takes every queued mail out of `outbox` (marking it sent), oldest first.
pub async fn take_mail(outbox: &dyn MailOutbox) -> Result<Vec<SentMail>, AuthError> {
    let far = Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let queued = outbox.claim_due_mail(far, far, 1000).await?;
    for mail in &queued {
        outbox.mark_mail_sent(mail.id, far).await?;
    }
    Ok(queued.iter().map(|q| SentMail::read(&q.mail)).collect())
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct ManualClock(Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Mutex::new(start))
    }

    /// Moves the clock forward (or back, with a negative duration).
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.0.lock() {
            *now += by;
        }
    }

    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        if let Ok(mut now) = self.0.lock() {
            *now = to;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.lock().map(|now| *now).unwrap_or_default()
    }
}

/// Distinct, reproducible bytes: each call fills from a fresh counter value. Not random at all,
/// which is the point in a test.
#[derive(Debug, Default)]
pub struct SequentialRandom(AtomicU64);

impl Random for SequentialRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        let seed = n.to_le_bytes();
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = seed[i % 8] ^ (i / 8) as u8;
        }
        Ok(())
    }
}

/// A "hasher" that stores `fake$<params>$<password>` and counts verifications. Instant, so
/// use-case tests stay fast; `set_params` makes existing hashes look outdated.
#[derive(Debug, Default)]
pub struct PlainHasher {
    verifications: AtomicU64,
    params: Mutex<String>,
}

impl PlainHasher {
    /// How many times `verify` ran, with or without a hash.
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::SeqCst)
    }

    /// Changes the "parameters" new hashes are made with.
    pub fn set_params(&self, params: &str) {
        if let Ok(mut current) = self.params.lock() {
            *current = params.to_owned();
        }
    }

    fn params(&self) -> String {
        self.params.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        Ok(PasswordHash::new(format!("fake${}${}", self.params(), password.expose())))
    }

    async fn verify<'a>(
        &self,
        password: &Password,
        hash: Option<&'a PasswordHash>,
    ) -> Result<PasswordCheck, HashError> {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        let Some(hash) = hash else { return Ok(PasswordCheck::Mismatch) };
        let mut parts = hash.as_str().splitn(3, '$');
        let (params, stored) = (parts.nth(1).unwrap_or_default(), parts.next().unwrap_or_default());
        if stored == password.expose() {
            Ok(PasswordCheck::Match { needs_rehash: params != self.params() })
        } else {
            Ok(PasswordCheck::Mismatch)
        }
    }

    fn check_stored(&self, hash: &PasswordHash) -> Result<(), String> {
        if hash.as_str().starts_with("fake$") { Ok(()) } else { Err("not a fake$ hash".into()) }
    }
}

/// Unsigned "JWTs": the claims as base64url JSON, checked for expiry only. Never secure.
#[derive(Debug, Default)]
pub struct UnsignedTokens;

impl TokenSigner for UnsignedTokens {
    fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        let json = serde_json::to_vec(claims).map_err(|e| TokenError::Signing(e.to_string()))?;
        Ok(URL_SAFE_NO_PAD.encode(json))
    }

    fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| TokenError::Malformed)?;
        let claims: AccessClaims = serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [] })
    }
}

/// Successor = SHA-256 of the token: deterministic as the port demands, but unkeyed.
#[derive(Debug, Default)]
pub struct DigestChain;

impl TokenChain for DigestChain {
    fn successor(&self, token: &RefreshToken) -> RefreshToken {
        RefreshToken::from_bytes(token.digest().as_bytes())
    }
}

/// Templates that write the kind, code and link as plain lines, so tests can read them back.
#[derive(Debug, Default)]
pub struct PlainTemplates;

impl crate::ports::MailTemplates for PlainTemplates {
    fn render(&self, context: &crate::domain::MailContext) -> Result<crate::ports::Mail, crate::ports::MailError> {
        let text = format!(
            "kind: {}\ncode: {}\nlink: {}\nusername: {}\n",
            context.kind.as_str(),
            context.code.as_deref().unwrap_or(""),
            context.link.as_deref().unwrap_or(""),
            context.username.as_deref().unwrap_or(""),
        );
        Ok(crate::ports::Mail {
            to: context.to.clone(),
            subject: context.kind.as_str().into(),
            html: text.clone(),
            text,
            reference: None,
        })
    }
}

/// A rate limiter in memory on a given clock (the [`crate::domain::gcra`] arithmetic under one
/// lock), for tests; it passes the limiter contract suite, like the production adapter.
pub struct MemoryLimiter {
    clock: Arc<dyn Clock>,
    next: Mutex<std::collections::HashMap<LimitKey, DateTime<Utc>>>,
}

impl MemoryLimiter {
    /// A limiter reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { clock, next: Mutex::new(std::collections::HashMap::new()) }
    }

    fn step(&self, key: &LimitKey, quota: Quota, count: bool) -> Admission {
        let mut next = self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match gcra(next.get(key).copied(), self.clock.now(), quota) {
            Ok(Some(tat)) if count => {
                next.insert(key.clone(), tat);
                Admission::Admitted
            }
            Ok(_) => Admission::Admitted,
            Err(retry_after) => Admission::Refused { retry_after },
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryLimiter {
    async fn hit(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        Ok(self.step(key, quota, true))
    }

    async fn peek(&self, key: &LimitKey, quota: Quota) -> Result<Admission, LimiterError> {
        Ok(self.step(key, quota, false))
    }

    async fn forget(&self, key: &LimitKey) -> Result<(), LimiterError> {
        self.next.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
        Ok(())
    }
}
