-- PKCE on the email flows, as in migrations/postgres.
ALTER TABLE one_time_tokens ADD COLUMN code_challenge TEXT;
ALTER TABLE one_time_tokens ADD COLUMN code_challenge_method TEXT;

CREATE TABLE auth_codes (
    code_digest           BLOB PRIMARY KEY NOT NULL,
    user_id               BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    auth_method           TEXT NOT NULL,
    created_at            TEXT NOT NULL,
    expires_at            TEXT NOT NULL
);
CREATE INDEX auth_codes_user_id_idx ON auth_codes (user_id);
CREATE INDEX auth_codes_expires_at_idx ON auth_codes (expires_at);
