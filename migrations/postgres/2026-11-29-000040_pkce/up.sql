-- PKCE on the email flows: an emailed secret remembers the client's code challenge, and a
-- link verified in the browser leaves a one-time auth code (digest only) to be exchanged.
ALTER TABLE auth.one_time_tokens
    ADD COLUMN code_challenge TEXT,
    ADD COLUMN code_challenge_method TEXT;

CREATE TABLE auth.auth_codes (
    code_digest           BYTEA PRIMARY KEY,
    user_id               UUID NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    code_challenge        TEXT NOT NULL,
    code_challenge_method TEXT NOT NULL,
    auth_method           TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX auth_codes_user_id_idx ON auth.auth_codes (user_id);
CREATE INDEX auth_codes_expires_at_idx ON auth.auth_codes (expires_at);
