//! Changing an address: both halves of a secure change, a change without the current address's
//! approval, resends, and halves that name different addresses.

use std::sync::Arc;

use auth_core::AuthError;
use auth_core::domain::{AuthMethod, Email, OneTimeKind};
use auth_core::ports::{EmailFlowStore, MockEmailFlowStore, StoreError};
use auth_core::service::{AuthSettings, EmailSettings, LinkOptions, Principal, UserChanges, Verified, VerifyType};
use auth_core::testing::{SentMail, TestWorld};
use chrono::Duration;

use crate::email_links::{code, link, session, verify};

/// A signed-in `old@example.com` and its principal.
async fn signed_in(world: &TestWorld) -> Principal {
    let issued = world.signed_in_user("old@example.com", "correct horse").await.unwrap();
    world.service.authenticate(&issued.access_token).await.unwrap()
}

/// The mails of a change, as (to the new address, to the current one).
async fn halves(world: &TestWorld) -> (SentMail, SentMail) {
    let mails = world.take_mail().await.unwrap();
    let find = |kind: &str| mails.iter().find(|m| m.kind == kind).cloned().unwrap_or_else(|| panic!("{mails:?}"));
    (find("email_change_new"), find("email_change_current"))
}

fn insecure() -> AuthSettings {
    AuthSettings {
        autoconfirm: true,
        email: EmailSettings { secure_email_change: false, ..EmailSettings::default() },
        ..AuthSettings::default()
    }
}

#[tokio::test]
async fn a_secure_change_applies_once_both_addresses_have_confirmed() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world).await;
    let request = UserChanges { email: Some("new@example.com".into()), ..UserChanges::default() };
    let unchanged = world.service.update_user(&principal, request).await.unwrap();
    assert_eq!(unchanged.email.as_ref().map(Email::as_str), Some("old@example.com"), "applies once confirmed");
    let (to_new, to_current) = halves(&world).await;
    assert_eq!((to_new.to.as_str(), to_current.to.as_str()), ("new@example.com", "old@example.com"));

    let first = verify(&world, VerifyType::EmailChange, code("new@example.com", &to_new)).await.unwrap();
    assert!(matches!(first, Verified::AwaitingOtherAddress), "{first:?}");
    assert_eq!(
        verify(&world, VerifyType::EmailChange, link(&to_new)).await.unwrap_err(),
        AuthError::OtpExpired,
        "each half works once"
    );
    let done = session(verify(&world, VerifyType::EmailChange, link(&to_current)).await.unwrap());
    assert_eq!(done.user.email.as_ref().map(Email::as_str), Some("new@example.com"));
    assert_eq!(done.session.auth_method, AuthMethod::EmailChange);
    world.sign_in("new@example.com", "correct horse").await.unwrap();
    assert_eq!(world.sign_in("old@example.com", "correct horse").await.unwrap_err(), AuthError::InvalidCredentials);
}

#[tokio::test]
async fn without_secure_change_the_new_address_alone_applies_it() {
    let world = TestWorld::new(insecure());
    let principal = signed_in(&world).await;
    world.service.request_email_change(&principal, "new@example.com", &LinkOptions::default()).await.unwrap();
    let mails = world.take_mail().await.unwrap();
    assert_eq!(mails.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["email_change_new"]);
    let done = session(verify(&world, VerifyType::EmailChange, code("new@example.com", &mails[0])).await.unwrap());
    assert_eq!(done.user.email.as_ref().map(Email::as_str), Some("new@example.com"));
}

#[tokio::test]
async fn a_taken_or_unchanged_address_starts_nothing() {
    let world = TestWorld::autoconfirm();
    world.signed_in_user("taken@example.com", "correct horse").await.unwrap();
    let principal = signed_in(&world).await;
    let none = LinkOptions::default();
    let taken = world.service.request_email_change(&principal, "TAKEN@example.com", &none).await;
    assert_eq!(taken.unwrap_err(), AuthError::EmailExists);
    world.service.request_email_change(&principal, "old@example.com", &none).await.unwrap();
    assert!(world.take_mail().await.unwrap().is_empty());
}

#[tokio::test]
async fn halves_naming_different_addresses_cannot_complete_a_change() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world).await;
    world.service.request_email_change(&principal, "new@example.com", &LinkOptions::default()).await.unwrap();
    let (to_new, to_current) = halves(&world).await;
    // An overlapping request left the approval naming another address.
    let user = principal.user.id;
    let mut approval = world.store.find_token(user, OneTimeKind::EmailChangeCurrent).await.unwrap().unwrap();
    approval.relates_to = Some(Email::parse("other@example.com").unwrap());
    world.store.issue_tokens(user, &[(approval, None)], &[], None).await.unwrap();

    for proof in [code("new@example.com", &to_new), link(&to_current)] {
        assert_eq!(verify(&world, VerifyType::EmailChange, proof).await.unwrap_err(), AuthError::OtpExpired);
    }
    let stored = world.store.find_token(user, OneTimeKind::EmailChangeNew).await.unwrap();
    assert!(stored.is_some(), "refused, not used");
}

#[tokio::test]
async fn wrong_codes_count_against_both_halves_together() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world).await;
    world.service.request_email_change(&principal, "new@example.com", &LinkOptions::default()).await.unwrap();
    let (_, to_current) = halves(&world).await;
    let wrong = auth_core::service::VerifyProof::Code { email: "new@example.com".into(), code: "000000".into() };
    for _ in 0..auth_core::domain::MAX_CODE_ATTEMPTS {
        assert_eq!(verify(&world, VerifyType::EmailChange, wrong.clone()).await.unwrap_err(), AuthError::OtpExpired);
    }
    assert_eq!(
        verify(&world, VerifyType::EmailChange, link(&to_current)).await.unwrap_err(),
        AuthError::OtpExpired,
        "guessing at the new address burned the approval too"
    );
}

#[tokio::test]
async fn a_resend_replaces_the_pending_halves() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world).await;
    world.service.request_email_change(&principal, "new@example.com", &LinkOptions::default()).await.unwrap();
    let (old_new, old_current) = halves(&world).await;
    world.service.resend_email_change("nobody@example.com", &LinkOptions::default()).await.unwrap();
    assert!(world.take_mail().await.unwrap().is_empty(), "answers alike for an unknown address");

    world.service.resend_email_change("old@example.com", &LinkOptions::default()).await.unwrap();
    let (to_new, to_current) = halves(&world).await;
    assert_eq!((to_new.to.as_str(), to_current.to.as_str()), ("new@example.com", "old@example.com"));
    for proof in [link(&old_new), link(&old_current)] {
        assert_eq!(verify(&world, VerifyType::EmailChange, proof).await.unwrap_err(), AuthError::OtpExpired);
    }
    verify(&world, VerifyType::EmailChange, link(&to_current)).await.unwrap();
    // Only the unconfirmed half is mailed again (once the address may ask again).
    world.clock.advance(Duration::minutes(1));
    world.service.resend_email_change("old@example.com", &LinkOptions::default()).await.unwrap();
    let again = world.take_mail().await.unwrap();
    assert_eq!(again.iter().map(|m| m.kind.as_str()).collect::<Vec<_>>(), ["email_change_new"]);
    let done = session(verify(&world, VerifyType::EmailChange, link(&again[0])).await.unwrap());
    assert_eq!(done.user.email.as_ref().map(Email::as_str), Some("new@example.com"));
}

#[tokio::test]
async fn a_change_without_approval_withdraws_a_pending_one_in_the_same_write() {
    // An approval left pending from when secure change was on.
    let world = TestWorld::new(insecure());
    let principal = signed_in(&world).await;
    let mut flows = MockEmailFlowStore::new();
    flows.expect_redeem_token().never();
    flows
        .expect_issue_tokens()
        .withf(|_, secrets, withdraw, _| {
            secrets.len() == 1
                && secrets[0].0.kind == OneTimeKind::EmailChangeNew
                && withdraw.contains(&OneTimeKind::EmailChangeCurrent)
        })
        .times(1)
        .returning(|_, _, _, _| Err(StoreError::Unavailable("connection reset".into())));
    let service = world.service_with(|ports| ports.flows = Arc::new(flows));
    let refused = service.request_email_change(&principal, "new@example.com", &LinkOptions::default()).await;
    assert_eq!(refused.unwrap_err(), AuthError::Unavailable("connection reset".into()));
}

/// Templates that fail for one kind of mail, as a database failing half-way would.
struct FailingFor(auth_core::domain::MailKind);

impl auth_core::ports::MailTemplates for FailingFor {
    fn render(
        &self,
        context: &auth_core::domain::MailContext,
    ) -> Result<auth_core::ports::Mail, auth_core::ports::MailError> {
        if context.kind == self.0 {
            return Err(auth_core::ports::MailError::Transient("injected".into()));
        }
        auth_core::ports::MailTemplates::render(&auth_core::testing::PlainTemplates, context)
    }
}

#[tokio::test]
async fn a_failure_while_issuing_the_halves_leaves_neither() {
    let world = TestWorld::autoconfirm();
    let principal = signed_in(&world).await;
    let failing = world.service_with(|ports| {
        ports.templates = Some(Arc::new(FailingFor(auth_core::domain::MailKind::EmailChangeCurrent)));
    });
    assert!(failing.request_email_change(&principal, "evil@example.com", &LinkOptions::default()).await.is_err());

    let user = principal.user.id;
    assert_eq!(world.store.find_token(user, OneTimeKind::EmailChangeNew).await.unwrap(), None, "no half alone");
    assert!(world.take_mail().await.unwrap().is_empty(), "and no mail");
}
