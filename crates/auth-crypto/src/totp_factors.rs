//! TOTP factors (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps, one step of skew either way)
//! with totp-rs, their `otpauth://` URI and SVG QR code (qrcode), and their secrets sealed at
//! rest under the key-encryption key that seals signing keys, bound to the factor's id.

use std::sync::Arc;

use auth_core::domain::{FactorId, SealedSecret};
use auth_core::ports::{Random, Totp, TotpError, TotpProvisioning, TotpSecret};
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Secret, TOTP};

use crate::key_encryption::{KeyEncryptionKey, is_sealed_text};

/// Length of a new secret: 160 bits, as RFC 4226 recommends (32 base32 characters).
const SECRET_LEN: usize = 20;
/// Digits of a code.
const DIGITS: usize = 6;
/// Seconds of a time step.
const STEP_SECS: i64 = 30;

/// Separates factor secrets from every other use of the key-encryption key.
const AAD_DOMAIN: &[u8] = b"authd totp secret v1\0";

/// What may stay unescaped in the URI: RFC 3986's unreserved characters.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// auth-core's `Totp` port: codes with totp-rs, QR codes with qrcode, secrets sealed with
/// AES-256-GCM under the key-encryption key when there is one (in clear otherwise, like the
/// signing keys).
pub struct TotpFactors {
    kek: Option<KeyEncryptionKey>,
    random: Arc<dyn Random>,
}

impl TotpFactors {
    /// TOTP factors drawing secrets from `random`, sealed under `kek` when given.
    pub fn new(kek: Option<KeyEncryptionKey>, random: Arc<dyn Random>) -> Self {
        Self { kek, random }
    }

    fn seal(&self, factor: FactorId, base32: &str) -> Result<SealedSecret, TotpError> {
        let Some(kek) = &self.kek else { return Ok(SealedSecret::new(base32)) };
        let sealed = kek.seal_text(&associated_data(factor), base32, self.random.as_ref());
        match sealed.map_err(|e| TotpError(e.to_string()))? {
            Some(sealed) => Ok(SealedSecret::new(sealed)),
            None => Err(TotpError(format!("the secret of factor {factor} could not be sealed"))),
        }
    }

    fn open(&self, factor: FactorId, sealed: &SealedSecret) -> Result<Vec<u8>, TotpError> {
        let stored = sealed.expose();
        let base32 = match (&self.kek, is_sealed_text(stored)) {
            (_, false) => stored.to_owned(),
            (Some(kek), true) => kek.open_text(&associated_data(factor), stored).ok_or_else(|| {
                TotpError(format!("the key-encryption key does not open the secret of factor {factor}"))
            })?,
            (None, true) => {
                return Err(TotpError(format!(
                    "the secret of factor {factor} is encrypted but no key-encryption key is configured"
                )));
            }
        };
        Secret::Encoded(base32)
            .to_bytes()
            .map_err(|_| TotpError(format!("the secret of factor {factor} is not base32")))
    }
}

fn associated_data(factor: FactorId) -> Vec<u8> {
    [AAD_DOMAIN, factor.to_string().as_bytes()].concat()
}

/// RFC 6238 with SHA-1, 6 digits and 30-second steps over `secret`.
fn totp(secret: Vec<u8>) -> TOTP {
    TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 1, STEP_SECS as u64, secret)
}

impl Totp for TotpFactors {
    fn provision(&self, factor: FactorId, issuer: &str, account: &str) -> Result<TotpProvisioning, TotpError> {
        let mut bytes = vec![0u8; SECRET_LEN];
        self.random.fill(&mut bytes).map_err(|e| TotpError(e.to_string()))?;
        let Secret::Encoded(base32) = Secret::Raw(bytes).to_encoded() else {
            return Err(TotpError("the new secret did not encode as base32".into()));
        };
        let (issuer_part, account_part) =
            (utf8_percent_encode(issuer, URI_COMPONENT), utf8_percent_encode(account, URI_COMPONENT));
        // Query keys in alphabetical order, as Supabase Auth writes them.
        let uri = format!(
            "otpauth://totp/{issuer_part}:{account_part}?algorithm=SHA1&digits={DIGITS}&issuer={issuer_part}&period={STEP_SECS}&secret={base32}"
        );
        let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
            .map_err(|e| TotpError(format!("the QR code cannot hold the URI: {e}")))?;
        let qr_svg = code.render::<svg::Color>().min_dimensions(200, 200).build();
        let sealed = self.seal(factor, &base32)?;
        Ok(TotpProvisioning { secret: TotpSecret::new(base32), uri, qr_svg, sealed })
    }

    fn matching_step(
        &self,
        factor: FactorId,
        sealed: &SealedSecret,
        code: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<i64>, TotpError> {
        let totp = totp(self.open(factor, sealed)?);
        let now = at.timestamp().div_euclid(STEP_SECS);
        let mut found = None;
        // Every candidate is computed and compared, so the time taken tells nothing.
        for step in now - 1..=now + 1 {
            let Ok(time) = u64::try_from(step * STEP_SECS) else { continue };
            let expected = totp.generate(time);
            if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use auth_core::testing::SequentialRandom;
    use chrono::TimeZone;
    use uuid::Uuid;

    use super::*;

    fn kek(seed: u8) -> KeyEncryptionKey {
        let bytes: [u8; 32] = std::array::from_fn(|i| seed.wrapping_add(u8::try_from(i).unwrap()));
        KeyEncryptionKey::from_bytes(&bytes).unwrap()
    }

    fn factor(n: u128) -> FactorId {
        FactorId::from_uuid(Uuid::from_u128(n))
    }

    /// RFC 6238 appendix B's SHA-1 secret ("12345678901234567890"), in base32.
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn codes_match_the_rfc_vectors_within_one_step() {
        let totp = TotpFactors::new(None, Arc::new(SequentialRandom::default()));
        let sealed = SealedSecret::new(RFC_SECRET);
        // RFC 6238 appendix B: T = 59 s gives 94287082 in 8 digits, so 287082 in 6.
        let at = Utc.timestamp_opt(59, 0).unwrap();
        assert_eq!(totp.matching_step(factor(1), &sealed, "287082", at).unwrap(), Some(1));
        let later = Utc.timestamp_opt(1_111_111_109, 0).unwrap();
        assert_eq!(totp.matching_step(factor(1), &sealed, "081804", later).unwrap(), Some(37_037_036));
        // One step either way is accepted, two are not.
        assert_eq!(
            totp.matching_step(factor(1), &sealed, "081804", later + chrono::Duration::seconds(30)).unwrap(),
            Some(37_037_036)
        );
        assert_eq!(
            totp.matching_step(factor(1), &sealed, "081804", later + chrono::Duration::seconds(61)).unwrap(),
            None
        );
        assert_eq!(totp.matching_step(factor(1), &sealed, "000000", later).unwrap(), None);
    }

    #[test]
    fn provisioning_gives_a_uri_an_svg_and_a_sealed_secret_bound_to_the_factor() {
        let totp = TotpFactors::new(Some(kek(3)), Arc::new(SequentialRandom::default()));
        let made = totp.provision(factor(1), "Example Co", "alice@example.com").unwrap();
        assert_eq!(made.secret.expose().len(), 32);
        assert!(
            made.uri.starts_with("otpauth://totp/Example%20Co:alice%40example.com?algorithm=SHA1&digits=6"),
            "{}",
            made.uri
        );
        assert!(made.uri.ends_with(&format!("&issuer=Example%20Co&period=30&secret={}", made.secret.expose())));
        assert!(made.qr_svg.contains("<svg") && made.qr_svg.contains("</svg>"));
        assert!(!made.sealed.expose().contains(made.secret.expose()), "sealed at rest");
        let bytes = Secret::Encoded(made.secret.expose().to_owned()).to_bytes().unwrap();
        let now = Utc.timestamp_opt(1_900_000_000, 0).unwrap();
        let code = super::totp(bytes).generate(1_900_000_000);
        assert!(totp.matching_step(factor(1), &made.sealed, &code, now).unwrap().is_some());
        assert!(totp.matching_step(factor(2), &made.sealed, &code, now).is_err(), "moved to another factor");
        let other_kek = TotpFactors::new(Some(kek(4)), Arc::new(SequentialRandom::default()));
        assert!(other_kek.matching_step(factor(1), &made.sealed, &code, now).is_err());
        let no_kek = TotpFactors::new(None, Arc::new(SequentialRandom::default()));
        assert!(no_kek.matching_step(factor(1), &made.sealed, &code, now).is_err());
    }
}
