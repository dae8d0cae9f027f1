//! What an operator configures per provider, and the built-in presets: each known provider's
//! endpoints, default scopes and how its user data reads (Supabase Auth's table), every
//! endpoint overridable.

use std::fmt;

/// How a provider's user data is read after the code exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Profile {
    /// OpenID Connect: the ID token (verified), completed by the user-info endpoint if any.
    Oidc,
    /// GitHub: `/user` and `/user/emails`.
    GitHub,
    /// GitLab: `/api/v4/user` (its primary address is verified once `confirmed_at` is set).
    GitLab,
    /// Discord: `/api/users/@me`.
    Discord,
    /// Any JSON user-info endpoint, read through a claim mapping.
    Mapped(ClaimMap),
}

/// Where a generic OAuth 2.0 provider's user-info answer keeps each field (JSON pointers such
/// as `/id` or `/data/email`), and whether its addresses are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimMap {
    /// The subject.
    pub id: String,
    /// The email address.
    pub email: String,
    /// Whether the address is verified (a boolean field); `None` with `email_verified_always`.
    pub email_verified: Option<String>,
    /// The provider vouches for every address it gives.
    pub email_verified_always: bool,
    /// The display name.
    pub name: String,
    /// The picture URL.
    pub avatar: String,
}

impl Default for ClaimMap {
    fn default() -> Self {
        Self {
            id: "/sub".into(),
            email: "/email".into(),
            email_verified: Some("/email_verified".into()),
            email_verified_always: false,
            name: "/name".into(),
            avatar: "/picture".into(),
        }
    }
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// HTTP Basic (`client_secret_basic`).
    #[default]
    Basic,
    /// In the form body (`client_secret_post`).
    Post,
}

/// One provider, ready to use.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// Its name (`provider=`).
    pub name: String,
    /// OAuth client ids; the first signs in through the browser, all are accepted as an ID
    /// token's audience.
    pub client_ids: Vec<String>,
    /// The client secret.
    pub secret: String,
    /// This server's `/callback` URL as registered at the provider.
    pub redirect_uri: String,
    /// The OpenID issuer (discovery at `<issuer>/.well-known/openid-configuration`); OIDC only.
    pub issuer: Option<String>,
    /// The authorization endpoint (from discovery when unset).
    pub authorize_url: Option<String>,
    /// The token endpoint (from discovery when unset).
    pub token_url: Option<String>,
    /// The user-info endpoint (from discovery when unset, for OIDC).
    pub userinfo_url: Option<String>,
    /// A second user-info endpoint (GitHub's `/user/emails`).
    pub emails_url: Option<String>,
    /// Scopes always asked for.
    pub scopes: Vec<String>,
    /// How user data reads.
    pub profile: Profile,
    /// Token-endpoint authentication.
    pub client_auth: ClientAuth,
    /// Send a PKCE challenge to the provider.
    pub pkce: bool,
    /// ID tokens without a nonce check (`POST /token?grant_type=id_token`).
    pub skip_nonce_check: bool,
    /// Takes ID tokens at `POST /token?grant_type=id_token`.
    pub id_tokens: bool,
}

impl fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("client_ids", &self.client_ids)
            .field("issuer", &self.issuer)
            .field("authorize_url", &self.authorize_url)
            .field("token_url", &self.token_url)
            .field("userinfo_url", &self.userinfo_url)
            .finish_non_exhaustive()
    }
}

/// The providers authd knows by name.
pub const BUILT_IN: [&str; 6] = ["github", "gitlab", "google", "keycloak", "discord", "azure"];

impl ProviderConfig {
    /// A provider with everything but its endpoints and profile unset.
    fn bare(name: &str, profile: Profile) -> Self {
        Self {
            name: name.into(),
            client_ids: Vec::new(),
            secret: String::new(),
            redirect_uri: String::new(),
            issuer: None,
            authorize_url: None,
            token_url: None,
            userinfo_url: None,
            emails_url: None,
            scopes: Vec::new(),
            profile,
            client_auth: ClientAuth::Basic,
            pkce: false,
            skip_nonce_check: false,
            id_tokens: false,
        }
    }

    /// A generic OpenID Connect provider found by discovery at `issuer`.
    pub fn oidc(name: &str, issuer: &str) -> Self {
        let mut config = Self::bare(name, Profile::Oidc);
        config.issuer = Some(issuer.trim_end_matches('/').to_owned());
        config.scopes = vec!["openid".into(), "email".into(), "profile".into()];
        config.pkce = true;
        config.id_tokens = true;
        config
    }

    /// A generic OAuth 2.0 provider with explicit endpoints and a claim mapping.
    pub fn oauth2(name: &str, authorize_url: &str, token_url: &str, userinfo_url: &str, claims: ClaimMap) -> Self {
        let mut config = Self::bare(name, Profile::Mapped(claims));
        config.authorize_url = Some(authorize_url.into());
        config.token_url = Some(token_url.into());
        config.userinfo_url = Some(userinfo_url.into());
        config
    }

    /// The built-in provider `name`, its endpoints under `url` when given (Supabase Auth's
    /// `GOTRUE_EXTERNAL_<P>_URL`); `None` for an unknown name.
    pub fn preset(name: &str, url: Option<&str>) -> Option<Self> {
        let base = |default: &str| url.map_or_else(|| default.to_owned(), |u| u.trim_end_matches('/').to_owned());
        let config = match name {
            "github" => {
                let web = base("https://github.com");
                let api = url.map_or_else(|| "https://api.github.com".to_owned(), |_| format!("{web}/api/v3"));
                let mut config = Self::bare(name, Profile::GitHub);
                config.authorize_url = Some(format!("{web}/login/oauth/authorize"));
                config.token_url = Some(format!("{web}/login/oauth/access_token"));
                config.userinfo_url = Some(format!("{api}/user"));
                config.emails_url = Some(format!("{api}/user/emails"));
                config.scopes = vec!["user:email".into()];
                config
            }
            "gitlab" => {
                let host = base("https://gitlab.com");
                let mut config = Self::bare(name, Profile::GitLab);
                config.authorize_url = Some(format!("{host}/oauth/authorize"));
                config.token_url = Some(format!("{host}/oauth/token"));
                config.userinfo_url = Some(format!("{host}/api/v4/user"));
                config.scopes = vec!["read_user".into()];
                config
            }
            "discord" => {
                let host = base("https://discord.com");
                let mut config = Self::bare(name, Profile::Discord);
                config.authorize_url = Some(format!("{host}/api/oauth2/authorize"));
                config.token_url = Some(format!("{host}/api/oauth2/token"));
                config.userinfo_url = Some(format!("{host}/api/users/@me"));
                config.scopes = vec!["email".into(), "identify".into()];
                config
            }
            "google" => {
                let mut config = Self::oidc(name, &base("https://accounts.google.com"));
                config.scopes = vec!["openid".into(), "email".into(), "profile".into()];
                config
            }
            "keycloak" => {
                // A realm URL is required: there is no default Keycloak.
                let realm = url?.trim_end_matches('/').to_owned();
                let mut config = Self::oidc(name, &realm);
                config.authorize_url = Some(format!("{realm}/protocol/openid-connect/auth"));
                config.token_url = Some(format!("{realm}/protocol/openid-connect/token"));
                config.userinfo_url = Some(format!("{realm}/protocol/openid-connect/userinfo"));
                config
            }
            "azure" => {
                let tenant = base("https://login.microsoftonline.com/common");
                let mut config = Self::oidc(name, &format!("{tenant}/v2.0"));
                config.authorize_url = Some(format!("{tenant}/oauth2/v2.0/authorize"));
                config.token_url = Some(format!("{tenant}/oauth2/v2.0/token"));
                config
            }
            _ => return None,
        };
        Some(config)
    }
}
