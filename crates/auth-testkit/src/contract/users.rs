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

    /// An update stores every field and reads back equal.
    pub async fn update_round_trips_every_field(store: Arc<impl Store>) {
        let mut alice = user(1, Some("alice@example.com"), None);
        store.create_user(&alice).await.unwrap();
        alice.email = Some(Email::parse("alice@new.example.org").unwrap());
        alice.phone = Some(Phone::parse("4930123456").unwrap());
        alice.username = Some(Username::parse("Alice.W").unwrap());
        alice.password_hash = None;
        alice.email_confirmed_at = Some(t0() + Duration::seconds(5));
        alice.phone_confirmed_at = Some(t0() + Duration::seconds(6));
        alice.confirmation_sent_at = Some(t0() + Duration::seconds(4));
        alice.app_metadata = Metadata::from_value(json!({"provider": "email", "plan": {"tier": 2}}), 1024).unwrap();
        alice.user_metadata =
            Metadata::from_value(json!({"first_name": "Alice", "tags": ["x", 1, null]}), 1024).unwrap();
        alice.banned_until = Some(t0() + Duration::days(365 * 100));
        alice.is_anonymous = true;
        alice.last_sign_in_at = Some(t0() + Duration::seconds(7));
        alice.updated_at = t0() + Duration::seconds(8);
        store.update_user(&alice).await.unwrap();
        assert_eq!(store.find_user(alice.id).await.unwrap(), Some(alice));
    }

    /// Updates keep uniqueness and refuse unknown ids.
    pub async fn update_refuses_conflicts_and_unknown_users(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), Some("alice"));
        let mut bob = user(2, Some("bob@example.com"), Some("bob"));
        store.create_user(&alice).await.unwrap();
        store.create_user(&bob).await.unwrap();
        bob.email = alice.email.clone();
        assert_eq!(store.update_user(&bob).await, Err(StoreError::Conflict(UniqueField::Email)));
        bob.email = Some(Email::parse("bob@example.com").unwrap());
        bob.username = Some(Username::parse("ALICE").unwrap());
        assert_eq!(store.update_user(&bob).await, Err(StoreError::Conflict(UniqueField::Username)));
        assert_eq!(store.update_user(&user(3, Some("c@example.com"), None)).await, Err(StoreError::NotFound));
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
    }

    /// Deleting a user deletes its sessions and tokens with it.
    pub async fn deleting_a_user_removes_its_sessions_and_tokens(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        let bystander = self::user(2, Some("bob@example.com"), None);
        store.create_user(&bystander).await.unwrap();
        let theirs = self::session(2, &bystander, t0());
        store.start_session(&theirs, &token("bob-0").digest()).await.unwrap();

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
