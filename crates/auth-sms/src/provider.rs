//! The configured provider and the HTTP client every provider shares.

use std::time::Duration;

use async_trait::async_trait;
use auth_core::domain::{OutgoingSms, Phone, SmsChannel};
use auth_core::ports::{SmsError, SmsReceipt, SmsSender};
use reqwest::StatusCode;

/// Which provider, with its credentials and base URL. `Debug` leaves secrets out.
#[derive(Clone, PartialEq, Eq)]
pub enum SmsProvider {
    /// Twilio Programmable Messaging (`POST {base}/2010-04-01/Accounts/{sid}/Messages.json`).
    Twilio {
        /// Base URL, `https://api.twilio.com` by default.
        base_url: String,
        /// Account SID (Basic auth user).
        account_sid: String,
        /// Auth token (Basic auth password).
        auth_token: String,
        /// Sender: a phone number or a messaging service SID.
        message_service_sid: String,
        /// A WhatsApp content template; the code is its variable `1`.
        content_sid: Option<String>,
    },
    /// Twilio Verify (`POST {base}/v2/Services/{sid}/Verifications`): Twilio draws and sends
    /// its own code, so the message's text is not used.
    TwilioVerify {
        /// Base URL, `https://verify.twilio.com` by default.
        base_url: String,
        /// Account SID.
        account_sid: String,
        /// Auth token.
        auth_token: String,
        /// The Verify service SID.
        message_service_sid: String,
    },
    /// MessageBird (`POST {base}/messages`).
    Messagebird {
        /// Base URL, `https://rest.messagebird.com` by default.
        base_url: String,
        /// Access key.
        access_key: String,
        /// Sender name or number.
        originator: String,
    },
    /// Textlocal (`POST {base}/send`).
    Textlocal {
        /// Base URL, `https://api.textlocal.in` by default.
        base_url: String,
        /// API key.
        api_key: String,
        /// Sender name.
        sender: String,
    },
    /// Vonage (`POST {base}/sms/json`).
    Vonage {
        /// Base URL, `https://rest.nexmo.com` by default.
        base_url: String,
        /// API key.
        api_key: String,
        /// API secret.
        api_secret: String,
        /// Sender name or number.
        from: String,
    },
}

impl SmsProvider {
    /// The provider's name, as configured (`sms.provider`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Twilio { .. } => "twilio",
            Self::TwilioVerify { .. } => "twilio_verify",
            Self::Messagebird { .. } => "messagebird",
            Self::Textlocal { .. } => "textlocal",
            Self::Vonage { .. } => "vonage",
        }
    }
}

impl std::fmt::Debug for SmsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsProvider").field("name", &self.name()).finish_non_exhaustive()
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the SMS client: {0}")]
pub struct SmsProviderError(String);

/// A provider's HTTP API as the `SmsSender` port.
#[derive(Debug, Clone)]
pub struct HttpSms {
    provider: SmsProvider,
    client: reqwest::Client,
}

impl HttpSms {
    /// A sender through `provider`, each request bounded by `timeout`.
    pub fn new(provider: SmsProvider, timeout: Duration) -> Result<Self, SmsProviderError> {
        let client =
            reqwest::Client::builder().timeout(timeout).build().map_err(|e| SmsProviderError(e.to_string()))?;
        Ok(Self { provider, client })
    }

    /// The configured provider.
    pub fn provider(&self) -> &SmsProvider {
        &self.provider
    }

    /// Sends a form and hands back the status and body; a transport failure is transient.
    pub(crate) async fn post_form(
        &self,
        request: reqwest::RequestBuilder,
        form: &[(&str, &str)],
    ) -> Result<(StatusCode, Vec<u8>), SmsError> {
        let response = request.form(form).send().await.map_err(|e| SmsError::Transient(transport(&e)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| SmsError::Transient(transport(&e)))?;
        Ok((status, body.to_vec()))
    }

    /// The client, for the providers' requests.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }
}

/// A transport failure in one line, without the URL (it may hold an account id).
fn transport(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "the provider did not answer in time".into()
    } else if error.is_connect() {
        "cannot connect to the provider".into()
    } else {
        "the provider's answer could not be read".into()
    }
}

/// A refusal whose status says whether trying again may help: overload and server errors
/// may pass later, any other refusal will not.
pub(crate) fn refused(status: StatusCode, detail: String) -> SmsError {
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        SmsError::Transient(detail)
    } else {
        SmsError::Permanent(detail)
    }
}

/// An answer that is not the JSON the provider documents.
pub(crate) fn unreadable(status: StatusCode) -> SmsError {
    refused(status, format!("the provider answered {status} with a body that could not be read"))
}

/// The E.164 form of a stored number (stored without its `+`).
pub(crate) fn e164(sms: &OutgoingSms) -> String {
    format!("+{}", sms.to.as_str())
}

#[async_trait]
impl SmsSender for HttpSms {
    async fn send(&self, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
        if sms.channel == SmsChannel::Whatsapp && !self.supports_whatsapp() {
            return Err(SmsError::Permanent(format!("{} does not send WhatsApp messages", self.provider.name())));
        }
        let receipt = match &self.provider {
            SmsProvider::Twilio { .. } => crate::twilio::send(self, sms).await,
            SmsProvider::TwilioVerify { .. } => crate::twilio::send_verification(self, sms).await,
            SmsProvider::Messagebird { .. } => crate::messagebird::send(self, sms).await,
            SmsProvider::Textlocal { .. } => crate::textlocal::send(self, sms).await,
            SmsProvider::Vonage { .. } => crate::vonage::send(self, sms).await,
        };
        match &receipt {
            Ok(_) => tracing::debug!(provider = self.provider.name(), "text message accepted"),
            Err(error) => tracing::debug!(provider = self.provider.name(), %error, "text message not accepted"),
        }
        receipt
    }

    fn supports_whatsapp(&self) -> bool {
        matches!(self.provider, SmsProvider::Twilio { .. } | SmsProvider::TwilioVerify { .. })
    }

    fn checks_codes(&self) -> bool {
        matches!(self.provider, SmsProvider::TwilioVerify { .. })
    }

    async fn check_code(&self, to: &Phone, code: &str) -> Result<bool, SmsError> {
        crate::twilio::check_verification(self, to, code).await
    }
}
