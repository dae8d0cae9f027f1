//! Moving users from Supabase Auth (GoTrue) to authd: [`import_users`] reads the users of a
//! GoTrue database with tokio-postgres, a batch at a time, and stores each batch through
//! auth-core's [`UserStore::import_users`], which skips what is already there, so an import is
//! safe to run again.
//!
//! Read from GoTrue's `users`: id, aud, role, email, phone, encrypted_password, the
//! confirmation, sign-in and ban times, both metadata objects, is_anonymous; deleted_at and
//! is_sso_user decide what is skipped. `identities` is only counted: authd has no external
//! providers, so identities other than email and phone are reported, not carried.

mod convert;
mod reader;

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use auth_core::ports::{StoreError, UniqueField, UserStore};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use crate::convert::{Converted, Dropped, convert};
use crate::reader::Reader;

/// The schema GoTrue's tables are in (its `DB_NAMESPACE`): a plain PostgreSQL name, because it
/// is written into the queries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaName(String);

impl SchemaName {
    /// Accepts ASCII letters, digits and `_`, not starting with a digit, at most 63 bytes.
    pub fn parse(name: &str) -> Result<Self, ImportError> {
        let plain = !name.is_empty()
            && name.len() <= 63
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        if plain { Ok(Self(name.to_owned())) } else { Err(ImportError::SchemaName(name.to_owned())) }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How to read the GoTrue database.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Where GoTrue's tables are.
    pub schema: SchemaName,
    /// Users per transaction.
    pub batch_size: NonZeroU32,
    /// Which readable hashes are kept.
    pub admit_hash: HashAdmission,
}

/// Decides whether a password hash in a scheme authd reads may be kept: the caller's cost
/// bounds (authd passes its hasher's), so that a hash asking for more work than a sign-in may
/// spend (bcrypt cost 31, argon2 with gigabytes) is dropped at import with its reason instead
/// of being refused at every sign-in. `Err` carries the reason.
#[derive(Clone)]
pub struct HashAdmission(Arc<AdmitFn>);

/// The test a [`HashAdmission`] applies.
type AdmitFn = dyn Fn(&str) -> Result<(), String> + Send + Sync;

impl HashAdmission {
    /// Keeps a hash when `admit` says so.
    pub fn new(admit: impl Fn(&str) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(admit))
    }

    /// Keeps every readable hash.
    pub fn any() -> Self {
        Self::new(|_| Ok(()))
    }

    pub(crate) fn check(&self, hash: &str) -> Result<(), String> {
        (self.0)(hash)
    }
}

impl std::fmt::Debug for HashAdmission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HashAdmission")
    }
}

/// What a GoTrue row may leave out, and the time taken for a row without any.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// `aud` of users without one.
    pub aud: String,
    /// Role of users without one.
    pub role: String,
    /// `created_at` of users without `created_at` or `updated_at`.
    pub now: DateTime<Utc>,
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
    /// Users copied without their password hash, which asks for more work than a sign-in may
    /// cost, with the reason, by id.
    pub too_costly: BTreeMap<String, String>,
    /// Users per external provider (github, google, ...) whose identities were not carried.
    pub external_identities: BTreeMap<String, i64>,
}

/// Why an import stopped. Users stored by earlier batches stay stored.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The schema name is not a plain PostgreSQL name.
    #[error("{0:?} is not a plain PostgreSQL name")]
    SchemaName(String),
    /// No connection to the GoTrue database (refused URL, unreachable server, failed TLS
    /// checks); the message names it without a password.
    #[error("cannot connect to the GoTrue database")]
    Connect(#[source] auth_pgconn::ConnectError),
    /// The schema has no GoTrue `users` table.
    #[error("{schema}.users has no column {column}: this is not a GoTrue database (try another schema)")]
    NotGotrue {
        /// The schema looked in.
        schema: String,
        /// The column that is missing.
        column: &'static str,
    },
    /// A read from the GoTrue database failed.
    #[error("cannot read {what}")]
    Read {
        /// What was being read.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Storing a batch in authd's database failed.
    #[error("cannot store a batch of users")]
    Store(#[source] StoreError),
}

impl ImportError {
    fn read(what: &'static str) -> impl FnOnce(tokio_postgres::Error) -> Self {
        move |source| Self::Read { what, source }
    }
}

/// Copies the users of the GoTrue database at `source_url` into `users`, a batch per
/// [`UserStore::import_users`] call, and says what it did.
pub async fn import_users(
    source_url: &str,
    options: &ImportOptions,
    defaults: &Defaults,
    users: &dyn UserStore,
) -> Result<Summary, ImportError> {
    let source = connect(source_url).await?;
    let reader = Reader::new(&source, &options.schema).await?;
    let mut summary = Summary::default();
    let mut after: Option<uuid::Uuid> = None;
    loop {
        let rows = reader.batch(after, options.batch_size.get()).await?;
        let Some(last) = rows.last() else { break };
        after = Some(last.try_get("id").map_err(ImportError::read("GoTrue's users.id as a UUID"))?);
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            summary.read += 1;
            match convert(row, defaults, &options.admit_hash) {
                Ok(Converted::User { user, dropped }) => {
                    match dropped {
                        Some(Dropped::Unreadable) => summary.without_password.push(user.id.to_string()),
                        Some(Dropped::TooCostly(why)) => {
                            summary.too_costly.insert(user.id.to_string(), why);
                        }
                        None => {}
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
        let outcomes = users.import_users(&batch).await.map_err(ImportError::Store)?;
        for (user, outcome) in batch.iter().zip(outcomes) {
            match outcome {
                None => summary.imported += 1,
                Some(UniqueField::Id) => {
                    summary.already_present += 1;
                    summary.without_password.retain(|id| *id != user.id.to_string());
                    summary.too_costly.remove(&user.id.to_string());
                }
                Some(field) => {
                    let what = match field {
                        UniqueField::Email => "its email address",
                        UniqueField::Phone => "its phone number",
                        _ => "its username",
                    };
                    summary.refused.insert(user.id.to_string(), format!("another authd user has {what}"));
                    summary.without_password.retain(|id| *id != user.id.to_string());
                    summary.too_costly.remove(&user.id.to_string());
                }
            }
        }
    }
    summary.external_identities = reader.external_identities().await?;
    Ok(summary)
}

/// Opens the GoTrue database through the connector every authd adapter shares (TLS per the
/// URL's `sslmode`); the connection runs until the client is dropped.
async fn connect(url: &str) -> Result<Client, ImportError> {
    let connector = auth_pgconn::PgConnector::new(url).map_err(ImportError::Connect)?;
    connector.connect_spawned("GoTrue import").await.map_err(ImportError::Connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain() {
        assert!(SchemaName::parse("auth").is_ok());
        assert!(SchemaName::parse("auth\"; drop").is_err());
        assert!(SchemaName::parse("1auth").is_err());
        assert!(SchemaName::parse("").is_err());
    }

    #[tokio::test]
    async fn a_failed_connection_names_the_target_never_the_password() {
        let Err(ImportError::Connect(error)) = connect("postgres://gotrue:secret-pw@127.0.0.1:1/none").await else {
            panic!("port 1 must refuse");
        };
        let shown = error.to_string();
        assert!(shown.contains("gotrue@127.0.0.1:1/none") && !shown.contains("secret-pw"), "{shown}");
    }
}
