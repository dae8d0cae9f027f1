-- The user columns of migrations/postgres's migration of the same name, in SQLite's types.
ALTER TABLE users ADD COLUMN invited_at TEXT;
ALTER TABLE users ADD COLUMN recovery_sent_at TEXT;
ALTER TABLE users ADD COLUMN email_change TEXT;
ALTER TABLE users ADD COLUMN email_change_sent_at TEXT;
ALTER TABLE users ADD COLUMN reauthentication_sent_at TEXT;
ALTER TABLE users ADD COLUMN deleted_at TEXT;
ALTER TABLE users ADD COLUMN is_sso_user BOOLEAN NOT NULL DEFAULT FALSE;
