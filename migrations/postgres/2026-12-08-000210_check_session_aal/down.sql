CREATE OR REPLACE FUNCTION auth.check_session() RETURNS void
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
