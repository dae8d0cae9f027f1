//! `authd postgrest config|sql|setup`: what PostgREST needs to trust authd's tokens, printed or
//! written into the database through the PostgREST adapter ([`auth_postgrest`]).

use anyhow::{Context, bail};
use auth_core::ports::TokenSigner;
use auth_postgrest::{PostgrestSettings, Roles, ident, role_sql, server_settings};
use clap::Subcommand;
use serde_json::Value;

use crate::config::{Config, JwtAlgorithm};
use crate::{output, wiring};

/// `authd postgrest ...`
#[derive(Debug, Subcommand)]
pub enum PostgrestCommand {
    /// Print the PostgREST settings that match this authd (jwt-secret, jwt-aud, db-anon-role, ...).
    Config {
        /// One JSON object, keyed by PostgREST's setting names.
        #[arg(long)]
        json: bool,
    },
    /// Print the SQL that creates the API roles and grants them, for a superuser to run.
    Sql,
    /// Create the roles and grants (needs the privilege) and write PostgREST's in-database configuration.
    Setup,
}

/// Runs `authd postgrest ...`.
pub async fn run(config: &Config, command: PostgrestCommand) -> anyhow::Result<()> {
    let settings = wiring::postgrest_settings(config);
    match command {
        PostgrestCommand::Sql => output::say(&printed_role_sql(&settings)),
        PostgrestCommand::Config { json } => {
            let operator = wiring::operator(config).await?;
            let jwks = operator.keys.signer().await?.jwks();
            // With HS256 PostgREST verifies with the shared secret, otherwise with the JWKS.
            let secret = match shared_secret(config) {
                Some(secret) => secret.to_owned(),
                None => jwks.to_string(),
            };
            let settings = server_settings(&settings, secret);
            if json {
                let map: serde_json::Map<String, Value> =
                    settings.into_iter().map(|(k, v)| (k.to_owned(), Value::String(v))).collect();
                output::say(&serde_json::to_string_pretty(&map)?);
            } else {
                output::say(&render_conf(config, &settings));
            }
        }
        PostgrestCommand::Setup => {
            let operator = wiring::operator(config).await?;
            let sync = wiring::postgrest_sync(config, &operator.database)
                .context("PostgREST needs PostgreSQL; database.url names SQLite")?;
            match sync.apply_roles().await? {
                Roles::Applied => output::say("roles created (if missing) and granted"),
                Roles::NoAuthenticator => bail!(
                    "role {} does not exist: create it first (CREATE ROLE {} LOGIN NOINHERIT PASSWORD '...')",
                    settings.authenticator,
                    settings.authenticator
                ),
                Roles::NoPrivilege(why) => bail!(
                    "authd's database user may not create or grant roles ({why}); have a superuser run the SQL of `authd postgrest sql`"
                ),
                Roles::TooPowerful(why) => bail!("{why}"),
            }
            let changed = sync.publish(&operator.keys.signer().await?.jwks()).await?;
            output::say(if changed {
                "PostgREST's in-database configuration updated"
            } else {
                "PostgREST's in-database configuration was already current"
            });
        }
    }
    Ok(())
}

/// `authd postgrest sql`: the role set-up as a script for psql.
fn printed_role_sql(settings: &PostgrestSettings) -> String {
    format!(
        "-- PostgREST roles for authd, from `authd postgrest sql`. Safe to run more than once.\n\
         -- Run it after `authd migrate`, as a superuser (creating a BYPASSRLS role needs one):\n\
         --   authd postgrest sql | psql \"$ADMIN_DATABASE_URL\" -v ON_ERROR_STOP=1\n\
         -- The authenticator role PostgREST logs in as must exist first, for example:\n\
         --   CREATE ROLE {auth} LOGIN NOINHERIT PASSWORD '...';\n\
         BEGIN;\n{}COMMIT;",
        role_sql(settings),
        auth = ident(&settings.authenticator)
    )
}

/// The HS256 secret authd signs with, when it signs with one: `jwt.secret` with
/// `jwt.algorithm = "HS256"`, or with a `jwt.keys` whose signing key is that secret. Otherwise
/// PostgREST verifies with the JWKS, which never holds a secret.
fn shared_secret(config: &Config) -> Option<&str> {
    let secret = config.jwt.secret.as_ref()?.expose();
    let signs = match &config.jwt.keys {
        None => config.jwt.algorithm == JwtAlgorithm::HS256,
        Some(keys) => crate::keys::key_set(keys.expose(), Some(secret))
            .is_ok_and(|set| set.signing.alg() == auth_crypto::JwtAlgorithm::HS256),
    };
    signs.then_some(secret)
}

/// `authd postgrest config`: a postgrest.conf fragment.
fn render_conf(config: &Config, settings: &[(&'static str, String)]) -> String {
    let mut text = format!(
        "# PostgREST settings matching this authd, from `authd postgrest config`.\n\
         # Add db-uri (log in as the role {auth}) and db-schemas (your API schema; never \"auth\").\n",
        auth = config.postgrest.authenticator
    );
    if shared_secret(config).is_some() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_values_are_quoted() {
        assert_eq!(quoted(r#"{"k":"a\b"}"#), r#""{\"k\":\"a\\b\"}""#);
    }

    #[test]
    fn the_printed_sql_is_one_transaction_for_the_configured_roles() {
        let mut config = Config::default();
        config.roles.anonymous = "web_anon".into();
        let sql = printed_role_sql(&wiring::postgrest_settings(&config));
        assert!(sql.contains("BEGIN;\n") && sql.ends_with("COMMIT;"), "{sql}");
        assert!(sql.contains("CREATE ROLE \"web_anon\" NOLOGIN;"), "{sql}");
    }
}
