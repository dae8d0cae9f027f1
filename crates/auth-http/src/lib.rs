//! The HTTP frontend of authd: the Supabase Auth compatible API on actix-web.
//!
//! [`app`] is the one app factory: the binary serves it and the tests drive it in-process, so
//! both see the same routes, middleware and error handling.

mod api_key;
mod api_version;
mod bearer;
mod client;
mod cors_refusal;
mod deadline;
mod draining;
mod error;
mod messages;
mod rate_limit;
mod request_log;
mod routes;
pub mod views;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, QueryPayloadError, UrlencodedError};
use actix_web::http::StatusCode;
use actix_web::middleware::{Condition, DefaultHeaders, from_fn};
use actix_web::{App, Resource, web};
use auth_core::AuthError;
use auth_core::domain::LimitKey;
use auth_core::ports::{Admission, Random, Readiness};
use auth_core::service::AuthService;
use auth_metrics::Metrics;

pub use draining::Draining;
pub use error::ApiError;
pub use ipnet::IpNet;
use rate_limit::Bucket;
pub use rate_limit::RateLimits;

/// Default base path, as Supabase Auth is mounted behind the Supabase gateway.
pub const DEFAULT_BASE_PATH: &str = "/auth/v1";

/// How the HTTP layer behaves; built by the binary from its configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Path under which every route is mounted (`/auth/v1`, or `` for the root).
    pub base_path: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Per-IP request limits.
    pub rate_limits: RateLimits,
    /// Origins allowed to call from a browser; `*` means any (never with credentials); empty
    /// sends no CORS headers at all.
    pub cors_allowed_origins: Vec<String>,
    /// Public endpoints (`/settings`, `/signup`, `/token` and the mail-sending ones) need the anon
    /// or service-role key.
    pub require_api_key: bool,
    /// Least time a request that may send mail takes to answer, so a known address (which costs
    /// a secret, a rendered mail and a write) cannot be told from an unknown one by timing.
    pub mail_answer_floor: std::time::Duration,
    /// Longest time a request may take before it is answered `504 request_timeout`; zero for
    /// no deadline.
    pub request_timeout: std::time::Duration,
    /// `GET /verify` (the link a mail carries) redeems the link at once and redirects, as
    /// Supabase Auth does. Off, it answers a page whose button redeems it, so a mail scanner
    /// that fetches every link does not use it up.
    pub verify_links_at_once: bool,
    /// The SMS provider's name, as `GET /settings` shows it (`twilio` …; empty for none).
    pub sms_provider: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            base_path: DEFAULT_BASE_PATH.to_owned(),
            max_body_bytes: 1024 * 1024,
            trusted_proxies: Vec::new(),
            rate_limits: RateLimits::default(),
            cors_allowed_origins: Vec::new(),
            require_api_key: false,
            mail_answer_floor: std::time::Duration::from_millis(200),
            request_timeout: std::time::Duration::from_secs(30),
            verify_links_at_once: false,
            sms_provider: String::new(),
        }
    }
}

impl HttpSettings {
    /// The base path without a trailing slash; empty for the root.
    pub fn normalised_base_path(&self) -> String {
        let trimmed = self.base_path.trim().trim_end_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else if trimmed.starts_with('/') {
            trimmed.to_owned()
        } else {
            format!("/{trimmed}")
        }
    }
}

/// Where `GET /metrics` is answered when metrics are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// By [`app`] itself, at the root (`/metrics`, outside the base path).
    MainListener,
    /// By [`metrics_app`] on a listener of its own; [`app`] only records.
    OwnListener,
}

/// Name and version reported by `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// Product name.
    pub name: String,
    /// Version string.
    pub version: String,
}

/// What every handler can reach.
pub struct AppState {
    /// The use cases.
    pub service: AuthService,
    /// Source of request ids.
    pub random: Arc<dyn Random>,
    /// Name and version.
    pub info: ServerInfo,
    /// HTTP behaviour.
    pub settings: HttpSettings,
    /// Set once a request carried `X-Forwarded-For` from a peer that is not a trusted proxy.
    untrusted_forwarding_seen: std::sync::atomic::AtomicBool,
    /// Prometheus metrics, when on, and where they are served.
    metrics: Option<(Arc<Metrics>, MetricsEndpoint)>,
    /// What `GET /ready` asks; without one, `/ready` answers 503.
    readiness: Option<Arc<dyn Readiness>>,
    /// Set when the server is about to stop: `/ready` answers 503 and connections close.
    draining: Draining,
}

impl AppState {
    /// State for `app`. Per-IP limits count on the service's rate limiter
    /// ([`AuthService::with_limiter`]).
    pub fn new(service: AuthService, random: Arc<dyn Random>, info: ServerInfo, settings: HttpSettings) -> Self {
        let untrusted_forwarding_seen = std::sync::atomic::AtomicBool::new(false);
        Self {
            service,
            random,
            info,
            settings,
            untrusted_forwarding_seen,
            metrics: None,
            readiness: None,
            draining: Draining::default(),
        }
    }

    /// The switch that takes this server out of its load balancer's rotation before it stops.
    pub fn draining(&self) -> Draining {
        self.draining.clone()
    }

    /// Records requests and rate-limit refusals into `metrics`, served as `endpoint` says.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>, endpoint: MetricsEndpoint) -> Self {
        self.metrics = Some((metrics, endpoint));
        self
    }

    /// Lets `GET /ready` ask `check` whether the storage can serve requests.
    pub fn with_readiness(mut self, check: Arc<dyn Readiness>) -> Self {
        self.readiness = Some(check);
        self
    }

    /// The metrics requests are recorded into, when metrics are on.
    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.metrics.as_ref().map(|(metrics, _)| metrics.as_ref())
    }

    /// The readiness check, when one is configured.
    pub(crate) fn readiness(&self) -> Option<&dyn Readiness> {
        self.readiness.as_deref()
    }

    /// Counts a request against a per-client limit; refuses it with 429 when over (and with
    /// 503 when the limiter's counters cannot be reached: a limit that cannot count is closed).
    pub(crate) async fn limit(&self, bucket: Bucket, request: &actix_web::HttpRequest) -> Result<(), ApiError> {
        self.warn_of_untrusted_forwarding(request);
        let Some(ip) = client::client_ip(request, &self.settings.trusted_proxies) else { return Ok(()) };
        let key = LimitKey::client(bucket.scope(), ip);
        let admission = self.service.limiter().hit(&key, self.settings.rate_limits.quota(bucket)).await;
        let wait = match admission {
            Ok(Admission::Admitted) => return Ok(()),
            Ok(Admission::Refused { retry_after }) => retry_after,
            Err(error) => return Err(AuthError::Unavailable(error.to_string()).into()),
        };
        if let Some(metrics) = self.metrics() {
            metrics.rate_limited(bucket.as_str());
        }
        Err(match bucket {
            Bucket::Email => ApiError::email_rate_limited(wait),
            _ => ApiError::rate_limited(wait),
        })
    }

    /// Warns once, loudly, when a request carries `X-Forwarded-For` from a peer that is not a
    /// trusted proxy: behind a proxy nobody told authd about, every client shares the proxy's
    /// address, so one client's limit is everyone's.
    fn warn_of_untrusted_forwarding(&self, request: &actix_web::HttpRequest) {
        use std::sync::atomic::Ordering;
        if self.untrusted_forwarding_seen.load(Ordering::Relaxed) || !request.headers().contains_key("x-forwarded-for")
        {
            return;
        }
        let Some(peer) = request.peer_addr().map(|addr| addr.ip()) else { return };
        if self.settings.trusted_proxies.iter().any(|net| net.contains(&peer))
            || self.untrusted_forwarding_seen.swap(true, Ordering::Relaxed)
        {
            return;
        }
        tracing::warn!(
            %peer,
            "a request carried X-Forwarded-For from a peer that is not in server.trusted_proxies: the header is \
             ignored and rate limits count this peer's address; if authd runs behind a proxy or load balancer, \
             add its address to server.trusted_proxies, or every client shares one limit (warned once)"
        );
    }

    /// A use case's answer, with a refusal by the use cases' per-address mail throttle
    /// counted in the metrics as the `address` limit, and one by the per-account password
    /// throttle as the `account` limit.
    pub(crate) fn counted<T>(&self, outcome: Result<T, AuthError>) -> Result<T, ApiError> {
        match (&outcome, self.metrics()) {
            (Err(AuthError::EmailRateLimited { .. }), Some(metrics)) => metrics.rate_limited("address"),
            (Err(AuthError::TooManyAttempts { .. }), Some(metrics)) => metrics.rate_limited("account"),
            _ => {}
        }
        Ok(outcome?)
    }
}

/// Builds the actix-web application: routes under the base path, JSON errors for everything
/// that goes wrong (unknown path, wrong method, bad JSON, oversized body), security headers and
/// a request id and log line per request.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let base = state.settings.normalised_base_path();
    let cors = cors(&state.settings.cors_allowed_origins);
    let limit = state.settings.max_body_bytes;
    let served_metrics = match &state.metrics {
        Some((metrics, MetricsEndpoint::MainListener)) => Some(web::Data::from(Arc::clone(metrics))),
        _ => None,
    };
    let app = App::new()
        .app_data(state)
        .app_data(json_config(limit))
        .app_data(form_config(limit))
        .app_data(web::PayloadConfig::new(limit))
        .app_data(query_config());
    // Registered before the API's scope, which with an empty base path would claim every path.
    let app = match served_metrics {
        Some(metrics) => {
            app.app_data(metrics).service(resource("/metrics").route(web::get().to(routes::metrics::metrics)))
        }
        None => app,
    };
    app.service(
        web::scope(&base)
            .service(resource("/health").route(web::get().to(routes::health::health)))
            .service(resource("/ready").route(web::get().to(routes::health::ready)))
            .service(public(resource("/settings").route(web::get().to(routes::settings::settings))))
            .service(resource("/.well-known/jwks.json").route(web::get().to(routes::settings::jwks)))
            .service(public(resource("/signup").route(web::post().to(routes::signup::signup))))
            .service(public(resource("/token").route(web::post().to(routes::token::token))))
            .service(
                resource("/user")
                    .route(web::get().to(routes::user::get_user))
                    .route(web::put().to(routes::user::update_user))
                    .route(web::delete().to(routes::user::delete_user)),
            )
            .service(resource("/logout").route(web::post().to(routes::logout::logout)))
            .service(public(resource("/authorize").route(web::get().to(routes::external::authorize))))
            .service(
                resource("/callback")
                    .route(web::get().to(routes::external::callback_get))
                    .route(web::post().to(routes::external::callback_post)),
            )
            .service(resource("/user/identities/authorize").route(web::get().to(routes::external::link)))
            .service(resource("/user/identities/{id}").route(web::delete().to(routes::external::unlink)))
            .service(resource("/factors").route(web::post().to(routes::factors::enroll)))
            // Before `/factors/{id}`, which would take `recovery-codes` for an id.
            .service(
                resource("/factors/recovery-codes")
                    .route(web::get().to(routes::recovery_codes::status))
                    .route(web::post().to(routes::recovery_codes::generate))
                    .route(web::delete().to(routes::recovery_codes::unenroll)),
            )
            .service(resource("/factors/recovery-codes/verify").route(web::post().to(routes::recovery_codes::verify)))
            .service(
                resource("/factors/recovery-codes/regenerate")
                    .route(web::post().to(routes::recovery_codes::regenerate)),
            )
            .service(resource("/factors/{id}").route(web::delete().to(routes::factors::unenroll)))
            .service(resource("/factors/{id}/challenge").route(web::post().to(routes::factors::challenge)))
            .service(resource("/factors/{id}/verify").route(web::post().to(routes::factors::verify)))
            .service(resource("/reauthenticate").route(web::get().to(routes::user::reauthenticate)))
            .service(public(resource("/recover").route(web::post().to(routes::email::recover))))
            .service(public(resource("/recover/username").route(web::post().to(routes::email::forgot_username))))
            .service(public(resource("/resend").route(web::post().to(routes::email::resend))))
            .service(public(resource("/magiclink").route(web::post().to(routes::email::magiclink))))
            .service(public(resource("/otp").route(web::post().to(routes::email::otp))))
            .service(
                resource("/verify")
                    .route(web::get().to(routes::email::verify_link))
                    .route(web::post().to(routes::email::verify)),
            )
            .service(
                resource("/admin/users")
                    .route(web::get().to(routes::admin::list_users))
                    .route(web::post().to(routes::admin::create_user)),
            )
            .service(
                resource("/admin/users/{id}")
                    .route(web::get().to(routes::admin::get_user))
                    .route(web::put().to(routes::admin::update_user))
                    .route(web::delete().to(routes::admin::delete_user)),
            )
            .service(resource("/admin/users/{id}/logout").route(web::post().to(routes::admin::logout_user)))
            .service(resource("/admin/users/{id}/factors").route(web::get().to(routes::factors::admin_list)))
            .service(
                resource("/admin/users/{id}/factors/{factor_id}")
                    .route(web::put().to(routes::factors::admin_update))
                    .route(web::delete().to(routes::factors::admin_delete)),
            )
            .service(resource("/admin/audit").route(web::get().to(routes::admin::audit)))
            .service(resource("/admin/generate_link").route(web::post().to(routes::admin::generate_link)))
            .service(resource("/invite").route(web::post().to(routes::admin::invite))),
    )
    .default_service(web::to(routes::fallback::not_found))
    // The API-version layer sits outside CORS, so a refusal by CORS (made JSON just outside
    // it) is rendered in the client's error format too.
    .wrap(Condition::new(cors.is_some(), cors.unwrap_or_default()))
    .wrap(from_fn(cors_refusal::json_refusal))
    .wrap(from_fn(api_version::api_version))
    .wrap(security_headers())
    .wrap(from_fn(draining::close_while_draining))
    .wrap(from_fn(request_log::request_log))
}

/// The app of a listener that serves `GET /metrics` only, for `metrics.listen`: the metrics
/// stay off the public port, and scrapes are neither logged nor counted.
pub fn metrics_app(
    metrics: Arc<Metrics>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(web::Data::from(metrics))
        .service(resource("/metrics").route(web::get().to(routes::metrics::metrics)))
        .default_service(web::to(routes::fallback::not_found))
}

/// A resource whose unsupported methods answer a JSON 405 rather than actix's empty one, and
/// whose requests answer `504 request_timeout` past the deadline. The deadline wraps each
/// resource rather than the app: it must not hold the request while routing still changes it,
/// and inside the app's middleware its 504 is logged, counted and rendered like any error.
fn resource(
    path: &str,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    web::resource(path).default_service(web::to(routes::fallback::method_not_allowed)).wrap(from_fn(deadline::deadline))
}

/// A public endpoint: open to anyone, or to holders of an API key when `require_api_key` is on.
/// Endpoints that take a user's access token authenticate by it and are not wrapped.
fn public<B: MessageBody + 'static>(
    resource: Resource<
        impl ServiceFactory<
            ServiceRequest,
            Config = (),
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    >,
) -> Resource<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    resource.wrap(from_fn(api_key::require_api_key))
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default().limit(limit).error_handler(move |error, _request| {
        let api_error = match &error {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                ApiError::payload_too_large(limit)
            }
            JsonPayloadError::ContentType => ApiError::json_content_type(),
            other => ApiError::bad_json(other),
        };
        api_error.into()
    })
}

/// Forms (only `POST /callback`, a provider's `form_post`) fail like JSON bodies: a JSON error.
fn form_config(limit: usize) -> web::FormConfig {
    web::FormConfig::default().limit(limit).error_handler(move |error, _request| {
        let api_error = match &error {
            UrlencodedError::Overflow { .. } => ApiError::payload_too_large(limit),
            UrlencodedError::ContentType => ApiError::new(
                StatusCode::BAD_REQUEST,
                "validation_failed",
                "Request body must be a form, sent with Content-Type: application/x-www-form-urlencoded",
            ),
            other => ApiError::new(StatusCode::BAD_REQUEST, "validation_failed", format!("Invalid form: {other}")),
        };
        api_error.into()
    })
}

fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        let detail = match &error {
            QueryPayloadError::Deserialize(inner) => inner.to_string(),
            other => other.to_string(),
        };
        ApiError::new(StatusCode::BAD_REQUEST, "validation_failed", format!("Invalid query string: {detail}")).into()
    })
}

/// CORS for the configured origins; `None` (no CORS headers) when none are configured.
fn cors(origins: &[String]) -> Option<actix_cors::Cors> {
    if origins.is_empty() {
        return None;
    }
    let base = actix_cors::Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "DELETE", "OPTIONS"])
        .allowed_headers([
            "accept",
            "authorization",
            "apikey",
            "content-type",
            "x-client-info",
            "x-request-id",
            "x-supabase-api-version",
        ])
        .expose_headers(["x-request-id", "x-supabase-api-version", "x-sb-error-code", "retry-after"])
        .max_age(3600);
    // Bearer tokens travel in headers, not cookies, so credentials are never allowed.
    if origins.iter().any(|o| o == "*") {
        return Some(base.allow_any_origin().send_wildcard());
    }
    Some(origins.iter().fold(base, |cors, origin| cors.allowed_origin(origin)))
}

fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"))
        .add(("Cross-Origin-Resource-Policy", "same-site"))
}
