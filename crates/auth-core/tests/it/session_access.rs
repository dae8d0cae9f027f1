use crate::refresh::session;
use auth_core::AuthError;
use auth_core::domain::Password;
use auth_core::ports::{SessionStore, UserStore};
use auth_core::service::{AuthSettings, Identifier, LogoutScope, UserChanges};
use auth_core::testing::{TestWorld, test_client};
use chrono::Duration;
use serde_json::json;

#[tokio::test]
async fn expired_and_garbage_access_tokens_are_bad_jwts() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    assert!(matches!(world.service.authenticate("garbage").await.unwrap_err(), AuthError::BadJwt(_)));
    world.clock.advance(Duration::hours(2));
    assert!(matches!(world.service.authenticate(&issued.access_token).await.unwrap_err(), AuthError::BadJwt(_)));
}

#[tokio::test]
async fn logout_scopes_end_the_right_sessions() {
    let world = TestWorld::autoconfirm();
    let a = session(&world).await;
    let login = Identifier::parse_login("jane@example.com").unwrap();
    let pw = Password::new("correct horse");
    let b = world.service.sign_in_with_password(&login, &pw, &test_client()).await.unwrap();
    let c = world.service.sign_in_with_password(&login, &pw, &test_client()).await.unwrap();

    let principal = world.service.authenticate(&a.access_token).await.unwrap();
    world.service.logout(&principal, LogoutScope::Others).await.unwrap();
    assert!(world.service.authenticate(&a.access_token).await.is_ok());
    assert_eq!(world.service.authenticate(&b.access_token).await.unwrap_err(), AuthError::SessionNotFound);

    world.service.logout(&principal, LogoutScope::Local).await.unwrap();
    assert_eq!(world.service.authenticate(&a.access_token).await.unwrap_err(), AuthError::SessionNotFound);
    assert_eq!(
        world.service.refresh(a.refresh_token.expose(), &test_client()).await.unwrap_err(),
        AuthError::RefreshTokenNotFound
    );
    assert_eq!(world.service.authenticate(&c.access_token).await.unwrap_err(), AuthError::SessionNotFound);

    let d = world.service.sign_in_with_password(&login, &pw, &test_client()).await.unwrap();
    let e = world.service.sign_in_with_password(&login, &pw, &test_client()).await.unwrap();
    let principal = world.service.authenticate(&d.access_token).await.unwrap();
    world.service.logout(&principal, LogoutScope::Global).await.unwrap();
    assert!(world.service.authenticate(&d.access_token).await.is_err());
    assert!(world.service.authenticate(&e.access_token).await.is_err());
}

#[tokio::test]
async fn banned_or_deleted_users_lose_their_tokens_at_once() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let mut user = issued.user.clone();
    user.banned_until = Some(issued.session.created_at + Duration::days(1));
    world.store.put_user(&user);
    assert_eq!(world.service.authenticate(&issued.access_token).await.unwrap_err(), AuthError::UserBanned);

    user.banned_until = None;
    world.store.put_user(&user);
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    world.service.delete_own_account(&principal, Some(&Password::new("correct horse")), None).await.unwrap();
    assert_eq!(world.service.authenticate(&issued.access_token).await.unwrap_err(), AuthError::UserNotFound);
    assert!(world.store.find_session(issued.session.id).await.unwrap().is_none());
}

#[tokio::test]
async fn self_deletion_needs_the_password_and_can_be_disabled() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    assert_eq!(
        world.service.delete_own_account(&principal, None, None).await.unwrap_err(),
        AuthError::CurrentPasswordRequired
    );
    let wrong = world.service.delete_own_account(&principal, Some(&Password::new("wrong one")), None).await;
    assert_eq!(wrong.unwrap_err(), AuthError::CurrentPasswordInvalid);
    assert!(world.store.find_user(issued.user.id).await.unwrap().is_some());

    let locked =
        TestWorld::new(AuthSettings { autoconfirm: true, self_delete_enabled: false, ..AuthSettings::default() });
    let issued = session(&locked).await;
    let principal = locked.service.authenticate(&issued.access_token).await.unwrap();
    let err = locked.service.delete_own_account(&principal, Some(&Password::new("correct horse")), None).await;
    assert_eq!(err.unwrap_err().code(), "feature_disabled");
}

#[tokio::test]
async fn password_change_rules_and_other_sessions_end() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let login = Identifier::parse_login("jane@example.com").unwrap();
    let other =
        world.service.sign_in_with_password(&login, &Password::new("correct horse"), &test_client()).await.unwrap();
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();

    let change = |new: &str, current: Option<&str>| UserChanges {
        password: Some(Password::new(new)),
        current_password: current.map(Password::new),
        ..UserChanges::default()
    };
    let err = world.service.update_user(&principal, change("brand new pass", None)).await.unwrap_err();
    assert_eq!(err, AuthError::CurrentPasswordRequired);
    let err = world.service.update_user(&principal, change("brand new pass", Some("wrong one"))).await.unwrap_err();
    assert_eq!(err, AuthError::CurrentPasswordInvalid);
    let err = world.service.update_user(&principal, change("correct horse", Some("correct horse"))).await.unwrap_err();
    assert_eq!(err, AuthError::SamePassword);
    let err = world.service.update_user(&principal, change("short", Some("correct horse"))).await.unwrap_err();
    assert_eq!(err.code(), "weak_password");

    world.service.update_user(&principal, change("brand new pass", Some("correct horse"))).await.unwrap();
    assert!(world.service.authenticate(&issued.access_token).await.is_ok(), "the caller's session survives");
    assert_eq!(world.service.authenticate(&other.access_token).await.unwrap_err(), AuthError::SessionNotFound);
    let old = world.service.sign_in_with_password(&login, &Password::new("correct horse"), &test_client()).await;
    assert_eq!(old.unwrap_err(), AuthError::InvalidCredentials);
    assert!(
        world.service.sign_in_with_password(&login, &Password::new("brand new pass"), &test_client()).await.is_ok()
    );
}

#[tokio::test]
async fn metadata_merges_and_username_changes() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    let changes = UserChanges { data: Some(json!({"first_name": "Jane", "nick": "jd"})), ..UserChanges::default() };
    let user = world.service.update_user(&principal, changes).await.unwrap();
    let seeded = json!({"sub": user.id.to_string(), "email": "jane@example.com", "email_verified": true, "phone_verified": false});
    let with = |extra: serde_json::Value| {
        let mut all = seeded.clone();
        all.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        all
    };
    assert_eq!(user.user_metadata.to_value(), with(json!({"first_name": "Jane", "nick": "jd"})));

    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    let changes =
        UserChanges { data: Some(json!({"nick": null})), username: Some("Jane.D".into()), ..UserChanges::default() };
    let user = world.service.update_user(&principal, changes).await.unwrap();
    assert_eq!(user.user_metadata.to_value(), with(json!({"first_name": "Jane"})), "seeded as Supabase Auth seeds it");
    assert_eq!(user.username.unwrap().as_str(), "Jane.D");
    assert_eq!(
        world.store.find_user(issued.user.id).await.unwrap().unwrap().user_metadata.to_value(),
        with(json!({"first_name": "Jane"}))
    );
}

/// A demoted user's token must not keep `/admin` (or a row-level policy reading its role or
/// `app_metadata`) until it expires.
#[tokio::test]
async fn an_operators_role_or_app_metadata_change_ends_the_users_sessions() {
    use auth_core::service::AdminUserAttributes;
    let world = TestWorld::autoconfirm();
    let first = world.signed_in_user("op@example.com", "correct horse").await.unwrap();
    let id = first.user.id;
    let client = test_client();
    let set = |attributes: AdminUserAttributes| world.service.admin_update_user(id, attributes, &client);

    set(AdminUserAttributes { role: Some("service_role".into()), ..AdminUserAttributes::default() }).await.unwrap();
    assert_eq!(world.service.authenticate(&first.access_token).await.unwrap_err(), AuthError::SessionNotFound);
    let admin = world.sign_in("op@example.com", "correct horse").await.unwrap();
    world.service.authorize_admin(&admin.access_token).await.unwrap();
    set(AdminUserAttributes { role: Some("authenticated".into()), ..AdminUserAttributes::default() }).await.unwrap();
    assert!(world.service.authorize_admin(&admin.access_token).await.is_err(), "demoted");
    assert_eq!(world.service.authenticate(&admin.access_token).await.unwrap_err(), AuthError::SessionNotFound);

    let user = world.sign_in("op@example.com", "correct horse").await.unwrap();
    let plan = || AdminUserAttributes { app_metadata: Some(json!({"plan": "gold"})), ..AdminUserAttributes::default() };
    set(plan()).await.unwrap();
    assert_eq!(world.service.authenticate(&user.access_token).await.unwrap_err(), AuthError::SessionNotFound);
    let user = world.sign_in("op@example.com", "correct horse").await.unwrap();
    set(plan()).await.unwrap();
    assert!(world.service.authenticate(&user.access_token).await.is_ok(), "nothing changed, nothing ends");
}

/// Admin authorisation trusts the store, not the token's claim: a role taken away or a ban
/// counts at once, even where no session was ended.
#[tokio::test]
async fn admin_authorisation_reads_the_current_role_and_ban() {
    let world = TestWorld::autoconfirm();
    let first = world.signed_in_user("ops@example.com", "correct horse").await.unwrap();
    let mut user = world.store.find_user(first.user.id).await.unwrap().unwrap();
    user.role = "service_role".into();
    world.store.put_user(&user);
    let admin = world.sign_in("ops@example.com", "correct horse").await.unwrap();
    world.service.authorize_admin(&admin.access_token).await.unwrap();

    user.role = "authenticated".into();
    world.store.put_user(&user);
    assert_eq!(world.service.authorize_admin(&admin.access_token).await.unwrap_err(), AuthError::NotAdmin);

    user.role = "service_role".into();
    user.banned_until = Some(TestWorld::start() + Duration::hours(1));
    world.store.put_user(&user);
    assert_eq!(world.service.authorize_admin(&admin.access_token).await.unwrap_err(), AuthError::NotAdmin);
}
