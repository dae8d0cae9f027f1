-- What PostgREST needs from authd: helpers that read the verified claims PostgREST puts in
-- `request.jwt.claims`, the pre-request check that makes revocations take effect at once, and the
-- functions authd rewrites when its configuration or keys change (auth.session_limits,
-- auth.postgrest_config). Every function pins search_path: pg_catalog is still searched first,
-- so built-ins resolve, and nothing a caller creates can shadow them.

-- The claims of the current request, or NULL outside a PostgREST request.
CREATE FUNCTION auth.jwt() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb
$$;

-- The signed-in user's id; NULL for API keys and anonymous requests (they carry no `sub`), and
-- for a `sub` that is not a UUID, so a policy comparing it matches nothing rather than failing.
CREATE FUNCTION auth.uid() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT CASE WHEN sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN sub::uuid END
    FROM (SELECT auth.jwt() ->> 'sub' AS sub) AS claims
$$;

-- The `role` claim (the role PostgREST switched to).
CREATE FUNCTION auth.role() RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT auth.jwt() ->> 'role'
$$;

-- The `email` claim; NULL when absent.
CREATE FUNCTION auth.email() RETURNS text
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT nullif(auth.jwt() ->> 'email', '')
$$;

-- The `session_id` claim; NULL for API keys and anonymous requests.
CREATE FUNCTION auth.session_id() RETURNS uuid
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT CASE WHEN sid ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN sid::uuid END
    FROM (SELECT auth.jwt() ->> 'session_id' AS sid) AS claims
$$;

-- sessions.timebox_secs and sessions.inactivity_timeout_secs (NULL when off). authd replaces this
-- function's body at start (`authd serve`, `authd postgrest setup`) with its configured values, so
-- auth.check_session ends sessions exactly when authd does. Off until then.
CREATE FUNCTION auth.session_limits(OUT timebox interval, OUT inactivity_timeout interval)
LANGUAGE sql IMMUTABLE SET search_path = '' AS $$
    SELECT NULL::interval, NULL::interval
$$;

-- PostgREST's db-pre-request. A token with a session_id passes only while that session exists,
-- belongs to `sub`, is neither revoked nor expired, and its user is not banned; anything else is
-- SQLSTATE PT401, which PostgREST answers with HTTP 401. Tokens without a session_id (the anon
-- and service-role API keys) and requests without a token pass: their role decides.
-- One query by primary key (sessions) joined by primary key (users). SECURITY DEFINER because
-- the API roles have no privileges on auth tables, and must not.
CREATE FUNCTION auth.check_session() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = '' AS $$
DECLARE
    claims jsonb := auth.jwt();
    sid text := claims ->> 'session_id';
    session_row record;
    limits record;
BEGIN
    IF sid IS NULL THEN
        RETURN;
    END IF;
    IF sid !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = 'session_id claim is not a UUID';
    END IF;
    SELECT s.user_id, s.created_at, s.refreshed_at, s.not_after, s.revoked_at, u.banned_until
      INTO session_row
      FROM auth.sessions AS s JOIN auth.users AS u ON u.id = s.user_id
     WHERE s.id = sid::uuid;
    IF NOT FOUND THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = 'session not found: it was signed out, or its user was deleted',
            HINT = 'Sign in again.';
    END IF;
    IF session_row.user_id::text IS DISTINCT FROM claims ->> 'sub' THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = 'session does not belong to the token''s user';
    END IF;
    IF session_row.revoked_at IS NOT NULL THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = 'session revoked (signed out, or its refresh token was reused)',
            HINT = 'Sign in again.';
    END IF;
    IF session_row.banned_until IS NOT NULL AND session_row.banned_until > now() THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = 'user is banned';
    END IF;
    SELECT * INTO limits FROM auth.session_limits();
    IF (session_row.not_after IS NOT NULL AND now() > session_row.not_after)
        OR (limits.timebox IS NOT NULL AND now() > session_row.created_at + limits.timebox)
        OR (limits.inactivity_timeout IS NOT NULL
            AND now() > coalesce(session_row.refreshed_at, session_row.created_at) + limits.inactivity_timeout) THEN
        RAISE SQLSTATE 'PT401' USING MESSAGE = 'session expired', HINT = 'Sign in again.';
    END IF;
END
$$;
-- Granted to the API roles by the role set-up (`authd postgrest sql`), which knows their names.
REVOKE ALL ON FUNCTION auth.check_session() FROM PUBLIC;

-- PostgREST's db-pre-config. authd replaces this body with its settings (the JWKS as jwt_secret,
-- jwt_aud, db_anon_role, db_pre_request) and sends NOTIFY pgrst, 'reload config' when they change,
-- so key rotations reach PostgREST without a restart. Public material only: never the HS256 secret.
CREATE FUNCTION auth.postgrest_config() RETURNS void
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT NULL::void
$$;
