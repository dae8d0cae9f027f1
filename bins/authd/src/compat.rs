//! `[compat]`: Supabase Auth's behaviour where authd's own default is deliberately safer. Each
//! such choice has a setting of its own; `supabase = true` (implied when authd runs with
//! `GOTRUE_*` variables) picks Supabase Auth's answer for every choice not set explicitly.

use serde::{Deserialize, Serialize};

/// `[compat]`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompatConfig {
    /// Behave as Supabase Auth does in every choice below that is not set, and take its
    /// defaults for the per-IP rate limits (none).
    pub supabase: bool,
    /// `POST /otp` with `create_user: false` for an address without an account answers
    /// `422 otp_disabled` (Supabase Auth) instead of `200 {}` (which reveals nothing).
    pub otp_reveals_unknown_addresses: Option<bool>,
    /// `GET /verify` (the link in a mail) redeems the link at once and redirects to the app
    /// (Supabase Auth) instead of answering a page whose button does it. The page keeps mail
    /// scanners that open every link (Microsoft Defender's Safe Links, Proofpoint, …) from using
    /// links up; redeem at once when the app's own tests or server-side callbacks follow the
    /// link without a browser, or when users' mail is not scanned.
    pub verify_links_at_once: Option<bool>,
}

impl CompatConfig {
    /// Whether `POST /otp` tells an unknown address by `otp_disabled`.
    pub fn otp_reveals_unknown_addresses(&self) -> bool {
        self.otp_reveals_unknown_addresses.unwrap_or(self.supabase)
    }
}

impl CompatConfig {
    /// Whether `GET /verify` redeems the link at once.
    pub fn verify_links_at_once(&self) -> bool {
        self.verify_links_at_once.unwrap_or(self.supabase)
    }
}

/// The configuration's defaults under `supabase = true`: Supabase Auth limits requests per IP
/// only when told which header carries the client's address (`GOTRUE_RATE_LIMIT_HEADER`), so
/// by default none of authd's per-IP limits applies; a limit set explicitly still does. The
/// per-account password throttle and the per-address mail interval are not per-IP limits and
/// stay as they are.
pub fn supabase_defaults(mut defaults: crate::config::Config) -> crate::config::Config {
    let limits = &mut defaults.rate_limits;
    limits.signup_per_minute = 0;
    limits.password_per_minute = 0;
    limits.refresh_per_minute = 0;
    limits.email_per_minute = 0;
    limits.verify_per_minute = 0;
    defaults.compat.supabase = true;
    defaults
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use crate::config::Config;

    fn per_ip(config: &Config) -> [u32; 5] {
        let l = &config.rate_limits;
        [l.signup_per_minute, l.password_per_minute, l.refresh_per_minute, l.email_per_minute, l.verify_per_minute]
    }

    #[test]
    fn the_umbrella_picks_supabase_auths_answers_unless_a_choice_is_set() {
        Jail::expect_with(|jail| {
            let safer = Config::load(None).unwrap();
            assert!(!safer.compat.otp_reveals_unknown_addresses());
            assert!(!safer.compat.verify_links_at_once(), "authd's own default: the link page");
            assert!(per_ip(&safer).iter().all(|n| *n > 0), "authd's own defaults limit per IP");

            jail.create_file("authd.toml", "[compat]\nsupabase = true\n")?;
            let supabase = Config::load(Some(Path::new("authd.toml"))).unwrap();
            assert!(supabase.compat.otp_reveals_unknown_addresses());
            assert!(supabase.compat.verify_links_at_once());
            assert_eq!(per_ip(&supabase), [0; 5], "Supabase Auth: no per-IP limit without a header");
            assert_eq!(
                supabase.rate_limits.password_failures_per_client,
                safer.rate_limits.password_failures_per_client
            );
            supabase.validate().unwrap();

            jail.create_file(
                "authd.toml",
                "[compat]\nsupabase = true\notp_reveals_unknown_addresses = false\nverify_links_at_once = false\n[rate_limits]\nsignup_per_minute = 5\n",
            )?;
            let chosen = Config::load(Some(Path::new("authd.toml"))).unwrap();
            assert!(!chosen.compat.otp_reveals_unknown_addresses(), "an explicit choice wins");
            assert!(!chosen.compat.verify_links_at_once(), "an explicit choice wins");
            assert_eq!(per_ip(&chosen), [5, 0, 0, 0, 0], "a limit set explicitly stays");
            Ok(())
        });
    }

    #[test]
    fn gotrue_variables_imply_the_umbrella() {
        Jail::expect_with(|jail| {
            jail.set_env("GOTRUE_SITE_URL", "http://localhost:3000");
            let config = Config::load(None).unwrap();
            assert!(config.compat.supabase && config.compat.otp_reveals_unknown_addresses());
            assert_eq!(per_ip(&config), [0; 5]);

            // With a rate-limit header GoTrue limits per IP, by its own defaults (per 5 minutes).
            jail.set_env("GOTRUE_RATE_LIMIT_HEADER", "X-Forwarded-For");
            jail.set_env("GOTRUE_RATE_LIMIT_VERIFY", "100");
            let limited = Config::load(None).unwrap();
            assert_eq!(per_ip(&limited), [6, 30, 30, 6, 20]);

            jail.clear_env();
            jail.set_env("GOTRUE_SITE_URL", "http://localhost:3000");
            jail.set_env("AUTHD_COMPAT__SUPABASE", "false");
            let opted_out = Config::load(None).unwrap();
            assert!(!opted_out.compat.supabase && !opted_out.compat.otp_reveals_unknown_addresses());
            assert_eq!(opted_out.rate_limits.signup_per_minute, Config::default().rate_limits.signup_per_minute);
            Ok(())
        });
    }
}
