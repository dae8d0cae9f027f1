//! Supabase Auth (GoTrue) environment variables as a configuration layer, so authd can replace a
//! GoTrue container with its environment unchanged.
//!
//! Precedence, lowest first: defaults, the TOML file, these variables, `AUTHD_*` variables. A
//! GoTrue variable that is unset or empty changes nothing, so authd's own default stays (which
//! may differ from GoTrue's). The unprefixed fallbacks GoTrue also reads (`DATABASE_URL`, `PORT`,
//! `API_EXTERNAL_URL`) count only when at least one `GOTRUE_*` variable is set: elsewhere they
//! often belong to something else (a platform's `PORT`, another app's `DATABASE_URL`).
//!
//! Units are converted: GoTrue's per-5-minute IP limits become authd's per-minute ones (rounded
//! up), Go durations (`1m30s`) become whole seconds. Values are never logged or echoed; errors
//! and warnings name the variable only.

use std::collections::BTreeMap;

use figment::value::{Dict, Map, Value};
use figment::{Error, Metadata, Profile, Provider};
use serde_json::json;

/// GoTrue's prefix.
const PREFIX: &str = "GOTRUE_";
/// GoTrue's IP rate limits count requests per five minutes; authd's per minute.
const GOTRUE_LIMIT_WINDOW_MINUTES: f64 = 5.0;
/// authd's longest emailed code lifetime (`otp.code_expiry_secs`).
const CODE_EXPIRY_MAX_SECS: u64 = 24 * 3600;
/// GoTrue raises a smaller `GOTRUE_PASSWORD_MIN_LENGTH` to this.
const GOTRUE_PASSWORD_MIN: u64 = 6;
/// GoTrue's mail link paths; authd serves one `/verify` for all four.
const URL_PATH_VARS: [&str; 4] = [
    "GOTRUE_MAILER_URLPATHS_CONFIRMATION",
    "GOTRUE_MAILER_URLPATHS_INVITE",
    "GOTRUE_MAILER_URLPATHS_RECOVERY",
    "GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE",
];

/// GoTrue's per-IP limits (per five minutes) when `GOTRUE_RATE_LIMIT_HEADER` is set: the
/// variable, the authd keys it sets and its default.
const GOTRUE_IP_LIMIT_DEFAULTS: [(&[&str], &[&str], u32); 3] = [
    (&["GOTRUE_RATE_LIMIT_TOKEN_REFRESH"], &["rate_limits.refresh_per_minute", "rate_limits.password_per_minute"], 150),
    (&["GOTRUE_RATE_LIMIT_OTP"], &["rate_limits.email_per_minute", "rate_limits.signup_per_minute"], 30),
    (&["GOTRUE_RATE_LIMIT_VERIFY"], &["rate_limits.verify_per_minute"], 30),
];

/// Which authd key each GoTrue variable sets; the first name of a row wins over the others.
/// `authd config show` and the migration guide list the same pairs.
pub const MAPPINGS: &[(&[&str], &[&str])] = &[
    (&["GOTRUE_SITE_URL"], &["site.url"]),
    (&["GOTRUE_URI_ALLOW_LIST"], &["site.redirect_allow_list"]),
    (&["API_EXTERNAL_URL"], &["site.external_url"]),
    (&["GOTRUE_DB_DATABASE_URL", "DATABASE_URL"], &["database.url"]),
    (&["GOTRUE_DB_MAX_POOL_SIZE"], &["database.max_connections"]),
    (&["GOTRUE_API_HOST"], &["server.host"]),
    (&["GOTRUE_API_PORT", "PORT"], &["server.port"]),
    (&["GOTRUE_LOG_LEVEL"], &["log.level"]),
    (&["GOTRUE_JWT_SECRET"], &["jwt.secret", "jwt.algorithm"]),
    (&["GOTRUE_JWT_KEY_ID"], &["jwt.key_id"]),
    (&["GOTRUE_JWT_KEYS"], &["jwt.keys"]),
    (&["GOTRUE_JWT_EXP"], &["jwt.expiry_secs"]),
    (&["GOTRUE_JWT_AUD"], &["jwt.audience"]),
    (&["GOTRUE_JWT_ISSUER"], &["jwt.issuer"]),
    (&["GOTRUE_JWT_DEFAULT_GROUP_NAME"], &["roles.authenticated"]),
    (&["GOTRUE_JWT_ADMIN_ROLES"], &["roles.service"]),
    (&["GOTRUE_SMTP_HOST"], &["smtp.host"]),
    (&["GOTRUE_SMTP_PORT"], &["smtp.port", "smtp.security"]),
    (&["GOTRUE_SMTP_USER"], &["smtp.username"]),
    (&["GOTRUE_SMTP_PASS"], &["smtp.password"]),
    (&["GOTRUE_SMTP_ADMIN_EMAIL"], &["smtp.from_address"]),
    (&["GOTRUE_SMTP_SENDER_NAME"], &["smtp.sender_name"]),
    (&["GOTRUE_SMTP_MAX_FREQUENCY"], &["otp.send_interval_secs"]),
    (&["GOTRUE_MAILER_AUTOCONFIRM"], &["signup.autoconfirm"]),
    (&["GOTRUE_DISABLE_SIGNUP"], &["signup.enabled"]),
    (&["GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED"], &["signup.anonymous"]),
    (&["GOTRUE_MAILER_OTP_EXP"], &["otp.link_expiry_secs", "otp.code_expiry_secs"]),
    (&["GOTRUE_MAILER_SECURE_EMAIL_CHANGE_ENABLED"], &["account.secure_email_change"]),
    (&["GOTRUE_PASSWORD_MIN_LENGTH"], &["password.min_length"]),
    (&["GOTRUE_PASSWORD_REQUIRED_CHARACTERS"], &["password.required_characters"]),
    (&["GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD"], &["password.require_current"]),
    (&["GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL"], &["sessions.reuse_interval_secs"]),
    (&["GOTRUE_SESSIONS_TIMEBOX"], &["sessions.timebox_secs"]),
    (&["GOTRUE_SESSIONS_INACTIVITY_TIMEOUT"], &["sessions.inactivity_timeout_secs"]),
    (&["GOTRUE_RATE_LIMIT_TOKEN_REFRESH"], &["rate_limits.refresh_per_minute", "rate_limits.password_per_minute"]),
    (&["GOTRUE_RATE_LIMIT_OTP"], &["rate_limits.email_per_minute", "rate_limits.signup_per_minute"]),
    (&["GOTRUE_RATE_LIMIT_VERIFY"], &["rate_limits.verify_per_minute"]),
    (&["GOTRUE_MFA_TOTP_ENROLL_ENABLED"], &["mfa.totp_enroll_enabled"]),
    (&["GOTRUE_MFA_TOTP_VERIFY_ENABLED"], &["mfa.totp_verify_enabled"]),
    (&["GOTRUE_MFA_RECOVERY_CODES_ENROLL_ENABLED"], &["mfa.recovery_codes_enroll_enabled"]),
    (&["GOTRUE_MFA_RECOVERY_CODES_VERIFY_ENABLED"], &["mfa.recovery_codes_verify_enabled"]),
    (&["GOTRUE_MFA_MAX_ENROLLED_FACTORS"], &["mfa.max_enrolled_factors"]),
    (&["GOTRUE_MFA_MAX_VERIFIED_FACTORS"], &["mfa.max_verified_factors"]),
    (&["GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION"], &["mfa.challenge_expiry_secs"]),
    (&["GOTRUE_MFA_FACTOR_EXPIRY_DURATION"], &["mfa.factor_expiry_secs"]),
    (&["GOTRUE_EXTERNAL_PHONE_ENABLED"], &["sms.enabled"]),
    (&["GOTRUE_SMS_AUTOCONFIRM"], &["sms.autoconfirm"]),
    (&["GOTRUE_SMS_OTP_EXP"], &["sms.otp_expiry_secs"]),
    (&["GOTRUE_SMS_OTP_LENGTH"], &["sms.otp_length"]),
    (&["GOTRUE_SMS_MAX_FREQUENCY"], &["sms.send_interval_secs"]),
    (&["GOTRUE_RATE_LIMIT_SMS_SENT"], &["sms.sent_limit", "sms.sent_window_secs"]),
    (&["GOTRUE_SMS_TEMPLATE"], &["sms.template"]),
    (&["GOTRUE_SMS_TEST_OTP"], &["sms.test_otp"]),
    (&["GOTRUE_SMS_TEST_OTP_VALID_UNTIL"], &["sms.test_otp_valid_until"]),
    (&["GOTRUE_SMS_PROVIDER"], &["sms.provider"]),
    (&["GOTRUE_INTERNAL_HTTP_TIMEOUT"], &["sms.timeout_secs"]),
    (&["GOTRUE_SMS_TWILIO_ACCOUNT_SID"], &["sms.twilio_account_sid"]),
    (&["GOTRUE_SMS_TWILIO_AUTH_TOKEN"], &["sms.twilio_auth_token"]),
    (&["GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID"], &["sms.twilio_message_service_sid"]),
    (&["GOTRUE_SMS_TWILIO_CONTENT_SID"], &["sms.twilio_content_sid"]),
    (&["GOTRUE_SMS_TWILIO_VERIFY_ACCOUNT_SID"], &["sms.twilio_verify_account_sid"]),
    (&["GOTRUE_SMS_TWILIO_VERIFY_AUTH_TOKEN"], &["sms.twilio_verify_auth_token"]),
    (&["GOTRUE_SMS_TWILIO_VERIFY_MESSAGE_SERVICE_SID"], &["sms.twilio_verify_message_service_sid"]),
    (&["GOTRUE_SMS_MESSAGEBIRD_ACCESS_KEY"], &["sms.messagebird_access_key"]),
    (&["GOTRUE_SMS_MESSAGEBIRD_ORIGINATOR"], &["sms.messagebird_originator"]),
    (&["GOTRUE_SMS_TEXTLOCAL_API_KEY"], &["sms.textlocal_api_key"]),
    (&["GOTRUE_SMS_TEXTLOCAL_SENDER"], &["sms.textlocal_sender"]),
    (&["GOTRUE_SMS_VONAGE_API_KEY"], &["sms.vonage_api_key"]),
    (&["GOTRUE_SMS_VONAGE_API_SECRET"], &["sms.vonage_api_secret"]),
    (&["GOTRUE_SMS_VONAGE_FROM"], &["sms.vonage_from"]),
];

/// GoTrue variables read without being mapped one to one: the link paths shape
/// `site.external_url`; the driver can only be `postgres`; the rate-limit header turns on
/// GoTrue's default per-IP limits (authd finds the client's address its own way).
const CONSUMED: &[&str] = &[
    "GOTRUE_RATE_LIMIT_HEADER",
    "GOTRUE_MAILER_URLPATHS_CONFIRMATION",
    "GOTRUE_MAILER_URLPATHS_INVITE",
    "GOTRUE_MAILER_URLPATHS_RECOVERY",
    "GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE",
    "GOTRUE_DB_DRIVER",
];

/// The GoTrue variables of one environment, read once.
#[derive(Clone, Default)]
pub struct GotrueEnv {
    /// Set, non-empty variables by name. Values are secrets as often as not: never printed.
    vars: BTreeMap<String, String>,
}

impl std::fmt::Debug for GotrueEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GotrueEnv").field("names", &self.vars.keys().collect::<Vec<_>>()).finish()
    }
}

impl GotrueEnv {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Self::from_vars(std::env::vars())
    }

    /// The GoTrue variables among `vars` (name, value); empty values count as unset, as a compose
    /// file's `GOTRUE_SMTP_USER: ${SMTP_USER}` with nothing behind it should.
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Self {
        let all: BTreeMap<String, String> = vars.into_iter().filter(|(_, v)| !v.trim().is_empty()).collect();
        let gotrue_mode = all.keys().any(|k| k.starts_with(PREFIX));
        let vars = all
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with(PREFIX)
                    || (gotrue_mode && matches!(k.as_str(), "DATABASE_URL" | "PORT" | "API_EXTERNAL_URL"))
            })
            .collect();
        Self { vars }
    }

    /// Whether any GoTrue variable is set.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty()
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim())
    }

    /// The first set variable of a row, with its name.
    fn first<'a>(&'a self, names: &[&'a str]) -> Option<(&'a str, &'a str)> {
        names.iter().find_map(|name| self.get(name).map(|value| (*name, value)))
    }

    /// Set `GOTRUE_*` variables authd has no counterpart for, or could not carry as they are:
    /// their names only, for a warning at start-up.
    pub fn uncarried(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .vars
            .keys()
            .filter(|name| name.starts_with(PREFIX))
            .filter(|name| !CONSUMED.contains(&name.as_str()))
            .filter(|name| !MAPPINGS.iter().any(|(vars, _)| vars.contains(&name.as_str())))
            .cloned()
            .collect();
        if self.get("GOTRUE_DB_MAX_POOL_SIZE") == Some("0") {
            names.push("GOTRUE_DB_MAX_POOL_SIZE (0, unlimited, has no equivalent)".into());
        }
        if self.get("GOTRUE_JWT_ADMIN_ROLES").is_some_and(|roles| roles.contains(',')) {
            names.push("GOTRUE_JWT_ADMIN_ROLES (only the first role is carried)".into());
        }
        if self.link_prefix().is_err() {
            names.push("GOTRUE_MAILER_URLPATHS_* (they differ, or do not end in /verify)".into());
        }
        names
    }

    /// The nested authd configuration these variables describe.
    pub fn translate(&self) -> Result<serde_json::Value, String> {
        let mut out = serde_json::Map::new();
        let mut put = |key: &str, value: serde_json::Value| insert(&mut out, key, value);
        let text = |names: &[&str]| self.first(names).map(|(_, v)| json!(v));

        if let Some(v) = text(&["GOTRUE_SITE_URL"]) {
            put("site.url", v);
        }
        if let Some((_, list)) = self.first(&["GOTRUE_URI_ALLOW_LIST"]) {
            let entries: Vec<&str> = list.split(',').map(str::trim).filter(|e| !e.is_empty()).collect();
            put("site.redirect_allow_list", json!(entries));
        }
        if let Some(url) = self.external_url()? {
            put("site.external_url", json!(url));
        }
        if let Some(v) = text(&["GOTRUE_DB_DATABASE_URL", "DATABASE_URL"]) {
            put("database.url", v);
        }
        if let Some((name, v)) = self.first(&["GOTRUE_DB_MAX_POOL_SIZE"]) {
            let size = whole(name, v)?;
            if size > 0 {
                put("database.max_connections", json!(size));
            }
        }
        if let Some(v) = text(&["GOTRUE_API_HOST"]) {
            put("server.host", v);
        }
        if let Some((name, v)) = self.first(&["GOTRUE_API_PORT", "PORT"]) {
            put("server.port", json!(whole(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_LOG_LEVEL"]) {
            put("log.level", json!(log_level(name, v)?));
        }
        if let Some(v) = text(&["GOTRUE_JWT_SECRET"]) {
            // GoTrue signs with this secret, HS256; the API keys of a Supabase stack are HS256
            // tokens made with it, so authd must use the same algorithm to accept them.
            put("jwt.secret", v);
            put("jwt.algorithm", json!("HS256"));
        }
        if let Some(v) = text(&["GOTRUE_JWT_KEY_ID"]) {
            put("jwt.key_id", v);
        }
        if let Some(v) = text(&["GOTRUE_JWT_KEYS"]) {
            // GoTrue's own set of signing and verifying keys; it decides the algorithms, and
            // JWT_SECRET then only checks HS256 tokens without a kid (see `jwt.keys`).
            put("jwt.keys", v);
        }
        if let Some((name, v)) = self.first(&["GOTRUE_JWT_EXP"]) {
            put("jwt.expiry_secs", json!(whole(name, v)?));
        }
        if let Some(v) = text(&["GOTRUE_JWT_AUD"]) {
            put("jwt.audience", v);
        }
        if let Some(v) = text(&["GOTRUE_JWT_ISSUER"]) {
            put("jwt.issuer", v);
        }
        if let Some(v) = text(&["GOTRUE_JWT_DEFAULT_GROUP_NAME"]) {
            put("roles.authenticated", v);
        }
        if let Some((_, roles)) = self.first(&["GOTRUE_JWT_ADMIN_ROLES"])
            && let Some(first) = roles.split(',').map(str::trim).find(|r| !r.is_empty())
        {
            put("roles.service", json!(first));
        }
        if let Some(v) = text(&["GOTRUE_SMTP_HOST"]) {
            put("smtp.host", v);
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SMTP_PORT"]) {
            let port = whole(name, v)?;
            put("smtp.port", json!(port));
            // GoTrue's mailer speaks implicit TLS on 465 and STARTTLS elsewhere.
            put("smtp.security", json!(if port == 465 { "tls" } else { "starttls" }));
        }
        if let Some(v) = text(&["GOTRUE_SMTP_USER"]) {
            put("smtp.username", v);
        }
        if let Some(v) = text(&["GOTRUE_SMTP_PASS"]) {
            put("smtp.password", v);
        }
        if let Some(v) = text(&["GOTRUE_SMTP_ADMIN_EMAIL"]) {
            put("smtp.from_address", v);
        }
        if let Some(v) = text(&["GOTRUE_SMTP_SENDER_NAME"]) {
            put("smtp.sender_name", v);
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SMTP_MAX_FREQUENCY"]) {
            put("otp.send_interval_secs", json!(go_duration_secs(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_MAILER_AUTOCONFIRM"]) {
            put("signup.autoconfirm", json!(go_bool(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_DISABLE_SIGNUP"]) {
            put("signup.enabled", json!(!go_bool(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED"]) {
            put("signup.anonymous", json!(go_bool(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_MAILER_OTP_EXP"]) {
            // One lifetime for links and codes in GoTrue; authd caps codes at a day.
            let secs = whole(name, v)?;
            put("otp.link_expiry_secs", json!(secs));
            put("otp.code_expiry_secs", json!(secs.min(CODE_EXPIRY_MAX_SECS)));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_MAILER_SECURE_EMAIL_CHANGE_ENABLED"]) {
            put("account.secure_email_change", json!(go_bool(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_PASSWORD_MIN_LENGTH"]) {
            put("password.min_length", json!(whole(name, v)?.max(GOTRUE_PASSWORD_MIN)));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_PASSWORD_REQUIRED_CHARACTERS"]) {
            put("password.required_characters", json!(character_classes(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SECURITY_UPDATE_PASSWORD_REQUIRE_CURRENT_PASSWORD"]) {
            put("password.require_current", json!(go_bool(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SECURITY_REFRESH_TOKEN_REUSE_INTERVAL"]) {
            put("sessions.reuse_interval_secs", json!(whole(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SESSIONS_TIMEBOX"]) {
            put("sessions.timebox_secs", json!(go_duration_secs(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SESSIONS_INACTIVITY_TIMEOUT"]) {
            put("sessions.inactivity_timeout_secs", json!(go_duration_secs(name, v)?));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_RATE_LIMIT_TOKEN_REFRESH"]) {
            let per_minute = per_minute(name, v)?;
            put("rate_limits.refresh_per_minute", json!(per_minute));
            put("rate_limits.password_per_minute", json!(per_minute));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_RATE_LIMIT_OTP"]) {
            let per_minute = per_minute(name, v)?;
            put("rate_limits.email_per_minute", json!(per_minute));
            put("rate_limits.signup_per_minute", json!(per_minute));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_RATE_LIMIT_VERIFY"]) {
            put("rate_limits.verify_per_minute", json!(per_minute(name, v)?));
        }
        self.translate_mfa(&mut put)?;
        self.translate_sms(&mut put)?;
        if self.vars.keys().any(|name| name.starts_with(PREFIX)) {
            // A GoTrue environment means an application written against Supabase Auth.
            put("compat.supabase", json!(true));
        }
        if self.get("GOTRUE_RATE_LIMIT_HEADER").is_some() {
            // GoTrue limits per IP only with this header set, then by its own defaults.
            for (names, keys, default) in GOTRUE_IP_LIMIT_DEFAULTS {
                if self.first(names).is_none() {
                    let per_minute = per_minute(names[0], &default.to_string())?;
                    keys.iter().for_each(|key| put(key, json!(per_minute)));
                }
            }
        }
        Ok(serde_json::Value::Object(out))
    }

    /// The path in front of `/verify` that GoTrue's link paths put in emailed links; `""` when
    /// none is set (GoTrue's default `/verify`).
    fn link_prefix(&self) -> Result<String, String> {
        let paths: Vec<&str> = URL_PATH_VARS.iter().filter_map(|name| self.get(name)).collect();
        let Some(first) = paths.first() else { return Ok(String::new()) };
        if paths.iter().any(|p| p != first) {
            return Err("GOTRUE_MAILER_URLPATHS_* differ from each other; authd has one verify path".into());
        }
        match first.strip_suffix("/verify") {
            Some(prefix) if first.starts_with('/') => Ok(prefix.to_owned()),
            _ => Err("GOTRUE_MAILER_URLPATHS_* must be an absolute path ending in /verify to be carried".into()),
        }
    }

    /// `site.external_url` from `API_EXTERNAL_URL`: GoTrue resolves its (absolute) link path
    /// against it, which keeps only the scheme, host and port; authd appends `/verify` to the
    /// external URL, so the URL is the origin plus the link path's prefix.
    fn external_url(&self) -> Result<Option<String>, String> {
        let Some(external) = self.get("API_EXTERNAL_URL") else { return Ok(None) };
        let Some((scheme, rest)) = external.split_once("://") else {
            return Err("API_EXTERNAL_URL must be an http:// or https:// URL".into());
        };
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        // Link paths that cannot be carried leave the external URL as it was given.
        let url = match self.link_prefix() {
            Ok(prefix) => format!("{scheme}://{host}{prefix}"),
            Err(_) => external.trim_end_matches('/').to_owned(),
        };
        Ok(Some(url))
    }
}

/// What a migration from GoTrue should hear about: that GoTrue variables were read, and which of
/// them authd cannot carry (names only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remarks {
    /// Says that `GOTRUE_*` variables were read and that `AUTHD_*` ones win.
    pub read: &'static str,
    /// One sentence per variable without effect.
    pub uncarried: Vec<String>,
}

/// The remarks on this process's `GOTRUE_*` variables; `None` when there are none.
pub fn remarks() -> Option<Remarks> {
    let env = GotrueEnv::from_process();
    if env.is_empty() {
        return None;
    }
    Some(Remarks {
        read: "read Supabase Auth (GOTRUE_*) variables; AUTHD_* variables override them",
        uncarried: env
            .uncarried()
            .into_iter()
            .map(|name| format!("{name} has no effect in authd (docs/migrating.md)"))
            .collect(),
    })
}

/// Sets `value` at a dotted `key`, creating the tables on the way.
fn insert(root: &mut serde_json::Map<String, serde_json::Value>, key: &str, value: serde_json::Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut table = root;
    for part in parts {
        let entry = table.entry(part.to_owned()).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        let Some(next) = entry.as_object_mut() else { return };
        table = next;
    }
    table.insert(last.to_owned(), value);
}

/// A non-negative whole number.
fn whole(name: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| format!("{name} must be a whole number of at least 0"))
}

impl GotrueEnv {
    /// `GOTRUE_MFA_*`: GoTrue raises challenge and factor lifetimes under 300 seconds to 300.
    fn translate_mfa(&self, put: &mut impl FnMut(&str, serde_json::Value)) -> Result<(), String> {
        for (var, key) in [
            ("GOTRUE_MFA_TOTP_ENROLL_ENABLED", "mfa.totp_enroll_enabled"),
            ("GOTRUE_MFA_TOTP_VERIFY_ENABLED", "mfa.totp_verify_enabled"),
            ("GOTRUE_MFA_RECOVERY_CODES_ENROLL_ENABLED", "mfa.recovery_codes_enroll_enabled"),
            ("GOTRUE_MFA_RECOVERY_CODES_VERIFY_ENABLED", "mfa.recovery_codes_verify_enabled"),
        ] {
            if let Some((name, v)) = self.first(&[var]) {
                put(key, json!(go_bool(name, v)?));
            }
        }
        for (var, key) in [
            ("GOTRUE_MFA_MAX_ENROLLED_FACTORS", "mfa.max_enrolled_factors"),
            ("GOTRUE_MFA_MAX_VERIFIED_FACTORS", "mfa.max_verified_factors"),
        ] {
            if let Some((name, v)) = self.first(&[var]) {
                // GoTrue reads the first as a float.
                let n: f64 = v.parse().map_err(|_| format!("{name} must be a number"))?;
                if !n.is_finite() || !(0.0..=1e6).contains(&n) {
                    return Err(format!("{name} must be a number"));
                }
                put(key, json!(n.floor() as u64));
            }
        }
        if let Some((name, v)) = self.first(&["GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION"]) {
            let secs: f64 = v.parse().map_err(|_| format!("{name} must be a number of seconds"))?;
            if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
                return Err(format!("{name} must be a number of seconds"));
            }
            put("mfa.challenge_expiry_secs", json!((secs.ceil() as u64).max(300)));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_MFA_FACTOR_EXPIRY_DURATION"]) {
            put("mfa.factor_expiry_secs", json!(go_duration_secs(name, v)?.max(300)));
        }
        Ok(())
    }
}

impl GotrueEnv {
    /// `GOTRUE_EXTERNAL_PHONE_ENABLED`, `GOTRUE_SMS_*` and `GOTRUE_RATE_LIMIT_SMS_SENT`. GoTrue
    /// reads `SMS_MAX_FREQUENCY` as a Go duration; a bare number (the README's seconds) is
    /// accepted too. Its zero values mean its defaults (60 s, a length of 6).
    fn translate_sms(&self, put: &mut impl FnMut(&str, serde_json::Value)) -> Result<(), String> {
        for (var, key) in
            [("GOTRUE_EXTERNAL_PHONE_ENABLED", "sms.enabled"), ("GOTRUE_SMS_AUTOCONFIRM", "sms.autoconfirm")]
        {
            if let Some((name, v)) = self.first(&[var]) {
                put(key, json!(go_bool(name, v)?));
            }
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SMS_OTP_EXP"]) {
            let secs = whole(name, v)?;
            put("sms.otp_expiry_secs", json!(if secs == 0 { 60 } else { secs }));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SMS_OTP_LENGTH"]) {
            let length = whole(name, v)?;
            put("sms.otp_length", json!(if (6..=10).contains(&length) { length } else { 6 }));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SMS_MAX_FREQUENCY"]) {
            let secs = match v.parse::<u64>() {
                Ok(secs) => secs,
                Err(_) => go_duration_secs(name, v)?,
            };
            put("sms.send_interval_secs", json!(if secs == 0 { 60 } else { secs }));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_INTERNAL_HTTP_TIMEOUT"]) {
            put("sms.timeout_secs", json!(go_duration_secs(name, v)?.max(1)));
        }
        if let Some((name, v)) = self.first(&["GOTRUE_RATE_LIMIT_SMS_SENT"]) {
            // "N": N an hour. "N/duration": a burst of N, one more each duration.
            let problem = || format!("{name} must be a number, or a number/duration such as 10/1m");
            let (count, window) = match v.split_once('/') {
                None => (v.parse::<f64>().map_err(|_| problem())?, 3600),
                Some((n, every)) => {
                    let n = n.trim().parse::<f64>().map_err(|_| problem())?;
                    let every = go_duration_secs(name, every.trim())?;
                    (n, (every as f64 * n).ceil() as u64)
                }
            };
            if !count.is_finite() || count < 0.0 {
                return Err(problem());
            }
            put("sms.sent_limit", json!(count.floor() as u64));
            put("sms.sent_window_secs", json!(window.max(1)));
        }
        for (var, key) in [
            ("GOTRUE_SMS_TEMPLATE", "sms.template"),
            ("GOTRUE_SMS_TEST_OTP_VALID_UNTIL", "sms.test_otp_valid_until"),
            ("GOTRUE_SMS_PROVIDER", "sms.provider"),
            ("GOTRUE_SMS_TWILIO_ACCOUNT_SID", "sms.twilio_account_sid"),
            ("GOTRUE_SMS_TWILIO_AUTH_TOKEN", "sms.twilio_auth_token"),
            ("GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID", "sms.twilio_message_service_sid"),
            ("GOTRUE_SMS_TWILIO_CONTENT_SID", "sms.twilio_content_sid"),
            ("GOTRUE_SMS_TWILIO_VERIFY_ACCOUNT_SID", "sms.twilio_verify_account_sid"),
            ("GOTRUE_SMS_TWILIO_VERIFY_AUTH_TOKEN", "sms.twilio_verify_auth_token"),
            ("GOTRUE_SMS_TWILIO_VERIFY_MESSAGE_SERVICE_SID", "sms.twilio_verify_message_service_sid"),
            ("GOTRUE_SMS_MESSAGEBIRD_ACCESS_KEY", "sms.messagebird_access_key"),
            ("GOTRUE_SMS_MESSAGEBIRD_ORIGINATOR", "sms.messagebird_originator"),
            ("GOTRUE_SMS_TEXTLOCAL_API_KEY", "sms.textlocal_api_key"),
            ("GOTRUE_SMS_TEXTLOCAL_SENDER", "sms.textlocal_sender"),
            ("GOTRUE_SMS_VONAGE_API_KEY", "sms.vonage_api_key"),
            ("GOTRUE_SMS_VONAGE_API_SECRET", "sms.vonage_api_secret"),
            ("GOTRUE_SMS_VONAGE_FROM", "sms.vonage_from"),
        ] {
            if let Some((_, v)) = self.first(&[var]) {
                put(key, json!(v));
            }
        }
        if let Some((name, v)) = self.first(&["GOTRUE_SMS_TEST_OTP"]) {
            // envconfig's map syntax: `number:code,number:code`.
            let mut numbers = serde_json::Map::new();
            for pair in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (number, code) =
                    pair.split_once(':').ok_or_else(|| format!("{name} must read number:code,number:code"))?;
                let number = auth_core::domain::Phone::format(number.trim());
                numbers.insert(number, json!(code.trim()));
            }
            put("sms.test_otp", serde_json::Value::Object(numbers));
        }
        Ok(())
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(name: &str, value: &str) -> Result<bool, String> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("{name} must be true or false")),
    }
}

/// A Go duration (`90s`, `1m30s`, `1.5h`, `500ms`) in whole seconds, rounded up.
fn go_duration_secs(name: &str, value: &str) -> Result<u64, String> {
    let problem = || format!("{name} must be a Go duration such as 60s, 1m30s or 24h");
    if value == "0" {
        return Ok(0);
    }
    let mut rest = value.strip_prefix('+').unwrap_or(value);
    if rest.is_empty() {
        return Err(problem());
    }
    let mut seconds = 0.0_f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        let amount: f64 = number.parse().map_err(|_| problem())?;
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(problem()),
        };
        seconds += amount * scale;
        rest = tail;
    }
    if !seconds.is_finite() || seconds > u32::MAX as f64 {
        return Err(problem());
    }
    Ok(seconds.ceil() as u64)
}

/// A GoTrue per-5-minute IP limit as authd's per-minute one, rounded up so a limit stays on.
fn per_minute(name: &str, value: &str) -> Result<u64, String> {
    let per_window: f64 = value.parse().map_err(|_| format!("{name} must be a number"))?;
    if !per_window.is_finite() || per_window <= 0.0 || per_window > 1e9 {
        // authd reads 0 as "no limit"; GoTrue does not, so refuse rather than open the gate.
        return Err(format!(
            "{name} must be a positive number; to turn the limit off set the authd variable instead \
             (AUTHD_RATE_LIMITS__..._PER_MINUTE=0)"
        ));
    }
    Ok((per_window / GOTRUE_LIMIT_WINDOW_MINUTES).ceil() as u64)
}

/// GoTrue's log levels as a tracing filter.
fn log_level(name: &str, value: &str) -> Result<&'static str, String> {
    match value.to_ascii_lowercase().as_str() {
        "panic" | "fatal" | "error" => Ok("error"),
        "warn" | "warning" => Ok("warn"),
        "info" => Ok("info"),
        "debug" => Ok("debug"),
        "trace" => Ok("trace"),
        _ => Err(format!("{name} must be one of panic, fatal, error, warn, info, debug, trace")),
    }
}

/// GoTrue's required character sets (`abc…:ABC…:012…`, `\:` for a colon) as authd's classes.
/// Each set must be all lower-case letters, all upper-case letters, all digits or all symbols.
fn character_classes(name: &str, value: &str) -> Result<Vec<&'static str>, String> {
    let mut sets: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&':') => {
                current.push(':');
                chars.next();
            }
            ':' => sets.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    sets.push(current);
    let mut classes = Vec::new();
    for set in sets.iter().filter(|s| !s.is_empty()) {
        let class = if set.chars().all(|c| c.is_lowercase()) {
            "lowercase"
        } else if set.chars().all(|c| c.is_uppercase()) {
            "uppercase"
        } else if set.chars().all(|c| c.is_ascii_digit()) {
            "digit"
        } else if set.chars().all(|c| !c.is_alphanumeric() && !c.is_whitespace()) {
            "symbol"
        } else {
            return Err(format!(
                "{name}: a set mixes kinds of characters; authd requires classes (lowercase, uppercase, digit, \
                 symbol): set AUTHD_PASSWORD__REQUIRED_CHARACTERS instead"
            ));
        };
        if !classes.contains(&class) {
            classes.push(class);
        }
    }
    Ok(classes)
}

impl Provider for GotrueEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("GoTrue environment variable").interpolater(|_profile, keys| {
            let key = keys.join(".");
            MAPPINGS
                .iter()
                .find(|(_, targets)| targets.contains(&key.as_str()))
                .map(|(vars, _)| vars.join(" or "))
                .unwrap_or(key)
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let nested = self.translate().map_err(Error::from)?;
        let dict = Value::serialize(nested)?.into_dict().ok_or_else(|| Error::from("not a table".to_owned()))?;
        Ok(Profile::Default.collect(dict))
    }
}

#[cfg(test)]
// figment::Jail fixes the closure's error type; its size is not ours to choose.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use super::*;
    use crate::config::{Config, JwtAlgorithm};

    #[test]
    fn authd_variables_beat_gotrue_ones_which_beat_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "authd.toml",
                "[server]\nport = 8080\nhost = \"10.0.0.1\"\n[site]\nurl = \"https://file\"\n",
            )?;
            jail.set_env("GOTRUE_API_PORT", "9998");
            jail.set_env("GOTRUE_API_HOST", "0.0.0.0");
            jail.set_env("AUTHD_SERVER__PORT", "9090");
            jail.set_env("GOTRUE_JWT_SECRET", "a-shared-secret-of-at-least-32-bytes!");
            jail.set_env("GOTRUE_JWT_EXP", "600");
            jail.set_env("GOTRUE_DISABLE_SIGNUP", "true");
            jail.set_env("GOTRUE_SMTP_PASS", "");
            let config = Config::load(Some(Path::new("authd.toml"))).unwrap();
            assert_eq!(config.server.port, 9090, "AUTHD_ beats GOTRUE_");
            assert_eq!(config.server.host, "0.0.0.0", "GOTRUE_ beats the file");
            assert_eq!(config.site.url, "https://file", "the file beats defaults");
            assert_eq!(config.jwt.algorithm, JwtAlgorithm::HS256);
            assert_eq!(config.jwt.expiry_secs, 600);
            assert!(!config.signup.enabled);
            assert!(config.smtp.password.is_none(), "empty is unset");
            config.validate().unwrap();
            assert!(!config.to_redacted_toml().unwrap().contains("a-shared-secret"));
            Ok(())
        });
    }

    #[test]
    fn a_bad_gotrue_value_is_refused_by_name() {
        Jail::expect_with(|jail| {
            jail.set_env("GOTRUE_API_PORT", "99999");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("GOTRUE_API_PORT"), "{err}");
            Ok(())
        });
        Jail::expect_with(|jail| {
            jail.set_env("GOTRUE_SESSIONS_TIMEBOX", "one day");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("GOTRUE_SESSIONS_TIMEBOX"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn a_supabase_compose_environment_loads_and_validates() {
        Jail::expect_with(|jail| {
            for (name, value) in [
                ("GOTRUE_API_HOST", "0.0.0.0"),
                ("GOTRUE_API_PORT", "9999"),
                ("API_EXTERNAL_URL", "http://localhost:8000"),
                ("GOTRUE_DB_DRIVER", "postgres"),
                ("GOTRUE_DB_DATABASE_URL", "postgres://supabase_auth_admin:pw@db:5432/postgres"),
                ("GOTRUE_SITE_URL", "http://localhost:3000"),
                ("GOTRUE_URI_ALLOW_LIST", ""),
                ("GOTRUE_DISABLE_SIGNUP", "false"),
                ("GOTRUE_JWT_ADMIN_ROLES", "service_role"),
                ("GOTRUE_JWT_AUD", "authenticated"),
                ("GOTRUE_JWT_DEFAULT_GROUP_NAME", "authenticated"),
                ("GOTRUE_JWT_EXP", "3600"),
                ("GOTRUE_JWT_SECRET", "q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b"),
                ("GOTRUE_EXTERNAL_EMAIL_ENABLED", "true"),
                ("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", "false"),
                ("GOTRUE_MAILER_AUTOCONFIRM", "false"),
                ("GOTRUE_SMTP_ADMIN_EMAIL", "admin@example.com"),
                ("GOTRUE_SMTP_HOST", "supabase-mail"),
                ("GOTRUE_SMTP_PORT", "2500"),
                ("GOTRUE_SMTP_USER", "fake_mail_user"),
                ("GOTRUE_SMTP_PASS", "fake_mail_password"),
                ("GOTRUE_SMTP_SENDER_NAME", "fake_sender"),
                ("GOTRUE_MAILER_URLPATHS_INVITE", "/auth/v1/verify"),
                ("GOTRUE_MAILER_URLPATHS_CONFIRMATION", "/auth/v1/verify"),
                ("GOTRUE_MAILER_URLPATHS_RECOVERY", "/auth/v1/verify"),
                ("GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE", "/auth/v1/verify"),
                ("GOTRUE_EXTERNAL_PHONE_ENABLED", "true"),
                ("GOTRUE_SMS_AUTOCONFIRM", "true"),
                ("AUTHD_SERVER__BASE_PATH", "/"),
            ] {
                jail.set_env(name, value);
            }
            let config = Config::load(None).unwrap();
            assert_eq!(config.verify_url(), "http://localhost:8000/auth/v1/verify");
            assert_eq!(config.database.url.expose(), "postgres://supabase_auth_admin:pw@db:5432/postgres");
            assert_eq!(config.smtp.port, Some(2500));
            assert_eq!(config.server.base_path, "/");
            // authd requires STARTTLS where GoTrue only tried it: a sink without TLS needs
            // AUTHD_SMTP__SECURITY=none (and no credentials), as docs/migrating.md says.
            assert_eq!(config.smtp.security, crate::config::SmtpSecurity::Starttls);
            config.validate().unwrap();
            // The compose file's own placeholder secret is public: authd refuses to start with it.
            jail.set_env("GOTRUE_JWT_SECRET", "your-super-secret-jwt-token-with-at-least-32-characters-long");
            let refused = Config::load(None).and_then(|c| c.validate()).unwrap_err().to_string();
            assert!(refused.contains("jwt.secret") && refused.contains("published"), "{refused}");
            assert!(config.sms.enabled && config.sms.autoconfirm, "phone sign-in is carried");
            let names = GotrueEnv::from_process().uncarried();
            assert!(!names.contains(&"GOTRUE_EXTERNAL_PHONE_ENABLED".to_owned()), "{names:?}");
            Ok(())
        });
    }

    #[test]
    fn sms_variables_map_with_gotrue_units_and_defaults() {
        let env = GotrueEnv::from_vars(
            [
                ("GOTRUE_EXTERNAL_PHONE_ENABLED", "true"),
                ("GOTRUE_SMS_MAX_FREQUENCY", "1m30s"),
                ("GOTRUE_SMS_OTP_LENGTH", "4"),
                ("GOTRUE_SMS_OTP_EXP", "0"),
                ("GOTRUE_RATE_LIMIT_SMS_SENT", "10/1m"),
                ("GOTRUE_SMS_TEST_OTP", "+1 555 000 1234:123456,15550004321:654321"),
                ("GOTRUE_SMS_PROVIDER", "vonage"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let out = env.translate().unwrap();
        assert_eq!(out["sms"]["enabled"], json!(true));
        assert_eq!(out["sms"]["send_interval_secs"], json!(90));
        assert_eq!(out["sms"]["otp_length"], json!(6));
        assert_eq!(out["sms"]["otp_expiry_secs"], json!(60));
        assert_eq!((&out["sms"]["sent_limit"], &out["sms"]["sent_window_secs"]), (&json!(10), &json!(600)));
        assert_eq!(out["sms"]["test_otp"], json!({"15550001234": "123456", "15550004321": "654321"}));
        assert_eq!(out["sms"]["provider"], json!("vonage"));
        let bare = GotrueEnv::from_vars([("GOTRUE_SMS_MAX_FREQUENCY".to_owned(), "45".to_owned())]);
        assert_eq!(bare.translate().unwrap()["sms"]["send_interval_secs"], json!(45));
    }

    #[test]
    fn gotrue_jwt_keys_are_read_as_gotrue_reads_them_beside_the_secret() {
        use base64::Engine;
        const SECRET: &str = "q0mO6pXk1x5yV4+7Qq1B0jv7dFmVQ3nT8yH2s9cRkZl1a5wE3uJ6pY0tGiX4oN2b";
        let es256 = auth_crypto::SigningKey::generate(auth_crypto::JwtAlgorithm::ES256).unwrap();
        let mut signing_jwk: serde_json::Value = serde_json::from_str(&es256.to_private_jwk_json()).unwrap();
        signing_jwk["kid"] = json!("asymmetric-1");
        signing_jwk["key_ops"] = json!(["sign", "verify"]);
        let oct = |secret: &str| {
            json!({"kty": "oct", "kid": "legacy", "key_ops": ["verify"],
                   "k": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)})
        };
        Jail::expect_with(|jail| {
            jail.set_env("GOTRUE_JWT_SECRET", SECRET);
            jail.set_env("GOTRUE_JWT_KEY_ID", "legacy");
            jail.set_env("GOTRUE_JWT_KEYS", json!([oct(SECRET), signing_jwk]).to_string());
            let config = Config::load(None).unwrap();
            config.validate().unwrap();
            assert_eq!(config.jwt.key_id, "legacy");
            let settings = crate::wiring::key_settings(&config).unwrap();
            let crate::keys::AccessKeySource::Configured { signing, verify_only } = settings.access else {
                panic!("the key set is the configured ring");
            };
            assert_eq!((signing.kid(), signing.alg()), ("asymmetric-1", auth_crypto::JwtAlgorithm::ES256));
            assert_eq!(verify_only.iter().map(|k| k.kid()).collect::<Vec<_>>(), ["legacy"]);
            assert!(!config.to_redacted_toml().unwrap().contains("asymmetric-1"), "the set is a secret");

            // GoTrue checks kid-less HS256 tokens with JWT_SECRET, authd with the set's HS256 key.
            jail.set_env(
                "GOTRUE_JWT_KEYS",
                json!([oct("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"), signing_jwk])
                    .to_string(),
            );
            let refused = Config::load(None).unwrap().validate().unwrap_err().to_string();
            assert!(refused.contains("jwt.secret differs from the HS256 key of jwt.keys"), "{refused}");
            assert!(!refused.contains(SECRET));
            jail.set_env("GOTRUE_JWT_KEYS", json!([oct(SECRET)]).to_string());
            let refused = Config::load(None).unwrap().validate().unwrap_err().to_string();
            assert!(refused.contains("no key has sign"), "{refused}");
            Ok(())
        });
    }

    fn env(pairs: &[(&str, &str)]) -> GotrueEnv {
        GotrueEnv::from_vars(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
    }

    #[test]
    fn unprefixed_fallbacks_count_only_next_to_gotrue_variables() {
        let alone = env(&[("DATABASE_URL", "postgres://other/app"), ("PORT", "5000")]);
        assert!(alone.is_empty());
        assert_eq!(alone.translate().unwrap(), json!({}));
        let with = env(&[("DATABASE_URL", "postgres://db/app"), ("PORT", "5000"), ("GOTRUE_SITE_URL", "https://a.b")]);
        let out = with.translate().unwrap();
        assert_eq!(out["database"]["url"], "postgres://db/app");
        assert_eq!(out["server"]["port"], 5000);
        let prefixed = env(&[("DATABASE_URL", "postgres://x/y"), ("GOTRUE_DB_DATABASE_URL", "postgres://db/gotrue")]);
        assert_eq!(prefixed.translate().unwrap()["database"]["url"], "postgres://db/gotrue", "prefixed wins");
    }

    #[test]
    fn units_are_converted() {
        let out = env(&[
            ("GOTRUE_SMTP_MAX_FREQUENCY", "1m30s"),
            ("GOTRUE_SESSIONS_TIMEBOX", "24h"),
            ("GOTRUE_SESSIONS_INACTIVITY_TIMEOUT", "1.5h"),
            ("GOTRUE_MAILER_OTP_EXP", "172800"),
            ("GOTRUE_RATE_LIMIT_TOKEN_REFRESH", "150"),
            ("GOTRUE_RATE_LIMIT_VERIFY", "31"),
            ("GOTRUE_RATE_LIMIT_OTP", "2"),
            ("GOTRUE_PASSWORD_MIN_LENGTH", "4"),
        ])
        .translate()
        .unwrap();
        assert_eq!(out["otp"]["send_interval_secs"], 90);
        assert_eq!(out["sessions"]["timebox_secs"], 86_400);
        assert_eq!(out["sessions"]["inactivity_timeout_secs"], 5_400);
        assert_eq!(out["otp"]["link_expiry_secs"], 172_800);
        assert_eq!(out["otp"]["code_expiry_secs"], 86_400, "codes are capped at a day");
        assert_eq!(out["rate_limits"]["refresh_per_minute"], 30);
        assert_eq!(out["rate_limits"]["password_per_minute"], 30);
        assert_eq!(out["rate_limits"]["verify_per_minute"], 7, "rounded up");
        assert_eq!(out["rate_limits"]["email_per_minute"], 1, "a small limit stays on");
        assert_eq!(out["password"]["min_length"], 6, "GoTrue's floor");
    }

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(go_duration_secs("X", "0"), Ok(0));
        assert_eq!(go_duration_secs("X", "300ms"), Ok(1));
        assert_eq!(go_duration_secs("X", "2h45m"), Ok(9_900));
        for bad in ["60", "1d", "-1s", "s", "", "1.2.3s"] {
            assert!(go_duration_secs("X", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn booleans_inversions_and_lists() {
        let out = env(&[
            ("GOTRUE_DISABLE_SIGNUP", "true"),
            ("GOTRUE_MAILER_AUTOCONFIRM", "1"),
            ("GOTRUE_EXTERNAL_ANONYMOUS_USERS_ENABLED", "False"),
            ("GOTRUE_URI_ALLOW_LIST", "https://a.example.com/**, ,https://*.b.example.com"),
            ("GOTRUE_JWT_ADMIN_ROLES", "service_role,supabase_admin"),
            (
                "GOTRUE_PASSWORD_REQUIRED_CHARACTERS",
                "abcdefghijklmnopqrstuvwxyz:ABCDEFGHIJKLMNOPQRSTUVWXYZ:0123456789:!@#$%^&*\\:",
            ),
        ])
        .translate()
        .unwrap();
        assert_eq!(out["signup"], json!({"enabled": false, "autoconfirm": true, "anonymous": false}));
        assert_eq!(out["site"]["redirect_allow_list"], json!(["https://a.example.com/**", "https://*.b.example.com"]));
        assert_eq!(out["roles"]["service"], "service_role");
        assert_eq!(out["password"]["required_characters"], json!(["lowercase", "uppercase", "digit", "symbol"]));
        let bad = env(&[("GOTRUE_MAILER_AUTOCONFIRM", "yes")]).translate().unwrap_err();
        assert!(bad.contains("GOTRUE_MAILER_AUTOCONFIRM") && !bad.contains("yes"), "{bad}");
        assert!(env(&[("GOTRUE_PASSWORD_REQUIRED_CHARACTERS", "abcABC")]).translate().is_err());
        assert!(env(&[("GOTRUE_RATE_LIMIT_VERIFY", "0")]).translate().is_err(), "0 is not 'off' in GoTrue");
    }

    #[test]
    fn the_jwt_secret_brings_hs256_and_port_465_brings_tls() {
        let out =
            env(&[("GOTRUE_JWT_SECRET", "s".repeat(40).as_str()), ("GOTRUE_SMTP_PORT", "465")]).translate().unwrap();
        assert_eq!(out["jwt"]["algorithm"], "HS256");
        assert_eq!(out["smtp"], json!({"port": 465, "security": "tls"}));
        let out = env(&[("GOTRUE_SMTP_PORT", "2500")]).translate().unwrap();
        assert_eq!(out["smtp"]["security"], "starttls");
    }

    #[test]
    fn links_keep_gotrue_shape() {
        let supabase = env(&[
            ("API_EXTERNAL_URL", "http://localhost:8000"),
            ("GOTRUE_SITE_URL", "http://localhost:3000"),
            ("GOTRUE_MAILER_URLPATHS_CONFIRMATION", "/auth/v1/verify"),
            ("GOTRUE_MAILER_URLPATHS_INVITE", "/auth/v1/verify"),
            ("GOTRUE_MAILER_URLPATHS_RECOVERY", "/auth/v1/verify"),
            ("GOTRUE_MAILER_URLPATHS_EMAIL_CHANGE", "/auth/v1/verify"),
        ]);
        assert_eq!(supabase.translate().unwrap()["site"]["external_url"], "http://localhost:8000/auth/v1");
        assert!(supabase.uncarried().is_empty(), "{:?}", supabase.uncarried());
        let bare = env(&[("GOTRUE_SITE_URL", "https://app"), ("API_EXTERNAL_URL", "https://auth.example.com/x/")]);
        assert_eq!(bare.translate().unwrap()["site"]["external_url"], "https://auth.example.com", "GoTrue's /verify");
        let odd =
            env(&[("API_EXTERNAL_URL", "https://auth.example.com"), ("GOTRUE_MAILER_URLPATHS_RECOVERY", "/reset")]);
        assert_eq!(odd.translate().unwrap()["site"]["external_url"], "https://auth.example.com");
        assert!(odd.uncarried().iter().any(|n| n.starts_with("GOTRUE_MAILER_URLPATHS")));
    }

    #[test]
    fn uncarried_names_what_authd_lacks_and_never_a_value() {
        let gotrue = env(&[
            ("GOTRUE_EXTERNAL_GITHUB_ENABLED", "true"),
            ("GOTRUE_EXTERNAL_GITHUB_SECRET", "hunter2"),
            ("GOTRUE_DB_DRIVER", "postgres"),
            ("GOTRUE_SITE_URL", "https://app"),
            ("GOTRUE_SMTP_USER", ""),
        ]);
        let names = gotrue.uncarried();
        assert_eq!(names, vec!["GOTRUE_EXTERNAL_GITHUB_ENABLED", "GOTRUE_EXTERNAL_GITHUB_SECRET"]);
        assert!(!format!("{gotrue:?}").contains("hunter2"));
    }

    #[test]
    fn mfa_variables_map_with_gotrue_floors() {
        let out = env(&[
            ("GOTRUE_MFA_TOTP_ENROLL_ENABLED", "false"),
            ("GOTRUE_MFA_RECOVERY_CODES_VERIFY_ENABLED", "0"),
            ("GOTRUE_MFA_MAX_ENROLLED_FACTORS", "3"),
            ("GOTRUE_MFA_CHALLENGE_EXPIRY_DURATION", "60"),
            ("GOTRUE_MFA_FACTOR_EXPIRY_DURATION", "10m"),
        ])
        .translate()
        .unwrap();
        assert_eq!(out["mfa"]["totp_enroll_enabled"], false);
        assert_eq!(out["mfa"]["recovery_codes_verify_enabled"], false);
        assert_eq!(out["mfa"]["max_enrolled_factors"], 3);
        assert_eq!(out["mfa"]["challenge_expiry_secs"], 300, "GoTrue raises it to 300");
        assert_eq!(out["mfa"]["factor_expiry_secs"], 600);
    }
}
