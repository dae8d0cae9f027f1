//! PostgREST on the same PostgreSQL database: the API roles and their grants, the settings
//! PostgREST needs (`authd postgrest config`), and PostgREST's in-database configuration, which
//! authd rewrites and announces with a reload notification whenever its keys change.
//!
//! Two functions in the schema `auth` carry authd's settings into the database, because
//! PostgREST and `auth.check_session()` run there without authd: `auth.session_limits()` (the
//! session lifetime limits) and `auth.postgrest_config()` (PostgREST's `db-pre-config`: the JWKS,
//! the audience, the anonymous role, the pre-request check). authd replaces their bodies under a
//! transaction-scoped advisory lock, only when they differ, and notifies in the same transaction,
//! so any number of replicas (and `authd keys` commands) may do it at once and PostgREST reloads
//! once per real change, after the commit.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use anyhow::{Context, bail};
use auth_core::ports::TokenSigner;
use auth_crypto::JwtSigner;
use auth_store::Database;
use serde_json::Value;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::cli::PostgrestCommand;
use crate::config::{Config, JwtAlgorithm};
use crate::keys::KeysChanged;
use crate::{output, wiring};

/// Held (per transaction) while the in-database configuration or the roles are written ("authdp").
const SYNC_LOCK: i64 = 0x0000_6175_7468_6470;

/// The pre-request function PostgREST must call.
pub const PRE_REQUEST: &str = "auth.check_session";
/// The pre-config function that carries the in-database configuration.
pub const PRE_CONFIG: &str = "auth.postgrest_config";

/// `authd postgrest ...`
pub async fn run(command: PostgrestCommand, config: Config) -> anyhow::Result<()> {
    match command {
        PostgrestCommand::Sql => output::say(&printed_role_sql(&config)),
        PostgrestCommand::Config { json } => {
            let jwks = current_jwks(&config).await?;
            let settings = settings(&config, &jwks);
            if json {
                let map: serde_json::Map<String, Value> =
                    settings.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect();
                output::say(&serde_json::to_string_pretty(&map)?);
            } else {
                output::say(&render_conf(&config, &settings));
            }
        }
        PostgrestCommand::Setup => {
            let database = wiring::open_ready_database(&config).await?;
            let Database::Postgres(_) = database else {
                bail!("PostgREST needs PostgreSQL; database.url names SQLite")
            };
            let sync = InDatabase::new(&config, config.database.url.expose());
            match sync.apply_roles().await? {
                Roles::Applied => output::say("roles created (if missing) and granted"),
                Roles::NoAuthenticator => bail!(
                    "role {} does not exist: create it first (CREATE ROLE {} LOGIN NOINHERIT PASSWORD '...')",
                    config.postgrest.authenticator,
                    config.postgrest.authenticator
                ),
                Roles::NoPrivilege(why) => bail!(
                    "authd's database user may not create or grant roles ({why}); have a superuser run the SQL of `authd postgrest sql`"
                ),
            }
            let keys = wiring::keys(&config, &database)?;
            keys.ensure_initial().await?;
            let changed = sync.publish(&keys.signer().await?.jwks()).await?;
            output::say(if changed {
                "PostgREST's in-database configuration updated"
            } else {
                "PostgREST's in-database configuration was already current"
            });
        }
    }
    Ok(())
}

/// The public keys as PostgREST should see them now.
async fn current_jwks(config: &Config) -> anyhow::Result<Value> {
    let database = wiring::open_ready_database(config).await?;
    let keys = wiring::keys(config, &database)?;
    keys.ensure_initial().await?;
    Ok(keys.signer().await?.jwks())
}

/// At `authd serve` start on PostgreSQL: the roles (when `postgrest.manage_roles` is on and the
/// authenticator exists) and the in-database configuration. Failures are logged: PostgREST is
/// not authd's to serve, so its set-up never stops authd from starting.
pub async fn at_start(config: &Config, database: &Database, signer: &JwtSigner) {
    let Database::Postgres(_) = database else { return };
    let sync = InDatabase::new(config, config.database.url.expose());
    if config.postgrest.manage_roles {
        match sync.apply_roles().await {
            Ok(Roles::Applied) => tracing::info!("PostgREST roles are in place"),
            Ok(Roles::NoAuthenticator) => tracing::info!(
                authenticator = %config.postgrest.authenticator,
                "no PostgREST authenticator role; role set-up skipped"
            ),
            Ok(Roles::NoPrivilege(why)) => tracing::warn!(
                reason = %why,
                "cannot create or grant the PostgREST roles; have a superuser run the SQL of `authd postgrest sql`"
            ),
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "PostgREST role set-up failed"),
        }
    }
    if let Err(error) = sync.publish(&signer.jwks()).await {
        tracing::warn!(error = %format!("{error:#}"), "cannot write PostgREST's in-database configuration");
    }
}

/// The hook `Keys` calls after the keys changed: publish them to PostgREST (PostgreSQL only).
pub fn keys_hook(config: &Config, database: &Database) -> Option<KeysChanged> {
    let Database::Postgres(_) = database else { return None };
    let sync = Arc::new(InDatabase::new(config, config.database.url.expose()));
    Some(Arc::new(move |jwks: Value| -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let sync = Arc::clone(&sync);
        Box::pin(async move {
            match sync.publish(&jwks).await {
                Ok(true) => tracing::info!("PostgREST's in-database configuration updated with the new keys"),
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(error = %format!("{error:#}"), "cannot write PostgREST's in-database configuration")
                }
            }
        })
    }))
}

/// What the role set-up did.
#[derive(Debug)]
pub enum Roles {
    /// Every role exists and is granted.
    Applied,
    /// The authenticator role does not exist; nothing was done.
    NoAuthenticator,
    /// authd's database user lacks a privilege; nothing was changed.
    NoPrivilege(String),
}

/// Writes authd's settings into the database.
pub struct InDatabase {
    url: String,
    authenticator: String,
    limits_body: String,
    config_settings: Vec<(&'static str, String)>,
    role_sql: String,
    notify: Option<String>,
}

impl InDatabase {
    /// From the configuration, for the database at `url`.
    pub fn new(config: &Config, url: &str) -> Self {
        let config_settings = vec![
            ("pgrst.jwt_aud", config.jwt.audience.clone()),
            ("pgrst.jwt_role_claim_key", ".role".to_owned()),
            ("pgrst.db_anon_role", config.roles.anonymous.clone()),
            ("pgrst.db_pre_request", PRE_REQUEST.to_owned()),
        ];
        Self {
            url: url.to_owned(),
            authenticator: config.postgrest.authenticator.clone(),
            limits_body: limits_body(config),
            config_settings,
            role_sql: role_sql(config),
            notify: config.postgrest.notify.then(|| config.postgrest.channel.clone()),
        }
    }

    async fn connect(&self) -> anyhow::Result<Client> {
        let (client, connection) =
            tokio_postgres::connect(&self.url, NoTls).await.context("cannot connect to PostgreSQL")?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "PostgREST sync connection closed");
            }
        });
        Ok(client)
    }

    /// Creates the missing API roles and grants what PostgREST needs; idempotent.
    pub async fn apply_roles(&self) -> anyhow::Result<Roles> {
        let mut client = self.connect().await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", &[&self.authenticator])
            .await
            .context("cannot look up the authenticator role")?;
        if exists.is_none() {
            return Ok(Roles::NoAuthenticator);
        }
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await?;
        match tx.batch_execute(&self.role_sql).await {
            Ok(()) => {}
            Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                let why = error.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
                return Ok(Roles::NoPrivilege(why));
            }
            Err(error) => return Err(error).context("the role set-up failed"),
        }
        tx.commit().await?;
        Ok(Roles::Applied)
    }

    /// Rewrites `auth.session_limits()` and `auth.postgrest_config()` where they differ from
    /// this configuration and `jwks`, and notifies PostgREST when its configuration changed.
    /// Returns whether PostgREST's configuration changed.
    pub async fn publish(&self, jwks: &Value) -> anyhow::Result<bool> {
        let mut client = self.connect().await?;
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await?;
        let current = |name: &'static str| {
            let tx = &tx;
            async move {
                tx.query_opt(
                    "SELECT p.prosrc FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace \
                     WHERE n.nspname = 'auth' AND p.proname = $1",
                    &[&name],
                )
                .await
                .map(|row| row.map(|r| r.get::<_, String>(0)))
            }
        };
        if current("session_limits").await?.as_deref() != Some(self.limits_body.as_str()) {
            tx.batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION auth.session_limits(OUT timebox interval, OUT inactivity_timeout interval) \
                 LANGUAGE sql IMMUTABLE SET search_path = '' AS {}",
                literal(&self.limits_body)
            ))
            .await
            .context("cannot write auth.session_limits()")?;
        }
        let body = self.config_body(jwks);
        let changed = current("postgrest_config").await?.as_deref() != Some(body.as_str());
        if changed {
            tx.batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION auth.postgrest_config() RETURNS void \
                 LANGUAGE sql STABLE SET search_path = '' AS {}",
                literal(&body)
            ))
            .await
            .context("cannot write auth.postgrest_config()")?;
            if let Some(channel) = &self.notify {
                // Delivered at commit, so PostgREST reads the new function, never the old one.
                tx.batch_execute(&format!("NOTIFY {}, 'reload config'", ident(channel))).await?;
            }
        }
        tx.commit().await?;
        Ok(changed)
    }

    /// The body of `auth.postgrest_config()`: one set_config per setting. With HS256 the JWKS is
    /// empty and the secret stays out: function bodies are readable by every database user.
    fn config_body(&self, jwks: &Value) -> String {
        let mut settings = self.config_settings.clone();
        if jwks["keys"].as_array().is_some_and(|keys| !keys.is_empty()) {
            settings.insert(0, ("pgrst.jwt_secret", jwks.to_string()));
        }
        let calls: Vec<String> = settings
            .iter()
            .map(|(name, value)| format!("set_config({}, {}, true)", literal(name), literal(value)))
            .collect();
        format!("\n    SELECT {}\n", calls.join(",\n           "))
    }
}

/// The body of `auth.session_limits()` for `[sessions]`.
fn limits_body(config: &Config) -> String {
    let interval = |secs: u64| {
        if secs == 0 { "NULL::interval".to_owned() } else { format!("pg_catalog.make_interval(secs => {secs})") }
    };
    format!(
        "\n    SELECT {}, {}\n",
        interval(config.sessions.timebox_secs),
        interval(config.sessions.inactivity_timeout_secs)
    )
}

/// The API role names, without repeats (an operator may use one role for two purposes).
fn api_roles(config: &Config) -> Vec<&str> {
    let mut roles: Vec<&str> = Vec::new();
    for role in [&config.roles.anonymous, &config.roles.authenticated, &config.roles.service] {
        if !roles.contains(&role.as_str()) {
            roles.push(role);
        }
    }
    roles
}

/// Creates the missing API roles (`NOLOGIN`; the service role with `BYPASSRLS`), grants them to
/// the authenticator, and lets them use the `auth` helpers. Every statement checks first, so a
/// second run changes nothing and needs no privilege beyond owning the schema `auth`.
pub fn role_sql(config: &Config) -> String {
    let authenticator = &config.postgrest.authenticator;
    let mut sql = format!(
        "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit}) THEN\n        \
         RAISE EXCEPTION 'role % does not exist: create it first (CREATE ROLE % LOGIN NOINHERIT PASSWORD ...)', {lit}, {lit};\n    \
         END IF;\nEND\n$$;\n",
        lit = literal(authenticator)
    );
    for role in api_roles(config) {
        // The service key is for trusted servers: it sees every row, as in Supabase.
        let attributes = if role == config.roles.service { "NOLOGIN BYPASSRLS" } else { "NOLOGIN" };
        sql.push_str(&format!(
            "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit}) THEN\n        \
             CREATE ROLE {id} {attributes};\n    END IF;\nEXCEPTION WHEN duplicate_object OR unique_violation THEN\n    \
             NULL; -- created by a concurrent run\nEND\n$$;\n\
             DO $$\nBEGIN\n    IF NOT pg_catalog.pg_has_role({auth_lit}, {lit}, 'MEMBER') THEN\n        \
             GRANT {id} TO {auth_id};\n    END IF;\nEND\n$$;\n",
            lit = literal(role),
            id = ident(role),
            auth_lit = literal(authenticator),
            auth_id = ident(authenticator),
        ));
    }
    let roles: Vec<String> = api_roles(config).into_iter().map(ident).collect();
    let roles = roles.join(", ");
    sql.push_str(&format!(
        "GRANT USAGE ON SCHEMA auth TO {roles}, {auth};\n\
         GRANT EXECUTE ON FUNCTION auth.check_session() TO {roles};\n",
        auth = ident(authenticator)
    ));
    sql
}

/// `authd postgrest sql`: the role set-up as a script for psql.
fn printed_role_sql(config: &Config) -> String {
    format!(
        "-- PostgREST roles for authd, from `authd postgrest sql`. Safe to run more than once.\n\
         -- Run it after `authd migrate`, as a superuser (creating a BYPASSRLS role needs one):\n\
         --   authd postgrest sql | psql \"$ADMIN_DATABASE_URL\" -v ON_ERROR_STOP=1\n\
         -- The authenticator role PostgREST logs in as must exist first, for example:\n\
         --   CREATE ROLE {auth} LOGIN NOINHERIT PASSWORD '...';\n\
         BEGIN;\n{}COMMIT;",
        role_sql(config),
        auth = ident(&config.postgrest.authenticator)
    )
}

/// The PostgREST settings matching this configuration and these keys, by PostgREST's names.
fn settings(config: &Config, jwks: &Value) -> Vec<(&'static str, String)> {
    let secret = match (&config.jwt.algorithm, &config.jwt.secret) {
        (JwtAlgorithm::HS256, Some(secret)) => secret.expose().to_owned(),
        _ => jwks.to_string(),
    };
    vec![
        ("db-anon-role", config.roles.anonymous.clone()),
        ("db-pre-request", PRE_REQUEST.to_owned()),
        ("db-pre-config", PRE_CONFIG.to_owned()),
        ("jwt-aud", config.jwt.audience.clone()),
        ("jwt-role-claim-key", ".role".to_owned()),
        ("jwt-secret", secret),
        ("jwt-secret-is-base64", "false".to_owned()),
    ]
}

/// `authd postgrest config`: a postgrest.conf fragment.
fn render_conf(config: &Config, settings: &[(&'static str, String)]) -> String {
    let mut text = format!(
        "# PostgREST settings matching this authd, from `authd postgrest config`.\n\
         # Add db-uri (log in as the role {auth}) and db-schemas (your API schema; never \"auth\").\n",
        auth = config.postgrest.authenticator
    );
    if config.jwt.algorithm == JwtAlgorithm::HS256 {
        text.push_str("# jwt-secret is authd's HS256 secret: keep this file private.\n");
    } else {
        text.push_str(
            "# jwt-secret is the JWKS as of now; with db-pre-config PostgREST reads the current one from\n\
             # the database, and authd tells it to reload whenever the keys change.\n",
        );
    }
    for (name, value) in settings {
        let value = if name.ends_with("-base64") { value.clone() } else { quoted(value) };
        text.push_str(&format!("{name} = {value}\n"));
    }
    text.trim_end().to_owned()
}

/// A double-quoted configuration value, with `"` and `\` escaped.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A PostgreSQL string literal that reads the same whatever `standard_conforming_strings` says.
fn literal(value: &str) -> String {
    let doubled = value.replace('\'', "''");
    if value.contains('\\') { format!("E'{}'", doubled.replace('\\', "\\\\")) } else { format!("'{doubled}'") }
}

/// A PostgreSQL quoted identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_are_quoted() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal(r"a\'b"), r"E'a\\''b'");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quoted(r#"{"k":"a\b"}"#), r#""{\"k\":\"a\\b\"}""#);
    }

    #[test]
    fn role_sql_names_the_configured_roles_once() {
        let mut config = Config::default();
        config.roles.anonymous = "web_anon".into();
        config.roles.authenticated = "normal_user".into();
        config.roles.service = "normal_user".into();
        let sql = role_sql(&config);
        assert!(sql.contains("CREATE ROLE \"web_anon\" NOLOGIN;"));
        assert_eq!(sql.matches("CREATE ROLE \"normal_user\"").count(), 1);
        assert!(sql.contains("GRANT \"normal_user\" TO \"authenticator\""));
    }

    #[test]
    fn the_hs256_secret_never_enters_the_database() {
        let mut config = Config::default();
        config.jwt.algorithm = JwtAlgorithm::HS256;
        let sync = InDatabase::new(&config, "postgres://x");
        let body = sync.config_body(&serde_json::json!({ "keys": [] }));
        assert!(!body.contains("jwt_secret"), "{body}");
        assert!(body.contains("'pgrst.db_pre_request', 'auth.check_session'"));
    }
}
