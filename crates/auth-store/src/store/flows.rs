//! `EmailFlowStore`: one-time tokens, PKCE auth codes and the mails queued with them.

use async_trait::async_trait;
use auth_core::domain::{AuditEvent, MAX_CODE_ATTEMPTS, User, UserChange, UserId};
use auth_core::domain::{
    AuthCode, Contact, Email, MailKind, OneTimeKind, OneTimeToken, Outgoing, Session, TokenDigest,
};
use auth_core::ports::{CodeQuota, EmailFlowStore, Mail, Redemption, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::RunQueryDsl;

use super::super::{Conn, DbUuid, Store, db_uuid};
use super::rows::{AuthCodeRow, OneTimeRow, OutboxRow, UserChangeRow, UserRow};
use super::schema::{auth_codes, code_quota, mail_outbox, one_time_tokens, users};
use super::sessions::{insert_session, session_rows};
use super::users::{lock_user, write_change};

/// Replaces the user's one-time token of the token's kind, records on the user that it was
/// sent (`stamp`: [`UserChange::issued`]) and queues its mail, inside the caller's transaction.
async fn put_one_time(
    c: &mut Conn,
    token: &OneTimeRow,
    stamp: &UserChangeRow,
    mail: Option<&OutboxRow>,
) -> QueryResult<()> {
    diesel::delete(one_time_tokens::table.find((token.user_id, &token.kind))).execute(c).await?;
    diesel::insert_into(one_time_tokens::table).values(token).execute(c).await?;
    diesel::update(users::table.find(token.user_id)).set(stamp).execute(c).await?;
    if let Some(mail) = mail {
        diesel::insert_into(mail_outbox::table).values(mail).execute(c).await?;
    }
    Ok(())
}

/// Counts one issue against user `id`'s quota, inside the caller's transaction (which holds
/// the user's lock); `false` when the window's allowance is spent.
async fn take_quota(c: &mut Conn, id: DbUuid, quota: CodeQuota) -> QueryResult<bool> {
    let row = code_quota::table.find(id);
    let window: Option<(DateTime<Utc>, i32)> =
        row.select((code_quota::window_started_at, code_quota::issued)).first(c).await.optional()?;
    match window {
        Some((started, issued)) if started > quota.since => {
            if i64::from(issued) >= i64::from(quota.max) {
                return Ok(false);
            }
            diesel::update(row).set(code_quota::issued.eq(code_quota::issued + 1)).execute(c).await?;
        }
        _ => {
            // No window yet, or the last one is over: this issue starts one.
            diesel::delete(row).execute(c).await?;
            let started = (code_quota::user_id.eq(id), code_quota::window_started_at.eq(quota.now));
            diesel::insert_into(code_quota::table).values((started, code_quota::issued.eq(1))).execute(c).await?;
        }
    }
    Ok(true)
}

#[async_trait]
impl EmailFlowStore for Store {
    async fn issue_tokens(
        &self,
        user: UserId,
        secrets: &[(OneTimeToken, Option<Outgoing>)],
        withdraw: &[OneTimeKind],
        quota: Option<CodeQuota>,
    ) -> Result<bool, StoreError> {
        let id = db_uuid(user.as_uuid());
        let rows: Vec<(OneTimeRow, UserChangeRow, Option<OutboxRow>)> = secrets
            .iter()
            .map(|(token, mail)| {
                let stamp = UserChangeRow::from(&UserChange::issued(token));
                (OneTimeRow::from(token), stamp, mail.as_ref().map(|m| OutboxRow::outgoing(m, token.created_at)))
            })
            .collect();
        let withdrawn: Vec<&str> = withdraw.iter().map(|k| k.as_str()).collect();
        let withdrawn = one_time_tokens::table
            .filter(one_time_tokens::user_id.eq(id))
            .filter(one_time_tokens::kind.eq_any(withdrawn));
        self.write("issue_tokens", async |c| {
            // The user's lock: it must exist, and concurrent issues count against the quota one by one.
            lock_user(c, id).await?;
            if let Some(quota) = quota
                && !take_quota(c, id, quota).await?
            {
                return Ok(false);
            }
            diesel::delete(withdrawn).execute(c).await?;
            for (token, stamp, mail) in &rows {
                put_one_time(c, token, stamp, mail.as_ref()).await?;
            }
            Ok(true)
        })
        .await
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<Outgoing>,
        events: &[AuditEvent],
    ) -> Result<(), StoreError> {
        let user_row = UserRow::from(user);
        let row = OneTimeRow::from(token);
        let stamp = UserChangeRow::from(&UserChange::issued(token));
        let outbox = mail.map(|m| OutboxRow::outgoing(&m, token.created_at));
        self.write("create_user_with_token", async |c| {
            diesel::insert_into(users::table).values(&user_row).execute(c).await?;
            put_one_time(c, &row, &stamp, outbox.as_ref()).await?;
            super::audit::insert_events(c, events).await
        })
        .await
    }

    async fn queue_mail(&self, kind: MailKind, mail: &Mail, at: DateTime<Utc>) -> Result<(), StoreError> {
        let outbox = OutboxRow::new(kind, mail, at);
        self.execute("queue_mail", diesel::insert_into(mail_outbox::table).values(&outbox)).await.map(drop)
    }

    async fn find_token_by_link(&self, link: &TokenDigest) -> Result<Option<OneTimeToken>, StoreError> {
        let by_link = one_time_tokens::table.filter(one_time_tokens::link_digest.eq(link.as_bytes().to_vec()));
        self.find("find_token_by_link", by_link.select(OneTimeRow::as_select())).await
    }

    async fn find_token(&self, user: UserId, kind: OneTimeKind) -> Result<Option<OneTimeToken>, StoreError> {
        let key = one_time_tokens::table.find((db_uuid(user.as_uuid()), kind.as_str()));
        self.find("find_token", key.select(OneTimeRow::as_select())).await
    }

    async fn try_code(
        &self,
        user: UserId,
        guesses: &[(OneTimeKind, TokenDigest)],
    ) -> Result<Option<OneTimeToken>, StoreError> {
        let id = db_uuid(user.as_uuid());
        let limit = i32::try_from(MAX_CODE_ATTEMPTS).unwrap_or(i32::MAX);
        let found = self
            .write("try_code", async |c| {
                let mut matched = None;
                for (kind, digest) in guesses {
                    let key = one_time_tokens::table.find((id, kind.as_str()));
                    // The attempt is taken first, under the row's lock: a token out of attempts
                    // is never compared, however many guesses arrive at once.
                    let attempt = one_time_tokens::failed_attempts.eq(one_time_tokens::failed_attempts + 1);
                    let left = key.filter(one_time_tokens::failed_attempts.lt(limit));
                    if diesel::update(left).set(attempt).execute(c).await? == 0 {
                        continue;
                    }
                    let (row, attempts): (OneTimeRow, i32) =
                        key.select((OneTimeRow::as_select(), one_time_tokens::failed_attempts)).first(c).await?;
                    if row.code_digest == digest.as_bytes() {
                        matched = matched.or(Some(row));
                    } else if attempts >= limit {
                        diesel::delete(key).execute(c).await?;
                    }
                }
                Ok(matched)
            })
            .await?;
        found.map(OneTimeToken::try_from).transpose()
    }

    async fn prune_flows(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError> {
        let expired = one_time_tokens::link_expires_at.lt(before).and(one_time_tokens::code_expires_at.lt(before));
        let tokens =
            one_time_tokens::table.filter(expired).select(one_time_tokens::link_digest).limit(i64::from(limit));
        let codes = auth_codes::table.filter(auth_codes::expires_at.lt(before)).select(auth_codes::code_digest);
        // Replicas pruning at once pass over each other's rows.
        let (tokens, codes) = (for_update_skip_locked!(tokens), for_update_skip_locked!(codes.limit(i64::from(limit))));
        self.write("prune_flows", async |c| {
            let spent: Vec<Vec<u8>> = tokens.load(c).await?;
            let gone = diesel::delete(one_time_tokens::table.filter(one_time_tokens::link_digest.eq_any(&spent)));
            let mut pruned = gone.execute(c).await?;
            let expired: Vec<Vec<u8>> = codes.load(c).await?;
            pruned +=
                diesel::delete(auth_codes::table.filter(auth_codes::code_digest.eq_any(&expired))).execute(c).await?;
            Ok(pruned as u64)
        })
        .await
    }

    async fn find_tokens_sent_to(&self, to: &Contact, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        let sent = one_time_tokens::table.filter(one_time_tokens::sent_to.eq(to.as_str()));
        let query = sent.filter(one_time_tokens::kind.eq(kind.as_str())).select(OneTimeRow::as_select());
        self.load("find_tokens_sent_to", query).await
    }

    async fn redeem_token(
        &self,
        token: &OneTimeToken,
        change: &UserChange,
        then: Redemption,
        unless_pending: Option<OneTimeKind>,
    ) -> Result<bool, StoreError> {
        let (started, code) = match &then {
            Redemption::Nothing => (None, None),
            Redemption::Session(session, first) => (Some(session_rows(session, first)), None),
            Redemption::AuthCode(code) => (None, Some(AuthCodeRow::from(code))),
        };
        let id = db_uuid(token.user_id.as_uuid());
        let link = token.link_digest.as_bytes().to_vec();
        let unused =
            one_time_tokens::table.find((id, token.kind.as_str())).filter(one_time_tokens::link_digest.eq(&link));
        let pending = unless_pending.map(|kind| one_time_tokens::table.find((id, kind.as_str())).count());
        self.write("redeem_token", async |c| {
            // Taken before anything is read: of two halves of an email change used at once, the
            // second waits here and then finds the first gone.
            let password = lock_user(c, id).await?;
            if diesel::delete(unused).execute(c).await? == 0 {
                return Err(DieselError::NotFound);
            }
            if let Some(pending) = pending
                && pending.get_result::<i64>(c).await? > 0
            {
                return Ok(false);
            }
            if !write_change(c, id, password.as_deref(), change).await? {
                return Err(DieselError::NotFound);
            }
            if let Some((session_row, first)) = &started {
                insert_session(c, session_row, first).await?;
            }
            if let Some(code) = &code {
                diesel::delete(auth_codes::table.filter(auth_codes::expires_at.lt(code.created_at))).execute(c).await?;
                diesel::insert_into(auth_codes::table).values(code).execute(c).await?;
            }
            Ok(true)
        })
        .await
    }

    async fn find_auth_code(&self, digest: &TokenDigest) -> Result<Option<AuthCode>, StoreError> {
        self.find("find_auth_code", auth_codes::table.find(digest.as_bytes().to_vec()).select(AuthCodeRow::as_select()))
            .await
    }

    async fn redeem_auth_code(
        &self,
        code: &AuthCode,
        change: &UserChange,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError> {
        let id = db_uuid(code.user_id.as_uuid());
        let (session_row, first) = session_rows(session, first_refresh);
        let digest = code.digest.as_bytes().to_vec();
        self.write("redeem_auth_code", async |c| {
            let password = lock_user(c, id).await?;
            // The delete decides which of two racing exchanges wins.
            if diesel::delete(auth_codes::table.find(&digest)).execute(c).await? == 0 {
                return Err(DieselError::NotFound);
            }
            if !write_change(c, id, password.as_deref(), change).await? {
                return Err(DieselError::NotFound);
            }
            insert_session(c, &session_row, &first).await
        })
        .await
    }

    async fn last_mail_to(&self, to: &Email, kind: MailKind) -> Result<Option<DateTime<Utc>>, StoreError> {
        let sent = mail_outbox::table.filter(mail_outbox::recipient.eq(to.as_str()));
        let latest = sent.filter(mail_outbox::kind.eq(kind.as_str())).order(mail_outbox::queued_at.desc());
        let latest = latest.select(mail_outbox::queued_at);
        self.call("last_mail_to", async |c| latest.first(c).await.optional()).await
    }
}
