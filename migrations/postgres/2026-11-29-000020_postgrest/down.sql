DROP FUNCTION IF EXISTS auth.postgrest_config();
DROP FUNCTION IF EXISTS auth.check_session();
DROP FUNCTION IF EXISTS auth.session_limits();
DROP FUNCTION IF EXISTS auth.session_id();
DROP FUNCTION IF EXISTS auth.email();
DROP FUNCTION IF EXISTS auth.role();
DROP FUNCTION IF EXISTS auth.uid();
DROP FUNCTION IF EXISTS auth.jwt();
