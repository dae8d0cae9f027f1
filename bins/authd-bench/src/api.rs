//! The HTTP shape of each server the load generator drives: authd's (Supabase Auth's API) and
//! the peer's (Better Auth with its bearer and JWT plugins). The workloads are the same; the
//! paths, and where a session's tokens come back, differ.

use anyhow::Context;
use serde_json::Value;

use crate::http::Response;
use crate::load::Workload;
use crate::server::BASE;

/// The server under load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// authd.
    Authd,
    /// Better Auth, mounted at `/api/auth`.
    BetterAuth,
}

/// What a client keeps from its sign-in: the header value that authenticates it, and for
/// authd's refresh the token the chain continues from.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// `Bearer …`: authd's access token, the peer's session token.
    pub bearer: String,
    /// authd's refresh token (the peer has none: its "refresh" is minting a JWT from the session).
    pub refresh_token: Option<String>,
}

impl Api {
    /// Sign-up: method-less `POST` path; the body is `{email, password}` (and a name for the peer).
    pub fn sign_up_path(self) -> String {
        match self {
            Self::Authd => format!("{BASE}/signup"),
            Self::BetterAuth => "/api/auth/sign-up/email".into(),
        }
    }

    /// The sign-up body.
    pub fn sign_up_body(self, email: &str, password: &str) -> String {
        match self {
            Self::Authd => serde_json::json!({"email": email, "password": password}).to_string(),
            Self::BetterAuth => serde_json::json!({"email": email, "password": password, "name": email}).to_string(),
        }
    }

    /// Password sign-in (`POST`, body `{email, password}` for both).
    pub fn sign_in_path(self) -> String {
        match self {
            Self::Authd => format!("{BASE}/token?grant_type=password"),
            Self::BetterAuth => "/api/auth/sign-in/email".into(),
        }
    }

    /// The request a workload sends with a session: method and path.
    pub fn session_request(self, workload: Workload) -> (&'static str, String) {
        match (self, workload) {
            (Self::Authd, Workload::Refresh) => ("POST", format!("{BASE}/token?grant_type=refresh_token")),
            (Self::Authd, _) => ("GET", format!("{BASE}/user")),
            // A JWT minted from the session: a read of the session, not a rotation.
            (Self::BetterAuth, Workload::Refresh) => ("GET", "/api/auth/token".into()),
            (Self::BetterAuth, _) => ("GET", "/api/auth/get-session".into()),
        }
    }

    /// The tokens of a sign-in's answer.
    pub fn credentials(self, response: &Response) -> anyhow::Result<Credentials> {
        match self {
            Self::Authd => {
                let session: Value = serde_json::from_slice(&response.body).context("sign-in answer is not JSON")?;
                Ok(Credentials {
                    bearer: format!("Bearer {}", field(&session, "access_token")?),
                    refresh_token: Some(field(&session, "refresh_token")?),
                })
            }
            Self::BetterAuth => {
                let token = response.auth_token.as_deref().context("no set-auth-token header in the sign-in answer")?;
                Ok(Credentials { bearer: format!("Bearer {token}"), refresh_token: None })
            }
        }
    }

    /// The refresh token a rotation answered with (authd only; `None` for the peer, whose chain
    /// does not move).
    pub fn next_refresh_token(self, response: &Response) -> Option<String> {
        match self {
            Self::Authd => {
                let session: Value = serde_json::from_slice(&response.body).ok()?;
                field(&session, "refresh_token").ok()
            }
            Self::BetterAuth => None,
        }
    }
}

fn field(session: &Value, name: &str) -> anyhow::Result<String> {
    session.get(name).and_then(Value::as_str).map(str::to_owned).with_context(|| format!("no {name} in the session"))
}
