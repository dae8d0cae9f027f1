//! The PostgREST adapter wired in: its settings from the configuration, the writer for authd's
//! own PostgreSQL database, and when it runs (at start and after every key change). Failures
//! there are logged: PostgREST is not authd's to serve, so it never stops authd.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use auth_core::ports::TokenSigner;
use auth_crypto::JwtSigner;
use auth_postgrest::{PostgrestSettings, PostgrestSync, Roles};
use auth_store::Database;
use serde_json::Value;

use crate::config::Config;
use crate::keys::KeysChanged;

/// What PostgREST must agree on with this configuration.
pub fn postgrest_settings(config: &Config) -> PostgrestSettings {
    PostgrestSettings {
        authenticator: config.postgrest.authenticator.clone(),
        anonymous_role: config.roles.anonymous.clone(),
        authenticated_role: config.roles.authenticated.clone(),
        service_role: config.roles.service.clone(),
        audience: config.jwt.audience.clone(),
        session_timebox_secs: config.sessions.timebox_secs,
        session_inactivity_timeout_secs: config.sessions.inactivity_timeout_secs,
        notify_channel: config.postgrest.notify.then(|| config.postgrest.channel.clone()),
    }
}

/// The writer of PostgREST's settings into `database`; `None` on SQLite, where no PostgREST runs.
/// It writes roles and functions, an operator's work: through `database.direct_url` when set.
pub fn postgrest_sync(config: &Config, database: &Database) -> Option<Arc<PostgrestSync>> {
    let Database::Postgres(_) = database else { return None };
    let url = config.database.direct_url.as_ref().unwrap_or(&config.database.url);
    Some(Arc::new(PostgrestSync::new(&postgrest_settings(config), url.expose())))
}

/// At `authd serve` start: the roles (when `postgrest.manage_roles` is on and the authenticator
/// exists) and the in-database configuration.
pub(super) async fn at_start(config: &Config, sync: &PostgrestSync, signer: &JwtSigner) {
    if config.postgrest.manage_roles {
        match sync.apply_roles().await {
            Ok(Roles::Applied) => tracing::info!("PostgREST roles are in place"),
            Ok(Roles::NoAuthenticator) => tracing::info!(
                authenticator = %config.postgrest.authenticator,
                "no PostgREST authenticator role; role set-up skipped"
            ),
            Ok(Roles::TooPowerful(why)) => tracing::error!(
                reason = %why,
                "refusing to adopt an existing PostgREST role; the roles were not set up"
            ),
            Ok(Roles::NoPrivilege(why)) => tracing::warn!(
                reason = %why,
                "cannot create or grant the PostgREST roles; have a superuser run the SQL of `authd postgrest sql`"
            ),
            Err(error) => tracing::warn!(error = %chain(error), "PostgREST role set-up failed"),
        }
    }
    if let Err(error) = sync.publish(&signer.jwks()).await {
        tracing::warn!(error = %chain(error), "cannot write PostgREST's in-database configuration");
    }
}

/// The hook `Keys` calls after the keys changed: publish them to PostgREST.
pub(super) fn publish_on_change(sync: Option<Arc<PostgrestSync>>) -> Option<KeysChanged> {
    let sync = sync?;
    Some(Arc::new(move |jwks: Value| -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let sync = Arc::clone(&sync);
        Box::pin(async move {
            match sync.publish(&jwks).await {
                Ok(true) => tracing::info!("PostgREST's in-database configuration updated with the new keys"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(error = %chain(error), "cannot write PostgREST's in-database configuration")
                }
            }
        })
    }))
}

/// An error with its causes, on one line.
fn chain(error: auth_postgrest::PostgrestError) -> String {
    format!("{:#}", anyhow::Error::from(error))
}
