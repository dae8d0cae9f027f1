use std::fmt;

use chrono::{DateTime, Duration, Utc};

/// What a stored key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Signs access tokens (a private JWK).
    AccessToken,
    /// Keys refresh-token successors (a secret of random bytes).
    RefreshChain,
    /// Signs the anon and service-role API keys (a private JWK). Only the newest one counts:
    /// replacing it revokes every API key signed before.
    ApiKey,
}

impl KeyPurpose {
    /// The storage form.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccessToken => "access_token",
            Self::RefreshChain => "refresh_chain",
            Self::ApiKey => "api_key",
        }
    }

    /// Reads the storage form back.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::AccessToken, Self::RefreshChain, Self::ApiKey].into_iter().find(|p| p.as_str() == s)
    }
}

/// Secret key material (a private JWK, or a base64url secret). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyMaterial(String);

impl KeyMaterial {
    /// Wraps material from a crypto adapter or from storage.
    pub fn new(material: impl Into<String>) -> Self {
        Self(material.into())
    }

    /// The material, for the adapter that loads it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial(<redacted>)")
    }
}

/// A key kept in the database so that every replica signs and verifies with the same keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (`kid`), unique.
    pub kid: String,
    /// What it is for.
    pub purpose: KeyPurpose,
    /// Algorithm name (`ES256`, `RS256`, `HS256` for access tokens; `HMAC-SHA256` for chains).
    pub algorithm: String,
    /// The secret material.
    pub material: KeyMaterial,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it starts signing. Until then it is only published, so that every verifier (other
    /// replicas, PostgREST, clients caching the JWKS) knows it before the first token it signs.
    pub activates_at: DateTime<Utc>,
    /// When an operator retired it (a compromised key): from then on it neither signs nor
    /// verifies, whatever its place in the rotation. `None` for a key never retired.
    pub retired_at: Option<DateTime<Utc>>,
}

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    /// Published, not signing yet.
    Pending,
    /// The key new tokens are signed with.
    Signing,
    /// Replaced, but tokens it signed may still be unexpired: still published and verifying.
    Verifying,
    /// Replaced long enough ago that no token it signed is still valid, or retired at once by
    /// an operator: neither signs nor verifies.
    Retired,
}

impl KeyStatus {
    /// Lower-case name for listings.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Signing => "signing",
            Self::Verifying => "verifying",
            Self::Retired => "retired",
        }
    }
}

/// The status of each key of one purpose at `now`, newest activation first. The signing key is
/// the newest one already active and not retired by an operator; an older key keeps verifying
/// until the key that replaced it has been active for `token_lifetime` (by then every token it
/// signed has expired). A key retired by an operator is `Retired` at once; had it been the newest
/// active key, the one before it signs again (operators are told to rotate first).
pub fn key_statuses(keys: &[StoredKey], now: DateTime<Utc>, token_lifetime: Duration) -> Vec<(&StoredKey, KeyStatus)> {
    let mut ordered: Vec<&StoredKey> = keys.iter().collect();
    ordered.sort_by(|a, b| (b.activates_at, b.created_at, &b.kid).cmp(&(a.activates_at, a.created_at, &a.kid)));
    let mut statuses = Vec::with_capacity(ordered.len());
    // Activation time of the next newer active key, once one has been seen.
    let mut replaced_at: Option<DateTime<Utc>> = None;
    for key in ordered {
        let active = key.activates_at <= now;
        let status = if key.retired_at.is_some() {
            KeyStatus::Retired
        } else if !active {
            KeyStatus::Pending
        } else {
            match replaced_at {
                None => KeyStatus::Signing,
                Some(at) if now - at < token_lifetime => KeyStatus::Verifying,
                Some(_) => KeyStatus::Retired,
            }
        };
        // A retired key replaces the keys before it only if it had itself been replaced: one
        // retired while signing hands signing back rather than leave none.
        if active && (key.retired_at.is_none() || replaced_at.is_some()) {
            replaced_at = Some(key.activates_at);
        }
        statuses.push((key, status));
    }
    statuses
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn key(kid: &str, activates_minutes: i64) -> StoredKey {
        let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap();
        StoredKey {
            kid: kid.into(),
            purpose: KeyPurpose::AccessToken,
            algorithm: "ES256".into(),
            material: KeyMaterial::new("secret"),
            created_at: t0,
            activates_at: t0 + Duration::minutes(activates_minutes),
            retired_at: None,
        }
    }

    fn statuses(keys: &[StoredKey], now_minutes: i64) -> Vec<(String, KeyStatus)> {
        let now = Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap() + Duration::minutes(now_minutes);
        key_statuses(keys, now, Duration::minutes(60)).into_iter().map(|(k, s)| (k.kid.clone(), s)).collect()
    }

    #[test]
    fn a_rotation_publishes_first_then_signs_then_retires_the_old_key() {
        let keys = [key("old", 0), key("new", 100)];
        assert_eq!(statuses(&keys, 50), [("new".into(), KeyStatus::Pending), ("old".into(), KeyStatus::Signing)]);
        assert_eq!(statuses(&keys, 130), [("new".into(), KeyStatus::Signing), ("old".into(), KeyStatus::Verifying)]);
        assert_eq!(statuses(&keys, 161), [("new".into(), KeyStatus::Signing), ("old".into(), KeyStatus::Retired)]);
    }

    #[test]
    fn a_retired_key_neither_signs_nor_verifies_and_keeps_the_others_in_place() {
        let retired = |mut k: StoredKey| {
            k.retired_at = Some(k.activates_at);
            k
        };
        // Retired while verifying: the signing key stays, the older key's lifetime is unchanged.
        let keys = [key("oldest", 0), retired(key("old", 100)), key("new", 110)];
        assert_eq!(
            statuses(&keys, 130),
            [
                ("new".into(), KeyStatus::Signing),
                ("old".into(), KeyStatus::Retired),
                ("oldest".into(), KeyStatus::Verifying)
            ]
        );
        assert_eq!(statuses(&keys, 161)[2], ("oldest".into(), KeyStatus::Retired));
        // Retired while pending or signing: never used; the key before it signs again.
        let keys = [key("old", 0), retired(key("new", 100)), retired(key("next", 200))];
        assert_eq!(
            statuses(&keys, 150),
            [
                ("next".into(), KeyStatus::Retired),
                ("new".into(), KeyStatus::Retired),
                ("old".into(), KeyStatus::Signing)
            ]
        );
    }

    #[test]
    fn material_never_shows_in_debug() {
        assert!(!format!("{:?}", key("k", 0)).contains("secret"));
    }
}
