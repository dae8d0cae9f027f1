DROP INDEX auth.one_time_tokens_link_expires_at_idx;
DROP INDEX auth.mail_outbox_failed_at_idx;
DROP INDEX auth.mail_outbox_sent_at_idx;
DROP INDEX auth.sessions_revoked_at_idx;
DROP INDEX auth.refresh_tokens_revoked_at_idx;
DROP INDEX auth.refresh_tokens_used_at_idx;
DROP TABLE auth.code_quota;
