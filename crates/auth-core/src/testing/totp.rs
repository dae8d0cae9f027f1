//! A TOTP double: secrets drawn from the world's byte source and "sealed" in clear, and codes
//! that are a digest of the secret and the time step, not RFC 6238's (auth-crypto's adapter
//! is tested against the RFC's vectors). Tests compute codes with [`FakeTotp::code`].

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::{FactorId, SealedSecret};
use crate::ports::{Random, Totp, TotpError, TotpProvisioning, TotpSecret};

/// What [`FakeTotp`] stores in place of a sealed secret: the factor and the secret, in clear.
const PREFIX: &str = "fake-totp:";

/// A TOTP double on the world's byte source.
pub struct FakeTotp {
    random: Arc<dyn Random>,
}

impl FakeTotp {
    /// A double drawing secrets from `random`.
    pub fn new(random: Arc<dyn Random>) -> Self {
        Self { random }
    }

    /// The code of `secret` (base32, as enrollment answered it) at `at`.
    pub fn code(secret: &str, at: DateTime<Utc>) -> String {
        Self::code_of_step(secret, at.timestamp().div_euclid(30))
    }

    /// The code of `secret` in time step `step`.
    pub fn code_of_step(secret: &str, step: i64) -> String {
        let digest = Sha256::new().chain_update(secret.as_bytes()).chain_update(step.to_be_bytes()).finalize();
        let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        format!("{:06}", n % 1_000_000)
    }
}

impl Totp for FakeTotp {
    fn provision(&self, factor: FactorId, issuer: &str, account: &str) -> Result<TotpProvisioning, TotpError> {
        let mut bytes = [0u8; 20];
        self.random.fill(&mut bytes).map_err(|e| TotpError(e.to_string()))?;
        let secret: String = bytes.iter().map(|b| char::from(b'A' + b % 26)).collect();
        let uri = format!("otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}");
        Ok(TotpProvisioning {
            secret: TotpSecret::new(secret.clone()),
            qr_svg: "<svg xmlns=\"http://www.w3.org/2000/svg\"></svg>".into(),
            uri,
            sealed: SealedSecret::new(format!("{PREFIX}{factor}:{secret}")),
        })
    }

    fn matching_step(
        &self,
        factor: FactorId,
        sealed: &SealedSecret,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, TotpError> {
        let opened = sealed.expose().strip_prefix(PREFIX).and_then(|rest| rest.split_once(':'));
        let secret = match opened {
            Some((id, secret)) if id == factor.to_string() => secret,
            _ => return Err(TotpError(format!("the secret of factor {factor} does not open"))),
        };
        let now = at.timestamp().div_euclid(30);
        Ok((now - 1..=now + 1).find(|step| Self::code_of_step(secret, *step) == code))
    }
}
