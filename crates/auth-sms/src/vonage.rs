//! Vonage (Nexmo): key and secret in the form; the status code is not read, only the first
//! message's `status` (`"0"` is success).

use auth_core::domain::OutgoingSms;
use auth_core::ports::{SmsError, SmsReceipt};
use serde::Deserialize;

use crate::provider::{HttpSms, SmsProvider, refused, unreadable};

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "message-id")]
    message_id: Option<String>,
    status: Option<String>,
    #[serde(rename = "error-text")]
    error_text: Option<String>,
}

/// `POST {base}/sms/json`.
pub(crate) async fn send(http: &HttpSms, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
    let SmsProvider::Vonage { base_url, api_key, api_secret, from } = http.provider() else {
        return Err(SmsError::Permanent("not a Vonage provider".into()));
    };
    let url = format!("{}/sms/json", base_url.trim_end_matches('/'));
    let mut form = vec![
        ("from", from.as_str()),
        ("to", sms.to.as_str()),
        ("text", sms.text.as_str()),
        ("api_key", api_key.as_str()),
        ("api_secret", api_secret.as_str()),
    ];
    if !sms.text.is_ascii() {
        form.push(("type", "unicode"));
    }
    let (status, body) = http.post_form(http.client().post(url), &form).await?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
    let Some(first) = answer.messages.into_iter().next() else {
        return Err(refused(status, "vonage error: Internal Error".into()));
    };
    if first.status.as_deref() != Some("0") {
        let detail = format!(
            "vonage error: {} (status: {}) for message {}",
            first.error_text.unwrap_or_default(),
            first.status.unwrap_or_default(),
            first.message_id.unwrap_or_default()
        );
        return Err(refused(status, detail));
    }
    Ok(SmsReceipt { message_id: first.message_id })
}
