//! The contract of AuditLog.

use super::fixtures::*;

contract_cases! { $ audit_contract_cases, audit;
    /// Audit events come back newest first with every field, and pruning drops old ones only.
    pub async fn audit_events_round_trip_and_prune(store: Arc<impl Store>) {
        let target = UserId::from_uuid(Uuid::from_u128(9));
        let event = |minutes: i64, action: AuditAction, actor: Actor| AuditEvent {
            id: 0,
            at: t0() + Duration::minutes(minutes),
            action,
            actor,
            target: Some(target),
            ip: Some("192.0.2.1".into()),
            user_agent: Some("tests".into()),
            details: serde_json::json!({"scope": "global"}),
        };
        store.record(event(0, AuditAction::Login, Actor::User(target))).await;
        store.record(event(1, AuditAction::AdminUserBanned, Actor::Admin)).await;
        store.record(event(2, AuditAction::LoginFailed, Actor::Anonymous)).await;
        assert_eq!(store.count_events().await.unwrap(), 3);
        let listed = store.list_events(0, 10).await.unwrap();
        let actions: Vec<AuditAction> = listed.iter().map(|e| e.action).collect();
        assert_eq!(actions, [AuditAction::LoginFailed, AuditAction::AdminUserBanned, AuditAction::Login]);
        let mut expected = event(0, AuditAction::Login, Actor::User(target));
        expected.id = listed[2].id;
        assert_eq!(listed[2], expected);
        assert!(listed[0].id > listed[1].id && listed[1].id > listed[2].id);
        assert_eq!(store.list_events(1, 1).await.unwrap()[0].action, AuditAction::AdminUserBanned);

        assert_eq!(store.prune_events(t0() + Duration::minutes(1)).await.unwrap(), 1);
        assert_eq!(store.count_events().await.unwrap(), 2);
    }
}
