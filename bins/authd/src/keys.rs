//! The server's keys: where they come from (the configuration or the database), the key ring
//! built from them, its periodic reload, and what `authd keys` shows and changes
//! (`crate::commands::keys` prints it). The lifecycle itself (first keys, rings, rotation,
//! retirement) is auth-crypto's `StoredKeys`; this module adds what is authd's own: a key fixed
//! by the configuration, the API keys, logging and the hook that publishes key changes.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use auth_core::domain::{KeyPurpose, KeyStatus, StoredKey};
use auth_core::ports::{Clock, KeyStore, Random, TokenSigner};
use auth_crypto::{
    CLOCK_SKEW_SECS, HmacTokenChain, JwkSetKeys, JwtAlgorithm, JwtSigner, KeyEncryptionKey, SigningKey, StoredKeys,
    StoredKeysError, TokenLifetimes,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// Where access-token keys come from.
pub enum AccessKeySource {
    /// Keys fixed by the configuration: an HS256 secret or a private key, which signs alone, or
    /// Supabase Auth's key set (`jwt.keys`), whose other keys only verify.
    Configured {
        /// Signs access tokens and API keys.
        signing: SigningKey,
        /// Verifies only.
        verify_only: Vec<SigningKey>,
    },
    /// Generated keys of this algorithm kept in the database, rotated with `authd keys rotate`.
    Database(JwtAlgorithm),
}

/// The key settings of one deployment, read from the configuration by the wiring.
pub struct KeySettings {
    /// Where access-token keys come from.
    pub access: AccessKeySource,
    /// Encrypts the stored keys' material at rest (`jwt.keys_encryption_key`).
    pub encryption: Option<KeyEncryptionKey>,
    /// Lifetime of access tokens: a replaced key verifies that long.
    pub token_lifetime: TimeDelta,
    /// How long a rotated key is published before it signs.
    pub publish_delay: TimeDelta,
    /// How often running servers read the keys again.
    pub reload_every: Duration,
    /// `aud` of tokens.
    pub audience: String,
    /// `iss` of tokens; empty leaves it out.
    pub issuer: String,
    /// The role of the anon API key.
    pub anonymous_role: String,
    /// The role of the service-role API key.
    pub service_role: String,
}

/// Told the public keys (a JWKS) after this process changed them or noticed a change, so they
/// reach whatever else verifies tokens (PostgREST's in-database configuration).
pub type KeysChanged = Arc<dyn Fn(serde_json::Value) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The keys of one deployment, read from the configuration and the database.
pub struct Keys {
    on_change: Option<KeysChanged>,
    /// The database's keys, encrypted at rest when `jwt.keys_encryption_key` is set.
    stored: StoredKeys,
    clock: Arc<dyn Clock>,
    settings: KeySettings,
}

/// The anon and service-role API keys, as `authd keys api` prints them.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeys {
    /// For an application's clients (supabase-js `supabaseKey`); safe to publish.
    pub anon_key: String,
    /// Full access, administration included; a server-side secret.
    pub service_role_key: String,
    /// The key that signed them.
    pub kid: String,
}

/// How long an API key is valid: until its signing key is replaced, in practice.
const API_KEY_LIFETIME: TimeDelta = TimeDelta::days(3653);
/// `iss` of the API keys Supabase's tooling makes.
const STOCK_KEY_ISSUER: &str = "supabase";
/// Lifetime of the API keys Supabase's self-hosting guide makes: five years.
const STOCK_KEY_LIFETIME: TimeDelta = TimeDelta::days(5 * 365);

/// One row of `authd keys list`; never the material.
#[derive(Debug, Clone, Serialize)]
pub struct KeyListing {
    /// Key id.
    pub kid: String,
    /// `access_token`, `api_key` or `refresh_chain`.
    pub purpose: &'static str,
    /// Algorithm.
    pub algorithm: String,
    /// `pending`, `signing`, `verifying` or `retired`.
    pub status: &'static str,
    /// `database` or `config`.
    pub source: &'static str,
    /// When it was made (database keys).
    pub created_at: Option<DateTime<Utc>>,
    /// When it starts or started signing (database keys).
    pub activates_at: Option<DateTime<Utc>>,
    /// When an operator retired it (`authd keys retire`); `null` otherwise.
    pub retired_at: Option<DateTime<Utc>>,
}

impl Keys {
    /// The keys `settings` describe, kept in `store`, on `clock`.
    pub fn new(
        settings: KeySettings,
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> Self {
        let mut stored = match &settings.access {
            AccessKeySource::Configured { .. } => StoredKeys::chain_only(store),
            AccessKeySource::Database(alg) => StoredKeys::new(store, *alg).with_api_key_signing(),
        }
        .with_clock(Arc::clone(&clock))
        .with_random(random)
        .with_token_lifetime(settings.token_lifetime);
        if let Some(kek) = &settings.encryption {
            stored = stored.with_encryption(kek.clone());
        }
        Self { on_change: None, stored, clock, settings }
    }

    /// Calls `hook` with the new JWKS after every key change this process makes or notices.
    pub fn on_change(mut self, hook: Option<KeysChanged>) -> Self {
        self.on_change = hook;
        self
    }

    /// Runs the change hook with the current ring's JWKS; a failure is logged, never returned,
    /// because the keys themselves have already changed.
    async fn changed(&self) {
        let Some(hook) = &self.on_change else { return };
        match self.signer().await {
            Ok(signer) => hook(signer.jwks()).await,
            Err(error) => tracing::warn!(error = %format!("{error:#}"), "cannot read the new keys"),
        }
    }

    /// Makes the first keys on an empty database. Replicas starting together agree on one.
    /// First every stored key must read: a key-encryption key that does not decrypt one stops
    /// the start (never new keys instead), and keys stored in clear are encrypted in place.
    pub async fn ensure_initial(&self) -> anyhow::Result<()> {
        let done = self.stored.ensure_initial().await.context("cannot prepare the keys")?;
        if done.sealed > 0 {
            tracing::info!(keys = done.sealed, "encrypted the stored keys with jwt.keys_encryption_key");
        }
        if !self.stored.encrypts() {
            tracing::warn!(
                "jwt.keys_encryption_key is not set: the private signing keys are stored UNENCRYPTED in the database, \
                 readable by anyone who can read its auth.signing_keys table or a backup of it; \
                 set one (`openssl rand -base64 32`) to encrypt them"
            );
        }
        for key in &done.made {
            tracing::info!(kid = %key.kid, purpose = key.purpose.as_str(), algorithm = %key.algorithm, "generated a key");
        }
        Ok(())
    }

    /// The key that signs API keys, and when it started: the configured key, or the newest
    /// API-key key in the database (replacing it revokes the keys the previous one signed).
    async fn api_key_signer(&self) -> anyhow::Result<(SigningKey, Option<DateTime<Utc>>)> {
        if let AccessKeySource::Configured { signing, .. } = &self.settings.access {
            return Ok((signing.clone(), None));
        }
        let (key, since) = self.stored.api_key_signer().await.map_err(|e| missing(e, "API-key signing key"))?;
        Ok((key, Some(since)))
    }

    /// The anon and service-role keys: tokens naming those roles and no user, signed by the
    /// API-key signing key. Database-managed keys always give the same claims; a configured key
    /// gives keys issued now.
    pub async fn api_keys(&self) -> anyhow::Result<ApiKeys> {
        let (key, since) = self.api_key_signer().await?;
        let kid = key.kid().to_owned();
        let (audience, issuer) = (&self.settings.audience, &self.settings.issuer);
        let signer = JwtSigner::new(key, Vec::new(), audience.clone(), issuer.clone())?;
        let issued = since.unwrap_or_else(|| self.clock.now());
        let sign = |role: &str| -> anyhow::Result<String> {
            let mut claims = serde_json::json!({
                "aud": audience,
                "role": role,
                "iat": issued.timestamp(),
                "exp": (issued + API_KEY_LIFETIME).timestamp(),
            });
            if !issuer.is_empty() {
                claims["iss"] = issuer.clone().into();
            }
            Ok(signer.sign_claims(&claims)?)
        };
        let (anon, service) = (&self.settings.anonymous_role, &self.settings.service_role);
        Ok(ApiKeys { anon_key: sign(anon)?, service_role_key: sign(service)?, kid })
    }

    /// The anon and service-role keys as Supabase's self-hosting tooling makes them: signed with
    /// the configured HS256 secret and no `kid`, claims `iss: supabase`, `role`, `iat`, `exp`
    /// (five years on) and `ref` when given, no `aud`. Such keys verify only where that secret
    /// does (authd, and PostgREST or other Supabase services sharing `JWT_SECRET`).
    pub async fn stock_api_keys(&self, project_ref: Option<&str>) -> anyhow::Result<ApiKeys> {
        let (key, _) = self.api_key_signer().await?;
        if key.alg() != JwtAlgorithm::HS256 {
            bail!(
                "Supabase-shaped API keys are HS256 tokens signed with the JWT secret: set jwt.secret \
                 (jwt.algorithm = \"HS256\") to print them"
            );
        }
        let kid = key.kid().to_owned();
        let signer = JwtSigner::new(key, Vec::new(), self.settings.audience.clone(), String::new())?;
        let issued = self.clock.now();
        let sign = |role: &str| -> anyhow::Result<String> {
            let mut claims = serde_json::json!({
                "iss": STOCK_KEY_ISSUER,
                "role": role,
                "iat": issued.timestamp(),
                "exp": (issued + STOCK_KEY_LIFETIME).timestamp(),
            });
            if let Some(project_ref) = project_ref {
                claims["ref"] = project_ref.into();
            }
            Ok(signer.sign_claims_without_kid(&claims)?)
        };
        let (anon, service) = (&self.settings.anonymous_role, &self.settings.service_role);
        Ok(ApiKeys { anon_key: sign(anon)?, service_role_key: sign(service)?, kid })
    }

    /// Replaces the API-key signing key: keys printed before stop working, on running servers
    /// once they reload their keys.
    pub async fn rotate_api_keys(&self) -> anyhow::Result<ApiKeys> {
        if let AccessKeySource::Configured { .. } = self.settings.access {
            bail!(
                "API keys are signed with the configured key (jwt.secret or jwt.private_key); replace that key to revoke them"
            );
        }
        self.stored.rotate_api_key().await.context("cannot store the new key")?;
        self.changed().await;
        self.api_keys().await
    }

    /// The refresh-token chain, keyed with the newest active chain key.
    pub async fn token_chain(&self) -> anyhow::Result<HmacTokenChain> {
        self.stored.token_chain().await.map_err(|e| missing(e, "refresh-token key"))
    }

    /// The current ring: the signing key, and the keys that only verify (pending and replaced
    /// ones, and the API-key signing key).
    async fn ring(&self) -> anyhow::Result<(SigningKey, Vec<SigningKey>)> {
        if let AccessKeySource::Configured { signing, verify_only } = &self.settings.access {
            return Ok((signing.clone(), verify_only.clone()));
        }
        let ring = self.stored.ring().await.map_err(|e| missing(e, "signing key"))?;
        Ok((ring.signing, ring.verify_only))
    }

    /// A signer holding the current ring.
    pub async fn signer(&self) -> anyhow::Result<JwtSigner> {
        let (signing, verify_only) = self.ring().await?;
        if let AccessKeySource::Database(alg) = self.settings.access
            && signing.alg() != alg
        {
            tracing::warn!(
                signing = signing.alg().name(),
                configured = alg.name(),
                "the signing key's algorithm differs from jwt.algorithm; `authd keys rotate` makes a key of the configured one"
            );
        }
        // Tokens living longer than this server issues them for are refused, whatever signed them.
        let lifetimes = TokenLifetimes {
            access_secs: self.settings.token_lifetime.num_seconds(),
            api_key_secs: API_KEY_LIFETIME.num_seconds(),
            skew_secs: CLOCK_SKEW_SECS,
        };
        let (audience, issuer) = (self.settings.audience.clone(), self.settings.issuer.clone());
        Ok(JwtSigner::new(signing, verify_only, audience, issuer)?.with_lifetimes(lifetimes))
    }

    /// Reads the keys again into `signer` once: pending keys start signing on time, old ones
    /// retire, a key retired by an operator is dropped. On a change it logs and runs the hook;
    /// on an error `signer` keeps its ring. Returns whether the ring changed.
    pub async fn reload(&self, signer: &JwtSigner) -> anyhow::Result<bool> {
        if let AccessKeySource::Configured { .. } = self.settings.access {
            return Ok(false);
        }
        if !self.stored.reload(signer).await.context("cannot reload the keys")? {
            return Ok(false);
        }
        let keys = signer.keys();
        let signing = keys.first().map(|k| k.kid.clone()).unwrap_or_default();
        tracing::info!(%signing, keys = keys.len(), "key ring reloaded");
        if let Some(hook) = &self.on_change {
            hook(signer.jwks()).await;
        }
        Ok(true)
    }

    /// Reloads the keys every `jwt.key_reload_secs` (see [`Keys::reload`]), and at once when
    /// `changes` (PostgreSQL's notifications) hears that another process changed them.
    pub fn spawn_reload(self: Arc<Self>, signer: Arc<JwtSigner>, changes: Option<auth_store::KeyChanges>) {
        if matches!(self.settings.access, AccessKeySource::Configured { .. }) {
            return;
        }
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.settings.reload_every);
            ticks.tick().await;
            loop {
                match &changes {
                    Some(changes) => tokio::select! {
                        _ = ticks.tick() => {}
                        () = changes.changed() => {}
                    },
                    None => {
                        ticks.tick().await;
                    }
                }
                if let Err(error) = self.reload(&signer).await {
                    tracing::warn!(error = %format!("{error:#}"), "keeping the current keys");
                }
            }
        });
    }

    /// Adds a new signing key of the configured algorithm; it signs after the publish delay,
    /// or at once with `immediately`.
    pub async fn rotate(&self, immediately: bool) -> anyhow::Result<KeyListing> {
        if let AccessKeySource::Configured { .. } = self.settings.access {
            bail!(
                "the signing key comes from the configuration (jwt.secret or jwt.private_key); rotate it there, or unset it to let authd manage keys"
            );
        }
        let now = self.clock.now();
        let activates_at = if immediately { now } else { now + self.settings.publish_delay };
        let key = self.stored.rotate(activates_at).await.context("cannot store the new key")?;
        self.changed().await;
        let status = if activates_at > now { KeyStatus::Pending } else { KeyStatus::Signing };
        Ok(listing(&key, status))
    }

    /// Adds a key of the purpose of key `kid` that signs at once (`authd keys retire --rotate`),
    /// so `kid` no longer signs and can be retired: an access-token or API-key key; refresh-token
    /// keys are never rotated.
    pub async fn rotate_for(&self, kid: &str) -> anyhow::Result<KeyListing> {
        let purpose = self.list().await?.into_iter().find(|k| k.kid == kid).map(|k| k.purpose);
        match purpose {
            Some("access_token") => self.rotate(true).await,
            Some("api_key") => {
                let api = self.rotate_api_keys().await?;
                self.list().await?.into_iter().find(|k| k.kid == api.kid).context("the new API-key key is not listed")
            }
            Some(_) => bail!("key {kid} keys the refresh-token chain, which is never rotated; it cannot be retired"),
            None => bail!("no key {kid:?} (see `authd keys list`)"),
        }
    }

    /// Retires key `kid` at once: no replica signs or verifies with it after its next reload.
    /// The key signing now is refused (see [`Keys::rotate_for`]).
    pub async fn retire(&self, kid: &str) -> anyhow::Result<KeyListing> {
        if let AccessKeySource::Configured { signing, verify_only } = &self.settings.access
            && std::iter::once(signing).chain(verify_only).any(|key| key.kid() == kid)
        {
            bail!("key {kid} comes from the configuration (jwt.secret, jwt.private_key or jwt.keys); replace it there");
        }
        let (key, _) = match self.stored.retire(kid).await {
            Ok(retired) => retired,
            Err(StoredKeysError::StillSigning { purpose, .. }) => bail!(
                "key {kid} is the active {purpose} signing key and cannot be retired alone: \
                 `authd keys retire {kid} --rotate` signs with a new key from now on and retires this one"
            ),
            Err(StoredKeysError::UnknownKey(_)) => bail!("no key {kid:?} (see `authd keys list`)"),
            Err(other) => return Err(anyhow::Error::new(other).context("cannot retire the key")),
        };
        self.changed().await;
        let retired = StoredKey { retired_at: Some(key.retired_at.unwrap_or_else(|| self.clock.now())), ..key };
        Ok(listing(&retired, KeyStatus::Retired))
    }

    /// Every key, newest first: the configured one, or the database's access-token and API-key keys, then
    /// the refresh-token keys.
    pub async fn list(&self) -> anyhow::Result<Vec<KeyListing>> {
        let mut rows = Vec::new();
        let mut purposes = vec![KeyPurpose::RefreshChain];
        match &self.settings.access {
            AccessKeySource::Configured { signing, verify_only } => {
                let configured = |key: &SigningKey, status: KeyStatus| KeyListing {
                    kid: key.kid().to_owned(),
                    purpose: KeyPurpose::AccessToken.as_str(),
                    algorithm: key.alg().name().to_owned(),
                    status: status.as_str(),
                    source: "config",
                    created_at: None,
                    activates_at: None,
                    retired_at: None,
                };
                rows.push(configured(signing, KeyStatus::Signing));
                rows.extend(verify_only.iter().map(|key| configured(key, KeyStatus::Verifying)));
            }
            AccessKeySource::Database(_) => {
                purposes = vec![KeyPurpose::AccessToken, KeyPurpose::ApiKey, KeyPurpose::RefreshChain]
            }
        }
        for purpose in purposes {
            let keys = self.stored.statuses(purpose).await.context("cannot read the keys")?;
            rows.extend(keys.iter().map(|(k, s)| listing(k, *s)));
        }
        Ok(rows)
    }
}

/// Supabase Auth's key set (`jwt.keys`), read as Supabase Auth reads `GOTRUE_JWT_KEYS`. Beside it,
/// `jwt.secret` is Supabase Auth's `JWT_SECRET`, which checks HS256 tokens without a `kid` only
/// while the set holds an HS256 key (otherwise Supabase Auth accepts no HS256 token at all); authd
/// checks them with that key, so the two must be the same secret.
pub fn key_set(json: &str, secret: Option<&str>) -> anyhow::Result<JwkSetKeys> {
    let set = JwkSetKeys::parse(json).context("jwt.keys")?;
    let hs256 = std::iter::once(&set.signing).chain(&set.verify_only).find(|k| k.alg() == JwtAlgorithm::HS256);
    if let (Some(key), Some(secret)) = (hs256, secret)
        && !key.has_secret(secret.as_bytes())
    {
        bail!(
            "jwt.secret differs from the HS256 key of jwt.keys ({}); Supabase Auth checks tokens without a kid with \
             jwt.secret and authd with that key, so make them the same secret",
            key.kid()
        );
    }
    Ok(set)
}

/// A missing key said in authd's words; other failures keep their cause.
fn missing(error: StoredKeysError, what: &str) -> anyhow::Error {
    match error {
        StoredKeysError::Missing(_) => {
            anyhow::anyhow!("no active {what} in the database (run `authd serve` once to create it)")
        }
        other => anyhow::Error::new(other).context("cannot read the keys"),
    }
}

fn listing(key: &StoredKey, status: KeyStatus) -> KeyListing {
    KeyListing {
        kid: key.kid.clone(),
        purpose: key.purpose.as_str(),
        algorithm: key.algorithm.clone(),
        status: status.as_str(),
        source: "database",
        created_at: Some(key.created_at),
        activates_at: Some(key.activates_at),
        retired_at: key.retired_at,
    }
}
