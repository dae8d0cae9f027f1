-- Phone accounts: the number a pending phone change goes to and when its code was last sent
-- (Supabase Auth's columns of the same names), and text messages in the one outbox, told apart
-- from mail by their channel ('email', 'sms' or 'whatsapp'), so both share delivery, leases
-- and retries.
ALTER TABLE auth.users
    ADD COLUMN phone_change TEXT,
    ADD COLUMN phone_change_sent_at TIMESTAMPTZ;
ALTER TABLE auth.mail_outbox ADD COLUMN channel TEXT NOT NULL DEFAULT 'email';
DROP INDEX auth.mail_outbox_due_idx;
CREATE INDEX mail_outbox_due_idx ON auth.mail_outbox (channel, next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;
