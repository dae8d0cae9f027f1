//! PKCE on the email flows: a link used in the browser leaves an auth code that the client
//! holding the verifier exchanges, once, before it expires.

use auth_core::AuthError;
use auth_core::domain::{AuthMethod, ChallengeMethod, CodeChallenge};
use auth_core::service::{LinkOptions, Verified, VerifyChannel, VerifyProof, VerifyType};
use auth_core::testing::{TestWorld, test_client};
use chrono::Duration;

use crate::email_links::{only_mail, session, verify};

// RFC 7636, appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// Well-formed, but not the verifier behind [`CHALLENGE`].
const WRONG_VERIFIER: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// A recovery link for a PKCE client, clicked in the browser: the auth code it leaves.
async fn auth_code(world: &TestWorld) -> String {
    world.signed_in_user("pat@example.com", "correct horse").await.unwrap();
    let pkce = Some(CodeChallenge::new(ChallengeMethod::S256, CHALLENGE).unwrap());
    let options = LinkOptions { redirect_to: None, pkce };
    world.service.recover("pat@example.com", &options).await.unwrap();
    let mail = only_mail(world).await;
    assert!(mail.link_token().starts_with("pkce_"), "the landing page tells a PKCE link by its token");
    let proof = VerifyProof::Link(mail.link_token());
    match world.service.verify(VerifyType::Recovery, &proof, VerifyChannel::Browser, &test_client()).await.unwrap() {
        Verified::AuthCode(code) => code.as_str().to_owned(),
        other => panic!("expected an auth code, got {other:?}"),
    }
}

#[tokio::test]
async fn an_auth_code_is_exchanged_once_and_only_with_its_verifier() {
    let world = TestWorld::autoconfirm();
    let code = auth_code(&world).await;
    let exchange = |verifier: &'static str| {
        let (service, code) = (world.service.clone(), code.clone());
        async move { service.exchange_auth_code(&code, verifier, &test_client()).await }
    };
    assert_eq!(exchange(WRONG_VERIFIER).await.unwrap_err(), AuthError::BadCodeVerifier);
    let issued = exchange(VERIFIER).await.unwrap();
    assert_eq!(issued.session.auth_method, AuthMethod::Recovery);
    assert_eq!(exchange(VERIFIER).await.unwrap_err(), AuthError::FlowStateNotFound, "a code works once");
    let unknown = world.service.exchange_auth_code("no-such-code", VERIFIER, &test_client()).await;
    assert_eq!(unknown.unwrap_err(), AuthError::FlowStateNotFound);
    assert!(matches!(
        world.service.exchange_auth_code(&code, " ", &test_client()).await.unwrap_err(),
        AuthError::Validation { field: "auth_code", .. }
    ));
}

#[tokio::test]
async fn an_auth_code_expires_by_the_clock() {
    let world = TestWorld::autoconfirm();
    let code = auth_code(&world).await;
    world.clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let late = world.service.exchange_auth_code(&code, VERIFIER, &test_client()).await;
    assert_eq!(late.unwrap_err(), AuthError::FlowStateExpired);
}

#[tokio::test]
async fn a_pkce_secret_verified_through_the_api_answers_the_session() {
    let world = TestWorld::autoconfirm();
    world.signed_in_user("quin@example.com", "correct horse").await.unwrap();
    let pkce = Some(CodeChallenge::new(ChallengeMethod::S256, CHALLENGE).unwrap());
    world.service.recover("quin@example.com", &LinkOptions { redirect_to: None, pkce }).await.unwrap();
    let mail = only_mail(&world).await;
    let proof = VerifyProof::Code { email: "quin@example.com".into(), code: mail.code.clone() };
    session(verify(&world, VerifyType::Recovery, proof).await.unwrap());
}

#[test]
fn plain_challenges_need_the_operator_s_consent() {
    let world = TestWorld::autoconfirm();
    let refused = world.service.code_challenge(Some(VERIFIER), Some("plain"));
    assert!(matches!(refused.unwrap_err(), AuthError::Validation { field: "code_challenge", .. }));
    assert_eq!(world.service.code_challenge(None, None).unwrap(), None);
    assert!(world.service.code_challenge(Some(CHALLENGE), Some("s256")).unwrap().is_some());
}
