//! The contract of FactorStore: enrollment under limits, challenges, the atomic verification
//! (aal2, token swap, single use, no replayed step), deletion and pruning.

use auth_core::domain::{
    ChallengeId, EnrollRules, Enrollment, Factor, FactorChallenge, FactorId, FactorRename, FactorStatus, FactorType,
    FactorVerification, RecoveryCodeCount, RecoveryCodeUse, SealedSecret, TokenDigest, VerificationOutcome,
};

use super::fixtures::*;

fn factor(n: u128, user: &User, name: &str, at: DateTime<Utc>) -> Factor {
    Factor {
        id: FactorId::from_uuid(Uuid::from_u128(2_000_000 + n)),
        user_id: user.id,
        friendly_name: name.into(),
        factor_type: FactorType::Totp,
        status: FactorStatus::Unverified,
        secret: SealedSecret::new(format!("sealed-{n}")),
        created_at: at,
        updated_at: at,
        last_challenged_at: None,
        last_used_step: None,
    }
}

/// A verified recovery-code factor of `user`.
fn recovery_factor(n: u128, user: &User, name: &str) -> Factor {
    Factor { factor_type: FactorType::RecoveryCode, status: FactorStatus::Verified, ..factor(n, user, name, t0()) }
}

/// The digests of codes `codes` (stand-ins: the store never sees a code).
fn digests(codes: &[&str]) -> Vec<TokenDigest> {
    codes.iter().map(|c| token(c).digest()).collect()
}

/// Spending `code` of `factor` from `session`.
fn spend(factor: &Factor, session: &Session, code: &str, new_token: &str) -> RecoveryCodeUse {
    RecoveryCodeUse {
        user_id: session.user_id,
        factor_id: factor.id,
        code: token(code).digest(),
        session_id: session.id,
        refresh_token: token(new_token).digest(),
        at: t0() + Duration::seconds(30),
    }
}

fn rules(max: u32) -> EnrollRules {
    EnrollRules { max_enrolled: max, max_verified: max, abandoned_before: t0() - Duration::minutes(5) }
}

fn challenge(n: u128, factor: &Factor, at: DateTime<Utc>) -> FactorChallenge {
    FactorChallenge {
        id: ChallengeId::from_uuid(Uuid::from_u128(3_000_000 + n)),
        factor_id: factor.id,
        created_at: at,
        expires_at: at + Duration::minutes(5),
        ip: Some("203.0.113.7".into()),
        verified_at: None,
    }
}

fn verification(challenge: &FactorChallenge, session: &Session, step: i64, new_token: &str) -> FactorVerification {
    FactorVerification {
        user_id: session.user_id,
        factor_id: challenge.factor_id,
        challenge_id: challenge.id,
        step,
        session_id: session.id,
        refresh_token: token(new_token).digest(),
        at: challenge.created_at + Duration::seconds(10),
    }
}

fn verified(outcome: VerificationOutcome) -> Session {
    match outcome {
        VerificationOutcome::Verified(session) => session,
        other => panic!("expected Verified, got {other:?}"),
    }
}

/// A signed-in user with one enrolled, challenged factor.
async fn challenged(store: &Arc<impl Store>) -> (User, Session, Factor, FactorChallenge) {
    let (user, session) = signed_in(store).await;
    let factor = factor(1, &user, "phone app", t0());
    assert_eq!(store.enroll_factor(&factor, &rules(10)).await.unwrap(), Enrollment::Enrolled);
    let challenge = challenge(1, &factor, t0() + Duration::seconds(5));
    store.create_challenge(&challenge).await.unwrap();
    (user, session, factor, challenge)
}

contract_cases! { $ factor_contract_cases, factors;
    /// An enrolled factor is listed and found for its user only, oldest first.
    pub async fn factors_are_listed_per_user(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        let second = factor(2, &alice, "", t0() + Duration::seconds(2));
        let first = factor(1, &alice, "", t0() + Duration::seconds(1));
        for f in [&second, &first] {
            assert_eq!(store.enroll_factor(f, &rules(10)).await.unwrap(), Enrollment::Enrolled);
        }
        assert_eq!(store.list_factors(alice.id).await.unwrap(), vec![first.clone(), second.clone()]);
        assert_eq!(store.find_factor(alice.id, first.id).await.unwrap(), Some(first.clone()));
        assert_eq!(store.find_factor(bob.id, first.id).await.unwrap(), None);
        assert!(store.list_factors(bob.id).await.unwrap().is_empty());
        let ghost = user(9, None, None);
        assert_eq!(store.enroll_factor(&factor(3, &ghost, "", t0()), &rules(10)).await, Err(StoreError::NotFound));
    }

    /// A non-empty friendly name is one per user; the limits count every factor.
    pub async fn enrollment_keeps_names_and_limits(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        assert_eq!(store.enroll_factor(&factor(1, &alice, "app", t0()), &rules(2)).await.unwrap(), Enrollment::Enrolled);
        assert_eq!(store.enroll_factor(&factor(2, &alice, "app", t0()), &rules(2)).await.unwrap(), Enrollment::NameTaken);
        assert_eq!(store.enroll_factor(&factor(3, &alice, "", t0()), &rules(2)).await.unwrap(), Enrollment::Enrolled);
        assert_eq!(store.enroll_factor(&factor(4, &alice, "", t0()), &rules(2)).await.unwrap(), Enrollment::TooMany);
        assert_eq!(store.list_factors(alice.id).await.unwrap().len(), 2);
    }

    /// Concurrent enrollments of one user never exceed the limit together.
    pub async fn concurrent_enrollments_respect_the_limit(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        let attempts = (1..=6).map(|n| {
            let store = Arc::clone(&store);
            let f = factor(n, &alice, "", t0());
            async move { store.enroll_factor(&f, &rules(3)).await.unwrap() }
        });
        let outcomes = join_all(attempts).await;
        assert_eq!(outcomes.iter().filter(|o| **o == Enrollment::Enrolled).count(), 3, "{outcomes:?}");
        assert_eq!(store.list_factors(alice.id).await.unwrap().len(), 3);
    }

    /// Unverified factors neither created nor challenged recently are dropped at the next
    /// enrollment; a recently challenged one stays.
    pub async fn abandoned_enrollments_are_dropped(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        let old = t0() - Duration::hours(1);
        let stale = factor(1, &alice, "stale", old);
        let challenged = factor(2, &alice, "challenged", old);
        for f in [&stale, &challenged] {
            store.enroll_factor(f, &EnrollRules { abandoned_before: old, ..rules(10) }).await.unwrap();
        }
        store.create_challenge(&challenge(1, &challenged, t0())).await.unwrap();
        let fresh = factor(3, &alice, "stale", t0());
        assert_eq!(store.enroll_factor(&fresh, &rules(10)).await.unwrap(), Enrollment::Enrolled);
        let ids: Vec<FactorId> = store.list_factors(alice.id).await.unwrap().iter().map(|f| f.id).collect();
        assert_eq!(ids, vec![challenged.id, fresh.id]);
    }

    /// A challenge is stored for an existing factor only, and marks it challenged.
    pub async fn challenges_are_stored_against_their_factor(store: Arc<impl Store>) {
        let (alice, _, factor, challenge) = challenged(&store).await;
        assert_eq!(store.find_challenge(factor.id, challenge.id).await.unwrap(), Some(challenge.clone()));
        let other = FactorId::from_uuid(Uuid::from_u128(42));
        assert_eq!(store.find_challenge(other, challenge.id).await.unwrap(), None);
        let stored = store.find_factor(alice.id, factor.id).await.unwrap().unwrap();
        assert_eq!(stored.last_challenged_at, Some(challenge.created_at));
        let orphan = FactorChallenge { factor_id: other, ..self::challenge(2, &factor, t0()) };
        assert_eq!(store.create_challenge(&orphan).await, Err(StoreError::NotFound));
    }

    /// A verification raises the session to aal2, verifies the factor, swaps the session's
    /// refresh token, and ends the user's other aal1 sessions.
    pub async fn verification_raises_the_session(store: Arc<impl Store>) {
        let (alice, session, factor, challenge) = challenged(&store).await;
        let other = self::session(2, &alice, t0());
        store.start_session(&other, &token("other-token").digest(), &[]).await.unwrap();
        let v = verification(&challenge, &session, 100, "aal2-token");
        let raised = verified(store.verify_factor(&v).await.unwrap());
        assert_eq!(raised.aal, Aal::Aal2);
        let proof = raised.mfa.clone().unwrap();
        assert_eq!((proof.factor_id, proof.factor_type, proof.verified_at), (factor.id, FactorType::Totp, v.at));
        assert_eq!(store.find_session(session.id).await.unwrap(), Some(raised));
        let stored = store.find_factor(alice.id, factor.id).await.unwrap().unwrap();
        assert_eq!((stored.status, stored.last_used_step), (FactorStatus::Verified, Some(100)));
        assert_eq!(store.find_challenge(factor.id, challenge.id).await.unwrap().unwrap().verified_at, Some(v.at));
        // The aal1 token is dead, the new one rotates and keeps aal2.
        let later = v.at + Duration::minutes(1);
        assert_eq!(store.rotate_refresh_token(&rotation("t0-token", "x", later)).await.unwrap(), RotationOutcome::NotFound);
        let rotated = rotated(store.rotate_refresh_token(&rotation("aal2-token", "next", later)).await.unwrap());
        assert_eq!(rotated.aal, Aal::Aal2);
        assert!(rotated.mfa.is_some());
        assert!(store.find_session(other.id).await.unwrap().unwrap().revoked_at.is_some());
        let other_token = store.rotate_refresh_token(&rotation("other-token", "y", later)).await.unwrap();
        assert_eq!(other_token, RotationOutcome::NotFound);
    }

    /// A challenge works once, and a step once accepted (or an earlier one) never again.
    pub async fn verification_is_single_use(store: Arc<impl Store>) {
        let (_, session, factor, challenge) = challenged(&store).await;
        verified(store.verify_factor(&verification(&challenge, &session, 100, "a")).await.unwrap());
        let again = store.verify_factor(&verification(&challenge, &session, 101, "b")).await.unwrap();
        assert_eq!(again, VerificationOutcome::ChallengeUsed);
        let second = self::challenge(2, &factor, t0() + Duration::seconds(20));
        store.create_challenge(&second).await.unwrap();
        for step in [99, 100] {
            let replay = store.verify_factor(&verification(&second, &session, step, "c")).await.unwrap();
            assert_eq!(replay, VerificationOutcome::CodeReused);
        }
        verified(store.verify_factor(&verification(&second, &session, 101, "d")).await.unwrap());
    }

    /// Of concurrent verifications with one challenge, exactly one succeeds.
    pub async fn concurrent_verifications_succeed_once(store: Arc<impl Store>) {
        let (_, session, _, challenge) = challenged(&store).await;
        let attempts = (0..4).map(|n| {
            let store = Arc::clone(&store);
            let v = verification(&challenge, &session, 100 + n, &format!("token-{n}"));
            async move { store.verify_factor(&v).await.unwrap() }
        });
        let outcomes = join_all(attempts).await;
        let wins = outcomes.iter().filter(|o| matches!(o, VerificationOutcome::Verified(_))).count();
        assert_eq!(wins, 1, "{outcomes:?}");
    }

    /// A verification names the user's factor, its challenge and a live session of the user.
    pub async fn verification_needs_matching_rows(store: Arc<impl Store>) {
        let (alice, session, factor, challenge) = challenged(&store).await;
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        let not_found = VerificationOutcome::NotFound;
        let base = verification(&challenge, &session, 100, "a");
        let foreign = FactorVerification { user_id: bob.id, ..base.clone() };
        assert_eq!(store.verify_factor(&foreign).await.unwrap(), not_found);
        let unknown = FactorVerification { challenge_id: ChallengeId::from_uuid(Uuid::from_u128(7)), ..base.clone() };
        assert_eq!(store.verify_factor(&unknown).await.unwrap(), not_found);
        store.revoke_session(session.id, t0()).await.unwrap();
        assert_eq!(store.verify_factor(&base).await.unwrap(), not_found);
        let stored = store.find_factor(alice.id, factor.id).await.unwrap().unwrap();
        assert_eq!(stored.status, FactorStatus::Unverified);
    }

    /// Verifying one factor drops the user's other unfinished enrollments of its kind.
    pub async fn verification_drops_other_unverified_factors(store: Arc<impl Store>) {
        let (alice, session, factor, challenge) = challenged(&store).await;
        let spare = self::factor(2, &alice, "spare", t0());
        store.enroll_factor(&spare, &rules(10)).await.unwrap();
        verified(store.verify_factor(&verification(&challenge, &session, 100, "a")).await.unwrap());
        let ids: Vec<FactorId> = store.list_factors(alice.id).await.unwrap().iter().map(|f| f.id).collect();
        assert_eq!(ids, vec![factor.id]);
    }

    /// Deleting a factor lowers the sessions it raised to aal1; another user's factor is not
    /// theirs to delete.
    pub async fn deleting_a_factor_lowers_its_sessions(store: Arc<impl Store>) {
        let (alice, session, factor, challenge) = challenged(&store).await;
        verified(store.verify_factor(&verification(&challenge, &session, 100, "a")).await.unwrap());
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        assert_eq!(store.delete_factor(bob.id, factor.id).await.unwrap(), None);
        let deleted = store.delete_factor(alice.id, factor.id).await.unwrap().unwrap();
        assert_eq!(deleted.id, factor.id);
        assert!(store.list_factors(alice.id).await.unwrap().is_empty());
        assert_eq!(store.find_challenge(factor.id, challenge.id).await.unwrap(), None);
        let lowered = store.find_session(session.id).await.unwrap().unwrap();
        assert_eq!((lowered.aal, lowered.mfa), (Aal::Aal1, None));
        assert_eq!(store.delete_factor(alice.id, factor.id).await.unwrap(), None);
    }

    /// Deleting a user deletes its factors.
    pub async fn deleting_the_user_deletes_its_factors(store: Arc<impl Store>) {
        let (alice, _, factor, challenge) = challenged(&store).await;
        assert!(store.delete_user(alice.id).await.unwrap());
        assert!(store.list_factors(alice.id).await.unwrap().is_empty());
        assert_eq!(store.find_challenge(factor.id, challenge.id).await.unwrap(), None);
    }

    /// Pruning deletes expired challenges and abandoned enrollments, and keeps the rest.
    pub async fn pruning_deletes_expired_challenges_and_abandoned_factors(store: Arc<impl Store>) {
        let (alice, session, factor, challenge) = challenged(&store).await;
        verified(store.verify_factor(&verification(&challenge, &session, 100, "a")).await.unwrap());
        let live = self::challenge(2, &factor, t0() + Duration::hours(1));
        store.create_challenge(&live).await.unwrap();
        let abandoned = self::factor(2, &alice, "abandoned", t0());
        store.enroll_factor(&abandoned, &rules(10)).await.unwrap();
        let pruned = store.prune_factors(t0() + Duration::minutes(30), 100).await.unwrap();
        assert_eq!(pruned, 2);
        assert_eq!(store.find_challenge(factor.id, challenge.id).await.unwrap(), None);
        assert_eq!(store.find_challenge(factor.id, live.id).await.unwrap(), Some(live));
        let ids: Vec<FactorId> = store.list_factors(alice.id).await.unwrap().iter().map(|f| f.id).collect();
        assert_eq!(ids, vec![factor.id]);
    }

    /// A set of recovery codes is one per user, its name is checked like any factor's, and it
    /// is counted, listed and found like a factor.
    pub async fn recovery_codes_are_one_set_per_user(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        store.enroll_factor(&factor(1, &alice, "app", t0()), &rules(10)).await.unwrap();
        let named_like_app = recovery_factor(2, &alice, "app");
        let outcome = store.create_recovery_codes(&named_like_app, &digests(&["a"])).await.unwrap();
        assert_eq!(outcome, Enrollment::NameTaken);
        let set = recovery_factor(3, &alice, "Recovery codes");
        assert_eq!(store.create_recovery_codes(&set, &digests(&["a", "b", "c"])).await.unwrap(), Enrollment::Enrolled);
        let second = recovery_factor(4, &alice, "");
        assert_eq!(store.create_recovery_codes(&second, &digests(&["d"])).await.unwrap(), Enrollment::AlreadyEnrolled);
        assert_eq!(store.find_factor(alice.id, set.id).await.unwrap(), Some(set.clone()));
        let count = store.count_recovery_codes(set.id).await.unwrap();
        assert_eq!(count, RecoveryCodeCount { total: 3, remaining: 3 });
        let ghost = user(9, None, None);
        let orphan = recovery_factor(5, &ghost, "");
        assert_eq!(store.create_recovery_codes(&orphan, &digests(&["e"])).await, Err(StoreError::NotFound));
        let none = store.count_recovery_codes(FactorId::from_uuid(Uuid::from_u128(77))).await.unwrap();
        assert_eq!(none, RecoveryCodeCount { total: 0, remaining: 0 });
    }

    /// A code raises the session like a verification, once; a wrong code, another user's or a
    /// dead session's use writes nothing.
    pub async fn a_recovery_code_raises_the_session_once(store: Arc<impl Store>) {
        let (alice, session) = signed_in(&store).await;
        let other = self::session(2, &alice, t0());
        store.start_session(&other, &token("other-token").digest(), &[]).await.unwrap();
        let set = recovery_factor(1, &alice, "codes");
        store.create_recovery_codes(&set, &digests(&["a", "b"])).await.unwrap();
        let wrong = store.use_recovery_code(&spend(&set, &session, "z", "t1")).await.unwrap();
        assert_eq!(wrong, VerificationOutcome::CodeReused);
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        let foreign = RecoveryCodeUse { user_id: bob.id, ..spend(&set, &session, "a", "t1") };
        assert_eq!(store.use_recovery_code(&foreign).await.unwrap(), VerificationOutcome::NotFound);
        let used = spend(&set, &session, "a", "aal2-token");
        let raised = verified(store.use_recovery_code(&used).await.unwrap());
        assert_eq!(raised.aal, Aal::Aal2);
        let proof = raised.mfa.clone().unwrap();
        assert_eq!((proof.factor_id, proof.factor_type, proof.verified_at), (set.id, FactorType::RecoveryCode, used.at));
        assert_eq!(store.find_session(session.id).await.unwrap(), Some(raised));
        assert!(store.find_session(other.id).await.unwrap().unwrap().revoked_at.is_some(), "other aal1 sessions end");
        let later = used.at + Duration::minutes(1);
        assert_eq!(store.rotate_refresh_token(&rotation("t0-token", "x", later)).await.unwrap(), RotationOutcome::NotFound);
        assert_eq!(rotated(store.rotate_refresh_token(&rotation("aal2-token", "n", later)).await.unwrap()).aal, Aal::Aal2);
        let again = store.use_recovery_code(&spend(&set, &session, "a", "t2")).await.unwrap();
        assert_eq!(again, VerificationOutcome::CodeReused);
        assert_eq!(store.count_recovery_codes(set.id).await.unwrap(), RecoveryCodeCount { total: 2, remaining: 1 });
        store.revoke_session(session.id, later).await.unwrap();
        let dead = store.use_recovery_code(&spend(&set, &session, "b", "t3")).await.unwrap();
        assert_eq!(dead, VerificationOutcome::NotFound);
        assert_eq!(store.count_recovery_codes(set.id).await.unwrap().remaining, 1, "nothing written");
    }

    /// Of concurrent uses of one code, exactly one succeeds.
    pub async fn concurrent_uses_of_a_recovery_code_succeed_once(store: Arc<impl Store>) {
        let (alice, session) = signed_in(&store).await;
        let set = recovery_factor(1, &alice, "codes");
        store.create_recovery_codes(&set, &digests(&["a", "b"])).await.unwrap();
        let attempts = (0..4).map(|n| {
            let store = Arc::clone(&store);
            let u = spend(&set, &session, "a", &format!("token-{n}"));
            async move { store.use_recovery_code(&u).await.unwrap() }
        });
        let outcomes = join_all(attempts).await;
        let wins = outcomes.iter().filter(|o| matches!(o, VerificationOutcome::Verified(_))).count();
        assert_eq!(wins, 1, "{outcomes:?}");
    }

    /// Regenerating replaces every code of the set; deleting the factor deletes its codes.
    pub async fn recovery_codes_are_replaced_and_deleted_with_their_factor(store: Arc<impl Store>) {
        let (alice, session) = signed_in(&store).await;
        let set = recovery_factor(1, &alice, "codes");
        store.create_recovery_codes(&set, &digests(&["a", "b"])).await.unwrap();
        verified(store.use_recovery_code(&spend(&set, &session, "a", "t1")).await.unwrap());
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        let later = t0() + Duration::hours(1);
        assert!(!store.replace_recovery_codes(bob.id, set.id, &digests(&["x"]), later).await.unwrap());
        assert!(store.replace_recovery_codes(alice.id, set.id, &digests(&["c", "d", "e"]), later).await.unwrap());
        assert_eq!(store.count_recovery_codes(set.id).await.unwrap(), RecoveryCodeCount { total: 3, remaining: 3 });
        assert_eq!(store.find_factor(alice.id, set.id).await.unwrap().unwrap().updated_at, later);
        let old = store.use_recovery_code(&spend(&set, &session, "b", "t2")).await.unwrap();
        assert_eq!(old, VerificationOutcome::CodeReused, "old codes stop working");
        store.delete_factor(alice.id, set.id).await.unwrap().unwrap();
        assert_eq!(store.count_recovery_codes(set.id).await.unwrap(), RecoveryCodeCount { total: 0, remaining: 0 });
        let totp = factor(2, &alice, "", t0());
        store.enroll_factor(&totp, &rules(10)).await.unwrap();
        assert!(!store.replace_recovery_codes(alice.id, totp.id, &digests(&["x"]), later).await.unwrap(), "not codes");
    }

    /// Factors of several users at once, oldest first.
    pub async fn factors_are_listed_for_several_users(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        let carol = user(3, Some("carol@example.com"), None);
        store.create_user(&carol).await.unwrap();
        let later = factor(1, &alice, "", t0() + Duration::seconds(2));
        let earlier = factor(2, &bob, "", t0() + Duration::seconds(1));
        let carols = factor(3, &carol, "", t0());
        for f in [&later, &earlier, &carols] {
            store.enroll_factor(f, &rules(10)).await.unwrap();
        }
        let listed = store.list_factors_of(&[alice.id, bob.id]).await.unwrap();
        assert_eq!(listed, vec![earlier, later]);
        assert!(store.list_factors_of(&[]).await.unwrap().is_empty());
    }

    /// A rename keeps names unique per user and touches only the user's factor.
    pub async fn factors_are_renamed(store: Arc<impl Store>) {
        let (alice, _) = signed_in(&store).await;
        let app = factor(1, &alice, "app", t0());
        let key = factor(2, &alice, "key", t0());
        for f in [&app, &key] {
            store.enroll_factor(f, &rules(10)).await.unwrap();
        }
        let later = t0() + Duration::minutes(1);
        assert_eq!(store.rename_factor(alice.id, key.id, "app", later).await.unwrap(), FactorRename::NameTaken);
        let renamed = match store.rename_factor(alice.id, key.id, "laptop", later).await.unwrap() {
            FactorRename::Renamed(factor) => factor,
            other => panic!("expected Renamed, got {other:?}"),
        };
        assert_eq!((renamed.friendly_name.as_str(), renamed.updated_at), ("laptop", later));
        assert_eq!(store.find_factor(alice.id, key.id).await.unwrap(), Some(renamed));
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        assert_eq!(store.rename_factor(bob.id, key.id, "x", later).await.unwrap(), FactorRename::NotFound);
        let same = store.rename_factor(alice.id, app.id, "app", later).await.unwrap();
        assert!(matches!(same, FactorRename::Renamed(_)), "its own name is no conflict");
    }
}
