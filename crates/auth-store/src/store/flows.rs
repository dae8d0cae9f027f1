//! `EmailFlowStore`: one-time tokens, PKCE auth codes and the mails queued with them.

use async_trait::async_trait;
use auth_core::domain::{AuthCode, Email, MailKind, OneTimeKind, OneTimeToken, OutgoingMail, Session, TokenDigest};
use auth_core::domain::{MAX_CODE_ATTEMPTS, User, UserId};
use auth_core::ports::{EmailFlowStore, Mail, Redemption, StoreError};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::Error as DieselError;
use diesel_async::RunQueryDsl;

use super::super::{Conn, Store, db_uuid};
use super::rows::{AuthCodeRow, OneTimeRow, OutboxRow, UserRow};
use super::schema::{auth_codes, mail_outbox, one_time_tokens, users};
use super::sessions::{insert_session, session_rows};
use super::users::overwrite_user;

/// Replaces the user's one-time token of the token's kind and queues its mail, inside the
/// caller's transaction.
async fn put_one_time(c: &mut Conn, token: &OneTimeRow, mail: Option<&OutboxRow>) -> QueryResult<()> {
    diesel::delete(one_time_tokens::table.find((token.user_id, &token.kind))).execute(c).await?;
    diesel::insert_into(one_time_tokens::table).values(token).execute(c).await?;
    if let Some(mail) = mail {
        diesel::insert_into(mail_outbox::table).values(mail).execute(c).await?;
    }
    Ok(())
}

#[async_trait]
impl EmailFlowStore for Store {
    async fn issue_token(&self, token: &OneTimeToken, mail: Option<OutgoingMail>) -> Result<(), StoreError> {
        let row = OneTimeRow::from(token);
        let outbox = mail.map(|m| OutboxRow::new(m.kind, &m.mail, token.created_at));
        self.write("issue_token", async |c| put_one_time(c, &row, outbox.as_ref()).await).await
    }

    async fn create_user_with_token(
        &self,
        user: &User,
        token: &OneTimeToken,
        mail: Option<OutgoingMail>,
    ) -> Result<(), StoreError> {
        let user_row = UserRow::from(user);
        let row = OneTimeRow::from(token);
        let outbox = mail.map(|m| OutboxRow::new(m.kind, &m.mail, token.created_at));
        self.write("create_user_with_token", async |c| {
            diesel::insert_into(users::table).values(&user_row).execute(c).await?;
            put_one_time(c, &row, outbox.as_ref()).await
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

    async fn count_failed_code(&self, user: UserId, kind: OneTimeKind) -> Result<(), StoreError> {
        let key = one_time_tokens::table.find((db_uuid(user.as_uuid()), kind.as_str()));
        let limit = i32::try_from(MAX_CODE_ATTEMPTS).unwrap_or(i32::MAX);
        self.write("count_failed_code", async |c| {
            let failed = one_time_tokens::failed_attempts.eq(one_time_tokens::failed_attempts + 1);
            diesel::update(key).set(failed).execute(c).await?;
            diesel::delete(key.filter(one_time_tokens::failed_attempts.ge(limit))).execute(c).await?;
            Ok(())
        })
        .await
    }

    async fn find_tokens_sent_to(&self, to: &Email, kind: OneTimeKind) -> Result<Vec<OneTimeToken>, StoreError> {
        let sent = one_time_tokens::table.filter(one_time_tokens::sent_to.eq(to.as_str()));
        let query = sent.filter(one_time_tokens::kind.eq(kind.as_str())).select(OneTimeRow::as_select());
        self.load("find_tokens_sent_to", query).await
    }

    async fn redeem_token(&self, token: &OneTimeToken, user: &User, then: Redemption) -> Result<(), StoreError> {
        let user_row = UserRow::from(user);
        let (started, code) = match &then {
            Redemption::Nothing => (None, None),
            Redemption::Session(session, first) => (Some(session_rows(session, first)), None),
            Redemption::AuthCode(code) => (None, Some(AuthCodeRow::from(code))),
        };
        let link = token.link_digest.as_bytes().to_vec();
        let key = one_time_tokens::table.find((db_uuid(token.user_id.as_uuid()), token.kind.as_str()));
        let unused = key.filter(one_time_tokens::link_digest.eq(&link));
        self.write("redeem_token", async |c| {
            if diesel::delete(unused).execute(c).await? == 0 {
                return Err(DieselError::NotFound);
            }
            overwrite_user(c, &user_row).await?;
            if let Some((session_row, first)) = &started {
                insert_session(c, session_row, first).await?;
            }
            if let Some(code) = &code {
                diesel::delete(auth_codes::table.filter(auth_codes::expires_at.lt(code.created_at))).execute(c).await?;
                diesel::insert_into(auth_codes::table).values(code).execute(c).await?;
            }
            Ok(())
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
        user: &User,
        session: &Session,
        first_refresh: &TokenDigest,
    ) -> Result<(), StoreError> {
        let user_row = UserRow::from(user);
        let (session_row, first) = session_rows(session, first_refresh);
        let digest = code.digest.as_bytes().to_vec();
        self.write("redeem_auth_code", async |c| {
            // The delete decides which of two racing exchanges wins.
            if diesel::delete(auth_codes::table.find(&digest)).execute(c).await? == 0 {
                return Err(DieselError::NotFound);
            }
            overwrite_user(c, &user_row).await?;
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
