use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Aal, SessionId};

/// One entry of the `amr` claim: how and when the user authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AmrEntry {
    /// The method, e.g. `password`.
    pub method: String,
    /// Unix seconds.
    pub timestamp: i64,
}

/// The claims of an access token, in Supabase Auth's shape (what PostgREST and auth-js read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub iss: String,
    /// The user id; empty (and left out) on API keys.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub: String,
    /// Audience: a single string, not an array.
    pub aud: String,
    /// Expiry, unix seconds.
    pub exp: i64,
    /// Issue time, unix seconds.
    pub iat: i64,
    /// Email, `""` when none.
    #[serde(default)]
    pub email: String,
    /// Phone digits, `""` when none.
    #[serde(default)]
    pub phone: String,
    /// Operator metadata.
    #[serde(default)]
    pub app_metadata: Value,
    /// User metadata.
    #[serde(default)]
    pub user_metadata: Value,
    /// Database role PostgREST switches to.
    pub role: String,
    /// Assurance level.
    #[serde(default = "default_aal")]
    pub aal: Aal,
    /// Authentication methods, newest first.
    #[serde(default)]
    pub amr: Vec<AmrEntry>,
    /// The session the token belongs to; absent on API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<SessionId>,
    /// Whether the user signed in anonymously.
    #[serde(default)]
    pub is_anonymous: bool,
}

/// What an API key (a token with a role and no user or session) lets its bearer do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKeyRole {
    /// The anon key: public endpoints, as an application's clients call them.
    Anonymous,
    /// The service-role key: everything, including administration. A server-side secret.
    Service,
}

fn default_aal() -> Aal {
    Aal::Aal1
}
