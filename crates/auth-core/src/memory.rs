//! An in-memory implementation of the storage ports, for tests and for embedding without a
//! database. It keeps the same contract as the Diesel stores (the contract suite proves it) but
//! forgets everything when dropped.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

mod factors;
mod identities;

use crate::domain::{
    AuditAction, AuditEvent, AuthCode, MAX_CODE_ATTEMPTS, MailKind, Metadata, OneTimeKind, OneTimeToken, Outgoing,
    QueuedMail, QueuedSms, UserChange, UserQuery,
};
use crate::domain::{
    Contact, Email, KeyMaterial, KeyPurpose, PasswordHash, Phone, RefreshTokenRecord, Renewal, Rotation,
    RotationOutcome, RotationPlan, Session, SessionId, StoredKey, TokenDigest, User, UserId, Username, plan_rotation,
};
use crate::domain::{Factor, FactorChallenge};
use crate::ports::{
    AuditLog, CodeQuota, EmailFlowStore, KeyStore, Mail, MailOutbox, Redemption, SessionPrune, SessionStore,
    StoreError, UniqueField, UserStore,
};

/// Users, sessions and refresh tokens held in process memory behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

#[derive(Debug, Default, Clone)]
struct State {
    users: HashMap<UserId, User>,
    sessions: HashMap<SessionId, Session>,
    tokens: Vec<RefreshTokenRecord>,
    next_token_id: i64,
    keys: Vec<StoredKey>,
    audit: Vec<AuditEvent>,
    one_time: Vec<OneTimeToken>,
    auth_codes: Vec<AuthCode>,
    failed_codes: HashMap<(UserId, OneTimeKind), u32>,
    /// Each user's quota window: when it started and how many secrets it issued.
    quotas: HashMap<UserId, (DateTime<Utc>, u32)>,
    outbox: Vec<OutboxRow>,
    factors: Vec<Factor>,
    challenges: Vec<FactorChallenge>,
    recovery_codes: Vec<factors::StoredRecoveryCode>,
    identities: Vec<crate::domain::Identity>,
    oauth_flows: Vec<crate::domain::OAuthFlow>,
}

/// A message in the memory outbox: a mail or a text message, sharing ids and delivery state.
#[derive(Debug, Clone)]
struct OutboxRow {
    queued: Queued,
    due_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    failed_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

/// What an outbox row carries.
#[derive(Debug, Clone)]
enum Queued {
    Mail(QueuedMail),
    Sms(QueuedSms),
}

impl Queued {
    fn id(&self) -> i64 {
        match self {
            Self::Mail(mail) => mail.id,
            Self::Sms(sms) => sms.id,
        }
    }

    /// Counts an attempt.
    fn attempted(&mut self) {
        match self {
            Self::Mail(mail) => mail.attempts += 1,
            Self::Sms(sms) => sms.attempts += 1,
        }
    }

    /// Erases the bodies, which hold one-time secrets.
    fn erase(&mut self) {
        match self {
            Self::Mail(mail) => {
                mail.mail.text.clear();
                mail.mail.html.clear();
            }
            Self::Sms(sms) => sms.sms.text.clear(),
        }
    }
}

impl State {
    fn next_outbox_id(&self) -> i64 {
        // Pruning removes messages, so the next id follows the highest, not the count.
        self.outbox.iter().map(|r| r.queued.id()).max().unwrap_or(0) + 1
    }

    fn enqueue(&mut self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) {
        let id = self.next_outbox_id();
        let queued = Queued::Mail(QueuedMail { id, kind, mail: mail.clone(), attempts: 0, queued_at: at });
        self.outbox.push(OutboxRow { queued, due_at: at, sent_at: None, failed_at: None, last_error: None });
    }

    fn enqueue_outgoing(&mut self, outgoing: &Outgoing, at: DateTime<Utc>) {
        match outgoing {
            Outgoing::Mail(mail) => self.enqueue(mail.kind, &mail.mail, at),
            Outgoing::Sms(sms) => {
                let id = self.next_outbox_id();
                let queued = Queued::Sms(QueuedSms { id, sms: sms.clone(), attempts: 0, queued_at: at });
                self.outbox.push(OutboxRow { queued, due_at: at, sent_at: None, failed_at: None, last_error: None });
            }
        }
    }

    fn put_token(&mut self, token: &OneTimeToken) {
        self.failed_codes.remove(&(token.user_id, token.kind));
        self.one_time.retain(|t| !(t.user_id == token.user_id && t.kind == token.kind));
        self.one_time.push(token.clone());
        if let Some(user) = self.users.get_mut(&token.user_id) {
            UserChange::issued(token).apply_to(user);
        }
    }

    /// Appends `event` to the audit log, numbering it.
    fn record(&mut self, event: Option<AuditEvent>) {
        if let Some(mut event) = event {
            event.id = i64::try_from(self.audit.len()).unwrap_or(i64::MAX) + 1;
            self.audit.push(event);
        }
    }

    /// Appends `events` to the audit log.
    fn record_all(&mut self, events: &[AuditEvent]) {
        for event in events {
            self.record(Some(event.clone()));
        }
    }

    fn start_session_unchecked(&mut self, session: &Session, first_token: &TokenDigest) {
        self.next_token_id += 1;
        let record = RefreshTokenRecord {
            id: self.next_token_id,
            session_id: session.id,
            digest: *first_token,
            parent: None,
            created_at: session.created_at,
            used_at: None,
            revoked_at: None,
        };
        self.tokens.push(record);
        self.sessions.insert(session.id, session.clone());
    }

    /// Writes `change` to the user `id` (see `UserStore::change_user`).
    fn change_user(&mut self, id: UserId, change: &UserChange) -> Result<Option<User>, StoreError> {
        let mut user = self.users.get(&id).cloned().ok_or(StoreError::NotFound)?;
        if !change.allowed_on(&user) {
            return Ok(None);
        }
        change.apply_to(&mut user);
        if let Some(field) = self.conflict(&user) {
            return Err(StoreError::Conflict(field));
        }
        self.one_time.retain(|t| !(t.user_id == id && change.voids.contains(&t.kind)));
        self.users.insert(id, user.clone());
        Ok(Some(user))
    }

    /// Counts an issue against `user`'s quota; `false` when it is used up.
    fn take_quota(&mut self, user: UserId, quota: CodeQuota) -> bool {
        let window = self.quotas.entry(user).or_insert((quota.now, 0));
        if window.0 <= quota.since {
            *window = (quota.now, 0);
        }
        if window.1 >= quota.max {
            return false;
        }
        window.1 += 1;
        true
    }

    fn outbox_row(&mut self, id: i64) -> Result<&mut OutboxRow, StoreError> {
        self.outbox.iter_mut().find(|r| r.queued.id() == id).ok_or(StoreError::NotFound)
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `user` as given over the stored one with its id (tests set up states with it;
    /// the use cases write through `UserStore::change_user`, which names its fields).
    pub fn put_user(&self, user: &User) {
        if let Ok(mut state) = self.state() {
            state.users.insert(user.id, user.clone());
        }
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        self.state.lock().map_err(|_| StoreError::Internal("memory store lock poisoned".into()))
    }
}

impl State {
    fn conflict(&self, user: &User) -> Option<UniqueField> {
        let username_key = user.username.as_ref().map(Username::key);
        self.users.values().filter(|other| other.id != user.id).find_map(|other| {
            if user.email.is_some() && other.email == user.email {
                Some(UniqueField::Email)
            } else if user.phone.is_some() && other.phone == user.phone {
                Some(UniqueField::Phone)
            } else if username_key.is_some() && other.username.as_ref().map(Username::key) == username_key {
                Some(UniqueField::Username)
            } else {
                None
            }
        })
    }

    fn revoke_family(&mut self, id: SessionId, at: DateTime<Utc>) -> bool {
        let Some(session) = self.sessions.get_mut(&id) else { return false };
        if session.revoked_at.is_some() {
            return false;
        }
        session.revoked_at = Some(at);
        for token in self.tokens.iter_mut().filter(|t| t.session_id == id && t.revoked_at.is_none()) {
            token.revoked_at = Some(at);
        }
        true
    }
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn replace_password_hash(
        &self,
        id: UserId,
        current: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        match state.users.get_mut(&id) {
            Some(user) if user.password_hash.as_ref() == Some(current) => {
                user.password_hash = Some(new.clone());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn import_users(&self, users: &[User]) -> Result<Vec<Option<UniqueField>>, StoreError> {
        let mut state = self.state()?;
        let mut outcomes = Vec::with_capacity(users.len());
        for user in users {
            let taken = if state.users.contains_key(&user.id) { Some(UniqueField::Id) } else { state.conflict(user) };
            if taken.is_none() {
                state.users.insert(user.id, user.clone());
            }
            outcomes.push(taken);
        }
        Ok(outcomes)
    }

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.users.contains_key(&user.id) {
            return Err(StoreError::Conflict(UniqueField::Id));
        }
        if let Some(field) = state.conflict(user) {
            return Err(StoreError::Conflict(field));
        }
        state.users.insert(user.id, user.clone());
        Ok(())
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.get(&id).cloned())
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.values().find(|u| u.email.as_ref() == Some(email)).cloned())
    }

    async fn find_user_by_phone(&self, phone: &Phone) -> Result<Option<User>, StoreError> {
        Ok(self.state()?.users.values().find(|u| u.phone.as_ref() == Some(phone)).cloned())
    }

    async fn find_user_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let key = username.key();
        Ok(self
            .state()?
            .users
            .values()
            .find(|u| u.username.as_ref().map(Username::key).as_ref() == Some(&key))
            .cloned())
    }

    async fn change_user(&self, id: UserId, change: &UserChange) -> Result<Option<User>, StoreError> {
        self.state()?.change_user(id, change)
    }

    async fn delete_user(&self, id: UserId) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        if state.users.remove(&id).is_none() {
            return Ok(false);
        }
        let doomed: Vec<SessionId> = state.sessions.values().filter(|s| s.user_id == id).map(|s| s.id).collect();
        for session in &doomed {
            state.sessions.remove(session);
        }
        state.tokens.retain(|t| !doomed.contains(&t.session_id));
        state.one_time.retain(|t| t.user_id != id);
        state.auth_codes.retain(|c| c.user_id != id);
        state.delete_factors_where(|f| f.user_id == id);
        state.identities.retain(|i| i.user_id != id);
        Ok(true)
    }

    async fn soft_delete_user(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(user) = state.users.get_mut(&id).filter(|u| u.deleted_at.is_none()) else { return Ok(false) };
        user.email = None;
        user.phone = None;
        user.username = None;
        user.password_hash = None;
        user.mail.email_change = None;
        user.app_metadata = Metadata::new();
        user.user_metadata = Metadata::new();
        user.deleted_at = Some(at);
        let sessions: Vec<SessionId> = state.sessions.values().filter(|s| s.user_id == id).map(|s| s.id).collect();
        state.sessions.retain(|_, s| s.user_id != id);
        state.tokens.retain(|t| !sessions.contains(&t.session_id));
        state.one_time.retain(|t| t.user_id != id);
        state.auth_codes.retain(|c| c.user_id != id);
        state.identities.retain(|i| i.user_id != id);
        Ok(true)
    }

    async fn list_users(&self, query: &UserQuery) -> Result<Vec<User>, StoreError> {
        let state = self.state()?;
        let mut users: Vec<&User> = state.users.values().filter(|u| matches(query, u)).collect();
        users.sort_by_key(|u| (u.created_at, u.id));
        if query.newest_first {
            users.reverse();
        }
        let offset = usize::try_from(query.offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(query.limit).unwrap_or(usize::MAX);
        Ok(users.into_iter().skip(offset).take(limit).cloned().collect())
    }

    async fn count_users(&self, query: &UserQuery) -> Result<u64, StoreError> {
        Ok(self.state()?.users.values().filter(|u| matches(query, u)).count() as u64)
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn start_session(
        &self,
        session: &Session,
        first_token: &TokenDigest,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let Some(user) = state.users.get_mut(&session.user_id) else {
            return Err(StoreError::NotFound);
        };
        user.last_sign_in_at = Some(session.created_at);
        state.start_session_unchecked(session, first_token);
        state.record_all(events);
        Ok(())
    }

    async fn create_user_with_session(
        &self,
        user: &User,
        session: &Session,
        first_token: &TokenDigest,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.users.contains_key(&user.id) {
            return Err(StoreError::Conflict(UniqueField::Id));
        }
        if let Some(field) = state.conflict(user) {
            return Err(StoreError::Conflict(field));
        }
        state.users.insert(user.id, user.clone());
        state.start_session_unchecked(session, first_token);
        state.record_all(events);
        Ok(())
    }

    async fn find_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(self.state()?.sessions.get(&id).cloned())
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<Session>, StoreError> {
        let state = self.state()?;
        let mut sessions: Vec<Session> =
            state.sessions.values().filter(|s| s.user_id == user && s.revoked_at.is_none()).cloned().collect();
        sessions.sort_by_key(|s| (s.created_at, s.id));
        Ok(sessions)
    }

    async fn rotate_refresh_token(&self, rotation: &Rotation) -> Result<RotationOutcome, StoreError> {
        let mut state = self.state()?;
        let Some(presented) = state.tokens.iter().find(|t| t.digest == rotation.presented).cloned() else {
            return Ok(RotationOutcome::NotFound);
        };
        let Some(session) = state.sessions.get(&presented.session_id).cloned() else {
            return Ok(RotationOutcome::NotFound);
        };
        let live = state.tokens.iter().find(|t| t.session_id == session.id && t.used_at.is_none()).cloned();
        // Sessions go with their user, so a session's user is always there.
        let user = state.users.get(&session.user_id).cloned().ok_or(StoreError::NotFound)?;
        match plan_rotation(&presented, &session, live.as_ref(), rotation) {
            RotationPlan::Rotate => {
                state.next_token_id += 1;
                let id = state.next_token_id;
                for token in state.tokens.iter_mut().filter(|t| t.id == presented.id) {
                    token.used_at = Some(rotation.now);
                }
                state.tokens.push(RefreshTokenRecord {
                    id,
                    session_id: session.id,
                    digest: rotation.successor,
                    parent: Some(presented.id),
                    created_at: rotation.now,
                    used_at: None,
                    revoked_at: None,
                });
                let stored = state.sessions.get_mut(&session.id).ok_or(StoreError::NotFound)?;
                stored.refreshed_at = Some(rotation.now);
                let rotated = stored.clone();
                state.record(rotation.event(AuditAction::TokenRefreshed, &rotated));
                Ok(RotationOutcome::Rotated(Box::new(Renewal { session: rotated, user })))
            }
            RotationPlan::Replay => Ok(RotationOutcome::Replayed(Box::new(Renewal { session, user }))),
            RotationPlan::RevokeFamily => {
                state.revoke_family(session.id, rotation.now);
                state.record(rotation.event(AuditAction::TokenReuseDetected, &session));
                Ok(RotationOutcome::ReuseDetected(session))
            }
            RotationPlan::Expired(reason) => Ok(RotationOutcome::Expired(session.id, reason)),
            RotationPlan::Dead => Ok(RotationOutcome::NotFound),
        }
    }

    async fn prune_sessions(&self, prune: &SessionPrune, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let ended: Vec<SessionId> =
            state.sessions.values().filter(|s| prune.covers(s)).take(limit as usize).map(|s| s.id).collect();
        state.sessions.retain(|id, _| !ended.contains(id));
        state.tokens.retain(|t| !ended.contains(&t.session_id));
        let spent = |t: &RefreshTokenRecord| t.used_at.or(t.revoked_at).is_some_and(|at| at < prune.spent_before);
        let tokens: Vec<i64> = state.tokens.iter().filter(|t| spent(t)).take(limit as usize).map(|t| t.id).collect();
        state.tokens.retain(|t| !tokens.contains(&t.id));
        Ok((ended.len() + tokens.len()) as u64)
    }

    async fn revoke_session(&self, id: SessionId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        Ok(self.state()?.revoke_family(id, at))
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let ids: Vec<SessionId> = state
            .sessions
            .values()
            .filter(|s| s.user_id == user && Some(s.id) != keep && s.revoked_at.is_none())
            .map(|s| s.id)
            .collect();
        let mut count = 0;
        for id in ids {
            if state.revoke_family(id, at) {
                count += 1;
            }
        }
        Ok(count)
    }
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn list_keys(&self, purpose: KeyPurpose) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.state()?.keys.iter().filter(|k| k.purpose == purpose).cloned().collect())
    }

    async fn add_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.keys.iter().any(|k| k.kid == key.kid) {
            return Err(StoreError::Conflict(UniqueField::Id));
        }
        state.keys.push(key.clone());
        Ok(())
    }

    async fn add_first_key(&self, key: &StoredKey) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        if state.keys.iter().any(|k| k.purpose == key.purpose) {
            return Ok(false);
        }
        state.keys.push(key.clone());
        Ok(true)
    }

    async fn replace_key_material(
        &self,
        kid: &str,
        current: &KeyMaterial,
        new: &KeyMaterial,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let Some(key) = state.keys.iter_mut().find(|k| k.kid == kid && k.material == *current) else {
            return Ok(false);
        };
        key.material = new.clone();
        Ok(true)
    }

    async fn retire_key(&self, kid: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let key = state.keys.iter_mut().find(|k| k.kid == kid).ok_or(StoreError::NotFound)?;
        key.retired_at.get_or_insert(at);
        Ok(())
    }
}

fn matches(query: &UserQuery, user: &User) -> bool {
    query.filter.is_none()
        || user.email.as_ref().is_some_and(|e| query.matches(e.as_str()))
        || user.username.as_ref().is_some_and(|u| query.matches(u.as_str()))
        || user.user_metadata.get("full_name").and_then(|n| n.as_str()).is_some_and(|n| query.matches(n))
}

#[async_trait]
impl AuditLog for MemoryStore {
    async fn record(&self, event: AuditEvent) {
        // A poisoned lock loses the event; the memory store is for tests and embedding.
        if let Ok(mut state) = self.state() {
            state.record(Some(event));
        }
    }

    async fn list_events(&self, offset: u64, limit: u64) -> Result<Vec<AuditEvent>, StoreError> {
        let state = self.state()?;
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        Ok(state.audit.iter().rev().skip(offset).take(limit).cloned().collect())
    }

    async fn count_events(&self) -> Result<u64, StoreError> {
        Ok(self.state()?.audit.len() as u64)
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let kept = state.audit.len();
        state.audit.retain(|e| e.at >= before);
        Ok((kept - state.audit.len()) as u64)
    }
}

#[async_trait]
impl EmailFlowStore for MemoryStore {
    async fn issue_tokens(
        &self,
        user: UserId,
        secrets: &[(OneTimeToken, Option<Outgoing>)],
        withdraw: &[OneTimeKind],
        quota: Option<CodeQuota>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        if !state.users.contains_key(&user) {
            return Err(StoreError::NotFound);
        }
        // Link digests are unique, as the SQL stores' index makes them: a clash writes nothing.
        let taken = |token: &OneTimeToken| {
            state
                .one_time
                .iter()
                .any(|t| t.link_digest == token.link_digest && (t.user_id, t.kind) != (token.user_id, token.kind))
        };
        if secrets.iter().any(|(token, _)| taken(token)) {
            return Err(StoreError::Internal("a link digest is taken".into()));
        }
        if let Some(quota) = quota
            && !state.take_quota(user, quota)
        {
            return Ok(false);
        }
        state.one_time.retain(|t| !(t.user_id == user && withdraw.contains(&t.kind)));
        for (token, mail) in secrets {
            state.put_token(token);
            if let Some(outgoing) = mail {
                state.enqueue_outgoing(outgoing, token.created_at);
            }
        }
        Ok(true)
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<Outgoing>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        if state.users.contains_key(&user.id) {
            return Err(StoreError::Conflict(UniqueField::Id));
        }
        if let Some(field) = state.conflict(user) {
            return Err(StoreError::Conflict(field));
        }
        state.users.insert(user.id, user.clone());
        state.put_token(token);
        if let Some(outgoing) = &mail {
            state.enqueue_outgoing(outgoing, token.created_at);
        }
        state.record_all(events);
        Ok(())
    }

    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.state()?.enqueue(kind, mail, at);
        Ok(())
    }

    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError> {
        Ok(self.state()?.one_time.iter().find(|t| t.link_digest == *link).cloned())
    }

    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError> {
        Ok(self.state()?.one_time.iter().find(|t| t.user_id == user && t.kind == kind).cloned())
    }

    async fn try_code(
        &self,
        user: UserId,
        guesses: &[(OneTimeKind, TokenDigest)],
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let mut state = self.state()?;
        let mut matched = None;
        for (kind, digest) in guesses {
            let Some(token) = state.one_time.iter().find(|t| t.user_id == user && t.kind == *kind).cloned() else {
                continue;
            };
            let attempts = state.failed_codes.entry((user, *kind)).or_insert(0);
            if *attempts >= MAX_CODE_ATTEMPTS {
                continue;
            }
            *attempts += 1;
            if token.code_digest == *digest {
                matched = matched.or(Some(token));
            } else if *attempts >= MAX_CODE_ATTEMPTS {
                state.one_time.retain(|t| !(t.user_id == user && t.kind == *kind));
            }
        }
        Ok(matched)
    }

    async fn prune_flows(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let limit = limit as usize;
        let spent = |t: &OneTimeToken| t.link_expires_at < before && t.code_expires_at < before;
        let tokens: Vec<TokenDigest> =
            state.one_time.iter().filter(|t| spent(t)).take(limit).map(|t| t.link_digest).collect();
        state.one_time.retain(|t| !tokens.contains(&t.link_digest));
        let codes: Vec<TokenDigest> =
            state.auth_codes.iter().filter(|c| c.expires_at < before).take(limit).map(|c| c.digest).collect();
        state.auth_codes.retain(|c| !codes.contains(&c.digest));
        Ok((tokens.len() + codes.len()) as u64)
    }

    async fn find_tokens_sent_to(&self, to: &Contact, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        Ok(self.state()?.one_time.iter().filter(|t| t.sent_to == *to && t.kind == kind).cloned().collect())
    }

    async fn redeem_token(
        &self,
        token: &OneTimeToken,
        change: &UserChange,
        then: Redemption,
        unless_pending: Option<OneTimeKind>,
    ) -> Result<bool, StoreError> {
        let mut state = self.state()?;
        let position = state
            .one_time
            .iter()
            .position(|t| t.user_id == token.user_id && t.kind == token.kind && t.link_digest == token.link_digest)
            .ok_or(StoreError::NotFound)?;
        let pending = |kind| state.one_time.iter().any(|t| t.user_id == token.user_id && t.kind == kind);
        if unless_pending.is_some_and(pending) {
            state.one_time.remove(position);
            return Ok(false);
        }
        if change.writes_nothing() && change.voids.is_empty() {
            if !state.users.contains_key(&token.user_id) {
                return Err(StoreError::NotFound);
            }
        } else {
            state.change_user(token.user_id, change)?.ok_or(StoreError::NotFound)?;
        }
        // After the change: a voided kind may have moved the token's place.
        state.one_time.retain(|t| !(t.user_id == token.user_id && t.kind == token.kind));
        match then {
            Redemption::Nothing => {}
            Redemption::Session(session, first) => state.start_session_unchecked(&session, &first),
            Redemption::AuthCode(code) => {
                state.auth_codes.retain(|c| c.expires_at >= code.created_at);
                state.auth_codes.push(code);
            }
        }
        Ok(true)
    }

    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError> {
        Ok(self.state()?.auth_codes.iter().find(|c| c.digest == *digest).cloned())
    }

    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        change: &UserChange,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let position = state.auth_codes.iter().position(|c| c.digest == code.digest).ok_or(StoreError::NotFound)?;
        state.change_user(code.user_id, change)?.ok_or(StoreError::NotFound)?;
        state.auth_codes.remove(position);
        state.start_session_unchecked(session, first_refresh);
        Ok(())
    }

    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        let state = self.state()?;
        let queued = state.outbox.iter().filter_map(|r| match &r.queued {
            Queued::Mail(mail) if mail.kind == kind && mail.mail.to == *to => Some(mail.queued_at),
            _ => None,
        });
        Ok(queued.max())
    }
}

#[async_trait]
impl MailOutbox for MemoryStore {
    async fn claim_due_mail(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, StoreError> {
        let mut state = self.state()?;
        let mut claimed = Vec::new();
        for row in state.outbox.iter_mut() {
            if claimed.len() >= limit as usize {
                break;
            }
            if let Queued::Mail(mail) = &row.queued
                && row.sent_at.is_none()
                && row.failed_at.is_none()
                && row.due_at <= now
            {
                row.due_at = lease_until;
                claimed.push(mail.clone());
            }
        }
        Ok(claimed)
    }

    async fn claim_due_sms(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<QueuedSms>, StoreError> {
        let mut state = self.state()?;
        let mut claimed = Vec::new();
        for row in state.outbox.iter_mut() {
            if claimed.len() >= limit as usize {
                break;
            }
            if let Queued::Sms(sms) = &row.queued
                && row.sent_at.is_none()
                && row.failed_at.is_none()
                && row.due_at <= now
            {
                row.due_at = lease_until;
                claimed.push(sms.clone());
            }
        }
        Ok(claimed)
    }

    async fn mark_mail_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let row = state.outbox_row(id)?;
        row.sent_at = Some(at);
        row.queued.attempted();
        row.last_error = None;
        row.queued.erase();
        Ok(())
    }

    async fn reschedule_mail(&self, id: i64, next_attempt: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let row = state.outbox_row(id)?;
        row.queued.attempted();
        row.due_at = next_attempt;
        row.last_error = Some(error.to_owned());
        Ok(())
    }

    async fn mark_mail_failed(&self, id: i64, at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        let mut state = self.state()?;
        let row = state.outbox_row(id)?;
        row.queued.attempted();
        row.failed_at = Some(at);
        row.last_error = Some(error.to_owned());
        row.queued.erase();
        Ok(())
    }

    async fn prune_mail(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let mut state = self.state()?;
        let done = |r: &OutboxRow| r.sent_at.or(r.failed_at).is_some_and(|at| at < before);
        let doomed: Vec<i64> =
            state.outbox.iter().filter(|r| done(r)).take(limit as usize).map(|r| r.queued.id()).collect();
        state.outbox.retain(|r| !doomed.contains(&r.queued.id()));
        Ok(doomed.len() as u64)
    }
}

#[async_trait]
impl crate::ports::Readiness for MemoryStore {
    /// Ready while its lock is usable: there is no schema to migrate.
    async fn check_ready(&self) -> Result<(), crate::ports::NotReady> {
        self.state().map(drop).map_err(|e| crate::ports::NotReady::Unreachable(e.to_string()))
    }
}
