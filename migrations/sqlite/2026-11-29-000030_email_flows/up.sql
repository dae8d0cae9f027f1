-- The email flow tables, as in migrations/postgres.
CREATE TABLE one_time_tokens (
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    link_digest     BLOB NOT NULL,
    code_digest     BLOB NOT NULL,
    sent_to         TEXT NOT NULL,
    relates_to      TEXT,
    created_at      TEXT NOT NULL,
    link_expires_at TEXT NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    code_expires_at TEXT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
CREATE INDEX one_time_tokens_sent_to_idx ON one_time_tokens (sent_to, kind);
CREATE UNIQUE INDEX one_time_tokens_link_digest_key ON one_time_tokens (link_digest);

CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    queued_at       TEXT NOT NULL,
    next_attempt_at TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    sent_at         TEXT,
    failed_at       TEXT,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_recipient_idx ON mail_outbox (recipient, kind, queued_at);
