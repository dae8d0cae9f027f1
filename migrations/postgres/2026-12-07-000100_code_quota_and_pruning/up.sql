-- Each account's daily allowance of mailed secrets (one row per account, its current window),
-- and indexes for the pruning of spent rows, so a round finds its batch without a scan.
CREATE TABLE auth.code_quota (
    user_id           UUID PRIMARY KEY REFERENCES auth.users (id) ON DELETE CASCADE,
    window_started_at TIMESTAMPTZ NOT NULL,
    issued            INTEGER NOT NULL
);

CREATE INDEX refresh_tokens_used_at_idx ON auth.refresh_tokens (used_at) WHERE used_at IS NOT NULL;
CREATE INDEX refresh_tokens_revoked_at_idx ON auth.refresh_tokens (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX sessions_revoked_at_idx ON auth.sessions (revoked_at) WHERE revoked_at IS NOT NULL;
CREATE INDEX mail_outbox_sent_at_idx ON auth.mail_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX mail_outbox_failed_at_idx ON auth.mail_outbox (failed_at) WHERE failed_at IS NOT NULL;
CREATE INDEX one_time_tokens_link_expires_at_idx ON auth.one_time_tokens (link_expires_at);
