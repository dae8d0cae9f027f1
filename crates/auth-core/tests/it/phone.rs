//! Phone accounts: sign-up, password sign-in, `/otp`, `/verify` with an SMS code, phone change,
//! resends, test numbers, the per-number and global limits, and delivery through the outbox.

use std::sync::Arc;

use auth_core::AuthError;
use auth_core::domain::{OneTimeKind, Password, Phone, Quota, SmsChannel};
use auth_core::ports::{EmailFlowStore, SmsError, UserStore};
use auth_core::service::{
    AuthSettings, Identifier, MailDelivery, SignupOutcome, SignupRequest, SmsSettings, TestOtp, UserChanges, Verified,
    VerifyChannel, VerifyProof, VerifyType,
};
use auth_core::testing::{RecordingSms, TestWorld, test_client};
use chrono::Duration;

const NUMBER: &str = "+1 555 000 1234";
const DIGITS: &str = "15550001234";

fn settings(change: impl FnOnce(&mut SmsSettings)) -> AuthSettings {
    let mut sms = SmsSettings { enabled: true, ..SmsSettings::default() };
    change(&mut sms);
    AuthSettings { sms, ..AuthSettings::default() }
}

fn world_with(change: impl FnOnce(&mut SmsSettings)) -> (TestWorld, Arc<RecordingSms>) {
    let sms = Arc::new(RecordingSms::default());
    let sender = Arc::clone(&sms);
    let world = TestWorld::new(settings(change)).with_ports(|ports| ports.sms = Some(sender));
    (world, sms)
}

fn phone_signup(phone: &str, password: &str) -> SignupRequest {
    SignupRequest { phone: Some(phone.into()), password: Some(Password::new(password)), ..SignupRequest::default() }
}

async fn verify(world: &TestWorld, kind: VerifyType, phone: &str, code: &str) -> Result<Verified, AuthError> {
    let proof = VerifyProof::PhoneCode { phone: phone.into(), code: code.into() };
    world.service.verify(kind, &proof, VerifyChannel::Api, &test_client()).await
}

async fn sign_in(
    world: &TestWorld,
    phone: &str,
    password: &Password,
) -> Result<auth_core::service::IssuedSession, AuthError> {
    world.service.sign_in_with_password(&Identifier::Phone(phone.into()), password, &test_client()).await
}

/// The code of the one text message queued since the last take.
async fn only_code(world: &TestWorld, to: &str) -> String {
    let texts = world.take_sms().await.unwrap();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].to.as_str(), to);
    texts[0].text.trim_start_matches("Your code is ").to_owned()
}

#[tokio::test]
async fn phone_sign_up_sends_a_code_that_confirms_the_number_once() {
    let (world, _) = world_with(|_| {});
    let outcome = world.service.signup(phone_signup(NUMBER, "correct horse"), &test_client()).await.unwrap();
    let SignupOutcome::ConfirmationPending(user) = outcome else { panic!("a session before the code") };
    assert_eq!(user.phone.as_ref().map(Phone::as_str), Some(DIGITS));
    assert!(user.confirmation_sent_at.is_some());
    let code = only_code(&world, DIGITS).await;
    assert_eq!(code.len(), 6);
    let stored = world.store.find_token(user.id, OneTimeKind::PhoneConfirmation).await.unwrap().unwrap();
    assert_ne!(stored.code_digest.as_bytes(), code.as_bytes(), "a digest, not the code");

    let password = Password::new("correct horse");
    assert_eq!(sign_in(&world, NUMBER, &password).await.unwrap_err(), AuthError::PhoneNotConfirmed);

    assert_eq!(verify(&world, VerifyType::Sms, NUMBER, "000000").await.unwrap_err(), AuthError::OtpExpired);
    let Verified::Session(issued) = verify(&world, VerifyType::Sms, "+15550001234", &code).await.unwrap() else {
        panic!("no session")
    };
    assert!(issued.user.phone_confirmed_at.is_some());
    assert_eq!(verify(&world, VerifyType::Sms, NUMBER, &code).await.unwrap_err(), AuthError::OtpExpired, "once");

    assert_eq!(sign_in(&world, "15550001234", &password).await.unwrap().user.id, user.id);
    assert_eq!(sign_in(&world, "+1-555", &password).await.unwrap_err(), AuthError::InvalidCredentials);
}

#[tokio::test]
async fn codes_expire_and_numbers_are_validated_as_supabase_auth_does() {
    let (world, _) = world_with(|sms| sms.otp_ttl = Duration::seconds(60));
    for bad in ["+1 (555) 000-1234", "0555", "+", "1"] {
        let error = world.service.send_phone_otp(bad, true, None, None, &test_client()).await.unwrap_err();
        assert_eq!(error.code(), "validation_failed", "{bad}");
    }
    world.service.send_phone_otp(NUMBER, true, None, None, &test_client()).await.unwrap();
    let code = only_code(&world, DIGITS).await;
    world.clock.advance(Duration::seconds(61));
    assert_eq!(verify(&world, VerifyType::Sms, NUMBER, &code).await.unwrap_err(), AuthError::OtpExpired);
}

#[tokio::test]
async fn otp_signs_in_a_known_number_and_respects_the_send_interval() {
    let (world, _) = world_with(|sms| sms.otp_length = 8);
    world.service.send_phone_otp(NUMBER, true, None, None, &test_client()).await.unwrap();
    let first = only_code(&world, DIGITS).await;
    assert_eq!(first.len(), 8);
    let again = world.service.send_phone_otp(NUMBER, true, None, None, &test_client()).await.unwrap_err();
    assert!(matches!(again, AuthError::SmsRateLimited { .. }), "{again:?}");
    assert_eq!(again.code(), "over_sms_send_rate_limit");
    world.clock.advance(Duration::seconds(61));
    world.service.send_phone_otp(NUMBER, false, None, None, &test_client()).await.unwrap();
    let second = only_code(&world, DIGITS).await;
    assert_eq!(verify(&world, VerifyType::Sms, NUMBER, &first).await.unwrap_err(), AuthError::OtpExpired, "replaced");
    assert!(matches!(verify(&world, VerifyType::Sms, NUMBER, &second).await.unwrap(), Verified::Session(_)));

    // An unknown number with create_user false: nothing sent, nothing stored, and a repeat is
    // refused like one to a known number, so the answer does not tell them apart.
    world.service.send_phone_otp("+15550009999", false, None, None, &test_client()).await.unwrap();
    assert!(world.take_sms().await.unwrap().is_empty());
    let again = world.service.send_phone_otp("+15550009999", false, None, None, &test_client()).await.unwrap_err();
    assert!(matches!(again, AuthError::SmsRateLimited { .. }), "{again:?}");
}

#[tokio::test]
async fn the_global_sms_limit_counts_every_number_but_not_test_numbers() {
    let (world, _) = world_with(|sms| {
        sms.global_limit = Quota { limit: 2, window: std::time::Duration::from_secs(3600) };
        sms.test_otp.insert(Phone::parse("15550000000").unwrap(), TestOtp { code: "424242".into() });
    });
    for n in 1..=2 {
        world.service.send_phone_otp(&format!("+1555000100{n}"), true, None, None, &test_client()).await.unwrap();
    }
    let third = world.service.send_phone_otp("+15550001003", true, None, None, &test_client()).await.unwrap_err();
    assert_eq!(third.code(), "over_sms_send_rate_limit");
    world.service.send_phone_otp("+15550000000", true, None, None, &test_client()).await.unwrap();
    assert_eq!(world.take_sms().await.unwrap().len(), 2, "the test number is sent nothing");
    assert!(matches!(verify(&world, VerifyType::Sms, "15550000000", "424242").await.unwrap(), Verified::Session(_)));
}

#[tokio::test]
async fn a_phone_change_moves_the_account_once_the_new_number_verifies() {
    let (world, _) = world_with(|_| {});
    world.service.send_phone_otp(NUMBER, true, None, None, &test_client()).await.unwrap();
    let code = only_code(&world, DIGITS).await;
    let Verified::Session(issued) = verify(&world, VerifyType::Sms, NUMBER, &code).await.unwrap() else { panic!() };
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();

    let taken = world.service.send_phone_otp("+15550002222", true, None, None, &test_client()).await;
    taken.unwrap();
    world.take_sms().await.unwrap();
    let change = UserChanges { phone: Some("+15550002222".into()), ..UserChanges::default() };
    assert_eq!(world.service.update_user(&principal, change).await.unwrap_err(), AuthError::PhoneExists);

    let change = UserChanges { phone: Some("+15550003333".into()), ..UserChanges::default() };
    let user = world.service.update_user(&principal, change).await.unwrap();
    assert_eq!(user.phone.as_ref().map(Phone::as_str), Some(DIGITS), "unchanged until verified");
    assert_eq!(user.mail.phone_change.as_ref().map(Phone::as_str), Some("15550003333"));
    let code = only_code(&world, "15550003333").await;

    // A resend finds the user by its current number and sends to the new one.
    world.clock.advance(Duration::seconds(61));
    world.service.resend_phone(NUMBER, true).await.unwrap();
    let resent = only_code(&world, "15550003333").await;
    assert_eq!(
        verify(&world, VerifyType::PhoneChange, "+15550003333", &code).await.unwrap_err(),
        AuthError::OtpExpired
    );
    let Verified::Session(changed) = verify(&world, VerifyType::PhoneChange, "+15550003333", &resent).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(changed.user.phone.as_ref().map(Phone::as_str), Some("15550003333"));
    assert_eq!(changed.user.mail.phone_change, None);
    let stored = world.store.find_user(changed.user.id).await.unwrap().unwrap();
    assert_eq!(stored.phone.as_ref().map(Phone::as_str), Some("15550003333"));
}

#[tokio::test]
async fn autoconfirm_answers_a_session_and_refuses_a_second_sign_up() {
    let (world, sms) = world_with(|sms| sms.autoconfirm = true);
    let outcome = world.service.signup(phone_signup(NUMBER, "correct horse"), &test_client()).await.unwrap();
    assert!(matches!(outcome, SignupOutcome::Session(_)));
    let again = world.service.signup(phone_signup(NUMBER, "correct horse"), &test_client()).await.unwrap_err();
    assert_eq!(again, AuthError::UserAlreadyExists);
    assert!(world.take_sms().await.unwrap().is_empty() && sms.sent().is_empty());
}

#[tokio::test]
async fn phone_sign_in_off_or_whatsapp_unsupported_refuses_before_anything_is_written() {
    let world = TestWorld::new(AuthSettings::default());
    let off = world.service.signup(phone_signup(NUMBER, "correct horse"), &test_client()).await.unwrap_err();
    assert_eq!(off.code(), "phone_provider_disabled");
    let (world, _) = world_with(|_| {});
    let whatsapp = world.service.send_phone_otp(NUMBER, true, None, Some("whatsapp"), &test_client()).await;
    assert_eq!(whatsapp.unwrap_err().code(), "validation_failed");
    let (world, _) = world_with(|sms| sms.whatsapp = true);
    world.service.send_phone_otp(NUMBER, true, None, Some("whatsapp"), &test_client()).await.unwrap();
    assert_eq!(world.take_sms().await.unwrap()[0].channel, SmsChannel::Whatsapp);
}

#[tokio::test]
async fn an_outage_delays_the_code_and_delivers_it_once() {
    let (world, sms) = world_with(|_| {});
    world.service.send_phone_otp(NUMBER, true, None, None, &test_client()).await.unwrap();
    let sender = Arc::clone(&sms) as Arc<dyn auth_core::ports::SmsSender>;
    let mailer = Arc::new(auth_core::ports::MockMailer::new());
    let delivery = MailDelivery::new(world.store.clone(), mailer, world.clock.clone()).with_sms(sender);
    sms.fail_with(Some(SmsError::Transient("503".into())));
    let report = delivery.deliver_due_sms(10).await.unwrap();
    assert_eq!((report.sent, report.retrying.len()), (0, 1));
    sms.fail_with(None);
    assert_eq!(delivery.deliver_due_sms(10).await.unwrap().handled(), 0, "not due yet");
    world.clock.advance(Duration::seconds(31));
    assert_eq!(delivery.deliver_due_sms(10).await.unwrap().sent, 1);
    world.clock.advance(Duration::hours(1));
    assert_eq!(delivery.deliver_due_sms(10).await.unwrap().handled(), 0);
    assert_eq!(sms.sent().len(), 1, "delivered once");
}
