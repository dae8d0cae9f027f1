-- The columns of migrations/postgres's migration of the same name, in SQLite's types.
ALTER TABLE users ADD COLUMN phone_change TEXT;
ALTER TABLE users ADD COLUMN phone_change_sent_at TEXT;
ALTER TABLE mail_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
DROP INDEX mail_outbox_due_idx;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (channel, next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
