#!/usr/bin/env bash
# bench/load.sh - load test of DatasetPlatform through its four upload doors, verified (bench/LoadTest).
#
#   bench/load.sh [smoke|many-small|big|chaos] [--silos N [--gateways M]] [harness options...]
#       embedded: starts its own PostgreSQL (bench/out/load-pg, fresh database each run) and the service built into
#       bench/out/artifacts-load: one process by default, or N src/Silo processes + M gateways (DP_MODE=gateway);
#       also measures the two-stream psql \copy reference against that PostgreSQL.
#   bench/load.sh [scenario] --url URL[,URL...] (--key KEY | --key-file FILE) [harness options...]
#       against a service that is already running (e.g. ./run.sh --silos 3 --gateways 2: --url http://localhost:5080,http://localhost:5081
#       --key-file .data/bootstrap-key.txt --silos 3).
#
# Harness options (passed through): --datasets N --uploads N --rows N --clients N --doors alphacast,presigned,blocks,versions
#   --fixed-cost N --timeout SECONDS --copy-rows N --kill-pids PID,... --kill-one-of PID,... --kill-after FRACTION --note TEXT --results DIR
#   --warmup N (N datasets get the same uploads first, neither measured nor verified: the steady state of a running service).
# chaos (embedded) starts 3 silos and 1 gateway and, once a third of the uploads are acknowledged, kills with SIGKILL the silo
# that is running an import then (an active COPY under its pid in pg_stat_activity; the first silo when none is).
# Prints a table and writes bench/results/<date>-<scenario>.md. Exit code: 0 verified, 1 verification failed (data wrong or
# lost), 2 cannot run. Never fails because something is slow.
#
# Environment: DP_LOAD_PG_PORT (54359), DP_LOAD_HTTP_PORT (5095; gateways use the next ports), DP_LOAD_SILO_PORT (11359),
# DP_LOAD_GATEWAY_PORT (30359), DP_LOAD_KEEP=1 (leave service and PostgreSQL running), DP_LOAD_CONNECTION_OPTIONS (appended to
# the service's connection string). Service settings such as
# DP_MAX_CONCURRENT_IMPORTS or DP_MAX_CONCURRENT_UPLOADS are passed on to the service and shown in the report.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
OUT=$REPO/bench/out
ART=$OUT/artifacts-load
mkdir -p "$OUT"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

scenario=smoke
if (($#)) && [[ $1 != --* ]]; then scenario=$1; shift; fi
silos=0 gateways=1 external=0 silos_label=
harness=()
while (($#)); do
  case $1 in
    --silos) silos=${2:?--silos needs a number}; silos_label=$2; harness+=(--silos "$2"); shift 2 ;;
    --gateways) gateways=${2:?--gateways needs a number}; shift 2 ;;
    --url) external=1; harness+=("$1" "${2:?--url needs a value}"); shift 2 ;;
    *) harness+=("$1"); shift ;;
  esac
done
[[ $silos =~ ^[0-9]+$ && $gateways =~ ^[1-9][0-9]*$ ]] || { echo "load.sh: --silos and --gateways take whole numbers" >&2; exit 2; }
if [[ $scenario == chaos && $external == 0 && $silos == 0 ]]; then silos=3; silos_label=3; harness+=(--silos 3); fi

# The load client shares the machine with what it measures: it is published ReadyToRun like the service (scripts/build.sh), so
# its CPU goes to sending uploads, not to compiling itself (a perf profile of session 6: 58% of its samples in tiered compilation).
# shellcheck disable=SC1091 # scripts/build.sh, found at run time
source "$REPO/scripts/build.sh"
log "publishing bench/LoadTest (Release, ReadyToRun=${DP_READY_TO_RUN:-true}) into $ART"
dp_publish "$REPO/bench/LoadTest/LoadTest.csproj" "$ART" >"$OUT/load-build.log" 2>&1 || {
  tail -n 40 "$OUT/load-build.log" >&2
  exit 2
}
HARNESS=$DP_PUBLISHED_DLL

if ((external)); then
  cd "$REPO"
  exec dotnet "$HARNESS" "$scenario" --target "running service (given by URL)" "${harness[@]}"
fi

# ---------------------------------------------------------------------------------------------------------------
# Embedded: PostgreSQL, the service (one process or a cluster), then the harness. Only processes started here are stopped.
PG_PORT=${DP_LOAD_PG_PORT:-54359}
HTTP_PORT=${DP_LOAD_HTTP_PORT:-5095}
SILO_PORT=${DP_LOAD_SILO_PORT:-11359}
GATEWAY_PORT=${DP_LOAD_GATEWAY_PORT:-30359}
DB=dpload
DATA_DIR=$OUT/load-data
SERVICE_LOG=$OUT/load-service.log
# shellcheck disable=SC1091 # scripts/postgres.sh, found at run time
source "$REPO/scripts/postgres.sh"

PIDS=()
cleanup() {
  local rc=$? pid
  set +e
  if [[ ${DP_LOAD_KEEP:-0} == 1 ]]; then
    log "DP_LOAD_KEEP=1: service (pids ${PIDS[*]:-none}) on http://localhost:$HTTP_PORT and PostgreSQL on port $PG_PORT left running"
    exit "$rc"
  fi
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  done
  dp_postgres_down "$OUT/load-pg" >/dev/null 2>&1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for ((j = 0; j < gateways; j++)); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$((HTTP_PORT + j))") 2>/dev/null; then
    echo "load.sh: port $((HTTP_PORT + j)) is already in use; set DP_LOAD_HTTP_PORT" >&2
    exit 2
  fi
done

# Published as run.sh publishes (ReadyToRun unless DP_READY_TO_RUN=false): the service under load runs what users run. A
# plain build spent a third of the service's CPU of a many-small run in the JIT (perf, session 6).
log "publishing src/Api and src/Silo (Release, ReadyToRun=${DP_READY_TO_RUN:-true}) into $ART"
{ dp_publish "$REPO/src/Api/Api.csproj" "$ART" && API_DLL=$DP_PUBLISHED_DLL &&
  dp_publish "$REPO/src/Silo/Silo.csproj" "$ART" && SILO_DLL=$DP_PUBLISHED_DLL; } >>"$OUT/load-build.log" 2>&1 || {
  tail -n 40 "$OUT/load-build.log" >&2
  exit 2
}

dp_postgres_up "$OUT/load-pg" "$PG_PORT" "$DB" durable
# pg_stat_statements: what the service's statements cost (calls, backend time), written next to the report after the run.
if [[ $(dp_psql -Atc "SHOW shared_preload_libraries") != *pg_stat_statements* ]]; then
  log "loading pg_stat_statements (restarts the bench PostgreSQL once)"
  dp_psql -qc "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
  dp_postgres_down "$OUT/load-pg" >/dev/null
  dp_postgres_up "$OUT/load-pg" "$PG_PORT" "$DB" durable
fi
DP_PG_DB=postgres dp_psql -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER $DP_PG_SERVICE_USER" >/dev/null
dp_psql -qc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
rm -rf "$DATA_DIR"
mkdir -p "$DATA_DIR"
: >"$SERVICE_LOG"

# DP_LOAD_CONNECTION_OPTIONS: more Npgsql settings for the service's connection string (an A/B of pool or protocol options).
[[ -n ${DP_LOAD_CONNECTION_OPTIONS:-} ]] && DP_POSTGRES="$DP_POSTGRES;$DP_LOAD_CONNECTION_OPTIONS"
export DP_POSTGRES DP_DATA_DIR=$DATA_DIR
# Staged uploads as run.sh keeps them (files in the data directory, shared by a cluster's processes); DP_BENCH_STAGING=database
# stages them in PostgreSQL.
if [[ ${DP_BENCH_STAGING:-files} == database ]]; then export DP_STAGING_DIR=; else export DP_STAGING_DIR=$DATA_DIR/staging; fi
export Logging__Console__TimestampFormat='HH:mm:ss.fff '
wait_ready() { # URL PID
  for _ in $(seq 1 1200); do
    curl -fs -o /dev/null "$1/health/ready" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  tail -n 40 "$SERVICE_LOG" >&2
  echo "load.sh: the service at $1 did not get ready (log $SERVICE_LOG)" >&2
  exit 2
}
urls=()
if ((silos == 0)); then
  log "starting the service (one process: silo + gateway) on http://localhost:$HTTP_PORT (log $SERVICE_LOG)"
  DP_SILO_PORT=$SILO_PORT DP_GATEWAY_PORT=$GATEWAY_PORT dotnet "$API_DLL" --contentRoot "$(cd "$(dirname "$API_DLL")" && pwd)" --urls "http://localhost:$HTTP_PORT" >>"$SERVICE_LOG" 2>&1 &
  PIDS+=($!)
  wait_ready "http://localhost:$HTTP_PORT" "${PIDS[0]}"
  urls+=("http://localhost:$HTTP_PORT")
  target="embedded: one process (silo + gateway), started by bench/load.sh"
  silos_label="1 (embedded in the gateway)"
else
  export DP_CLUSTER_ID="load-$$" DP_SERVICE_ID="load-$$" DP_ADVERTISED_ADDRESS=127.0.0.1
  SILO_PIDS=()
  for ((i = 1; i <= silos; i++)); do
    DP_SILO_PORT=$((SILO_PORT + i - 1)) DP_GATEWAY_PORT=$((GATEWAY_PORT + i - 1)) DP_HEALTH_PORT=$((HTTP_PORT + 100 + i - 1)) \
      dotnet "$SILO_DLL" > >(sed -u "s/^/[silo-$i] /" >>"$SERVICE_LOG") 2>&1 &
    PIDS+=($!)
    SILO_PIDS+=($!)
    log "silo-$i: pid $!"
  done
  for ((j = 1; j <= gateways; j++)); do
    port=$((HTTP_PORT + j - 1))
    DP_MODE=gateway dotnet "$API_DLL" --contentRoot "$(cd "$(dirname "$API_DLL")" && pwd)" --urls "http://localhost:$port" > >(sed -u "s/^/[gateway-$j] /" >>"$SERVICE_LOG") 2>&1 &
    PIDS+=($!)
    log "gateway-$j: pid $! on http://localhost:$port"
    # The first gateway alone mints the bootstrap key; the others start once it is ready.
    ((j == 1)) && wait_ready "http://localhost:$port" "$!"
    urls+=("http://localhost:$port")
  done
  for ((j = 2; j <= gateways; j++)); do wait_ready "http://localhost:$((HTTP_PORT + j - 1))" "${PIDS[silos + j - 1]}"; done
  for ((i = 1; i <= silos; i++)); do wait_ready "http://localhost:$((HTTP_PORT + 100 + i - 1))" "${SILO_PIDS[i - 1]}"; done
  target="embedded: a cluster of $silos silo process(es) and $gateways gateway(s), started by bench/load.sh"
  if [[ $scenario == chaos ]]; then
    harness+=(--kill-one-of "$(IFS=,; echo "${SILO_PIDS[*]}")")
    log "chaos: one of the silos (${SILO_PIDS[*]}), the one running an import, will be killed (SIGKILL) mid-way"
  fi
fi
[[ -s $DATA_DIR/bootstrap-key.txt ]] || { echo "load.sh: no bootstrap key in $DATA_DIR" >&2; exit 2; }
[[ -n $silos_label ]] || silos_label=$silos

cd "$REPO"
rc=0
dp_psql -qc "SELECT pg_stat_statements_reset()" >/dev/null
dotnet "$HARNESS" "$scenario" --url "$(IFS=,; echo "${urls[*]}")" --key-file "$DATA_DIR/bootstrap-key.txt" --copy-baseline \
  --target "$target" --silos "$silos_label" --cpu-service "$(IFS=,; echo "${PIDS[*]}")" --cpu-postgres "$(head -n 1 "$DP_PG_DATA/postmaster.pid")" \
  "${harness[@]}" || rc=$?
# The service's statements of the whole run (datasets created, uploads, imports, verification reads) by backend time, the
# datasets' tables (dp_data.ds_N) taken as one. A COPY FROM STDIN's time includes waiting for the service to send its rows.
dp_psql -Atc "SELECT lpad(sum(calls)::text, 7) || lpad(round(sum(total_exec_time))::text, 9) || ' ms ' || lpad(round((sum(total_exec_time) / sum(calls))::numeric, 2)::text, 8) || ' ms/call  ' || q
              FROM (SELECT calls, total_exec_time, left(regexp_replace(regexp_replace(query, 'ds_[0-9]+', 'ds_N', 'g'), '\s+', ' ', 'g'), 150) AS q
                    FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                    WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = '$DB') AND r.rolname = '$DP_PG_SERVICE_USER') t
              GROUP BY q ORDER BY sum(total_exec_time) DESC LIMIT 45" >"$OUT/load-statements.txt" 2>&1 || true
# Autovacuum's share: how often it vacuumed and analyzed the datasets' tables during the run (its CPU is in PostgreSQL's).
dp_psql -Atc "SELECT 'autovacuum over the datasets'' tables: ' || count(*) || ' tables, ' || COALESCE(sum(autovacuum_count), 0) || ' vacuums, '
                     || COALESCE(sum(autoanalyze_count), 0) || ' analyzes'
              FROM pg_stat_user_tables WHERE schemaname = 'dp_data'" >>"$OUT/load-statements.txt" 2>&1 || true
# ... and every other table it vacuumed or analyzed (catalogs bloated by DDL, the job and staging tables' updates).
dp_psql -Atc "SELECT 'autovacuum: ' || schemaname || '.' || relname || ' ' || autovacuum_count || ' vacuums, ' || autoanalyze_count || ' analyzes'
              FROM pg_stat_all_tables WHERE schemaname <> 'dp_data' AND autovacuum_count + autoanalyze_count > 0
              ORDER BY autovacuum_count + autoanalyze_count DESC LIMIT 12" >>"$OUT/load-statements.txt" 2>&1 || true
log "the service's statements by backend time (calls, total ms): $OUT/load-statements.txt"
exit "$rc"
