//! The key settings the configuration describes: the configured secret or private key loaded and
//! checked, and the key-encryption key read.

use std::time::Duration;

use anyhow::{Context, bail};
use auth_crypto::SigningKey;

use crate::config::{Config, JwtAlgorithm, seconds};
use crate::keys::{AccessKeySource, KeySettings};

/// Reads `jwt.*` and the role names; a configured secret, private key, key set or key-encryption
/// key is loaded and checked here.
pub fn key_settings(config: &Config) -> anyhow::Result<KeySettings> {
    let configured = |signing| AccessKeySource::Configured { signing, verify_only: Vec::new() };
    let access = match (config.jwt.algorithm, &config.jwt.secret, &config.jwt.private_key) {
        _ if config.jwt.keys.is_some() => {
            let keys = config.jwt.keys.as_ref().map(|k| k.expose()).unwrap_or_default();
            let set = crate::keys::key_set(keys, config.jwt.secret.as_ref().map(|s| s.expose()))?;
            AccessKeySource::Configured { signing: set.signing, verify_only: set.verify_only }
        }
        (JwtAlgorithm::HS256, Some(secret), _) => {
            let kid = Some(config.jwt.key_id.trim().to_owned()).filter(|kid| !kid.is_empty());
            configured(SigningKey::hmac(secret.expose().as_bytes(), kid)?)
        }
        (JwtAlgorithm::HS256, None, _) => bail!("jwt.algorithm HS256 needs jwt.secret"),
        (alg, _, Some(key)) => configured(configured_key(crypto_alg(alg), key.expose())?),
        (alg, _, None) => AccessKeySource::Database(crypto_alg(alg)),
    };
    Ok(KeySettings {
        access,
        encryption: config.jwt.keys_encryption_key().context("jwt.keys_encryption_key")?,
        token_lifetime: seconds(config.jwt.expiry_secs),
        publish_delay: seconds(config.jwt.key_publish_delay_secs),
        reload_every: Duration::from_secs(config.jwt.key_reload_secs.max(1)),
        audience: config.jwt.audience.clone(),
        issuer: config.jwt.issuer.clone(),
        anonymous_role: config.roles.anonymous.clone(),
        service_role: config.roles.service.clone(),
    })
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
