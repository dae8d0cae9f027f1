-- The append-only audit log of security-relevant events. It never holds a secret.
CREATE TABLE auth.audit_log (
    id         BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    target_id  TEXT,
    ip         TEXT,
    user_agent TEXT,
    details    JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_created_at_idx ON auth.audit_log (created_at);
CREATE INDEX audit_log_target_id_idx ON auth.audit_log (target_id);
