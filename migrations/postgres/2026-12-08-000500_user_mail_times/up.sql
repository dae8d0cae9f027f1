-- Supabase Auth's user columns that its user object shows, under its names, so triggers and
-- queries written for its schema find them: when each kind of mail was last sent, the address
-- a pending email change goes to, and the soft deletion. `is_sso_user` is always false (authd
-- has no SSO); it is here for queries that filter on it.
ALTER TABLE auth.users
    ADD COLUMN invited_at TIMESTAMPTZ,
    ADD COLUMN recovery_sent_at TIMESTAMPTZ,
    ADD COLUMN email_change TEXT,
    ADD COLUMN email_change_sent_at TIMESTAMPTZ,
    ADD COLUMN reauthentication_sent_at TIMESTAMPTZ,
    ADD COLUMN deleted_at TIMESTAMPTZ,
    ADD COLUMN is_sso_user BOOLEAN NOT NULL DEFAULT FALSE;
