#!/usr/bin/env bash
# Runs DatasetPlatform on this machine: a private PostgreSQL (unless DP_POSTGRES is set), the schema, and either
#   ./run.sh                          one process hosting a silo and the REST gateway (the default), or
#   ./run.sh --silos N [--gateways M] a cluster: N src/Silo processes and M gateways (DP_MODE=gateway, default 1) on
#                                     DP_HTTP_PORT, DP_HTTP_PORT+1, ...; pids in $DP_DATA_DIR/cluster/{silo,gateway}-<i>.pid.
# Ctrl-C (or SIGTERM) stops everything; data stays in $DP_DATA_DIR. In a cluster, a process that exits (kill -9 of a silo)
# is reported and the rest go on.
set -euo pipefail
cd "$(dirname "$0")"
silos=0 gateways=1
while (($#)); do
  case $1 in
    --silos) silos=${2:?--silos needs a number}; shift 2 ;;
    --gateways) gateways=${2:?--gateways needs a number}; shift 2 ;;
    *) echo "usage: ./run.sh [--silos N [--gateways M]]" >&2; exit 2 ;;
  esac
done
[[ $silos =~ ^[0-9]+$ && $gateways =~ ^[0-9]+$ ]] || { echo "run.sh: --silos and --gateways take whole numbers" >&2; exit 2; }
if ((silos > 0 && gateways < 1)); then echo "run.sh: a cluster needs at least one gateway" >&2; exit 2; fi

export DP_DATA_DIR="${DP_DATA_DIR:-$PWD/.data}"
DP_DATA_DIR="$(mkdir -p "$DP_DATA_DIR" && cd "$DP_DATA_DIR" && pwd)"
DP_HTTP_PORT="${DP_HTTP_PORT:-5080}"
# Uploaded files wait for their import as files in one directory every process here shares (out of PostgreSQL's WAL);
# DP_STAGING_DIR= (empty) stages them in PostgreSQL instead.
export DP_STAGING_DIR="${DP_STAGING_DIR-$DP_DATA_DIR/staging}"
source scripts/postgres.sh
source scripts/build.sh

children=()
stop_all() {
  trap - EXIT INT TERM
  local pid
  # SIGTERM first: silos leave the cluster in order and hand their imports back; then wait for each.
  for pid in "${children[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${children[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -f "$DP_DATA_DIR"/cluster/*.pid
  [ -z "${own_postgres:-}" ] || dp_postgres_down "$DP_DATA_DIR/pg"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${DP_POSTGRES:-}" ]; then
  dp_postgres_up "$DP_DATA_DIR/pg" "${DP_PG_SERVICE_PORT:-54329}" datasetplatform durable
  own_postgres=1
fi

# Publish once (ReadyToRun: the first import after start runs precompiled code instead of waiting for the JIT; see
# scripts/build.sh), then run the published assemblies: a `dotnet run` host would stay resident next to each process
# (~125 MB each). Into .build/, so a test.sh building src/*/bin|obj meanwhile is not disturbed.
dp_publish src/Api/Api.csproj "$PWD/.build"
api_dll=$DP_PUBLISHED_DLL
# The published app's own folder as its content root, so it reads its appsettings.json (log levels) from there; by default
# the content root is the current directory, where there is none, and every request and Orleans event was logged at Information.
api_root=$(dirname "$api_dll") # absolute: a relative one is taken from the app's own folder
if ((silos == 0)); then
  echo "DatasetPlatform: http://localhost:$DP_HTTP_PORT"
  dotnet "$api_dll" --contentRoot "$api_root" --urls "http://localhost:$DP_HTTP_PORT" &
  children+=($!)
  wait "${children[0]}"
  exit
fi

dp_publish src/Silo/Silo.csproj "$PWD/.build"
silo_dll=$DP_PUBLISHED_DLL
export DP_CLUSTER_ID="${DP_CLUSTER_ID:-datasetplatform}" DP_SERVICE_ID="${DP_SERVICE_ID:-datasetplatform}"
export DP_ADVERTISED_ADDRESS="${DP_ADVERTISED_ADDRESS:-127.0.0.1}"
silo_port=${DP_SILO_PORT:-11111} gateway_port=${DP_GATEWAY_PORT:-30000} health_port=${DP_HEALTH_PORT:-$((DP_HTTP_PORT + 100))}
mkdir -p "$DP_DATA_DIR/cluster"
rm -f "$DP_DATA_DIR"/cluster/*.pid
for ((i = 1; i <= silos; i++)); do
  DP_SILO_PORT=$((silo_port + i - 1)) DP_GATEWAY_PORT=$((gateway_port + i - 1)) DP_HEALTH_PORT=$((health_port + i - 1)) \
    dotnet "$silo_dll" > >(sed -u "s/^/[silo-$i] /") 2>&1 &
  children+=($!)
  echo $! >"$DP_DATA_DIR/cluster/silo-$i.pid"
  echo "silo-$i: pid $!, Orleans ports $((silo_port + i - 1))/$((gateway_port + i - 1)), health http://localhost:$((health_port + i - 1))/health/ready"
done
for ((j = 1; j <= gateways; j++)); do
  port=$((DP_HTTP_PORT + j - 1))
  DP_MODE=gateway dotnet "$api_dll" --contentRoot "$api_root" --urls "http://localhost:$port" > >(sed -u "s/^/[gateway-$j] /") 2>&1 &
  children+=($!)
  echo $! >"$DP_DATA_DIR/cluster/gateway-$j.pid"
  echo "gateway-$j: pid $!, DatasetPlatform: http://localhost:$port"
  if ((j == 1)); then
    # The first gateway alone mints the bootstrap key (two at once would each mint one); the others start once it is ready.
    until curl -fs -o /dev/null "http://localhost:$port/health/ready"; do
      kill -0 "${children[-1]}" 2>/dev/null || { echo "run.sh: gateway-1 exited during start-up" >&2; exit 1; }
      sleep 0.5
    done
  fi
done
# Run until Ctrl-C. A process that ends (a crash, or a silo killed to try failover) is reported and the others go on, as a
# cluster does: its work moves to the other silos; start a replacement by hand with the line printed above. run.sh ends
# only when no gateway is left.
declare -A names
for ((i = 1; i <= silos; i++)); do names[$(cat "$DP_DATA_DIR/cluster/silo-$i.pid")]=silo-$i; done
for ((j = 1; j <= gateways; j++)); do names[$(cat "$DP_DATA_DIR/cluster/gateway-$j.pid")]=gateway-$j; done
gateways_left=$gateways
report_exit() { # PID STATUS
  local name=${names[$1]:-process $1} pid remaining=()
  # The pid file goes first: once the message is out, nothing names the dead process any more.
  rm -f "$DP_DATA_DIR/cluster/$name.pid"
  echo "run.sh: $name (pid $1) exited with status $2; the rest of the cluster goes on" >&2
  for pid in "${children[@]}"; do [ "$pid" = "$1" ] || remaining+=("$pid"); done
  children=("${remaining[@]}")
  if [[ $name == gateway-* ]]; then gateways_left=$((gateways_left - 1)); fi
}
# A process that ended during start-up (e.g. its port was taken) is reported now: `wait -n` below does not return for a
# child that had already ended before it was called.
for pid in "${children[@]}"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    status=0
    wait "$pid" || status=$?
    report_exit "$pid" "$status"
  fi
done
while ((gateways_left > 0)); do
  status=0
  wait -n -p ended "${children[@]}" || status=$?
  [ -n "${ended:-}" ] || continue
  report_exit "$ended" "$status"
  unset ended
done
echo "run.sh: no gateway is left; stopping the silos" >&2
