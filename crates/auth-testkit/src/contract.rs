//! The storage contract suite: the cases every implementation of [`UserStore`] and
//! [`SessionStore`] must pass, whatever its backend.
//!
//! A store joins the suite by implementing [`StoreHarness`] and invoking
//! [`store_contract_tests!`](crate::store_contract_tests) once in its integration tests; each case
//! becomes its own `#[tokio::test]`, run against a fresh, empty store.

use std::future::Future;
use std::sync::Arc;

use auth_core::ports::{AuditLog, EmailFlowStore, KeyStore, MailOutbox, SessionStore, UserStore};

/// Builds a fresh, empty store for one test case.
pub trait StoreHarness: Sized + Send + Sync + 'static {
    /// The store under test.
    type Store: UserStore + SessionStore + KeyStore + AuditLog + EmailFlowStore + MailOutbox + 'static;

    /// A new, empty store named after the test case, or `None` when the backend is not available
    /// here (the harness has said so loudly and the case is skipped). Resources it creates are
    /// released when the harness is dropped.
    fn create(test_name: &'static str) -> impl Future<Output = Option<Self>> + Send;

    /// The store.
    fn store(&self) -> Arc<Self::Store>;
}

/// Instantiates every contract case as a `#[tokio::test]` for a [`StoreHarness`].
///
/// ```ignore
/// auth_testkit::store_contract_tests!(SqliteHarness);
/// ```
#[macro_export]
macro_rules! store_contract_tests {
    ($harness:ty) => {
        $crate::store_contract_tests!(@cases $harness;
            users_are_found_by_id_email_phone_and_username,
            email_conflicts_ignore_letter_case,
            username_conflicts_ignore_letter_case,
            concurrent_signups_with_one_email_yield_one_user,
            update_round_trips_every_field,
            update_refuses_conflicts_and_unknown_users,
            imports_store_new_users_and_skip_taken_ones,
            password_hash_is_replaced_only_while_unchanged,
            users_list_in_creation_order_with_paging,
            users_filter_on_email_and_username,
            audit_events_round_trip_and_prune,
            one_time_tokens_are_replaced_and_redeemed_once,
            wrong_codes_use_up_a_token,
            auth_codes_are_exchanged_once,
            user_with_token_is_stored_whole_or_not_at_all,
            outbox_leases_reschedules_and_wipes_bodies,
            concurrent_claims_never_share_a_message,
            session_start_needs_an_existing_user,
            session_start_records_the_sign_in,
            user_with_session_is_stored_whole_or_not_at_all,
            live_token_rotates_along_the_chain,
            previous_token_within_reuse_interval_replays,
            previous_token_after_reuse_interval_revokes_the_family,
            older_ancestor_revokes_the_family,
            unknown_token_is_not_found,
            concurrent_rotations_leave_exactly_one_live_token,
            expiry_is_decided_by_the_injected_clock,
            revocation_ends_sessions_and_their_tokens,
            deleting_a_user_removes_its_sessions_and_tokens,
            keys_round_trip_and_kids_are_unique,
            replicas_starting_together_store_one_first_key,
        );
    };
    (@cases $harness:ty; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let harness = <$harness as $crate::contract::StoreHarness>::create(stringify!($case)).await;
                if let Some(harness) = harness {
                    $crate::contract::cases::$case($crate::contract::StoreHarness::store(&harness)).await;
                }
            }
        )*
    };
}

/// The cases. Each takes a fresh, empty store and panics (fails the test) on a broken contract.
pub mod cases {
    use std::sync::Arc;

    use auth_core::domain::{
        Aal, Actor, AuditAction, AuditEvent, AuthCode, AuthMethod, ChallengeMethod, CodeChallenge, Email, ExpiryReason,
        KeyMaterial, KeyPurpose, MailKind, Metadata, OneTimeKind, OneTimeToken, OutgoingMail, PasswordHash, Phone,
        RefreshToken, Rotation, RotationOutcome, Session, SessionId, SessionLimits, StoredKey, TokenDigest, User,
        UserId, UserQuery, Username,
    };
    use auth_core::ports::{
        AuditLog, EmailFlowStore, KeyStore, Mail, MailOutbox, Redemption, SessionStore, StoreError, UniqueField,
        UserStore,
    };
    use chrono::{DateTime, Duration, TimeZone, Utc};
    use futures_util::future::join_all;
    use serde_json::json;
    use uuid::Uuid;

    /// Every store under test implements all three storage ports.
    pub trait Store: UserStore + SessionStore + KeyStore + AuditLog + EmailFlowStore + MailOutbox + 'static {}
    impl<T: UserStore + SessionStore + KeyStore + AuditLog + EmailFlowStore + MailOutbox + 'static> Store for T {}

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).single().unwrap_or_default()
    }

    fn user(n: u128, email: Option<&str>, username: Option<&str>) -> User {
        User {
            id: UserId::from_uuid(Uuid::from_u128(n)),
            aud: "authenticated".into(),
            role: "authenticated".into(),
            email: email.map(|e| Email::parse(e).unwrap()),
            phone: None,
            username: username.map(|u| Username::parse(u).unwrap()),
            password_hash: Some(PasswordHash::new("$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")),
            email_confirmed_at: None,
            phone_confirmed_at: None,
            confirmation_sent_at: None,
            app_metadata: Metadata::from_value(json!({"provider": "email", "providers": ["email"]}), 1024).unwrap(),
            user_metadata: Metadata::new(),
            banned_until: None,
            is_anonymous: false,
            last_sign_in_at: None,
            created_at: t0() + Duration::seconds(n as i64),
            updated_at: t0() + Duration::seconds(n as i64),
        }
    }

    fn session(n: u128, user: &User, created_at: DateTime<Utc>) -> Session {
        Session {
            id: SessionId::from_uuid(Uuid::from_u128(1_000_000 + n)),
            user_id: user.id,
            created_at,
            refreshed_at: None,
            not_after: None,
            aal: Aal::Aal1,
            auth_method: AuthMethod::Password,
            user_agent: Some("contract-suite/1.0".into()),
            ip: Some("203.0.113.7".into()),
            revoked_at: None,
        }
    }

    fn token(name: &str) -> RefreshToken {
        RefreshToken::presented(name).unwrap()
    }

    fn rotation(presented: &str, successor: &str, now: DateTime<Utc>) -> Rotation {
        Rotation {
            presented: token(presented).digest(),
            successor: token(successor).digest(),
            now,
            reuse_interval: Duration::seconds(10),
            limits: SessionLimits::default(),
        }
    }

    /// A user with one session whose first token is `t0-token`, started at [`t0`].
    async fn signed_in(store: &Arc<impl Store>) -> (User, Session) {
        let user = user(1, Some("alice@example.com"), Some("alice"));
        store.create_user(&user).await.unwrap();
        let session = session(1, &user, t0());
        store.start_session(&session, &token("t0-token").digest()).await.unwrap();
        (user, session)
    }

    fn rotated(outcome: RotationOutcome) -> Session {
        match outcome {
            RotationOutcome::Rotated(session) => session,
            other => panic!("expected Rotated, got {other:?}"),
        }
    }

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

    /// A session cannot belong to a user who does not exist.
    pub async fn session_start_needs_an_existing_user(store: Arc<impl Store>) {
        let ghost = user(7, Some("ghost@example.com"), None);
        let result = store.start_session(&session(1, &ghost, t0()), &token("t0-token").digest()).await;
        assert_eq!(result, Err(StoreError::NotFound));
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
        store.create_user_with_session(&user, &first, &token("t0-token").digest()).await.unwrap();
        assert_eq!(store.find_user(user.id).await.unwrap(), Some(user.clone()));
        assert_eq!(store.list_sessions(user.id).await.unwrap(), vec![first.clone()]);
        let at1 = t0() + Duration::minutes(1);
        rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", at1)).await.unwrap());

        let mut twin = self::user(2, Some("NEW@example.com"), None);
        twin.last_sign_in_at = Some(t0());
        let second = session(2, &twin, t0());
        let result = store.create_user_with_session(&twin, &second, &token("twin-token").digest()).await;
        assert_eq!(result, Err(StoreError::Conflict(UniqueField::Email)));
        assert_eq!(store.find_user(twin.id).await.unwrap(), None);
        assert_eq!(store.find_session(second.id).await.unwrap(), None);
        assert_eq!(
            store.rotate_refresh_token(&rotation("twin-token", "t2", at1)).await.unwrap(),
            RotationOutcome::NotFound
        );
    }

    fn one_time(user: &User, kind: OneTimeKind, name: &str, at: DateTime<Utc>) -> OneTimeToken {
        OneTimeToken {
            user_id: user.id,
            kind,
            link_digest: TokenDigest::of(format!("link-{name}").as_bytes()),
            code_digest: TokenDigest::of(format!("code-{name}").as_bytes()),
            sent_to: user.email.clone().unwrap(),
            relates_to: None,
            created_at: at,
            link_expires_at: at + Duration::hours(1),
            code_expires_at: at + Duration::minutes(10),
            pkce: None,
        }
    }

    fn outgoing(kind: MailKind, mail: Mail) -> OutgoingMail {
        OutgoingMail { kind, mail }
    }

    fn mail(to: &str, n: u32) -> Mail {
        Mail {
            to: Email::parse(to).unwrap(),
            subject: format!("subject {n}"),
            text: format!("code {n}"),
            html: format!("<p>code {n}</p>"),
        }
    }

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

    fn auth_code(user: &User, name: &str, at: DateTime<Utc>) -> AuthCode {
        // RFC 7636's example challenge.
        let challenge =
            CodeChallenge::new(ChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        AuthCode {
            digest: TokenDigest::of(format!("auth-code-{name}").as_bytes()),
            user_id: user.id,
            challenge,
            auth_method: AuthMethod::Magiclink,
            created_at: at,
            expires_at: at + Duration::minutes(5),
        }
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

    /// Claims lease messages oldest first; a rescheduled message comes back when due with its
    /// attempts counted; sent and failed messages never come back.
    pub async fn outbox_leases_reschedules_and_wipes_bodies(store: Arc<impl Store>) {
        for (n, minutes) in [(1u32, 0i64), (2, 1), (3, 10)] {
            store
                .queue_mail(MailKind::ForgotUsername, &mail("kim@example.com", n), t0() + Duration::minutes(minutes))
                .await
                .unwrap();
        }
        let at = |m: i64| t0() + Duration::minutes(m);
        let claimed = store.claim_due_mail(at(2), at(7), 10).await.unwrap();
        assert_eq!(claimed.iter().map(|q| q.mail.subject.as_str()).collect::<Vec<_>>(), ["subject 1", "subject 2"]);
        assert_eq!(claimed[0].mail, mail("kim@example.com", 1));
        assert_eq!((claimed[0].kind, claimed[0].attempts, claimed[0].queued_at), (MailKind::ForgotUsername, 0, at(0)));
        assert!(store.claim_due_mail(at(3), at(8), 10).await.unwrap().is_empty(), "leased");

        store.mark_mail_sent(claimed[0].id, at(3)).await.unwrap();
        store.reschedule_mail(claimed[1].id, at(5), "421 try later").await.unwrap();
        let retried = store.claim_due_mail(at(6), at(9), 10).await.unwrap();
        assert_eq!(retried.iter().map(|q| (q.id, q.attempts)).collect::<Vec<_>>(), [(claimed[1].id, 1)]);
        store.mark_mail_failed(retried[0].id, at(6), "550 no such user").await.unwrap();

        let later = store.claim_due_mail(at(60), at(61), 10).await.unwrap();
        assert_eq!(
            later.iter().map(|q| q.mail.subject.as_str()).collect::<Vec<_>>(),
            ["subject 3"],
            "sent and failed stay out"
        );
        assert_eq!(store.claim_due_mail(at(120), at(121), 1).await.unwrap().len(), 1, "an expired lease is due again");
    }

    /// Workers claiming at the same moment each get different messages.
    pub async fn concurrent_claims_never_share_a_message(store: Arc<impl Store>) {
        for n in 0..20 {
            store.queue_mail(MailKind::ForgotUsername, &mail("many@example.com", n), t0()).await.unwrap();
        }
        let claims = (0..4).map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_due_mail(t0(), t0() + Duration::minutes(5), 8).await })
        });
        let mut ids = Vec::new();
        for claim in claims {
            ids.extend(claim.await.unwrap().unwrap().into_iter().map(|q| q.id));
        }
        let total = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!((ids.len(), total), (20, 20), "every message claimed exactly once");
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
        assert!(matches!(retry, RotationOutcome::Replayed(ref s) if s.id == session.id), "got {retry:?}");
        // The successor is still the one live token.
        rotated(
            store.rotate_refresh_token(&rotation("t1-token", "t2-token", t0() + Duration::seconds(11))).await.unwrap(),
        );
    }

    /// The previous token after the interval is reuse: the family dies.
    pub async fn previous_token_after_reuse_interval_revokes_the_family(store: Arc<impl Store>) {
        let (user, session) = signed_in(&store).await;
        rotated(store.rotate_refresh_token(&rotation("t0-token", "t1-token", t0())).await.unwrap());
        let late = t0() + Duration::seconds(11);
        let reuse = store.rotate_refresh_token(&rotation("t0-token", "t1-token", late)).await.unwrap();
        assert_eq!(reuse, RotationOutcome::ReuseDetected(session.id));
        assert_eq!(store.find_session(session.id).await.unwrap().unwrap().revoked_at, Some(late));
        let live_one = store.rotate_refresh_token(&rotation("t1-token", "t2-token", late)).await.unwrap();
        assert_eq!(live_one, RotationOutcome::NotFound, "the live token must die with its family");
        assert!(store.list_sessions(user.id).await.unwrap().is_empty());
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
        assert_eq!(reuse, RotationOutcome::ReuseDetected(session.id));
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
        store.start_session(&bounded, &token("bounded-0").digest()).await.unwrap();
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
        store.start_session(&idle, &token("idle-0").digest()).await.unwrap();
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
        store.start_session(&second, &token("second-0").digest()).await.unwrap();
        store.start_session(&third, &token("third-0").digest()).await.unwrap();

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

    fn stored_key(kid: &str, purpose: KeyPurpose, minutes: i64) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            purpose,
            algorithm: "ES256".into(),
            material: KeyMaterial::new(format!("{{\"kty\":\"EC\",\"kid\":\"{kid}\",\"d\":\"c2VjcmV0\"}}")),
            created_at: t0(),
            activates_at: t0() + Duration::minutes(minutes),
        }
    }

    /// Keys come back exactly as stored, per purpose, and a kid is never stored twice.
    pub async fn keys_round_trip_and_kids_are_unique(store: Arc<impl Store>) {
        let first = stored_key("k1", KeyPurpose::AccessToken, 0);
        let second = stored_key("k2", KeyPurpose::AccessToken, 10);
        let chain = stored_key("c1", KeyPurpose::RefreshChain, 0);
        store.add_key(&first).await.unwrap();
        store.add_key(&second).await.unwrap();
        store.add_key(&chain).await.unwrap();
        let mut keys = store.list_keys(KeyPurpose::AccessToken).await.unwrap();
        keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        assert_eq!(keys, vec![first.clone(), second]);
        assert_eq!(store.list_keys(KeyPurpose::RefreshChain).await.unwrap(), vec![chain]);
        assert_eq!(store.add_key(&first).await, Err(StoreError::Conflict(UniqueField::Id)));
        assert!(!store.add_first_key(&stored_key("k3", KeyPurpose::AccessToken, 0)).await.unwrap());
    }

    /// Replicas racing to create the first key on an empty database: one key wins.
    pub async fn replicas_starting_together_store_one_first_key(store: Arc<impl Store>) {
        let attempts = (0..8).map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(
                async move { store.add_first_key(&stored_key(&format!("r{n}"), KeyPurpose::AccessToken, 0)).await },
            )
        });
        let results: Vec<bool> = join_all(attempts).await.into_iter().map(|r| r.unwrap().unwrap()).collect();
        assert_eq!(results.iter().filter(|stored| **stored).count(), 1, "{results:?}");
        assert_eq!(store.list_keys(KeyPurpose::AccessToken).await.unwrap().len(), 1);
        assert!(
            store.add_first_key(&stored_key("c", KeyPurpose::RefreshChain, 0)).await.unwrap(),
            "purposes are separate"
        );
    }
}
