//! Issue 14 items 5, 6 and 7 at use-case speed: the per-account throttle of password checks on
//! every path that checks one, and the proof a passwordless account needs before it gets a
//! password or is deleted.

use auth_core::AuthError;
use auth_core::domain::{AuthMethod, Email, Password};
use auth_core::ports::UserStore;
use auth_core::service::{
    AuthSettings, Identifier, LinkOptions, PasswordThrottle, Principal, SignInMail, UserChanges, VerifyType,
};
use auth_core::testing::TestWorld;
use chrono::Duration;

use crate::email_links::{link, only_mail, session, verify};

const PASSWORD: &str = "correct horse";

fn world_with(throttle: PasswordThrottle) -> TestWorld {
    TestWorld::new(AuthSettings { autoconfirm: true, password_throttle: throttle, ..AuthSettings::default() })
}

fn small_throttle() -> PasswordThrottle {
    PasswordThrottle { per_client: 3, per_account: 5, ..PasswordThrottle::default() }
}

fn from(ip: &str) -> auth_core::service::ClientInfo {
    auth_core::service::ClientInfo { ip: Some(ip.into()), user_agent: None }
}

async fn sign_in_from(world: &TestWorld, ip: &str, password: &str) -> Result<(), AuthError> {
    let login = Identifier::parse_login("vic@example.com").unwrap();
    world.service.sign_in_with_password(&login, &Password::new(password), &from(ip)).await.map(drop)
}

fn refused(outcome: Result<(), AuthError>) -> bool {
    matches!(outcome, Err(AuthError::TooManyAttempts { .. }))
}

#[tokio::test]
async fn guesses_from_many_networks_are_throttled_per_account() {
    let world = world_with(small_throttle());
    world.signed_in_user("vic@example.com", PASSWORD).await.unwrap();
    // The owner signs in once from home: that network is now known to the account (the check
    // counted, as every check from a network the account did not know yet).
    sign_in_from(&world, "192.0.2.10", PASSWORD).await.unwrap();
    for i in 0..4 {
        let outcome = sign_in_from(&world, &format!("2001:db8:{i}::1"), "guess").await;
        assert_eq!(outcome, Err(AuthError::InvalidCredentials), "guess {i}");
    }
    assert!(refused(sign_in_from(&world, "2001:db8:99::1", "guess").await), "the account's count is spent");
    assert!(refused(sign_in_from(&world, "2001:db8:98::1", PASSWORD).await), "even the right password, unchecked");
    sign_in_from(&world, "192.0.2.10", PASSWORD).await.expect("a known network is not locked out");
    world.clock.advance(Duration::minutes(3));
    sign_in_from(&world, "2001:db8:97::1", PASSWORD).await.expect("the count refills with time");
}

#[tokio::test]
async fn an_ipv6_host_counts_as_its_64() {
    let world = world_with(small_throttle());
    world.signed_in_user("vic@example.com", PASSWORD).await.unwrap();
    for i in 1..=3 {
        let outcome = sign_in_from(&world, &format!("2001:db8:5:6::{i}"), "guess").await;
        assert_eq!(outcome, Err(AuthError::InvalidCredentials));
    }
    assert!(refused(sign_in_from(&world, "2001:db8:5:6:ffff::9", "guess").await), "same /64, same count");
    assert_eq!(sign_in_from(&world, "2001:db8:5:7::1", "guess").await, Err(AuthError::InvalidCredentials));
}

#[tokio::test]
async fn unknown_accounts_are_throttled_alike() {
    let world = world_with(small_throttle());
    let login = Identifier::parse_login("nobody@example.com").unwrap();
    for _ in 0..3 {
        let outcome = world.service.sign_in_with_password(&login, &Password::new("x"), &from("192.0.2.1")).await;
        assert_eq!(outcome.map(drop), Err(AuthError::InvalidCredentials));
    }
    let outcome = world.service.sign_in_with_password(&login, &Password::new("x"), &from("192.0.2.1")).await;
    assert!(matches!(outcome, Err(AuthError::TooManyAttempts { .. })), "no tell whether the account exists");
}

async fn principal_from(world: &TestWorld, ip: &str) -> Principal {
    let issued = world.signed_in_user("vic@example.com", PASSWORD).await.unwrap();
    let mut principal = world.service.authenticate(&issued.access_token).await.unwrap();
    principal.client = from(ip);
    principal
}

#[tokio::test]
async fn current_password_guesses_with_a_stolen_token_are_throttled() {
    let world = world_with(small_throttle());
    let principal = principal_from(&world, "203.0.113.5").await;
    let guess = |g: &str| UserChanges {
        password: Some(Password::new("a brand new one")),
        current_password: Some(Password::new(g)),
        ..UserChanges::default()
    };
    for _ in 0..3 {
        assert_eq!(
            world.service.update_user(&principal, guess("wrong")).await.unwrap_err(),
            AuthError::CurrentPasswordInvalid
        );
    }
    let over = world.service.update_user(&principal, guess(PASSWORD)).await.unwrap_err();
    assert!(matches!(over, AuthError::TooManyAttempts { .. }), "{over:?}");
    // The same count as sign-in: the account's guesses from this network are spent there too.
    assert!(refused(sign_in_from(&world, "203.0.113.5", PASSWORD).await));
}

#[tokio::test]
async fn deletion_password_guesses_are_throttled() {
    let world = world_with(small_throttle());
    let principal = principal_from(&world, "203.0.113.6").await;
    for _ in 0..3 {
        let wrong = world.service.delete_own_account(&principal, Some(&Password::new("wrong")), None).await;
        assert_eq!(wrong.unwrap_err(), AuthError::CurrentPasswordInvalid);
    }
    let over = world.service.delete_own_account(&principal, Some(&Password::new(PASSWORD)), None).await;
    assert!(matches!(over, Err(AuthError::TooManyAttempts { .. })), "{over:?}");
    assert!(world.store.find_user(principal.user.id).await.unwrap().is_some());
}

/// A magic-link user (no password), signed in by the link.
async fn passwordless(world: &TestWorld) -> Principal {
    world.signed_in_user("ml@example.com", PASSWORD).await.unwrap();
    let mut user = world.store.find_user_by_email(&Email::parse("ml@example.com").unwrap()).await.unwrap().unwrap();
    user.password_hash = None;
    world.store.put_user(&user);
    let none = LinkOptions::default();
    world.service.send_magic_link("ml@example.com", SignInMail::Link, false, None, &none).await.unwrap();
    let magic = only_mail(world).await;
    let issued = session(verify(world, VerifyType::MagicLink, link(&magic)).await.unwrap());
    assert_eq!(issued.session.auth_method, AuthMethod::Magiclink);
    world.service.authenticate(&issued.access_token).await.unwrap()
}

fn first_password() -> UserChanges {
    UserChanges { password: Some(Password::new("attacker chosen 1")), ..UserChanges::default() }
}

#[tokio::test]
async fn a_first_password_needs_a_fresh_email_proof_or_a_nonce() {
    let world = TestWorld::autoconfirm();
    let principal = passwordless(&world).await;
    world.clock.advance(Duration::minutes(10));
    let stale = world.service.update_user(&principal, first_password()).await.unwrap_err();
    assert_eq!(stale, AuthError::ReauthenticationNeeded);
    assert!(world.sign_in("ml@example.com", "attacker chosen 1").await.is_err(), "no password was set");

    world.service.reauthenticate(&principal).await.unwrap();
    let code = only_mail(&world).await.code;
    let with_nonce = UserChanges { nonce: Some(code), ..first_password() };
    world.service.update_user(&principal, with_nonce).await.unwrap();
    world.sign_in("ml@example.com", "attacker chosen 1").await.unwrap();
}

#[tokio::test]
async fn a_fresh_email_sign_in_may_set_a_first_password() {
    let world = TestWorld::autoconfirm();
    let principal = passwordless(&world).await;
    world.clock.advance(Duration::minutes(4));
    world.service.update_user(&principal, first_password()).await.unwrap();
}

#[tokio::test]
async fn deleting_a_passwordless_account_needs_the_same_proof() {
    let world = TestWorld::autoconfirm();
    let principal = passwordless(&world).await;
    world.clock.advance(Duration::minutes(10));
    let refused = world.service.delete_own_account(&principal, None, None).await.unwrap_err();
    assert_eq!(refused, AuthError::ReauthenticationNeeded);
    assert_eq!(
        world.service.delete_own_account(&principal, None, Some("000000")).await.unwrap_err(),
        AuthError::ReauthenticationNotValid
    );
    world.service.reauthenticate(&principal).await.unwrap();
    let code = only_mail(&world).await.code;
    world.service.delete_own_account(&principal, None, Some(&code)).await.unwrap();
    assert!(world.store.find_user(principal.user.id).await.unwrap().is_none());
}
