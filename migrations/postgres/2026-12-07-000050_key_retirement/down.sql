ALTER TABLE auth.signing_keys DROP COLUMN retired_at;
