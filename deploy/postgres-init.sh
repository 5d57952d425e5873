#!/bin/sh
# Runs once, when the compose file's PostgreSQL volume is new: the service's own role (not a superuser) and its database.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v pw="$DP_SERVICE_PASSWORD" <<'SQL'
CREATE ROLE dp_service LOGIN PASSWORD :'pw';
CREATE DATABASE datasetplatform OWNER dp_service;
SQL
