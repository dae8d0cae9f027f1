-- One `GET /user` as authd's PostgreSQL store runs it (statements copied from its statement log,
-- pool pings aside): the token's session, then its user, then its factors, each client with a session of its own.
\set one 1
\if :ready = 0
SELECT id AS sid, user_id AS uid
FROM auth.sessions WHERE id = md5('authd-bench-' || :chain::text || '-' || :client_id::text)::uuid \gset
\set ready 1
\endif
SELECT "auth"."sessions"."id", "auth"."sessions"."user_id", "auth"."sessions"."created_at", "auth"."sessions"."refreshed_at", "auth"."sessions"."not_after", "auth"."sessions"."aal", "auth"."sessions"."auth_method", "auth"."sessions"."user_agent", "auth"."sessions"."ip", "auth"."sessions"."revoked_at", "auth"."sessions"."mfa_factor_id", "auth"."sessions"."mfa_factor_type", "auth"."sessions"."mfa_verified_at" FROM "auth"."sessions" WHERE ("auth"."sessions"."id" = :sid) LIMIT :one;
SELECT "auth"."users"."id", "auth"."users"."aud", "auth"."users"."role", "auth"."users"."email", "auth"."users"."phone", "auth"."users"."username", "auth"."users"."encrypted_password", "auth"."users"."email_confirmed_at", "auth"."users"."phone_confirmed_at", "auth"."users"."confirmation_sent_at", "auth"."users"."raw_app_meta_data", "auth"."users"."raw_user_meta_data", "auth"."users"."banned_until", "auth"."users"."is_anonymous", "auth"."users"."last_sign_in_at", "auth"."users"."created_at", "auth"."users"."updated_at" FROM "auth"."users" WHERE ("auth"."users"."id" = :uid) LIMIT :one;
SELECT "auth"."mfa_factors"."id", "auth"."mfa_factors"."user_id", "auth"."mfa_factors"."friendly_name", "auth"."mfa_factors"."factor_type", "auth"."mfa_factors"."status", "auth"."mfa_factors"."secret", "auth"."mfa_factors"."created_at", "auth"."mfa_factors"."updated_at", "auth"."mfa_factors"."last_challenged_at", "auth"."mfa_factors"."last_used_step" FROM "auth"."mfa_factors" WHERE ("auth"."mfa_factors"."user_id" = :uid) ORDER BY "auth"."mfa_factors"."created_at" ASC, "auth"."mfa_factors"."id" ASC;
