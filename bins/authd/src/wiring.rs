//! Builds the running server and the operator commands' service from the configuration: store,
//! crypto, mail and PostgREST adapters, use cases, HTTP. Nothing here imports a command module.

mod key_settings;
mod limits;
mod postgrest;

use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpServer, web};
use anyhow::Context;
use auth_core::domain::SessionLimits;
use auth_core::ports::{Clock, Observer, Random};
use auth_core::service::{AuthService, AuthSettings, MailDelivery, Ports, PrunePolicy, Pruner, RoleNames};
use auth_crypto::{Argon2Hasher, Argon2Params, OsRandom, SystemClock, TotpFactors};
use auth_http::{AppState, HttpSettings, MetricsEndpoint, RateLimits, ServerInfo};
use auth_metrics::{DbPoolSample, HashPoolSample, Metrics};
use auth_store::{Database, PoolOptions};

use crate::config::{Config, seconds};
use crate::keys::Keys;

pub use key_settings::key_settings;
pub use postgrest::{postgrest_settings, postgrest_sync};

/// Opens the configured database (the store creates the folder of an embedded SQLite file).
pub async fn open_database(config: &Config) -> anyhow::Result<Database> {
    let url = config.database.url.expose();
    let db = &config.database;
    let options = PoolOptions {
        max_connections: db.max_connections,
        connect_timeout: Duration::from_secs(db.connect_timeout_secs),
        statement_timeout: Duration::from_millis(db.statement_timeout_ms),
        lock_timeout: Duration::from_millis(db.lock_timeout_ms),
        idle_in_transaction_timeout: Duration::from_millis(db.idle_in_transaction_timeout_ms),
        tcp_keepalive: Duration::from_secs(db.tcp_keepalive_secs),
        transaction_pooling: db.transaction_pooling,
    };
    let direct = db.direct_url.as_ref().map(|url| url.expose());
    let database = Database::connect_with_direct(url, direct, &options).await.context("cannot open the database")?;
    Ok(database)
}

/// Applies pending migrations and logs what was done.
pub async fn migrate(database: &Database) -> anyhow::Result<usize> {
    let applied = database.migrate().await.context("cannot apply migrations")?;
    tracing::info!(applied, "database schema is up to date");
    Ok(applied)
}

/// Opens the database and, when `database.migrate_on_start` is on, brings its schema up to date.
async fn open_ready_database(config: &Config) -> anyhow::Result<Database> {
    let database = open_database(config).await?;
    match database.sqlite_path() {
        Some(path) => tracing::info!(path = %path.display(), "using the embedded SQLite database"),
        None => tracing::info!("using PostgreSQL"),
    }
    if config.database.migrate_on_start {
        migrate(&database).await?;
    }
    Ok(database)
}

/// The deployment's keys, read through the database's key store; on PostgreSQL every change is
/// published to PostgREST.
fn keys(config: &Config, database: &Database, clock: Arc<dyn Clock>) -> anyhow::Result<Keys> {
    let keys = Keys::new(key_settings::key_settings(config)?, database.ports().keys, clock, Arc::new(OsRandom));
    Ok(keys.on_change(postgrest::publish_on_change(postgrest_sync(config, database))))
}

/// What an operator command works with: the database made ready, the keys read (the first ones
/// made on an empty database) and the clock.
pub struct Operator {
    /// The database, its schema up to date when `database.migrate_on_start` is on.
    pub database: Database,
    /// The deployment's keys.
    pub keys: Keys,
    /// The system clock.
    pub clock: Arc<dyn Clock>,
}

/// Opens what an operator command needs.
pub async fn operator(config: &Config) -> anyhow::Result<Operator> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let database = open_ready_database(config).await?;
    let keys = keys(config, &database, Arc::clone(&clock))?;
    keys.ensure_initial().await?;
    Ok(Operator { database, keys, clock })
}

impl Operator {
    /// The use cases over this database, keys and clock.
    pub async fn service(&self, config: &Config) -> anyhow::Result<AuthService> {
        let signer = Arc::new(self.keys.signer().await?);
        let chain = self.keys.token_chain().await?;
        // Operator commands queue no mail that needs the mailer; the outbox waits for `serve`.
        service(config, &self.database, signer, chain, templates(config)?, Arc::clone(&self.clock), None)
    }
}

/// What `authd serve` runs: the state of the HTTP app and the outbox delivery, over the database
/// made ready and the keys read. Tests build it in process over a clock they move.
pub struct ServerParts {
    /// The state `auth_http::app` serves.
    pub state: web::Data<AppState>,
    /// Sends due outbox messages through the configured mailer.
    pub delivery: MailDelivery,
    database: Database,
    keys: Arc<Keys>,
    signer: Arc<auth_crypto::JwtSigner>,
    metrics: Option<Arc<Metrics>>,
    clock: Arc<dyn Clock>,
}

impl ServerParts {
    /// Reads the keys again into the running signer once, as `serve` does every
    /// `jwt.key_reload_secs`; answers whether the ring changed.
    pub async fn reload_keys(&self) -> anyhow::Result<bool> {
        self.keys.reload(&self.signer).await
    }
}

/// Builds what `serve` runs, its use cases, keys, mailer and delivery reading time from `clock`.
pub async fn server_parts(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<ServerParts> {
    let database = open_ready_database(config).await?;
    let keys = Arc::new(keys(config, &database, Arc::clone(&clock))?);
    keys.ensure_initial().await?;
    let signer = Arc::new(keys.signer().await?);
    let chain = keys.token_chain().await?;
    if let Some(key) = signer.keys().first() {
        tracing::info!(kid = %key.kid, algorithm = key.alg.name(), "access tokens are signed with this key");
    }
    if let Some(sync) = postgrest_sync(config, &database) {
        postgrest::at_start(config, &sync, &signer).await;
    }
    let (mailer, templates) = mail(config, Arc::clone(&clock))?;
    let metrics = config.metrics.enabled.then(|| metrics(&database));

    let random: Arc<dyn Random> = Arc::new(OsRandom);
    let mut delivery = MailDelivery::new(database.ports().outbox, mailer, Arc::clone(&clock));
    if let Some(sms) = sms_sender(config)? {
        delivery = delivery.with_sms(sms);
    }
    let service =
        service(config, &database, Arc::clone(&signer), chain, templates, Arc::clone(&clock), metrics.as_ref())?;
    let store = limits::limiter_store(config, &database);
    tracing::info!(store = ?store, "rate limits and throttles count in this store (rate_limits.store)");
    let http = HttpSettings {
        base_path: config.server.base_path.clone(),
        max_body_bytes: config.server.max_body_bytes,
        trusted_proxies: config.server.trusted_proxies.clone(),
        rate_limits: RateLimits {
            signup_per_minute: config.rate_limits.signup_per_minute,
            password_per_minute: config.rate_limits.password_per_minute,
            refresh_per_minute: config.rate_limits.refresh_per_minute,
            email_per_minute: config.rate_limits.email_per_minute,
            verify_per_minute: config.rate_limits.verify_per_minute,
        },
        cors_allowed_origins: config.server.cors_allowed_origins.clone(),
        require_api_key: config.api.require_key,
        mail_answer_floor: Duration::from_millis(config.otp.answer_floor_ms),
        request_timeout: Duration::from_secs(config.server.request_timeout_secs),
        verify_links_at_once: config.compat.verify_links_at_once(),
        sms_provider: config.sms.provider.trim().to_owned(),
    };
    let info = ServerInfo { name: "authd".into(), version: env!("CARGO_PKG_VERSION").into() };
    let mut state = AppState::new(service, random, info, http).with_readiness(database.ports().readiness);
    if let Some(metrics) = &metrics {
        let endpoint =
            if config.metrics.listen.is_some() { MetricsEndpoint::OwnListener } else { MetricsEndpoint::MainListener };
        state = state.with_metrics(Arc::clone(metrics), endpoint);
    }
    let state = web::Data::new(state);
    Ok(ServerParts { state, delivery, database, keys, signer, metrics, clock })
}

/// `authd serve`.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    tracing::info!(version = env!("CARGO_PKG_VERSION"), "authd starting");
    let ServerParts { state, delivery, database, keys, signer, metrics, clock } =
        server_parts(&config, Arc::new(SystemClock)).await?;

    let address = (config.server.host.as_str(), config.server.port);
    let draining = state.draining();
    // The stop signals are handled below (`stop_on_signal`), so that the drain comes first.
    let mut server = HttpServer::new(move || auth_http::app(state.clone()))
        .shutdown_timeout(config.server.shutdown_timeout_secs)
        .disable_signals();
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server
        .bind(address)
        .with_context(|| format!("cannot listen on {}:{}", config.server.host, config.server.port))?;
    let metrics_server = match (&metrics, config.metrics.listen) {
        (Some(metrics), Some(listen)) => Some(metrics_server(Arc::clone(metrics), listen)?),
        _ => None,
    };
    // Background work starts only once the ports are ours, so a failed start ends with one line.
    keys.spawn_reload(signer, database.key_changes());
    spawn_audit_pruning(&config, &database, Arc::clone(&clock));
    limits::spawn_limiter_pruning(&config, &database, Arc::clone(&clock));
    spawn_pruning(&config, &database, clock)?;
    spawn_mail_delivery(delivery, metrics.clone());
    let base = auth_http::HttpSettings { base_path: config.server.base_path.clone(), ..Default::default() };
    tracing::info!("listening on http://{}:{}{}", config.server.host, config.server.port, base.normalised_base_path());
    match (&metrics, config.metrics.listen) {
        (Some(_), Some(listen)) => tracing::info!("metrics are served on http://{listen}/metrics"),
        (Some(_), None) => tracing::info!("metrics are served on the main listener at /metrics"),
        _ => {}
    }
    let metrics_handle = metrics_server.map(|server| {
        let handle = server.handle();
        tokio::spawn(server);
        handle
    });
    let server = server.run();
    tokio::spawn(stop_on_signal(server.handle(), draining, Duration::from_secs(config.server.drain_secs)));
    let served = server.await.context("the HTTP server failed");
    if let Some(handle) = metrics_handle {
        handle.stop(true).await;
    }
    served?;
    tracing::info!("authd stopped");
    Ok(())
}

/// On SIGTERM or SIGINT: `/ready` answers 503 for `drain` while requests are still served (a
/// second signal cuts this short), then the server stops gracefully: no new connections, and
/// requests in flight finish within `server.shutdown_timeout_secs`.
async fn stop_on_signal(server: actix_web::dev::ServerHandle, draining: auth_http::Draining, drain: Duration) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::error!("cannot handle SIGTERM and SIGINT; stop authd with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    draining.start();
    if !drain.is_zero() {
        tracing::info!(drain_secs = drain.as_secs(), "stopping: /ready answers 503 while requests drain");
        tokio::select! {
            () = tokio::time::sleep(drain) => {}
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
    tracing::info!("stopping: no new connections; finishing requests in flight");
    server.stop(true).await;
}

/// The metrics registry, sampling the database pool at each scrape.
fn metrics(database: &Database) -> Arc<Metrics> {
    let metrics = Arc::new(Metrics::new(env!("CARGO_PKG_VERSION")));
    let pool = database.clone();
    metrics.watch_db_pool(move || {
        let status = pool.pool_status();
        DbPoolSample { max_size: status.max_size, size: status.size, idle: status.idle, waiting: status.waiting }
    });
    metrics
}

/// The listener of `metrics.listen`: `/metrics` only, one worker, stopped by `serve` after the
/// main server (it handles no signals itself).
fn metrics_server(metrics: Arc<Metrics>, listen: std::net::SocketAddr) -> anyhow::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || auth_http::metrics_app(Arc::clone(&metrics)))
        .workers(1)
        .disable_signals()
        .bind(listen)
        .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
    Ok(server.run())
}

/// The SMS provider `[sms]` names, if any (auth-sms over HTTPS).
fn sms_sender(config: &Config) -> anyhow::Result<Option<Arc<dyn auth_core::ports::SmsSender>>> {
    let Some(provider) = config.sms.provider().map_err(anyhow::Error::msg)? else { return Ok(None) };
    let timeout = Duration::from_secs(config.sms.timeout_secs);
    let sender = auth_sms::HttpSms::new(provider, timeout).context("sms.provider")?;
    Ok(Some(Arc::new(sender)))
}

/// The use cases over the database's stores and the crypto adapters.
fn service(
    config: &Config,
    database: &Database,
    signer: Arc<auth_crypto::JwtSigner>,
    chain: auth_crypto::HmacTokenChain,
    templates: Arc<dyn auth_core::ports::MailTemplates>,
    clock: Arc<dyn Clock>,
    metrics: Option<&Arc<Metrics>>,
) -> anyhow::Result<AuthService> {
    let mut hasher = Argon2Hasher::new(
        Argon2Params {
            memory_kib: config.password.hash.memory_kib,
            iterations: config.password.hash.iterations,
            parallelism: config.password.hash.parallelism,
        },
        config.password.hash.max_concurrent,
    )?
    .with_max_queue(config.password.hash.max_queue);
    if let Some(metrics) = metrics {
        let stats = hasher.stats();
        metrics.watch_hash_pool(move || HashPoolSample { waiting: stats.waiting(), running: stats.running() });
        let waits = Arc::clone(metrics);
        hasher = hasher.observe_wait(Arc::new(move |wait| waits.hash_waited(wait)));
    }
    let kek = config.jwt.keys_encryption_key().context("jwt.keys_encryption_key")?;
    let totp = Arc::new(TotpFactors::new(kek, Arc::new(OsRandom)));
    let providers = config.external.providers().map_err(anyhow::Error::msg)?;
    let timeout = std::time::Duration::from_secs(config.external.http_timeout_secs.max(1));
    let providers = auth_idp::Providers::new(providers, Arc::clone(&clock), timeout, config.external.allow_http)?;
    let mut ports = Ports::new(&database.ports(), Arc::new(hasher), signer, Arc::new(chain), clock, Arc::new(OsRandom))
        .with_templates(templates)
        .with_totp(totp)
        .with_providers(Arc::new(providers));
    if let Some(sms) = sms_sender(config)? {
        ports = ports.with_sms(sms);
    }
    // The per-account password throttle, the per-address mail throttle and the HTTP layer's
    // per-IP limits count here.
    let limiter = limits::limiter(config, database, Arc::clone(&ports.clock))?;
    let service = AuthService::new(ports, settings(config)?).with_limiter(limiter);
    // The use cases report their domain events (audit events, queued mails) to the metrics.
    Ok(match metrics {
        Some(metrics) => service.with_observer(Arc::clone(metrics) as Arc<dyn Observer>),
        None => service,
    })
}

/// Delivers the outbox in the background: every few seconds, and in a tight loop while
/// there is a backlog. Failures are logged without the message bodies.
fn spawn_mail_delivery(delivery: MailDelivery, metrics: Option<Arc<Metrics>>) {
    tokio::spawn(async move {
        const BATCH: u32 = 20;
        let mut ticks = tokio::time::interval(Duration::from_secs(2));
        loop {
            ticks.tick().await;
            loop {
                match delivery.deliver_due_sms(BATCH).await {
                    Ok(report) => {
                        for (id, kind, error) in &report.retrying {
                            tracing::warn!(id, kind = kind.as_str(), %error, "SMS delivery failed; will retry");
                        }
                        for (id, kind, error) in &report.failed {
                            tracing::error!(id, kind = kind.as_str(), %error, "SMS delivery failed for good");
                        }
                    }
                    Err(error) => tracing::warn!(%error, "cannot read the outbox for text messages; will try again"),
                }
                match delivery.deliver_due(BATCH).await {
                    Ok(report) => {
                        if let Some(metrics) = &metrics {
                            metrics.mail_delivered(&report);
                        }
                        for (id, kind, error) in &report.retrying {
                            tracing::warn!(id, kind = kind.as_str(), %error, "mail delivery failed; will retry");
                        }
                        for (id, kind, error) in &report.failed {
                            tracing::error!(id, kind = kind.as_str(), %error, "mail delivery failed for good");
                        }
                        if report.sent > 0 {
                            tracing::debug!(sent = report.sent, "mail delivered");
                        }
                        if report.handled() < BATCH as usize {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot read the mail outbox; will try again");
                        break;
                    }
                }
            }
        }
    });
}

/// The mailer and templates the configuration asks for: SMTP when `smtp.host` is set, otherwise
/// `.eml` files in `mail.outbox_dir`. Broken template overrides fail here, at start-up.
pub fn mail(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<dyn auth_core::ports::Mailer>, Arc<dyn auth_core::ports::MailTemplates>)> {
    Ok((mailer(config, clock)?, templates(config)?))
}

/// The mail templates: built in, or overridden from `mail.templates_dir`.
pub fn templates(config: &Config) -> anyhow::Result<Arc<dyn auth_core::ports::MailTemplates>> {
    let templates = auth_mail::Templates::new(
        auth_mail::TemplateSettings { app_name: config.mail.app_name.clone(), site_url: config.site.url.clone() },
        config.mail.templates_dir.as_deref(),
    )
    .context("cannot load the mail templates")?;
    Ok(Arc::new(templates))
}

/// The mailer: SMTP when `smtp.host` is set, `.eml` files in `mail.outbox_dir` otherwise.
fn mailer(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<dyn auth_core::ports::Mailer>> {
    let smtp = &config.smtp;
    let sender_name = smtp.sender_name.as_deref().unwrap_or(&config.mail.app_name);
    // The file mailer needs a From too; nobody replies to a file, so a placeholder will do.
    let from_address = smtp.from_address.as_deref().unwrap_or("authd@localhost");
    let sender = auth_mail::Sender::new(sender_name, from_address).context("smtp.from_address")?;
    let mailer: Arc<dyn auth_core::ports::Mailer> = match &smtp.host {
        Some(host) => {
            let security = match smtp.security {
                crate::config::SmtpSecurity::Starttls => auth_mail::Security::StartTls,
                crate::config::SmtpSecurity::Tls => auth_mail::Security::Tls,
                crate::config::SmtpSecurity::None => auth_mail::Security::None,
            };
            let settings = auth_mail::SmtpSettings {
                host: host.clone(),
                port: smtp.port,
                security,
                credentials: smtp.username.clone().zip(smtp.password.as_ref().map(|p| p.expose().to_owned())),
                timeout: Duration::from_secs(smtp.timeout_secs),
            };
            let mailer = auth_mail::SmtpMailer::new(&settings, sender, clock, Arc::new(OsRandom))?;
            tracing::info!(server = %host, security = ?security, "mail is sent over SMTP");
            Arc::new(mailer)
        }
        None => {
            let dir = &config.mail.outbox_dir;
            let mailer = auth_mail::FileMailer::new(dir, sender, clock, Arc::new(OsRandom))
                .with_context(|| format!("cannot create the mail folder {}", dir.display()))?;
            tracing::info!(folder = %dir.display(), "no SMTP server configured: mail is written to files");
            Arc::new(mailer)
        }
    };
    Ok(mailer)
}

/// Deletes audit events older than `audit.retention_days`, at start and then daily.
fn spawn_audit_pruning(config: &Config, database: &Database, clock: Arc<dyn Clock>) {
    let Some(retention) = config.audit.retention() else { return };
    let audit = database.ports().audit;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            ticks.tick().await;
            let before = clock.now() - retention;
            match audit.prune_events(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "removed audit events past their retention"),
                Err(error) => tracing::warn!(%error, "cannot prune the audit log; will try again tomorrow"),
            }
        }
    });
}

/// Deletes spent sessions, refresh tokens, secrets and mail past `prune.retention_secs`, every
/// `prune.interval_secs` (the logic, batches and replica safety are auth-core's `Pruner`).
fn spawn_pruning(config: &Config, database: &Database, clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    if config.prune.interval_secs == 0 {
        return Ok(());
    }
    let policy = PrunePolicy {
        retention: seconds(config.prune.retention_secs),
        replay_window: seconds(config.sessions.reuse_interval_secs.max(config.sessions.lost_answer_window_secs)),
        session_limits: settings(config)?.session_limits,
        batch: config.prune.batch_size,
    };
    let pruner = Pruner::new(database.sessions(), database.flows(), database.outbox(), clock, policy)
        .with_factors(database.factors())
        .with_identities(database.identities());
    let every = Duration::from_secs(config.prune.interval_secs);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            match pruner.prune().await {
                Ok(report) if report.total() == 0 => {}
                Ok(report) => tracing::info!(?report, "removed spent rows past their retention"),
                Err(error) => tracing::warn!(%error, "cannot prune spent rows; will try again"),
            }
        }
    });
    Ok(())
}

/// The use-case settings the configuration describes.
fn settings(config: &Config) -> anyhow::Result<AuthSettings> {
    let optional = |s: u64| (s > 0).then(|| seconds(s));
    Ok(AuthSettings {
        issuer: config.jwt.issuer.clone(),
        audience: config.jwt.audience.clone(),
        roles: RoleNames {
            anonymous: config.roles.anonymous.clone(),
            authenticated: config.roles.authenticated.clone(),
            service: config.roles.service.clone(),
        },
        access_token_ttl: seconds(config.jwt.expiry_secs),
        reuse_interval: seconds(config.sessions.reuse_interval_secs),
        lost_answer_window: seconds(config.sessions.lost_answer_window_secs),
        session_limits: SessionLimits {
            timebox: optional(config.sessions.timebox_secs),
            inactivity_timeout: optional(config.sessions.inactivity_timeout_secs),
        },
        password_policy: config.policy(),
        metadata_max_bytes: config.account.metadata_max_bytes,
        signup_enabled: config.signup.enabled,
        autoconfirm: config.signup.autoconfirm,
        anonymous_enabled: config.signup.anonymous,
        require_current_password: config.password.require_current,
        self_delete_enabled: config.account.self_delete,
        password_throttle: auth_core::service::PasswordThrottle {
            per_client: config.rate_limits.password_failures_per_client,
            per_account: config.rate_limits.password_failures_per_account,
            window: Duration::from_secs(config.rate_limits.password_failure_window_secs),
            known_client_ttl: Duration::from_secs(config.rate_limits.known_client_days.saturating_mul(86_400)),
        },
        reauthentication_window: seconds(config.account.reauthentication_window_secs),
        email: auth_core::service::EmailSettings {
            redirects: auth_core::domain::RedirectPolicy::new(
                &config.site.url,
                config.site.redirect_allow_list.clone(),
            )
            .context("site.url or site.redirect_allow_list")?,
            verify_url: config.verify_url(),
            link_ttl: seconds(config.otp.link_expiry_secs),
            code_ttl: seconds(config.otp.code_expiry_secs),
            send_interval: seconds(config.otp.send_interval_secs),
            secure_email_change: config.account.secure_email_change,
            allow_plain_pkce: config.otp.pkce_allow_plain,
            auth_code_ttl: seconds(config.otp.auth_code_expiry_secs),
            otp_reveals_unknown_addresses: config.compat.otp_reveals_unknown_addresses(),
            max_codes_per_day: config.otp.max_codes_per_day,
        },
        mfa: config.mfa.settings(&config.site.url),
        external: config.external.settings(),
        sms: config.sms.settings(),
    })
}
