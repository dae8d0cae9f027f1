use auth_core::AuthError;
use auth_core::service::{AuthSettings, IssuedSession};
use auth_core::testing::{TestWorld, test_client};
use chrono::Duration;

pub async fn session(world: &TestWorld) -> IssuedSession {
    world.signed_in_user("jane@example.com", "correct horse").await.unwrap()
}

#[tokio::test]
async fn refresh_rotates_and_keeps_the_session() {
    let world = TestWorld::autoconfirm();
    let first = session(&world).await;
    world.clock.advance(Duration::minutes(30));
    let second = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    assert_eq!(second.session.id, first.session.id);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert!(second.expires_at > first.expires_at);
    let third = world.service.refresh(second.refresh_token.expose(), &test_client()).await.unwrap();
    assert_ne!(third.refresh_token, second.refresh_token);
}

#[tokio::test]
async fn retry_within_the_interval_gets_the_same_live_token() {
    let world = TestWorld::autoconfirm();
    let first = session(&world).await;
    let a = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    world.clock.advance(Duration::seconds(5));
    let b = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    assert_eq!(a.refresh_token, b.refresh_token);
}

#[tokio::test]
async fn past_the_lost_answer_window_a_spent_token_is_reuse() {
    let world = TestWorld::autoconfirm();
    let first = session(&world).await;
    world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    world.clock.advance(Duration::hours(25));
    let err = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap_err();
    assert_eq!(err, AuthError::RefreshTokenAlreadyUsed, "even while its successor is unused");
}

#[tokio::test]
async fn a_lost_answer_is_answered_again_until_its_token_is_used() {
    let world = TestWorld::autoconfirm();
    let first = session(&world).await;
    let lost = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    // An outage far longer than the reuse interval, within the lost-answer window (one day).
    world.clock.advance(Duration::hours(3));
    let again = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    assert_eq!(again.refresh_token, lost.refresh_token);
    world.service.refresh(again.refresh_token.expose(), &test_client()).await.unwrap();
    let err = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap_err();
    assert_eq!(err, AuthError::RefreshTokenAlreadyUsed, "once its successor is used, the old token is reuse");
}

#[tokio::test]
async fn reuse_revokes_the_session_and_its_access_tokens() {
    let world = TestWorld::autoconfirm();
    let first = session(&world).await;
    let second = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap();
    let third = world.service.refresh(second.refresh_token.expose(), &test_client()).await.unwrap();
    let err = world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap_err();
    assert_eq!(err, AuthError::RefreshTokenAlreadyUsed);
    assert_eq!(
        world.service.refresh(third.refresh_token.expose(), &test_client()).await.unwrap_err(),
        AuthError::RefreshTokenNotFound
    );
    let err = world.service.authenticate(&third.access_token).await.unwrap_err();
    assert_eq!(err, AuthError::SessionNotFound, "an unexpired access token dies with its session");
}

#[tokio::test]
async fn unknown_and_empty_tokens_are_not_found() {
    let world = TestWorld::autoconfirm();
    session(&world).await;
    assert_eq!(world.service.refresh("nonsense", &test_client()).await.unwrap_err(), AuthError::RefreshTokenNotFound);
    assert_eq!(world.service.refresh("", &test_client()).await.unwrap_err(), AuthError::RefreshTokenNotFound);
}

#[tokio::test]
async fn inactive_sessions_expire() {
    let limits = auth_core::domain::SessionLimits { timebox: None, inactivity_timeout: Some(Duration::hours(1)) };
    let world = TestWorld::new(AuthSettings { autoconfirm: true, session_limits: limits, ..AuthSettings::default() });
    let first = session(&world).await;
    world.clock.advance(Duration::minutes(61));
    assert_eq!(
        world.service.refresh(first.refresh_token.expose(), &test_client()).await.unwrap_err(),
        AuthError::SessionExpired
    );
}
