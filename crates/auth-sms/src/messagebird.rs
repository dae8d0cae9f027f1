//! MessageBird: `AccessKey` authorisation; 400, 401, 403 and 422 carry an error list, any
//! other answer a message whose recipients' sent count must not be zero.

use auth_core::domain::OutgoingSms;
use auth_core::ports::{SmsError, SmsReceipt};
use serde::Deserialize;

use crate::provider::{HttpSms, SmsProvider, refused, unreadable};

#[derive(Deserialize)]
struct Errors {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    description: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    recipients: Option<Recipients>,
}

#[derive(Deserialize)]
struct Recipients {
    #[serde(rename = "totalSentCount")]
    total_sent_count: Option<u64>,
}

/// `POST {base}/messages`.
pub(crate) async fn send(http: &HttpSms, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
    let SmsProvider::Messagebird { base_url, access_key, originator } = http.provider() else {
        return Err(SmsError::Permanent("not a MessageBird provider".into()));
    };
    let url = format!("{}/messages", base_url.trim_end_matches('/'));
    let form = [
        ("originator", originator.as_str()),
        ("body", sms.text.as_str()),
        ("recipients", sms.to.as_str()),
        ("type", "sms"),
        ("datacoding", "unicode"),
    ];
    let request = http.client().post(url).header("Authorization", format!("AccessKey {access_key}"));
    let (status, body) = http.post_form(request, &form).await?;
    if matches!(status.as_u16(), 400 | 401 | 403 | 422) {
        // Supabase Auth fails on an empty list; here it is a refusal without a description.
        let errors: Errors = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
        let description = errors.errors.into_iter().find_map(|e| e.description).unwrap_or_default();
        return Err(refused(status, description));
    }
    let message: Message = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
    if message.recipients.and_then(|r| r.total_sent_count).unwrap_or(0) == 0 {
        return Err(refused(status, "messagebird error: total sent count is 0".into()));
    }
    Ok(SmsReceipt { message_id: message.id })
}
