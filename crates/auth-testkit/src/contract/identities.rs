//! The contract of IdentityStore: single-use flow states, identities unique per provider and
//! subject, the one-transaction sign-in (new user, link, known identity) and unlinking.

use auth_core::domain::{FlowId, Identity, IdentityId, OAuthFlow, ProviderName};
use auth_core::ports::{IdentitySignIn, Landing};

use super::fixtures::*;

fn provider(name: &str) -> ProviderName {
    ProviderName::parse(name).unwrap()
}

fn flow(n: u128, at: DateTime<Utc>, challenge: bool) -> OAuthFlow {
    OAuthFlow {
        id: FlowId::from_uuid(Uuid::from_u128(4_000_000 + n)),
        browser: TokenDigest::of(format!("browser-{n}").as_bytes()),
        provider: provider("github"),
        redirect_to: "https://app.example.com/welcome".into(),
        challenge: challenge
            .then(|| CodeChallenge::new(ChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap()),
        linking_target: None,
        created_at: at,
        expires_at: at + Duration::minutes(5),
    }
}

fn identity(n: u128, user: &User, provider_name: &str, subject: &str, email: Option<&str>) -> Identity {
    let data = json!({"sub": subject, "email": email, "email_verified": true});
    Identity {
        id: IdentityId::from_uuid(Uuid::from_u128(5_000_000 + n)),
        user_id: user.id,
        provider: provider(provider_name),
        provider_id: subject.into(),
        email: email.map(str::to_lowercase),
        identity_data: data,
        last_sign_in_at: Some(t0()),
        created_at: t0() + Duration::seconds(n as i64),
        updated_at: t0() + Duration::seconds(n as i64),
    }
}

fn sign_in(new_user: Option<User>, identity: Identity, is_new: bool, landing: Option<Landing>) -> IdentitySignIn {
    IdentitySignIn { new_user, identity, identity_is_new: is_new, change: signed_in_at(t0()), landing, events: vec![] }
}

contract_cases! { $ identity_contract_cases, identities;
    /// A flow state is answered once, whoever asks concurrently, with what was stored.
    pub async fn oauth_flows_are_taken_once(store: Arc<impl Store>) {
        let pkce = flow(1, t0(), true);
        store.create_oauth_flow(&pkce).await.unwrap();
        assert_eq!(store.create_oauth_flow(&pkce).await, Err(StoreError::Conflict(UniqueField::Id)));
        let takes = join_all((0..4).map(|_| store.take_oauth_flow(pkce.id))).await;
        let taken: Vec<_> = takes.into_iter().filter_map(Result::unwrap).collect();
        assert_eq!(taken, vec![pkce.clone()]);
        assert_eq!(store.take_oauth_flow(pkce.id).await.unwrap(), None);
        let implicit = flow(2, t0(), false);
        store.create_oauth_flow(&implicit).await.unwrap();
        assert_eq!(store.take_oauth_flow(implicit.id).await.unwrap(), Some(implicit));
    }

    /// Pruning deletes expired flow states only, at most `limit` of them.
    pub async fn expired_oauth_flows_are_pruned(store: Arc<impl Store>) {
        for n in 0..3 {
            store.create_oauth_flow(&flow(n, t0(), false)).await.unwrap();
        }
        let live = flow(9, t0() + Duration::hours(1), false);
        store.create_oauth_flow(&live).await.unwrap();
        let cutoff = t0() + Duration::minutes(30);
        assert_eq!(store.prune_oauth_flows(cutoff, 2).await.unwrap(), 2);
        assert_eq!(store.prune_oauth_flows(cutoff, 10).await.unwrap(), 1);
        assert_eq!(store.take_oauth_flow(live.id).await.unwrap(), Some(live));
    }

    /// A first sign-in creates the user, its identity and its session in one step; the
    /// identity is found by provider and subject, and by email.
    pub async fn a_first_sign_in_creates_user_identity_and_session(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        let github = identity(1, &alice, "github", "1234", Some("Alice@Example.com"));
        let session = session(1, &alice, t0());
        let landing = Landing::Session(session.clone(), token("first").digest());
        let mut first = sign_in(Some(alice.clone()), github.clone(), true, Some(landing));
        first.events = vec![event_by(&alice, AuditAction::Login)];
        store.record_identity_sign_in(&first).await.unwrap();
        assert_eq!(store.find_user(alice.id).await.unwrap().unwrap().last_sign_in_at, Some(t0()));
        assert_eq!(store.find_session(session.id).await.unwrap(), Some(session));
        assert_eq!(store.find_identity(&provider("github"), "1234").await.unwrap(), Some(github.clone()));
        assert_eq!(store.find_identity(&provider("gitlab"), "1234").await.unwrap(), None);
        assert_eq!(store.find_identities_by_email("ALICE@example.com").await.unwrap(), vec![github.clone()]);
        assert_eq!(store.list_identities(alice.id).await.unwrap(), vec![github]);
        assert_eq!(audited(&store).await, vec![AuditAction::Login]);
    }

    /// A provider's subject belongs to one user: a second identity with it is refused and
    /// nothing of that sign-in (not its new user) is written.
    pub async fn a_subject_is_linked_once(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        store.record_identity_sign_in(&sign_in(Some(alice.clone()), identity(1, &alice, "github", "1", None), true, None)).await.unwrap();
        let bob = user(2, Some("bob@example.com"), None);
        let stolen = sign_in(Some(bob.clone()), identity(2, &bob, "github", "1", None), true, None);
        assert_eq!(store.record_identity_sign_in(&stolen).await, Err(StoreError::Conflict(UniqueField::Identity)));
        assert_eq!(store.find_user(bob.id).await.unwrap(), None);
        // The same subject at another provider is another identity.
        store.record_identity_sign_in(&sign_in(Some(bob.clone()), identity(3, &bob, "gitlab", "1", None), true, None)).await.unwrap();
    }

    /// A known identity's data, email and sign-in time are replaced; an auth code can be the
    /// landing, and is found by its digest.
    pub async fn a_known_identity_is_updated_and_can_land_on_a_code(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        let github = identity(1, &alice, "github", "1", Some("alice@example.com"));
        store.record_identity_sign_in(&sign_in(Some(alice.clone()), github.clone(), true, None)).await.unwrap();
        let mut again = github.clone();
        again.identity_data = json!({"sub": "1", "email": "new@example.com", "name": "Alice"});
        again.email = Some("new@example.com".into());
        again.last_sign_in_at = Some(t0() + Duration::hours(1));
        again.updated_at = t0() + Duration::hours(1);
        let challenge = CodeChallenge::new(ChallengeMethod::S256, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM").unwrap();
        let code = AuthCode {
            digest: TokenDigest::of(b"code"),
            user_id: alice.id,
            challenge,
            auth_method: AuthMethod::Oauth,
            created_at: t0(),
            expires_at: t0() + Duration::minutes(5),
        };
        store.record_identity_sign_in(&sign_in(None, again.clone(), false, Some(Landing::Code(code.clone())))).await.unwrap();
        assert_eq!(store.list_identities(alice.id).await.unwrap(), vec![again]);
        assert_eq!(store.find_auth_code(&code.digest).await.unwrap(), Some(code));
        assert!(store.find_identities_by_email("alice@example.com").await.unwrap().is_empty());
    }

    /// A sign-in for a user deleted meanwhile, or through an identity no longer stored, writes
    /// nothing.
    pub async fn a_sign_in_without_its_user_or_identity_is_not_found(store: Arc<impl Store>) {
        let ghost = user(7, Some("ghost@example.com"), None);
        let orphan = sign_in(None, identity(1, &ghost, "github", "7", None), true, None);
        assert_eq!(store.record_identity_sign_in(&orphan).await, Err(StoreError::NotFound));
        let alice = user(1, Some("alice@example.com"), None);
        store.create_user(&alice).await.unwrap();
        let unknown = sign_in(None, identity(2, &alice, "github", "8", None), false, None);
        assert_eq!(store.record_identity_sign_in(&unknown).await, Err(StoreError::NotFound));
        assert_eq!(store.find_user(alice.id).await.unwrap().unwrap().last_sign_in_at, None);
    }

    /// Unlinking deletes the caller's identity only and writes its change; deleting the user
    /// deletes its identities.
    pub async fn identities_are_unlinked_and_go_with_their_user(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        let github = identity(1, &alice, "github", "1", None);
        let gitlab = identity(2, &alice, "gitlab", "1", None);
        store.record_identity_sign_in(&sign_in(Some(alice.clone()), github.clone(), true, None)).await.unwrap();
        store.record_identity_sign_in(&sign_in(None, gitlab.clone(), true, None)).await.unwrap();
        let bob = user(2, Some("bob@example.com"), None);
        store.create_user(&bob).await.unwrap();
        let change = UserChange { updated_at: Some(t0() + Duration::hours(2)), ..UserChange::default() };
        assert!(!store.unlink_identity(bob.id, github.id, &change, &[]).await.unwrap());
        let events = [event_by(&alice, AuditAction::UserUpdated)];
        assert!(store.unlink_identity(alice.id, github.id, &change, &events).await.unwrap());
        assert!(!store.unlink_identity(alice.id, github.id, &change, &[]).await.unwrap());
        assert_eq!(store.list_identities(alice.id).await.unwrap(), vec![gitlab]);
        assert_eq!(store.find_user(alice.id).await.unwrap().unwrap().updated_at, t0() + Duration::hours(2));
        assert_eq!(audited(&store).await, vec![AuditAction::UserUpdated]);
        assert!(store.delete_user(alice.id).await.unwrap());
        assert!(store.list_identities(alice.id).await.unwrap().is_empty());
        assert_eq!(store.find_identity(&provider("gitlab"), "1").await.unwrap(), None);
    }

    /// A soft-deleted user's identities are deleted, so the provider's subject can sign up again.
    pub async fn soft_deletion_frees_identities(store: Arc<impl Store>) {
        let alice = user(1, Some("alice@example.com"), None);
        store.record_identity_sign_in(&sign_in(Some(alice.clone()), identity(1, &alice, "github", "1", None), true, None)).await.unwrap();
        assert!(store.soft_delete_user(alice.id, t0()).await.unwrap());
        assert_eq!(store.find_identity(&provider("github"), "1").await.unwrap(), None);
    }
}
