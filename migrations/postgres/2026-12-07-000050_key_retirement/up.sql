-- When an operator retired a key (`authd keys retire`): from then on it neither signs nor
-- verifies, on every replica at its next key reload. NULL for a key never retired.
ALTER TABLE auth.signing_keys ADD COLUMN retired_at TIMESTAMPTZ;
