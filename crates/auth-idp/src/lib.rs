//! authd's identity-provider adapter: auth-core's `IdentityProviders` port over OAuth 2.0
//! (the `oauth2` crate) and OpenID Connect (discovery, JWKS and ID-token checks with josekit),
//! speaking HTTP with reqwest.

mod config;

pub use config::{BUILT_IN, ClaimMap, ClientAuth, Profile, ProviderConfig};
mod http;
mod oidc;
mod profile;
mod providers;

pub use providers::{ConfigError, Providers};
