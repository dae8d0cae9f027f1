//! A service built without mail templates (an embedder that sends no mail): the flows that need
//! no mail work, and every flow that would mail refuses with `MailDisabled`, alike for known and
//! unknown addresses, before writing anything.

use auth_core::AuthError;
use auth_core::domain::{Email, UserQuery};
use auth_core::ports::UserStore;
use auth_core::service::{AuthSettings, LinkOptions, SignInMail, SignupOutcome};
use auth_core::testing::TestWorld;

const PASSWORD: &str = "correct horse";

fn without_mail(settings: AuthSettings) -> TestWorld {
    TestWorld::new(settings).with_ports(|ports| ports.templates = None)
}

#[tokio::test]
async fn sign_up_sign_in_and_refresh_need_no_templates() {
    let world = without_mail(AuthSettings { autoconfirm: true, ..AuthSettings::default() });
    assert!(matches!(world.sign_up("ada@example.com", PASSWORD).await.unwrap(), SignupOutcome::Session(_)));
    let issued = world.sign_in("ada@example.com", PASSWORD).await.unwrap();
    world.refresh(&issued).await.unwrap();
}

#[tokio::test]
async fn a_sign_up_that_needs_a_confirmation_mail_is_refused_and_stores_nothing() {
    let world = without_mail(AuthSettings::default());
    assert_eq!(world.sign_up("ada@example.com", PASSWORD).await.unwrap_err(), AuthError::MailDisabled);
    let email = Email::parse("ada@example.com").unwrap();
    assert_eq!(world.store.find_user_by_email(&email).await.unwrap(), None);
    assert_eq!(AuthError::MailDisabled.code(), "email_provider_disabled");
}

#[tokio::test]
async fn mailing_flows_refuse_alike_for_known_and_unknown_addresses() {
    let world = TestWorld::autoconfirm();
    world.sign_up("ada@example.com", PASSWORD).await.unwrap();
    let service = world.service_with(|ports| ports.templates = None);
    let link = LinkOptions::default();
    for address in ["ada@example.com", "nobody@example.com"] {
        assert_eq!(service.recover(address, &link).await, Err(AuthError::MailDisabled), "{address}");
        let magic = service.send_magic_link(address, SignInMail::Link, true, None, &link).await;
        assert_eq!(magic, Err(AuthError::MailDisabled), "{address}");
        assert_eq!(service.resend_confirmation(address, &link).await, Err(AuthError::MailDisabled), "{address}");
        assert_eq!(service.forgot_username(address).await, Err(AuthError::MailDisabled), "{address}");
    }
    assert_eq!(
        service.invite_user("new@example.com", None, None, &Default::default()).await,
        Err(AuthError::MailDisabled)
    );
    assert_eq!(world.store.count_users(&UserQuery::all(0, 10)).await.unwrap(), 1, "nothing was written");
    assert!(world.take_mail().await.unwrap().is_empty());
}
