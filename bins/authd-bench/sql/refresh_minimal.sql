-- The least a refresh-token rotation can write, as one transaction with one commit, along the
-- client's own chain (the tokens setup.sql made): spend the presented token and insert its
-- successor. It is the limit authd's refresh is judged against, not authd's own statements,
-- so that every statement authd adds (the session lock, the family check, the session's
-- refreshed_at, the audit row, the user read) shows in the ratio.
\set presented 1000000000000000000 + :chain * 1000000000000000 + :client_id * 1000000000 + :step
\set step :step + 1
\set successor 1000000000000000000 + :chain * 1000000000000000 + :client_id * 1000000000 + :step
BEGIN;
UPDATE auth.refresh_tokens SET used_at = :at
WHERE token_digest = :presented AND used_at IS NULL
RETURNING id AS token_id, session_id AS token_session_id \gset
INSERT INTO auth.refresh_tokens (session_id, token_digest, parent, created_at)
VALUES (:token_session_id, :successor, :token_id, :at);
COMMIT;
