-- Second factors (TOTP) and the challenges issued against them, and what a verified factor adds
-- to a session: its id, kind and time (aal2). A factor's secret is sealed under the
-- key-encryption key when one is configured; `last_used_step` is the last accepted TOTP time
-- step, so a code works once.
CREATE TABLE auth.mfa_factors (
    id                 UUID PRIMARY KEY,
    user_id            UUID NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    friendly_name      TEXT NOT NULL,
    factor_type        TEXT NOT NULL,
    status             TEXT NOT NULL,
    secret             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL,
    last_challenged_at TIMESTAMPTZ,
    last_used_step     BIGINT
);
CREATE INDEX mfa_factors_user_id_idx ON auth.mfa_factors (user_id, created_at);

CREATE TABLE auth.mfa_challenges (
    id          UUID PRIMARY KEY,
    factor_id   UUID NOT NULL REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    ip          TEXT,
    verified_at TIMESTAMPTZ
);
CREATE INDEX mfa_challenges_factor_id_idx ON auth.mfa_challenges (factor_id);
CREATE INDEX mfa_challenges_expires_at_idx ON auth.mfa_challenges (expires_at);

ALTER TABLE auth.sessions
    ADD COLUMN mfa_factor_id   UUID,
    ADD COLUMN mfa_factor_type TEXT,
    ADD COLUMN mfa_verified_at TIMESTAMPTZ;
CREATE INDEX sessions_mfa_factor_id_idx ON auth.sessions (mfa_factor_id) WHERE mfa_factor_id IS NOT NULL;
