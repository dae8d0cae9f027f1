-- The same as migrations/postgres: second factors, their challenges, and a session's factor.
CREATE TABLE mfa_factors (
    id                 BLOB PRIMARY KEY NOT NULL,
    user_id            BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    friendly_name      TEXT NOT NULL,
    factor_type        TEXT NOT NULL,
    status             TEXT NOT NULL,
    secret             TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    last_challenged_at TEXT,
    last_used_step     BIGINT
);
CREATE INDEX mfa_factors_user_id_idx ON mfa_factors (user_id, created_at);

CREATE TABLE mfa_challenges (
    id          BLOB PRIMARY KEY NOT NULL,
    factor_id   BLOB NOT NULL REFERENCES mfa_factors (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    ip          TEXT,
    verified_at TEXT
);
CREATE INDEX mfa_challenges_factor_id_idx ON mfa_challenges (factor_id);
CREATE INDEX mfa_challenges_expires_at_idx ON mfa_challenges (expires_at);

ALTER TABLE sessions ADD COLUMN mfa_factor_id BLOB;
ALTER TABLE sessions ADD COLUMN mfa_factor_type TEXT;
ALTER TABLE sessions ADD COLUMN mfa_verified_at TEXT;
CREATE INDEX sessions_mfa_factor_id_idx ON sessions (mfa_factor_id) WHERE mfa_factor_id IS NOT NULL;
