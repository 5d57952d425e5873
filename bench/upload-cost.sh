#!/usr/bin/env bash
# bench/upload-cost.sh - what one small upload costs, door by door, in COUNTS and CPU (not wall time, which a shared
# machine makes meaningless): SQL statements, commits, pool checkouts (DISCARD ALL), service CPU ms and PostgreSQL CPU ms.
#
#   bench/upload-cost.sh [N] [ROWS]     # N uploads of ROWS rows per door (default 20 x 2000)
#
# Starts its own PostgreSQL (bench/out/cost-pg, pg_stat_statements loaded, a fresh database `dpcost`) and the service built
# into bench/out/artifacts-cost (one process), then, for each door, runs bench/LoadTest twice against it on a new dataset:
# 1 upload, then N+1 uploads (one client, so the uploads go one after the other). The difference of the two runs divided by
# N is the marginal cost of one upload: what the run's fixed part (repository, dataset creation, verification read-back)
# costs cancels out. A warm-up pass (3 uploads per door) comes first, so .NET's JIT compilation is not counted. The
# harness's completion polling (every 0.5 s: a few list queries per run) stays in; the statements file shows it.
# A blocks upload of ROWS rows is ceil(ROWS / 1000) PATCHes, each its own import.
# Prints a table per door and the statements of the N+1 run by calls; writes bench/out/upload-cost.txt.
#
# Environment: DP_COST_PG_PORT (54369), DP_COST_HTTP_PORT (5097), DP_COST_SILO_PORT (11369), DP_COST_GATEWAY_PORT (30369),
# DP_COST_DOORS (alphacast,presigned,blocks,versions), DP_COST_KEEP=1 (leave service and PostgreSQL running).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/bench/out
ART=$OUT/artifacts-cost
N=${1:-20}
ROWS=${2:-2000}
PG_PORT=${DP_COST_PG_PORT:-54369}
HTTP_PORT=${DP_COST_HTTP_PORT:-5097}
DOORS=${DP_COST_DOORS:-alphacast,presigned,blocks,versions}
DB=dpcost
DATA_DIR=$OUT/cost-data
SERVICE_LOG=$OUT/cost-service.log
REPORT=$OUT/upload-cost.txt
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# shellcheck disable=SC1091 # scripts/postgres.sh, found at run time
source "$REPO/scripts/postgres.sh"

log "building src/Api and bench/LoadTest (Release) into $ART"
{ dotnet build "$REPO/src/Api/Api.csproj" -c Release --artifacts-path "$ART" -v quiet -nologo &&
  dotnet build "$REPO/bench/LoadTest/LoadTest.csproj" -c Release --artifacts-path "$ART" -v quiet -nologo; } >"$OUT/cost-build.log" 2>&1 || {
  tail -n 40 "$OUT/cost-build.log" >&2
  exit 2
}
API_DLL=$ART/bin/Api/release/DatasetPlatform.Api.dll
HARNESS=$ART/bin/LoadTest/release/DatasetPlatform.LoadTest.dll

SERVICE_PID=
cleanup() {
  local rc=$?
  set +e
  if [[ ${DP_COST_KEEP:-0} == 1 ]]; then
    log "DP_COST_KEEP=1: service (pid ${SERVICE_PID:-none}) and PostgreSQL (port $PG_PORT) left running"
    exit "$rc"
  fi
  if [[ -n $SERVICE_PID ]]; then
    kill -TERM "$SERVICE_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$SERVICE_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$SERVICE_PID" 2>/dev/null && kill -KILL "$SERVICE_PID" 2>/dev/null
  fi
  dp_postgres_down "$OUT/cost-pg" >/dev/null 2>&1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dp_postgres_up "$OUT/cost-pg" "$PG_PORT" "$DB" durable
if [[ $(dp_psql -Atc "SHOW shared_preload_libraries") != *pg_stat_statements* ]]; then
  log "loading pg_stat_statements (restarts the bench PostgreSQL once)"
  dp_psql -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  dp_postgres_down "$OUT/cost-pg" >/dev/null
  dp_postgres_up "$OUT/cost-pg" "$PG_PORT" "$DB" durable
fi
DP_PG_DB=postgres dp_psql -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER $DP_PG_SERVICE_USER" >/dev/null
dp_psql -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
rm -rf "$DATA_DIR"
mkdir -p "$DATA_DIR"
: >"$SERVICE_LOG"

log "starting the service on http://localhost:$HTTP_PORT (log $SERVICE_LOG)"
DP_POSTGRES=$DP_POSTGRES DP_DATA_DIR=$DATA_DIR DP_SILO_PORT=${DP_COST_SILO_PORT:-11369} DP_GATEWAY_PORT=${DP_COST_GATEWAY_PORT:-30369} \
  dotnet "$API_DLL" --contentRoot "$(dirname "$API_DLL")" --urls "http://localhost:$HTTP_PORT" >>"$SERVICE_LOG" 2>&1 &
SERVICE_PID=$!
for _ in $(seq 1 1200); do
  curl -fs -o /dev/null "http://localhost:$HTTP_PORT/health/ready" 2>/dev/null && break
  kill -0 "$SERVICE_PID" 2>/dev/null || { tail -n 40 "$SERVICE_LOG" >&2; exit 2; }
  sleep 0.2
done
POSTMASTER=$(head -n 1 "$DP_PG_DATA/postmaster.pid")
TICK=$(getconf CLK_TCK)

# CPU ticks of a process and its reaped children (fields 14-17 of /proc/PID/stat).
ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# PostgreSQL's CPU: the postmaster (with the backends it reaped) and every live child (backends, autovacuum, ...).
pg_ticks() {
  local total pid
  total=$(ticks "$POSTMASTER")
  for pid in $(pgrep -P "$POSTMASTER"); do total=$((total + $(ticks "$pid"))); done
  echo "$total"
}
# Statements, commits and DISCARD ALLs of the service's database so far. Backends flush their transaction counts to
# pg_stat_database when idle, at the latest after 10 s (PostgreSQL 15), so a snapshot waits that long first.
sql_counts() {
  dp_psql -Atc "SELECT (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                          WHERE s.dbid = d.datid AND r.rolname = '$DP_PG_SERVICE_USER'),
                       d.xact_commit,
                       (SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s WHERE s.dbid = d.datid AND s.query = 'DISCARD ALL')
                FROM pg_stat_database d WHERE d.datname = '$DB'" | tr '|' ' '
}
snapshot() {
  sleep 11
  echo "$(ticks "$SERVICE_PID") $(pg_ticks) $(sql_counts)"
}
# Runs the harness for one door; prints "service_ticks pg_ticks statements commits discards" spent by the run.
run_door() { # DOOR UPLOADS
  local before after
  before=$(snapshot)
  dotnet "$HARNESS" many-small --url "http://localhost:$HTTP_PORT" --key-file "$DATA_DIR/bootstrap-key.txt" --doors "$1" --datasets 1 \
    --uploads "$2" --rows "$ROWS" --clients 1 --fixed-cost 0 --results "$OUT/cost-results" --target "bench/upload-cost.sh" >>"$OUT/cost-harness.log" 2>&1 || {
    tail -n 30 "$OUT/cost-harness.log" >&2
    echo "upload-cost.sh: the $1 run did not verify" >&2
    exit 1
  }
  after=$(snapshot)
  paste -d ' ' <(tr ' ' '\n' <<<"$before") <(tr ' ' '\n' <<<"$after") | awk '{ printf "%d ", $2 - $1 }'
  echo
}

: >"$OUT/cost-harness.log"
: >"$OUT/upload-cost-statements.txt"
{
  echo "upload-cost.sh: marginal cost of one upload of $ROWS rows (runs of 1 and $((N + 1)) uploads, one client), source $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src || echo '+changes')"
  echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
  printf '%-10s %10s %10s %12s %10s %14s\n' door statements commits checkouts service_ms postgres_ms
} | tee "$REPORT"
IFS=, read -ra doors <<<"$DOORS"
# Warm-up, not measured: the first uploads through a door run code .NET has not compiled yet.
for door in "${doors[@]}"; do
  log "$door: warm-up (3 uploads)"
  run_door "$door" 3 >/dev/null
done
for door in "${doors[@]}"; do
  log "$door: 1 upload, then $((N + 1))"
  read -r s1 p1 q1 c1 d1 <<<"$(run_door "$door" 1)"
  dp_psql -qc "SELECT pg_stat_statements_reset()" >/dev/null
  read -r s2 p2 q2 c2 d2 <<<"$(run_door "$door" $((N + 1)))"
  awk -v door="$door" -v n="$N" -v tick="$TICK" -v s="$((s2 - s1))" -v p="$((p2 - p1))" -v q="$((q2 - q1))" -v c="$((c2 - c1))" -v d="$((d2 - d1))" \
    'BEGIN { printf "%-10s %10.1f %10.1f %12.1f %10.1f %14.1f\n", door, q / n, c / n, d / n, s * 1000 / tick / n, p * 1000 / tick / n }' | tee -a "$REPORT"
  {
    echo "  statements of the $((N + 1))-upload $door run, by calls:"
    dp_psql -Atc "SELECT lpad(calls::text, 6) || '  ' || left(regexp_replace(query, '\s+', ' ', 'g'), 150) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                  WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = '$DB') AND r.rolname = '$DP_PG_SERVICE_USER' ORDER BY calls DESC, query LIMIT 45"
  } >>"$OUT/upload-cost-statements.txt"
done
echo "load average $(cut -d' ' -f1-3 /proc/loadavg) at end" | tee -a "$REPORT"
echo "statements by calls: $OUT/upload-cost-statements.txt" >&2
