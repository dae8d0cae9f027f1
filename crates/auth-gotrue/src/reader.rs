//! Reads GoTrue's `users` a batch at a time, whatever GoTrue version made the schema.

use std::collections::BTreeMap;

use tokio_postgres::{Client, Row};

use crate::{ImportError, SchemaName};

/// Reads `users` a batch at a time, whatever GoTrue version made the schema: columns added
/// over the years (phone, banned_until, deleted_at, is_sso_user, is_anonymous) read as absent
/// when they are not there.
pub(crate) struct Reader<'a> {
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
    ("invited_at", "invited_at::timestamptz", "NULL::timestamptz"),
    ("recovery_sent_at", "recovery_sent_at::timestamptz", "NULL::timestamptz"),
    ("reauthentication_sent_at", "reauthentication_sent_at::timestamptz", "NULL::timestamptz"),
];

impl<'a> Reader<'a> {
    /// Reads the catalogue: which columns `schema.users` has, and whether `identities` exists.
    pub(crate) async fn new(client: &'a Client, schema: &SchemaName) -> Result<Self, ImportError> {
        let schema = schema.as_str();
        let present: Vec<String> = client
            .query(
                "SELECT column_name::text FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'users'",
                &[&schema],
            )
            .await
            .map_err(ImportError::read("the GoTrue database's catalogue"))?
            .iter()
            .map(|row| row.get(0))
            .collect();
        for required in ["id", "email", "encrypted_password"] {
            if !present.iter().any(|c| c == required) {
                return Err(ImportError::NotGotrue { schema: schema.to_owned(), column: required });
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
            .map_err(ImportError::read("the GoTrue database's catalogue"))?
            .get(0);
        Ok(Self { client, schema: schema.to_owned(), select, has_identities })
    }

    /// Up to `limit` users after `after`, by id.
    pub(crate) async fn batch(&self, after: Option<uuid::Uuid>, limit: u32) -> Result<Vec<Row>, ImportError> {
        let sql = format!(
            "SELECT {} FROM \"{}\".users WHERE $1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT $2",
            self.select, self.schema
        );
        self.client.query(&sql, &[&after, &i64::from(limit)]).await.map_err(ImportError::read("GoTrue's users"))
    }

    /// Users per provider for identities authd cannot carry (anything but email and phone).
    pub(crate) async fn external_identities(&self) -> Result<BTreeMap<String, i64>, ImportError> {
        if !self.has_identities {
            return Ok(BTreeMap::new());
        }
        let sql = format!(
            "SELECT provider::text, count(DISTINCT user_id) FROM \"{}\".identities \
             WHERE provider NOT IN ('email', 'phone') GROUP BY provider ORDER BY provider",
            self.schema
        );
        let rows = self.client.query(&sql, &[]).await.map_err(ImportError::read("GoTrue's identities"))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}
