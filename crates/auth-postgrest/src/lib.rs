//! PostgREST on authd's PostgreSQL database: the API roles and their grants ([`role_sql`],
//! [`PostgrestSync::apply_roles`]), the settings PostgREST needs ([`server_settings`]), and
//! PostgREST's in-database configuration, which authd rewrites and announces with a reload
//! notification whenever its keys change ([`PostgrestSync::publish`]).
//!
//! Two functions in the schema `auth` carry authd's settings into the database, because
//! PostgREST and `auth.check_session()` run there without authd: `auth.session_limits()` (the
//! session lifetime limits) and `auth.postgrest_config()` (PostgREST's `db-pre-config`: the JWKS,
//! the audience, the anonymous role, the pre-request check). They are replaced under a
//! transaction-scoped advisory lock, only when they differ, and the notification goes out in the
//! same transaction, so any number of replicas (and `authd keys` commands) may publish at once
//! and PostgREST reloads once per real change, after the commit.
//!
//! This crate reads no configuration file and knows nothing of authd's other crates: the binary
//! hands it [`PostgrestSettings`] and the JWKS.

mod quote;

use serde_json::Value;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

pub use quote::{ident, literal};

/// Held (per transaction) while the in-database configuration or the roles are written ("authdp").
const SYNC_LOCK: i64 = 0x0000_6175_7468_6470;

/// The pre-request function PostgREST must call.
pub const PRE_REQUEST: &str = "auth.check_session";
/// The pre-config function that carries the in-database configuration.
pub const PRE_CONFIG: &str = "auth.postgrest_config";

/// What PostgREST must agree on with authd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgrestSettings {
    /// The login role PostgREST connects as; it switches to the API roles.
    pub authenticator: String,
    /// The role of requests without a token (PostgREST's `db-anon-role`).
    pub anonymous_role: String,
    /// The role of signed-in users' tokens.
    pub authenticated_role: String,
    /// The role of the service key; it bypasses row-level security.
    pub service_role: String,
    /// The `aud` claim PostgREST must require.
    pub audience: String,
    /// A session's longest life in seconds, 0 for none (`auth.session_limits()`).
    pub session_timebox_secs: u64,
    /// How long a session may go unrefreshed in seconds, 0 for no limit.
    pub session_inactivity_timeout_secs: u64,
    /// The channel told `reload config` after the configuration changed; `None` to stay silent.
    pub notify_channel: Option<String>,
}

impl PostgrestSettings {
    /// The API role names, without repeats (an operator may use one role for two purposes).
    fn api_roles(&self) -> Vec<&str> {
        let mut roles: Vec<&str> = Vec::new();
        for role in [&self.anonymous_role, &self.authenticated_role, &self.service_role] {
            if !roles.contains(&role.as_str()) {
                roles.push(role);
            }
        }
        roles
    }
}

/// Why talking to PostgreSQL failed.
#[derive(Debug, thiserror::Error)]
pub enum PostgrestError {
    /// No connection to the database (refused URL, unreachable server, failed TLS checks).
    #[error("cannot connect to PostgreSQL")]
    Connect(#[source] auth_pgconn::ConnectError),
    /// A statement failed; `doing` says which step.
    #[error("{doing}")]
    Statement {
        /// The step that failed, as a phrase ("cannot write auth.postgrest_config()").
        doing: &'static str,
        /// The database's error.
        #[source]
        source: tokio_postgres::Error,
    },
}

/// Attaches the step to a database error.
fn step(doing: &'static str) -> impl FnOnce(tokio_postgres::Error) -> PostgrestError {
    move |source| PostgrestError::Statement { doing, source }
}

/// What the role set-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Roles {
    /// Every role exists and is granted.
    Applied,
    /// The authenticator role does not exist; nothing was done.
    NoAuthenticator,
    /// authd's database user lacks a privilege; nothing was changed. The database's message.
    NoPrivilege(String),
    /// An API role exists with more power than authd gives one (it names the role and what it
    /// may do); nothing was changed, the role is not adopted.
    TooPowerful(String),
}

/// Writes authd's settings into one PostgreSQL database, a connection per call (the calls are
/// rare: at start, on a key change, from a command).
pub struct PostgrestSync {
    url: String,
    authenticator: String,
    limits_body: String,
    config_settings: Vec<(&'static str, String)>,
    role_sql: String,
    notify: Option<String>,
}

impl std::fmt::Debug for PostgrestSync {
    // The URL may carry a password: it is left out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgrestSync").field("authenticator", &self.authenticator).finish_non_exhaustive()
    }
}

impl PostgrestSync {
    /// For the database at `url` (authd's own), with `settings`.
    pub fn new(settings: &PostgrestSettings, url: &str) -> Self {
        let config_settings = vec![
            ("pgrst.jwt_aud", settings.audience.clone()),
            ("pgrst.jwt_role_claim_key", ".role".to_owned()),
            ("pgrst.db_anon_role", settings.anonymous_role.clone()),
            ("pgrst.db_pre_request", PRE_REQUEST.to_owned()),
        ];
        Self {
            url: url.to_owned(),
            authenticator: settings.authenticator.clone(),
            limits_body: limits_body(settings),
            config_settings,
            role_sql: role_sql(settings),
            notify: settings.notify_channel.clone(),
        }
    }

    /// A connection through the connector every authd adapter shares (TLS per the URL's
    /// `sslmode`; no plaintext to a host that is not loopback without `sslmode=disable`).
    async fn connect(&self) -> Result<Client, PostgrestError> {
        let connector = auth_pgconn::PgConnector::new(&self.url).map_err(PostgrestError::Connect)?;
        connector.connect_spawned("PostgREST sync").await.map_err(PostgrestError::Connect)
    }

    /// Creates the missing API roles and grants what PostgREST needs; idempotent. A missing
    /// authenticator or privilege is an answer ([`Roles`]), not an error.
    pub async fn apply_roles(&self) -> Result<Roles, PostgrestError> {
        let mut client = self.connect().await?;
        let exists = client
            .query_opt("SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1", &[&self.authenticator])
            .await
            .map_err(step("cannot look up the authenticator role"))?;
        if exists.is_none() {
            return Ok(Roles::NoAuthenticator);
        }
        let tx = client.transaction().await.map_err(step("cannot begin the role set-up"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await.map_err(step("cannot take the lock"))?;
        match tx.batch_execute(&self.role_sql).await {
            Ok(()) => {}
            Err(error) if error.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
                let why = error.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
                return Ok(Roles::NoPrivilege(why));
            }
            Err(error) if error.code() == Some(&SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE) => {
                let why = error.as_db_error().map(|e| e.message().to_owned()).unwrap_or_default();
                return Ok(Roles::TooPowerful(why));
            }
            Err(error) => return Err(step("the role set-up failed")(error)),
        }
        tx.commit().await.map_err(step("cannot commit the role set-up"))?;
        Ok(Roles::Applied)
    }

    /// Rewrites `auth.session_limits()` and `auth.postgrest_config()` where they differ from
    /// the settings and `jwks`, and notifies PostgREST when its configuration changed.
    /// Returns whether PostgREST's configuration changed.
    pub async fn publish(&self, jwks: &Value) -> Result<bool, PostgrestError> {
        let mut client = self.connect().await?;
        let tx = client.transaction().await.map_err(step("cannot begin the configuration update"))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SYNC_LOCK]).await.map_err(step("cannot take the lock"))?;
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
                .map_err(step("cannot read the current configuration"))
            }
        };
        if current("session_limits").await?.as_deref() != Some(self.limits_body.as_str()) {
            tx.batch_execute(&format!(
                "CREATE OR REPLACE FUNCTION auth.session_limits(OUT timebox interval, OUT inactivity_timeout interval) \
                 LANGUAGE sql IMMUTABLE SET search_path = '' AS {}",
                literal(&self.limits_body)
            ))
            .await
            .map_err(step("cannot write auth.session_limits()"))?;
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
            .map_err(step("cannot write auth.postgrest_config()"))?;
            if let Some(channel) = &self.notify {
                // Delivered at commit, so PostgREST reads the new function, never the old one.
                tx.batch_execute(&format!("NOTIFY {}, 'reload config'", ident(channel)))
                    .await
                    .map_err(step("cannot notify PostgREST"))?;
            }
        }
        tx.commit().await.map_err(step("cannot commit the configuration update"))?;
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

/// The body of `auth.session_limits()`.
fn limits_body(settings: &PostgrestSettings) -> String {
    let interval = |secs: u64| {
        if secs == 0 { "NULL::interval".to_owned() } else { format!("pg_catalog.make_interval(secs => {secs})") }
    };
    format!(
        "\n    SELECT {}, {}\n",
        interval(settings.session_timebox_secs),
        interval(settings.session_inactivity_timeout_secs)
    )
}

/// Creates the missing API roles (`NOLOGIN`; the service role with `BYPASSRLS`), grants them to
/// the authenticator, and lets them use the `auth` helpers. Every statement checks first, so a
/// second run changes nothing and needs no privilege beyond owning the schema `auth`. An API role
/// that already exists with more power than that (see [`power_check_sql`]) stops the script
/// before anything is granted.
pub fn role_sql(settings: &PostgrestSettings) -> String {
    let authenticator = &settings.authenticator;
    let mut sql = format!(
        "DO $$\nBEGIN\n    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = {lit}) THEN\n        \
         RAISE EXCEPTION 'role % does not exist: create it first (CREATE ROLE % LOGIN NOINHERIT PASSWORD ...)', {lit}, {lit};\n    \
         END IF;\nEND\n$$;\n",
        lit = literal(authenticator)
    );
    for role in settings.api_roles() {
        sql.push_str(&power_check_sql(role, role == settings.service_role));
    }
    for role in settings.api_roles() {
        // The service key is for trusted servers: it sees every row, as in Supabase.
        let attributes = if role == settings.service_role { "NOLOGIN BYPASSRLS" } else { "NOLOGIN" };
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
    let roles: Vec<String> = settings.api_roles().into_iter().map(ident).collect();
    let roles = roles.join(", ");
    sql.push_str(&format!(
        "GRANT USAGE ON SCHEMA auth TO {roles}, {auth};\n\
         GRANT EXECUTE ON FUNCTION auth.check_session() TO {roles};\n",
        auth = ident(authenticator)
    ));
    sql
}

/// Refuses (SQLSTATE `55000`, naming the role) an existing API role that may do more than authd
/// would give it: `SUPERUSER`, `LOGIN`, `CREATEROLE`, `CREATEDB`, `REPLICATION`, `BYPASSRLS`
/// (allowed for the service role only), or membership in a superuser role. Every token naming the
/// role would run with that power through PostgREST's `SET ROLE`.
fn power_check_sql(role: &str, bypass_rls_allowed: bool) -> String {
    let bypass = if bypass_rls_allowed { "" } else { "CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END, " };
    format!(
        "DO $$\nDECLARE\n    power text;\nBEGIN\n    \
         SELECT concat_ws(', ', CASE WHEN r.rolsuper THEN 'SUPERUSER' END, CASE WHEN r.rolcanlogin THEN 'LOGIN' END, \
         CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END, CASE WHEN r.rolcreatedb THEN 'CREATEDB' END, \
         CASE WHEN r.rolreplication THEN 'REPLICATION' END, {bypass}\
         CASE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles s WHERE s.rolsuper AND s.oid <> r.oid \
         AND pg_catalog.pg_has_role(r.oid, s.oid, 'MEMBER')) THEN 'a member of a superuser role' END)\n      \
         INTO power FROM pg_catalog.pg_roles r WHERE r.rolname = {lit};\n    \
         IF power <> '' THEN\n        \
         RAISE EXCEPTION 'role % already exists and is %: authd adopts an API role only if it is NOLOGIN without those attributes; \
         drop or alter it, or name other roles in [roles]', {lit}, power USING ERRCODE = 'object_not_in_prerequisite_state';\n    \
         END IF;\nEND\n$$;\n",
        lit = literal(role)
    )
}

/// PostgREST's own settings (postgrest.conf names) that match authd: `jwt_secret` is what
/// verifies authd's tokens, the HS256 secret or the JWKS.
pub fn server_settings(settings: &PostgrestSettings, jwt_secret: String) -> Vec<(&'static str, String)> {
    vec![
        ("db-anon-role", settings.anonymous_role.clone()),
        ("db-pre-request", PRE_REQUEST.to_owned()),
        ("db-pre-config", PRE_CONFIG.to_owned()),
        ("jwt-aud", settings.audience.clone()),
        ("jwt-role-claim-key", ".role".to_owned()),
        ("jwt-secret", jwt_secret),
        ("jwt-secret-is-base64", "false".to_owned()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PostgrestSettings {
        PostgrestSettings {
            authenticator: "authenticator".into(),
            anonymous_role: "anon".into(),
            authenticated_role: "authenticated".into(),
            service_role: "service_role".into(),
            audience: "authenticated".into(),
            session_timebox_secs: 0,
            session_inactivity_timeout_secs: 3600,
            notify_channel: Some("pgrst".into()),
        }
    }

    #[test]
    fn role_sql_names_the_configured_roles_once() {
        let settings = PostgrestSettings {
            anonymous_role: "web_anon".into(),
            authenticated_role: "normal_user".into(),
            service_role: "normal_user".into(),
            ..settings()
        };
        let sql = role_sql(&settings);
        assert!(sql.contains("CREATE ROLE \"web_anon\" NOLOGIN;"));
        assert_eq!(sql.matches("CREATE ROLE \"normal_user\"").count(), 1);
        assert!(sql.contains("GRANT \"normal_user\" TO \"authenticator\""));
    }

    #[test]
    fn the_hs256_secret_never_enters_the_database() {
        // With HS256 the binary publishes an empty JWKS: the shared secret is never handed over.
        let sync = PostgrestSync::new(&settings(), "postgres://x");
        let body = sync.config_body(&serde_json::json!({ "keys": [] }));
        assert!(!body.contains("jwt_secret"), "{body}");
        assert!(body.contains("'pgrst.db_pre_request', 'auth.check_session'"));
    }

    #[test]
    fn a_jwks_with_keys_is_the_jwt_secret() {
        let sync = PostgrestSync::new(&settings(), "postgres://x");
        let body = sync.config_body(&serde_json::json!({ "keys": [{"kid": "k1"}] }));
        assert!(body.contains(r#"set_config('pgrst.jwt_secret', '{"keys":[{"kid":"k1"}]}', true)"#), "{body}");
    }

    #[test]
    fn session_limits_of_zero_are_null() {
        let body = limits_body(&settings());
        assert_eq!(body, "\n    SELECT NULL::interval, pg_catalog.make_interval(secs => 3600)\n");
    }

    #[test]
    fn the_debug_output_leaves_the_url_out() {
        let sync = PostgrestSync::new(&settings(), "postgres://authd:hunter2@db/authd");
        assert!(!format!("{sync:?}").contains("hunter2"));
    }
}
