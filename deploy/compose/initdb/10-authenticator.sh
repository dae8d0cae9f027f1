#!/usr/bin/env bash
# First start of the compose database: the role PostgREST logs in as. authd grants it the API
# roles when it starts (postgrest.manage_roles). The password comes from a compose secret.
set -euo pipefail
password=$(cat /run/secrets/authenticator-password)
psql -v ON_ERROR_STOP=1 -v password="$password" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE authenticator LOGIN NOINHERIT PASSWORD :'password';
SQL
