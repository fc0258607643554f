#!/bin/sh
# One-shot job of the temporalio/admin-tools image, before the server starts: create
# Temporal's two databases (if missing) and bring their schemas up to this version.
# Idempotent: a second run finds the databases and applies no schema change.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${SQL_PASSWORD:?}"
port="${DB_PORT:-5432}"

until nc -z -w 5 "$POSTGRES_SEEDS" "$port"; do
  echo "waiting for PostgreSQL at $POSTGRES_SEEDS:$port"
  sleep 2
done

for db in temporal temporal_visibility; do
  schema=temporal
  [ "$db" = temporal_visibility ] && schema=visibility
  sql="temporal-sql-tool --plugin postgres12 --ep $POSTGRES_SEEDS -p $port -u $POSTGRES_USER --db $db"
  $sql create || echo "database $db exists"
  $sql setup-schema -v 0.0 || echo "database $db has a schema"
  $sql update-schema -d "/etc/temporal/schema/postgresql/v12/$schema/versioned"
done
echo "Temporal schema is up to date"
