//! Each provider against the fake provider API on loopback: the exact request, the reading of
//! its success and of its failure shapes, and outages as transient failures.

// Test code: a panic is how a test fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use auth_core::domain::{OneTimeKind, OutgoingSms, Phone, SmsChannel};
use auth_core::ports::{SmsError, SmsSender};
use auth_sms::{HttpSms, SmsProvider};
use auth_testkit::sms::FakeSmsProvider;
use serde_json::json;

fn sms(channel: SmsChannel) -> OutgoingSms {
    OutgoingSms {
        kind: OneTimeKind::PhoneConfirmation,
        to: Phone::parse("+15550001234").unwrap(),
        text: "Your code is 123456".into(),
        channel,
    }
}

fn sender(provider: SmsProvider) -> HttpSms {
    HttpSms::new(provider, Duration::from_secs(5)).unwrap()
}

fn twilio(base: &str) -> SmsProvider {
    SmsProvider::Twilio {
        base_url: base.into(),
        account_sid: "AC1".into(),
        auth_token: "secret-token".into(),
        message_service_sid: "+15550009999".into(),
        content_sid: None,
    }
}

/// `Basic base64("AC1:secret-token")`.
const TWILIO_AUTH: &str = "Basic QUMxOnNlY3JldC10b2tlbg==";

#[tokio::test]
async fn twilio_posts_the_form_and_reads_the_sid() {
    let fake = FakeSmsProvider::start().await;
    let receipt = sender(twilio(fake.base_url())).send(&sms(SmsChannel::Sms)).await.unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("SM0001"));
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/2010-04-01/Accounts/AC1/Messages.json");
    assert_eq!(request.authorization.as_deref(), Some(TWILIO_AUTH));
    assert_eq!(request.content_type.as_deref(), Some("application/x-www-form-urlencoded"));
    assert_eq!(request.field("To"), Some("+15550001234"));
    assert_eq!(request.field("Channel"), Some("sms"));
    assert_eq!(request.field("From"), Some("+15550009999"));
    assert_eq!(request.field("Body"), Some("Your code is 123456"));
    assert_eq!(fake.codes_sent_to("15550001234"), ["123456"]);
}

#[tokio::test]
async fn twilio_whatsapp_goes_from_a_whatsapp_sender() {
    let fake = FakeSmsProvider::start().await;
    sender(twilio(fake.base_url())).send(&sms(SmsChannel::Whatsapp)).await.unwrap();
    let request = &fake.requests()[0];
    assert_eq!(request.field("To"), Some("whatsapp:+15550001234"));
    assert_eq!(request.field("From"), Some("whatsapp:+15550009999"));
    assert_eq!(request.field("Channel"), Some("whatsapp"));
}

#[tokio::test]
async fn twilio_refusals_and_failed_messages_are_permanent_and_outages_transient() {
    let fake = FakeSmsProvider::start().await;
    let twilio = sender(twilio(fake.base_url()));
    fake.reply(
        "/Messages.json",
        400,
        json!({"code": 21211, "message": "Invalid 'To'", "more_info": "https://example.invalid/21211", "status": 400}),
    );
    let refused = twilio.send(&sms(SmsChannel::Sms)).await.unwrap_err();
    assert_eq!(refused, SmsError::Permanent("Invalid 'To' More information: https://example.invalid/21211".into()));
    fake.reply(
        "/Messages.json",
        201,
        json!({"sid": "SM2", "status": "failed", "error_code": 30003, "error_message": "Unreachable"}),
    );
    assert!(
        matches!(twilio.send(&sms(SmsChannel::Sms)).await, Err(SmsError::Permanent(m)) if m.contains("Unreachable"))
    );
    fake.set_down(true);
    assert!(matches!(twilio.send(&sms(SmsChannel::Sms)).await, Err(SmsError::Transient(_))));
    assert!(fake.codes_sent_to("15550001234").is_empty());
}

#[tokio::test]
async fn twilio_verify_asks_twilio_to_send_its_own_code() {
    let fake = FakeSmsProvider::start().await;
    let provider = SmsProvider::TwilioVerify {
        base_url: fake.base_url().into(),
        account_sid: "AC1".into(),
        auth_token: "secret-token".into(),
        message_service_sid: "VA1".into(),
    };
    let receipt = sender(provider).send(&sms(SmsChannel::Sms)).await.unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("VE0001"));
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/v2/Services/VA1/Verifications");
    assert_eq!(request.authorization.as_deref(), Some(TWILIO_AUTH));
    assert_eq!(request.form, [("To".to_owned(), "+15550001234".to_owned()), ("Channel".into(), "sms".into())]);
}

#[tokio::test]
async fn twilio_verify_checks_the_code_it_sent() {
    let fake = FakeSmsProvider::start().await;
    let provider = SmsProvider::TwilioVerify {
        base_url: fake.base_url().into(),
        account_sid: "AC1".into(),
        auth_token: "secret-token".into(),
        message_service_sid: "VA1".into(),
    };
    let verify = sender(provider);
    assert!(verify.checks_codes());
    let number = Phone::parse("15550001234").unwrap();
    assert!(verify.check_code(&number, "987654").await.unwrap());
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/v2/Services/VA1/VerificationCheck");
    assert_eq!(request.authorization.as_deref(), Some(TWILIO_AUTH));
    assert_eq!(request.form, [("To".to_owned(), "+15550001234".to_owned()), ("Code".into(), "987654".into())]);
    fake.reply("/VerificationCheck", 200, json!({"status": "pending", "valid": false}));
    assert!(!verify.check_code(&number, "111111").await.unwrap());
    fake.reply("/VerificationCheck", 404, json!({"code": 20404, "message": "not found"}));
    assert!(!verify.check_code(&number, "111111").await.unwrap());
}

#[tokio::test]
async fn messagebird_sends_with_its_access_key_and_reads_the_error_list() {
    let fake = FakeSmsProvider::start().await;
    let provider = SmsProvider::Messagebird {
        base_url: fake.base_url().into(),
        access_key: "live_key".into(),
        originator: "authd".into(),
    };
    let messagebird = sender(provider);
    let receipt = messagebird.send(&sms(SmsChannel::Sms)).await.unwrap();
    assert_eq!(receipt.message_id.as_deref(), Some("mb0001"));
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/messages");
    assert_eq!(request.authorization.as_deref(), Some("AccessKey live_key"));
    let expected = [
        ("originator", "authd"),
        ("body", "Your code is 123456"),
        ("recipients", "15550001234"),
        ("type", "sms"),
        ("datacoding", "unicode"),
    ];
    assert_eq!(request.form, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    fake.reply(
        "/messages",
        422,
        json!({"errors": [{"code": 9, "description": "no (correct) recipients found", "parameter": "recipient"}]}),
    );
    assert_eq!(
        messagebird.send(&sms(SmsChannel::Sms)).await.unwrap_err(),
        SmsError::Permanent("no (correct) recipients found".into())
    );
    fake.reply("/messages", 201, json!({"id": "mb2", "recipients": {"totalSentCount": 0}}));
    assert!(matches!(messagebird.send(&sms(SmsChannel::Sms)).await, Err(SmsError::Permanent(_))));
    assert!(matches!(messagebird.send(&sms(SmsChannel::Whatsapp)).await, Err(SmsError::Permanent(_))));
}

#[tokio::test]
async fn textlocal_reads_the_status_of_the_body() {
    let fake = FakeSmsProvider::start().await;
    let provider =
        SmsProvider::Textlocal { base_url: fake.base_url().into(), api_key: "tl-key".into(), sender: "AUTHD".into() };
    let textlocal = sender(provider);
    assert_eq!(textlocal.send(&sms(SmsChannel::Sms)).await.unwrap().message_id, None);
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/send");
    assert_eq!(request.authorization, None);
    let expected =
        [("apikey", "tl-key"), ("sender", "AUTHD"), ("message", "Your code is 123456"), ("numbers", "15550001234")];
    assert_eq!(request.form, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    fake.reply(
        "/send",
        200,
        json!({"status": "failure", "errors": [{"code": 4, "message": "No recipients specified"}]}),
    );
    assert_eq!(
        textlocal.send(&sms(SmsChannel::Sms)).await.unwrap_err(),
        SmsError::Permanent("textlocal error: No recipients specified (code: 4)".into())
    );
}

#[tokio::test]
async fn vonage_reads_the_first_message_status() {
    let fake = FakeSmsProvider::start().await;
    let provider = SmsProvider::Vonage {
        base_url: fake.base_url().into(),
        api_key: "vk".into(),
        api_secret: "vs".into(),
        from: "authd".into(),
    };
    let vonage = sender(provider);
    assert_eq!(vonage.send(&sms(SmsChannel::Sms)).await.unwrap().message_id.as_deref(), Some("v0001"));
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/sms/json");
    let expected = [
        ("from", "authd"),
        ("to", "15550001234"),
        ("text", "Your code is 123456"),
        ("api_key", "vk"),
        ("api_secret", "vs"),
    ];
    assert_eq!(request.form, expected.map(|(k, v)| (k.to_owned(), v.to_owned())));
    let mut unicode = sms(SmsChannel::Sms);
    unicode.text = "Votre code est 123456 ✓".into();
    vonage.send(&unicode).await.unwrap();
    assert_eq!(fake.requests()[1].field("type"), Some("unicode"));
    fake.reply("/sms/json", 200, json!({"messages": [{"status": "2", "error-text": "Missing to param"}]}));
    assert_eq!(
        vonage.send(&sms(SmsChannel::Sms)).await.unwrap_err(),
        SmsError::Permanent("vonage error: Missing to param (status: 2) for message ".into())
    );
    fake.reply("/sms/json", 200, json!({"messages": []}));
    assert_eq!(
        vonage.send(&sms(SmsChannel::Sms)).await.unwrap_err(),
        SmsError::Permanent("vonage error: Internal Error".into())
    );
}

#[tokio::test]
async fn an_unreachable_provider_is_a_transient_failure() {
    let fake = FakeSmsProvider::start().await;
    let base = fake.base_url().to_owned();
    drop(fake);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let error = sender(twilio(&base)).send(&sms(SmsChannel::Sms)).await.unwrap_err();
    assert!(matches!(error, SmsError::Transient(_)), "{error:?}");
}
