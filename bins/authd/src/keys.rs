//! The server's keys: where they come from (the configuration or the database), the key ring
//! built from them, its periodic reload, and what `authd keys` shows and changes
//! (`crate::commands::keys` prints it).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use auth_core::domain::{KeyMaterial, KeyPurpose, KeyStatus, StoredKey, key_statuses};
use auth_core::ports::{Clock, KeyStore, Random, TokenSigner};
use auth_crypto::{
    CLOCK_SKEW_SECS, HmacTokenChain, JwtSigner, SealedKeyStore, SigningKey, TOKEN_CHAIN_KEY_MIN_LEN, TokenLifetimes,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::config::{Config, JwtAlgorithm, seconds};

/// Where access-token keys come from.
enum AccessKeySource {
    /// One key fixed by the configuration (an HS256 secret or a private key).
    Configured(SigningKey),
    /// Generated keys kept in the database, rotated with `authd keys rotate`.
    Database(auth_crypto::JwtAlgorithm),
}

/// Told the public keys (a JWKS) after this process changed them or noticed a change, so they
/// reach whatever else verifies tokens (PostgREST's in-database configuration).
pub type KeysChanged = Arc<dyn Fn(serde_json::Value) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The keys of one deployment, read from the configuration and the database.
pub struct Keys {
    on_change: Option<KeysChanged>,
    /// The database's keys, encrypted at rest when `jwt.keys_encryption_key` is set.
    store: Arc<SealedKeyStore>,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    access: AccessKeySource,
    token_lifetime: TimeDelta,
    publish_delay: TimeDelta,
    reload_every: Duration,
    audience: String,
    issuer: String,
    anonymous_role: String,
    service_role: String,
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

/// One row of `authd keys list`; never the material.
#[derive(Debug, Clone, Serialize)]
pub struct KeyListing {
    /// Key id.
    pub kid: String,
    /// `access_token` or `refresh_chain`.
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
}

impl Keys {
    /// Reads the key settings; a configured secret, private key or key-encryption key is loaded
    /// and checked here.
    pub fn new(
        config: &Config,
        store: Arc<dyn KeyStore>,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
    ) -> anyhow::Result<Self> {
        let access = match (config.jwt.algorithm, &config.jwt.secret, &config.jwt.private_key) {
            (JwtAlgorithm::HS256, Some(secret), _) => {
                AccessKeySource::Configured(SigningKey::hmac(secret.expose().as_bytes(), None)?)
            }
            (JwtAlgorithm::HS256, None, _) => bail!("jwt.algorithm HS256 needs jwt.secret"),
            (alg, _, Some(key)) => AccessKeySource::Configured(configured_key(crypto_alg(alg), key.expose())?),
            (alg, _, None) => AccessKeySource::Database(crypto_alg(alg)),
        };
        let kek = config.jwt.keys_encryption_key().context("jwt.keys_encryption_key")?;
        Ok(Self {
            on_change: None,
            store: Arc::new(SealedKeyStore::new(store, kek, Arc::clone(&random))),
            clock,
            random,
            access,
            token_lifetime: seconds(config.jwt.expiry_secs),
            publish_delay: seconds(config.jwt.key_publish_delay_secs),
            reload_every: Duration::from_secs(config.jwt.key_reload_secs.max(1)),
            audience: config.jwt.audience.clone(),
            issuer: config.jwt.issuer.clone(),
            anonymous_role: config.roles.anonymous.clone(),
            service_role: config.roles.service.clone(),
        })
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
        let sealed = self.store.seal_stored_keys().await?;
        if sealed > 0 {
            tracing::info!(keys = sealed, "encrypted the stored keys with jwt.keys_encryption_key");
        }
        if !self.store.encrypts() {
            tracing::warn!(
                "jwt.keys_encryption_key is not set: the private signing keys are stored UNENCRYPTED in the database, \
                 readable by anyone who can read its auth.signing_keys table or a backup of it; \
                 set one (`openssl rand -base64 32`) to encrypt them"
            );
        }
        let now = self.clock.now();
        let mut secret = [0u8; TOKEN_CHAIN_KEY_MIN_LEN];
        self.random.fill(&mut secret)?;
        let chain = StoredKey {
            kid: format!("chain-{}", self.short_id()?),
            purpose: KeyPurpose::RefreshChain,
            algorithm: "HMAC-SHA256".into(),
            material: KeyMaterial::new(HmacTokenChain::encode_key(&secret)),
            created_at: now,
            activates_at: now,
        };
        if self.store.add_first_key(&chain).await.context("cannot store the refresh-token key")? {
            tracing::info!(kid = %chain.kid, "generated the refresh-token key");
        }
        if let AccessKeySource::Database(alg) = self.access {
            let key = generated(alg, KeyPurpose::AccessToken, now, now)?;
            if self.store.add_first_key(&key).await.context("cannot store the signing key")? {
                tracing::info!(kid = %key.kid, algorithm = %key.algorithm, "generated the first signing key");
            }
            let key = generated(alg, KeyPurpose::ApiKey, now, now)?;
            if self.store.add_first_key(&key).await.context("cannot store the API-key signing key")? {
                tracing::info!(kid = %key.kid, algorithm = %key.algorithm, "generated the API-key signing key");
            }
        }
        Ok(())
    }

    /// The key that signs API keys, and when it started: the configured key, or the newest
    /// API-key key in the database (replacing it revokes the keys the previous one signed).
    async fn api_key_signer(&self) -> anyhow::Result<(SigningKey, Option<DateTime<Utc>>)> {
        if let AccessKeySource::Configured(key) = &self.access {
            return Ok((key.clone(), None));
        }
        let keys = self.store.list_keys(KeyPurpose::ApiKey).await.context("cannot read the keys")?;
        let (stored, _) = key_statuses(&keys, self.clock.now(), TimeDelta::zero())
            .into_iter()
            .find(|(_, status)| *status == KeyStatus::Signing)
            .context("no API-key signing key in the database (run `authd serve` once to create it)")?;
        let key = SigningKey::from_jwk_json(stored.material.expose())
            .with_context(|| format!("stored API-key signing key {} is unreadable", stored.kid))?;
        Ok((key, Some(stored.activates_at)))
    }

    /// The anon and service-role keys: tokens naming those roles and no user, signed by the
    /// API-key signing key. Database-managed keys always give the same claims; a configured key
    /// gives keys issued now.
    pub async fn api_keys(&self) -> anyhow::Result<ApiKeys> {
        let (key, since) = self.api_key_signer().await?;
        let kid = key.kid().to_owned();
        let signer = JwtSigner::new(key, Vec::new(), self.audience.clone(), self.issuer.clone())?;
        let issued = since.unwrap_or_else(|| self.clock.now());
        let sign = |role: &str| -> anyhow::Result<String> {
            let mut claims = serde_json::json!({
                "aud": self.audience,
                "role": role,
                "iat": issued.timestamp(),
                "exp": (issued + API_KEY_LIFETIME).timestamp(),
            });
            if !self.issuer.is_empty() {
                claims["iss"] = self.issuer.clone().into();
            }
            Ok(signer.sign_claims(&claims)?)
        };
        Ok(ApiKeys { anon_key: sign(&self.anonymous_role)?, service_role_key: sign(&self.service_role)?, kid })
    }

    /// Replaces the API-key signing key: keys printed before stop working, on running servers
    /// once they reload their keys.
    pub async fn rotate_api_keys(&self) -> anyhow::Result<ApiKeys> {
        let AccessKeySource::Database(alg) = self.access else {
            bail!(
                "API keys are signed with the configured key (jwt.secret or jwt.private_key); replace that key to revoke them"
            );
        };
        let now = self.clock.now();
        let key = generated(alg, KeyPurpose::ApiKey, now, now)?;
        self.store.add_key(&key).await.context("cannot store the new key")?;
        self.changed().await;
        self.api_keys().await
    }

    /// The refresh-token chain, keyed with the newest active chain key.
    pub async fn token_chain(&self) -> anyhow::Result<HmacTokenChain> {
        let keys = self.store.list_keys(KeyPurpose::RefreshChain).await.context("cannot read the keys")?;
        let now = self.clock.now();
        let signing = key_statuses(&keys, now, self.token_lifetime)
            .into_iter()
            .find(|(_, status)| *status == KeyStatus::Signing)
            .map(|(key, _)| key)
            .context("no refresh-token key in the database (run `authd serve` once to create it)")?;
        HmacTokenChain::from_encoded(signing.material.expose())
            .with_context(|| format!("stored refresh-token key {} is unreadable", signing.kid))
    }

    /// The current ring: the signing key, and the keys that only verify (pending and replaced).
    async fn ring(&self) -> anyhow::Result<(SigningKey, Vec<SigningKey>)> {
        if let AccessKeySource::Configured(key) = &self.access {
            return Ok((key.clone(), Vec::new()));
        }
        let keys = self.store.list_keys(KeyPurpose::AccessToken).await.context("cannot read the keys")?;
        let mut signing = None;
        let mut verify_only = Vec::new();
        for (stored, status) in key_statuses(&keys, self.clock.now(), self.token_lifetime) {
            let load = || {
                SigningKey::from_jwk_json(stored.material.expose())
                    .with_context(|| format!("stored signing key {} is unreadable", stored.kid))
            };
            match status {
                KeyStatus::Signing => signing = Some(load()?),
                KeyStatus::Pending | KeyStatus::Verifying => verify_only.push(load()?),
                KeyStatus::Retired => {}
            }
        }
        let signing = signing.context("no active signing key in the database (run `authd serve` once to create it)")?;
        // Published and accepted like any key, so PostgREST and authd take the API keys it signs.
        verify_only.push(self.api_key_signer().await?.0);
        Ok((signing, verify_only))
    }

    /// A signer holding the current ring.
    pub async fn signer(&self) -> anyhow::Result<JwtSigner> {
        let (signing, verify_only) = self.ring().await?;
        if let AccessKeySource::Database(alg) = self.access
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
            access_secs: self.token_lifetime.num_seconds(),
            api_key_secs: API_KEY_LIFETIME.num_seconds(),
            skew_secs: CLOCK_SKEW_SECS,
        };
        Ok(JwtSigner::new(signing, verify_only, self.audience.clone(), self.issuer.clone())?.with_lifetimes(lifetimes))
    }

    /// Reads the keys again every `jwt.key_reload_secs` and swaps the ring of `signer`, so pending
    /// keys start signing on time and old ones retire. A failed read keeps the current ring.
    pub fn spawn_reload(self: Arc<Self>, signer: Arc<JwtSigner>) {
        if matches!(self.access, AccessKeySource::Configured(_)) {
            return;
        }
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(self.reload_every);
            ticks.tick().await;
            let mut current: Vec<String> = signer.keys().into_iter().map(|k| k.kid).collect();
            loop {
                ticks.tick().await;
                let replaced = match self.ring().await {
                    Ok((signing, verify_only)) => {
                        let kids: Vec<String> =
                            std::iter::once(&signing).chain(&verify_only).map(|k| k.kid().to_owned()).collect();
                        if kids == current {
                            continue;
                        }
                        signer.replace_keys(signing, verify_only).map(|()| kids).map_err(anyhow::Error::from)
                    }
                    Err(error) => Err(error),
                };
                match replaced {
                    Ok(kids) => {
                        tracing::info!(signing = %kids[0], keys = kids.len(), "key ring reloaded");
                        current = kids;
                        if let Some(hook) = &self.on_change {
                            hook(signer.jwks()).await;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(error = %format!("{error:#}"), "cannot reload the keys; keeping the current ones")
                    }
                }
            }
        });
    }

    /// Adds a new signing key of the configured algorithm; it signs after the publish delay,
    /// or at once with `immediately`.
    pub async fn rotate(&self, immediately: bool) -> anyhow::Result<KeyListing> {
        let AccessKeySource::Database(alg) = self.access else {
            bail!(
                "the signing key comes from the configuration (jwt.secret or jwt.private_key); rotate it there, or unset it to let authd manage keys"
            );
        };
        let now = self.clock.now();
        let activates_at = if immediately { now } else { now + self.publish_delay };
        let key = generated(alg, KeyPurpose::AccessToken, now, activates_at)?;
        self.store.add_key(&key).await.context("cannot store the new key")?;
        self.changed().await;
        let status = if activates_at > now { KeyStatus::Pending } else { KeyStatus::Signing };
        Ok(listing(&key, status))
    }

    /// Every key, newest first: the configured one, or the database's access-token and API-key keys, then
    /// the refresh-token keys.
    pub async fn list(&self) -> anyhow::Result<Vec<KeyListing>> {
        let now = self.clock.now();
        let mut rows = Vec::new();
        match &self.access {
            AccessKeySource::Configured(key) => rows.push(KeyListing {
                kid: key.kid().to_owned(),
                purpose: KeyPurpose::AccessToken.as_str(),
                algorithm: key.alg().name().to_owned(),
                status: KeyStatus::Signing.as_str(),
                source: "config",
                created_at: None,
                activates_at: None,
            }),
            AccessKeySource::Database(_) => {
                let keys = self.store.list_keys(KeyPurpose::AccessToken).await.context("cannot read the keys")?;
                rows.extend(key_statuses(&keys, now, self.token_lifetime).into_iter().map(|(k, s)| listing(k, s)));
                let keys = self.store.list_keys(KeyPurpose::ApiKey).await.context("cannot read the keys")?;
                rows.extend(key_statuses(&keys, now, TimeDelta::zero()).into_iter().map(|(k, s)| listing(k, s)));
            }
        }
        let chains = self.store.list_keys(KeyPurpose::RefreshChain).await.context("cannot read the keys")?;
        rows.extend(key_statuses(&chains, now, self.token_lifetime).into_iter().map(|(k, s)| listing(k, s)));
        Ok(rows)
    }

    fn short_id(&self) -> anyhow::Result<String> {
        let mut bytes = [0u8; 8];
        self.random.fill(&mut bytes)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn crypto_alg(alg: JwtAlgorithm) -> auth_crypto::JwtAlgorithm {
    match alg {
        JwtAlgorithm::ES256 => auth_crypto::JwtAlgorithm::ES256,
        JwtAlgorithm::RS256 => auth_crypto::JwtAlgorithm::RS256,
        JwtAlgorithm::HS256 => auth_crypto::JwtAlgorithm::HS256,
    }
}

/// A configured private key: a JWK when it is JSON, PEM otherwise.
fn configured_key(alg: auth_crypto::JwtAlgorithm, text: &str) -> anyhow::Result<SigningKey> {
    let key = if text.trim_start().starts_with('{') {
        SigningKey::from_jwk_json(text).context("jwt.private_key is not a usable private JWK")?
    } else {
        SigningKey::from_pem(alg, text, None).context("jwt.private_key is not a usable PEM private key")?
    };
    if key.alg() != alg {
        bail!("jwt.private_key is an {} key but jwt.algorithm is {}", key.alg().name(), alg.name());
    }
    Ok(key)
}

fn generated(
    alg: auth_crypto::JwtAlgorithm,
    purpose: KeyPurpose,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
) -> anyhow::Result<StoredKey> {
    let key = SigningKey::generate(alg)?;
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        purpose,
        algorithm: alg.name().to_owned(),
        material: KeyMaterial::new(key.to_private_jwk_json()),
        created_at: now,
        activates_at,
    })
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
    }
}
