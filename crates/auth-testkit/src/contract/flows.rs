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
        store.issue_token(&first, Some(outgoing(MailKind::Recovery, mail("alice@example.com", 1)))).await.unwrap();
        let magic = one_time(&alice, OneTimeKind::MagicLink, "magic", t0());
        store.issue_token(&magic, Some(outgoing(MailKind::MagicLink, mail("alice@example.com", 2)))).await.unwrap();
        let second = one_time(&alice, OneTimeKind::Recovery, "second", t0() + Duration::minutes(1));
        store.issue_token(&second, Some(outgoing(MailKind::Recovery, mail("alice@example.com", 3)))).await.unwrap();

        assert_eq!(store.find_token_by_link(&first.link_digest).await.unwrap(), None, "replaced");
        assert_eq!(store.find_token_by_link(&second.link_digest).await.unwrap(), Some(second.clone()));
        assert_eq!(store.find_token(alice.id, OneTimeKind::Recovery).await.unwrap(), Some(second.clone()));
        assert_eq!(store.find_token(alice.id, OneTimeKind::MagicLink).await.unwrap(), Some(magic.clone()));
        let alice_address = alice.email.clone().unwrap();
        assert_eq!(store.find_tokens_sent_to(&alice_address, OneTimeKind::MagicLink).await.unwrap(), vec![magic]);
        assert!(store.find_tokens_sent_to(&alice_address, OneTimeKind::Invite).await.unwrap().is_empty());
        let mut change = one_time(&alice, OneTimeKind::EmailChangeNew, "change", t0());
        change.sent_to = Email::parse("alice.new@example.com").unwrap();
        change.relates_to = Some(change.sent_to.clone());
        store.issue_token(&change, None).await.unwrap();
        assert_eq!(
            store.find_tokens_sent_to(&change.sent_to, OneTimeKind::EmailChangeNew).await.unwrap(),
            vec![change]
        );
        assert_eq!(
            store.redeem_token(&first, &alice, Redemption::Nothing).await,
            Err(StoreError::NotFound),
            "a replaced token"
        );

        let mut confirmed = alice.clone();
        confirmed.email_confirmed_at = Some(t0() + Duration::minutes(2));
        confirmed.last_sign_in_at = confirmed.email_confirmed_at;
        let started = session(1, &alice, t0() + Duration::minutes(2));
        store
            .redeem_token(&second, &confirmed, Redemption::Session(started.clone(), token("first-refresh").digest()))
            .await
            .unwrap();
        assert_eq!(store.find_user(alice.id).await.unwrap(), Some(confirmed.clone()));
        assert_eq!(store.find_session(started.id).await.unwrap(), Some(started));
        let at = t0() + Duration::minutes(3);
        rotated(store.rotate_refresh_token(&rotation("first-refresh", "next-refresh", at)).await.unwrap());

        assert_eq!(
            store.redeem_token(&second, &confirmed, Redemption::Nothing).await,
            Err(StoreError::NotFound),
            "used once"
        );
        assert_eq!(store.find_token(alice.id, OneTimeKind::Recovery).await.unwrap(), None);

        let ghost = user(9, Some("ghost@example.com"), None);
        let orphan = one_time(&ghost, OneTimeKind::Recovery, "ghost", t0());
        assert_eq!(
            store.issue_token(&orphan, Some(outgoing(MailKind::Recovery, mail("ghost@example.com", 4)))).await,
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
        store.issue_token(&again, Some(outgoing(MailKind::Recovery, mail("alice@example.com", 5)))).await.unwrap();
        assert!(store.delete_user(alice.id).await.unwrap());
        assert_eq!(store.find_token_by_link(&again.link_digest).await.unwrap(), None);
    }

    /// A token survives fewer than the maximum wrong codes; a new token starts counting afresh.
    pub async fn wrong_codes_use_up_a_token(store: Arc<impl Store>) {
        let kim = user(4, Some("kim@example.com"), None);
        store.create_user(&kim).await.unwrap();
        let first = one_time(&kim, OneTimeKind::MagicLink, "first", t0());
        store.issue_token(&first, None).await.unwrap();
        for _ in 1..auth_core::domain::MAX_CODE_ATTEMPTS {
            store.count_failed_code(kim.id, OneTimeKind::MagicLink).await.unwrap();
        }
        assert!(store.find_token(kim.id, OneTimeKind::MagicLink).await.unwrap().is_some());
        store.count_failed_code(kim.id, OneTimeKind::MagicLink).await.unwrap();
        assert_eq!(store.find_token(kim.id, OneTimeKind::MagicLink).await.unwrap(), None, "used up");

        let second = one_time(&kim, OneTimeKind::MagicLink, "second", t0());
        store.issue_token(&second, None).await.unwrap();
        store.count_failed_code(kim.id, OneTimeKind::MagicLink).await.unwrap();
        assert!(store.find_token(kim.id, OneTimeKind::MagicLink).await.unwrap().is_some(), "counted afresh");
        store.count_failed_code(kim.id, OneTimeKind::Recovery).await.unwrap();
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
        store.issue_token(&magic, None).await.unwrap();
        assert_eq!(store.find_token_by_link(&magic.link_digest).await.unwrap(), Some(magic.clone()));
        store.redeem_token(&magic, &ann, Redemption::AuthCode(stale.clone())).await.unwrap();
        assert_eq!(store.find_auth_code(&stale.digest).await.unwrap(), Some(stale.clone()));

        let later = t0() + Duration::hours(1);
        let fresh = auth_code(&ann, "fresh", later);
        let again = one_time(&ann, OneTimeKind::MagicLink, "fresh-link", later);
        store.issue_token(&again, None).await.unwrap();
        let mut signed_in = ann.clone();
        signed_in.last_sign_in_at = Some(later);
        store.redeem_token(&again, &signed_in, Redemption::AuthCode(fresh.clone())).await.unwrap();
        assert_eq!(store.find_auth_code(&stale.digest).await.unwrap(), None, "expired codes are dropped");
        assert_eq!(store.find_user(ann.id).await.unwrap(), Some(signed_in.clone()));

        let first = session(5, &ann, later);
        let second = session(6, &ann, later);
        let results = join_all([
            store.redeem_auth_code(&fresh, &signed_in, &first, &token("pkce-a").digest()),
            store.redeem_auth_code(&fresh, &signed_in, &second, &token("pkce-b").digest()),
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
        store.issue_token(&link, None).await.unwrap();
        store.redeem_token(&link, &signed_in, Redemption::AuthCode(last.clone())).await.unwrap();
        assert!(store.delete_user(ann.id).await.unwrap());
        assert_eq!(store.find_auth_code(&last.digest).await.unwrap(), None);
    }

    /// Creating a user with its token and mail writes all three or none.
    pub async fn user_with_token_is_stored_whole_or_not_at_all(store: Arc<impl Store>) {
        let bob = user(2, Some("bob@example.com"), None);
        let token = one_time(&bob, OneTimeKind::Confirmation, "bob", t0());
        store
            .create_user_with_token(&bob, &token, Some(outgoing(MailKind::Confirmation, mail("bob@example.com", 1))))
            .await
            .unwrap();
        assert_eq!(store.find_user(bob.id).await.unwrap(), Some(bob.clone()));
        assert_eq!(store.find_token(bob.id, OneTimeKind::Confirmation).await.unwrap(), Some(token));

        let twin = user(3, Some("BOB@example.com"), None);
        let twin_token = one_time(&twin, OneTimeKind::Confirmation, "twin", t0());
        let result = store
            .create_user_with_token(
                &twin,
                &twin_token,
                Some(outgoing(MailKind::Confirmation, mail("bob@example.com", 2))),
            )
            .await;
        assert_eq!(result, Err(StoreError::Conflict(UniqueField::Email)));
        assert_eq!(store.find_token_by_link(&twin_token.link_digest).await.unwrap(), None);
        let due = store.claim_due_mail(t0() + Duration::hours(1), t0() + Duration::hours(2), 10).await.unwrap();
        assert_eq!(due.len(), 1, "only the first sign-up's mail was queued");
        assert_eq!(due[0].mail.subject, "subject 1");
    }
}
