-- The same as migrations/postgres: the digests of recovery codes and when each was used.
CREATE TABLE mfa_recovery_codes (
    factor_id BLOB NOT NULL REFERENCES mfa_factors (id) ON DELETE CASCADE,
    digest    BLOB NOT NULL,
    used_at   TEXT,
    PRIMARY KEY (factor_id, digest)
);
