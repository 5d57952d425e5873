#!/usr/bin/env bash
# Runs the whole test suite against a private PostgreSQL it starts itself (and installs if missing), with the headless
# Chromium of the web console's browser tests (installed if missing, scripts/chromium.sh).
# Each run gets a fresh database on that server; extra arguments go to `dotnet test` (e.g. --filter).
set -euo pipefail
cd "$(dirname "$0")"
TEST_DATA_DIR="${DP_TEST_DATA_DIR:-$PWD/.data/test}"
mkdir -p "$TEST_DATA_DIR"
source scripts/postgres.sh
source scripts/chromium.sh

if [ -z "${DP_TEST_POSTGRES:-}" ]; then
  dp_postgres_up "$TEST_DATA_DIR/pg" "${DP_TEST_PG_PORT:-54339}" dp_test test
  trap 'dp_postgres_down "$TEST_DATA_DIR/pg"' EXIT
  # The superuser's connection: the fixture creates each run's database and its non-superuser service role with it.
  export DP_TEST_POSTGRES="$DP_PG_ADMIN_POSTGRES"
fi
unset DP_POSTGRES
# The web console's browser tests drive Chromium; when it cannot be installed they fail, naming the reason (DP_CHROMIUM_MISSING).
dp_chromium_ensure || true

dotnet test DatasetPlatform.sln -c Release --nologo "$@"
