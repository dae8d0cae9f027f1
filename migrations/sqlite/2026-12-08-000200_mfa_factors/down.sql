DROP INDEX sessions_mfa_factor_id_idx;
ALTER TABLE sessions DROP COLUMN mfa_verified_at;
ALTER TABLE sessions DROP COLUMN mfa_factor_type;
ALTER TABLE sessions DROP COLUMN mfa_factor_id;
DROP TABLE mfa_challenges;
DROP TABLE mfa_factors;
