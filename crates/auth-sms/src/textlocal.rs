//! Textlocal: the API key in the form; the status code is not read, only the body's `status`.

use auth_core::domain::OutgoingSms;
use auth_core::ports::{SmsError, SmsReceipt};
use serde::Deserialize;

use crate::provider::{HttpSms, SmsProvider, refused, unreadable};

#[derive(Deserialize)]
struct Answer {
    status: Option<String>,
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    code: Option<i64>,
    message: Option<String>,
}

/// `POST {base}/send`.
pub(crate) async fn send(http: &HttpSms, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
    let SmsProvider::Textlocal { base_url, api_key, sender } = http.provider() else {
        return Err(SmsError::Permanent("not a Textlocal provider".into()));
    };
    let url = format!("{}/send", base_url.trim_end_matches('/'));
    let form = [
        ("apikey", api_key.as_str()),
        ("sender", sender.as_str()),
        ("message", sms.text.as_str()),
        ("numbers", sms.to.as_str()),
    ];
    let (status, body) = http.post_form(http.client().post(url), &form).await?;
    let answer: Answer = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
    if answer.status.as_deref() == Some("success") {
        // Supabase Auth reports no message id for Textlocal.
        return Ok(SmsReceipt::default());
    }
    let (code, message) = answer.errors.into_iter().next().map(|e| (e.code, e.message)).unwrap_or_default();
    let detail = format!("textlocal error: {} (code: {})", message.unwrap_or_default(), code.unwrap_or_default());
    Err(refused(status, detail))
}
