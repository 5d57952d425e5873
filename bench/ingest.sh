#!/usr/bin/env bash
# bench/ingest.sh - ingest/download benchmark of DatasetPlatform against plain PostgreSQL COPY, door by door.
#
#   bench/ingest.sh [ROWS]        (default 1000000; 10000000 works too: the upload limit is raised for that run)
#
# One run, one private PostgreSQL (bench/out/pg, port $DP_BENCH_PG_PORT, durable profile like run.sh) with a
# fresh database, the service in Release on $DP_BENCH_HTTP_PORT, built and started like run.sh does (ReadyToRun publish,
# `dotnet <published dll>`):
#   1. a CSV of ROWS rows x 11 columns (Date, Country, 9 Decimals), generated once and cached in bench/out/, with
#      its .csv.gz and a variant with every 10th row's last value changed (for the merge), when those are wanted
#   2. baseline: psql \copy FROM into a plain table, and COPY (SELECT * FROM t) TO STDOUT > /dev/null
#   3. the same CSV through each bulk door into a fresh dataset, timed from the first byte of the upload until the
#      import is seen finished, with the time to the acknowledgement (201/200) apart:
#        alphacast  PUT /datasets/{id}/data (multipart data + manifest, Basic auth), polled on /processes/{id}
#        presigned  GET /datasets/{id}/upload-url/{file} (Token auth), PUT the file to that URL, polled on /imports/{id}
#        versions   POST /api/datasets/upload (seed 004, Bearer, multipart project_id, name, file): answers 201 once
#                   the version exists, so its 201 is its end
#      Each door's first import after the service started is measured on its own ("cold-<door>"; the service is
#      restarted before each door for that), then the door again, warm. Data8 blocks are not a bulk door (PATCHes of <= 1000 records) and are left out; the Alphacast
#      surface has no multipart POST for data (PUT only).
#   4. Alphacast variants: the .csv.gz (gz); the same CSV again with onConflictUpdateDB=true (reupload: 0 rows
#      change); the variant CSV with onConflictUpdateDB=true (merge: 10% of the rows changed), both into the loaded
#      dataset, with the inserted/updated counts read back from the job and checked against what they must be.
#      Seed-004 variant: the same CSV as a second version of the dataset the versions door made (reversion: POST
#      /api/datasets/{id}/versions, which replaces every row of the first version), its row counts checked
#   5. GET /datasets/{id}/data (CSV) of the loaded dataset to /dev/null
# Service and PostgreSQL CPU per phase, the service's peak RSS per phase (VmHWM, reset before each phase) and over
# the run. It prints figures and never fails because something is slow; it fails only when it cannot run at all.
# The summary also goes to bench/out/last-run.txt. Needs only the .NET SDK (PostgreSQL is installed by
# scripts/postgres.sh if missing), curl, gzip and awk.
#
# Environment: DP_BENCH_PG_PORT (54349), DP_BENCH_HTTP_PORT (5090), DP_BENCH_SILO_PORT (11349),
# DP_BENCH_GATEWAY_PORT (30349), DP_BENCH_SRC (source tree to benchmark; default this repo),
# DP_BENCH_DOORS (what to run, comma-separated, in this order: default alphacast,presigned,versions,gz,reupload,merge,reversion),
# DP_BENCH_STAGING=database (stage uploads in PostgreSQL, not in files as run.sh does),
# DP_BENCH_COLD (each: a cold run per door, the service restarted before each door; first: the first door only;
# 0: none), DP_BENCH_MERGE=0 (drops reupload and merge), DP_BENCH_KEEP=1 (leave service and
# PostgreSQL running), DP_BENCH_TIMEOUT (seconds to wait for one import, default 3600; then it is reported as a
# timeout), MAX_DATASET_UPLOAD_BYTES (passed to the service; raised to twice the CSV when unset and the CSV is larger
# than the service's 500 MB default).
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
# A V4 schema defines the dataset's columns (a column it does not name is ignored), so the presigned door's dataset gets
# every column of the file; the Alphacast manifest above names the keys and lets the upload bring the other columns.
SCHEMA_ALL=${MANIFEST%]}
for c in GDP 'GDP Growth' Inflation 'Unemployment Rate' Population Exports Imports 'Interest Rate' 'Exchange Rate'; do
  SCHEMA_ALL+=",{\"sourceName\":\"$c\",\"dataType\":\"Decimal\"}"
done
SCHEMA_ALL+=']'
# The build goes to its own artifacts directory so it never touches src/*/bin|obj of a running ./run.sh or ./test.sh.
ART=$OUT/artifacts/$(printf '%s' "$SRC" | sha1sum | cut -c1-8)
CSV=$OUT/ingest-$ROWS.csv
GZ=$CSV.gz
CHANGED=$OUT/ingest-$ROWS-changed10.csv
DATA_DIR=$OUT/data
SERVICE_LOG=$OUT/service.log
RSS_LOG=$OUT/rss.log
SUMMARY=$OUT/last-run.txt
CLK_TCK=$(getconf CLK_TCK)
RSS_TARGET_MB=300
POLL_S=0.1
mkdir -p "$OUT"
# shellcheck disable=SC1091 # scripts/postgres.sh, found at run time
source "$REPO/scripts/postgres.sh"
# shellcheck disable=SC1091 # scripts/build.sh, found at run time
source "$REPO/scripts/build.sh"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
now() { printf '%s\n' "$EPOCHREALTIME"; }
# sub A B -> B - A with 3 decimals; div A B -> A / B (0 when B is 0)
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print 0; else printf "%.6f", a / b }'; }
json_num() { { grep -o "\"$1\":[0-9]*" <<<"$2" || true; } | head -n 1 | cut -d: -f2; }
json_str() { { grep -o "\"$1\":\"[^\"]*\"" <<<"$2" || true; } | head -n 1 | cut -d: -f2- | sed 's/^"//; s/"$//'; }

# ---------------------------------------------------------------------------------------------------------------
# What to run.
ALL_DOORS=(alphacast presigned versions gz reupload merge reversion)
IFS=, read -r -a WANTED <<<"${DP_BENCH_DOORS:-$(IFS=,; echo "${ALL_DOORS[*]}")}"
declare -A WANT=()
DOORS=() # the bulk doors asked for, in the order given
for d in "${WANTED[@]}"; do
  d=${d// /}
  case $d in
    alphacast | presigned | versions) DOORS+=("$d") ;;
    gz | reupload | merge | reversion) ;;
    blocks) echo "bench: Data8 blocks are not a bulk door (PATCHes of <= 1000 records); bench/load.sh measures them" >&2; exit 2 ;;
    '') continue ;;
    *) echo "bench: DP_BENCH_DOORS: unknown '$d' (alphacast, presigned, versions, gz, reupload, merge, reversion)" >&2; exit 2 ;;
  esac
  WANT[$d]=1
done
if [[ ${DP_BENCH_MERGE:-1} == 0 ]]; then unset 'WANT[reupload]' 'WANT[merge]'; fi
((${#WANT[@]} > 0)) || { echo "bench: DP_BENCH_DOORS names nothing to run" >&2; exit 2; }
wants() { [[ -n ${WANT[$1]:-} ]]; }
COLD=${DP_BENCH_COLD:-each}
case $COLD in each | first) ;; 0 | none) COLD=none ;; *) echo "bench: DP_BENCH_COLD: each, first or 0" >&2; exit 2 ;; esac
# The re-uploads merge into a dataset the Alphacast door loaded: only its rows carry the manifest's keys (a dataset
# loaded through the presigned door keeps records without keys, so an Alphacast upsert into it appends).
if { wants reupload || wants merge; } && ! wants alphacast; then
  echo "bench: reupload/merge need a dataset loaded through the Alphacast door: alphacast added to the doors" >&2
  DOORS+=(alphacast)
  WANT[alphacast]=1
fi
# The re-version is a second version of the dataset the versions door made.
if wants reversion && ! wants versions; then
  echo "bench: reversion needs a dataset made by the versions door: versions added to the doors" >&2
  DOORS+=(versions)
  WANT[versions]=1
fi

# ---------------------------------------------------------------------------------------------------------------
# Cleanup: only the processes this script started, by pid.
API_PID='' SAMPLER_PID=''
cleanup() {
  local rc=$?
  set +e
  if [[ ${DP_BENCH_KEEP:-0} == 1 ]]; then
    [[ -n $SAMPLER_PID ]] && kill "$SAMPLER_PID" 2>/dev/null
    log "DP_BENCH_KEEP=1: service (pid ${API_PID:-?}) on $BASE and PostgreSQL on port $PG_PORT left running"
    exit "$rc"
  fi
  ! declare -F stop_service >/dev/null || stop_service # defined once the service is about to start
  dp_postgres_down "$OUT/pg" >/dev/null 2>&1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------------------------
# Process accounting: CPU seconds of the service and of the whole PostgreSQL cluster, RSS samples and peaks.
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
status_kb() { local v; v=$(awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null); echo "${v:-0}"; }
# The service's peak RSS: the kernel's VmHWM, reset before each phase (clear_refs 5) so that each phase gets its own
# exact peak; the run's peak is the largest of them (kept in PEAK_KB, since a reset loses the earlier one).
PEAK_KB=0 HWM_RESETS=1
peak_keep() { local h; h=$(status_kb "$API_PID" VmHWM); if ((h > PEAK_KB)); then PEAK_KB=$h; fi; }
peak_reset() { peak_keep; { echo 5 >"/proc/$API_PID/clear_refs"; } 2>/dev/null || HWM_RESETS=0; }

# PostgreSQL statements slower than log_min_duration_statement, logged since byte offset $1.
pg_log_size() { stat -L -c %s "$DP_PG_LOG" 2>/dev/null || echo 0; }
pg_slow_since() {
  tail -c +"$(($1 + 1))" "$DP_PG_LOG" 2>/dev/null |
    { grep -E 'duration: [0-9.]+ ms|checkpoint complete' || true; } |
    sed -E 's/^.*duration: ([0-9.]+) ms +(statement|execute [^:]*|parse [^:]*|bind [^:]*): */\1 ms  /; s/^.*(checkpoint complete).*write=([0-9.]+ s).*$/checkpoint complete (write \2)/' |
    cut -c1-150 | awk '{ printf "      %s\n", $0 }'
}

# ---------------------------------------------------------------------------------------------------------------
# 1. Data files (cached) and the disk they need.
if [[ ! -s $CSV ]]; then
  log "generating $CSV ($ROWS rows)"
  LC_ALL=C awk -v n="$ROWS" -f "$REPO/bench/gen-csv.awk" >"$CSV.tmp"
  mv -f "$CSV.tmp" "$CSV"
fi
CSV_BYTES=$(stat -L -c %s "$CSV")
# Every import of the file leaves a dataset table about its size (plus staged bytes and WAL for a while): refuse at
# once rather than fill the disk under PostgreSQL half-way through.
IMPORTS=${#WANT[@]} # one per door and variant, plus the cold runs
case $COLD in each) IMPORTS=$((IMPORTS + ${#DOORS[@]})) ;; first) IMPORTS=$((IMPORTS + 1)) ;; esac
NEED_BYTES=$((CSV_BYTES * (8 + 3 * IMPORTS) / 2))
FREE_BYTES=$(($(df -Pk "$OUT" | awk 'NR == 2 { print $4 }') * 1024))
if ((FREE_BYTES < NEED_BYTES)); then
  echo "bench: $((FREE_BYTES >> 20)) MiB free under $OUT, this run needs about $((NEED_BYTES >> 20)) MiB (files, tables, staging, WAL)" >&2
  exit 1
fi
if wants gz && [[ ! -s $GZ || $GZ -ot $CSV ]]; then
  log "compressing $GZ (gzip -1)"
  gzip -1 -c "$CSV" >"$GZ.tmp"
  mv -f "$GZ.tmp" "$GZ"
fi
# Same keys, the last value (Exchange Rate: never quoted, so $NF whatever the Country) + 1 in every 10th data row.
CHANGED_ROWS=$((ROWS / 10))
if wants merge && [[ ! -s $CHANGED || $CHANGED -ot $CSV ]]; then
  log "writing $CHANGED (every 10th row changed)"
  LC_ALL=C awk -F, -v OFS=, 'NR > 1 && (NR - 1) % 10 == 0 { $NF = sprintf("%.4f", $NF + 1) } { print }' "$CSV" >"$CHANGED.tmp"
  mv -f "$CHANGED.tmp" "$CHANGED"
fi
GZ_BYTES=$(stat -c %s "$GZ" 2>/dev/null || echo 0)

# The service refuses uploads above MAX_DATASET_UPLOAD_BYTES (default 500 MB): a larger file needs it raised.
UPLOAD_LIMIT_NOTE="service default"
if [[ -n ${MAX_DATASET_UPLOAD_BYTES:-} ]]; then
  UPLOAD_LIMIT_NOTE="MAX_DATASET_UPLOAD_BYTES=$MAX_DATASET_UPLOAD_BYTES (given)"
elif ((CSV_BYTES > 500 * 1024 * 1024 - 1024 * 1024)); then
  MAX_DATASET_UPLOAD_BYTES=$((CSV_BYTES * 2))
  UPLOAD_LIMIT_NOTE="MAX_DATASET_UPLOAD_BYTES=$MAX_DATASET_UPLOAD_BYTES (raised for this file)"
fi

# ---------------------------------------------------------------------------------------------------------------
# 2. Build the service (Release) before anything is timed.
for port in "$HTTP_PORT" "$SILO_PORT" "$GATEWAY_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "bench: port $port is already in use; set DP_BENCH_HTTP_PORT / DP_BENCH_SILO_PORT / DP_BENCH_GATEWAY_PORT" >&2
    exit 1
  fi
done
log "publishing $SRC/src/Api (Release, as run.sh: ReadyToRun unless DP_READY_TO_RUN=false) into $ART"
t=$(now)
dp_publish "$SRC/src/Api/Api.csproj" "$ART" >"$OUT/build.log" 2>&1 || {
  cat "$OUT/build.log" >&2
  echo "bench: build failed (log $OUT/build.log)" >&2
  exit 1
}
API_DLL=$DP_PUBLISHED_DLL
log "build took $(sub "$t" "$(now)") s"

# ---------------------------------------------------------------------------------------------------------------
# 3. PostgreSQL with a fresh database, and the baselines.
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

# settle: waits (up to 60 s) until no ANALYZE or VACUUM runs in the database, then takes a checkpoint, so that a phase
# starts on a quiet PostgreSQL: after a big import the service analyzes the table in the background and autovacuum
# follows, and on two cores either would take a share of the next phase. Logs how long it waited (0.2-1.0 s in a 1M run,
# the checkpoint included).
settle() {
  local t0 busy
  t0=$(now)
  for _ in $(seq 1 600); do
    busy=$(dp_psql -Atc "SELECT (SELECT count(*) FROM pg_stat_progress_analyze) + (SELECT count(*) FROM pg_stat_progress_vacuum)")
    [[ $busy == 0 ]] && break
    sleep 0.1
  done
  dp_psql -q -c "CHECKPOINT" >/dev/null
  log "  settled: $(sub "$t0" "$(now)") s waiting for background ANALYZE/VACUUM and the checkpoint"
}

# Runs "$@" (a dp_psql call) timed; sets T_ELAPSED, and R[<name>.pgcpu] from the PostgreSQL CPU it took.
timed_psql() {
  local name=$1 t0 c0 l0
  shift
  settle
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
# 4. The service, started the way run.sh starts it: the built dll, its own folder as content root (appsettings.json).
# With DP_BENCH_COLD=each it is restarted before each door, so that every door has a first import after start.
: >"$SERVICE_LOG"
: >"$RSS_LOG"
STARTS=0
start_service() {
  local t
  log "starting the service on $BASE (log $SERVICE_LOG; $UPLOAD_LIMIT_NOTE)"
  (
    cd "$SRC"
    export DP_POSTGRES DP_DATA_DIR=$DATA_DIR DP_SILO_PORT=$SILO_PORT DP_GATEWAY_PORT=$GATEWAY_PORT
    [[ -z ${MAX_DATASET_UPLOAD_BYTES:-} ]] || export MAX_DATASET_UPLOAD_BYTES
    # Staged uploads as run.sh keeps them (files in the data directory); DP_BENCH_STAGING=database stages them in PostgreSQL.
    if [[ ${DP_BENCH_STAGING:-files} == database ]]; then export DP_STAGING_DIR=; else export DP_STAGING_DIR=$DATA_DIR/staging; fi
    export Logging__Console__TimestampFormat='HH:mm:ss.fff '
    exec dotnet "$API_DLL" --contentRoot "$(dirname "$API_DLL")" --urls "$BASE"
  ) >>"$SERVICE_LOG" 2>&1 &
  API_PID=$!
  t=$(now)
  for _ in $(seq 1 1200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/health/ready" 2>/dev/null) == 200 && -s $DATA_DIR/bootstrap-key.txt ]] && break
    kill -0 "$API_PID" 2>/dev/null || break
    sleep 0.1
  done
  [[ $(curl -s -o /dev/null -w '%{http_code}' "$BASE/health/ready" 2>/dev/null) == 200 && -s $DATA_DIR/bootstrap-key.txt ]] ||
    { tail -n 30 "$SERVICE_LOG" >&2; echo "bench: the service is not ready" >&2; exit 1; }
  KEY=$(tr -d '[:space:]' <"$DATA_DIR/bootstrap-key.txt")
  STARTS=$((STARTS + 1))
  R[ready_s]="${R[ready_s]:+${R[ready_s]}, }$(sub "$t" "$(now)")"
  R[rss_idle]="${R[rss_idle]:+${R[rss_idle]}, }$(($(status_kb "$API_PID" VmRSS) / 1024))"
  log "service pid $API_PID ready after $(sub "$t" "$(now)") s"
  (
    while kill -0 "$API_PID" 2>/dev/null; do
      printf '%s %s\n' "$EPOCHREALTIME" "$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$API_PID/status" 2>/dev/null)"
      sleep 0.2
    done
  ) >>"$RSS_LOG" 2>/dev/null &
  SAMPLER_PID=$!
}
stop_service() { # keeps its peak RSS, then SIGTERM (a clean stop), SIGKILL after 15 s
  [[ -n $API_PID ]] || return 0
  if kill -0 "$API_PID" 2>/dev/null; then
    peak_keep
    kill -TERM "$API_PID" 2>/dev/null || true
    for _ in $(seq 1 75); do kill -0 "$API_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$API_PID" 2>/dev/null && kill -KILL "$API_PID" 2>/dev/null
  fi
  wait "$API_PID" 2>/dev/null || true
  # The sampler ends by itself once the service is gone (kill then finds nothing: not an error).
  [[ -z $SAMPLER_PID ]] || { kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; }
  API_PID='' SAMPLER_PID=''
}
start_service

api() { # METHOD PATH [curl args...] -> body on stdout; fails on a non-2xx
  local method=$1 path=$2
  shift 2
  curl -sS --fail-with-body -u "$KEY:" -X "$method" "$BASE$path" "$@"
}
REPO_JSON=$(api POST /repositories -d name=Bench -d privacy=Private)
REPO_ID=$(json_num id "$REPO_JSON")
new_dataset() { json_num id "$(api POST /datasets -d "name=$1" -d "repositoryId=$REPO_ID")"; }

# ---------------------------------------------------------------------------------------------------------------
# One timed import ("phase"): phase_begin, the door's request(s) with phase_ack when the upload is acknowledged, a
# wait until the door shows the import finished, phase_end. Results in R[NAME.*]:
#   t0 first byte sent; t1 acknowledged; t2 seen finished; upload = t1-t0, process = t2-t1, e2e = t2-t0;
#   status (the door's own word), ok (1 when the data is in), desc; job (dp.import_jobs id) and what it recorded.
PH_L0=0 PH_C0=0 PH_P0=0
phase_begin() { # NAME LABEL
  R[$1.label]=$2
  settle
  PH_L0=$(pg_log_size)
  PH_C0=$(service_cpu)
  PH_P0=$(postgres_cpu)
  peak_reset
  R[$1.t0]=$(now)
}
phase_ack() { # NAME
  R[$1.t1]=$(now)
  R[$1.upload]=$(sub "${R[$1.t0]}" "${R[$1.t1]}")
  R[$1.svccpu_up]=$(ticks_to_s $(($(service_cpu) - PH_C0)))
  PH_C0=$(service_cpu)
}
phase_fail() { # NAME HTTP-CODE BODY-FILE WHAT
  R[$1.status]="HTTP $2"
  R[$1.desc]="$4: $(head -c 300 "$3" 2>/dev/null | tr '\n' ' ')"
  log "  $4 failed: HTTP $2 ${R[$1.desc]}"
}
phase_end() { # NAME (after the wait)
  local n=$1 row created started processed read ins upd del
  R[$n.t2]=${R[$n.t2]:-$(now)}
  R[$n.process]=$(sub "${R[$n.t1]}" "${R[$n.t2]}")
  R[$n.e2e]=$(sub "${R[$n.t0]}" "${R[$n.t2]}")
  R[$n.svccpu]=$(ticks_to_s $(($(service_cpu) - PH_C0)))
  R[$n.pgcpu]=$(ticks_to_s $(($(postgres_cpu) - PH_P0)))
  R[$n.rss_up]=$(rss_max_mb "${R[$n.t0]}" "${R[$n.t1]}")
  R[$n.rss_proc]=$(rss_max_mb "${R[$n.t1]}" "${R[$n.t2]}")
  if ((HWM_RESETS)); then R[$n.peak]=$(($(status_kb "$API_PID" VmHWM) / 1024)); else R[$n.peak]=$(rss_max_mb "${R[$n.t0]}" "${R[$n.t2]}"); fi
  peak_keep
  R[$n.slow]=$(pg_slow_since "$PH_L0")
  if [[ ${R[$n.job]:-} =~ ^[0-9]+$ ]]; then
    # What the job recorded: counts, and when it started (queue wait after staging) and finished, on the server's clock.
    row=$(dp_psql -At -F '|' -c "SELECT extract(epoch FROM created_at), extract(epoch FROM started_at), extract(epoch FROM processed_at),
        rows_read, rows_inserted, rows_updated, rows_deleted FROM dp.import_jobs WHERE id = ${R[$n.job]}")
    IFS='|' read -r created started processed read ins upd del <<<"$row"
    R[$n.rows_read]=$read R[$n.ins]=$ins R[$n.upd]=$upd R[$n.del]=$del
    [[ -z $started ]] || R[$n.started]=$(sub "${R[$n.t0]}" "$started")
    [[ -z $started || -z $processed ]] || R[$n.srv_proc]=$(sub "$started" "$processed")
    [[ -z $processed ]] || R[$n.seen_after]=$(sub "$processed" "${R[$n.t2]}")
    [[ -z $processed ]] || R[$n.done]=$(sub "${R[$n.t0]}" "$processed")
    : "$created"
  fi
  log "  ${R[$n.status]} after ${R[$n.e2e]} s end to end (ack after ${R[$n.upload]} s): ${R[$n.desc]:-}"
}
# wait_done NAME POLL: calls POLL (prints "<1 when finished> <ok 1|0> <status>|<description>") every $POLL_S s until
# it says finished or DP_BENCH_TIMEOUT passes (then the status says timeout; nothing fails).
wait_done() {
  local n=$1 poll=$2 out fin ok rest
  while :; do
    out=$("$poll") || out="0 0 ?|"
    read -r fin ok rest <<<"$out"
    R[$n.status]=${rest%%|*}
    R[$n.desc]=${rest#*|}
    R[$n.ok]=$ok
    ((fin)) && break
    if ((${EPOCHREALTIME%.*} - ${R[$n.t1]%.*} > TIMEOUT)); then
      R[$n.status]="timeout after $TIMEOUT s (${R[$n.status]})"
      R[$n.ok]=0
      break
    fi
    sleep "$POLL_S"
  done
  R[$n.t2]=$(now)
}
POLL_DS='' POLL_JOB=''
# A poll runs one curl and no other program (bash matches the status itself): on a busy machine every extra process
# start delays the moment the client sees the import finished.
status_of() { if [[ $1 =~ \"status\":\"([^\"]*)\" ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi; }
poll_alphacast() { # GET /datasets/{id}/processes/{job}: Requested, Processing, Processed, Error
  local body status
  body=$(api GET "/datasets/$POLL_DS/processes/$POLL_JOB" 2>/dev/null) || body=
  status=$(status_of "$body")
  case $status in
    Processed) echo "1 1 $status|$(json_str statusDescription "$body")" ;;
    Error) echo "1 0 $status|$(json_str statusDescription "$body")" ;;
    *) echo "0 0 ${status:-?}|" ;;
  esac
}
poll_presigned() { # GET /datasets/{id}/imports/{id} (Token auth): queued, processing, complete, partial, failed, pending_schema
  local body status
  body=$(curl -sS --fail-with-body -H "Authorization: Token $KEY" "$BASE/datasets/$POLL_DS/imports/$POLL_JOB" 2>/dev/null) || body=
  status=$(status_of "$body")
  case $status in
    complete) echo "1 1 $status|accepted $(json_num accepted_count "$body")" ;;
    partial) echo "1 0 $status|accepted $(json_num accepted_count "$body"), rejected $(json_num rejected_count "$body")" ;;
    failed | pending_schema) echo "1 0 $status|$(json_str reason "$body")" ;;
    *) echo "0 0 ${status:-?}|" ;;
  esac
}
poll_job_row() { # the job row itself: for a seed-004 upload that answered 503 (still processing after its wait)
  local row
  row=$(dp_psql -At -F '|' -c "SELECT status, coalesce(status_description, '') FROM dp.import_jobs WHERE id = $POLL_JOB" 2>/dev/null) || row=
  case ${row%%|*} in
    complete | skipped) echo "1 1 $row" ;;
    partial | failed | pending_schema) echo "1 0 $row" ;;
    *) echo "0 0 ${row:-?|}" ;;
  esac
}

# alphacast NAME DATASET FILE QUERY: PUT /datasets/{id}/data multipart (data, manifest), Basic auth.
alphacast() {
  local n=$1 ds=$2 file=$3 query=$4 code
  log "$n: PUT /datasets/$ds/data$query ($(basename "$file"))"
  phase_begin "$n" "Alphacast PUT /datasets/{id}/data"
  code=$(curl -sS -o "$OUT/upload-$n.json" -w '%{http_code}' -u "$KEY:" -H 'Expect:' -X PUT \
    "$BASE/datasets/$ds/data$query" -F "data=@$file" -F "manifest=$MANIFEST") || code=000
  phase_ack "$n"
  [[ $code == 201 ]] || { phase_fail "$n" "$code" "$OUT/upload-$n.json" "PUT"; return 0; }
  R[$n.job]=$(json_num id "$(cat "$OUT/upload-$n.json")")
  R[$n.ds]=$ds
  POLL_DS=$ds POLL_JOB=${R[$n.job]}
  wait_done "$n" poll_alphacast
  phase_end "$n"
}

# presigned NAME DATASET FILE: GET the upload URL (Token auth), PUT the file to it without credentials (200), poll the import.
presigned() {
  local n=$1 ds=$2 file=$3 code url
  log "$n: GET /datasets/$ds/upload-url/$(basename "$file"), PUT to it"
  phase_begin "$n" "V4 presigned: upload-url + PUT"
  code=$(curl -sS -o "$OUT/upload-$n-url.json" -w '%{http_code}' -H "Authorization: Token $KEY" \
    "$BASE/datasets/$ds/upload-url/$(basename "$file")") || code=000
  R[$n.url_s]=$(sub "${R[$n.t0]}" "$(now)")
  if [[ $code != 201 ]]; then phase_ack "$n"; phase_fail "$n" "$code" "$OUT/upload-$n-url.json" "GET upload-url"; return 0; fi
  url=$(json_str upload_url "$(cat "$OUT/upload-$n-url.json")")
  R[$n.job]=$(json_str import_id "$(cat "$OUT/upload-$n-url.json")")
  R[$n.ds]=$ds
  # -T streams the file (a --data-binary @file would read it whole into memory first).
  code=$(curl -sS -o "$OUT/upload-$n.json" -w '%{http_code}' -H 'Expect:' -H 'Content-Type: text/csv' -T "$file" "$url") || code=000
  phase_ack "$n"
  [[ $code == 200 ]] || { phase_fail "$n" "$code" "$OUT/upload-$n.json" "presigned PUT"; return 0; }
  POLL_DS=$ds POLL_JOB=${R[$n.job]}
  wait_done "$n" poll_presigned
  phase_end "$n"
}

# follow_accepted NAME CODE BODY WHAT: a 503 names the import it accepted (still processing): follow it on its job row.
# Any other code, or a 503 naming no import, fails the phase (status 1).
follow_accepted() {
  local n=$1 code=$2 body=$3 what=$4
  if [[ $code == 503 ]]; then
    R[$n.job]=$({ grep -o 'accepted as import [0-9]*' <<<"$body" || true; } | grep -o '[0-9]*$')
    if [[ -n ${R[$n.job]} ]]; then
      log "  503 (still processing) after ${R[$n.upload]} s; following import ${R[$n.job]}"
      POLL_JOB=${R[$n.job]}
      wait_done "$n" poll_job_row
      return 0
    fi
  fi
  phase_fail "$n" "$code" "$OUT/upload-$n.json" "$what"
  return 1
}

# versions NAME FILE: seed 004 POST /api/datasets/upload (Bearer; project_id and name before the file). It answers 201
# once the version exists (its 201 is the end), or 503 when the import still runs after the service's wait: then the
# job is followed until it ends.
versions() {
  local n=$1 file=$2 code body uid
  log "$n: POST /api/datasets/upload ($(basename "$file"))"
  phase_begin "$n" "seed-004 POST /api/datasets/upload"
  code=$(curl -sS -o "$OUT/upload-$n.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Expect:' -X POST \
    "$BASE/api/datasets/upload" -F "project_id=$REPO_ID" -F "name=Bench seed-004 $n" -F "description=bench/ingest.sh $n" \
    -F "file=@$file;type=text/csv") || code=000
  phase_ack "$n"
  body=$(cat "$OUT/upload-$n.json" 2>/dev/null || true)
  case $code in
    201)
      uid=$(json_str dataset_id "$body")
      if [[ $uid =~ ^[0-9a-f-]{36}$ ]]; then
        R[$n.job]=$(dp_psql -At -c "SELECT j.id FROM dp.import_jobs j JOIN dp.datasets d ON d.id = j.dataset_id
            WHERE d.uid = '$uid' ORDER BY j.id DESC LIMIT 1")
      fi
      R[$n.status]=201 R[$n.ok]=1 R[$n.desc]="version $(json_str dataset_version_id "$body")"
      R[$n.t2]=${R[$n.t1]}
      ;;
    *) follow_accepted "$n" "$code" "$body" "POST upload" || return 0 ;;
  esac
  R[$n.ds]=$(dp_psql -At -c "SELECT dataset_id FROM dp.import_jobs WHERE id = ${R[$n.job]:-0}")
  phase_end "$n"
}

# reversion NAME DATASET-UID FILE: seed 004 POST /api/datasets/{id}/versions, a new version of an existing dataset that
# replaces all its rows (201 once the version exists, like the upload; 503: followed on the job row).
reversion() {
  local n=$1 uid=$2 file=$3 code body
  log "$n: POST /api/datasets/$uid/versions ($(basename "$file"))"
  phase_begin "$n" "seed-004 re-version (same dataset)"
  code=$(curl -sS -o "$OUT/upload-$n.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" -H 'Expect:' -X POST \
    "$BASE/api/datasets/$uid/versions" -F "description=bench/ingest.sh $n" -F "file=@$file;type=text/csv") || code=000
  phase_ack "$n"
  body=$(cat "$OUT/upload-$n.json" 2>/dev/null || true)
  case $code in
    201)
      R[$n.job]=$(dp_psql -At -c "SELECT j.id FROM dp.import_jobs j JOIN dp.datasets d ON d.id = j.dataset_id
          WHERE d.uid = '$uid' ORDER BY j.id DESC LIMIT 1")
      R[$n.status]=201 R[$n.ok]=1 R[$n.desc]="version $(json_num version "$body"), $(json_num row_count "$body") rows"
      R[$n.t2]=${R[$n.t1]}
      ;;
    *) follow_accepted "$n" "$code" "$body" "POST versions" || return 0 ;;
  esac
  R[$n.ds]=$(dp_psql -At -c "SELECT dataset_id FROM dp.import_jobs WHERE id = ${R[$n.job]:-0}")
  phase_end "$n"
}

# door NAME DOOR: the CSV through DOOR into a fresh dataset (datasets of the Alphacast and presigned doors get the
# manifest with Date + Country as keys; a seed-004 upload detects its types and has no keys).
door() {
  local n=$1 d=$2 ds code
  case $d in
    alphacast)
      ds=$(new_dataset "Bench $n")
      alphacast "$n" "$ds" "$CSV" "?deleteMissingFromDB=false&onConflictUpdateDB=false"
      ;;
    presigned)
      ds=$(new_dataset "Bench $n")
      code=$(curl -sS -o "$OUT/schema-$n.json" -w '%{http_code}' -H "Authorization: Token $KEY" -H 'Content-Type: application/json' \
        -X PUT "$BASE/datasets/$ds/schema" --data-raw "$SCHEMA_ALL") || code=000
      if [[ $code == 200 ]]; then
        presigned "$n" "$ds" "$CSV"
      else
        R[$n.label]="V4 presigned: upload-url + PUT" R[$n.upload]=-
        phase_fail "$n" "$code" "$OUT/schema-$n.json" "PUT schema"
      fi
      ;;
    versions) versions "$n" "$CSV" ;;
  esac
  R[$n.door]=$d
}

PHASES=() # in the order they ran
# The first import after start runs while .NET is still compiling the hot paths (tiered JIT) and filling its pools:
# measured on its own ("cold-<door>"), then the door again into a fresh dataset (warm). DP_BENCH_COLD=each restarts the
# service before each further door so that each gets its cold figure; first: only the first door; 0: none.
first=1
for d in "${DOORS[@]}"; do
  if [[ $COLD == each || ($COLD == first && $first == 1) ]]; then
    ((first)) || { stop_service; start_service; }
    door "cold-$d" "$d"
    R[cold-$d.run]=cold
    PHASES+=("cold-$d")
  fi
  first=0
  door "$d" "$d"
  R[$d.run]=warm
  PHASES+=("$d")
done

# The dataset the re-uploads and the download use: one that the Alphacast door loaded (with the manifest's keys).
LOADED=''
for n in alphacast cold-alphacast; do
  if [[ ${R[$n.ok]:-} == 1 && ${R[$n.door]:-} == alphacast ]]; then LOADED=${R[$n.ds]}; break; fi
done
# The download reads any of them (the same rows).
DL_DS=$LOADED
[[ -n $DL_DS || ${R[presigned.ok]:-} != 1 ]] || DL_DS=${R[presigned.ds]}

# Download: the dataset as CSV.
if [[ -n $DL_DS ]]; then
  phase_begin dl "download"
  log "download: GET /datasets/$DL_DS/data > /dev/null"
  t0=$(now)
  dl=$(curl -sS -o /dev/null -w '%{http_code} %{size_download}' -u "$KEY:" "$BASE/datasets/$DL_DS/data") || dl="000 0"
  t1=$(now)
  R[dl.s]=$(sub "$t0" "$t1")
  R[dl.code]=${dl% *}
  R[dl.bytes]=${dl#* }
  R[dl.svccpu]=$(ticks_to_s $(($(service_cpu) - PH_C0)))
  R[dl.pgcpu]=$(ticks_to_s $(($(postgres_cpu) - PH_P0)))
  R[dl.rss]=$(rss_max_mb "$t0" "$t1")
  if ((HWM_RESETS)); then R[dl.peak]=$(($(status_kb "$API_PID" VmHWM) / 1024)); else R[dl.peak]=${R[dl.rss]}; fi
  peak_keep
  R[dl.slow]=$(pg_slow_since "$PH_L0")
  log "  HTTP ${R[dl.code]}, ${R[dl.bytes]} bytes in ${R[dl.s]} s"
fi

if wants gz; then
  alphacast gz "$(new_dataset "Bench gz")" "$GZ" "?deleteMissingFromDB=false&onConflictUpdateDB=false"
  R[gz.run]=warm R[gz.door]=alphacast R[gz.label]="Alphacast PUT, the csv.gz"
  PHASES+=(gz)
fi
if [[ -z $LOADED ]] && { wants reupload || wants merge; }; then
  log "reupload/merge: skipped, the Alphacast door loaded no dataset"
  R[merge.skipped]="the Alphacast door loaded no dataset"
else
  if wants reupload; then
    # Same rows again into the loaded dataset: not skipped (other flags), so it stages and merges set-based; 0 rows change.
    alphacast reupload "$LOADED" "$CSV" "?deleteMissingFromDB=false&onConflictUpdateDB=true"
    R[reupload.run]=warm R[reupload.door]=alphacast R[reupload.label]="Alphacast re-upload, 0 rows change" R[reupload.want_upd]=0
    PHASES+=(reupload)
  fi
  if wants merge; then
    alphacast merge "$LOADED" "$CHANGED" "?deleteMissingFromDB=false&onConflictUpdateDB=true"
    R[merge.run]=warm R[merge.door]=alphacast R[merge.label]="Alphacast re-upload, 10% changed" R[merge.want_upd]=$CHANGED_ROWS
    PHASES+=(merge)
  fi
fi
if wants reversion; then
  # The warm versions door's dataset (the cold one's when the warm run failed): version 1 replaces its million rows.
  VERSIONED=''
  for n in versions cold-versions; do
    if [[ ${R[$n.ok]:-} == 1 && -n ${R[$n.ds]:-} ]]; then VERSIONED=$(dp_psql -At -c "SELECT uid FROM dp.datasets WHERE id = ${R[$n.ds]}"); break; fi
  done
  if [[ -n $VERSIONED ]]; then
    reversion reversion "$VERSIONED" "$CSV"
    R[reversion.run]=warm R[reversion.door]=versions R[reversion.label]="seed-004 re-version (same dataset)"
    # A version replaces every row: the job inserts the file's rows and reports the previous version's as deleted.
    R[reversion.want_del]=$ROWS
    PHASES+=(reversion)
  else
    log "reversion: skipped, the versions door made no dataset"
  fi
fi
peak_keep
R[peak]=$((PEAK_KB / 1024))
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------------------------
# 5. Summary. "vs \copy" = the \copy FROM seconds / the phase's seconds (the download: COPY TO's): the share of \copy's
# speed, as in issue 10's targets (end-to-end >= 0.80 warm, >= 0.70 cold, merge >= 0.50, download >= 0.90).
rps() { awk -v n="$1" -v s="$2" 'BEGIN { if (s == "" || s + 0 <= 0) print "-"; else printf "%.0f", n / s }'; }
ratio() { awk -v base="$1" -v s="$2" 'BEGIN { if (s == "" || s == "-" || s + 0 <= 0) print "-"; else printf "%.2f", base / s }'; }
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
s2() { awk -v s="$1" 'BEGIN { if (s == "") print "-"; else printf "%.2f", s }'; }
target() { # NAME -> the issue's target for this phase's end-to-end ratio
  case $1 in cold-*) echo 0.70 ;; merge) echo 0.50 ;; reupload | reversion) echo - ;; *) echo 0.80 ;; esac
}
meets() { # RATIO TARGET -> yes/no/-
  awk -v r="$1" -v t="$2" 'BEGIN { if (r == "-" || t == "-") print "-"; else print (r + 0 >= t + 0 ? "yes" : "no") }'
}
line() { printf '  %-52s %9s %11s %8s  %s\n' "$@"; }
COPY_S=${R[copy_in.s]}
{
  echo "DatasetPlatform ingest benchmark - $DATE_RUN"
  echo "  rows $ROWS x 11 columns; CSV $(mb "$CSV_BYTES")$(wants gz && echo ", csv.gz $(mb "$GZ_BYTES") (gzip -1)")"
  echo "  host: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo) RAM; load average before: $LOAD_BEFORE, after: $LOAD_AFTER"
  echo "  PostgreSQL $PG_VERSION (scripts/postgres.sh durable profile, port $PG_PORT); service Release (ReadyToRun=${DP_READY_TO_RUN:-true}, dotnet <dll>, as run.sh),"
  echo "  source $SRC $GIT_REV; $UPLOAD_LIMIT_NOTE; doors: ${WANTED[*]}; uploads staged in ${DP_BENCH_STAGING:-files}"
  echo
  line "baseline" "seconds" "rows/s" "vs copy" ""
  line "psql \\copy FROM (existing table)" "$COPY_S" "$(rps "$ROWS" "$COPY_S")" "1.00" "PG CPU ${R[copy_in.pgcpu]} s"
  line "\\copy FROM, table created in the same transaction" "${R[copy_in_txn.s]}" "$(rps "$ROWS" "${R[copy_in_txn.s]}")" \
    "$(ratio "$COPY_S" "${R[copy_in_txn.s]}")" "no WAL (wal_level=minimal), like a first load"
  line "COPY (SELECT *) TO STDOUT > /dev/null" "${R[copy_out.s]}" "$(rps "$ROWS" "${R[copy_out.s]}")" "1.00" "PG CPU ${R[copy_out.pgcpu]} s"
  echo
  printf '  %-36s %-5s %9s %9s %9s %8s %7s %5s %8s\n' "door ($ROWS rows)" run "to ack s" "then s" "e2e s" "e2e/copy" target met "peak MB"
  for n in "${PHASES[@]}"; do
    [[ -n ${R[$n.status]:-} ]] || continue
    if [[ -z ${R[$n.e2e]:-} ]]; then
      printf '  %-36s %-5s %9s  %s\n' "${R[$n.label]}" "${R[$n.run]}" "${R[$n.upload]:--}" "failed: ${R[$n.status]}"
      continue
    fi
    e2e_ratio=$(ratio "$COPY_S" "${R[$n.e2e]}")
    [[ ${R[$n.ok]:-0} == 1 ]] || e2e_ratio="(${R[$n.status]%% *})"
    printf '  %-36s %-5s %9s %9s %9s %8s %7s %5s %8s\n' "${R[$n.label]}" "${R[$n.run]}" "$(s2 "${R[$n.upload]}")" "$(s2 "${R[$n.process]}")" \
      "$(s2 "${R[$n.e2e]}")" "$e2e_ratio" "$(target "$n")" "$(meets "$e2e_ratio" "$(target "$n")")" "${R[$n.peak]:--}"
  done
  if [[ -n ${R[dl.s]:-} ]]; then
    printf '  %-36s %-5s %9s %9s %9s %8s %7s %5s %8s\n' "download GET /datasets/{id}/data" warm - - "$(s2 "${R[dl.s]}")" \
      "$(ratio "${R[copy_out.s]}" "${R[dl.s]}")" 0.90 "$(meets "$(ratio "${R[copy_out.s]}" "${R[dl.s]}")" 0.90)" "${R[dl.peak]:--}"
  fi
  echo
  echo "  to ack: from the first byte sent until the door acknowledged the upload (Alphacast 201; presigned: the URL request"
  echo "  and the PUT until its 200; seed 004: the 201, which waits for the version, so 'then' is 0); then: until the door"
  echo "  showed the import finished (polled every $POLL_S s); e2e/copy: \\copy FROM seconds / end-to-end seconds (download:"
  echo "  COPY TO seconds / its seconds), the share of \\copy's speed, against issue 10's target. cold: the first import after"
  echo "  the service started (.NET still tiering up; DP_BENCH_COLD=$COLD: $(case $COLD in each) echo "restarted before each door" ;;
    first) echo "the first door only" ;; *) echo "none" ;; esac)); warm: the next"
  echo "  one; each into a fresh dataset. The gz, re-upload and merge rows go through the Alphacast PUT; re-upload and merge"
  echo "  into the loaded dataset with onConflictUpdateDB=true."
  echo "  peak MB: the service's VmHWM during that phase$( ((HWM_RESETS)) || echo " (reset failed: sampled RSS every 0.2 s instead)")."
  echo
  echo "  per import       status     rows read  inserted   updated  job started  server proc  job done  seen after  svc CPU up+proc s  PG CPU s  RSS MB up/proc"
  for n in "${PHASES[@]}"; do
    [[ -n ${R[$n.status]:-} ]] || continue
    printf '  %-15s  %-9s %10s %9s %9s %12s %12s %9s %11s %18s %9s %15s\n' "$n" "${R[$n.status]%% *}" "${R[$n.rows_read]:--}" "${R[$n.ins]:--}" \
      "${R[$n.upd]:--}" "$(s2 "${R[$n.started]:-}")" "$(s2 "${R[$n.srv_proc]:-}")" "$(s2 "${R[$n.done]:-}")" "$(s2 "${R[$n.seen_after]:-}")" \
      "${R[$n.svccpu_up]:--} + ${R[$n.svccpu]:--}" "${R[$n.pgcpu]:--}" "${R[$n.rss_up]:--} / ${R[$n.rss_proc]:--}"
  done
  if [[ -n ${R[dl.s]:-} ]]; then
    printf '  %-15s  %-9s %10s %9s %9s %12s %12s %9s %11s %18s %9s %15s\n' download "HTTP ${R[dl.code]}" - - - - - - - "${R[dl.svccpu]}" "${R[dl.pgcpu]}" \
      "${R[dl.rss]}"
  fi
  echo "  job started: from the first byte sent until the job's started_at; server proc: processed_at - started_at; job done:"
  echo "  from the first byte until processed_at (the server's end-to-end, free of the client's polling); seen after: from"
  echo "  processed_at until the client saw it finished (the commit after processed_at, the polling, a busy machine's delays)."
  echo
  for n in "${PHASES[@]}"; do
    if [[ -n ${R[$n.status]:-} && ${R[$n.ok]:-0} != 1 ]]; then echo "  $n: ${R[$n.status]}: ${R[$n.desc]:-}"; fi
    if [[ ${R[$n.ok]:-0} == 1 && -n ${R[$n.rows_read]:-} && ${R[$n.rows_read]} != "$ROWS" ]]; then
      echo "  $n: CHECK FAILED: the job read ${R[$n.rows_read]} rows, the file has $ROWS"
    fi
    if [[ -n ${R[$n.want_upd]:-} && ${R[$n.ok]:-0} == 1 ]]; then
      if [[ ${R[$n.upd]:-} == "${R[$n.want_upd]}" && ${R[$n.ins]:-} == 0 ]]; then
        echo "  $n: check ok: ${R[$n.upd]} rows updated, 0 inserted, as the file changes"
      else
        echo "  $n: CHECK FAILED: ${R[$n.upd]:-?} rows updated and ${R[$n.ins]:-?} inserted; the file changes ${R[$n.want_upd]} and adds none"
      fi
    fi
    if [[ -n ${R[$n.want_del]:-} && ${R[$n.ok]:-0} == 1 ]]; then
      if [[ ${R[$n.del]:-} == "${R[$n.want_del]}" && ${R[$n.ins]:-} == "$ROWS" ]]; then
        echo "  $n: check ok: ${R[$n.ins]} rows inserted, the previous version's ${R[$n.del]} replaced"
      else
        echo "  $n: CHECK FAILED: ${R[$n.ins]:-?} rows inserted and ${R[$n.del]:-?} replaced; the version has $ROWS and replaces ${R[$n.want_del]}"
      fi
    fi
  done
  for n in "${PHASES[@]}"; do
    if [[ -n ${R[$n.url_s]:-} ]]; then echo "  $n: the upload URL came after $(s2 "${R[$n.url_s]}") s (part of its 'to ack')"; fi
  done
  if [[ -n ${R[merge.skipped]:-} ]]; then echo "  reupload/merge skipped: ${R[merge.skipped]}"; fi
  echo "  service RSS: idle ${R[rss_idle]} MB after start ($STARTS start(s), ready after ${R[ready_s]} s); peak over the run ${R[peak]} MB against the target < $RSS_TARGET_MB MB:" \
    "$(if ((R[peak] < RSS_TARGET_MB)); then echo met; else echo "NOT met"; fi)"
  echo "  (one process: run.sh starts exactly this one, dotnet <dll>, in embedded mode; PostgreSQL aside)"
  echo
  echo "  PostgreSQL statements >= 200 ms (server log) per phase:"
  for n in copy_in copy_in_txn copy_out "${PHASES[@]}" dl; do
    [[ -n ${R[$n.slow]:-} ]] || continue
    echo "    $n:"
    printf '%s\n' "${R[$n.slow]}"
  done
} | tee "$SUMMARY"
log "summary written to $SUMMARY; service log $SERVICE_LOG; PostgreSQL log $DP_PG_LOG"
