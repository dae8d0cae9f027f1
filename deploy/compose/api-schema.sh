#!/usr/bin/env bash
# The compose stack's one-shot job: create the example API schema unless it exists already,
# after authd has migrated and made the roles the schema grants to.
set -euo pipefail
PGPASSWORD=$(cat /run/secrets/postgres-password)
export PGPASSWORD
if [ "$(psql -XAtc "SELECT count(*) FROM pg_namespace WHERE nspname = 'api'")" = 1 ]; then
  echo "schema api exists; nothing to do"
  exit 0
fi
psql -X -v ON_ERROR_STOP=1 -f /compose/schema.sql
