use auth_core::AuthError;
use auth_core::domain::Password;
use auth_core::ports::UserStore;
use auth_core::service::{AuthSettings, Identifier, SignupOutcome, SignupRequest};
use chrono::Duration;

use crate::fakes::{World, client};

async fn signed_up(world: &World, email: &str, username: Option<&str>) -> auth_core::domain::User {
    let req = SignupRequest {
        email: Some(email.into()),
        username: username.map(Into::into),
        password: Some(Password::new("correct horse")),
        ..SignupRequest::default()
    };
    match world.service.signup(req, &client()).await.unwrap() {
        SignupOutcome::Session(issued) => issued.user,
        SignupOutcome::ConfirmationPending(user) => *user,
    }
}

fn login(s: &str) -> Identifier {
    Identifier::parse_login(s).unwrap()
}

#[tokio::test]
async fn sign_in_by_email_or_username() {
    let world = World::autoconfirm();
    let user = signed_up(&world, "jane@example.com", Some("JaneDoe")).await;
    let pw = Password::new("correct horse");
    let by_email = world.service.sign_in_with_password(&login("JANE@example.com"), &pw, &client()).await.unwrap();
    let by_name = world.service.sign_in_with_password(&login("janedoe"), &pw, &client()).await.unwrap();
    assert_eq!(by_email.user.id, user.id);
    assert_eq!(by_name.user.id, user.id);
    assert_ne!(by_email.session.id, by_name.session.id, "each sign-in is its own session");
    assert!(world.store.find_user(user.id).await.unwrap().unwrap().last_sign_in_at.is_some());
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same_and_cost_the_same() {
    let world = World::autoconfirm();
    signed_up(&world, "jane@example.com", None).await;
    let before = world.hasher.verifications();
    let wrong =
        world.service.sign_in_with_password(&login("jane@example.com"), &Password::new("nope nope"), &client()).await;
    let unknown =
        world.service.sign_in_with_password(&login("who@example.com"), &Password::new("nope nope"), &client()).await;
    assert_eq!(wrong.unwrap_err(), AuthError::InvalidCredentials);
    assert_eq!(unknown.unwrap_err(), AuthError::InvalidCredentials);
    assert_eq!(world.hasher.verifications() - before, 2, "the unknown account was hashed too");
}

#[tokio::test]
async fn unconfirmed_and_banned_are_revealed_only_after_the_right_password() {
    let world = World::new(AuthSettings::default());
    let user = signed_up(&world, "jane@example.com", None).await;
    let wrong =
        world.service.sign_in_with_password(&login("jane@example.com"), &Password::new("nope nope"), &client()).await;
    assert_eq!(wrong.unwrap_err(), AuthError::InvalidCredentials);
    let right = world
        .service
        .sign_in_with_password(&login("jane@example.com"), &Password::new("correct horse"), &client())
        .await;
    assert_eq!(right.unwrap_err(), AuthError::EmailNotConfirmed);

    let mut banned = user.clone();
    banned.email_confirmed_at = Some(user.created_at);
    banned.banned_until = Some(user.created_at + Duration::days(1));
    world.store.update_user(&banned).await.unwrap();
    let pw = Password::new("correct horse");
    assert_eq!(
        world.service.sign_in_with_password(&login("jane@example.com"), &pw, &client()).await.unwrap_err(),
        AuthError::UserBanned
    );
    world.clock.advance(Duration::days(2));
    assert!(world.service.sign_in_with_password(&login("jane@example.com"), &pw, &client()).await.is_ok(), "bans end");
}

#[tokio::test]
async fn outdated_hashes_are_replaced_at_sign_in() {
    let world = World::autoconfirm();
    let user = signed_up(&world, "jane@example.com", None).await;
    let old = world.store.find_user(user.id).await.unwrap().unwrap().password_hash;
    world.hasher.set_params("v2");
    world
        .service
        .sign_in_with_password(&login("jane@example.com"), &Password::new("correct horse"), &client())
        .await
        .unwrap();
    let new = world.store.find_user(user.id).await.unwrap().unwrap().password_hash;
    assert_ne!(old, new);
    assert!(new.unwrap().as_str().starts_with("fake$v2$"));
}
