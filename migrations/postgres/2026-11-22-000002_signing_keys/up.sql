-- The server's own keys (access-token signing keys, the refresh-token chain key), shared by every
-- replica on this database. The material is secret: this table must never be exposed.
CREATE TABLE auth.signing_keys (
    kid          TEXT PRIMARY KEY,
    purpose      TEXT NOT NULL,
    algorithm    TEXT NOT NULL,
    material     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    activates_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX signing_keys_purpose_idx ON auth.signing_keys (purpose, activates_at);
