DROP INDEX mail_outbox_due_idx;
DELETE FROM mail_outbox WHERE channel <> 'email';
ALTER TABLE mail_outbox DROP COLUMN channel;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
ALTER TABLE users DROP COLUMN phone_change;
ALTER TABLE users DROP COLUMN phone_change_sent_at;
