DROP INDEX auth.sessions_mfa_factor_id_idx;
ALTER TABLE auth.sessions DROP COLUMN mfa_verified_at, DROP COLUMN mfa_factor_type, DROP COLUMN mfa_factor_id;
DROP TABLE auth.mfa_challenges;
DROP TABLE auth.mfa_factors;
