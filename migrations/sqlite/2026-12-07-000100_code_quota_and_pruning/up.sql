-- As in migrations/postgres: the daily allowance of mailed secrets, and pruning's indexes.
CREATE TABLE code_quota (
    user_id           BLOB PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    window_started_at TEXT NOT NULL,
    issued            INTEGER NOT NULL
);

CREATE INDEX refresh_tokens_used_at_idx ON refresh_tokens (used_at) WHERE used_at IS NOT NULL;
CREATE INDEX refresh_tokens_revoked_at_idx ON refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_revoked_at_idx ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX mail_outbox_sent_at_idx ON mail_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX mail_outbox_failed_at_idx ON mail_outbox (failed_at) WHERE failed_at IS NOT NULL;
CREATE INDEX one_time_tokens_link_expires_at_idx ON one_time_tokens (link_expires_at);
