use std::sync::Arc;

use auth_core::AuthError;
use auth_core::domain::{Email, Metadata, Password, PasswordHash, User, UserId};
use auth_core::ports::{Clock, HashError, MockPasswordHasher, MockUserStore, PasswordCheck, UserStore};
use auth_core::service::{AuthService, AuthSettings, Identifier, SignupOutcome, SignupRequest};
use auth_core::testing::{TestWorld, test_client};
use chrono::Duration;

async fn signed_up(world: &TestWorld, email: &str, username: Option<&str>) -> auth_core::domain::User {
    let req = SignupRequest {
        email: Some(email.into()),
        username: username.map(Into::into),
        password: Some(Password::new("correct horse")),
        ..SignupRequest::default()
    };
    match world.service.signup(req, &test_client()).await.unwrap() {
        SignupOutcome::Session(issued) => issued.user,
        SignupOutcome::ConfirmationPending(user) => *user,
    }
}

fn login(s: &str) -> Identifier {
    Identifier::parse_login(s).unwrap()
}

#[tokio::test]
async fn sign_in_by_email_or_username() {
    let world = TestWorld::autoconfirm();
    let user = signed_up(&world, "jane@example.com", Some("JaneDoe")).await;
    let pw = Password::new("correct horse");
    let by_email = world.service.sign_in_with_password(&login("JANE@example.com"), &pw, &test_client()).await.unwrap();
    let by_name = world.service.sign_in_with_password(&login("janedoe"), &pw, &test_client()).await.unwrap();
    assert_eq!(by_email.user.id, user.id);
    assert_eq!(by_name.user.id, user.id);
    assert_ne!(by_email.session.id, by_name.session.id, "each sign-in is its own session");
    assert!(world.store.find_user(user.id).await.unwrap().unwrap().last_sign_in_at.is_some());
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same_and_cost_the_same() {
    let world = TestWorld::autoconfirm();
    signed_up(&world, "jane@example.com", None).await;
    let before = world.hasher.verifications();
    let wrong = world
        .service
        .sign_in_with_password(&login("jane@example.com"), &Password::new("nope nope"), &test_client())
        .await;
    let unknown = world
        .service
        .sign_in_with_password(&login("who@example.com"), &Password::new("nope nope"), &test_client())
        .await;
    assert_eq!(wrong.unwrap_err(), AuthError::InvalidCredentials);
    assert_eq!(unknown.unwrap_err(), AuthError::InvalidCredentials);
    assert_eq!(world.hasher.verifications() - before, 2, "the unknown account was hashed too");
}

#[tokio::test]
async fn unconfirmed_and_banned_are_revealed_only_after_the_right_password() {
    let world = TestWorld::new(AuthSettings::default());
    let user = signed_up(&world, "jane@example.com", None).await;
    let wrong = world
        .service
        .sign_in_with_password(&login("jane@example.com"), &Password::new("nope nope"), &test_client())
        .await;
    assert_eq!(wrong.unwrap_err(), AuthError::InvalidCredentials);
    let right = world
        .service
        .sign_in_with_password(&login("jane@example.com"), &Password::new("correct horse"), &test_client())
        .await;
    assert_eq!(right.unwrap_err(), AuthError::EmailNotConfirmed);

    let mut banned = user.clone();
    banned.email_confirmed_at = Some(user.created_at);
    banned.banned_until = Some(user.created_at + Duration::days(1));
    world.store.put_user(&banned);
    let pw = Password::new("correct horse");
    assert_eq!(
        world.service.sign_in_with_password(&login("jane@example.com"), &pw, &test_client()).await.unwrap_err(),
        AuthError::UserBanned
    );
    world.clock.advance(Duration::days(2));
    assert!(
        world.service.sign_in_with_password(&login("jane@example.com"), &pw, &test_client()).await.is_ok(),
        "bans end"
    );
}

#[tokio::test]
async fn outdated_hashes_are_replaced_at_sign_in() {
    let world = TestWorld::autoconfirm();
    let user = signed_up(&world, "jane@example.com", None).await;
    let old = world.store.find_user(user.id).await.unwrap().unwrap().password_hash;
    world.hasher.set_params("v2");
    world
        .service
        .sign_in_with_password(&login("jane@example.com"), &Password::new("correct horse"), &test_client())
        .await
        .unwrap();
    let new = world.store.find_user(user.id).await.unwrap().unwrap().password_hash;
    assert_ne!(old, new);
    assert!(new.unwrap().as_str().starts_with("fake$v2$"));
}

/// A confirmed account as `authd import gotrue` leaves it: a hash the current hasher never writes.
async fn imported(world: &TestWorld, stored_hash: &str) -> User {
    let now = world.clock.now();
    let user = User {
        id: "6f1c1d2e-0000-4000-8000-000000000001".parse::<UserId>().unwrap(),
        aud: "authenticated".into(),
        role: "authenticated".into(),
        email: Some(Email::parse("imported@example.com").unwrap()),
        phone: None,
        username: None,
        password_hash: Some(PasswordHash::new(stored_hash)),
        email_confirmed_at: Some(now),
        phone_confirmed_at: None,
        confirmation_sent_at: None,
        app_metadata: Metadata::new(),
        user_metadata: Metadata::new(),
        banned_until: None,
        is_anonymous: false,
        last_sign_in_at: None,
        created_at: now,
        updated_at: now,
        mail: Default::default(),
        deleted_at: None,
    };
    world.store.create_user(&user).await.unwrap();
    user
}

/// The world's store and clock, with a mocked hasher in place of the plain one.
fn with_hasher(world: &TestWorld, hasher: MockPasswordHasher) -> AuthService {
    world.service_with(|ports| ports.hasher = Arc::new(hasher))
}

/// The world's sessions and clock, with these users and this hasher.
fn with_ports(world: &TestWorld, users: Arc<dyn UserStore>, hasher: MockPasswordHasher) -> AuthService {
    world.service_with(|ports| {
        ports.users = users;
        ports.hasher = Arc::new(hasher);
    })
}

const BCRYPT: &str = "$2b$10$abcdefghijklmnopqrstuuZ1ZnSm0eHhr5Yq9Lw2tP3mDqU7Vd0Aq";

#[tokio::test]
async fn a_hash_the_hasher_wants_replaced_is_upgraded_by_the_sign_in_that_proves_the_password() {
    let world = TestWorld::new(AuthSettings::default());
    let user = imported(&world, BCRYPT).await;
    let mut hasher = MockPasswordHasher::new();
    hasher
        .expect_verify()
        .withf(|password, hash| password.expose() == "correct horse" && hash.is_some_and(|h| h.as_str() == BCRYPT))
        .times(1)
        .returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: true }));
    hasher
        .expect_hash()
        .withf(|password| password.expose() == "correct horse")
        .times(1)
        .returning(|_| Ok(PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$new")));
    let service = with_hasher(&world, hasher);
    let issued = service
        .sign_in_with_password(&login("imported@example.com"), &Password::new("correct horse"), &test_client())
        .await;
    assert_eq!(issued.unwrap().user.id, user.id);
    let stored = world.store.find_user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.unwrap().as_str(), "$argon2id$v=19$m=256,t=1,p=1$new");
    assert_eq!(stored.email, user.email, "nothing else changed");
    assert_eq!(stored.user_metadata, user.user_metadata);
}

#[tokio::test]
async fn a_wrong_password_or_a_failed_rehash_leaves_the_imported_hash_alone() {
    let world = TestWorld::new(AuthSettings::default());
    let user = imported(&world, BCRYPT).await;

    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify().times(1).returning(|_, _| Ok(PasswordCheck::Mismatch));
    hasher.expect_hash().never();
    let service = with_hasher(&world, hasher);
    let wrong = service
        .sign_in_with_password(&login("imported@example.com"), &Password::new("nope nope"), &test_client())
        .await;
    assert_eq!(wrong.unwrap_err(), AuthError::InvalidCredentials);

    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify().times(1).returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: true }));
    hasher.expect_hash().times(1).returning(|_| Err(HashError::Unavailable("pool closed".into())));
    let service = with_hasher(&world, hasher);
    let signed_in = service
        .sign_in_with_password(&login("imported@example.com"), &Password::new("correct horse"), &test_client())
        .await;
    assert!(signed_in.is_ok(), "the old hash still proves the password; the next sign-in tries again");
    let stored = world.store.find_user(user.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.unwrap().as_str(), BCRYPT);
}

#[tokio::test]
async fn an_upgrade_writes_only_the_hash_and_yields_to_a_change_made_meanwhile() {
    let world = TestWorld::new(AuthSettings::default());
    let user = imported(&world, BCRYPT).await;
    let mut users = MockUserStore::new();
    let found = user.clone();
    users.expect_find_user_by_email().returning(move |_| Ok(Some(found.clone())));
    // The password changed between this sign-in's read and its upgrade: the store says so.
    users
        .expect_replace_password_hash()
        .withf(move |id, current, new| {
            *id == user.id && current.as_str() == BCRYPT && new.as_str().starts_with("$argon2id$")
        })
        .times(1)
        .returning(|_, _, _| Ok(false));
    users.expect_change_user().never();
    let mut hasher = MockPasswordHasher::new();
    hasher.expect_verify().returning(|_, _| Ok(PasswordCheck::Match { needs_rehash: true }));
    hasher.expect_hash().returning(|_| Ok(PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$new")));
    let service = with_ports(&world, Arc::new(users), hasher);
    let issued = service
        .sign_in_with_password(&login("imported@example.com"), &Password::new("correct horse"), &test_client())
        .await;
    assert!(issued.is_ok(), "the sign-in itself stands");
}
