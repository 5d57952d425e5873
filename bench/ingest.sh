#!/usr/bin/env bash
# bench/ingest.sh - ingest/download benchmark of DatasetPlatform against plain PostgreSQL COPY.
#
#   bench/ingest.sh [ROWS]        (default 1000000)
#
# One run, one private PostgreSQL (bench/out/pg, port $DP_BENCH_PG_PORT, durable profile like run.sh) with a
# fresh database, the service in Release on $DP_BENCH_HTTP_PORT:
#   1. a CSV of ROWS rows x 11 columns (Date, Country, 9 Decimals), generated once and cached in bench/out/
#   2. baseline: psql \copy FROM into a plain table, and COPY (SELECT * FROM t) TO STDOUT > /dev/null
#   3. DatasetPlatform: PUT /datasets/{id}/data of the CSV into a fresh dataset right after the service started
#      ("csv cold"), the CSV again into a second dataset ("csv", warm), the .csv.gz into a third, then the CSV again
#      with onConflictUpdateDB=true into the second (the merge path); each timed as upload (until 201), processing
#      (201 until Processed) and end-to-end, with service CPU/RSS and PostgreSQL CPU per phase
#   4. GET /datasets/{id}/data (CSV) to /dev/null
# It prints figures and never fails because something is slow; it fails only when it cannot run at all.
# The summary also goes to bench/out/last-run.txt. Needs only the .NET SDK (PostgreSQL is installed by
# scripts/postgres.sh if missing), curl, gzip and awk.
#
# Environment: DP_BENCH_PG_PORT (54349), DP_BENCH_HTTP_PORT (5090), DP_BENCH_SILO_PORT (11349),
# DP_BENCH_GATEWAY_PORT (30349), DP_BENCH_SRC (source tree to benchmark; default this repo),
# DP_BENCH_STAGING=database (stage uploads in PostgreSQL, not in files), DP_BENCH_MERGE=0 (skip the merge re-upload), DP_BENCH_KEEP=1 (leave service and PostgreSQL running),
# DP_BENCH_TIMEOUT (seconds to wait for one import, default 3600; then it is reported as a timeout).
set -euo pipefail

ROWS=${1:-1000000}
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [ROWS]" >&2; exit 2; }
REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=$(cd "${DP_BENCH_SRC:-$REPO}" && pwd)
OUT=$REPO/bench/out
PG_PORT=${DP_BENCH_PG_PORT:-54349}
HTTP_PORT=${DP_BENCH_HTTP_PORT:-5090}
SILO_PORT=${DP_BENCH_SILO_PORT:-11349}
GATEWAY_PORT=${DP_BENCH_GATEWAY_PORT:-30349}
TIMEOUT=${DP_BENCH_TIMEOUT:-3600}
DB=dpbench
BASE=http://localhost:$HTTP_PORT
MANIFEST='[{"sourceName":"Date","dataType":"Date","isEntity":true,"dateFormat":"%Y-%m-%d"},{"sourceName":"Country","dataType":"String","isEntity":true}]'
# The build goes to its own artifacts directory so it never touches src/*/bin|obj of a running ./run.sh or ./test.sh.
ART=$OUT/artifacts/$(printf '%s' "$SRC" | sha1sum | cut -c1-8)
CSV=$OUT/ingest-$ROWS.csv
GZ=$CSV.gz
DATA_DIR=$OUT/data
SERVICE_LOG=$OUT/service.log
RSS_LOG=$OUT/rss.log
SUMMARY=$OUT/last-run.txt
CLK_TCK=$(getconf CLK_TCK)
mkdir -p "$OUT"
# shellcheck disable=SC1091 # scripts/postgres.sh, found at run time
source "$REPO/scripts/postgres.sh"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
# sub A B -> B - A with 3 decimals; div A B -> A / B (0 when B is 0)
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print 0; else printf "%.6f", a / b }'; }
json_num() { { grep -o "\"$1\":[0-9]*" <<<"$2" || true; } | head -n 1 | cut -d: -f2; }
json_str() { { grep -o "\"$1\":\"[^\"]*\"" <<<"$2" || true; } | head -n 1 | cut -d: -f2- | sed 's/^"//; s/"$//'; }

# ---------------------------------------------------------------------------------------------------------------
# Cleanup: only the processes this script started, by pid.
RUN_PID='' API_PID='' SAMPLER_PID=''
cleanup() {
  local rc=$?
  set +e
  [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
  if [[ ${DP_BENCH_KEEP:-0} == 1 ]]; then
    log "DP_BENCH_KEEP=1: service (pid ${API_PID:-?}) on $BASE and PostgreSQL on port $PG_PORT left running"
    exit "$rc"
  fi
  if [[ -n $API_PID ]] && kill -0 "$API_PID" 2>/dev/null; then
    kill -TERM "$API_PID" 2>/dev/null
    for _ in $(seq 1 75); do kill -0 "$API_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$API_PID" 2>/dev/null && kill -KILL "$API_PID" 2>/dev/null
  fi
  if [[ -n $RUN_PID ]] && kill -0 "$RUN_PID" 2>/dev/null; then
    kill -TERM "$RUN_PID" 2>/dev/null
    wait "$RUN_PID" 2>/dev/null
  fi
  dp_postgres_down "$OUT/pg" >/dev/null 2>&1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------------------
# Process accounting: CPU seconds of the service and of the whole PostgreSQL cluster, RSS samples.
proc_ticks() { # utime+stime (+ reaped children's when $2=children) of pid $1, in ticks
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  # shellcheck disable=SC2086
  set -- $rest "${2:-}"
  # after the comm field: state(1) ... utime(12) stime(13) cutime(14) cstime(15)
  if [[ ${!#} == children ]]; then echo $((${12} + ${13} + ${14} + ${15})); else echo $((${12} + ${13})); fi
}
service_cpu() { [[ -n $API_PID ]] && proc_ticks "$API_PID" || echo 0; }
postgres_cpu() { # postmaster incl. reaped backends + live backends (all have the data dir as cwd)
  local real pm total=0 p
  real=$DP_PG_DATA
  pm=$(sed -n 1p "$real/postmaster.pid" 2>/dev/null) || { echo 0; return; }
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/cwd" 2>/dev/null) == "$real" ]] || continue
    if [[ ${p#/proc/} == "$pm" ]]; then
      total=$((total + $(proc_ticks "$pm" children)))
    else
      total=$((total + $(proc_ticks "${p#/proc/}")))
    fi
  done
  echo "$total"
}
ticks_to_s() { awk -v t="$1" -v h="$CLK_TCK" 'BEGIN { printf "%.1f", t / h }'; }
rss_max_mb() { # max sampled RSS (MB) between epoch $1 and $2
  awk -v a="$1" -v b="$2" '$1 >= a - 0.25 && $1 <= b && $2 > m { m = $2 } END { if (m) printf "%.0f", m / 1024; else print "-" }' "$RSS_LOG"
}
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# PostgreSQL statements slower than log_min_duration_statement, logged since byte offset $1.
pg_log_size() { stat -L -c %s "$DP_PG_LOG" 2>/dev/null || echo 0; }
pg_slow_since() {
  tail -c +"$(($1 + 1))" "$DP_PG_LOG" 2>/dev/null |
    { grep -E 'duration: [0-9.]+ ms|checkpoint complete' || true; } |
    sed -E 's/^.*duration: ([0-9.]+) ms +(statement|execute [^:]*|parse [^:]*|bind [^:]*): */\1 ms  /; s/^.*(checkpoint complete).*write=([0-9.]+ s).*$/checkpoint complete (write \2)/' |
    cut -c1-150 | awk '{ printf "      %s\n", $0 }'
}

# ---------------------------------------------------------------------------------------------------------------
# 1. Data files (cached).
if [[ ! -s $CSV ]]; then
  log "generating $CSV ($ROWS rows)"
  LC_ALL=C awk -v n="$ROWS" -f "$REPO/bench/gen-csv.awk" >"$CSV.tmp"
  mv -f "$CSV.tmp" "$CSV"
fi
if [[ ! -s $GZ || $GZ -ot $CSV ]]; then
  log "compressing $GZ (gzip -1)"
  gzip -1 -c "$CSV" >"$GZ.tmp"
  mv -f "$GZ.tmp" "$GZ"
fi
CSV_BYTES=$(stat -c %s "$CSV")
GZ_BYTES=$(stat -c %s "$GZ")

# ---------------------------------------------------------------------------------------------------------------
# 2. Build the service (Release) before anything is timed.
for port in "$HTTP_PORT" "$SILO_PORT" "$GATEWAY_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench: port $port is already in use; set DP_BENCH_HTTP_PORT / DP_BENCH_SILO_PORT / DP_BENCH_GATEWAY_PORT" >&2
    exit 1
  fi
done
log "building $SRC/src/Api (Release) into $ART"
t=$(now)
dotnet build "$SRC/src/Api/Api.csproj" -c Release --artifacts-path "$ART" -v quiet -nologo >"$OUT/build.log" 2>&1 || {
  cat "$OUT/build.log" >&2
  echo "bench: build failed (log $OUT/build.log)" >&2
  exit 1
}
log "build took $(sub "$t" "$(now)") s"

# ---------------------------------------------------------------------------------------------------------------
# 3. PostgreSQL with a fresh database.
dp_postgres_up "$OUT/pg" "$PG_PORT" "$DB" durable
DP_PG_DB=postgres dp_psql -q -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB OWNER $DP_PG_SERVICE_USER" \
  -c "ALTER DATABASE $DB SET log_min_duration_statement = 200" >/dev/null
PG_VERSION=$(dp_psql -At -c "SHOW server_version")
rm -rf "$DATA_DIR"
mkdir -p "$DATA_DIR"

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
DATE_RUN=$(date -u '+%Y-%m-%d %H:%M UTC')
if GIT_REV=$(git -C "$SRC" rev-parse --short HEAD 2>/dev/null); then
  GIT_REV="@ $GIT_REV ($(git -C "$SRC" status --porcelain --untracked-files=no -- src 2>/dev/null | wc -l) modified files under src/)"
else
  GIT_REV="(not a git checkout)"
fi

declare -A R # results: R[key]=value

# Runs "$@" (a dp_psql call) timed; sets T_ELAPSED, and R[<name>.pgcpu] from the PostgreSQL CPU it took.
timed_psql() {
  local name=$1 t0 c0 l0
  shift
  dp_psql -q -c "CHECKPOINT" >/dev/null
  l0=$(pg_log_size)
  c0=$(postgres_cpu)
  t0=$(now)
  "$@"
  T_ELAPSED=$(sub "$t0" "$(now)")
  R[$name.pgcpu]=$(ticks_to_s $(($(postgres_cpu) - c0)))
  R[$name.slow]=$(pg_slow_since "$l0")
}

COLS="d date, country text, gdp double precision, growth double precision, inflation double precision,
  unemployment double precision, population double precision, exports double precision, imports double precision,
  rate double precision, fx double precision"
log "baseline: \\copy FROM into an existing table"
dp_psql -q -c "CREATE TABLE bench_copy ($COLS)"
timed_psql copy_in dp_psql -q -c "\\copy bench_copy FROM '$CSV' WITH (FORMAT csv, HEADER true)"
R[copy_in.s]=$T_ELAPSED
log "  $T_ELAPSED s"
log "baseline: \\copy FROM into a table created in the same transaction (no WAL under wal_level=minimal)"
timed_psql copy_in_txn dp_psql -q -1 -c "CREATE TABLE bench_copy_txn ($COLS)" \
  -c "\\copy bench_copy_txn FROM '$CSV' WITH (FORMAT csv, HEADER true)"
R[copy_in_txn.s]=$T_ELAPSED
log "  $T_ELAPSED s"
R[copy_rows]=$(dp_psql -At -c "SELECT count(*) FROM bench_copy")
log "baseline: COPY (SELECT * FROM t) TO STDOUT (csv) > /dev/null"
timed_psql copy_out dp_psql -q -c "COPY (SELECT * FROM bench_copy) TO STDOUT (FORMAT csv)" >/dev/null
R[copy_out.s]=$T_ELAPSED
log "  $T_ELAPSED s"
dp_psql -q -c "DROP TABLE bench_copy" -c "DROP TABLE bench_copy_txn"

# ---------------------------------------------------------------------------------------------------------------
# 4. The service.
log "starting the service on $BASE (log $SERVICE_LOG)"
: >"$SERVICE_LOG"
(
  cd "$SRC"
  export DP_POSTGRES DP_DATA_DIR=$DATA_DIR DP_SILO_PORT=$SILO_PORT DP_GATEWAY_PORT=$GATEWAY_PORT
  # Staged uploads as run.sh keeps them (files in the data directory); DP_BENCH_STAGING=database stages them in PostgreSQL.
  if [[ ${DP_BENCH_STAGING:-files} == database ]]; then export DP_STAGING_DIR=; else export DP_STAGING_DIR=$DATA_DIR/staging; fi
  export Logging__Console__TimestampFormat='HH:mm:ss.fff '
  exec dotnet run --project src/Api/Api.csproj -c Release --no-build --artifacts-path "$ART" --no-launch-profile \
    -- --urls "$BASE"
) >>"$SERVICE_LOG" 2>&1 &
RUN_PID=$!
t=$(now)
# `dotnet run` starts the app host as a child: that child is the service process.
for _ in $(seq 1 600); do
  for c in $(ps -o pid= --ppid "$RUN_PID" 2>/dev/null); do
    if tr '\0' ' ' <"/proc/$c/cmdline" 2>/dev/null | grep -q 'DatasetPlatform.Api'; then API_PID=$c; fi
  done
  [[ -n $API_PID ]] && break
  kill -0 "$RUN_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -n $API_PID ]] || { tail -n 30 "$SERVICE_LOG" >&2; echo "bench: the service did not start" >&2; exit 1; }
for _ in $(seq 1 1200); do
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/health/ready" 2>/dev/null) == 200 && -s $DATA_DIR/bootstrap-key.txt ]] && break
  kill -0 "$API_PID" 2>/dev/null || break
  sleep 0.1
done
[[ -s $DATA_DIR/bootstrap-key.txt ]] || { tail -n 30 "$SERVICE_LOG" >&2; echo "bench: the service is not ready" >&2; exit 1; }
KEY=$(tr -d '[:space:]' <"$DATA_DIR/bootstrap-key.txt")
log "service pid $API_PID ready after $(sub "$t" "$(now)") s"
R[rss_idle]=$(($(status_kb "$API_PID" VmRSS) / 1024))

(
  while kill -0 "$API_PID" 2>/dev/null; do
    printf '%s %s\n' "$EPOCHREALTIME" "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$API_PID/status" 2>/dev/null)"
    sleep 0.2
  done
) >"$RSS_LOG" 2>/dev/null &
SAMPLER_PID=$!

api() { # METHOD PATH [curl args...] -> body on stdout; fails on a non-2xx
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body -u "$KEY:" -X "$method" "$BASE$path" "$@"
}
REPO_JSON=$(api POST /repositories -d name=Bench -d privacy=Private)
REPO_ID=$(json_num id "$REPO_JSON")
new_dataset() { json_num id "$(api POST /datasets -d "name=$1" -d "repositoryId=$REPO_ID")"; }

# upload NAME DATASET FILE [QUERY]: one timed upload + processing; results in R[NAME.*].
upload() {
  local name=$1 ds=$2 file=$3 query=${4:-} t0 t1 t2 c0 p0 l0 code body job status row started srv_proc rows_read ins upd
  dp_psql -q -c "CHECKPOINT" >/dev/null
  l0=$(pg_log_size)
  c0=$(service_cpu)
  p0=$(postgres_cpu)
  log "$name: PUT /datasets/$ds/data$query ($(basename "$file"))"
  t0=$(now)
  code=$(curl -sS -o "$OUT/upload-$name.json" -w '%{http_code}' -u "$KEY:" -H 'Expect:' -X PUT \
    "$BASE/datasets/$ds/data$query" -F "data=@$file" -F "manifest=$MANIFEST") || code=000
  t1=$(now)
  R[$name.svccpu_up]=$(ticks_to_s $(($(service_cpu) - c0)))
  c0=$(service_cpu)
  body=$(cat "$OUT/upload-$name.json" 2>/dev/null || true)
  R[$name.upload]=$(sub "$t0" "$t1")
  R[$name.t0]=$t0
  R[$name.t1]=$t1
  if [[ $code != 201 ]]; then
    R[$name.status]="HTTP $code"
    R[$name.desc]=$(head -c 300 <<<"$body")
    log "  upload failed: HTTP $code $body"
    return 0
  fi
  job=$(json_num id "$body")
  log "  201 after ${R[$name.upload]} s (process $job); waiting for it"
  status=Requested
  while :; do
    body=$(api GET "/datasets/$ds/processes/$job" 2>/dev/null) || body=
    status=$(json_str status "$body")
    [[ $status == Processed || $status == Error ]] && break
    if (($(awk -v a="$t1" -v b="$(now)" -v m="$TIMEOUT" 'BEGIN { print (b - a > m) }'))); then
      status="timeout after $TIMEOUT s ($status)"
      break
    fi
    sleep 0.2
  done
  t2=$(now)
  R[$name.t2]=$t2
  R[$name.status]=$status
  R[$name.desc]=$(json_str statusDescription "$body")
  R[$name.process]=$(sub "$t1" "$t2")
  R[$name.e2e]=$(sub "$t0" "$t2")
  R[$name.svccpu]=$(ticks_to_s $(($(service_cpu) - c0)))
  R[$name.pgcpu]=$(ticks_to_s $(($(postgres_cpu) - p0)))
  R[$name.rss_up]=$(rss_max_mb "$t0" "$t1")
  R[$name.rss_proc]=$(rss_max_mb "$t1" "$t2")
  # Server-side: when the job started (queue wait after the 201) and its recorded timestamps.
  row=$(dp_psql -At -F '|' -c "SELECT extract(epoch FROM started_at), extract(epoch FROM processed_at - started_at),
      rows_read, rows_inserted, rows_updated, status FROM dp.import_jobs WHERE id = $job")
  IFS='|' read -r started srv_proc rows_read ins upd _ <<<"$row"
  R[$name.srv_proc]=$srv_proc R[$name.rows_read]=$rows_read R[$name.ins]=$ins R[$name.upd]=$upd
  R[$name.wait]=$(sub "$t1" "${started:-$t1}")
  R[$name.slow]=$(pg_slow_since "$l0")
  log "  $status after ${R[$name.process]} s: ${R[$name.desc]}"
}

# The first import after start runs while .NET is still compiling the hot paths (tiered JIT): it is measured on its
# own ("csv cold"); the same file then goes into a second dataset with a warm service ("csv"), the main figure.
DS0=$(new_dataset "Bench CSV cold")
upload cold "$DS0" "$CSV" "?deleteMissingFromDB=false&onConflictUpdateDB=false"
DS1=$(new_dataset "Bench CSV")
upload csv "$DS1" "$CSV" "?deleteMissingFromDB=false&onConflictUpdateDB=false"

# Download: the dataset as CSV.
if [[ ${R[csv.status]:-} == Processed ]]; then
  dp_psql -q -c "CHECKPOINT" >/dev/null
  l0=$(pg_log_size)
  c0=$(service_cpu)
  p0=$(postgres_cpu)
  log "download: GET /datasets/$DS1/data > /dev/null"
  t0=$(now)
  dl=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' -u "$KEY:" "$BASE/datasets/$DS1/data") || dl="000 0"
  t1=$(now)
  R[dl.s]=$(sub "$t0" "$t1")
  R[dl.code]=${dl% *}
  R[dl.bytes]=${dl#* }
  R[dl.svccpu]=$(ticks_to_s $(($(service_cpu) - c0)))
  R[dl.pgcpu]=$(ticks_to_s $(($(postgres_cpu) - p0)))
  R[dl.rss]=$(rss_max_mb "$t0" "$t1")
  R[dl.slow]=$(pg_slow_since "$l0")
  log "  HTTP ${R[dl.code]}, ${R[dl.bytes]} bytes in ${R[dl.s]} s"
fi

DS2=$(new_dataset "Bench CSV.GZ")
upload gz "$DS2" "$GZ" "?deleteMissingFromDB=false&onConflictUpdateDB=false"

if [[ ${DP_BENCH_MERGE:-1} != 0 && ${R[csv.status]:-} == Processed ]]; then
  # Same rows again into the loaded dataset: not skipped (other flags), so it stages and merges set-based.
  upload merge "$DS1" "$CSV" "?deleteMissingFromDB=false&onConflictUpdateDB=true"
fi
R[hwm]=$(($(status_kb "$API_PID" VmHWM) / 1024))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------------------------
# 5. Summary.
rps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s + 0 <= 0) print "-"; else printf "%.0f", n / s }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 <= 0) print "-"; else printf "%.0f%%", 100 * a / b }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
line() { # label seconds rows/s pct note
  printf '  %-50s %9s %11s %8s  %s\n' "$1" "$2" "$3" "$4" "${5:-}"
}
IN_RPS=$(rps "$ROWS" "${R[copy_in.s]}")
OUT_RPS=$(rps "$ROWS" "${R[copy_out.s]}")
phase_lines() { # name label-prefix (upload / processing / end-to-end)
  local n=$1 p=$2 up proc e2e
  if [[ -z ${R[$n.status]:-} ]]; then return; fi
  up=${R[$n.upload]}
  line "$p upload (HTTP PUT until 201)" "$up" "$(rps "$ROWS" "$up")" "" "staging: ${DP_BENCH_STAGING:-files}"
  if [[ -n ${R[$n.process]:-} ]]; then
    proc=${R[$n.process]}
    e2e=${R[$n.e2e]}
    line "$p processing (201 until ${R[$n.status]%% *})" "$proc" "$(rps "$ROWS" "$proc")" "$(pct "$(rps "$ROWS" "$proc")" "$IN_RPS")" \
      "queue wait $(awk -v w="${R[$n.wait]}" 'BEGIN { printf "%.2f", w }') s"
    line "$p end-to-end" "$e2e" "$(rps "$ROWS" "$e2e")" "$(pct "$(rps "$ROWS" "$e2e")" "$IN_RPS")"
  fi
}
{
  echo "DatasetPlatform ingest benchmark - $DATE_RUN"
  echo "  rows $ROWS x 11 columns; CSV $(mb "$CSV_BYTES"), csv.gz $(mb "$GZ_BYTES") (gzip -1)"
  echo "  host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
  echo "  PostgreSQL $PG_VERSION (scripts/postgres.sh durable profile, port $PG_PORT); service Release, source $SRC $GIT_REV"
  echo
  line "phase" "seconds" "rows/s" "% base" ""
  line "baseline: psql \\copy FROM (existing table)" "${R[copy_in.s]}" "$IN_RPS" "100%" "PG CPU ${R[copy_in.pgcpu]} s"
  line "baseline: \\copy FROM, table created in same tx" "${R[copy_in_txn.s]}" "$(rps "$ROWS" "${R[copy_in_txn.s]}")" \
    "$(pct "$(rps "$ROWS" "${R[copy_in_txn.s]}")" "$IN_RPS")" "no WAL (wal_level=minimal), like a first load"
  line "baseline: COPY (SELECT *) TO STDOUT > /dev/null" "${R[copy_out.s]}" "$OUT_RPS" "100%" "PG CPU ${R[copy_out.pgcpu]} s"
  phase_lines cold "csv cold:"
  phase_lines csv "csv:"
  if [[ -n ${R[dl.s]:-} ]]; then
    line "csv: download GET /data (CSV) > /dev/null" "${R[dl.s]}" "$(rps "$ROWS" "${R[dl.s]}")" "$(pct "$(rps "$ROWS" "${R[dl.s]}")" "$OUT_RPS")" \
      "HTTP ${R[dl.code]}, $(mb "${R[dl.bytes]}"); vs COPY TO"
  fi
  phase_lines gz "csv.gz:"
  phase_lines merge "re-upload:"
  echo
  echo "  % base: rows/s against the \\copy FROM baseline (the download: against COPY TO). csv cold: the first import after"
  echo "  the service started (.NET still tiering up its JIT code); csv, csv.gz: first loads into fresh datasets with a warm"
  echo "  service; re-upload: the same CSV again into the csv dataset with onConflictUpdateDB=true (staging table, merge;"
  echo "  0 rows change). queue wait: from the 201 until the job's started_at."
  echo
  echo "  per import   status      rows read  inserted  updated  service CPU s upload+processing  PostgreSQL CPU  peak RSS MB upload/processing  processed_at-started_at"
  for n in cold csv gz merge; do
    [[ -n ${R[$n.status]:-} ]] || continue
    printf '  %-11s  %-10s %10s %9s %8s %20s   %12s s  %15s / %-4s    %15s s\n' "$n" "${R[$n.status]%% *}" "${R[$n.rows_read]:--}" "${R[$n.ins]:--}" \
      "${R[$n.upd]:--}" "${R[$n.svccpu_up]:--} + ${R[$n.svccpu]:--}" "${R[$n.pgcpu]:--}" "${R[$n.rss_up]:--}" "${R[$n.rss_proc]:--}" \
      "$(awk -v s="${R[$n.srv_proc]:-}" 'BEGIN { if (s == "") print "-"; else printf "%.3f", s }')"
  done
  if [[ -n ${R[dl.s]:-} ]]; then
    printf '  %-11s  %-10s %10s %9s %8s %20s   %12s s  %15s\n' download "HTTP ${R[dl.code]}" - - - "${R[dl.svccpu]}" "${R[dl.pgcpu]}" "${R[dl.rss]}"
  fi
  echo "  service RSS: idle ${R[rss_idle]} MB after start, peak (VmHWM) ${R[hwm]} MB"
  for n in cold csv gz merge; do
    [[ -n ${R[$n.status]:-} && ${R[$n.status]} != Processed ]] && echo "  $n: ${R[$n.status]}: ${R[$n.desc]}"
  done
  echo
  echo "  PostgreSQL statements >= 200 ms (server log) per phase:"
  for n in copy_in copy_in_txn copy_out cold csv dl gz merge; do
    [[ -n ${R[$n.slow]:-} ]] || continue
    echo "    $n:"
    printf '%s\n' "${R[$n.slow]}"
  done
} | tee "$SUMMARY"
log "summary written to $SUMMARY; service log $SERVICE_LOG; PostgreSQL log $DP_PG_LOG"
