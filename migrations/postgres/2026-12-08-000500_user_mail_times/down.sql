ALTER TABLE auth.users
    DROP COLUMN invited_at,
    DROP COLUMN recovery_sent_at,
    DROP COLUMN email_change,
    DROP COLUMN email_change_sent_at,
    DROP COLUMN reauthentication_sent_at,
    DROP COLUMN deleted_at,
    DROP COLUMN is_sso_user;
