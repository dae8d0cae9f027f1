//! `Providers`: auth-core's `IdentityProviders` port over the configured providers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::domain::ProviderName;
use auth_core::ports::{
    AuthorizationRequest, Clock, IdentityProviders, IdpError, ProviderSignIn, ProviderTokens, ProviderUser,
    VerifiedIdToken,
};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, ExtraTokenFields, PkceCodeVerifier,
    RedirectUrl, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::config::{ClientAuth, Profile, ProviderConfig};
use crate::http::{Http, HttpError};
use crate::oidc::{Discovery, OidcCache};
use crate::profile;

/// What a token response carries beyond OAuth 2.0's fields.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

/// A configuration was refused at start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("external provider {provider}: {reason}")]
pub struct ConfigError {
    /// Which provider.
    pub provider: String,
    /// What is wrong.
    pub reason: String,
}

/// The enabled providers.
pub struct Providers {
    configs: BTreeMap<ProviderName, ProviderConfig>,
    http: Http,
    oidc: OidcCache,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers").field("configs", &self.configs).finish_non_exhaustive()
    }
}

fn endpoint_url(config: &ProviderConfig, url: &str, allow_http: bool) -> Result<(), ConfigError> {
    let parsed = url::Url::parse(url)
        .map_err(|e| ConfigError { provider: config.name.clone(), reason: format!("{url}: {e}") })?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !(allow_http && parsed.scheme() == "http" && loopback) {
        let reason = format!("{url} is not https (http is allowed on loopback only, with allow_http)");
        return Err(ConfigError { provider: config.name.clone(), reason });
    }
    Ok(())
}

impl Providers {
    /// The providers of `configs`, checked: a name, a client id, secret and redirect URI each,
    /// and https endpoints (plain http only to loopback, and only with `allow_http`, for tests
    /// and local development). Time comes from `clock`; each provider call gives up after
    /// `timeout`.
    pub fn new(
        configs: Vec<ProviderConfig>,
        clock: Arc<dyn Clock>,
        timeout: Duration,
        allow_http: bool,
    ) -> Result<Self, ConfigError> {
        let mut by_name = BTreeMap::new();
        for config in configs {
            let fail = |reason: &str| ConfigError { provider: config.name.clone(), reason: reason.to_owned() };
            let name = ProviderName::parse(&config.name).map_err(|e| fail(&e.to_string()))?;
            if config.client_ids.first().is_none_or(|id| id.is_empty()) {
                return Err(fail("client_id is required"));
            }
            if config.secret.is_empty() && !config.id_tokens {
                return Err(fail("secret is required"));
            }
            if config.redirect_uri.is_empty() {
                return Err(fail("redirect_uri is required"));
            }
            for url in
                [&config.issuer, &config.authorize_url, &config.token_url, &config.userinfo_url, &config.emails_url]
                    .into_iter()
                    .flatten()
            {
                endpoint_url(&config, url, allow_http)?;
            }
            if config.issuer.is_none() && (config.authorize_url.is_none() || config.token_url.is_none()) {
                return Err(fail("an issuer, or authorize_url and token_url, are required"));
            }
            by_name.insert(name, config);
        }
        let http = Http::new(timeout).map_err(|e| ConfigError { provider: "*".into(), reason: e.0 })?;
        let oidc = OidcCache::new(http.clone(), clock);
        Ok(Self { configs: by_name, http, oidc })
    }

    fn config(&self, name: &ProviderName) -> Result<&ProviderConfig, IdpError> {
        self.configs.get(name).ok_or_else(|| IdpError::NotEnabled(name.to_string()))
    }

    async fn discovery(&self, config: &ProviderConfig) -> Result<Option<Discovery>, String> {
        match &config.issuer {
            Some(issuer) if config.profile == Profile::Oidc => self.oidc.discover(issuer).await.map(Some),
            _ => Ok(None),
        }
    }

    fn client(config: &ProviderConfig, auth_url: &str, token_url: &str) -> Result<Client, String> {
        let client_id = config.client_ids.first().cloned().unwrap_or_default();
        let client = oauth2::Client::new(ClientId::new(client_id))
            .set_client_secret(ClientSecret::new(config.secret.clone()))
            .set_auth_uri(AuthUrl::new(auth_url.to_owned()).map_err(|e| e.to_string())?)
            .set_token_uri(TokenUrl::new(token_url.to_owned()).map_err(|e| e.to_string())?)
            .set_redirect_uri(RedirectUrl::new(config.redirect_uri.clone()).map_err(|e| e.to_string())?)
            .set_auth_type(match config.client_auth {
                ClientAuth::Basic => AuthType::BasicAuth,
                ClientAuth::Post => AuthType::RequestBody,
            });
        Ok(client)
    }

    /// The endpoints of a provider: configured ones first, then discovery's.
    fn endpoints(config: &ProviderConfig, discovery: Option<&Discovery>) -> Result<(String, String), String> {
        let auth = config.authorize_url.clone().or_else(|| discovery.map(|d| d.authorization_endpoint.clone()));
        let token = config.token_url.clone().or_else(|| discovery.map(|d| d.token_endpoint.clone()));
        auth.zip(token).ok_or_else(|| "no authorization or token endpoint".to_owned())
    }

    async fn read_user(
        &self,
        config: &ProviderConfig,
        discovery: Option<&Discovery>,
        answer: &TokenAnswer,
        nonce: &str,
    ) -> Result<ProviderUser, IdpError> {
        let access = answer.access_token().secret().as_str();
        let profile_failed = |e: HttpError| IdpError::Profile(format!("{}: {}", config.name, e.0));
        let userinfo = config.userinfo_url.clone().or_else(|| discovery.and_then(|d| d.userinfo_endpoint.clone()));
        match &config.profile {
            Profile::Oidc => {
                let discovery = discovery.ok_or_else(|| IdpError::Profile("no discovery".into()))?;
                let token = answer.extra_fields().id_token.as_deref();
                let token = token.ok_or_else(|| IdpError::Profile(format!("{}: no ID token", config.name)))?;
                let claims = self.oidc.verify(token, discovery, &config.client_ids).await.map_err(IdpError::Profile)?;
                if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
                    return Err(IdpError::Profile(format!("{}: the ID token's nonce is not the flow's", config.name)));
                }
                let mut user = profile::standard(&Value::Object(claims));
                // User info fills in what the ID token left out, never its subject.
                if user.email.is_none()
                    && let Some(url) = userinfo
                {
                    let info = self.http.get_json(&url, Some(access), &[]).await.map_err(profile_failed)?;
                    let extra = profile::standard(&info);
                    if extra.provider_id == user.provider_id {
                        user.email = extra.email;
                        user.email_verified = extra.email_verified;
                    }
                }
                Ok(user)
            }
            Profile::GitHub => {
                let url = userinfo.unwrap_or_default();
                let user = self.http.get_json(&url, Some(access), &[]).await.map_err(profile_failed)?;
                let emails = match &config.emails_url {
                    Some(url) => self.http.get_json(url, Some(access), &[]).await.map_err(profile_failed)?,
                    None => Value::Array(Vec::new()),
                };
                Ok(profile::github(&user, &emails))
            }
            Profile::GitLab => {
                let info = self
                    .http
                    .get_json(&userinfo.unwrap_or_default(), Some(access), &[])
                    .await
                    .map_err(profile_failed)?;
                Ok(profile::gitlab(&info))
            }
            Profile::Discord => {
                let info = self
                    .http
                    .get_json(&userinfo.unwrap_or_default(), Some(access), &[])
                    .await
                    .map_err(profile_failed)?;
                Ok(profile::discord(&info))
            }
            Profile::Mapped(map) => {
                let info = self
                    .http
                    .get_json(&userinfo.unwrap_or_default(), Some(access), &[])
                    .await
                    .map_err(profile_failed)?;
                Ok(profile::mapped(&info, map))
            }
        }
    }
}

/// `at_hash`: the left half of the access token's digest, base64url (for the SHA-256 family).
fn at_hash(access_token: &str) -> String {
    use base64::Engine;
    let digest = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..16])
}

#[async_trait]
impl IdentityProviders for Providers {
    fn enabled(&self) -> Vec<ProviderName> {
        self.configs.keys().cloned().collect()
    }

    async fn authorization_url(
        &self,
        provider: &ProviderName,
        request: &AuthorizationRequest,
    ) -> Result<String, IdpError> {
        let config = self.config(provider)?;
        let discovery = self.discovery(config).await.map_err(IdpError::Exchange)?;
        let (auth, token) = Self::endpoints(config, discovery.as_ref()).map_err(IdpError::Exchange)?;
        build_authorization_url(config, &auth, &token, request)
    }

    async fn exchange_code(
        &self,
        provider: &ProviderName,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<ProviderSignIn, IdpError> {
        let config = self.config(provider)?;
        let discovery = self.discovery(config).await.map_err(IdpError::Exchange)?;
        let (auth, token) = Self::endpoints(config, discovery.as_ref()).map_err(IdpError::Exchange)?;
        let client = Self::client(config, &auth, &token).map_err(IdpError::Exchange)?;
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.to_owned()));
        if config.pkce {
            exchange = exchange.set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_owned()));
        }
        let shared = self.http.clone();
        let http = move |request| {
            let shared = shared.clone();
            async move { shared.send(request).await }
        };
        let answer =
            exchange.request_async(&http).await.map_err(|e| IdpError::Exchange(format!("{}: {e}", config.name)))?;
        let user = self.read_user(config, discovery.as_ref(), &answer, nonce).await?;
        let tokens = ProviderTokens {
            access_token: Some(answer.access_token().secret().clone()),
            refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
        };
        Ok(ProviderSignIn { user, tokens })
    }

    async fn verify_id_token(
        &self,
        provider: &ProviderName,
        id_token: &str,
        access_token: Option<&str>,
    ) -> Result<VerifiedIdToken, IdpError> {
        let config = self.config(provider)?;
        if !config.id_tokens || config.profile != Profile::Oidc {
            return Err(IdpError::NoIdTokens(provider.to_string()));
        }
        let discovery = self.discovery(config).await.map_err(IdpError::Exchange)?;
        let discovery = discovery.ok_or_else(|| IdpError::NoIdTokens(provider.to_string()))?;
        let claims = self
            .oidc
            .verify(id_token, &discovery, &config.client_ids)
            .await
            .map_err(|reason| IdpError::BadIdToken(format!("Bad ID token: {reason}")))?;
        if let (Some(access), Some(expected)) = (access_token, claims.get("at_hash").and_then(Value::as_str))
            && at_hash(access) != expected
        {
            return Err(IdpError::BadIdToken("Bad ID token: at_hash does not match the access token".into()));
        }
        let nonce = claims.get("nonce").and_then(Value::as_str).map(str::to_owned);
        Ok(VerifiedIdToken {
            user: profile::standard(&Value::Object(claims)),
            nonce,
            skip_nonce_check: config.skip_nonce_check,
        })
    }
}

/// The authorization URL: oauth2 builds it (client id, redirect URI, scopes, state, PKCE), then
/// the OpenID nonce and the caller's extra parameters.
fn build_authorization_url(
    config: &ProviderConfig,
    auth: &str,
    token: &str,
    request: &AuthorizationRequest,
) -> Result<String, IdpError> {
    let client = Providers::client(config, auth, token).map_err(IdpError::Exchange)?;
    let state = request.state.clone();
    let mut builder = client.authorize_url(move || CsrfToken::new(state));
    for scope in config.scopes.iter().chain(&request.scopes) {
        builder = builder.add_scope(Scope::new(scope.clone()));
    }
    if config.pkce {
        // The challenge is derived from the flow's browser binding, not drawn by oauth2.
        builder = builder.add_extra_param("code_challenge", request.pkce_challenge.clone());
        builder = builder.add_extra_param("code_challenge_method", "S256");
    }
    if config.profile == Profile::Oidc {
        builder = builder.add_extra_param("nonce", request.nonce.clone());
    }
    for (key, value) in &request.extra {
        builder = builder.add_extra_param(key.clone(), value.clone());
    }
    Ok(builder.url().0.to_string())
}
