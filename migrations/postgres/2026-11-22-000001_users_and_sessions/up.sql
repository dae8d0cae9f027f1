-- Users, sessions and refresh tokens. Everything lives in the schema `auth`, which PostgREST
-- must never expose. Times are written by authd (from its clock), never defaulted to now().
CREATE SCHEMA IF NOT EXISTS auth;

CREATE TABLE auth.users (
    id                   UUID PRIMARY KEY,
    aud                  TEXT NOT NULL,
    role                 TEXT NOT NULL,
    email                TEXT,
    phone                TEXT,
    username             TEXT,
    encrypted_password   TEXT,
    email_confirmed_at   TIMESTAMPTZ,
    phone_confirmed_at   TIMESTAMPTZ,
    confirmation_sent_at TIMESTAMPTZ,
    raw_app_meta_data    JSONB NOT NULL DEFAULT '{}'::jsonb,
    raw_user_meta_data   JSONB NOT NULL DEFAULT '{}'::jsonb,
    banned_until         TIMESTAMPTZ,
    is_anonymous         BOOLEAN NOT NULL DEFAULT FALSE,
    last_sign_in_at      TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON auth.users (email);
CREATE UNIQUE INDEX users_phone_key ON auth.users (phone);
CREATE UNIQUE INDEX users_username_key ON auth.users (lower(username));
CREATE INDEX users_created_at_idx ON auth.users (created_at, id);

CREATE TABLE auth.sessions (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,
    refreshed_at TIMESTAMPTZ,
    not_after    TIMESTAMPTZ,
    aal          TEXT NOT NULL,
    auth_method  TEXT NOT NULL,
    user_agent   TEXT,
    ip           TEXT,
    revoked_at   TIMESTAMPTZ
);
CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);

CREATE TABLE auth.refresh_tokens (
    id           BIGSERIAL PRIMARY KEY,
    session_id   UUID NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
    token_digest BYTEA NOT NULL,
    parent       BIGINT,
    created_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);
CREATE UNIQUE INDEX refresh_tokens_digest_key ON auth.refresh_tokens (token_digest);
CREATE INDEX refresh_tokens_session_id_idx ON auth.refresh_tokens (session_id);
