DROP INDEX one_time_tokens_link_expires_at_idx;
DROP INDEX mail_outbox_failed_at_idx;
DROP INDEX mail_outbox_sent_at_idx;
DROP INDEX sessions_revoked_at_idx;
DROP INDEX refresh_tokens_revoked_at_idx;
DROP INDEX refresh_tokens_used_at_idx;
DROP TABLE code_quota;
