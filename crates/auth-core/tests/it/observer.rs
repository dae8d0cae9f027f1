//! What the use cases report to their observer: each audit event as it is recorded, each mail
//! once the write that queued it succeeded.

use std::sync::{Arc, Mutex};

use auth_core::AuthError;
use auth_core::domain::{AuditAction, AuditEvent, MailKind};
use auth_core::ports::{MockEmailFlowStore, Observer, StoreError};
use auth_core::service::{AuthSettings, LinkOptions};
use auth_core::testing::TestWorld;

/// Keeps what it hears.
#[derive(Default)]
struct Recorder {
    actions: Mutex<Vec<AuditAction>>,
    mails: Mutex<Vec<MailKind>>,
}

impl Observer for Recorder {
    fn recorded(&self, event: &AuditEvent) {
        self.actions.lock().unwrap().push(event.action);
    }

    fn mail_queued(&self, kind: MailKind) {
        self.mails.lock().unwrap().push(kind);
    }
}

fn observed() -> (TestWorld, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    (TestWorld::new(AuthSettings::default()).with_observer(recorder.clone()), recorder)
}

#[tokio::test]
async fn each_audit_event_and_each_queued_mail_is_reported_once() {
    let (world, recorder) = observed();
    world.sign_up("jane@example.com", "correct horse").await.unwrap();
    world.service.recover("jane@example.com", &LinkOptions::default()).await.unwrap();
    world.service.recover("nobody@example.com", &LinkOptions::default()).await.unwrap();

    assert_eq!(*recorder.actions.lock().unwrap(), [AuditAction::Signup]);
    assert_eq!(*recorder.mails.lock().unwrap(), [MailKind::Confirmation, MailKind::Recovery]);
    assert_eq!(world.take_mail().await.unwrap().len(), 2, "what is reported is what the outbox holds");
}

#[tokio::test]
async fn a_mail_whose_write_failed_is_not_reported() {
    let (world, recorder) = observed();
    world.sign_up("jane@example.com", "correct horse").await.unwrap();
    let mut flows = MockEmailFlowStore::new();
    flows
        .expect_issue_tokens()
        .times(1)
        .returning(|_, _, _, _| Err(StoreError::Unavailable("connection reset".into())));
    let service = world.service_with(|ports| ports.flows = Arc::new(flows));

    let refused = service.recover("jane@example.com", &LinkOptions::default()).await;
    assert_eq!(refused.unwrap_err(), AuthError::Unavailable("connection reset".into()));
    assert_eq!(*recorder.mails.lock().unwrap(), [MailKind::Confirmation]);
}
