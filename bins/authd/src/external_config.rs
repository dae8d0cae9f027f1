//! `[external]`: sign-in through identity providers, and how it becomes the use cases'
//! `ExternalSettings` and auth-idp's provider list.

use std::collections::BTreeMap;

use auth_core::service::ExternalSettings;
use auth_idp::{ClaimMap, ClientAuth, ProviderConfig};
use chrono::Duration;
use serde::{Deserialize, Serialize};

/// `[external]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalConfig {
    /// Seconds from `/authorize` to `/callback` (`GOTRUE_EXTERNAL_FLOW_STATE_EXPIRY_DURATION`;
    /// at least 300).
    pub flow_state_ttl_secs: u64,
    /// `/user/identities/*` allowed (`GOTRUE_SECURITY_MANUAL_LINKING_ENABLED`).
    pub manual_linking: bool,
    /// Users whose provider address is unverified may sign in
    /// (`GOTRUE_MAILER_ALLOW_UNVERIFIED_EMAIL_SIGN_INS`).
    pub allow_unverified_email_sign_ins: bool,
    /// Provider endpoints may be plain http on loopback (tests and local development only).
    pub allow_http: bool,
    /// Seconds each provider call may take (`GOTRUE_INTERNAL_HTTP_TIMEOUT`).
    pub http_timeout_secs: u64,
    /// The providers, by name (`[external.providers.github]` ...).
    pub providers: BTreeMap<String, ProviderSettings>,
}

impl Default for ExternalConfig {
    fn default() -> Self {
        Self {
            flow_state_ttl_secs: 300,
            manual_linking: false,
            allow_unverified_email_sign_ins: false,
            allow_http: false,
            http_timeout_secs: 10,
            providers: BTreeMap::new(),
        }
    }
}

/// `[external.providers.<name>]`: a built-in provider by its name, or a generic one (`kind`).
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSettings {
    /// Turned on (`GOTRUE_EXTERNAL_<P>_ENABLED`).
    pub enabled: bool,
    /// `oidc` or `oauth2` for a provider authd does not know by name.
    pub kind: Option<String>,
    /// Client ids; the first is used in the browser flow (`_CLIENT_ID`, comma list).
    pub client_id: Vec<String>,
    /// The client secret (`_SECRET`).
    pub secret: String,
    /// This server's `/callback` URL as registered at the provider (`_REDIRECT_URI`).
    pub redirect_uri: String,
    /// Base URL of a built-in provider's endpoints (`_URL`).
    pub url: Option<String>,
    /// OpenID issuer (discovery).
    pub issuer: Option<String>,
    /// Authorization endpoint override.
    pub authorize_url: Option<String>,
    /// Token endpoint override.
    pub token_url: Option<String>,
    /// User-info endpoint override.
    pub userinfo_url: Option<String>,
    /// Scopes always asked for, replacing the defaults when given.
    pub scopes: Option<Vec<String>>,
    /// ID tokens without a nonce check (`_SKIP_NONCE_CHECK`).
    pub skip_nonce_check: bool,
    /// `basic` (default) or `post`: how the client authenticates at the token endpoint.
    pub client_auth: Option<String>,
    /// Send a PKCE challenge to the provider (default: on for OpenID providers).
    pub pkce: Option<bool>,
    /// A generic OAuth 2.0 provider's user-info fields, as JSON pointers.
    pub claims: Option<ClaimSettings>,
}

impl std::fmt::Debug for ProviderSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderSettings")
            .field("enabled", &self.enabled)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// `[external.providers.<name>.claims]`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimSettings {
    /// Pointer to the subject (default `/sub`).
    pub id: Option<String>,
    /// Pointer to the email (default `/email`).
    pub email: Option<String>,
    /// Pointer to a boolean saying the email is verified (default `/email_verified`).
    pub email_verified: Option<String>,
    /// The provider verifies every address it gives.
    pub email_verified_always: bool,
    /// Pointer to the name (default `/name`).
    pub name: Option<String>,
    /// Pointer to the picture (default `/picture`).
    pub avatar: Option<String>,
}

impl ExternalConfig {
    /// The use cases' settings.
    pub fn settings(&self) -> ExternalSettings {
        ExternalSettings {
            flow_ttl: Duration::seconds(i64::try_from(self.flow_state_ttl_secs).unwrap_or(i64::MAX).max(300)),
            manual_linking: self.manual_linking,
            allow_unverified_email_sign_ins: self.allow_unverified_email_sign_ins,
        }
    }

    /// The enabled providers as auth-idp takes them; a problem names the provider.
    pub fn providers(&self) -> Result<Vec<ProviderConfig>, String> {
        let mut out = Vec::new();
        for (name, p) in self.providers.iter().filter(|(_, p)| p.enabled) {
            let mut config = match (p.kind.as_deref(), ProviderConfig::preset(name, p.url.as_deref())) {
                (None, Some(preset)) => preset,
                (None, None) if name == "keycloak" => {
                    return Err(format!("external.providers.{name}: url is required"));
                }
                (Some("oidc"), _) => {
                    let issuer = p.issuer.as_deref().ok_or(format!("external.providers.{name}: issuer is required"))?;
                    ProviderConfig::oidc(name, issuer)
                }
                (Some("oauth2"), _) => {
                    let c = p.claims.clone().unwrap_or_default();
                    let d = ClaimMap::default();
                    let claims = ClaimMap {
                        id: c.id.unwrap_or(d.id),
                        email: c.email.unwrap_or(d.email),
                        email_verified: c.email_verified.or(d.email_verified),
                        email_verified_always: c.email_verified_always,
                        name: c.name.unwrap_or(d.name),
                        avatar: c.avatar.unwrap_or(d.avatar),
                    };
                    ProviderConfig::oauth2(name, "", "", "", claims)
                }
                (Some(other), _) => return Err(format!("external.providers.{name}: unknown kind {other:?}")),
                (None, None) => {
                    return Err(format!(
                        "external.providers.{name}: not a built-in provider; set kind = \"oidc\" or \"oauth2\""
                    ));
                }
            };
            config.client_ids = p.client_id.clone();
            config.secret = p.secret.clone();
            config.redirect_uri = p.redirect_uri.clone();
            if let Some(issuer) = &p.issuer {
                config.issuer = Some(issuer.trim_end_matches('/').to_owned());
            }
            let set = |target: &mut Option<String>, value: &Option<String>| {
                if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
                    *target = Some(value.clone());
                }
            };
            set(&mut config.authorize_url, &p.authorize_url);
            set(&mut config.token_url, &p.token_url);
            set(&mut config.userinfo_url, &p.userinfo_url);
            if let Some(scopes) = &p.scopes {
                config.scopes = scopes.clone();
            }
            config.skip_nonce_check = p.skip_nonce_check;
            if p.client_auth.as_deref() == Some("post") {
                config.client_auth = ClientAuth::Post;
            }
            if let Some(pkce) = p.pkce {
                config.pkce = pkce;
            }
            out.push(config);
        }
        Ok(out)
    }
}
