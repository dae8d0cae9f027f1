//! Multi-factor use cases: enrollment rules, the verification that raises a session to aal2
//! (in place, once per challenge and per time step, limited per factor), the aal2 gates, and
//! unenrollment lowering sessions; TOTP codes come from the world's double on its clock.

use auth_core::domain::{Aal, AuditAction, FactorStatus};
use auth_core::ports::{AuditLog, Clock};
use auth_core::service::{Principal, UserChanges};
use auth_core::testing::{FakeTotp, TestWorld};
use auth_core::{AuthError, MfaError};
use chrono::Duration;

use crate::refresh::session;

async fn principal(world: &TestWorld, token: &str) -> Principal {
    world.service.authenticate(token).await.unwrap()
}

fn mfa(error: AuthError) -> MfaError {
    match error {
        AuthError::Mfa(mfa) => mfa,
        other => panic!("expected an MFA refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn verification_raises_the_session_in_place_once_per_step() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let caller = principal(&world, &issued.access_token).await;
    let enrolled = world.service.enroll_totp(&caller, Some("app".into()), None).await.unwrap();
    assert_eq!(enrolled.factor.status, FactorStatus::Unverified);
    assert!(enrolled.uri.contains("authd:jane@example.com"), "the default issuer: {}", enrolled.uri);
    let id = enrolled.factor.id;
    let secret = enrolled.secret.expose().to_owned();

    let challenge = world.service.challenge_factor(&caller, id).await.unwrap();
    let wrong = world.service.verify_factor(&caller, id, Some(challenge.id), "000000").await.unwrap_err();
    assert_eq!(mfa(wrong), MfaError::VerificationFailed);
    let code = FakeTotp::code(&secret, world.clock.now());
    let raised = world.service.verify_factor(&caller, id, Some(challenge.id), &code).await.unwrap();
    assert_eq!(raised.session.id, issued.session.id, "the same session");
    assert_eq!(raised.session.aal, Aal::Aal2);
    assert_eq!(raised.factors[0].status, FactorStatus::Verified);
    let claims = world.service.authenticate(&raised.access_token).await.unwrap().claims;
    assert_eq!((claims.aal, claims.amr[0].method.as_str()), (Aal::Aal2, "totp"));
    // The aal1 refresh token is spent; refreshing the new one keeps aal2.
    assert!(world.refresh(&issued).await.is_err());
    assert_eq!(world.refresh(&raised).await.unwrap().session.aal, Aal::Aal2);

    // The same code with a new challenge is a replay; so is the used challenge.
    let again = world.service.challenge_factor(&caller, id).await.unwrap();
    let replay = world.service.verify_factor(&caller, id, Some(again.id), &code).await.unwrap_err();
    assert_eq!(mfa(replay), MfaError::VerificationFailed);
    let used = world.service.verify_factor(&caller, id, Some(challenge.id), &code).await.unwrap_err();
    assert_eq!(mfa(used), MfaError::ChallengeMismatch);
    world.clock.advance(Duration::seconds(301));
    let late = FakeTotp::code(&secret, world.clock.now());
    let expired = world.service.verify_factor(&caller, id, Some(again.id), &late).await.unwrap_err();
    assert_eq!(mfa(expired), MfaError::ChallengeExpired(again.id));

    let actions: Vec<AuditAction> = world.store.list_events(0, 100).await.unwrap().iter().map(|e| e.action).collect();
    for action in [AuditAction::FactorEnrolled, AuditAction::FactorChallenged, AuditAction::FactorVerified] {
        assert!(actions.contains(&action), "{action:?} in {actions:?}");
    }
    assert!(actions.contains(&AuditAction::FactorVerificationFailed));
}

#[tokio::test]
async fn aal1_sessions_of_a_user_with_a_verified_factor_are_gated() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let caller = principal(&world, &issued.access_token).await;
    let enrolled = world.service.enroll_totp(&caller, None, None).await.unwrap();
    let id = enrolled.factor.id;
    let challenge = world.service.challenge_factor(&caller, id).await.unwrap();
    let code = FakeTotp::code(enrolled.secret.expose(), world.clock.now());
    world.service.verify_factor(&caller, id, Some(challenge.id), &code).await.unwrap();

    let aal1 = world.sign_in("jane@example.com", "correct horse").await.unwrap();
    assert_eq!(aal1.factors.len(), 1, "sign-in answers list the factors");
    let weak = principal(&world, &aal1.access_token).await;
    let enroll = world.service.enroll_totp(&weak, None, None).await.unwrap_err();
    assert_eq!(mfa(enroll), MfaError::EnrollNeedsAal2);
    assert_eq!(mfa(world.service.unenroll_factor(&weak, id).await.unwrap_err()), MfaError::UnenrollNeedsAal2);
    let changes = UserChanges { email: Some("new@example.com".into()), ..UserChanges::default() };
    assert_eq!(mfa(world.service.update_user(&weak, changes).await.unwrap_err()), MfaError::UpdateNeedsAal2);
    let metadata = UserChanges { data: Some(serde_json::json!({"a": 1})), ..UserChanges::default() };
    assert!(world.service.update_user(&weak, metadata).await.is_ok(), "metadata needs no aal2");
}

#[tokio::test]
async fn unenrolling_lowers_the_sessions_it_raised() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let caller = principal(&world, &issued.access_token).await;
    let enrolled = world.service.enroll_totp(&caller, None, None).await.unwrap();
    let id = enrolled.factor.id;
    let challenge = world.service.challenge_factor(&caller, id).await.unwrap();
    let code = FakeTotp::code(enrolled.secret.expose(), world.clock.now());
    let raised = world.service.verify_factor(&caller, id, Some(challenge.id), &code).await.unwrap();
    let strong = principal(&world, &raised.access_token).await;
    assert_eq!(world.service.unenroll_factor(&strong, id).await.unwrap().id, id);
    let after = world.refresh(&raised).await.unwrap();
    assert_eq!((after.session.aal, after.session.mfa), (Aal::Aal1, None));
    assert!(after.factors.is_empty());
}

#[tokio::test]
async fn enrollment_limits_and_abandoned_factors() {
    let world = TestWorld::autoconfirm();
    let issued = session(&world).await;
    let caller = principal(&world, &issued.access_token).await;
    for _ in 0..10 {
        world.service.enroll_totp(&caller, None, None).await.unwrap();
    }
    let full = world.service.enroll_totp(&caller, None, None).await.unwrap_err();
    assert_eq!(mfa(full), MfaError::TooManyFactors);
    // Unchallenged enrollments older than the factor lifetime make room again.
    world.clock.advance(Duration::seconds(301));
    world.service.enroll_totp(&caller, Some("fresh".into()), None).await.unwrap();
    assert_eq!(world.service.user_factors(caller.user.id).await.unwrap().len(), 1);
}
