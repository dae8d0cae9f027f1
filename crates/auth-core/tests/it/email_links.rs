//! The emailed links and codes at use-case speed: confirmation, recovery, magic links and
//! codes, invitations and reauthentication, redeemed through `verify`.

use auth_core::AuthError;
use auth_core::domain::{AuthMethod, Email, MAX_CODE_ATTEMPTS, Password, UserQuery};
use auth_core::ports::UserStore;
use auth_core::service::{
    AuthSettings, IssuedSession, LinkOptions, SignInMail, SignupOutcome, UserChanges, Verified, VerifyChannel,
    VerifyProof, VerifyType,
};
use auth_core::testing::{SentMail, TestWorld, test_client};
use chrono::Duration;

const PASSWORD: &str = "correct horse";

/// Verifies through the API channel (auth-js `verifyOtp`).
pub async fn verify(world: &TestWorld, kind: VerifyType, proof: VerifyProof) -> Result<Verified, AuthError> {
    world.service.verify(kind, &proof, VerifyChannel::Api, &test_client()).await
}

/// The session a verification answered; panics on anything else.
pub fn session(verified: Verified) -> IssuedSession {
    match verified {
        Verified::Session(issued) => *issued,
        other => panic!("expected a session, got {other:?}"),
    }
}

pub fn code(email: &str, mail: &SentMail) -> VerifyProof {
    VerifyProof::Code { email: email.into(), code: mail.code.clone() }
}

pub fn link(mail: &SentMail) -> VerifyProof {
    VerifyProof::Link(mail.link_token())
}

/// The one mail queued since the last look.
pub async fn only_mail(world: &TestWorld) -> SentMail {
    let mut mails = world.take_mail().await.unwrap();
    assert_eq!(mails.len(), 1, "{mails:?}");
    mails.remove(0)
}

/// Signs `email` up in a world that asks for confirmation, and answers the confirmation mail.
async fn pending_sign_up(world: &TestWorld, email: &str) -> SentMail {
    let outcome = world.sign_up(email, PASSWORD).await.unwrap();
    assert!(matches!(outcome, SignupOutcome::ConfirmationPending(_)), "{outcome:?}");
    only_mail(world).await
}

#[tokio::test]
async fn a_confirmation_code_confirms_the_address_and_signs_in_once() {
    let world = TestWorld::new(AuthSettings::default());
    let mail = pending_sign_up(&world, "ada@example.com").await;
    assert_eq!((mail.kind.as_str(), mail.to.as_str(), mail.code.len()), ("confirmation", "ada@example.com", 6));
    assert_eq!(world.sign_in("ada@example.com", PASSWORD).await.unwrap_err(), AuthError::EmailNotConfirmed);

    let issued = session(verify(&world, VerifyType::Signup, code("ADA@example.com", &mail)).await.unwrap());
    assert!(issued.user.email_confirmed_at.is_some());
    assert_eq!(issued.session.auth_method, AuthMethod::EmailSignup);
    assert!(issued.user.password_hash.is_some(), "a sign-up's own confirmation keeps its password");
    assert_eq!(
        verify(&world, VerifyType::Signup, code("ada@example.com", &mail)).await.unwrap_err(),
        AuthError::OtpExpired
    );
    assert_eq!(verify(&world, VerifyType::Signup, link(&mail)).await.unwrap_err(), AuthError::OtpExpired, "one secret");
    world.sign_in("ada@example.com", PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_link_works_once_and_only_for_its_own_type() {
    let world = TestWorld::new(AuthSettings::default());
    let mail = pending_sign_up(&world, "bo@example.com").await;
    assert!(mail.link.contains("type=signup"), "{}", mail.link);
    assert_eq!(verify(&world, VerifyType::Recovery, link(&mail)).await.unwrap_err(), AuthError::OtpExpired);
    assert_eq!(verify(&world, VerifyType::MagicLink, link(&mail)).await.unwrap_err(), AuthError::OtpExpired);
    let issued = session(verify(&world, VerifyType::Email, link(&mail)).await.unwrap());
    assert_eq!(issued.user.email.as_ref().map(Email::as_str), Some("bo@example.com"));
    assert_eq!(verify(&world, VerifyType::Signup, link(&mail)).await.unwrap_err(), AuthError::OtpExpired);
    assert_eq!(
        verify(&world, VerifyType::Signup, VerifyProof::Link("made-up".into())).await.unwrap_err(),
        AuthError::OtpExpired
    );
}

#[tokio::test]
async fn the_clock_expires_codes_after_ten_minutes_and_links_after_an_hour() {
    let world = TestWorld::new(AuthSettings::default());
    let mail = pending_sign_up(&world, "cy@example.com").await;
    world.clock.advance(Duration::minutes(10));
    let at_the_limit = world.service.resend_confirmation("cy@example.com", &LinkOptions::default()).await;
    at_the_limit.unwrap();
    let fresh = only_mail(&world).await;
    assert_eq!(
        verify(&world, VerifyType::Signup, code("cy@example.com", &mail)).await.unwrap_err(),
        AuthError::OtpExpired,
        "replaced by the resend"
    );
    world.clock.advance(Duration::minutes(10) + Duration::seconds(1));
    assert_eq!(
        verify(&world, VerifyType::Signup, code("cy@example.com", &fresh)).await.unwrap_err(),
        AuthError::OtpExpired,
        "codes last ten minutes"
    );
    world.clock.advance(Duration::minutes(49));
    session(verify(&world, VerifyType::Signup, link(&fresh)).await.unwrap());

    world.service.recover("cy@example.com", &LinkOptions::default()).await.unwrap();
    let recovery = only_mail(&world).await;
    world.clock.advance(Duration::hours(1) + Duration::seconds(1));
    assert_eq!(verify(&world, VerifyType::Recovery, link(&recovery)).await.unwrap_err(), AuthError::OtpExpired);
}

#[tokio::test]
async fn wrong_codes_are_counted_and_the_fifth_burns_the_secret() {
    let world = TestWorld::new(AuthSettings::default());
    let first = pending_sign_up(&world, "dee@example.com").await;
    let wrong = VerifyProof::Code { email: "dee@example.com".into(), code: "000000".into() };
    for _ in 1..MAX_CODE_ATTEMPTS {
        assert_eq!(verify(&world, VerifyType::Signup, wrong.clone()).await.unwrap_err(), AuthError::OtpExpired);
    }
    session(verify(&world, VerifyType::Signup, code("dee@example.com", &first)).await.unwrap());

    let second = pending_sign_up(&world, "eli@example.com").await;
    let wrong = VerifyProof::Code { email: "eli@example.com".into(), code: "000000".into() };
    for _ in 0..MAX_CODE_ATTEMPTS {
        assert_eq!(verify(&world, VerifyType::Signup, wrong.clone()).await.unwrap_err(), AuthError::OtpExpired);
    }
    let right = verify(&world, VerifyType::Signup, code("eli@example.com", &second)).await;
    assert_eq!(right.unwrap_err(), AuthError::OtpExpired, "burned by the fifth wrong guess");
    assert_eq!(verify(&world, VerifyType::Signup, link(&second)).await.unwrap_err(), AuthError::OtpExpired);
}

#[tokio::test]
async fn recovery_mails_known_addresses_only_and_signs_in_by_the_link() {
    let world = TestWorld::autoconfirm();
    world.signed_in_user("fay@example.com", PASSWORD).await.unwrap();
    world.service.recover("nobody@example.com", &LinkOptions::default()).await.unwrap();
    assert!(world.take_mail().await.unwrap().is_empty(), "nothing for an unknown address");
    assert!(matches!(
        world.service.recover("not an address", &LinkOptions::default()).await.unwrap_err(),
        AuthError::Validation { field: "email", .. }
    ));

    let options = LinkOptions::redirect(Some("http://localhost:3000/reset"));
    world.service.recover("FAY@example.com", &options).await.unwrap();
    let mail = only_mail(&world).await;
    assert_eq!(mail.kind, "recovery");
    assert_eq!(mail.link_param("redirect_to"), Some("http%3A%2F%2Flocalhost%3A3000%2Freset"));
    let issued = session(verify(&world, VerifyType::Recovery, link(&mail)).await.unwrap());
    assert_eq!(issued.session.auth_method, AuthMethod::Recovery);
    // The recovery session may set a new password without the old one.
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    let changes = UserChanges { password: Some(Password::new("a brand new one")), ..UserChanges::default() };
    world.service.update_user(&principal, changes).await.unwrap();
    world.sign_in("fay@example.com", "a brand new one").await.unwrap();
}

#[tokio::test]
async fn magic_links_land_at_the_site_url_and_codes_sign_in_as_otp() {
    let world = TestWorld::autoconfirm();
    world.signed_in_user("gus@example.com", PASSWORD).await.unwrap();
    let none = LinkOptions::default();
    world.service.send_magic_link("gus@example.com", SignInMail::Link, true, None, &none).await.unwrap();
    let magic = only_mail(&world).await;
    assert_eq!(magic.kind, "magic_link", "a link always has somewhere to land");
    assert_eq!(magic.link_param("redirect_to"), Some("http%3A%2F%2Flocalhost%3A3000"));
    assert_eq!(magic.link_param("type"), Some("magiclink"));
    let issued = session(verify(&world, VerifyType::MagicLink, link(&magic)).await.unwrap());
    assert_eq!(issued.session.auth_method, AuthMethod::Magiclink);

    world.clock.advance(Duration::minutes(1));
    world.service.send_magic_link("gus@example.com", SignInMail::Code, true, None, &none).await.unwrap();
    let otp = only_mail(&world).await;
    assert_eq!(otp.kind, "email_otp", "a code-only request names no landing");
    let issued = session(verify(&world, VerifyType::Email, code("gus@example.com", &otp)).await.unwrap());
    assert_eq!(issued.session.auth_method, AuthMethod::Otp);

    world.clock.advance(Duration::minutes(1));
    let landing = LinkOptions::redirect(Some("http://localhost:3000/in"));
    world.service.send_magic_link("gus@example.com", SignInMail::Code, true, None, &landing).await.unwrap();
    assert_eq!(only_mail(&world).await.kind, "magic_link", "a code request naming a landing gets a link mail");
}

/// Supabase Auth's answer, when chosen: `otp_disabled` for an address without an account, the
/// usual mail for one with an account.
#[tokio::test]
async fn create_user_false_can_answer_otp_disabled_for_unknown_addresses() {
    let mut settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    settings.email.otp_reveals_unknown_addresses = true;
    let world = TestWorld::new(settings);
    let none = LinkOptions::default();
    let refused = world.service.send_magic_link("ida@example.com", SignInMail::Code, false, None, &none).await;
    assert_eq!(refused.unwrap_err(), AuthError::OtpDisabled);
    assert_eq!(world.store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 0, "nobody created");
    world.signed_in_user("joe@example.com", PASSWORD).await.unwrap();
    world.service.send_magic_link("joe@example.com", SignInMail::Code, false, None, &none).await.unwrap();
    assert_eq!(only_mail(&world).await.kind, "email_otp");
}

#[tokio::test]
async fn an_unknown_address_signs_up_only_when_create_user_and_sign_ups_allow() {
    let world = TestWorld::new(AuthSettings::default());
    let none = LinkOptions::default();
    world.service.send_magic_link("hal@example.com", SignInMail::Code, false, None, &none).await.unwrap();
    assert!(world.take_mail().await.unwrap().is_empty());
    assert_eq!(world.store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 0, "create_user false creates nobody");

    world.clock.advance(Duration::minutes(1));
    world.service.send_magic_link("hal@example.com", SignInMail::Link, true, None, &none).await.unwrap();
    let mail = only_mail(&world).await;
    assert_eq!(mail.kind, "confirmation");
    let issued = session(verify(&world, VerifyType::Email, link(&mail)).await.unwrap());
    assert!(issued.user.email_confirmed_at.is_some() && issued.user.password_hash.is_none());

    let closed = TestWorld::new(AuthSettings { signup_enabled: false, ..AuthSettings::default() });
    closed.service.send_magic_link("ivy@example.com", SignInMail::Link, true, None, &none).await.unwrap();
    assert!(closed.take_mail().await.unwrap().is_empty(), "answers alike, sends nothing");
    assert_eq!(closed.store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 0);
}

#[tokio::test]
async fn an_invitation_creates_the_user_and_its_link_confirms_and_signs_in() {
    let world = TestWorld::new(AuthSettings::default());
    let data = Some(serde_json::json!({"team": "blue"}));
    let user = world.service.invite_user("jo@example.com", data, None, &test_client()).await.unwrap();
    assert!(user.email_confirmed_at.is_none());
    let mail = only_mail(&world).await;
    assert_eq!((mail.kind.as_str(), mail.link_param("type")), ("invite", Some("invite")));
    // Inviting again, before the invitation is used, mails a new one to the same user.
    let again = world.service.invite_user("jo@example.com", None, None, &test_client()).await.unwrap();
    assert_eq!(again.id, user.id);
    let mail = only_mail(&world).await;

    let issued = session(verify(&world, VerifyType::Invite, link(&mail)).await.unwrap());
    assert_eq!((issued.user.id, issued.session.auth_method), (user.id, AuthMethod::Invite));
    assert!(issued.user.email_confirmed_at.is_some());
    let confirmed = world.service.invite_user("jo@example.com", None, None, &test_client()).await;
    assert_eq!(confirmed.unwrap_err(), AuthError::EmailExists);
}

#[tokio::test]
async fn a_reauthentication_code_stands_in_for_the_current_password_once() {
    let world = TestWorld::autoconfirm();
    let issued = world.signed_in_user("kim@example.com", PASSWORD).await.unwrap();
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    let change = |nonce: &str| UserChanges {
        password: Some(Password::new("a brand new one")),
        nonce: Some(nonce.into()),
        ..UserChanges::default()
    };
    let unproved = UserChanges { password: Some(Password::new("a brand new one")), ..UserChanges::default() };
    assert_eq!(world.service.update_user(&principal, unproved).await.unwrap_err(), AuthError::CurrentPasswordRequired);

    world.service.reauthenticate(&principal).await.unwrap();
    let mail = only_mail(&world).await;
    assert_eq!(
        (mail.kind.as_str(), mail.code.len(), mail.link.as_str()),
        ("reauthentication", 6, ""),
        "a code, no link"
    );
    let wrong = world.service.update_user(&principal, change("000000")).await.unwrap_err();
    assert_eq!(wrong, AuthError::ReauthenticationNotValid);
    world.service.update_user(&principal, change(&mail.code)).await.unwrap();
    let reused = world.service.update_user(&principal, change(&mail.code)).await.unwrap_err();
    assert_eq!(reused, AuthError::ReauthenticationNotValid);
    world.sign_in("kim@example.com", "a brand new one").await.unwrap();
}

#[tokio::test]
async fn forgot_username_mails_the_username_of_the_address() {
    let world = TestWorld::autoconfirm();
    world.signed_in_user("lu@example.com", PASSWORD).await.unwrap();
    world.service.forgot_username("lu@example.com").await.unwrap();
    assert!(world.take_mail().await.unwrap().is_empty(), "no username, no mail");
    let issued = world.sign_in("lu@example.com", PASSWORD).await.unwrap();
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    let named = UserChanges { username: Some("lu_lu".into()), ..UserChanges::default() };
    world.service.update_user(&principal, named).await.unwrap();
    world.clock.advance(Duration::minutes(1));
    world.service.forgot_username("LU@example.com").await.unwrap();
    let mail = only_mail(&world).await;
    assert_eq!((mail.kind.as_str(), mail.username.as_str(), mail.code.as_str()), ("forgot_username", "lu_lu", ""));
}

#[tokio::test]
async fn one_mail_of_a_kind_per_address_per_interval_known_or_not() {
    let world = TestWorld::autoconfirm();
    world.signed_in_user("max@example.com", PASSWORD).await.unwrap();
    let none = LinkOptions::default();
    for address in ["max@example.com", "nobody@example.com"] {
        world.service.recover(address, &none).await.unwrap();
        world.clock.advance(Duration::seconds(20));
        let again = world.service.recover(&address.to_uppercase(), &none).await.unwrap_err();
        assert_eq!(again, AuthError::EmailRateLimited { retry_after: std::time::Duration::from_secs(40) }, "{address}");
    }
    // Another kind has its own allowance; `/magiclink` and `/otp` share one.
    world.service.send_magic_link("max@example.com", SignInMail::Code, true, None, &none).await.unwrap();
    let otp = world.service.send_magic_link("max@example.com", SignInMail::Link, true, None, &none).await;
    assert!(matches!(otp.unwrap_err(), AuthError::EmailRateLimited { .. }));
    assert_eq!(world.take_mail().await.unwrap().len(), 2, "one recovery, one code");

    world.clock.advance(Duration::seconds(40));
    world.service.recover("max@example.com", &none).await.unwrap();
    assert_eq!(only_mail(&world).await.kind, "recovery");

    let mut settings = AuthSettings { autoconfirm: true, ..AuthSettings::default() };
    settings.email.send_interval = Duration::zero();
    let unlimited = TestWorld::new(settings);
    for _ in 0..3 {
        unlimited.service.recover("max@example.com", &none).await.unwrap();
    }
}

#[tokio::test]
async fn an_account_gets_a_bounded_number_of_codes_a_day() {
    let world = TestWorld::autoconfirm();
    let issued = world.signed_in_user("cap@example.com", PASSWORD).await.unwrap();
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    let allowance = auth_core::service::EmailSettings::default().max_codes_per_day;
    for _ in 0..allowance {
        world.service.reauthenticate(&principal).await.unwrap();
        world.clock.advance(Duration::minutes(1));
    }
    let refused = world.service.reauthenticate(&principal).await.unwrap_err();
    assert!(matches!(refused, AuthError::EmailRateLimited { .. }), "{refused:?}");
    assert_eq!(refused.code(), "over_email_send_rate_limit");
    // A stranger asking for the account's recovery mail learns nothing: the answer is alike.
    world.service.recover("cap@example.com", &LinkOptions::default()).await.unwrap();
    assert_eq!(world.take_mail().await.unwrap().len(), allowance as usize, "nothing more was mailed");
    world.clock.advance(Duration::days(1));
    world.service.reauthenticate(&principal).await.unwrap();
}
