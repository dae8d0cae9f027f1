-- MFA recovery codes: the digests of the codes of a user's `recovery_code` factor (SHA-256,
-- salted with the factor id), and when each was used. A code is never stored in clear.
CREATE TABLE auth.mfa_recovery_codes (
    factor_id UUID NOT NULL REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
    digest    BYTEA NOT NULL,
    used_at   TIMESTAMPTZ,
    PRIMARY KEY (factor_id, digest)
);
