//! `authd import gotrue --from URL`: copies the users of a Supabase Auth (GoTrue) database into
//! authd's, a batch per transaction, skipping what is already there, so it is safe to run again.
//!
//! Read from GoTrue's `auth.users`: id, aud, role, email, phone, encrypted_password, the
//! confirmation, sign-in and ban times, both metadata objects, is_anonymous; deleted_at and
//! is_sso_user decide what is skipped. `auth.identities` is only counted: authd has no external
//! providers, so identities other than email and phone are reported, not carried.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, bail};
use auth_core::domain::{Email, Metadata, PasswordHash, Phone, User, UserId};
use auth_core::ports::{Clock, UniqueField};
use auth_core::service::AuthService;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;
use tokio_postgres::{Client, NoTls, Row};

use crate::config::Config;
use crate::output::say;

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

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Users read from GoTrue.
    pub read: u64,
    /// Users stored in authd.
    pub imported: u64,
    /// Users whose id authd already has (an earlier run): left as they are.
    pub already_present: u64,
    /// Users GoTrue had deleted (`deleted_at` set): not copied.
    pub skipped_deleted: u64,
    /// Users of single sign-on providers (`is_sso_user`): not copied, authd has no SSO.
    pub skipped_sso: u64,
    /// Users not copied because authd refuses a value or another user holds it, by id.
    pub refused: BTreeMap<String, String>,
    /// Users copied without their password hash, which is in a scheme authd does not read.
    pub without_password: Vec<String>,
    /// Users per external provider (github, google, ...) whose identities were not carried.
    pub external_identities: BTreeMap<String, i64>,
}

/// Runs `authd import gotrue`.
pub async fn run(config: &Config, service: &AuthService, args: GotrueArgs) -> anyhow::Result<()> {
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
    if !is_identifier(&args.schema) {
        bail!("--schema must be a plain PostgreSQL name");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let source = connect(&url).await?;
    let reader = Reader::new(&source, &args.schema).await?;
    let defaults = Defaults {
        aud: config.jwt.audience.clone(),
        role: config.roles.authenticated.clone(),
        now: Clock::now(&auth_crypto::SystemClock),
    };
    let mut summary = Summary::default();
    let mut after: Option<uuid::Uuid> = None;
    loop {
        let rows = reader.batch(after, args.batch_size).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.try_get("id").context("GoTrue's auth.users.id is not a UUID")?);
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            summary.read += 1;
            match convert(row, &defaults) {
                Ok(Converted::User { user, password_dropped }) => {
                    if password_dropped {
                        summary.without_password.push(user.id.to_string());
                    }
                    batch.push(*user);
                }
                Ok(Converted::Deleted) => summary.skipped_deleted += 1,
                Ok(Converted::Sso) => summary.skipped_sso += 1,
                Err((id, reason)) => {
                    summary.refused.insert(id, reason);
                }
            }
        }
        let outcomes = service.import_users(&batch).await.context("cannot store a batch of users")?;
        for (user, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                None => summary.imported += 1,
                Some(UniqueField::Id) => {
                    summary.already_present += 1;
                    summary.without_password.retain(|id| *id != user.id.to_string());
                }
                Some(field) => {
                    let what = match field {
                        UniqueField::Email => "its email address",
                        UniqueField::Phone => "its phone number",
                        _ => "its username",
                    };
                    summary.refused.insert(user.id.to_string(), format!("another authd user has {what}"));
                    summary.without_password.retain(|id| *id != user.id.to_string());
                }
            }
        }
    }
    summary.external_identities = reader.external_identities().await?;
    report(&summary, args.json)
}

/// Opens the GoTrue database; the connection runs until the client is dropped.
async fn connect(url: &str) -> anyhow::Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.map_err(|e| {
        anyhow::anyhow!("cannot connect to the GoTrue database {}: {e}", crate::config::redact_url(url))
    })?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "the connection to the GoTrue database ended");
        }
    });
    Ok(client)
}

fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
}

/// Reads `users` a batch at a time, whatever GoTrue version made the schema: columns added
/// over the years (phone, banned_until, deleted_at, is_sso_user, is_anonymous) read as absent
/// when they are not there.
struct Reader<'a> {
    client: &'a Client,
    schema: String,
    select: String,
    has_identities: bool,
}

/// Columns read, each with what stands in when an older GoTrue did not have it.
const COLUMNS: &[(&str, &str, &str)] = &[
    ("id", "id::uuid", "NULL::uuid"),
    ("aud", "aud::text", "NULL::text"),
    ("role", "role::text", "NULL::text"),
    ("email", "email::text", "NULL::text"),
    ("phone", "phone::text", "NULL::text"),
    ("encrypted_password", "encrypted_password::text", "NULL::text"),
    ("email_confirmed_at", "email_confirmed_at::timestamptz", "NULL::timestamptz"),
    ("phone_confirmed_at", "phone_confirmed_at::timestamptz", "NULL::timestamptz"),
    ("confirmation_sent_at", "confirmation_sent_at::timestamptz", "NULL::timestamptz"),
    // `infinity` has no chrono value; a ban without end is a ban until the year 9999.
    (
        "banned_until",
        "CASE WHEN isfinite(banned_until::timestamptz) THEN banned_until::timestamptz \
         WHEN banned_until IS NULL THEN NULL ELSE '9999-12-31T00:00:00Z'::timestamptz END",
        "NULL::timestamptz",
    ),
    ("last_sign_in_at", "last_sign_in_at::timestamptz", "NULL::timestamptz"),
    ("created_at", "created_at::timestamptz", "NULL::timestamptz"),
    ("updated_at", "updated_at::timestamptz", "NULL::timestamptz"),
    ("raw_app_meta_data", "raw_app_meta_data::jsonb", "NULL::jsonb"),
    ("raw_user_meta_data", "raw_user_meta_data::jsonb", "NULL::jsonb"),
    ("is_anonymous", "coalesce(is_anonymous, false)", "false"),
    ("is_sso_user", "coalesce(is_sso_user, false)", "false"),
    ("deleted_at", "deleted_at::timestamptz", "NULL::timestamptz"),
];

impl<'a> Reader<'a> {
    async fn new(client: &'a Client, schema: &str) -> anyhow::Result<Self> {
        let present: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'users'",
                &[&schema],
            )
            .await
            .context("cannot read the GoTrue database's catalogue")?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for required in ["id", "email", "encrypted_password"] {
            if !present.iter().any(|c| c == required) {
                bail!("{schema}.users has no column {required}: this is not a GoTrue database (try --schema)");
            }
        }
        let select = COLUMNS
            .iter()
            .map(|(name, read, absent)| {
                let expression = if present.iter().any(|c| c == name) { read } else { absent };
                format!("{expression} AS {name}")
            })
            .collect::<Vec<_>>()
            .join(", ");
        let has_identities: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'identities')",
                &[&schema],
            )
            .await
            .context("cannot read the GoTrue database's catalogue")?
            .get(0);
        Ok(Self { client, schema: schema.to_owned(), select, has_identities })
    }

    /// Up to `limit` users after `after`, by id.
    async fn batch(&self, after: Option<uuid::Uuid>, limit: u32) -> anyhow::Result<Vec<Row>> {
        let sql = format!(
            "SELECT {} FROM \"{}\".users WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2",
            self.select, self.schema
        );
        self.client.query(&sql, &[&after, &i64::from(limit)]).await.context("cannot read GoTrue's users")
    }

    /// Users per provider for identities authd cannot carry (anything but email and phone).
    async fn external_identities(&self) -> anyhow::Result<BTreeMap<String, i64>> {
        if !self.has_identities {
            return Ok(BTreeMap::new());
        }
        let sql = format!(
            "SELECT provider::text, count(DISTINCT user_id) FROM \"{}\".identities \
             WHERE provider NOT IN ('email', 'phone') GROUP BY provider ORDER BY provider",
            self.schema
        );
        let rows = self.client.query(&sql, &[]).await.context("cannot read GoTrue's identities")?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}

/// What a GoTrue row leaves out.
struct Defaults {
    aud: String,
    role: String,
    now: DateTime<Utc>,
}

/// One GoTrue row, read.
enum Converted {
    User { user: Box<User>, password_dropped: bool },
    Deleted,
    Sso,
}

/// Whether authd's hasher reads a GoTrue hash: bcrypt (what GoTrue writes) and argon2 (what it
/// accepts from its own imports). Firebase scrypt and encrypted hashes are not read.
fn readable_hash(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$", "$argon2id$", "$argon2i$", "$argon2d$"].iter().any(|p| hash.starts_with(p))
}

/// A GoTrue row as an authd user, or why not (`(id, reason)`).
fn convert(row: &Row, defaults: &Defaults) -> Result<Converted, (String, String)> {
    let id: uuid::Uuid = row.get("id");
    let refuse = |reason: String| (id.to_string(), reason);
    if row.get::<_, Option<DateTime<Utc>>>("deleted_at").is_some() {
        return Ok(Converted::Deleted);
    }
    if row.get::<_, bool>("is_sso_user") {
        return Ok(Converted::Sso);
    }
    let text = |name: &str| row.get::<_, Option<String>>(name).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let email = text("email")
        .map(|e| Email::parse(&e))
        .transpose()
        .map_err(|e| refuse(format!("authd does not accept its email address: {e}")))?;
    let phone = text("phone")
        .map(|p| Phone::parse(&p))
        .transpose()
        .map_err(|e| refuse(format!("authd does not accept its phone number: {e}")))?;
    let stored_hash = text("encrypted_password");
    let password_dropped = stored_hash.as_deref().is_some_and(|h| !readable_hash(h));
    let password_hash = stored_hash.filter(|h| readable_hash(h)).map(PasswordHash::new);
    let metadata = |name: &str| match row.get::<_, Option<serde_json::Value>>(name) {
        Some(value @ serde_json::Value::Object(_)) => Metadata::from_stored(value),
        _ => Metadata::new(),
    };
    let time = |name: &str| row.get::<_, Option<DateTime<Utc>>>(name);
    let created_at = time("created_at").or_else(|| time("updated_at")).unwrap_or(defaults.now);
    let user = User {
        id: UserId::from_uuid(id),
        aud: text("aud").unwrap_or_else(|| defaults.aud.clone()),
        role: text("role").unwrap_or_else(|| defaults.role.clone()),
        email,
        phone,
        username: None,
        password_hash,
        email_confirmed_at: time("email_confirmed_at"),
        phone_confirmed_at: time("phone_confirmed_at"),
        confirmation_sent_at: time("confirmation_sent_at"),
        app_metadata: metadata("raw_app_meta_data"),
        user_metadata: metadata("raw_user_meta_data"),
        banned_until: time("banned_until"),
        is_anonymous: row.get("is_anonymous"),
        last_sign_in_at: time("last_sign_in_at"),
        created_at,
        updated_at: time("updated_at").unwrap_or(created_at),
    };
    Ok(Converted::User { user: Box::new(user), password_dropped })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_authd_reads_are_kept() {
        assert!(readable_hash("$2a$10$abcdefghijklmnopqrstuv"));
        assert!(readable_hash("$2b$10$abcdefghijklmnopqrstuv"));
        assert!(readable_hash("$argon2id$v=19$m=19456,t=2,p=1$abc$def"));
        assert!(!readable_hash("$fbscrypt$v=1,n=14,r=8,p=1$abc$def"));
        assert!(!readable_hash("e:1:{\"key_id\":\"k\"}"));
    }

    #[test]
    fn schema_names_are_plain() {
        assert!(is_identifier("auth"));
        assert!(!is_identifier("auth\"; drop"));
        assert!(!is_identifier("1auth"));
    }
}
