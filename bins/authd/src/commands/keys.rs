//! `authd keys list|rotate|retire|api`: the signing keys and API keys, shown, replaced and
//! retired; rotations and retirements are recorded in the audit log.

use auth_core::domain::AuditAction;
use clap::Subcommand;
use serde_json::json;

use crate::config::Config;
use crate::keys::KeyListing;
use crate::output::{say, time};
use crate::wiring::{self, Operator};

/// `authd keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Show every key with its status (pending, signing, verifying, retired); never the material.
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Add a signing key. It is published in the JWKS at once and signs after
    /// `jwt.key_publish_delay_secs`; the old key keeps verifying until its tokens have expired.
    Rotate {
        /// Sign with the new key at once (a single replica, or a compromised key). Until the
        /// other replicas reload their keys (`jwt.key_reload_secs`) they refuse its tokens.
        #[arg(long)]
        now: bool,
        /// Print the new key as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Retire a key at once (a compromised one): every running server stops signing and
    /// verifying with it within `jwt.key_reload_secs`, so tokens it signed are refused. The key
    /// signing now can only be retired with `--rotate`.
    Retire {
        /// The key id (`authd keys list`). Key ids are base64url, so one may begin with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
        /// First add a new key of the same purpose that signs at once (for the key signing now).
        #[arg(long)]
        rotate: bool,
        /// Print the retired key (and the new one) as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the anon and service-role API keys (for supabase-js, PostgREST and `api.require_key`).
    Api {
        /// Replace the key that signs them first: every API key printed before stops working.
        #[arg(long, conflicts_with = "supabase")]
        rotate: bool,
        /// Make them as Supabase's self-hosting tooling does (`ANON_KEY`, `SERVICE_ROLE_KEY`):
        /// HS256 with jwt.secret, no kid, `iss: supabase`, no `aud`, five years. Needs jwt.secret.
        #[arg(long)]
        supabase: bool,
        /// The project reference to write in their `ref` claim (with `--supabase`).
        #[arg(long = "ref", value_name = "PROJECT_REF", requires = "supabase")]
        project_ref: Option<String>,
        /// Print them as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `authd keys ...`.
pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let operator = wiring::operator(config).await?;
    let keys = &operator.keys;
    match command {
        KeysCommand::List { json } => key_table(&keys.list().await?, json)?,
        KeysCommand::Rotate { now, json } => {
            let audit = Audit::ready(&operator, config).await?;
            let key = keys.rotate(now).await?;
            audit.rotated(json!({"kid": key.kid, "purpose": key.purpose, "immediately": now})).await;
            if json {
                say(&serde_json::to_string_pretty(&key)?);
            } else {
                let when = key.activates_at.map(|t| t.to_rfc3339()).unwrap_or_default();
                say(&format!("added key {} ({}): published now, signs from {when}", key.kid, key.algorithm));
            }
        }
        KeysCommand::Retire { kid, rotate, json } => {
            let audit = Audit::ready(&operator, config).await?;
            let rotated = if rotate { Some(keys.rotate_for(&kid).await?) } else { None };
            if let Some(new) = &rotated {
                audit.rotated(json!({"kid": new.kid, "purpose": new.purpose, "immediately": true})).await;
            }
            let retired = keys.retire(&kid).await?;
            audit.retired(json!({"kid": retired.kid, "purpose": retired.purpose})).await;
            if json {
                say(&serde_json::to_string_pretty(&json!({"retired": retired, "rotated": rotated}))?);
            } else {
                if let Some(new) = &rotated {
                    say(&format!("added key {} ({}): signs from now", new.kid, new.algorithm));
                }
                say(&format!(
                    "retired key {} ({}): running servers stop accepting it at once on PostgreSQL, within jwt.key_reload_secs on SQLite",
                    retired.kid, retired.purpose
                ));
            }
        }
        KeysCommand::Api { rotate, json, supabase, project_ref } => {
            let api = if supabase {
                keys.stock_api_keys(project_ref.as_deref()).await?
            } else if rotate {
                let audit = Audit::ready(&operator, config).await?;
                let api = keys.rotate_api_keys().await?;
                audit.rotated(json!({"kid": api.kid, "purpose": "api_key"})).await;
                api
            } else {
                keys.api_keys().await?
            };
            if json {
                say(&serde_json::to_string_pretty(&api)?);
            } else {
                say(&format!(
                    "anon key (public; for supabase-js and browsers):\n{}\n\nservice-role key (secret; full access):\n{}",
                    api.anon_key, api.service_role_key
                ));
            }
        }
    }
    Ok(())
}

/// Records rotations and retirements through the admin use cases. Built before the keys change, so a
/// configuration that cannot build them stops the command before anything is changed.
struct Audit(auth_core::service::AuthService);

impl Audit {
    async fn ready(operator: &Operator, config: &Config) -> anyhow::Result<Self> {
        Ok(Self(operator.service(config).await?))
    }

    async fn rotated(&self, details: serde_json::Value) {
        self.0.record_admin_event(AuditAction::KeyRotated, &super::command_line(), details).await;
    }

    async fn retired(&self, details: serde_json::Value) {
        self.0.record_admin_event(AuditAction::KeyRetired, &super::command_line(), details).await;
    }
}

/// Prints keys as a table, or as one JSON array for scripts.
fn key_table(keys: &[KeyListing], json: bool) -> anyhow::Result<()> {
    if json {
        say(&serde_json::to_string_pretty(keys)?);
        return Ok(());
    }
    say(&format!(
        "{:<24} {:<14} {:<12} {:<10} {:<9} {:<19} {:<19} {:<19}",
        "KID", "PURPOSE", "ALGORITHM", "STATUS", "SOURCE", "CREATED", "ACTIVATES", "RETIRED"
    ));
    for key in keys {
        say(&format!(
            "{:<24} {:<14} {:<12} {:<10} {:<9} {:<19} {:<19} {:<19}",
            key.kid,
            key.purpose,
            key.algorithm,
            key.status,
            key.source,
            time(key.created_at),
            time(key.activates_at),
            time(key.retired_at)
        ));
    }
    Ok(())
}
