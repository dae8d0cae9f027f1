//! `[sms]`: phone sign-in, its text messages and the SMS provider, and how they become the use
//! cases' `SmsSettings` and auth-sms's `SmsProvider`.

use std::collections::BTreeMap;

use auth_core::domain::{Phone, Quota};
use auth_core::service::{SmsSettings, TestOtp};
use auth_sms::SmsProvider;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// `[sms]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// Phone sign-up and sign-in are on (`GOTRUE_EXTERNAL_PHONE_ENABLED`).
    pub enabled: bool,
    /// New numbers count as confirmed at once (`GOTRUE_SMS_AUTOCONFIRM`).
    pub autoconfirm: bool,
    /// Seconds a code works (`GOTRUE_SMS_OTP_EXP`).
    pub otp_expiry_secs: u64,
    /// Digits of a code, 6 to 10 (`GOTRUE_SMS_OTP_LENGTH`).
    pub otp_length: u32,
    /// Least seconds between two codes of one kind to one number (`GOTRUE_SMS_MAX_FREQUENCY`).
    pub send_interval_secs: u64,
    /// Most text messages sent per `sent_window_secs`, all numbers together
    /// (`GOTRUE_RATE_LIMIT_SMS_SENT`); 0 turns the limit off.
    pub sent_limit: u32,
    /// The window of `sent_limit`, in seconds.
    pub sent_window_secs: u64,
    /// The message; `{{ .Code }}` is the code (`GOTRUE_SMS_TEMPLATE`).
    pub template: String,
    /// Test numbers and their fixed codes; nothing is sent to them (`GOTRUE_SMS_TEST_OTP`).
    pub test_otp: BTreeMap<String, Secret>,
    /// After this RFC 3339 time the test numbers are ordinary ones (`GOTRUE_SMS_TEST_OTP_VALID_UNTIL`).
    pub test_otp_valid_until: Option<String>,
    /// `twilio`, `twilio_verify`, `messagebird`, `textlocal` or `vonage`; empty for none (only
    /// test numbers then get codes) (`GOTRUE_SMS_PROVIDER`).
    pub provider: String,
    /// The provider's base URL, for a regional endpoint or a test server; empty for the
    /// provider's own (an authd addition).
    pub api_base: String,
    /// Seconds a provider request may take (`GOTRUE_INTERNAL_HTTP_TIMEOUT`).
    pub timeout_secs: u64,
    /// `GOTRUE_SMS_TWILIO_ACCOUNT_SID`.
    pub twilio_account_sid: String,
    /// `GOTRUE_SMS_TWILIO_AUTH_TOKEN`.
    pub twilio_auth_token: Option<Secret>,
    /// A sender number or messaging service SID (`GOTRUE_SMS_TWILIO_MESSAGE_SERVICE_SID`).
    pub twilio_message_service_sid: String,
    /// WhatsApp content template (`GOTRUE_SMS_TWILIO_CONTENT_SID`).
    pub twilio_content_sid: String,
    /// `GOTRUE_SMS_TWILIO_VERIFY_ACCOUNT_SID`.
    pub twilio_verify_account_sid: String,
    /// `GOTRUE_SMS_TWILIO_VERIFY_AUTH_TOKEN`.
    pub twilio_verify_auth_token: Option<Secret>,
    /// The Verify service SID (`GOTRUE_SMS_TWILIO_VERIFY_MESSAGE_SERVICE_SID`).
    pub twilio_verify_message_service_sid: String,
    /// `GOTRUE_SMS_MESSAGEBIRD_ACCESS_KEY`.
    pub messagebird_access_key: Option<Secret>,
    /// `GOTRUE_SMS_MESSAGEBIRD_ORIGINATOR`.
    pub messagebird_originator: String,
    /// `GOTRUE_SMS_TEXTLOCAL_API_KEY`.
    pub textlocal_api_key: Option<Secret>,
    /// `GOTRUE_SMS_TEXTLOCAL_SENDER`.
    pub textlocal_sender: String,
    /// `GOTRUE_SMS_VONAGE_API_KEY`.
    pub vonage_api_key: String,
    /// `GOTRUE_SMS_VONAGE_API_SECRET`.
    pub vonage_api_secret: Option<Secret>,
    /// `GOTRUE_SMS_VONAGE_FROM`.
    pub vonage_from: String,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            autoconfirm: false,
            otp_expiry_secs: 60,
            otp_length: 6,
            send_interval_secs: 60,
            sent_limit: 30,
            sent_window_secs: 3600,
            template: "Your code is {{ .Code }}".into(),
            test_otp: BTreeMap::new(),
            test_otp_valid_until: None,
            provider: String::new(),
            api_base: String::new(),
            timeout_secs: 10,
            twilio_account_sid: String::new(),
            twilio_auth_token: None,
            twilio_message_service_sid: String::new(),
            twilio_content_sid: String::new(),
            twilio_verify_account_sid: String::new(),
            twilio_verify_auth_token: None,
            twilio_verify_message_service_sid: String::new(),
            messagebird_access_key: None,
            messagebird_originator: String::new(),
            textlocal_api_key: None,
            textlocal_sender: String::new(),
            vonage_api_key: String::new(),
            vonage_api_secret: None,
            vonage_from: String::new(),
        }
    }
}

/// A secret's text, empty when unset.
fn secret(value: &Option<Secret>) -> String {
    value.as_ref().map(|s| s.expose().to_owned()).unwrap_or_default()
}

impl SmsConfig {
    /// Why the values cannot work, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if !(6..=10).contains(&self.otp_length) {
            return Some("sms.otp_length must be between 6 and 10".into());
        }
        if !(10..=86_400).contains(&self.otp_expiry_secs) {
            return Some("sms.otp_expiry_secs must be between 10 and 86400".into());
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Some("sms.timeout_secs must be between 1 and 300".into());
        }
        if !self.template.contains("{{ .Code }}") && !self.template.contains("{{.Code}}") {
            return Some("sms.template must contain {{ .Code }}".into());
        }
        for (number, code) in &self.test_otp {
            if Phone::parse(number).is_err() {
                return Some(format!("sms.test_otp: {number:?} is not a phone number"));
            }
            if code.expose().trim().is_empty() {
                return Some(format!("sms.test_otp: the code of {number:?} is empty"));
            }
        }
        if let Err(problem) = self.valid_until() {
            return Some(problem);
        }
        if !self.api_base.is_empty() && !self.api_base.starts_with("https://") && !self.api_base.starts_with("http://")
        {
            return Some("sms.api_base must be an http:// or https:// URL".into());
        }
        self.provider().err()
    }

    fn valid_until(&self) -> Result<Option<DateTime<Utc>>, String> {
        match self.test_otp_valid_until.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| "sms.test_otp_valid_until must be an RFC 3339 time".into()),
        }
    }

    /// The configured provider, `None` for none; an error names what is missing.
    pub fn provider(&self) -> Result<Option<SmsProvider>, String> {
        let base = |default: &str| {
            if self.api_base.trim().is_empty() { default.to_owned() } else { self.api_base.trim().to_owned() }
        };
        let required = |values: &[(&str, &str)]| match values.iter().find(|(_, v)| v.trim().is_empty()) {
            Some((name, _)) => Err(format!("sms.provider = {:?} needs sms.{name}", self.provider)),
            None => Ok(()),
        };
        let provider = match self.provider.trim() {
            "" => return Ok(None),
            "twilio" => {
                let token = secret(&self.twilio_auth_token);
                required(&[
                    ("twilio_account_sid", &self.twilio_account_sid),
                    ("twilio_auth_token", &token),
                    ("twilio_message_service_sid", &self.twilio_message_service_sid),
                ])?;
                SmsProvider::Twilio {
                    base_url: base("https://api.twilio.com"),
                    account_sid: self.twilio_account_sid.clone(),
                    auth_token: token,
                    message_service_sid: self.twilio_message_service_sid.clone(),
                    content_sid: Some(self.twilio_content_sid.clone()).filter(|c| !c.trim().is_empty()),
                }
            }
            "twilio_verify" => {
                let token = secret(&self.twilio_verify_auth_token);
                required(&[
                    ("twilio_verify_account_sid", &self.twilio_verify_account_sid),
                    ("twilio_verify_auth_token", &token),
                    ("twilio_verify_message_service_sid", &self.twilio_verify_message_service_sid),
                ])?;
                SmsProvider::TwilioVerify {
                    base_url: base("https://verify.twilio.com"),
                    account_sid: self.twilio_verify_account_sid.clone(),
                    auth_token: token,
                    message_service_sid: self.twilio_verify_message_service_sid.clone(),
                }
            }
            "messagebird" => {
                let key = secret(&self.messagebird_access_key);
                required(&[
                    ("messagebird_access_key", &key),
                    ("messagebird_originator", &self.messagebird_originator),
                ])?;
                SmsProvider::Messagebird {
                    base_url: base("https://rest.messagebird.com"),
                    access_key: key,
                    originator: self.messagebird_originator.clone(),
                }
            }
            "textlocal" => {
                let key = secret(&self.textlocal_api_key);
                required(&[("textlocal_api_key", &key), ("textlocal_sender", &self.textlocal_sender)])?;
                SmsProvider::Textlocal {
                    base_url: base("https://api.textlocal.in"),
                    api_key: key,
                    sender: self.textlocal_sender.clone(),
                }
            }
            "vonage" => {
                let api_secret = secret(&self.vonage_api_secret);
                required(&[
                    ("vonage_api_key", &self.vonage_api_key),
                    ("vonage_api_secret", &api_secret),
                    ("vonage_from", &self.vonage_from),
                ])?;
                SmsProvider::Vonage {
                    base_url: base("https://rest.nexmo.com"),
                    api_key: self.vonage_api_key.clone(),
                    api_secret,
                    from: self.vonage_from.clone(),
                }
            }
            other => {
                return Err(format!(
                    "sms.provider {other:?} is not one of twilio, twilio_verify, messagebird, textlocal, vonage"
                ));
            }
        };
        Ok(Some(provider))
    }

    /// The use cases' settings (`problem` has accepted the values).
    pub fn settings(&self) -> SmsSettings {
        let seconds = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        let test_otp = self
            .test_otp
            .iter()
            .filter_map(|(number, code)| {
                Some((Phone::parse(number).ok()?, TestOtp { code: code.expose().trim().to_owned() }))
            })
            .collect();
        SmsSettings {
            enabled: self.enabled,
            autoconfirm: self.autoconfirm,
            otp_ttl: seconds(self.otp_expiry_secs),
            otp_length: usize::try_from(self.otp_length).unwrap_or(6),
            send_interval: seconds(self.send_interval_secs),
            global_limit: Quota {
                limit: self.sent_limit,
                window: std::time::Duration::from_secs(self.sent_window_secs),
            },
            template: self.template.clone(),
            test_otp,
            test_otp_valid_until: self.valid_until().ok().flatten(),
            whatsapp: matches!(self.provider.trim(), "twilio" | "twilio_verify"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_provider_needs_its_credentials() {
        let mut config = SmsConfig { provider: "twilio".into(), ..SmsConfig::default() };
        assert_eq!(config.problem().as_deref(), Some("sms.provider = \"twilio\" needs sms.twilio_account_sid"));
        config.twilio_account_sid = "AC1".into();
        config.twilio_auth_token = Some(Secret::new("token"));
        config.twilio_message_service_sid = "+15550009999".into();
        assert_eq!(config.problem(), None);
        config.provider = "carrier-pigeon".into();
        assert!(config.problem().is_some());
    }

    #[test]
    fn test_numbers_are_normalised_and_the_length_bounded() {
        let mut config = SmsConfig::default();
        config.test_otp.insert("+1 555 000 1234".into(), Secret::new("123456"));
        assert_eq!(config.problem(), None);
        assert!(config.settings().test_otp.contains_key(&Phone::parse("15550001234").unwrap()));
        config.otp_length = 4;
        assert!(config.problem().is_some());
    }
}
