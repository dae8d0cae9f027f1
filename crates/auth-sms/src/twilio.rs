//! Twilio Programmable Messaging and Twilio Verify: Basic auth with the account SID and token,
//! success on 200 or 201, Twilio's error JSON otherwise.

use auth_core::domain::{OutgoingSms, Phone, SmsChannel};
use auth_core::ports::{SmsError, SmsReceipt};
use serde::Deserialize;

use crate::provider::{HttpSms, SmsProvider, e164, refused, unreadable};

/// A message resource (the fields Supabase Auth reads).
#[derive(Deserialize)]
struct Message {
    sid: Option<String>,
    status: Option<String>,
    error_code: Option<serde_json::Value>,
    error_message: Option<String>,
}

/// Twilio's error answer.
#[derive(Deserialize)]
struct TwilioError {
    message: Option<String>,
    more_info: Option<String>,
}

/// A Twilio refusal: "{message} More information: {more_info}", as Supabase Auth words it.
fn twilio_error(status: reqwest::StatusCode, body: &[u8]) -> SmsError {
    match serde_json::from_slice::<TwilioError>(body) {
        Ok(error) => refused(
            status,
            format!("{} More information: {}", error.message.unwrap_or_default(), error.more_info.unwrap_or_default()),
        ),
        Err(_) => unreadable(status),
    }
}

/// Whether `sender`, without `+` and spaces, is a phone number rather than a service SID.
fn is_number(sender: &str) -> bool {
    let digits: String = sender.trim_start_matches('+').chars().filter(|c| *c != ' ').collect();
    (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
}

/// `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`.
pub(crate) async fn send(http: &HttpSms, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
    let SmsProvider::Twilio { base_url, account_sid, auth_token, message_service_sid, content_sid } = http.provider()
    else {
        return Err(SmsError::Permanent("not a Twilio provider".into()));
    };
    let url = format!("{}/2010-04-01/Accounts/{account_sid}/Messages.json", base_url.trim_end_matches('/'));
    let to = e164(sms);
    let (to, from) = match sms.channel {
        SmsChannel::Sms => (to, message_service_sid.clone()),
        SmsChannel::Whatsapp => {
            let from = if is_number(message_service_sid) {
                format!("whatsapp:{message_service_sid}")
            } else {
                message_service_sid.clone()
            };
            (format!("whatsapp:{to}"), from)
        }
    };
    let code: String = sms.text.chars().filter(char::is_ascii_digit).collect();
    let variables = serde_json::json!({ "1": code }).to_string();
    let mut form = vec![("To", to.as_str()), ("Channel", sms.channel.as_str()), ("From", from.as_str())];
    match (sms.channel, content_sid) {
        (SmsChannel::Whatsapp, Some(content)) => {
            form.push(("ContentSid", content.as_str()));
            form.push(("ContentVariables", variables.as_str()));
        }
        _ => form.push(("Body", sms.text.as_str())),
    }
    let request = http.client().post(url).basic_auth(account_sid, Some(auth_token));
    let (status, body) = http.post_form(request, &form).await?;
    if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::CREATED {
        return Err(twilio_error(status, &body));
    }
    let message: Message = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
    if matches!(message.status.as_deref(), Some("failed" | "undelivered")) {
        let code = message.error_code.map(|c| c.to_string()).unwrap_or_default();
        return Err(SmsError::Permanent(format!(
            "twilio error: {} {code} for message {}",
            message.error_message.unwrap_or_default(),
            message.sid.unwrap_or_default()
        )));
    }
    Ok(SmsReceipt { message_id: message.sid })
}

/// `POST {base}/v2/Services/{sid}/Verifications`: Twilio sends its own code.
pub(crate) async fn send_verification(http: &HttpSms, sms: &OutgoingSms) -> Result<SmsReceipt, SmsError> {
    let SmsProvider::TwilioVerify { base_url, account_sid, auth_token, message_service_sid } = http.provider() else {
        return Err(SmsError::Permanent("not a Twilio Verify provider".into()));
    };
    let url = format!("{}/v2/Services/{message_service_sid}/Verifications", base_url.trim_end_matches('/'));
    let to = e164(sms);
    let form = [("To", to.as_str()), ("Channel", sms.channel.as_str())];
    let request = http.client().post(url).basic_auth(account_sid, Some(auth_token));
    let (status, body) = http.post_form(request, &form).await?;
    if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::CREATED {
        return Err(twilio_error(status, &body));
    }
    let message: Message = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
    Ok(SmsReceipt { message_id: message.sid })
}

/// A verification check's answer.
#[derive(Deserialize)]
struct Check {
    status: Option<String>,
    valid: Option<bool>,
}

/// `POST {base}/v2/Services/{sid}/VerificationCheck`: approved only on 200 or 201 with status
/// `approved` and `valid` true; any other answer is a wrong code.
pub(crate) async fn check_verification(http: &HttpSms, to: &Phone, code: &str) -> Result<bool, SmsError> {
    let SmsProvider::TwilioVerify { base_url, account_sid, auth_token, message_service_sid } = http.provider() else {
        return Ok(false);
    };
    let url = format!("{}/v2/Services/{message_service_sid}/VerificationCheck", base_url.trim_end_matches('/'));
    let to = format!("+{}", to.as_str());
    let form = [("To", to.as_str()), ("Code", code)];
    let request = http.client().post(url).basic_auth(account_sid, Some(auth_token));
    let (status, body) = http.post_form(request, &form).await?;
    if status != reqwest::StatusCode::OK && status != reqwest::StatusCode::CREATED {
        return Ok(false);
    }
    let check: Check = serde_json::from_slice(&body).map_err(|_| unreadable(status))?;
    Ok(check.status.as_deref() == Some("approved") && check.valid == Some(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_is_a_number_or_a_service_sid() {
        assert!(is_number("+1 555 000 1111"));
        assert!(!is_number("MG0123456789abcdef"));
    }
}
