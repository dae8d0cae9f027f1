-- External identities (Supabase Auth's auth.identities) and the flow state of a browser
-- sign-in through an identity provider, between /authorize and /callback.
CREATE TABLE auth.identities (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
    provider        TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    identity_data   JSONB NOT NULL,
    email           TEXT,
    last_sign_in_at TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    CONSTRAINT identities_provider_subject_key UNIQUE (provider, provider_id)
);
CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
CREATE INDEX identities_email_idx ON auth.identities (email);

-- The id is the OAuth `state`; browser_digest is SHA-256 of the cookie that binds the flow to
-- the browser that began it (the secret itself is never stored).
CREATE TABLE auth.oauth_flows (
    id                    UUID PRIMARY KEY,
    browser_digest        BYTEA NOT NULL,
    provider              TEXT NOT NULL,
    redirect_to           TEXT NOT NULL,
    code_challenge        TEXT,
    code_challenge_method TEXT,
    linking_target_id     UUID REFERENCES auth.users (id) ON DELETE CASCADE,
    created_at            TIMESTAMPTZ NOT NULL,
    expires_at            TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_flows_expires_at_idx ON auth.oauth_flows (expires_at);
