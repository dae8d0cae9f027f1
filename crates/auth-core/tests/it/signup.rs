use auth_core::AuthError;
use auth_core::domain::{Email, Password, UserQuery, WeakPasswordReason};
use auth_core::ports::UserStore;
use auth_core::service::{AuthSettings, SignupOutcome, SignupRequest};
use auth_core::testing::{TestWorld, test_client};
use serde_json::json;

fn request(email: &str, password: &str) -> SignupRequest {
    SignupRequest { email: Some(email.into()), password: Some(Password::new(password)), ..SignupRequest::default() }
}

#[tokio::test]
async fn autoconfirm_signup_answers_a_session_with_metadata() {
    let world = TestWorld::autoconfirm();
    let mut req = request("  Jane@Example.com ", "correct horse");
    req.data = Some(json!({"first_name": "Jane", "last_name": "Doe"}));
    let SignupOutcome::Session(issued) = world.service.signup(req, &test_client()).await.unwrap() else {
        panic!("expected a session");
    };
    assert_eq!(issued.user.email.as_ref().map(Email::as_str), Some("jane@example.com"));
    assert!(issued.user.email_confirmed_at.is_some());
    assert_eq!(issued.user.user_metadata.get("first_name"), Some(&json!("Jane")));
    assert_eq!(issued.user.app_metadata.get("provider"), Some(&json!("email")));
    assert_eq!(issued.expires_in, 3600);
    let principal = world.service.authenticate(&issued.access_token).await.unwrap();
    assert_eq!(principal.user.id, issued.user.id);
    assert_eq!(principal.claims.role, "authenticated");
    assert_eq!(principal.claims.amr[0].method, "password");
}

#[tokio::test]
async fn signup_needing_confirmation_answers_the_bare_user() {
    let world = TestWorld::new(AuthSettings::default());
    let outcome = world.service.signup(request("jane@example.com", "correct horse"), &test_client()).await.unwrap();
    let SignupOutcome::ConfirmationPending(user) = outcome else { panic!("expected a pending user") };
    assert!(user.email_confirmed_at.is_none());
    assert!(world.store.find_user(user.id).await.unwrap().is_some());
}

#[tokio::test]
async fn repeat_signup_of_a_confirmed_address_reveals_nothing() {
    let world = TestWorld::new(AuthSettings::default());
    let SignupOutcome::ConfirmationPending(first) =
        world.service.signup(request("jane@example.com", "correct horse"), &test_client()).await.unwrap()
    else {
        panic!()
    };
    let mut confirmed = *first;
    confirmed.email_confirmed_at = Some(confirmed.created_at);
    world.store.put_user(&confirmed);

    let again = world.service.signup(request("JANE@example.com", "other password"), &test_client()).await.unwrap();
    let SignupOutcome::ConfirmationPending(decoy) = again else { panic!("expected a look-alike pending user") };
    assert_ne!(decoy.id, confirmed.id, "the real id must not leak");
    assert!(decoy.email_confirmed_at.is_none());
    assert!(world.store.find_user(decoy.id).await.unwrap().is_none(), "the decoy is never stored");
    assert_eq!(world.store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 1);
}

/// A decoy built from the real account would show its role, audience or metadata to anyone who
/// signs up with the address (a privileged account stands out).
#[tokio::test]
async fn a_decoy_shows_nothing_of_the_real_account() {
    let world = TestWorld::new(AuthSettings::default());
    let SignupOutcome::ConfirmationPending(first) =
        world.service.signup(request("boss@example.com", "correct horse"), &test_client()).await.unwrap()
    else {
        panic!()
    };
    let mut boss = *first;
    boss.email_confirmed_at = Some(boss.created_at);
    boss.role = "premium".into();
    boss.aud = "internal".into();
    boss.app_metadata.insert("plan", json!("gold"));
    boss.user_metadata.insert("name", json!("The Boss"));
    world.store.put_user(&boss);

    let mut again = request("boss@example.com", "other password");
    again.data = Some(json!({"name": "Someone"}));
    let SignupOutcome::ConfirmationPending(decoy) = world.service.signup(again, &test_client()).await.unwrap() else {
        panic!("expected a look-alike pending user")
    };
    let SignupOutcome::ConfirmationPending(fresh) =
        world.service.signup(request("new@example.com", "correct horse"), &test_client()).await.unwrap()
    else {
        panic!()
    };
    assert_eq!((decoy.role.as_str(), decoy.aud.as_str()), (fresh.role.as_str(), fresh.aud.as_str()));
    assert_eq!(decoy.app_metadata, fresh.app_metadata);
    assert_eq!(decoy.user_metadata.get("name"), Some(&json!("Someone")));
}

#[tokio::test]
async fn repeat_signup_with_autoconfirm_says_user_exists() {
    let world = TestWorld::autoconfirm();
    world.service.signup(request("jane@example.com", "correct horse"), &test_client()).await.unwrap();
    let err = world.service.signup(request("jane@example.com", "correct horse"), &test_client()).await.unwrap_err();
    assert_eq!(err, AuthError::UserAlreadyExists);
}

#[tokio::test]
async fn signup_refusals_have_their_own_codes() {
    let disabled = TestWorld::new(AuthSettings { signup_enabled: false, ..AuthSettings::default() });
    let err = disabled.service.signup(request("a@example.com", "correct horse"), &test_client()).await.unwrap_err();
    assert_eq!(err.code(), "signup_disabled");

    let world = TestWorld::autoconfirm();
    let weak = world.service.signup(request("a@example.com", "short"), &test_client()).await.unwrap_err();
    let AuthError::WeakPassword(weak) = weak else { panic!("expected weak_password") };
    assert_eq!(weak.reasons, vec![WeakPasswordReason::Length]);

    let bad_email = world.service.signup(request("not-an-address", "correct horse"), &test_client()).await.unwrap_err();
    assert!(matches!(bad_email, AuthError::Validation { field: "email", .. }), "{bad_email:?}");

    let no_password = SignupRequest { email: Some("a@example.com".into()), ..SignupRequest::default() };
    let err = world.service.signup(no_password, &test_client()).await.unwrap_err();
    assert!(matches!(err, AuthError::Validation { field: "password", .. }), "{err:?}");

    let phone = SignupRequest {
        phone: Some("+15551234567".into()),
        password: Some(Password::new("correct horse")),
        ..SignupRequest::default()
    };
    assert_eq!(world.service.signup(phone, &test_client()).await.unwrap_err().code(), "phone_provider_disabled");

    let list =
        SignupRequest { data: Some(json!(["not", "an", "object"])), ..request("b@example.com", "correct horse") };
    assert_eq!(world.service.signup(list, &test_client()).await.unwrap_err().code(), "validation_failed");
}

#[tokio::test]
async fn anonymous_signup_follows_its_switch() {
    let off = TestWorld::autoconfirm();
    let err = off.service.signup(SignupRequest::default(), &test_client()).await.unwrap_err();
    assert_eq!(err, AuthError::AnonymousProviderDisabled);

    let on = TestWorld::new(AuthSettings { anonymous_enabled: true, ..AuthSettings::default() });
    let SignupOutcome::Session(issued) = on.service.signup(SignupRequest::default(), &test_client()).await.unwrap()
    else {
        panic!("expected a session")
    };
    assert!(issued.user.is_anonymous);
    assert!(issued.user.email.is_none());
    let claims = on.service.authenticate(&issued.access_token).await.unwrap().claims;
    assert!(claims.is_anonymous);
    assert_eq!(claims.amr[0].method, "anonymous");
}

#[tokio::test]
async fn usernames_are_unique_regardless_of_case() {
    let world = TestWorld::autoconfirm();
    let mut first = request("a@example.com", "correct horse");
    first.username = Some("JaneDoe".into());
    world.service.signup(first, &test_client()).await.unwrap();
    let mut second = request("b@example.com", "correct horse");
    second.username = Some("janedoe".into());
    assert_eq!(world.service.signup(second, &test_client()).await.unwrap_err(), AuthError::UsernameExists);
}
