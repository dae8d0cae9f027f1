-- An API for PostgREST (db-schemas = "api") whose rows belong to authd's users.
-- Run after `authd migrate` and the role set-up (`authd serve` with postgrest.manage_roles, or
-- `authd postgrest sql`), as the database owner:
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f examples/postgrest/schema.sql
-- Role names are authd's defaults ([roles]); change them here if you changed them there.

CREATE SCHEMA api;
GRANT USAGE ON SCHEMA api TO anon, authenticated, service_role;

-- Each user's own to-do items. user_id defaults to the caller, and the policy lets a signed-in
-- user see and change only rows carrying their own id. No foreign key into auth: the API roles
-- need nothing from that schema beyond the auth.* functions.
CREATE TABLE api.todos (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id uuid NOT NULL DEFAULT auth.uid(),
    task    text NOT NULL,
    done    boolean NOT NULL DEFAULT false
);
ALTER TABLE api.todos ENABLE ROW LEVEL SECURITY;
-- (SELECT auth.uid()) is evaluated once per statement rather than once per row.
CREATE POLICY todos_are_their_owners ON api.todos FOR ALL TO authenticated
    USING (user_id = (SELECT auth.uid()))
    WITH CHECK (user_id = (SELECT auth.uid()));
GRANT SELECT, INSERT, UPDATE, DELETE ON api.todos TO authenticated;
-- The service role (the service-role key, for trusted servers) is BYPASSRLS: it sees every row.
GRANT SELECT, INSERT, UPDATE, DELETE ON api.todos TO service_role;
-- anon gets nothing on api.todos: requests without a user are refused (permission denied).

-- Public notices: anyone may read them, only the service role may write them.
CREATE TABLE api.notices (
    id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    body text NOT NULL
);
GRANT SELECT ON api.notices TO anon, authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON api.notices TO service_role;
INSERT INTO api.notices (body) VALUES ('Welcome! Sign in to keep a to-do list.');

-- Who am I, as PostgREST's /rpc/whoami sees it.
CREATE FUNCTION api.whoami() RETURNS jsonb
LANGUAGE sql STABLE SET search_path = '' AS $$
    SELECT jsonb_build_object('uid', auth.uid(), 'role', auth.role(), 'email', auth.email(),
                              'session_id', auth.session_id())
$$;
GRANT EXECUTE ON FUNCTION api.whoami() TO anon, authenticated, service_role;

-- PostgREST caches the schema; tell it to look again.
NOTIFY pgrst, 'reload schema';
