-- One refresh-token rotation as authd's PostgreSQL store runs it (statements copied from its
-- statement log, pool pings aside), along the client's own chain: the transaction that locks
-- the session, rotates the token and writes the audit row, then the user read for the new
-- access token.
\set one 1
\if :ready = 0
SELECT id AS sid, user_id AS uid, json_build_object('session_id', id)::text AS details
FROM auth.sessions WHERE id = md5('authd-bench-' || :chain::text || '-' || :client_id::text)::uuid \gset
\set ready 1
\endif
\set presented 1000000000000000000 + :chain * 1000000000000000 + :client_id * 1000000000 + :step
\set step :step + 1
\set successor 1000000000000000000 + :chain * 1000000000000000 + :client_id * 1000000000 + :step
BEGIN;
SELECT "auth"."refresh_tokens"."id", "auth"."refresh_tokens"."session_id", "auth"."refresh_tokens"."token_digest", "auth"."refresh_tokens"."parent", "auth"."refresh_tokens"."created_at", "auth"."refresh_tokens"."used_at", "auth"."refresh_tokens"."revoked_at" FROM "auth"."refresh_tokens" WHERE ("auth"."refresh_tokens"."token_digest" = :presented) LIMIT :one \gset token_
SELECT "auth"."sessions"."id", "auth"."sessions"."user_id", "auth"."sessions"."created_at", "auth"."sessions"."refreshed_at", "auth"."sessions"."not_after", "auth"."sessions"."aal", "auth"."sessions"."auth_method", "auth"."sessions"."user_agent", "auth"."sessions"."ip", "auth"."sessions"."revoked_at", "auth"."sessions"."mfa_factor_id", "auth"."sessions"."mfa_factor_type", "auth"."sessions"."mfa_verified_at" FROM "auth"."sessions" WHERE ("auth"."sessions"."id" = :token_session_id) LIMIT :one FOR UPDATE;
SELECT "auth"."refresh_tokens"."id", "auth"."refresh_tokens"."session_id", "auth"."refresh_tokens"."token_digest", "auth"."refresh_tokens"."parent", "auth"."refresh_tokens"."created_at", "auth"."refresh_tokens"."used_at", "auth"."refresh_tokens"."revoked_at" FROM "auth"."refresh_tokens" WHERE ("auth"."refresh_tokens"."id" = :token_id) LIMIT :one;
SELECT "auth"."refresh_tokens"."id", "auth"."refresh_tokens"."session_id", "auth"."refresh_tokens"."token_digest", "auth"."refresh_tokens"."parent", "auth"."refresh_tokens"."created_at", "auth"."refresh_tokens"."used_at", "auth"."refresh_tokens"."revoked_at" FROM "auth"."refresh_tokens" WHERE ((("auth"."refresh_tokens"."session_id" = :token_session_id) AND ("auth"."refresh_tokens"."used_at" IS NULL)) AND ("auth"."refresh_tokens"."revoked_at" IS NULL)) LIMIT :one;
UPDATE "auth"."refresh_tokens" SET "used_at" = :at WHERE ("auth"."refresh_tokens"."id" = :token_id);
INSERT INTO "auth"."refresh_tokens" ("session_id", "token_digest", "parent", "created_at") VALUES (:token_session_id, :successor, :token_id, :at);
UPDATE "auth"."sessions" SET "refreshed_at" = :at WHERE ("auth"."sessions"."id" = :token_session_id);
INSERT INTO "auth"."audit_log" ("created_at", "action", "actor", "target_id", "ip", "user_agent", "details") VALUES (:at, 'token_refreshed', :uid, :uid, '127.0.0.1', NULL, :details);
COMMIT;
SELECT "auth"."users"."id", "auth"."users"."aud", "auth"."users"."role", "auth"."users"."email", "auth"."users"."phone", "auth"."users"."username", "auth"."users"."encrypted_password", "auth"."users"."email_confirmed_at", "auth"."users"."phone_confirmed_at", "auth"."users"."confirmation_sent_at", "auth"."users"."raw_app_meta_data", "auth"."users"."raw_user_meta_data", "auth"."users"."banned_until", "auth"."users"."is_anonymous", "auth"."users"."last_sign_in_at", "auth"."users"."created_at", "auth"."users"."updated_at" FROM "auth"."users" WHERE ("auth"."users"."id" = :uid) LIMIT :one;
SELECT "auth"."mfa_factors"."id", "auth"."mfa_factors"."user_id", "auth"."mfa_factors"."friendly_name", "auth"."mfa_factors"."factor_type", "auth"."mfa_factors"."status", "auth"."mfa_factors"."secret", "auth"."mfa_factors"."created_at", "auth"."mfa_factors"."updated_at", "auth"."mfa_factors"."last_challenged_at", "auth"."mfa_factors"."last_used_step" FROM "auth"."mfa_factors" WHERE ("auth"."mfa_factors"."user_id" = :uid) ORDER BY "auth"."mfa_factors"."created_at" ASC, "auth"."mfa_factors"."id" ASC;
