-- The same tables as migrations/postgres, in SQLite's types: UUIDs as 16-byte BLOBs, JSON as
-- TEXT, times as RFC 3339 TEXT. Times are written by authd, never defaulted.
CREATE TABLE users (
    id                   BLOB PRIMARY KEY NOT NULL,
    aud                  TEXT NOT NULL,
    role                 TEXT NOT NULL,
    email                TEXT,
    phone                TEXT,
    username             TEXT,
    encrypted_password   TEXT,
    email_confirmed_at   TEXT,
    phone_confirmed_at   TEXT,
    confirmation_sent_at TEXT,
    raw_app_meta_data    TEXT NOT NULL DEFAULT '{}',
    raw_user_meta_data   TEXT NOT NULL DEFAULT '{}',
    banned_until         TEXT,
    is_anonymous         BOOLEAN NOT NULL DEFAULT FALSE,
    last_sign_in_at      TEXT,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE UNIQUE INDEX users_phone_key ON users (phone);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE INDEX users_created_at_idx ON users (created_at, id);

CREATE TABLE sessions (
    id           BLOB PRIMARY KEY NOT NULL,
    user_id      BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    refreshed_at TEXT,
    not_after    TEXT,
    aal          TEXT NOT NULL,
    auth_method  TEXT NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    revoked_at   TEXT
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    session_id   BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    token_digest BLOB NOT NULL,
    parent       BIGINT,
    created_at   TEXT NOT NULL,
    used_at      TEXT,
    revoked_at   TEXT
);
CREATE UNIQUE INDEX refresh_tokens_digest_key ON refresh_tokens (token_digest);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
