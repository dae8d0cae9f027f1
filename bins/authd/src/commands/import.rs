//! `authd import gotrue --from URL`: copies the users of a Supabase Auth (GoTrue) database into
//! authd's through the GoTrue adapter ([`auth_gotrue`]), and prints what it did.

use std::num::NonZeroU32;
use std::path::PathBuf;

use anyhow::{Context, bail};
use auth_crypto::{Argon2Params, CostBounds};
use auth_gotrue::{Defaults, HashAdmission, ImportOptions, SchemaName, Summary};
use clap::{Args, Subcommand};

use crate::config::Config;
use crate::output::say;
use crate::wiring;

/// `authd import ...`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Copy the users of a Supabase Auth (GoTrue) database into authd's; safe to run again.
    Gotrue(GotrueArgs),
}

/// Where the GoTrue database is and how to read it.
#[derive(Debug, Args)]
pub struct GotrueArgs {
    /// `postgres://user:password@host:5432/db` of the GoTrue database (no TLS: use a local
    /// address or a tunnel). Prefer --from-file, which keeps the password off the process list.
    #[arg(long, value_name = "URL", required_unless_present = "from_file", conflicts_with = "from_file")]
    from: Option<String>,
    /// File holding the URL instead.
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// The schema GoTrue's tables are in (its `DB_NAMESPACE`).
    #[arg(long, default_value = "auth", value_name = "NAME")]
    schema: String,
    /// Users per transaction.
    #[arg(long, default_value_t = 500)]
    batch_size: u32,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `authd import gotrue`.
pub async fn run(config: &Config, command: ImportCommand) -> anyhow::Result<()> {
    let ImportCommand::Gotrue(args) = command;
    let url = match (&args.from, &args.from_file) {
        (Some(url), _) => url.trim().to_owned(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --from-file {}", path.display()))?
            .trim()
            .to_owned(),
        (None, None) => bail!("name the GoTrue database with --from or --from-file"),
    };
    if url == config.database.url.expose().trim() {
        bail!(
            "--from is authd's own database: authd keeps its tables in the schema auth, where GoTrue's are, so it needs a database of its own (docs/migrating.md)"
        );
    }
    let schema =
        SchemaName::parse(&args.schema).map_err(|_| anyhow::anyhow!("--schema must be a plain PostgreSQL name"))?;
    let batch_size = NonZeroU32::new(args.batch_size).context("--batch-size must be at least 1")?;
    let operator = wiring::operator(config).await?;
    let defaults = Defaults {
        aud: config.jwt.audience.clone(),
        role: config.roles.authenticated.clone(),
        now: operator.clock.now(),
    };
    // The bounds the hasher verifies within: a hash beyond them would be refused at every
    // sign-in, so it is dropped here, with the reason, and its owner resets the password.
    let bounds = CostBounds::admitting(Argon2Params {
        memory_kib: config.password.hash.memory_kib,
        iterations: config.password.hash.iterations,
        parallelism: config.password.hash.parallelism,
    });
    let admit_hash = HashAdmission::new(move |hash| bounds.check(hash).map_err(|unsafe_hash| unsafe_hash.to_string()));
    let options = ImportOptions { schema, batch_size, admit_hash };
    let users = operator.database.ports().users;
    let summary = auth_gotrue::import_users(&url, &options, &defaults, users.as_ref()).await?;
    report(&summary, args.json)
}

fn report(summary: &Summary, json: bool) -> anyhow::Result<()> {
    if json {
        say(&serde_json::to_string_pretty(summary)?);
        return Ok(());
    }
    say(&format!("read {} user(s) from GoTrue", summary.read));
    say(&format!("imported {} user(s)", summary.imported));
    say(&format!("{} user(s) were already in authd (same id) and were left as they are", summary.already_present));
    if summary.skipped_deleted + summary.skipped_sso > 0 {
        say(&format!(
            "skipped {} deleted user(s) and {} single sign-on user(s)",
            summary.skipped_deleted, summary.skipped_sso
        ));
    }
    if !summary.refused.is_empty() {
        say(&format!("not imported, {} user(s):", summary.refused.len()));
        for (id, reason) in &summary.refused {
            say(&format!("  {id}: {reason}"));
        }
    }
    if !summary.without_password.is_empty() {
        say(&format!(
            "imported {} user(s) without a password: their hash is in a scheme authd does not read \
             (Firebase scrypt, or encrypted by GoTrue); they can set one through password recovery:",
            summary.without_password.len()
        ));
        for id in &summary.without_password {
            say(&format!("  {id}"));
        }
    }
    if !summary.too_costly.is_empty() {
        say(&format!(
            "imported {} user(s) without a password: their hash asks for more work than a sign-in may \
             cost; they can set one through password recovery:",
            summary.too_costly.len()
        ));
        for (id, reason) in &summary.too_costly {
            say(&format!("  {id}: {reason}"));
        }
    }
    if !summary.external_identities.is_empty() {
        let providers: Vec<String> =
            summary.external_identities.iter().map(|(provider, users)| format!("{provider} ({users})")).collect();
        say(&format!(
            "not carried: identities of external providers, by provider (users): {}; authd has no external \
             sign-in, so these users sign in with a password or an emailed link instead",
            providers.join(", ")
        ));
    }
    Ok(())
}
