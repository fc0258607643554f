#!/bin/sh
# Runs once, on the first start of the postgres container (docker-entrypoint-initdb.d):
# one role per tenant of this server. Temporal's role may create its own two databases
# (temporal, temporal_visibility); the ledger's role owns the payments database only.
set -eu
: "${TEMPORAL_DB_PASSWORD:?}"
: "${LEDGER_DB_PASSWORD:?}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v temporal_password="$TEMPORAL_DB_PASSWORD" -v ledger_password="$LEDGER_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
CREATE ROLE payments LOGIN PASSWORD :'ledger_password';
CREATE DATABASE payments OWNER payments;
REVOKE ALL ON DATABASE payments FROM PUBLIC;
SQL
