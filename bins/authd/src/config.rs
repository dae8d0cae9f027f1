//! authd's configuration: built-in defaults, then a TOML file, then Supabase Auth's `GOTRUE_*`
//! variables (`crate::gotrue_env`), then `AUTHD_*` environment variables (`__` separates nesting
//! levels, so `AUTHD_SERVER__PORT=9090` sets `server.port`).
//! Unknown keys are refused; every secret can instead be read from a file named by its `_file`
//! key (`AUTHD_JWT__SECRET_FILE=/run/secrets/jwt`).

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The database used when none is configured: an embedded SQLite file under `./data`.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/authd.db";
/// Environment variable naming the config file, when `--config` is not given.
pub const CONFIG_ENV: &str = "AUTHD_CONFIG";
/// Environment variables under this prefix are reserved for the test harness, not config.
const TEST_ENV_PREFIX: &str = "test_";

/// A secret value. `Debug` never shows it; `config show` replaces it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the adapter that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// HTTP listener.
    pub server: ServerConfig,
    /// Database connection.
    pub database: DatabaseConfig,
    /// Log output.
    pub log: LogConfig,
    /// Access tokens.
    pub jwt: JwtConfig,
    /// Sessions and refresh tokens.
    pub sessions: SessionsConfig,
    /// Password policy and hashing.
    pub password: PasswordConfig,
    /// Who may sign up, and how.
    pub signup: SignupConfig,
    /// Database role names written into tokens.
    pub roles: RolesConfig,
    /// What users may do with their own account.
    pub account: AccountConfig,
    /// Per-IP request limits.
    pub rate_limits: RateLimitsConfig,
    /// API keys.
    pub api: ApiConfig,
    /// Keeping PostgREST in step (PostgreSQL only).
    pub postgrest: PostgrestConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Deleting spent sessions, tokens, secrets and mail.
    pub prune: PruneConfig,
    /// Second factors (TOTP).
    pub mfa: crate::mfa_config::MfaConfig,
    /// Phone sign-in and the SMS provider.
    pub sms: crate::sms_config::SmsConfig,
    /// Outgoing mail server; without a host, mail goes to files.
    pub smtp: SmtpConfig,
    /// What mails say and where unsent ones are kept.
    pub mail: MailConfig,
    /// The application authd serves, and where emailed links may lead.
    pub site: SiteConfig,
    /// Emailed links and codes.
    pub otp: OtpConfig,
    /// Prometheus metrics.
    pub metrics: MetricsConfig,
    /// OpenTelemetry traces.
    pub tracing: TracingConfig,
    /// Supabase Auth's behaviour where authd's default differs on purpose.
    pub compat: crate::compat::CompatConfig,
}

/// `[site]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SiteConfig {
    /// The application's URL: where verified links land unless `redirect_to` is allowed.
    pub url: String,
    /// Further `redirect_to` targets allowed, as globs (`*` within a path segment, `**` across).
    pub redirect_allow_list: Vec<String>,
    /// The public URL of this server including the base path (`https://auth.example.com/auth/v1`),
    /// which emailed links point at; empty means `http://<server.host>:<server.port><server.base_path>`.
    pub external_url: String,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self { url: "http://localhost:3000".into(), redirect_allow_list: Vec::new(), external_url: String::new() }
    }
}

/// `[otp]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OtpConfig {
    /// How long an emailed link works.
    pub link_expiry_secs: u64,
    /// How long an emailed 6-digit code works.
    pub code_expiry_secs: u64,
    /// Least time between two mails of one kind to one address.
    pub send_interval_secs: u64,
    /// How long a PKCE auth code can be exchanged after its link was used.
    pub auth_code_expiry_secs: u64,
    /// Accept PKCE's `plain` challenge method (off: only `s256`).
    pub pkce_allow_plain: bool,
    /// Least time, in milliseconds, a request that may send mail takes to answer.
    pub answer_floor_ms: u64,
    /// Most secrets (each with a code) mailed to one account in a day.
    pub max_codes_per_day: u32,
}

impl Default for OtpConfig {
    fn default() -> Self {
        Self {
            link_expiry_secs: 3600,
            code_expiry_secs: 600,
            send_interval_secs: 60,
            auth_code_expiry_secs: 300,
            pkce_allow_plain: false,
            answer_floor_ms: 200,
            max_codes_per_day: 10,
        }
    }
}

impl Config {
    /// The public URL of `GET /verify`.
    pub fn verify_url(&self) -> String {
        let external = self.site.external_url.trim().trim_end_matches('/');
        if external.is_empty() {
            let base = self.server.base_path.trim().trim_end_matches('/');
            format!("http://{}:{}{}/verify", self.server.host, self.server.port, base)
        } else {
            format!("{external}/verify")
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on.
    pub port: u16,
    /// Path the API is mounted under; `/` for the root.
    pub base_path: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    /// Seconds to let in-flight requests finish after SIGTERM or SIGINT.
    pub shutdown_timeout_secs: u64,
    /// Seconds between SIGTERM (or SIGINT) and the stop, while `/ready` answers 503 and requests
    /// are still served, so a load balancer takes the replica out of its rotation first; 0 stops
    /// at once.
    pub drain_secs: u64,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins browsers may call from; `["*"]` allows any (never with credentials).
    pub cors_allowed_origins: Vec<String>,
    /// Seconds a request may take before it is answered `504 request_timeout`.
    pub request_timeout_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 9999,
            base_path: "/auth/v1".into(),
            max_body_bytes: 1024 * 1024,
            workers: 0,
            shutdown_timeout_secs: 30,
            drain_secs: 0,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
            request_timeout_secs: 30,
        }
    }
}

/// `[database]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `postgres://user:password@host:port/db` or `sqlite://path/to/file.db`.
    pub url: Secret,
    /// File holding the URL instead (it usually carries a password).
    pub url_file: Option<PathBuf>,
    /// PostgreSQL: a URL reaching the server itself, for migrations (their advisory lock) and
    /// the `LISTEN` for key changes, when `url` reaches a pooler; `url` when unset.
    pub direct_url: Option<Secret>,
    /// File holding `direct_url` instead.
    pub direct_url_file: Option<PathBuf>,
    /// PostgreSQL: `url` reaches a pooler in transaction mode (PgBouncer's
    /// `pool_mode = transaction`); needs `direct_url`.
    pub transaction_pooling: bool,
    /// Most connections in the pool.
    pub max_connections: usize,
    /// Seconds to wait for a connection before answering 503.
    pub connect_timeout_secs: u64,
    /// Apply pending migrations at start-up.
    pub migrate_on_start: bool,
    /// PostgreSQL: milliseconds one statement may run (`statement_timeout`); 0 for no limit.
    pub statement_timeout_ms: u64,
    /// PostgreSQL: milliseconds a statement may wait for a lock (`lock_timeout`); 0 for no limit.
    pub lock_timeout_ms: u64,
    /// PostgreSQL: milliseconds a session may idle inside a transaction before the server ends
    /// it (`idle_in_transaction_session_timeout`); 0 for no limit.
    pub idle_in_transaction_timeout_ms: u64,
    /// PostgreSQL: seconds of idleness before TCP keepalive probes start; 0 turns them off.
    pub tcp_keepalive_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: Secret(DEFAULT_DATABASE_URL.into()),
            url_file: None,
            direct_url: None,
            direct_url_file: None,
            transaction_pooling: false,
            max_connections: 10,
            connect_timeout_secs: 5,
            migrate_on_start: true,
            statement_timeout_ms: 10_000,
            lock_timeout_ms: 5_000,
            idle_in_transaction_timeout_ms: 30_000,
            tcp_keepalive_secs: 30,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` or `json`.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `authd=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Pretty, level: "info".into() }
    }
}

/// Access-token signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JwtAlgorithm {
    /// ECDSA P-256 (the default).
    ES256,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// HMAC-SHA-256 with a shared secret (PostgREST `jwt-secret`).
    HS256,
}

/// `[jwt]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JwtConfig {
    /// `iss` claim; empty leaves it out.
    pub issuer: String,
    /// `aud` claim.
    pub audience: String,
    /// Access-token lifetime in seconds.
    pub expiry_secs: u64,
    /// Signing algorithm.
    pub algorithm: JwtAlgorithm,
    /// Shared secret for HS256 (at least 32 bytes).
    pub secret: Option<Secret>,
    /// File holding the HS256 secret instead.
    pub secret_file: Option<PathBuf>,
    /// Key id of the HS256 secret (Supabase Auth's `GOTRUE_JWT_KEY_ID`); empty derives one from
    /// the secret. Tokens without a `kid` are checked with the secret either way.
    pub key_id: String,
    /// Supabase Auth's set of signing and verifying keys (`GOTRUE_JWT_KEYS`): a JSON array of
    /// private JWKs, exactly one with `sign` in its `key_ops`. Replaces `jwt.algorithm`,
    /// `jwt.private_key` and database keys; an HS256 key in it checks tokens without a `kid`.
    pub keys: Option<Secret>,
    /// File holding the key set instead.
    pub keys_file: Option<PathBuf>,
    /// ES256/RS256 private key (PEM, or a private JWK in JSON). When unset, authd generates keys
    /// and keeps them in the database, shared by every replica.
    pub private_key: Option<Secret>,
    /// File holding the private key instead.
    pub private_key_file: Option<PathBuf>,
    /// Key-encryption key (32 random bytes in base64, `openssl rand -base64 32`): the private
    /// key material stored in the database is encrypted with it. Unset, it is stored in clear.
    pub keys_encryption_key: Option<Secret>,
    /// File holding the key-encryption key instead.
    pub keys_encryption_key_file: Option<PathBuf>,
    /// Seconds a key made by `authd keys rotate` is published in the JWKS before it signs.
    pub key_publish_delay_secs: u64,
    /// Seconds between two reads of the keys by a running server (rotations reach it this way).
    pub key_reload_secs: u64,
}

impl Default for JwtConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            audience: "authenticated".into(),
            expiry_secs: 3600,
            algorithm: JwtAlgorithm::ES256,
            secret: None,
            secret_file: None,
            key_id: String::new(),
            keys: None,
            keys_file: None,
            private_key: None,
            private_key_file: None,
            keys_encryption_key: None,
            keys_encryption_key_file: None,
            key_publish_delay_secs: 600,
            key_reload_secs: 30,
        }
    }
}

impl JwtConfig {
    /// The key-encryption key, if one is configured; refused unless it is 32 random bytes in
    /// base64 (the message says how to make one and never quotes it).
    pub fn keys_encryption_key(
        &self,
    ) -> Result<Option<auth_crypto::KeyEncryptionKey>, auth_crypto::KeyEncryptionError> {
        self.keys_encryption_key
            .as_ref()
            .map(|kek| auth_crypto::KeyEncryptionKey::from_base64(kek.expose()))
            .transpose()
    }
}

/// `[sessions]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionsConfig {
    /// Seconds during which the previous refresh token may be presented again.
    pub reuse_interval_secs: u64,
    /// Seconds during which a used refresh token whose successor was never used may be
    /// presented again and get that successor (an answer lost in an outage); 0 turns it off.
    pub lost_answer_window_secs: u64,
    /// End every session this many seconds after sign-in; 0 turns it off.
    pub timebox_secs: u64,
    /// End a session not refreshed for this many seconds; 0 turns it off.
    pub inactivity_timeout_secs: u64,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self { reuse_interval_secs: 10, lost_answer_window_secs: 86_400, timebox_secs: 0, inactivity_timeout_secs: 0 }
    }
}

/// `[password.hash]`: argon2id parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HashConfig {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU. Bounds memory under a sign-in flood.
    pub max_concurrent: usize,
    /// Requests that may wait for a hashing slot; one more answers 503 at once. 0 means 32 per
    /// slot.
    pub max_queue: usize,
}

impl Default for HashConfig {
    fn default() -> Self {
        Self { memory_kib: 19_456, iterations: 2, parallelism: 1, max_concurrent: 0, max_queue: 0 }
    }
}

/// `[password]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordConfig {
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters.
    pub max_length: usize,
    /// Character classes a password must contain: `lowercase`, `uppercase`, `digit`, `symbol`.
    pub required_characters: Vec<auth_core::domain::CharacterClass>,
    /// A password change needs the current password.
    pub require_current: bool,
    /// Hashing parameters.
    pub hash: HashConfig,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        let policy = auth_core::domain::PasswordPolicy::default();
        Self {
            min_length: policy.min_length,
            max_length: policy.max_length,
            required_characters: policy.required_characters,
            require_current: true,
            hash: HashConfig::default(),
        }
    }
}

/// `[signup]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignupConfig {
    /// New accounts may sign up.
    pub enabled: bool,
    /// New email addresses count as confirmed at once.
    pub autoconfirm: bool,
    /// Anonymous sign-in is allowed.
    pub anonymous: bool,
}

impl Default for SignupConfig {
    fn default() -> Self {
        Self { enabled: true, autoconfirm: false, anonymous: false }
    }
}

/// `[roles]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RolesConfig {
    /// Role of requests without a user (postgrest-auth: `web_anon`).
    pub anonymous: String,
    /// Role of signed-in users (postgrest-auth: `normal_user`).
    pub authenticated: String,
    /// Role of the service key.
    pub service: String,
}

impl Default for RolesConfig {
    fn default() -> Self {
        let names = auth_core::service::RoleNames::default();
        Self { anonymous: names.anonymous, authenticated: names.authenticated, service: names.service }
    }
}

/// `[account]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountConfig {
    /// Users may delete their own account (with their password).
    pub self_delete: bool,
    /// An email change needs approval from the current address as well as the new one.
    pub secure_email_change: bool,
    /// Largest `user_metadata` or `app_metadata`, serialised, in bytes.
    pub metadata_max_bytes: usize,
    /// How long after a sign-in by emailed link or code an account without a password may set
    /// one or delete itself without a code from `GET /reauthenticate`.
    pub reauthentication_window_secs: u64,
}

impl Default for AccountConfig {
    fn default() -> Self {
        Self {
            self_delete: true,
            secure_email_change: true,
            metadata_max_bytes: auth_core::domain::METADATA_DEFAULT_MAX_BYTES,
            reauthentication_window_secs: 300,
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Days an audit event is kept; 0 keeps them forever.
    pub retention_days: u32,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_days: 90 }
    }
}

impl AuditConfig {
    /// How long events are kept, or `None` for ever.
    pub fn retention(&self) -> Option<chrono::TimeDelta> {
        (self.retention_days > 0).then(|| chrono::TimeDelta::days(i64::from(self.retention_days)))
    }
}

/// `[prune]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PruneConfig {
    /// Seconds between two pruning passes; 0 turns pruning off.
    pub interval_secs: u64,
    /// Seconds a spent row (ended session, used refresh token, sent mail, expired secret) is kept.
    pub retention_secs: u64,
    /// Most rows one statement deletes.
    pub batch_size: u32,
}

impl Default for PruneConfig {
    fn default() -> Self {
        Self { interval_secs: 3600, retention_secs: 7 * 24 * 3600, batch_size: 500 }
    }
}

/// `[api]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Public endpoints need the anon or service-role key (`authd keys api`).
    pub require_key: bool,
}

/// `[postgrest]`: how authd keeps a PostgREST on the same PostgreSQL database in step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PostgrestConfig {
    /// The role PostgREST logs in as; the API roles are granted to it.
    pub authenticator: String,
    /// `authd serve` creates the API roles and grants them at start, when it has the privilege.
    pub manage_roles: bool,
    /// Send a reload notification when PostgREST's in-database configuration changes.
    pub notify: bool,
    /// The notification channel (PostgREST's `db-channel`).
    pub channel: String,
}

impl Default for PostgrestConfig {
    fn default() -> Self {
        Self { authenticator: "authenticator".into(), manage_roles: false, notify: true, channel: "pgrst".into() }
    }
}

/// `[rate_limits]`: requests per minute and client IP; 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// `POST /signup`.
    pub signup_per_minute: u32,
    /// Password sign-in.
    pub password_per_minute: u32,
    /// Refresh-token grants.
    pub refresh_per_minute: u32,
    /// Requests that send mail.
    pub email_per_minute: u32,
    /// `/verify` attempts.
    pub verify_per_minute: u32,
    /// Password checks of one account from one client network per window (a success wipes
    /// that network's count).
    pub password_failures_per_client: u32,
    /// Password checks of one account from networks it does not know, per window.
    pub password_failures_per_account: u32,
    /// The window of both password counts, in seconds.
    pub password_failure_window_secs: u64,
    /// How long a network that signed in to an account stays known to it, in days.
    pub known_client_days: u64,
    /// Where every count above (and the per-address mail throttle) is kept: `memory` (this
    /// process only), `database` (PostgreSQL, shared by every replica) or `redis`. Unset:
    /// `database` on PostgreSQL, `memory` on SQLite.
    pub store: Option<LimiterStore>,
    /// The Redis server of `store = "redis"`: `redis://[user:password@]host:port[/db]`.
    pub redis_url: Option<Secret>,
    /// Prepended to every Redis key, so deployments can share one Redis.
    pub redis_key_prefix: String,
}

/// Where rate-limit counts are kept (`rate_limits.store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterStore {
    /// In this process: right for one replica only.
    Memory,
    /// In PostgreSQL (`auth.rate_limits`), shared by every replica.
    Database,
    /// In Redis, shared by every replica.
    Redis,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        let limits = auth_http::RateLimits::default();
        let throttle = auth_core::service::PasswordThrottle::default();
        Self {
            signup_per_minute: limits.signup_per_minute,
            password_per_minute: limits.password_per_minute,
            refresh_per_minute: limits.refresh_per_minute,
            email_per_minute: limits.email_per_minute,
            verify_per_minute: limits.verify_per_minute,
            password_failures_per_client: throttle.per_client,
            password_failures_per_account: throttle.per_account,
            password_failure_window_secs: throttle.window.as_secs(),
            known_client_days: throttle.known_client_ttl.as_secs() / 86_400,
            store: None,
            redis_url: None,
            redis_key_prefix: "authd:rl:".into(),
        }
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// STARTTLS, required (port 587 by default).
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Tls,
    /// No encryption, for a mail sink on this machine (port 25 by default).
    None,
}

/// `[smtp]`: the mail server; when `host` is unset, mail is written to `mail.outbox_dir`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server name; setting it turns SMTP delivery on.
    pub host: Option<String>,
    /// Port; unset takes the usual one of `security`.
    pub port: Option<u16>,
    /// `starttls`, `tls` or `none`.
    pub security: SmtpSecurity,
    /// User name for AUTH, when the server wants one.
    pub username: Option<String>,
    /// Password for AUTH.
    pub password: Option<Secret>,
    /// File holding the password instead.
    pub password_file: Option<PathBuf>,
    /// Address mails come from (`From`); required with `host`.
    pub from_address: Option<String>,
    /// Name shown with `from_address`; unset shows `mail.app_name`.
    pub sender_name: Option<String>,
    /// Seconds one delivery may take, connecting included.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: None,
            port: None,
            security: SmtpSecurity::Starttls,
            username: None,
            password: None,
            password_file: None,
            from_address: None,
            sender_name: None,
            timeout_secs: 10,
        }
    }
}

/// `[mail]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// The name mails are signed with.
    pub app_name: String,
    /// Folder of template files replacing the built-in ones.
    pub templates_dir: Option<PathBuf>,
    /// Folder mails are written to as `.eml` files when no SMTP host is set.
    pub outbox_dir: PathBuf,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self { app_name: "authd".into(), templates_dir: None, outbox_dir: PathBuf::from("data/mail") }
    }
}

/// `[metrics]`: Prometheus metrics.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Record metrics and serve them at `/metrics`.
    pub enabled: bool,
    /// Serve `/metrics` on this address (`127.0.0.1:9100`) instead of the main listener, where it
    /// sits at the root, outside `server.base_path`.
    pub listen: Option<std::net::SocketAddr>,
}

/// `[tracing]`: OpenTelemetry traces, exported over OTLP/HTTP (protobuf).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TracingConfig {
    /// The collector's OTLP/HTTP base URL (`http://otel-collector:4318`; `/v1/traces` is added
    /// unless present). Empty turns tracing off.
    pub otlp_endpoint: String,
    /// `service.name` of every span.
    pub service_name: String,
    /// Share of traces kept, from 0.0 to 1.0 (a trace is kept or dropped whole).
    pub sample_ratio: f64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        Self { otlp_endpoint: String::new(), service_name: "authd".into(), sample_ratio: 1.0 }
    }
}

impl TracingConfig {
    /// Whether spans are exported.
    pub fn enabled(&self) -> bool {
        !self.otlp_endpoint.trim().is_empty()
    }
}

/// The configuration could not be loaded or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A source could not be parsed, or a key is unknown or of the wrong type.
    #[error("{0}")]
    Parse(String),
    /// A file named by the configuration could not be read.
    #[error("cannot read {key} from {path}: {source}")]
    File {
        /// The `_file` key.
        key: &'static str,
        /// The path it names.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// Values parse but do not make sense together.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Loads defaults, then `file` (if any; it must exist), then GoTrue's variables (`GOTRUE_*`,
    /// see [`crate::gotrue_env`]), then `AUTHD_*` variables, then reads secrets named by `_file` keys.
    ///
    /// With `compat.supabase` on (from any source, or implied by `GOTRUE_*` variables), the
    /// defaults underneath are Supabase Auth's where they differ ([`crate::compat`]).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        if let Some(path) = file
            && !path.is_file()
        {
            return Err(ConfigError::Parse(format!("config file {} does not exist", path.display())));
        }
        let layered = |defaults: Config| {
            let mut figment = Figment::from(Serialized::defaults(defaults));
            if let Some(path) = file {
                figment = figment.merge(Toml::file_exact(path));
            }
            // Supabase Auth's variables, so a GoTrue container's environment works unchanged.
            figment = figment.merge(crate::gotrue_env::GotrueEnv::from_process());
            figment.merge(Env::prefixed("AUTHD_").split("__").filter(|key| {
                let key = key.as_str().to_ascii_lowercase();
                key != "config" && !key.starts_with(TEST_ENV_PREFIX)
            }))
        };
        let mut figment = layered(Config::default());
        let supabase: bool = figment.extract_inner("compat.supabase").map_err(|e| ConfigError::Parse(describe(e)))?;
        if supabase {
            figment = layered(crate::compat::supabase_defaults(Config::default()));
        }
        let mut config: Config = figment.extract().map_err(|e| ConfigError::Parse(describe(e)))?;
        config.read_secret_files()?;
        Ok(config)
    }

    fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.database.url_file {
            self.database.url = Secret(read_secret("database.url_file", path)?);
        }
        if let Some(path) = &self.database.direct_url_file {
            self.database.direct_url = Some(Secret(read_secret("database.direct_url_file", path)?));
        }
        if let Some(path) = &self.jwt.secret_file {
            self.jwt.secret = Some(Secret(read_secret("jwt.secret_file", path)?));
        }
        if let Some(path) = &self.jwt.keys_file {
            self.jwt.keys = Some(Secret(read_secret("jwt.keys_file", path)?));
        }
        if let Some(path) = &self.jwt.private_key_file {
            self.jwt.private_key = Some(Secret(read_secret("jwt.private_key_file", path)?));
        }
        if let Some(path) = &self.jwt.keys_encryption_key_file {
            self.jwt.keys_encryption_key = Some(Secret(read_secret("jwt.keys_encryption_key_file", path)?));
        }
        if let Some(path) = &self.smtp.password_file {
            self.smtp.password = Some(Secret(read_secret("smtp.password_file", path)?));
        }
        Ok(())
    }

    /// Checks that the values make sense together; `authd config check` and start-up run it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if !self.server.base_path.trim().is_empty() && !self.server.base_path.starts_with('/') {
            return invalid("server.base_path must start with '/'");
        }
        if self.server.max_body_bytes < 1024 {
            return invalid("server.max_body_bytes must be at least 1024");
        }
        let on_postgres = self.database.url.expose().trim().starts_with("postgres");
        if let Some(direct) = &self.database.direct_url
            && !(on_postgres && direct.expose().trim().starts_with("postgres"))
        {
            return invalid(
                "database.direct_url goes with a PostgreSQL database.url and must be a postgres:// URL itself",
            );
        }
        if self.database.transaction_pooling && !on_postgres {
            return invalid("database.transaction_pooling is for PostgreSQL behind a pooler such as PgBouncer");
        }
        if self.database.transaction_pooling && self.database.direct_url.is_none() {
            return invalid(
                "database.transaction_pooling needs database.direct_url (the server itself, for migrations and LISTEN)",
            );
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections must be at least 1");
        }
        if self.server.drain_secs > 300 {
            return invalid("server.drain_secs must be at most 300");
        }
        if self.server.request_timeout_secs == 0 {
            return invalid("server.request_timeout_secs must be at least 1");
        }
        if !(60..=7 * 24 * 3600).contains(&self.otp.link_expiry_secs) {
            return invalid("otp.link_expiry_secs must be between 60 and 604800 (one week)");
        }
        if !(60..=24 * 3600).contains(&self.otp.code_expiry_secs) {
            return invalid("otp.code_expiry_secs must be between 60 and 86400 (one day)");
        }
        if self.otp.answer_floor_ms > 5000 {
            return invalid("otp.answer_floor_ms must be at most 5000");
        }
        if !(10..=3600).contains(&self.otp.auth_code_expiry_secs) {
            return invalid("otp.auth_code_expiry_secs must be between 10 and 3600");
        }
        if self.otp.send_interval_secs > 3600 {
            return invalid("otp.send_interval_secs must be at most 3600");
        }
        if !(1..=1000).contains(&self.otp.max_codes_per_day) {
            return invalid("otp.max_codes_per_day must be between 1 and 1000");
        }
        if !(1..=100_000).contains(&self.prune.batch_size) {
            return invalid("prune.batch_size must be between 1 and 100000");
        }
        match (self.rate_limits.store, &self.rate_limits.redis_url) {
            (Some(LimiterStore::Redis), None) => {
                return invalid("rate_limits.store = \"redis\" needs rate_limits.redis_url");
            }
            (Some(LimiterStore::Database), _) if !self.database.url.expose().starts_with("postgres") => {
                return invalid("rate_limits.store = \"database\" needs PostgreSQL; SQLite keeps its counts in memory");
            }
            _ => {}
        }
        if self.prune.retention_secs < 3600 {
            return invalid("prune.retention_secs must be at least 3600 (one hour)");
        }
        if let Some(problem) = self.mfa.problem() {
            return invalid(problem);
        }
        if let Some(problem) = self.sms.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        let is_http = |url: &str| url.starts_with("http://") || url.starts_with("https://");
        if !is_http(&self.site.url) {
            return invalid("site.url must be an http:// or https:// URL");
        }
        if let Err(refused) =
            auth_core::domain::RedirectPolicy::new(&self.site.url, self.site.redirect_allow_list.clone())
        {
            return Err(ConfigError::Invalid(format!("site.url or site.redirect_allow_list: {refused}")));
        }
        if !self.site.external_url.trim().is_empty() && !is_http(self.site.external_url.trim()) {
            return invalid("site.external_url must be an http:// or https:// URL");
        }
        if !(30..=7 * 24 * 3600).contains(&self.jwt.expiry_secs) {
            return invalid("jwt.expiry_secs must be between 30 and 604800 (one week)");
        }
        if self.jwt.audience.trim().is_empty() {
            return invalid("jwt.audience must not be empty");
        }
        if let Some(secret) = &self.jwt.secret {
            // Too short, a published example (Supabase's placeholder) or not random: refused,
            // with how to make a good one; the message never quotes the secret.
            if let Err(weak) = auth_crypto::HmacSecret::new(secret.expose().as_bytes()) {
                return Err(ConfigError::Invalid(format!("jwt.secret: {weak}")));
            }
        }
        if let Some(keys) = &self.jwt.keys {
            // Supabase Auth's key set decides the algorithms; jwt.secret may stand beside it.
            crate::keys::key_set(keys.expose(), self.jwt.secret.as_ref().map(|s| s.expose()))
                .map_err(|e| ConfigError::Invalid(format!("{e:#}")))?;
            if self.jwt.private_key.is_some() {
                return invalid("jwt.keys and jwt.private_key cannot both be set: put the private key in jwt.keys");
            }
        } else {
            match (&self.jwt.algorithm, &self.jwt.secret) {
                (JwtAlgorithm::HS256, None) => {
                    return invalid("jwt.algorithm HS256 needs jwt.secret (or jwt.secret_file)");
                }
                (JwtAlgorithm::ES256 | JwtAlgorithm::RS256, Some(_)) => {
                    return invalid("jwt.secret is only used with jwt.algorithm = \"HS256\" (or beside jwt.keys)");
                }
                _ => {}
            }
            if self.jwt.algorithm == JwtAlgorithm::HS256 && self.jwt.private_key.is_some() {
                return invalid("jwt.private_key is only used with jwt.algorithm = \"ES256\" or \"RS256\"");
            }
        }
        if let Err(bad) = self.jwt.keys_encryption_key() {
            return Err(ConfigError::Invalid(format!("jwt.keys_encryption_key: {bad}")));
        }
        if !(1..=3600).contains(&self.jwt.key_reload_secs) {
            return invalid("jwt.key_reload_secs must be between 1 and 3600");
        }
        // Every replica must have read a new key before any of them signs with it.
        if !(2 * self.jwt.key_reload_secs..=7 * 24 * 3600).contains(&self.jwt.key_publish_delay_secs) {
            return invalid(
                "jwt.key_publish_delay_secs must be at least twice jwt.key_reload_secs and at most one week",
            );
        }
        self.policy().validate().map_err(ConfigError::Invalid)?;
        let hash = &self.password.hash;
        if hash.parallelism == 0 || hash.iterations == 0 || hash.memory_kib < 8 * hash.parallelism {
            return invalid("password.hash needs parallelism >= 1, iterations >= 1 and memory_kib >= 8 * parallelism");
        }
        for (key, role) in [
            ("roles.anonymous", &self.roles.anonymous),
            ("roles.authenticated", &self.roles.authenticated),
            ("roles.service", &self.roles.service),
            ("postgrest.authenticator", &self.postgrest.authenticator),
            ("postgrest.channel", &self.postgrest.channel),
        ] {
            let ok = !role.is_empty()
                && role.len() <= 63
                && role.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !role.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(ConfigError::Invalid(format!(
                    "{key} must be a PostgreSQL name: letters, digits and '_', not starting with a digit"
                )));
            }
        }
        // PostgREST switches roles by SET ROLE; the authenticator must not be one of the API roles.
        if [&self.roles.anonymous, &self.roles.authenticated, &self.roles.service]
            .contains(&&self.postgrest.authenticator)
        {
            return invalid("postgrest.authenticator must differ from the roles in [roles]");
        }
        for origin in &self.server.cors_allowed_origins {
            let ok = origin == "*" || origin.starts_with("https://") || origin.starts_with("http://");
            if !ok || origin.ends_with('/') {
                return Err(ConfigError::Invalid(format!(
                    "server.cors_allowed_origins: {origin:?} must be \"*\" or a scheme://host[:port] origin without a path"
                )));
            }
        }
        if self.account.metadata_max_bytes < 256 {
            return invalid("account.metadata_max_bytes must be at least 256");
        }
        self.validate_tracing()?;
        self.validate_mail()
    }

    fn validate_tracing(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        let tracing = &self.tracing;
        let endpoint = tracing.otlp_endpoint.trim();
        let http = endpoint.starts_with("http://") || endpoint.starts_with("https://");
        if !endpoint.is_empty() && !http {
            return invalid("tracing.otlp_endpoint must be an http:// or https:// URL (OTLP/HTTP), or empty");
        }
        if !(0.0..=1.0).contains(&tracing.sample_ratio) {
            return invalid("tracing.sample_ratio must be between 0.0 and 1.0");
        }
        if tracing.service_name.trim().is_empty() {
            return invalid("tracing.service_name must not be empty");
        }
        Ok(())
    }

    fn validate_mail(&self) -> Result<(), ConfigError> {
        let invalid = |msg: &str| Err(ConfigError::Invalid(msg.to_owned()));
        if self.mail.app_name.trim().is_empty() {
            return invalid("mail.app_name must not be empty");
        }
        let smtp = &self.smtp;
        if let Some(address) = &smtp.from_address
            && auth_core::domain::Email::parse(address).is_err()
        {
            return invalid("smtp.from_address must be an email address");
        }
        let Some(host) = &smtp.host else { return Ok(()) };
        if host.trim().is_empty() {
            return invalid("smtp.host must not be empty; leave it out to write mail to mail.outbox_dir");
        }
        if smtp.from_address.is_none() {
            return invalid("smtp.host needs smtp.from_address");
        }
        if smtp.port == Some(0) {
            return invalid("smtp.port must not be 0");
        }
        if !(1..=300).contains(&smtp.timeout_secs) {
            return invalid("smtp.timeout_secs must be between 1 and 300");
        }
        if smtp.username.is_some() != smtp.password.is_some() {
            return invalid("smtp.username and smtp.password (or smtp.password_file) go together");
        }
        // AUTH PLAIN and LOGIN send the password as it is: only over TLS, or to this machine.
        let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]");
        if smtp.username.is_some() && smtp.security == SmtpSecurity::None && !loopback {
            return invalid(
                "smtp.username needs smtp.security = \"starttls\" or \"tls\" unless smtp.host is this machine",
            );
        }
        Ok(())
    }

    /// The password policy these settings describe.
    pub fn policy(&self) -> auth_core::domain::PasswordPolicy {
        auth_core::domain::PasswordPolicy {
            min_length: self.password.min_length,
            max_length: self.password.max_length,
            required_characters: self.password.required_characters.clone(),
        }
    }

    /// The effective configuration as TOML, with every secret replaced.
    pub fn to_redacted_toml(&self) -> Result<String, ConfigError> {
        let mut shown = self.clone();
        shown.database.url = Secret(redact_url(self.database.url.expose()));
        shown.database.direct_url = self.database.direct_url.as_ref().map(|url| Secret(redact_url(url.expose())));
        if shown.jwt.secret.is_some() {
            shown.jwt.secret = Some(Secret("<redacted>".into()));
        }
        if shown.jwt.private_key.is_some() {
            shown.jwt.private_key = Some(Secret("<redacted>".into()));
        }
        if shown.jwt.keys.is_some() {
            shown.jwt.keys = Some(Secret("<redacted>".into()));
        }
        if shown.jwt.keys_encryption_key.is_some() {
            shown.jwt.keys_encryption_key = Some(Secret("<redacted>".into()));
        }
        if shown.smtp.password.is_some() {
            shown.smtp.password = Some(Secret("<redacted>".into()));
        }
        if let Some(url) = &self.rate_limits.redis_url {
            shown.rate_limits.redis_url = Some(Secret(redact_url(url.expose())));
        }
        toml::to_string_pretty(&shown).map_err(|e| ConfigError::Parse(e.to_string()))
    }
}

fn read_secret(key: &'static str, path: &Path) -> Result<String, ConfigError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| ConfigError::File { key, path: path.to_owned(), source })?;
    // Files written by editors and secret managers often end with a newline that is not part of the secret.
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Replaces the password in a URL's user-info, keeping the rest readable.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority_end, _) = rest.char_indices().find(|(_, c)| *c == '/' || *c == '?').unwrap_or((rest.len(), ' '));
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:<redacted>@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// A number of seconds from the configuration as a duration; past what `TimeDelta` holds, its
/// largest value.
pub fn seconds(secs: u64) -> chrono::TimeDelta {
    i64::try_from(secs).ok().and_then(chrono::TimeDelta::try_seconds).unwrap_or(chrono::TimeDelta::MAX)
}

/// Figment's errors name the key and the source; flatten them to one line per problem.
fn describe(error: figment::Error) -> String {
    error.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use figment::Jail;

    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        Jail::expect_with(|_| {
            let config = Config::load(None).unwrap();
            assert_eq!(config, Config::default());
            assert_eq!(config.database.url.expose(), DEFAULT_DATABASE_URL);
            assert_eq!(config.server.port, 9999);
            config.validate().unwrap();
            Ok(())
        });
    }

    #[test]
    fn a_redirect_pattern_that_reaches_other_hosts_is_refused_at_validation() {
        let mut config = Config::default();
        config.site.redirect_allow_list = vec!["https://*.example.com/**".into()];
        config.validate().unwrap();
        config.site.redirect_allow_list.push("https://*.example.com**".into());
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("site.redirect_allow_list") && refused.contains("other hosts"), "{refused}");
    }

    #[test]
    fn the_code_allowance_and_pruning_are_bounded() {
        let mut config = Config::default();
        config.otp.max_codes_per_day = 0;
        assert!(config.validate().unwrap_err().to_string().contains("otp.max_codes_per_day"));
        config.otp.max_codes_per_day = 10;
        config.prune.batch_size = 0;
        assert!(config.validate().unwrap_err().to_string().contains("prune.batch_size"));
        config.prune.batch_size = 500;
        config.prune.retention_secs = 60;
        assert!(config.validate().unwrap_err().to_string().contains("prune.retention_secs"));
    }

    #[test]
    fn file_then_environment_override_defaults() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "authd.toml",
                "[server]\nport = 8080\nhost = \"0.0.0.0\"\n[signup]\nautoconfirm = true\n",
            )?;
            jail.set_env("AUTHD_SERVER__PORT", "9090");
            jail.set_env("AUTHD_ROLES__ANONYMOUS", "web_anon");
            jail.set_env("AUTHD_SERVER__TRUSTED_PROXIES", "[\"10.0.0.0/8\", \"192.0.2.1/32\"]");
            jail.set_env("AUTHD_RATE_LIMITS__SIGNUP_PER_MINUTE", "5");
            jail.set_env("AUTHD_TEST_DATABASE_URL", "postgres://ignored");
            jail.set_env("AUTHD_CONFIG", "authd.toml");
            let config = Config::load(Some(Path::new("authd.toml"))).unwrap();
            assert_eq!(config.server.port, 9090, "environment beats the file");
            assert_eq!(config.server.host, "0.0.0.0", "the file beats defaults");
            assert!(config.signup.autoconfirm);
            assert_eq!(config.roles.anonymous, "web_anon");
            assert_eq!(config.server.trusted_proxies.len(), 2);
            assert_eq!(config.rate_limits.signup_per_minute, 5);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        Jail::expect_with(|jail| {
            jail.create_file("authd.toml", "[server]\nprot = 8080\n")?;
            let err = Config::load(Some(Path::new("authd.toml"))).unwrap_err().to_string();
            assert!(err.contains("prot"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("AUTHD_SIGNUP__AUTOCONFIRMED", "true");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("autoconfirmed"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_come_from_files_and_never_show() {
        Jail::expect_with(|jail| {
            jail.create_file("jwt.secret", "a-very-long-shared-secret-of-32-bytes-or-more\n")?;
            jail.create_file("db.url", "postgres://authd:hunter2@db:5432/app")?;
            jail.set_env("AUTHD_JWT__ALGORITHM", "HS256");
            jail.set_env("AUTHD_JWT__SECRET_FILE", "jwt.secret");
            jail.set_env("AUTHD_DATABASE__URL_FILE", "db.url");
            let config = Config::load(None).unwrap();
            assert_eq!(config.jwt.secret.as_ref().unwrap().expose(), "a-very-long-shared-secret-of-32-bytes-or-more");
            assert_eq!(config.database.url.expose(), "postgres://authd:hunter2@db:5432/app");
            config.validate().unwrap();
            let shown = config.to_redacted_toml().unwrap();
            assert!(!shown.contains("hunter2") && !shown.contains("shared-secret"), "{shown}");
            assert!(shown.contains("postgres://authd:<redacted>@db:5432/app"), "{shown}");
            assert!(!format!("{config:?}").contains("hunter2"));
            Ok(())
        });
    }

    #[test]
    fn the_key_encryption_key_comes_from_a_file_is_checked_and_never_shows() {
        Jail::expect_with(|jail| {
            jail.create_file("kek", "FiFwraL5Cf0pQvTov6D9d+uIAuGb9KvQfvFQ0ESj458=\n")?;
            jail.set_env("AUTHD_JWT__KEYS_ENCRYPTION_KEY_FILE", "kek");
            let config = Config::load(None).unwrap();
            config.validate().unwrap();
            assert!(config.jwt.keys_encryption_key().unwrap().is_some());
            let shown = config.to_redacted_toml().unwrap();
            assert!(!shown.contains("FiFwraL5") && !format!("{config:?}").contains("FiFwraL5"), "{shown}");
            Ok(())
        });
        let mut config = Config::default();
        assert!(config.jwt.keys_encryption_key().unwrap().is_none(), "unset by default");
        assert!(!config.postgrest.manage_roles, "roles are not managed by default");
        for bad in ["short", "c2hvcnQ=", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] {
            config.jwt.keys_encryption_key = Some(Secret(bad.into()));
            let error = config.validate().unwrap_err().to_string();
            assert!(error.contains("jwt.keys_encryption_key") && error.contains("openssl rand -base64 32"), "{error}");
            assert!(!error.contains(bad), "{error}");
        }
    }

    #[test]
    fn missing_secret_file_names_the_key() {
        Jail::expect_with(|jail| {
            jail.set_env("AUTHD_JWT__SECRET_FILE", "/nonexistent/secret");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("jwt.secret_file") && err.contains("/nonexistent/secret"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn validation_catches_incoherent_values() {
        let mut config = Config::default();
        config.jwt.algorithm = JwtAlgorithm::HS256;
        assert!(config.validate().is_err(), "HS256 without a secret");
        config.jwt.secret = Some(Secret("short".into()));
        assert!(config.validate().is_err(), "short secret");
        // Supabase's published placeholder: anyone could mint service_role tokens with it.
        config.jwt.secret = Some(Secret("your-super-secret-jwt-token-with-at-least-32-characters-long".into()));
        let refused = config.validate().unwrap_err().to_string();
        assert!(refused.contains("published") && refused.contains("openssl rand"), "{refused}");
        assert!(!refused.contains("super-secret"), "the secret is never quoted: {refused}");
        config.jwt.secret = Some(Secret("0".repeat(48)));
        assert!(config.validate().is_err(), "not random");
        config.jwt.secret = Some(Secret("q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b".into()));
        config.validate().unwrap();
        let mut config = Config::default();
        config.password.min_length = 300;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.roles.authenticated = "drop table;".into();
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.server.base_path = "auth".into();
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/authd.example.toml");
        Jail::expect_with(|_| {
            let config = Config::load(Some(&example)).unwrap();
            config.validate().unwrap();
            assert_eq!(config.log.format, LogFormat::Json);
            Ok(())
        });
    }

    #[test]
    fn smtp_settings_check_and_hide_the_password() {
        Jail::expect_with(|jail| {
            jail.create_file("smtp.password", "mail-hunter2\n")?;
            jail.set_env("AUTHD_SMTP__HOST", "smtp.example.com");
            jail.set_env("AUTHD_SMTP__USERNAME", "authd");
            jail.set_env("AUTHD_SMTP__PASSWORD_FILE", "smtp.password");
            jail.set_env("AUTHD_SMTP__FROM_ADDRESS", "no-reply@example.com");
            let config = Config::load(None).unwrap();
            assert_eq!(config.smtp.password.as_ref().unwrap().expose(), "mail-hunter2");
            assert_eq!(config.smtp.security, SmtpSecurity::Starttls);
            config.validate().unwrap();
            let shown = config.to_redacted_toml().unwrap();
            assert!(!shown.contains("mail-hunter2") && shown.contains("[smtp]"), "{shown}");
            assert!(!format!("{config:?}").contains("mail-hunter2"));
            Ok(())
        });
        let mut config = Config::default();
        config.smtp.host = Some("smtp.example.com".into());
        assert!(config.validate().is_err(), "a host without a from address");
        config.smtp.from_address = Some("no-reply@example.com".into());
        config.validate().unwrap();
        config.smtp.username = Some("authd".into());
        assert!(config.validate().is_err(), "a user name without a password");
        config.smtp.password = Some(Secret("pw".into()));
        config.smtp.security = SmtpSecurity::None;
        assert!(config.validate().is_err(), "a password in clear to another machine");
        config.smtp.host = Some("127.0.0.1".into());
        config.validate().unwrap();
        config.smtp.from_address = Some("not an address".into());
        assert!(config.validate().is_err());
    }

    #[test]
    fn metrics_and_tracing_come_from_the_environment() {
        Jail::expect_with(|jail| {
            jail.set_env("AUTHD_METRICS__ENABLED", "true");
            jail.set_env("AUTHD_METRICS__LISTEN", "127.0.0.1:9100");
            jail.set_env("AUTHD_TRACING__OTLP_ENDPOINT", "http://otel-collector:4318");
            jail.set_env("AUTHD_TRACING__SAMPLE_RATIO", "0.25");
            let config = Config::load(None).unwrap();
            assert!(config.metrics.enabled);
            assert_eq!(config.metrics.listen, Some("127.0.0.1:9100".parse().unwrap()));
            assert!(config.tracing.enabled());
            assert_eq!((config.tracing.service_name.as_str(), config.tracing.sample_ratio), ("authd", 0.25));
            config.validate().unwrap();
            Ok(())
        });
        let defaults = Config::default();
        assert!(!defaults.metrics.enabled && defaults.metrics.listen.is_none() && !defaults.tracing.enabled());
        let mut config = Config::default();
        config.tracing.sample_ratio = 1.5;
        assert!(config.validate().is_err());
        let mut config = Config::default();
        config.tracing.otlp_endpoint = "otel-collector:4317".into();
        assert!(config.validate().is_err(), "gRPC-style endpoints are not OTLP/HTTP");
    }

    #[test]
    fn url_redaction_keeps_the_shape() {
        assert_eq!(redact_url("postgres://u:p@h/db?sslmode=require"), "postgres://u:<redacted>@h/db?sslmode=require");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/authd.db"), "sqlite://data/authd.db");
    }
}
