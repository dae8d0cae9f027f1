-- The server's own keys, as in migrations/postgres. The material is secret.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY NOT NULL,
    purpose      TEXT NOT NULL,
    algorithm    TEXT NOT NULL,
    material     TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    activates_at TEXT NOT NULL
);
CREATE INDEX signing_keys_purpose_idx ON signing_keys (purpose, activates_at);
