#!/usr/bin/env bash
# Runs DatasetPlatform on this machine: a private PostgreSQL (unless DP_POSTGRES is set), the schema,
# one process hosting a silo and the REST gateway. Ctrl-C stops everything; data stays in $DP_DATA_DIR.
set -euo pipefail
cd "$(dirname "$0")"
export DP_DATA_DIR="${DP_DATA_DIR:-$PWD/.data}"
DP_DATA_DIR="$(mkdir -p "$DP_DATA_DIR" && cd "$DP_DATA_DIR" && pwd)"
DP_HTTP_PORT="${DP_HTTP_PORT:-5080}"
source scripts/postgres.sh

if [ -z "${DP_POSTGRES:-}" ]; then
  dp_postgres_up "$DP_DATA_DIR/pg" "${DP_PG_SERVICE_PORT:-54329}" datasetplatform durable
  trap 'dp_postgres_down "$DP_DATA_DIR/pg"' EXIT
fi

dotnet build src/Api/Api.csproj -c Release -v quiet -nologo
echo "DatasetPlatform: http://localhost:$DP_HTTP_PORT"
dotnet run --project src/Api/Api.csproj -c Release --no-build --no-launch-profile -- --urls "http://localhost:$DP_HTTP_PORT"
