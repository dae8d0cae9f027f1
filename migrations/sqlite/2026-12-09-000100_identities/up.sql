-- External identities and OAuth flow states, as in migrations/postgres.
CREATE TABLE identities (
    id              BLOB PRIMARY KEY NOT NULL,
    user_id         BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    identity_data   TEXT NOT NULL,
    email           TEXT,
    last_sign_in_at TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (provider, provider_id)
);
CREATE INDEX identities_user_id_idx ON identities (user_id);
CREATE INDEX identities_email_idx ON identities (email);

CREATE TABLE oauth_flows (
    id                    BLOB PRIMARY KEY NOT NULL,
    browser_digest        BLOB NOT NULL,
    provider              TEXT NOT NULL,
    redirect_to           TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    linking_target_id     BLOB REFERENCES users (id) ON DELETE CASCADE,
    created_at            TEXT NOT NULL,
    expires_at            TEXT NOT NULL
);
CREATE INDEX oauth_flows_expires_at_idx ON oauth_flows (expires_at);
