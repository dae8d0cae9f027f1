ALTER TABLE users DROP COLUMN is_sso_user;
ALTER TABLE users DROP COLUMN deleted_at;
ALTER TABLE users DROP COLUMN reauthentication_sent_at;
ALTER TABLE users DROP COLUMN email_change_sent_at;
ALTER TABLE users DROP COLUMN email_change;
ALTER TABLE users DROP COLUMN recovery_sent_at;
ALTER TABLE users DROP COLUMN invited_at;
