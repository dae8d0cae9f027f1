//! The contract of EmailFlowStore: one-time tokens, wrong codes, PKCE auth codes and the mails queued with them.

use super::fixtures::*;

fn auth_code(user: &User, name: &str, at: DateTime<Utc>) -> AuthCode {
    // RFC 7636's example challenge.
    let challenge = CodeChallenge::new(ChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
    AuthCode {
        digest: TokenDigest::of(format!("auth-code-{name}").as_bytes()),
        user_id: user.id,
        challenge,
        auth_method: AuthMethod::Magiclink,
        created_at: at,
        expires_at: at + Duration::minutes(5),
    }
}

contract_cases! { $ flow_contract_cases, flows;
    /// A new token replaces the user's token of the same kind; a token is found by link or by
    /// user and kind, and redeems once, together with the user change and the new session.
    pub async fn one_time_tokens_are_replaced_and_redeemed_once(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        store.create_user(&alice).await.unwrap();
        let first = one_time(&alice, OneTimeKind::Recovery, "first", t0());
        issue(&store, &first, Some(outgoing(MailKind::Recovery, mail("alice@example.com", 1)))).await.unwrap();
        let magic = one_time(&alice, OneTimeKind::MagicLink, "magic", t0());
        issue(&store, &magic, Some(outgoing(MailKind::MagicLink, mail("alice@example.com", 2)))).await.unwrap();
        let second = one_time(&alice, OneTimeKind::Recovery, "second", t0() + Duration::minutes(1));
        issue(&store, &second, Some(outgoing(MailKind::Recovery, mail("alice@example.com", 3)))).await.unwrap();

        assert_eq!(store.find_token_by_link(&first.link_digest).await.unwrap(), None, "replaced");
        assert_eq!(store.find_token_by_link(&second.link_digest).await.unwrap(), Some(second.clone()));
        assert_eq!(store.find_token(alice.id, OneTimeKind::Recovery).await.unwrap(), Some(second.clone()));
        assert_eq!(store.find_token(alice.id, OneTimeKind::MagicLink).await.unwrap(), Some(magic.clone()));
        let alice_address = alice.email.clone().unwrap();
        assert_eq!(store.find_tokens_sent_to(&Contact::Email(alice_address.clone()), OneTimeKind::MagicLink).await.unwrap(), vec![magic]);
        assert!(store.find_tokens_sent_to(&Contact::Email(alice_address.clone()), OneTimeKind::Invite).await.unwrap().is_empty());
        let mut change = one_time(&alice, OneTimeKind::EmailChangeNew, "change", t0());
        change.sent_to = Contact::Email(Email::parse("alice.new@example.com").unwrap());
        change.relates_to = change.sent_to.email().cloned();
        issue(&store, &change, None).await.unwrap();
        assert_eq!(
            store.find_tokens_sent_to(&change.sent_to, OneTimeKind::EmailChangeNew).await.unwrap(),
            vec![change]
        );
        assert_eq!(
            store.redeem_token(&first, &UserChange::default(), Redemption::Nothing, None).await,
            Err(StoreError::NotFound),
            "a replaced token"
        );

        // Each issue records on the user when a secret of its kind was last sent, and the
        // address a pending email change goes to (Supabase Auth's user columns).
        let stamped = store.find_user(alice.id).await.unwrap().unwrap();
        assert_eq!(stamped.mail.recovery_sent_at, Some(t0() + Duration::minutes(1)));
        assert_eq!(stamped.mail.email_change, Some(Email::parse("alice.new@example.com").unwrap()));
        assert_eq!(stamped.mail.email_change_sent_at, Some(t0()));
        assert_eq!((stamped.mail.invited_at, stamped.mail.reauthentication_sent_at), (None, None));
        assert_eq!(User { mail: alice.mail.clone(), ..stamped.clone() }, alice, "nothing else changed");

        let change = signed_in_at(t0() + Duration::minutes(2));
        let confirmed = after(&stamped, &change);
        let started = session(1, &alice, t0() + Duration::minutes(2));
        let first_refresh = Redemption::Session(started.clone(), token("first-refresh").digest());
        assert!(store.redeem_token(&second, &change, first_refresh, None).await.unwrap());
        assert_eq!(store.find_user(alice.id).await.unwrap(), Some(confirmed.clone()));
        assert_eq!(store.find_session(started.id).await.unwrap(), Some(started));
        let at = t0() + Duration::minutes(3);
        rotated(store.rotate_refresh_token(&rotation("first-refresh", "next-refresh", at)).await.unwrap());

        assert_eq!(
            store.redeem_token(&second, &change, Redemption::Nothing, None).await,
            Err(StoreError::NotFound),
            "used once"
        );
        assert_eq!(store.find_token(alice.id, OneTimeKind::Recovery).await.unwrap(), None);

        let ghost = user(9, Some("ghost@example.com"), None);
        let orphan = one_time(&ghost, OneTimeKind::Recovery, "ghost", t0());
        assert_eq!(
            issue(&store, &orphan, Some(outgoing(MailKind::Recovery, mail("ghost@example.com", 4)))).await,
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.last_mail_to(&Email::parse("alice@example.com").unwrap(), MailKind::Recovery).await.unwrap(),
            Some(t0() + Duration::minutes(1))
        );
        assert_eq!(
            store.last_mail_to(&Email::parse("bob@example.com").unwrap(), MailKind::Recovery).await.unwrap(),
            None
        );

        // Deleting the user takes its tokens along.
        let again = one_time(&alice, OneTimeKind::Recovery, "again", at);
        issue(&store, &again, Some(outgoing(MailKind::Recovery, mail("alice@example.com", 5)))).await.unwrap();
        assert!(store.delete_user(alice.id).await.unwrap());
        assert_eq!(store.find_token_by_link(&again.link_digest).await.unwrap(), None);
    }

    /// Each guess at a code is counted before it is compared: a token survives fewer than the
    /// maximum wrong codes, a new token starts counting afresh, and a right code is found.
    pub async fn code_guesses_are_counted_before_they_are_compared(store: Arc<impl Store>) {
        let kim = user(4, Some("kim@example.com"), None);
        store.create_user(&kim).await.unwrap();
        let first = one_time(&kim, OneTimeKind::MagicLink, "first", t0());
        issue(&store, &first, None).await.unwrap();
        let wrong = [(OneTimeKind::MagicLink, TokenDigest::of(b"wrong"))];
        for _ in 1..auth_core::domain::MAX_CODE_ATTEMPTS {
            assert_eq!(store.try_code(kim.id, &wrong).await.unwrap(), None);
        }
        assert!(store.find_token(kim.id, OneTimeKind::MagicLink).await.unwrap().is_some());
        assert_eq!(store.try_code(kim.id, &wrong).await.unwrap(), None);
        assert_eq!(store.find_token(kim.id, OneTimeKind::MagicLink).await.unwrap(), None, "used up");

        let second = one_time(&kim, OneTimeKind::MagicLink, "second", t0());
        issue(&store, &second, None).await.unwrap();
        assert_eq!(store.try_code(kim.id, &wrong).await.unwrap(), None);
        let right = [(OneTimeKind::Recovery, TokenDigest::of(b"none")), (OneTimeKind::MagicLink, second.code_digest)];
        assert_eq!(store.try_code(kim.id, &right).await.unwrap(), Some(second.clone()), "counted afresh");

        // Guesses arriving together: no more are compared than the token has attempts left.
        let third = one_time(&kim, OneTimeKind::MagicLink, "third", t0());
        issue(&store, &third, None).await.unwrap();
        let right = [(OneTimeKind::MagicLink, third.code_digest)];
        let guesses = join_all((0..20).map(|_| store.try_code(kim.id, &right))).await;
        let compared = guesses.into_iter().filter_map(Result::unwrap).count();
        assert!(compared >= 1 && compared <= auth_core::domain::MAX_CODE_ATTEMPTS as usize, "{compared}");
    }

    /// The halves of an email change are issued in one write (with their mails, replacing
    /// withdrawn kinds), and a failure of any part leaves none of it.
    pub async fn secrets_issued_together_are_stored_together_or_not_at_all(store: Arc<impl Store>) {
        let (eve, kim) = (user(6, Some("eve@example.com"), None), user(7, Some("kim@example.com"), None));
        store.create_user(&eve).await.unwrap();
        store.create_user(&kim).await.unwrap();
        let stale = one_time(&eve, OneTimeKind::EmailChangeCurrent, "stale", t0());
        issue(&store, &stale, None).await.unwrap();
        let mut new_half = one_time(&eve, OneTimeKind::EmailChangeNew, "new", t0());
        new_half.sent_to = Contact::Email(Email::parse("eve.new@example.com").unwrap());
        let halves = [OneTimeKind::EmailChangeNew, OneTimeKind::EmailChangeCurrent];
        let secrets = [(new_half.clone(), Some(outgoing(MailKind::EmailChangeNew, mail("eve.new@example.com", 1))))];
        assert!(store.issue_tokens(eve.id, &secrets, &halves, None).await.unwrap());
        assert_eq!(store.find_token(eve.id, OneTimeKind::EmailChangeCurrent).await.unwrap(), None, "withdrawn");
        assert_eq!(store.find_token(eve.id, OneTimeKind::EmailChangeNew).await.unwrap(), Some(new_half.clone()));

        // The second secret clashes (its link digest is taken): neither is stored, nor a mail.
        let taken = one_time(&kim, OneTimeKind::MagicLink, "taken", t0());
        issue(&store, &taken, None).await.unwrap();
        let mut renewed = one_time(&eve, OneTimeKind::EmailChangeNew, "renewed", t0());
        renewed.sent_to = new_half.sent_to.clone();
        let mut clash = one_time(&eve, OneTimeKind::EmailChangeCurrent, "clash", t0());
        clash.link_digest = taken.link_digest;
        let both = [
            (renewed.clone(), Some(outgoing(MailKind::EmailChangeNew, mail("eve.new@example.com", 2)))),
            (clash, Some(outgoing(MailKind::EmailChangeCurrent, mail("eve@example.com", 3)))),
        ];
        assert!(store.issue_tokens(eve.id, &both, &halves, None).await.is_err());
        assert_eq!(store.find_token(eve.id, OneTimeKind::EmailChangeNew).await.unwrap(), Some(new_half), "as before");
        assert_eq!(store.find_token(eve.id, OneTimeKind::EmailChangeCurrent).await.unwrap(), None);
        let due = store.claim_due_mail(t0() + Duration::hours(1), t0() + Duration::hours(2), 10).await.unwrap();
        assert_eq!(due.iter().map(|m| m.mail.subject.as_str()).collect::<Vec<_>>(), ["subject 1"]);
    }

    /// A quota lets `max` issues through per window, counting concurrent ones one by one; an
    /// issue over it writes nothing; a window that is over starts afresh.
    pub async fn issues_beyond_the_quota_are_refused(store: Arc<impl Store>) {
        let ivy = user(8, Some("ivy@example.com"), None);
        store.create_user(&ivy).await.unwrap();
        let quota = |now: DateTime<Utc>| Some(CodeQuota { now, since: now - Duration::days(1), max: 3 });
        let attempts = (0..8).map(|n| {
            let token = one_time(&ivy, OneTimeKind::Recovery, &format!("r{n}"), t0());
            let store = Arc::clone(&store);
            async move { store.issue_tokens(ivy.id, &[(token, None)], &[], quota(t0())).await }
        });
        let issued = join_all(attempts).await.into_iter().map(Result::unwrap).filter(|ok| *ok).count();
        assert_eq!(issued, 3);
        let over = one_time(&ivy, OneTimeKind::MagicLink, "over", t0() + Duration::hours(23));
        assert!(!store.issue_tokens(ivy.id, &[(over.clone(), None)], &[], quota(over.created_at)).await.unwrap());
        assert_eq!(store.find_token(ivy.id, OneTimeKind::MagicLink).await.unwrap(), None, "nothing written");
        let next_day = t0() + Duration::hours(24);
        assert!(store.issue_tokens(ivy.id, &[(over, None)], &[], quota(next_day)).await.unwrap());
        assert_eq!(store.issue_tokens(user(99, None, None).id, &[], &[], quota(next_day)).await, Err(StoreError::NotFound));
    }

    /// Using two halves of an email change at once, each waiting for the other, applies the
    /// change exactly once; a half used alone only waits.
    pub async fn concurrent_use_of_both_halves_applies_once(store: Arc<impl Store>) {
        for n in 0..5u128 {
            let old = format!("old{n}@example.com");
            let owner = user(20 + n, Some(&old), None);
            store.create_user(&owner).await.unwrap();
            let current = one_time(&owner, OneTimeKind::EmailChangeCurrent, &format!("cur{n}"), t0());
            let mut new_half = one_time(&owner, OneTimeKind::EmailChangeNew, &format!("new{n}"), t0());
            new_half.sent_to = Contact::Email(Email::parse(&format!("new{n}@example.com")).unwrap());
            let secrets = [(current.clone(), None), (new_half.clone(), None)];
            store.issue_tokens(owner.id, &secrets, &[], None).await.unwrap();
            let change = UserChange { email: new_half.sent_to.email().cloned(), ..signed_in_at(t0()) };
            let uses = join_all([
                store.redeem_token(&current, &change, Redemption::Nothing, Some(OneTimeKind::EmailChangeNew)),
                store.redeem_token(&new_half, &change, Redemption::Nothing, Some(OneTimeKind::EmailChangeCurrent)),
            ])
            .await;
            let applied = uses.into_iter().map(Result::unwrap).filter(|done| *done).count();
            assert_eq!(applied, 1, "round {n}");
            let stored = store.find_user(owner.id).await.unwrap().unwrap();
            assert_eq!(stored.email, new_half.sent_to.email().cloned());
        }
    }

    /// A use of a secret writes the fields its change names and nothing else: a ban, a password
    /// or a role written since the user was read stays; so does an auth-code exchange.
    pub async fn redeeming_never_writes_back_a_stale_user(store: Arc<impl Store>) {
        let ned = user(30, Some("ned@example.com"), None);
        store.create_user(&ned).await.unwrap();
        let link = one_time(&ned, OneTimeKind::MagicLink, "ned", t0());
        issue(&store, &link, None).await.unwrap();
        // Read (stale copy: `ned`), then banned and demoted concurrently.
        let ban = UserChange {
            banned_until: Some(Some(t0() + Duration::days(1))),
            role: Some("demoted".into()),
            password_hash: Some(Some(PasswordHash::new("reset"))),
            ..UserChange::default()
        };
        store.change_user(ned.id, &ban).await.unwrap();
        let code = auth_code(&ned, "ned", t0());
        assert!(store.redeem_token(&link, &signed_in_at(t0()), Redemption::AuthCode(code.clone()), None).await.unwrap());
        let session = session(30, &ned, t0());
        let exchange = UserChange { last_sign_in_at: Some(t0()), ..UserChange::default() };
        store.redeem_auth_code(&code, &exchange, &session, &token("ned-refresh").digest()).await.unwrap();
        let stored = store.find_user(ned.id).await.unwrap().unwrap();
        assert_eq!(stored.banned_until, Some(t0() + Duration::days(1)));
        assert_eq!((stored.role.as_str(), stored.password_hash), ("demoted", Some(PasswordHash::new("reset"))));
        assert_eq!(stored.email_confirmed_at, Some(t0()));
    }

    /// Pruning deletes tokens whose link and code both expired, and expired auth codes, in
    /// batches, and keeps the rest.
    pub async fn pruning_deletes_expired_secrets_and_auth_codes(store: Arc<impl Store>) {
        let pat = user(40, Some("pat@example.com"), None);
        store.create_user(&pat).await.unwrap();
        let old = one_time(&pat, OneTimeKind::Recovery, "old", t0());
        let live = one_time(&pat, OneTimeKind::MagicLink, "live", t0() + Duration::hours(2));
        store.issue_tokens(pat.id, &[(old.clone(), None), (live.clone(), None)], &[], None).await.unwrap();
        let expired = auth_code(&pat, "expired", t0());
        let fresh = auth_code(&pat, "fresh", t0() + Duration::hours(2));
        // The fresh code first: storing a code drops the codes expired before it.
        for (secret, code, at) in [("b", &fresh, t0() + Duration::hours(2)), ("a", &expired, t0())] {
            let carrier = one_time(&pat, OneTimeKind::Invite, secret, at);
            issue(&store, &carrier, None).await.unwrap();
            store.redeem_token(&carrier, &UserChange::default(), Redemption::AuthCode(code.clone()), None).await.unwrap();
        }
        let before = t0() + Duration::hours(2);
        assert_eq!(store.prune_flows(before, 1).await.unwrap(), 2, "a batch of one per table");
        assert_eq!(store.prune_flows(before, 1).await.unwrap(), 0);
        assert_eq!(store.find_token(pat.id, OneTimeKind::Recovery).await.unwrap(), None);
        assert_eq!(store.find_token(pat.id, OneTimeKind::MagicLink).await.unwrap(), Some(live));
        assert_eq!(store.find_auth_code(&expired.digest).await.unwrap(), None);
        assert_eq!(store.find_auth_code(&fresh.digest).await.unwrap(), Some(fresh));
    }

    /// A PKCE token and its challenge round-trip; redeeming it in the browser stores an auth
    /// code (and drops expired ones), which is exchanged once, with the session, even when two
    /// exchanges race; deleting the user takes its codes along.
    pub async fn auth_codes_are_exchanged_once(store: Arc<impl Store>) {
        let ann = user(5, Some("ann@example.com"), None);
        store.create_user(&ann).await.unwrap();
        let stale = auth_code(&ann, "stale", t0());
        let mut magic = one_time(&ann, OneTimeKind::MagicLink, "stale-link", t0());
        magic.pkce = Some(stale.challenge.clone());
        issue(&store, &magic, None).await.unwrap();
        assert_eq!(store.find_token_by_link(&magic.link_digest).await.unwrap(), Some(magic.clone()));
        store.redeem_token(&magic, &UserChange::default(), Redemption::AuthCode(stale.clone()), None).await.unwrap();
        assert_eq!(store.find_auth_code(&stale.digest).await.unwrap(), Some(stale.clone()));

        let later = t0() + Duration::hours(1);
        let fresh = auth_code(&ann, "fresh", later);
        let again = one_time(&ann, OneTimeKind::MagicLink, "fresh-link", later);
        issue(&store, &again, None).await.unwrap();
        let change = UserChange { last_sign_in_at: Some(later), ..UserChange::default() };
        let signed_in = after(&after(&ann, &UserChange::issued(&again)), &change);
        store.redeem_token(&again, &change, Redemption::AuthCode(fresh.clone()), None).await.unwrap();
        assert_eq!(store.find_auth_code(&stale.digest).await.unwrap(), None, "expired codes are dropped");
        assert_eq!(store.find_user(ann.id).await.unwrap(), Some(signed_in.clone()));

        let first = session(5, &ann, later);
        let second = session(6, &ann, later);
        let results = join_all([
            store.redeem_auth_code(&fresh, &change, &first, &token("pkce-a").digest()),
            store.redeem_auth_code(&fresh, &change, &second, &token("pkce-b").digest()),
        ])
        .await;
        let (a, b) = (results[0].clone(), results[1].clone());
        assert!(a.is_ok() != b.is_ok(), "exactly one exchange wins: {a:?} {b:?}");
        assert!([a, b].contains(&Err(StoreError::NotFound)));
        let sessions = [store.find_session(first.id).await.unwrap(), store.find_session(second.id).await.unwrap()];
        assert_eq!(sessions.iter().flatten().count(), 1, "only the winner's session exists");
        assert_eq!(store.find_auth_code(&fresh.digest).await.unwrap(), None);

        let last = auth_code(&ann, "last", later);
        let link = one_time(&ann, OneTimeKind::MagicLink, "last-link", later);
        issue(&store, &link, None).await.unwrap();
        store.redeem_token(&link, &change, Redemption::AuthCode(last.clone()), None).await.unwrap();
        assert!(store.delete_user(ann.id).await.unwrap());
        assert_eq!(store.find_auth_code(&last.digest).await.unwrap(), None);
    }

    /// Creating a user with its token and mail writes all three or none.
    pub async fn user_with_token_is_stored_whole_or_not_at_all(store: Arc<impl Store>) {
        let bob = user(2, Some("bob@example.com"), None);
        let token = one_time(&bob, OneTimeKind::Confirmation, "bob", t0());
        let first_mail = Some(outgoing(MailKind::Confirmation, mail("bob@example.com", 1)));
        let signup = event_by(&bob, AuditAction::Signup);
        store.create_user_with_token(&bob, &token, first_mail, &[signup]).await.unwrap();
        assert_eq!(audited(&store).await, [AuditAction::Signup]);
        let sent = after(&bob, &UserChange::issued(&token));
        assert_eq!(sent.confirmation_sent_at, Some(t0()), "the confirmation's time is recorded with it");
        assert_eq!(store.find_user(bob.id).await.unwrap(), Some(sent));
        assert_eq!(store.find_token(bob.id, OneTimeKind::Confirmation).await.unwrap(), Some(token));

        let twin = user(3, Some("BOB@example.com"), None);
        let twin_token = one_time(&twin, OneTimeKind::Confirmation, "twin", t0());
        let result = store
            .create_user_with_token(
                &twin,
                &twin_token,
                Some(outgoing(MailKind::Confirmation, mail("bob@example.com", 2))),
                &[event_by(&twin, AuditAction::Signup)],
            )
            .await;
        assert_eq!(result, Err(StoreError::Conflict(UniqueField::Email)));
        assert_eq!(audited(&store).await, [AuditAction::Signup], "the refused sign-up recorded nothing");
        assert_eq!(store.find_token_by_link(&twin_token.link_digest).await.unwrap(), None);
        let due = store.claim_due_mail(t0() + Duration::hours(1), t0() + Duration::hours(2), 10).await.unwrap();
        assert_eq!(due.len(), 1, "only the first sign-up's mail was queued");
        assert_eq!(due[0].mail.subject, "subject 1");
    }
}
