-- When an operator retired a key, as in migrations/postgres.
ALTER TABLE signing_keys ADD COLUMN retired_at TEXT;
