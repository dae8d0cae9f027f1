//! `[mfa]`: second factors (TOTP, recovery codes), and how they become the use cases' `MfaSettings`.

use auth_core::domain::Quota;
use auth_core::service::MfaSettings;
use serde::{Deserialize, Serialize};

/// `[mfa]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaConfig {
    /// Users may enroll TOTP factors (`GOTRUE_MFA_TOTP_ENROLL_ENABLED`).
    pub totp_enroll_enabled: bool,
    /// TOTP factors may be challenged and verified (`GOTRUE_MFA_TOTP_VERIFY_ENABLED`).
    pub totp_verify_enabled: bool,
    /// Most factors of a user, unverified ones included (`GOTRUE_MFA_MAX_ENROLLED_FACTORS`).
    pub max_enrolled_factors: u32,
    /// Most verified factors of a user (`GOTRUE_MFA_MAX_VERIFIED_FACTORS`).
    pub max_verified_factors: u32,
    /// Seconds a challenge can be answered (`GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION`).
    pub challenge_expiry_secs: u64,
    /// Seconds an unverified factor nobody challenges is kept (`GOTRUE_MFA_FACTOR_EXPIRY_DURATION`).
    pub factor_expiry_secs: u64,
    /// Verification attempts per factor and hour; past them the factor answers 429.
    pub verify_attempts_per_hour: u32,
    /// The issuer authenticator apps show; empty means the host of `site.url`.
    pub issuer: String,
    /// Users may generate recovery codes (`GOTRUE_MFA_RECOVERY_CODES_ENROLL_ENABLED`).
    pub recovery_codes_enroll_enabled: bool,
    /// Recovery codes may be used (`GOTRUE_MFA_RECOVERY_CODES_VERIFY_ENABLED`).
    pub recovery_codes_verify_enabled: bool,
    /// Codes in a set of recovery codes.
    pub recovery_code_count: u32,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            totp_enroll_enabled: true,
            totp_verify_enabled: true,
            max_enrolled_factors: 10,
            max_verified_factors: 10,
            challenge_expiry_secs: 300,
            factor_expiry_secs: 300,
            verify_attempts_per_hour: 10,
            issuer: String::new(),
            recovery_codes_enroll_enabled: true,
            recovery_codes_verify_enabled: true,
            recovery_code_count: 10,
        }
    }
}

impl MfaConfig {
    /// Why the values cannot work, if they cannot.
    pub fn problem(&self) -> Option<&'static str> {
        if !(1..=100).contains(&self.max_enrolled_factors) || !(1..=100).contains(&self.max_verified_factors) {
            return Some("mfa.max_enrolled_factors and mfa.max_verified_factors must be between 1 and 100");
        }
        if !(30..=3600).contains(&self.challenge_expiry_secs) {
            return Some("mfa.challenge_expiry_secs must be between 30 and 3600");
        }
        if !(60..=7 * 24 * 3600).contains(&self.factor_expiry_secs) {
            return Some("mfa.factor_expiry_secs must be between 60 and 604800 (one week)");
        }
        if !(1..=1000).contains(&self.verify_attempts_per_hour) {
            return Some("mfa.verify_attempts_per_hour must be between 1 and 1000");
        }
        if !(4..=50).contains(&self.recovery_code_count) {
            return Some("mfa.recovery_code_count must be between 4 and 50");
        }
        None
    }

    /// The use cases' settings, with `site_url`'s host as the issuer unless one is set.
    pub fn settings(&self, site_url: &str) -> MfaSettings {
        let issuer = if self.issuer.trim().is_empty() { site_host(site_url) } else { self.issuer.trim().to_owned() };
        MfaSettings {
            totp_enroll_enabled: self.totp_enroll_enabled,
            totp_verify_enabled: self.totp_verify_enabled,
            max_enrolled_factors: self.max_enrolled_factors,
            max_verified_factors: self.max_verified_factors,
            challenge_ttl: chrono::Duration::seconds(i64::try_from(self.challenge_expiry_secs).unwrap_or(300)),
            factor_ttl: chrono::Duration::seconds(i64::try_from(self.factor_expiry_secs).unwrap_or(300)),
            issuer,
            verify_attempts: Quota {
                limit: self.verify_attempts_per_hour,
                window: std::time::Duration::from_secs(3600),
            },
            recovery_codes_enroll_enabled: self.recovery_codes_enroll_enabled,
            recovery_codes_verify_enabled: self.recovery_codes_verify_enabled,
            recovery_code_count: self.recovery_code_count,
        }
    }
}

/// The host of the site's URL, as Supabase Auth names the TOTP issuer.
fn site_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.split(':').next().unwrap_or(host),
    };
    if host.is_empty() { "authd".into() } else { host.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuer_defaults_to_the_site_host() {
        let config = MfaConfig::default();
        assert_eq!(config.settings("https://app.example.com:8443/path").issuer, "app.example.com");
        assert_eq!(config.settings("http://[::1]:3000").issuer, "::1");
        let named = MfaConfig { issuer: "Example".into(), ..MfaConfig::default() };
        assert_eq!(named.settings("https://app.example.com").issuer, "Example");
        assert_eq!(config.problem(), None);
        assert!(MfaConfig { challenge_expiry_secs: 5, ..config.clone() }.problem().is_some());
        assert!(MfaConfig { recovery_code_count: 1, ..config }.problem().is_some());
    }
}
