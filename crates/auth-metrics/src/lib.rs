//! Prometheus metrics for authd: one registry with every family authd records, its OpenMetrics
//! text, and the use cases' [`Observer`], which counts the domain events they report, so the
//! domain itself knows nothing of metrics.
//!
//! Every label takes its value from a closed set (a route pattern, a status code, an enum's
//! stable name, or `other`), never from a raw path, an id, an address or a token, so the number
//! of series stays bounded whatever clients send.

use std::sync::OnceLock;
use std::time::Duration;

use auth_core::domain::{AuditAction, AuditEvent, AuthMethod, MailKind};
use auth_core::ports::Observer;
use auth_core::service::DeliveryReport;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds, in seconds, of the latency buckets: from a cached read to a slow hash.
const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The route label of a request no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderLabel {
    provider: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LimitLabel {
    limit: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The connection pool at one moment, as the store reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DbPoolSample {
    /// Most connections the pool may open.
    pub max_size: usize,
    /// Connections open, idle or in use.
    pub size: usize,
    /// Open connections nobody uses.
    pub idle: usize,
    /// Callers waiting for a connection.
    pub waiting: usize,
}

/// The password-hashing pool at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashPoolSample {
    /// Hashes waiting for a slot.
    pub waiting: usize,
    /// Hashes being computed.
    pub running: usize,
}

type Source<T> = Box<dyn Fn() -> T + Send + Sync>;

/// Every metric authd records, in one registry. Cheap to share: handles are reference-counted.
pub struct Metrics {
    registry: Registry,
    http_requests: Family<RequestLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    sign_ins: Family<MethodLabel, Counter>,
    sign_in_failures: Family<ReasonLabel, Counter>,
    sign_ups: Family<ProviderLabel, Counter>,
    refreshes: Counter,
    reuse_detected: Counter,
    audit_events: Family<ActionLabel, Counter>,
    rate_limited: Family<LimitLabel, Counter>,
    mail_queued: Family<KindLabel, Counter>,
    mail_sent: Counter,
    mail_failed: Family<FailureLabels, Counter>,
    hash_wait: Histogram,
    hash_pool: Family<StateLabel, Gauge>,
    db_pool: Family<StateLabel, Gauge>,
    db_pool_max: Gauge,
    db_pool_waiting: Gauge,
    db_source: OnceLock<Source<DbPoolSample>>,
    hash_source: OnceLock<Source<HashPoolSample>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every family registered under the `authd_` prefix; `version` goes into
    /// `authd_build_info`.
    pub fn new(version: &str) -> Self {
        let mut registry = Registry::default();
        registry.register("authd_build", "The running authd", Info::new(vec![("version", version.to_owned())]));
        let mut this = Self {
            registry,
            http_requests: Family::default(),
            http_duration: HistogramFamily::new_with_constructor(latency_histogram),
            sign_ins: Family::default(),
            sign_in_failures: Family::default(),
            sign_ups: Family::default(),
            refreshes: Counter::default(),
            reuse_detected: Counter::default(),
            audit_events: Family::default(),
            rate_limited: Family::default(),
            mail_queued: Family::default(),
            mail_sent: Counter::default(),
            mail_failed: Family::default(),
            hash_wait: latency_histogram(),
            hash_pool: Family::default(),
            db_pool: Family::default(),
            db_pool_max: Gauge::default(),
            db_pool_waiting: Gauge::default(),
            db_source: OnceLock::new(),
            hash_source: OnceLock::new(),
        };
        this.register();
        this
    }

    fn register(&mut self) {
        let r = self.registry.sub_registry_with_prefix("authd");
        r.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            self.http_requests.clone(),
        );
        r.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response, by method and route pattern",
            self.http_duration.clone(),
        );
        r.register("sign_ins", "Successful sign-ins, by method", self.sign_ins.clone());
        r.register("sign_in_failures", "Refused password sign-ins, by reason", self.sign_in_failures.clone());
        r.register("sign_ups", "New accounts, by provider", self.sign_ups.clone());
        r.register("token_refreshes", "Refresh tokens exchanged for new ones", self.refreshes.clone());
        r.register(
            "refresh_token_reuse_detections",
            "Spent refresh tokens presented again, each revoking its session",
            self.reuse_detected.clone(),
        );
        r.register("audit_events", "Audit-log events written, by action", self.audit_events.clone());
        r.register("rate_limited", "Requests refused by a rate limit, by limit", self.rate_limited.clone());
        r.register("mail_queued", "Mails put in the outbox, by kind", self.mail_queued.clone());
        r.register("mail_sent", "Mails the mail server (or folder) accepted", self.mail_sent.clone());
        r.register(
            "mail_delivery_failures",
            "Failed mail deliveries, by kind and outcome (retrying or given_up)",
            self.mail_failed.clone(),
        );
        r.register(
            "password_hash_wait_seconds",
            "Time a password hash waited for a slot in the hashing pool",
            self.hash_wait.clone(),
        );
        r.register("password_hash_pool", "Hashes in the hashing pool, by state", self.hash_pool.clone());
        r.register("db_pool_connections", "Open database connections, by state", self.db_pool.clone());
        r.register("db_pool_max_connections", "Most database connections the pool may open", self.db_pool_max.clone());
        r.register("db_pool_waiting", "Callers waiting for a database connection", self.db_pool_waiting.clone());
    }

    /// Counts one answered request. `route` is the matched route pattern (never the path), or
    /// `None` when no route matched.
    pub fn observe_request(&self, method: &str, route: Option<&str>, status: u16, elapsed: Duration) {
        let method = known_method(method);
        let route = route.unwrap_or(UNMATCHED_ROUTE).to_owned();
        self.http_requests.get_or_create(&RequestLabels { method, route: route.clone(), status }).inc();
        self.http_duration.get_or_create(&RouteLabels { method, route }).observe(elapsed.as_secs_f64());
    }

    /// Counts a request refused by the named limit (`signup`, `password`, `refresh`, `email`,
    /// `verify`, `address`).
    pub fn rate_limited(&self, limit: &'static str) {
        self.rate_limited.get_or_create(&LimitLabel { limit }).inc();
    }

    /// Counts what a delivery round did.
    pub fn mail_delivered(&self, report: &DeliveryReport) {
        self.mail_sent.inc_by(u64::from(report.sent));
        for (_, kind, _) in &report.retrying {
            self.mail_failed.get_or_create(&FailureLabels { kind: kind.as_str(), outcome: "retrying" }).inc();
        }
        for (_, kind, _) in &report.failed {
            self.mail_failed.get_or_create(&FailureLabels { kind: kind.as_str(), outcome: "given_up" }).inc();
        }
    }

    /// Records how long a hash waited for a slot.
    pub fn hash_waited(&self, wait: Duration) {
        self.hash_wait.observe(wait.as_secs_f64());
    }

    /// Reads the database pool at every scrape from `source`. Only the first source counts.
    pub fn watch_db_pool(&self, source: impl Fn() -> DbPoolSample + Send + Sync + 'static) {
        let _ = self.db_source.set(Box::new(source));
    }

    /// Reads the hashing pool at every scrape from `source`. Only the first source counts.
    pub fn watch_hash_pool(&self, source: impl Fn() -> HashPoolSample + Send + Sync + 'static) {
        let _ = self.hash_source.set(Box::new(source));
    }

    /// Every metric in the OpenMetrics text format ([`CONTENT_TYPE`]), pools sampled now.
    pub fn render(&self) -> String {
        if let Some(source) = self.db_source.get() {
            let pool = source();
            let in_use = pool.size.saturating_sub(pool.idle);
            self.db_pool.get_or_create(&StateLabel { state: "idle" }).set(gauge(pool.idle));
            self.db_pool.get_or_create(&StateLabel { state: "in_use" }).set(gauge(in_use));
            self.db_pool_max.set(gauge(pool.max_size));
            self.db_pool_waiting.set(gauge(pool.waiting));
        }
        if let Some(source) = self.hash_source.get() {
            let pool = source();
            self.hash_pool.get_or_create(&StateLabel { state: "waiting" }).set(gauge(pool.waiting));
            self.hash_pool.get_or_create(&StateLabel { state: "running" }).set(gauge(pool.running));
        }
        let mut text = String::new();
        // Writing into a String cannot fail; an encoder error would leave a truncated body.
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// The domain events the use cases report, counted.
impl Observer for Metrics {
    /// Counts what an audit event says happened.
    fn recorded(&self, event: &AuditEvent) {
        self.audit_events.get_or_create(&ActionLabel { action: event.action.as_str() }).inc();
        let detail = |key: &str| event.details.get(key).and_then(|v| v.as_str()).unwrap_or_default();
        match event.action {
            AuditAction::Login => {
                let method = AuthMethod::parse(detail("method")).map_or("other", AuthMethod::as_str);
                self.sign_ins.get_or_create(&MethodLabel { method }).inc();
            }
            AuditAction::LoginFailed => {
                let reason = one_of(detail("reason"), &["invalid_credentials", "email_not_confirmed", "user_banned"]);
                self.sign_in_failures.get_or_create(&ReasonLabel { reason }).inc();
            }
            AuditAction::Signup => {
                let provider = one_of(detail("provider"), &["email", "phone", "anonymous"]);
                self.sign_ups.get_or_create(&ProviderLabel { provider }).inc();
            }
            AuditAction::TokenRefreshed => {
                self.refreshes.inc();
            }
            AuditAction::TokenReuseDetected => {
                self.reuse_detected.inc();
            }
            _ => {}
        }
    }

    /// Counts a mail put in the outbox.
    fn mail_queued(&self, kind: MailKind) {
        self.mail_queued.get_or_create(&KindLabel { kind: kind.as_str() }).inc();
    }
}

fn gauge(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// `value` when it is one of `known`, `other` otherwise: audit details are free-form JSON.
fn one_of(value: &str, known: &[&'static str]) -> &'static str {
    known.iter().find(|k| **k == value).copied().unwrap_or("other")
}

/// The method as a label: standard methods by name, anything a client invents as `other`.
fn known_method(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}
