//! Pruning on the injected clock: spent rows go once past the retention, live ones stay.

use std::sync::Arc;

use auth_core::domain::SessionLimits;
use auth_core::ports::SessionStore;
use auth_core::service::{LinkOptions, LogoutScope, PrunePolicy, Pruner};
use auth_core::testing::TestWorld;
use chrono::Duration;

const PASSWORD: &str = "correct horse";

#[tokio::test]
async fn pruning_removes_ended_sessions_and_expired_secrets_past_the_retention() {
    let world = TestWorld::autoconfirm();
    let kept = world.signed_in_user("pia@example.com", PASSWORD).await.unwrap();
    let ended = world.sign_in("pia@example.com", PASSWORD).await.unwrap();
    let principal = world.service.authenticate(&ended.access_token).await.unwrap();
    world.service.logout(&principal, LogoutScope::Local).await.unwrap();
    world.service.recover("pia@example.com", &LinkOptions::default()).await.unwrap();
    let policy = PrunePolicy {
        retention: Duration::days(1),
        replay_window: Duration::seconds(10),
        session_limits: SessionLimits::default(),
        batch: 1,
    };
    let store = Arc::clone(&world.store);
    let pruner = Pruner::new(store.clone(), store.clone(), store, world.clock.clone(), policy);
    assert_eq!(pruner.prune().await.unwrap().total(), 0, "nothing is past its retention yet");

    world.clock.advance(Duration::days(2));
    let report = pruner.prune().await.unwrap();
    assert_eq!((report.sessions, report.flows), (1, 1), "{report:?}");
    assert_eq!(world.store.find_session(ended.session.id).await.unwrap(), None);
    assert!(world.store.find_session(kept.session.id).await.unwrap().is_some());
    world.refresh(&kept).await.unwrap();
    assert_eq!(pruner.prune().await.unwrap().total(), 0, "a second pass finds nothing");
}
