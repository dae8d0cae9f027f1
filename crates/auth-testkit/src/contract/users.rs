//! The contract of UserStore: accounts, their unique keys, imports, listing and deletion.

use super::fixtures::*;

contract_cases! { $ user_contract_cases, users;
    /// Look-ups by each unique key find the same user, with every field intact.
    pub async fn users_are_found_by_id_email_phone_and_username(store: Arc<impl Store>) {
        let mut alice = user(1, Some("alice@example.com"), Some("Alice_W"));
        alice.phone = Some(Phone::parse("+15551234567").unwrap());
        store.create_user(&alice).await.unwrap();
        store.create_user(&user(2, Some("bob@example.com"), None)).await.unwrap();

        assert_eq!(store.find_user(alice.id).await.unwrap(), Some(alice.clone()));
        assert_eq!(
            store.find_user_by_email(&Email::parse("ALICE@example.com").unwrap()).await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(
            store.find_user_by_username(&Username::parse("alice_w").unwrap()).await.unwrap(),
            Some(alice.clone())
        );
        assert_eq!(store.find_user_by_phone(&Phone::parse("15551234567").unwrap()).await.unwrap(), Some(alice));
        assert_eq!(store.find_user(UserId::from_uuid(Uuid::from_u128(99))).await.unwrap(), None);
        assert_eq!(store.find_user_by_email(&Email::parse("carol@example.com").unwrap()).await.unwrap(), None);
        assert_eq!(store.find_user_by_username(&Username::parse("bob").unwrap()).await.unwrap(), None);
    }

    /// An import stores users exactly as given, skips (never overwrites) clashing ones, naming
    /// the field, and a second run of the same batch stores nothing.
    pub async fn imports_store_new_users_and_skip_taken_ones(store: Arc<impl Store>) {
        let existing = user(1, Some("taken@example.com"), Some("taken"));
        store.create_user(&existing).await.unwrap();
        let mut imported = user(10, Some("new@example.com"), None);
        imported.password_hash =
            Some(PasswordHash::new("$2b$10$imported.bcrypt.hash.from.gotrue.kept.as.it.is.123456"));
        imported.phone = Some(Phone::parse("+15550001111").unwrap());
        imported.email_confirmed_at = Some(t0());
        imported.last_sign_in_at = Some(t0() + Duration::hours(1));
        imported.banned_until = Some(t0() + Duration::days(3));
        imported.user_metadata = Metadata::from_value(json!({"full_name": "Ada"}), 1024).unwrap();
        let mut same_id = user(1, Some("other@example.com"), None);
        same_id.role = "changed".into();
        let batch = vec![
            imported.clone(),
            same_id,
            user(11, Some("TAKEN@example.com"), None),
            user(12, Some("new@example.com"), None),
            user(13, None, Some("Taken")),
            user(14, Some("fresh@example.com"), None),
        ];
        let outcomes = store.import_users(&batch).await.unwrap();
        assert_eq!(
            outcomes,
            vec![
                None,
                Some(UniqueField::Id),
                Some(UniqueField::Email),
                Some(UniqueField::Email),
                Some(UniqueField::Username),
                None
            ]
        );
        assert_eq!(store.find_user(imported.id).await.unwrap(), Some(imported.clone()), "stored as given");
        assert_eq!(store.find_user(existing.id).await.unwrap(), Some(existing), "never overwritten");
        assert_eq!(store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 3);
        let again = store.import_users(&batch).await.unwrap();
        assert!(again.iter().all(Option::is_some), "{again:?}");
        assert_eq!(again[0], Some(UniqueField::Id));
        assert_eq!(store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 3);
        assert_eq!(store.import_users(&[]).await.unwrap(), Vec::new());
    }

    /// A hash upgrade writes only the hash, and only over the hash it was computed for.
    pub async fn password_hash_is_replaced_only_while_unchanged(store: Arc<impl Store>) {
        let mut alice = user(1, Some("alice@example.com"), None);
        let old = PasswordHash::new("$2b$10$old.hash.kept.until.the.first.sign.in.proves.the.password");
        alice.password_hash = Some(old.clone());
        store.create_user(&alice).await.unwrap();
        let upgraded = PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$bmV3c2FsdA$bmV3aGFzaG5ld2hhc2g");
        let stale = PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$c3RhbGU$c3RhbGVzdGFsZXN0YWxl");
        assert!(store.replace_password_hash(alice.id, &old, &upgraded).await.unwrap());
        let stored = store.find_user(alice.id).await.unwrap().unwrap();
        assert_eq!(stored, User { password_hash: Some(upgraded.clone()), ..alice.clone() }, "nothing else changed");
        assert!(!store.replace_password_hash(alice.id, &old, &stale).await.unwrap(), "the hash moved on");
        assert_eq!(store.find_user(alice.id).await.unwrap().unwrap().password_hash, Some(upgraded));
        let nobody = UserId::from_uuid(Uuid::from_u128(99));
        assert!(!store.replace_password_hash(nobody, &old, &stale).await.unwrap());
    }

    /// Addresses that differ only in letter case are one account.
    pub async fn email_conflicts_ignore_letter_case(store: Arc<impl Store>) {
        store.create_user(&user(1, Some("alice@example.com"), None)).await.unwrap();
        let result = store.create_user(&user(2, Some("Alice@EXAMPLE.com"), None)).await;
        assert_eq!(result, Err(StoreError::Conflict(UniqueField::Email)));
        assert_eq!(store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 1);
        let same_id = store.create_user(&user(1, Some("other@example.com"), None)).await;
        assert_eq!(same_id, Err(StoreError::Conflict(UniqueField::Id)));
    }

    /// Usernames are unique without regard to letter case.
    pub async fn username_conflicts_ignore_letter_case(store: Arc<impl Store>) {
        store.create_user(&user(1, Some("a@example.com"), Some("JaneDoe"))).await.unwrap();
        let result = store.create_user(&user(2, Some("b@example.com"), Some("janedoe"))).await;
        assert_eq!(result, Err(StoreError::Conflict(UniqueField::Username)));
        let mut phoned = user(3, None, None);
        phoned.phone = Some(Phone::parse("15550000001").unwrap());
        store.create_user(&phoned).await.unwrap();
        let mut again = user(4, None, None);
        again.phone = phoned.phone.clone();
        assert_eq!(store.create_user(&again).await, Err(StoreError::Conflict(UniqueField::Phone)));
    }

    /// Racing sign-ups of one address in different letter case: exactly one wins.
    pub async fn concurrent_signups_with_one_email_yield_one_user(store: Arc<impl Store>) {
        let spellings = ["race@example.com", "Race@example.com", "RACE@example.com", "race@EXAMPLE.com"];
        let attempts = (0..16u128).map(|n| {
            let store = Arc::clone(&store);
            let candidate = user(n + 1, Some(spellings[(n as usize) % spellings.len()]), None);
            tokio::spawn(async move { store.create_user(&candidate).await })
        });
        let results: Vec<_> = join_all(attempts).await.into_iter().map(|r| r.unwrap()).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "results: {results:?}");
        for result in results.iter().filter(|r| r.is_err()) {
            assert_eq!(result, &Err(StoreError::Conflict(UniqueField::Email)));
        }
        assert_eq!(store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 1);
    }

    /// A change writes every field it names, reads back equal, and answers the stored user.
    pub async fn change_round_trips_every_field(store: Arc<impl Store>) {
        let mut alice = user(1, Some("alice@example.com"), None);
        alice.phone_confirmed_at = Some(t0() + Duration::seconds(6));
        alice.confirmation_sent_at = Some(t0() + Duration::seconds(4));
        alice.is_anonymous = true;
        store.create_user(&alice).await.unwrap();
        let change = UserChange {
            email: Some(Email::parse("alice@new.example.org").unwrap()),
            phone: Some(Phone::parse("4930123456").unwrap()),
            username: Some(Some(Username::parse("Alice.W").unwrap())),
            password_hash: Some(None),
            email_confirmed_at: Some(Some(t0() + Duration::seconds(5))),
            app_metadata: Some(Metadata::from_value(json!({"provider": "email", "plan": {"tier": 2}}), 1024).unwrap()),
            user_metadata: Some(
                Metadata::from_value(json!({"first_name": "Alice", "tags": ["x", 1, null]}), 1024).unwrap(),
            ),
            role: Some("editor".into()),
            banned_until: Some(Some(t0() + Duration::days(365 * 100))),
            last_sign_in_at: Some(t0() + Duration::seconds(7)),
            updated_at: Some(t0() + Duration::seconds(8)),
            phone_confirmed_at: Some(Some(t0() + Duration::seconds(9))),
            is_anonymous: Some(false),
            confirmation_sent_at: Some(t0() + Duration::seconds(10)),
            invited_at: Some(t0() + Duration::seconds(11)),
            recovery_sent_at: Some(t0() + Duration::seconds(12)),
            email_change: Some(Some(Email::parse("alice@next.example.org").unwrap())),
            email_change_sent_at: Some(t0() + Duration::seconds(13)),
            reauthentication_sent_at: Some(t0() + Duration::seconds(14)),
            ..UserChange::default()
        };
        let changed = after(&alice, &change);
        assert_eq!(changed.mail.email_change_sent_at, Some(t0() + Duration::seconds(13)));
        assert_eq!(store.change_user(alice.id, &change).await.unwrap(), Some(changed.clone()));
        assert_eq!(store.find_user(alice.id).await.unwrap(), Some(changed.clone()));
        let cleared = UserChange {
            username: Some(None),
            banned_until: Some(None),
            email_change: Some(None),
            phone_confirmed_at: Some(None),
            ..UserChange::default()
        };
        let stored = store.change_user(alice.id, &cleared).await.unwrap().unwrap();
        assert_eq!((stored.username, stored.banned_until), (None, None));
        assert_eq!((stored.mail.email_change, stored.phone_confirmed_at), (None, None));
        assert_eq!(stored.mail.recovery_sent_at, Some(t0() + Duration::seconds(12)), "not named, kept");
    }

    /// A change written with a stale copy of the user in hand leaves every field it does not
    /// name as stored now (a ban, a password, a role set meanwhile); its password guard refuses
    /// a password changed meanwhile, writing nothing; voided secrets go with it.
    pub async fn changes_never_write_back_a_stale_user(store: Arc<impl Store>) {
        let eve = user(1, Some("eve@example.com"), None);
        store.create_user(&eve).await.unwrap();
        let stale = store.find_user(eve.id).await.unwrap().unwrap();
        let ban = UserChange { banned_until: Some(Some(t0() + Duration::days(1))), ..UserChange::default() };
        let demote = UserChange { role: Some("demoted".into()), ..UserChange::default() };
        let reset = UserChange { password_hash: Some(Some(PasswordHash::new("reset"))), ..UserChange::default() };
        let mut changes = [ban, demote, reset].into_iter().map(|c| {
            let store = Arc::clone(&store);
            async move { store.change_user(eve.id, &c).await }
        });
        let written = join_all(changes.by_ref()).await;
        assert!(written.iter().all(|w| matches!(w, Ok(Some(_)))));

        // The stale request: a profile update, then a password change proved against the old hash.
        let profile = UserChange {
            user_metadata: Some(Metadata::from_value(json!({"name": "Eve"}), 1024).unwrap()),
            ..UserChange::default()
        };
        store.change_user(eve.id, &profile).await.unwrap().unwrap();
        for kind in [OneTimeKind::MagicLink, OneTimeKind::Recovery, OneTimeKind::Invite] {
            store.issue_tokens(eve.id, &[(one_time(&eve, kind, kind.as_str(), t0()), None)], &[], None).await.unwrap();
        }
        let password = UserChange {
            password_hash: Some(Some(PasswordHash::new("attacker"))),
            only_if_password: Some(stale.password_hash.clone()),
            voids: vec![OneTimeKind::MagicLink, OneTimeKind::Recovery],
            ..UserChange::default()
        };
        assert_eq!(store.change_user(eve.id, &password).await.unwrap(), None, "the password changed meanwhile");
        assert!(store.find_token(eve.id, OneTimeKind::MagicLink).await.unwrap().is_some(), "nothing written");

        let stored = store.find_user(eve.id).await.unwrap().unwrap();
        assert_eq!(stored.banned_until, Some(t0() + Duration::days(1)), "the ban survives");
        assert_eq!((stored.role.as_str(), stored.password_hash.clone()), ("demoted", Some(PasswordHash::new("reset"))));
        assert_eq!(stored.user_metadata.get("name"), Some(&json!("Eve")));

        let current = UserChange { only_if_password: Some(stored.password_hash.clone()), ..password };
        let changed = store.change_user(eve.id, &current).await.unwrap().unwrap();
        assert_eq!(changed.password_hash, Some(PasswordHash::new("attacker")));
        assert_eq!(store.find_token(eve.id, OneTimeKind::MagicLink).await.unwrap(), None, "voided");
        assert_eq!(store.find_token(eve.id, OneTimeKind::Recovery).await.unwrap(), None, "voided");
        assert!(store.find_token(eve.id, OneTimeKind::Invite).await.unwrap().is_some(), "not named, kept");
    }

    /// Changes keep uniqueness and refuse unknown ids.
    pub async fn change_refuses_conflicts_and_unknown_users(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), Some("alice"));
        let bob = user(2, Some("bob@example.com"), Some("bob"));
        store.create_user(&alice).await.unwrap();
        store.create_user(&bob).await.unwrap();
        let take_email = UserChange { email: alice.email.clone(), ..UserChange::default() };
        assert_eq!(store.change_user(bob.id, &take_email).await, Err(StoreError::Conflict(UniqueField::Email)));
        let take_name = UserChange { username: Some(Some(Username::parse("ALICE").unwrap())), ..UserChange::default() };
        assert_eq!(store.change_user(bob.id, &take_name).await, Err(StoreError::Conflict(UniqueField::Username)));
        let unknown = user(3, Some("c@example.com"), None).id;
        assert_eq!(store.change_user(unknown, &UserChange::at(t0())).await, Err(StoreError::NotFound));
        assert_eq!(
            store.find_user_by_email(&Email::parse("bob@example.com").unwrap()).await.unwrap().map(|u| u.username),
            Some(Some(Username::parse("bob").unwrap()))
        );
    }

    /// Listing is ordered by creation time and pages with offset and limit.
    pub async fn users_list_in_creation_order_with_paging(store: Arc<impl Store>) {
        for n in [3u128, 1, 5, 2, 4] {
            store.create_user(&user(n, Some(&format!("u{n}@example.com")), None)).await.unwrap();
        }
        assert_eq!(store.count_users(&UserQuery::all(0, 0)).await.unwrap(), 5);
        let ids = |users: Vec<User>| users.into_iter().map(|u| u.id).collect::<Vec<_>>();
        let expected = |ns: &[u128]| ns.iter().map(|n| UserId::from_uuid(Uuid::from_u128(*n))).collect::<Vec<_>>();
        assert_eq!(ids(store.list_users(&UserQuery::all(0, 2)).await.unwrap()), expected(&[1, 2]));
        assert_eq!(ids(store.list_users(&UserQuery::all(2, 2)).await.unwrap()), expected(&[3, 4]));
        assert_eq!(ids(store.list_users(&UserQuery::all(4, 2)).await.unwrap()), expected(&[5]));
        assert!(store.list_users(&UserQuery::all(10, 2)).await.unwrap().is_empty());
        let newest = UserQuery { newest_first: true, ..UserQuery::all(0, 2) };
        assert_eq!(ids(store.list_users(&newest).await.unwrap()), expected(&[5, 4]));
    }

    /// The filter matches part of the email or the username, ignoring case, with LIKE's
    /// wildcards taken literally.
    pub async fn users_filter_on_email_and_username(store: Arc<impl Store>) {
        store.create_user(&user(1, Some("ada@example.com"), Some("Countess"))).await.unwrap();
        store.create_user(&user(2, Some("grace@navy.example"), None)).await.unwrap();
        store.create_user(&user(3, Some("under_score@example.com"), None)).await.unwrap();
        let filtered = |text: &str| UserQuery { filter: Some(text.into()), ..UserQuery::all(0, 10) };
        let found = async |text: &str| {
            let mut ns: Vec<u128> =
                store.list_users(&filtered(text)).await.unwrap().iter().map(|u| u.id.as_uuid().as_u128()).collect();
            ns.sort_unstable();
            ns
        };
        assert_eq!(found("EXAMPLE.com").await, vec![1, 3]);
        assert_eq!(found("countess").await, vec![1]);
        assert_eq!(found("_").await, vec![3], "'_' is not a wildcard");
        assert_eq!(found("%").await, Vec::<u128>::new(), "'%' is not a wildcard");
        assert_eq!(store.count_users(&filtered("navy")).await.unwrap(), 1);
        // Supabase Auth's filter also reads `user_metadata.full_name`.
        let mut named = user(4, Some("x@example.org"), None);
        named.user_metadata = Metadata::from_value(json!({"full_name": "Katherine Johnson"}), 1024).unwrap();
        store.create_user(&named).await.unwrap();
        assert_eq!(found("JOHNSON").await, vec![4]);
        assert_eq!(store.count_users(&filtered("katherine")).await.unwrap(), 1);
    }

    /// A soft deletion keeps the row, empty: its contacts, password, pending email change and
    /// metadata are gone and the address is free again; its sessions, secrets and auth codes
    /// are deleted; `deleted_at` is set once.
    pub async fn soft_deletion_empties_the_user_and_ends_its_sessions(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        let mut pending = one_time(&user, OneTimeKind::EmailChangeNew, "pending", t0());
        pending.relates_to = Some(Email::parse("next@example.com").unwrap());
        store.issue_tokens(user.id, &[(pending, None)], &[], None).await.unwrap();
        let metadata = Metadata::from_value(json!({"full_name": "Gone"}), 1024).unwrap();
        let change = UserChange { user_metadata: Some(metadata), ..UserChange::default() };
        store.change_user(user.id, &change).await.unwrap().unwrap();

        let at = t0() + Duration::hours(1);
        assert!(store.soft_delete_user(user.id, at).await.unwrap());
        assert!(!store.soft_delete_user(user.id, at + Duration::hours(1)).await.unwrap(), "once");
        let stored = store.find_user(user.id).await.unwrap().expect("the row stays");
        assert_eq!(stored.deleted_at, Some(at));
        assert_eq!((stored.email, stored.username, stored.password_hash), (None, None, None));
        assert_eq!(stored.mail.email_change, None);
        assert!(stored.user_metadata.is_empty() && stored.app_metadata.is_empty());
        assert_eq!(store.find_session(session.id).await.unwrap(), None);
        assert_eq!(store.find_token(user.id, OneTimeKind::EmailChangeNew).await.unwrap(), None);
        assert_eq!(
            store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0())).await.unwrap(),
            RotationOutcome::NotFound
        );
        store.create_user(&self::user(2, user.email.as_ref().map(Email::as_str), None)).await.unwrap();
        let nobody = UserId::from_uuid(Uuid::from_u128(99));
        assert!(!store.soft_delete_user(nobody, at).await.unwrap());
    }

    /// Deleting a user deletes its sessions and tokens with it.
    pub async fn deleting_a_user_removes_its_sessions_and_tokens(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        let bystander = self::user(2, Some("bob@example.com"), None);
        store.create_user(&bystander).await.unwrap();
        let theirs = self::session(2, &bystander, t0());
        store.start_session(&theirs, &token("bob-0").digest(), &[]).await.unwrap();

        assert!(store.delete_user(user.id).await.unwrap());
        assert!(!store.delete_user(user.id).await.unwrap());
        assert_eq!(store.find_user(user.id).await.unwrap(), None);
        assert_eq!(store.find_session(session.id).await.unwrap(), None);
        assert!(store.list_sessions(user.id).await.unwrap().is_empty());
        assert_eq!(
            store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0())).await.unwrap(),
            RotationOutcome::NotFound
        );
        // Nobody else is touched.
        assert!(store.find_session(theirs.id).await.unwrap().is_some());
        rotated(store.rotate_refresh_token(&rotation("bob-0", "bob-1", t0())).await.unwrap());
    }
}
