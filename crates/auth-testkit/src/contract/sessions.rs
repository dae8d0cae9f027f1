//! The contract of SessionStore: starting sessions, refresh-token rotation and reuse detection, expiry, revocation.

use super::fixtures::*;

contract_cases! { $ session_contract_cases, sessions;
    /// A session cannot belong to a user who does not exist.
    pub async fn session_start_needs_an_existing_user(store: Arc<impl Store>) {
        let ghost = user(7, Some("ghost@example.com"), None);
        let login = event_by(&ghost, AuditAction::Login);
        let result = store.start_session(&session(1, &ghost, t0()), &token("t0-token").digest(), &[login]).await;
        assert_eq!(result, Err(StoreError::NotFound));
        assert!(audited(&store).await.is_empty(), "a refused write records no event");
        assert_eq!(
            store.rotate_refresh_token(&rotation("t0-token", "t1", t0())).await.unwrap(),
            RotationOutcome::NotFound
        );
    }

    /// Starting a session stores it and sets the user's last sign-in.
    pub async fn session_start_records_the_sign_in(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        assert_eq!(store.find_session(session.id).await.unwrap(), Some(session.clone()));
        let stored = store.find_user(user.id).await.unwrap().unwrap();
        assert_eq!(stored.last_sign_in_at, Some(session.created_at));
        assert_eq!(store.list_sessions(user.id).await.unwrap(), vec![session]);
    }

    /// A user created with its first session has both, and its token rotates; a conflicting
    /// user leaves neither the user nor the session behind.
    pub async fn user_with_session_is_stored_whole_or_not_at_all(store: Arc<impl Store>) {
        let mut user = user(1, Some("new@example.com"), Some("newbie"));
        user.last_sign_in_at = Some(t0());
        let first = session(1, &user, t0());
        let signup = event_by(&user, AuditAction::Signup);
        store.create_user_with_session(&user, &first, &token("t0-token").digest(), std::slice::from_ref(&signup)).await.unwrap();
        assert_eq!(store.find_user(user.id).await.unwrap(), Some(user.clone()));
        let recorded = store.list_events(0, 10).await.unwrap();
        assert_eq!(recorded.len(), 1);
        assert_eq!(AuditEvent { id: 0, ..recorded[0].clone() }, signup);
        assert_eq!(store.list_sessions(user.id).await.unwrap(), vec![first.clone()]);
        let at1 = t0() + Duration::minutes(1);
        rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", at1)).await.unwrap());

        let mut twin = self::user(2, Some("NEW@example.com"), None);
        twin.last_sign_in_at = Some(t0());
        let second = session(2, &twin, t0());
        let twin_signup = event_by(&twin, AuditAction::Signup);
        let result = store.create_user_with_session(&twin, &second, &token("twin-token").digest(), &[twin_signup]).await;
        assert_eq!(result, Err(StoreError::Conflict(UniqueField::Email)));
        assert_eq!(audited(&store).await, [AuditAction::Signup], "the refused sign-up recorded nothing");
        assert_eq!(store.find_user(twin.id).await.unwrap(), None);
        assert_eq!(store.find_session(second.id).await.unwrap(), None);
        assert_eq!(
            store.rotate_refresh_token(&rotation("twin-token", "t2", at1)).await.unwrap(),
            RotationOutcome::NotFound
        );
    }

    /// Each live token rotates once into its successor, which becomes live.
    pub async fn live_token_rotates_along_the_chain(store: Arc<impl Store>) {
        let (_, session) = signed_in(&store).await;
        let at1 = t0() + Duration::minutes(5);
        let after_first = rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", at1)).await.unwrap());
        assert_eq!(after_first.id, session.id);
        assert_eq!(after_first.refreshed_at, Some(at1));
        let at2 = t0() + Duration::minutes(10);
        let after_second = rotated(store.rotate_refresh_token(&rotation("t1-token", "t2-token", at2)).await.unwrap());
        assert_eq!(after_second.refreshed_at, Some(at2));
        assert_eq!(store.find_session(session.id).await.unwrap().unwrap().refreshed_at, Some(at2));
    }

    /// The previous token again within the interval answers the live successor and changes nothing.
    pub async fn previous_token_within_reuse_interval_replays(store: Arc<impl Store>) {
        let (_, session) = signed_in(&store).await;
        rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0())).await.unwrap());
        let retry =
            store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0() + Duration::seconds(10))).await.unwrap();
        assert!(matches!(retry, RotationOutcome::Replayed(ref s) if s.session.id == session.id && s.user.id == session.user_id), "got {retry:?}");
        // The successor is still the one live token.
        rotated(
            store.rotate_refresh_token(&rotation("t1-token", "t2-token", t0() + Duration::seconds(11))).await.unwrap(),
        );
    }

    /// A lost answer: within the lost-answer window the previous token, whose successor was
    /// never used, answers that successor with the session's user; once the successor is used,
    /// the previous token is reuse.
    pub async fn lost_answer_replays_until_the_successor_is_used(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        let windowed = |presented: &str, successor: &str, now: DateTime<Utc>| Rotation {
            lost_answer_window: Duration::hours(24),
            ..rotation(presented, successor, now)
        };
        rotated(store.rotate_refresh_token(&windowed("t0-token", "t1-token", t0())).await.unwrap());
        let after_outage = t0() + Duration::hours(2);
        match store.rotate_refresh_token(&windowed("t0-token", "t1-token", after_outage)).await.unwrap() {
            RotationOutcome::Replayed(renewal) => assert_eq!((renewal.session.id, renewal.user.id), (session.id, user.id)),
            other => panic!("expected a replay, got {other:?}"),
        }
        rotated(store.rotate_refresh_token(&windowed("t1-token", "t2-token", after_outage)).await.unwrap());
        let again = store.rotate_refresh_token(&windowed("t0-token", "t1-token", after_outage)).await.unwrap();
        assert!(matches!(&again, RotationOutcome::ReuseDetected(s) if s.id == session.id), "{again:?}");
    }

    /// The previous token after the interval is reuse: the family dies.
    pub async fn previous_token_after_reuse_interval_revokes_the_family(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0())).await.unwrap());
        let late = t0() + Duration::seconds(11);
        let reuse = store.rotate_refresh_token(&rotation("t0-token", "t1-token", late)).await.unwrap();
        assert!(matches!(&reuse, RotationOutcome::ReuseDetected(s) if s.id == session.id), "{reuse:?}");
        assert_eq!(store.find_session(session.id).await.unwrap().unwrap().revoked_at, Some(late));
        let live_one = store.rotate_refresh_token(&rotation("t1-token", "t2-token", late)).await.unwrap();
        assert_eq!(live_one, RotationOutcome::NotFound, "the live token must die with its family");
        assert!(store.list_sessions(user.id).await.unwrap().is_empty());
    }

    /// A rotation records its audit event in its own transaction, naming the session's user:
    /// token_refreshed when it rotates, token_reuse_detected when it revokes, nothing on a replay
    /// or without a template.
    pub async fn rotations_record_their_audit_events(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        let audited_rotation = |presented: &str, successor: &str, now: DateTime<Utc>| Rotation {
            audit: Some(AuditEvent {
                id: 0,
                at: now,
                action: AuditAction::Login,
                actor: Actor::Anonymous,
                target: None,
                ip: Some("192.0.2.8".into()),
                user_agent: Some("refresher".into()),
                details: json!(null),
            }),
            ..rotation(presented, successor, now)
        };
        rotated(store.rotate_refresh_token(&audited_rotation("t0-token", "t1-token", t0())).await.unwrap());
        let events = store.list_events(0, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].action, AuditAction::TokenRefreshed);
        assert_eq!((events[0].actor.clone(), events[0].target), (Actor::User(user.id), Some(user.id)));
        assert_eq!(events[0].details, json!({"session_id": session.id.to_string()}));
        assert_eq!(events[0].ip.as_deref(), Some("192.0.2.8"));

        let retry = store.rotate_refresh_token(&audited_rotation("t0-token", "t1-token", t0())).await.unwrap();
        assert!(matches!(retry, RotationOutcome::Replayed(_)));
        rotated(store.rotate_refresh_token(&rotation("t1-token", "t2-token", t0())).await.unwrap());
        assert_eq!(audited(&store).await, [AuditAction::TokenRefreshed], "replays and untemplated rotations record nothing");

        let late = t0() + Duration::minutes(5);
        let reuse = store.rotate_refresh_token(&audited_rotation("t0-token", "t1-token", late)).await.unwrap();
        assert!(matches!(reuse, RotationOutcome::ReuseDetected(_)));
        assert_eq!(audited(&store).await, [AuditAction::TokenRefreshed, AuditAction::TokenReuseDetected]);
    }

    /// A token two steps back is reuse even inside the interval.
    pub async fn older_ancestor_revokes_the_family(store: Arc<impl Store>) {
        let (_, session) = signed_in(&store).await;
        rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0())).await.unwrap());
        rotated(
            store.rotate_refresh_token(&rotation("t1-token", "t2-token", t0() + Duration::seconds(1))).await.unwrap(),
        );
        let reuse =
            store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0() + Duration::seconds(2))).await.unwrap();
        assert!(matches!(&reuse, RotationOutcome::ReuseDetected(s) if s.id == session.id), "{reuse:?}");
    }

    /// A token no family knows is simply not found.
    pub async fn unknown_token_is_not_found(store: Arc<impl Store>) {
        signed_in(&store).await;
        assert_eq!(
            store.rotate_refresh_token(&rotation("never-issued", "x", t0())).await.unwrap(),
            RotationOutcome::NotFound
        );
    }

    /// Many rotations of one live token at once: one rotates, the rest replay, one token stays live.
    pub async fn concurrent_rotations_leave_exactly_one_live_token(store: Arc<impl Store>) {
        let (_, session) = signed_in(&store).await;
        let now = t0() + Duration::seconds(30);
        let attempts = (0..16).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.rotate_refresh_token(&rotation("t0-token", "t1-token", now)).await })
        });
        let outcomes: Vec<RotationOutcome> =
            join_all(attempts).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
        let rotations = outcomes.iter().filter(|o| matches!(o, RotationOutcome::Rotated(_))).count();
        let replays = outcomes.iter().filter(|o| matches!(o, RotationOutcome::Replayed(_))).count();
        assert_eq!((rotations, replays), (1, 15), "outcomes: {outcomes:?}");
        // The successor is live and is the only live token: rotating it works once...
        rotated(store.rotate_refresh_token(&rotation("t1-token", "t2-token", now)).await.unwrap());
        // ...and the session survived.
        assert_eq!(store.find_session(session.id).await.unwrap().unwrap().revoked_at, None);
    }

    /// `not_after`, the timebox and the inactivity timeout are judged at the caller's `now`.
    pub async fn expiry_is_decided_by_the_injected_clock(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        store.create_user(&alice).await.unwrap();
        let mut bounded = session(1, &alice, t0());
        bounded.not_after = Some(t0() + Duration::hours(1));
        store.start_session(&bounded, &token("bounded-0").digest(), &[]).await.unwrap();
        rotated(
            store
                .rotate_refresh_token(&rotation("bounded-0", "bounded-1", t0() + Duration::minutes(59)))
                .await
                .unwrap(),
        );
        let late = store
            .rotate_refresh_token(&rotation("bounded-1", "bounded-2", t0() + Duration::minutes(61)))
            .await
            .unwrap();
        assert_eq!(late, RotationOutcome::Expired(bounded.id, ExpiryReason::NotAfter));

        let idle = session(2, &alice, t0());
        store.start_session(&idle, &token("idle-0").digest(), &[]).await.unwrap();
        let mut r = rotation("idle-0", "idle-1", t0() + Duration::hours(2));
        r.limits = SessionLimits { timebox: None, inactivity_timeout: Some(Duration::hours(1)) };
        assert_eq!(
            store.rotate_refresh_token(&r).await.unwrap(),
            RotationOutcome::Expired(idle.id, ExpiryReason::Inactivity)
        );
        r.now = t0() + Duration::minutes(30);
        rotated(store.rotate_refresh_token(&r).await.unwrap());
    }

    /// Revoking ends sessions (selectively) and their tokens.
    pub async fn revocation_ends_sessions_and_their_tokens(store: Arc<impl Store>) {
        let (user, first) = signed_in(&store).await;
        let second = session(2, &user, t0() + Duration::seconds(1));
        let third = session(3, &user, t0() + Duration::seconds(2));
        store.start_session(&second, &token("second-0").digest(), &[]).await.unwrap();
        store.start_session(&third, &token("third-0").digest(), &[]).await.unwrap();

        let at = t0() + Duration::minutes(1);
        assert!(store.revoke_session(second.id, at).await.unwrap());
        assert!(!store.revoke_session(second.id, at).await.unwrap(), "a revoked session is not revoked twice");
        assert_eq!(
            store.rotate_refresh_token(&rotation("second-0", "second-1", at)).await.unwrap(),
            RotationOutcome::NotFound
        );
        assert_eq!(store.find_session(second.id).await.unwrap().unwrap().revoked_at, Some(at));

        assert_eq!(store.revoke_user_sessions(user.id, Some(first.id), at).await.unwrap(), 1);
        assert_eq!(store.list_sessions(user.id).await.unwrap(), vec![first.clone()]);
        assert_eq!(
            store.rotate_refresh_token(&rotation("third-0", "third-1", at)).await.unwrap(),
            RotationOutcome::NotFound
        );
        assert_eq!(store.revoke_user_sessions(user.id, None, at).await.unwrap(), 1);
        assert!(store.list_sessions(user.id).await.unwrap().is_empty());
        assert_eq!(
            store.rotate_refresh_token(&rotation("t0-token", "t1-token", at)).await.unwrap(),
            RotationOutcome::NotFound
        );
    }

    /// Pruning deletes ended sessions (revoked, past `not_after`, the timebox or the inactivity
    /// timeout before the cut-offs) with their tokens, and tokens used or revoked before the
    /// spent cut-off, in batches; live sessions and every family's live token stay.
    pub async fn pruning_deletes_ended_sessions_and_spent_tokens(store: Arc<impl Store>) {
        let owner = user(1, Some("pat@example.com"), None);
        store.create_user(&owner).await.unwrap();
        let at = |minutes: i64| t0() + Duration::minutes(minutes);
        let mut sessions = Vec::new();
        for n in 0..5u128 {
            let s = session(n, &owner, at(0));
            store.start_session(&s, &token(&format!("first-{n}")).digest(), &[]).await.unwrap();
            sessions.push(s);
        }
        let [revoked, live, idle, old, refreshed] = sessions.try_into().unwrap();
        store.revoke_session(revoked.id, at(1)).await.unwrap();
        rotated(store.rotate_refresh_token(&rotation("first-1", "second-1", at(2))).await.unwrap());
        rotated(store.rotate_refresh_token(&rotation("second-1", "third-1", at(50))).await.unwrap());
        rotated(store.rotate_refresh_token(&rotation("first-4", "second-4", at(50))).await.unwrap());
        let prune = SessionPrune {
            ended_before: at(10),
            created_before: None,
            idle_before: Some(at(10)),
            spent_before: at(10),
        };
        let mut pruned = 0;
        loop {
            match store.prune_sessions(&prune, 1).await.unwrap() {
                0 => break,
                n => pruned += n,
            }
        }
        // revoked, idle, old (idle since at(0)) and the token `first-1` (used at 2); the revoked
        // session's token may go before its session does.
        assert!(pruned >= 4, "{pruned}");
        for ended in [&revoked, &idle, &old] {
            assert_eq!(store.find_session(ended.id).await.unwrap(), None);
        }
        assert!(store.find_session(live.id).await.unwrap().is_some());
        assert!(store.find_session(refreshed.id).await.unwrap().is_some());
        // The live token still rotates; the pruned one is unknown, not a reuse.
        rotated(store.rotate_refresh_token(&rotation("third-1", "fourth-1", at(60))).await.unwrap());
        let gone = store.rotate_refresh_token(&rotation("first-1", "other", at(60))).await.unwrap();
        assert_eq!(gone, RotationOutcome::NotFound);
        assert!(store.find_session(live.id).await.unwrap().unwrap().revoked_at.is_none());
        let timebox = SessionPrune { created_before: Some(at(1)), idle_before: None, ..prune };
        assert_eq!(store.prune_sessions(&timebox, 10).await.unwrap(), 2, "created before the timebox's cut-off");
    }
}
