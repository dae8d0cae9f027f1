DROP INDEX auth.mail_outbox_due_idx;
DELETE FROM auth.mail_outbox WHERE channel <> 'email';
ALTER TABLE auth.mail_outbox DROP COLUMN channel;
CREATE INDEX mail_outbox_due_idx ON auth.mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
ALTER TABLE auth.users DROP COLUMN phone_change, DROP COLUMN phone_change_sent_at;
