//! Writes that must not carry back what was read earlier, and what a new password voids
//! (security review M2 and L10).

use auth_core::AuthError;
use auth_core::domain::Password;
use auth_core::domain::UserId;
use auth_core::ports::{Clock, UserStore};
use auth_core::service::{AdminUserAttributes, LinkOptions, Principal, UserChanges, VerifyType};
use auth_core::testing::{TestWorld, test_client};
use chrono::Duration;

use crate::email_links::{link, only_mail, verify};

const PASSWORD: &str = "correct horse";

async fn signed_in(world: &TestWorld, email: &str) -> Principal {
    let issued = world.signed_in_user(email, PASSWORD).await.unwrap();
    world.service.authenticate(&issued.access_token).await.unwrap()
}

async fn ban(world: &TestWorld, id: UserId) {
    let banned = AdminUserAttributes { ban_duration: Some("24h".into()), ..AdminUserAttributes::default() };
    world.service.admin_update_user(id, banned, &test_client()).await.unwrap();
}

#[tokio::test]
async fn a_ban_made_while_a_profile_update_runs_survives_it() {
    let world = TestWorld::autoconfirm();
    // The request authenticated (and read the user) before the operator's ban landed.
    let principal = signed_in(&world, "eve@example.com").await;
    ban(&world, principal.user.id).await;

    let profile = UserChanges { data: Some(serde_json::json!({"name": "Eve"})), ..UserChanges::default() };
    world.service.update_user(&principal, profile).await.unwrap();
    let stored = world.store.find_user(principal.user.id).await.unwrap().unwrap();
    assert!(stored.is_banned(world.clock.now()), "the ban survives the stale request");
    assert_eq!(stored.user_metadata.get("name"), Some(&serde_json::json!("Eve")));
}

#[tokio::test]
async fn a_password_reset_made_while_a_password_change_runs_is_not_overwritten() {
    let world = TestWorld::autoconfirm();
    // The attacker's request authenticated with the old password's hash in hand.
    let attacker = signed_in(&world, "vic@example.com").await;
    let reset = AdminUserAttributes { password: Some(Password::new("the owner's new one")), ..Default::default() };
    world.service.admin_update_user(attacker.user.id, reset, &test_client()).await.unwrap();

    let change = UserChanges {
        password: Some(Password::new("the attacker's own")),
        current_password: Some(Password::new(PASSWORD)),
        ..UserChanges::default()
    };
    assert!(world.service.update_user(&attacker, change).await.is_err());
    world.sign_in("vic@example.com", "the owner's new one").await.unwrap();
    assert_eq!(
        world.sign_in("vic@example.com", "the attacker's own").await.unwrap_err(),
        AuthError::InvalidCredentials
    );
}

#[tokio::test]
async fn a_new_password_voids_outstanding_magic_links_and_recovery_links() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world, "ann@example.com").await;
    world.service.recover("ann@example.com", &LinkOptions::default()).await.unwrap();
    let recovery = only_mail(&world).await;
    world.clock.advance(Duration::minutes(1));
    world
        .service
        .send_magic_link("ann@example.com", auth_core::service::SignInMail::Link, false, None, &LinkOptions::default())
        .await
        .unwrap();
    let magic = only_mail(&world).await;

    let change = UserChanges {
        password: Some(Password::new("a fresh password")),
        current_password: Some(Password::new(PASSWORD)),
        ..UserChanges::default()
    };
    world.service.update_user(&principal, change).await.unwrap();
    assert_eq!(verify(&world, VerifyType::MagicLink, link(&magic)).await.unwrap_err(), AuthError::OtpExpired);
    assert_eq!(verify(&world, VerifyType::Recovery, link(&recovery)).await.unwrap_err(), AuthError::OtpExpired);
}

#[tokio::test]
async fn an_operators_password_set_voids_outstanding_links() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world, "bo@example.com").await;
    world
        .service
        .send_magic_link("bo@example.com", auth_core::service::SignInMail::Link, false, None, &LinkOptions::default())
        .await
        .unwrap();
    let magic = only_mail(&world).await;
    let set = AdminUserAttributes { password: Some(Password::new("set by the operator")), ..Default::default() };
    world.service.admin_update_user(principal.user.id, set, &test_client()).await.unwrap();
    assert_eq!(verify(&world, VerifyType::MagicLink, link(&magic)).await.unwrap_err(), AuthError::OtpExpired);
}
