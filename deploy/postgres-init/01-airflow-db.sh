#!/bin/sh
# Airflow's metadata database beside the warehouse (the same server, as in the local stack), owned by
# a role of its own: the Airflow services never hold the warehouse administrator's password.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v pw="$AIRFLOW_DB_PASSWORD" <<'EOSQL'
CREATE ROLE airflow LOGIN PASSWORD :'pw';
CREATE DATABASE airflow OWNER airflow;
EOSQL
