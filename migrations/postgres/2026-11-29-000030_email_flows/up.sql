-- Emailed one-time secrets (digests only; at most one per user and kind) and the outbox of
-- mail waiting for delivery. A secret and its mail are written in the same transaction.
CREATE TABLE auth.one_time_tokens (
    user_id         UUID NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    link_digest     BYTEA NOT NULL,
    code_digest     BYTEA NOT NULL,
    sent_to         TEXT NOT NULL,
    relates_to      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    link_expires_at TIMESTAMPTZ NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    code_expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, kind)
);
CREATE INDEX one_time_tokens_sent_to_idx ON auth.one_time_tokens (sent_to, kind);
CREATE UNIQUE INDEX one_time_tokens_link_digest_key ON auth.one_time_tokens (link_digest);

CREATE TABLE auth.mail_outbox (
    id              BIGSERIAL PRIMARY KEY,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    queued_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due_idx ON auth.mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_recipient_idx ON auth.mail_outbox (recipient, kind, queued_at);
