# shellcheck shell=bash
# scripts/postgres.sh - a private PostgreSQL server for DatasetPlatform's run.sh and test.sh.
#
# Source this file (bash only); it only defines functions and never changes shell options,
# so it is safe under `set -euo pipefail`. Every function reports failures itself and
# returns non-zero, so it also behaves when called as `dp_postgres_up ... || exit 1`
# (where bash disables errexit inside the function).
#
#   dp_postgres_up DATA_DIR PORT DBNAME [durable|test]
#       Installs PostgreSQL if needed (Debian package), initializes DATA_DIR once, starts the
#       server on 127.0.0.1:PORT (or reuses the one already running on DATA_DIR), creates the
#       service role dp_service (LOGIN, not a superuser, no CREATEDB/CREATEROLE) and DBNAME owned
#       by it if missing, hands every object of DBNAME's schemas to it (data dirs of earlier
#       versions had the superuser own them) and exports:
#         DP_POSTGRES     Npgsql connection string of the service role (what the service uses)
#         DP_PG_ADMIN_POSTGRES  Npgsql connection string of the superuser dp (tests, tooling)
#         DP_PG_SERVICE_USER DP_PG_SERVICE_PASSWORD  the service role's credentials
#         DP_PG_BIN       PostgreSQL bin dir (psql, pg_dump, ... of the server's version)
#         DP_PG_HOST DP_PG_PORT DP_PG_USER DP_PG_PASSWORD DP_PG_DB
#         DP_PG_DATA      the real data directory (DATA_DIR itself, or its symlink target)
#         DP_PG_LOG       the server log file
#   dp_postgres_down DATA_DIR
#       Fast shutdown of the server running on DATA_DIR; silent no-op when none runs.
#   dp_psql [psql args...]
#       psql (from DP_PG_BIN) connected to DP_PG_DB as the superuser dp, with -X -v ON_ERROR_STOP=1.
#
# Files: the superuser `dp` password lives in $(dirname DATA_DIR)/pg-password (mode 600), the
# service role's in $(dirname DATA_DIR)/pg-service-password (mode 600),
# the server log in $(dirname DATA_DIR)/postgres.log. When run as root the server runs as the
# `postgres` system user; if that user cannot reach DATA_DIR's parent directory, the cluster
# is kept in /var/lib/datasetplatform/<sha1 of DATA_DIR>/ and DATA_DIR (and postgres.log)
# become symlinks into it.

_DP_PG_FALLBACK_ROOT=/var/lib/datasetplatform
_DP_PG_CONF_FILE=datasetplatform.conf
# The role the service connects as: owner of its database and schemas, nothing more.
_DP_PG_SERVICE_ROLE=dp_service

_dp_pg_err() { printf 'postgres.sh: error: %s\n' "$*" >&2; }
_dp_pg_warn() { printf 'postgres.sh: %s\n' "$*" >&2; }

# The OS user that runs the server: `postgres` when we are root, ourselves otherwise.
_dp_pg_owner() {
  if [[ $EUID -eq 0 ]]; then printf 'postgres\n'; else id -un; fi
}

# _dp_pg_as USER CMD... : run CMD as USER (only switches user when we are root).
_dp_pg_as() {
  local user=$1
  shift
  if [[ $EUID -ne 0 || $user == root ]]; then
    "$@"
    return
  fi
  if command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$user" -- "$@")
  else
    local cmd
    printf -v cmd '%q ' "$@"
    (cd / && su "$user" -s /bin/bash -c "$cmd")
  fi
}

_dp_pg_bin_ok() { [[ -x $1/initdb && -x $1/pg_ctl && -x $1/postgres && -x $1/psql ]]; }

# Prints the bin dir holding initdb+pg_ctl: version $1 if given, else 15, else the highest.
_dp_pg_find_bin() {
  local want=${1:-} d v best=
  local -a versions=()
  if [[ -n $want ]]; then
    _dp_pg_bin_ok "/usr/lib/postgresql/$want/bin" || return 1
    printf '%s\n' "/usr/lib/postgresql/$want/bin"
    return 0
  fi
  if _dp_pg_bin_ok /usr/lib/postgresql/15/bin; then
    printf '%s\n' /usr/lib/postgresql/15/bin
    return 0
  fi
  for d in /usr/lib/postgresql/*/bin; do
    _dp_pg_bin_ok "$d" || continue
    v=${d#/usr/lib/postgresql/}
    versions+=("${v%/bin}")
  done
  ((${#versions[@]})) || return 1
  best=$(printf '%s\n' "${versions[@]}" | sort -V | tail -n 1)
  printf '%s\n' "/usr/lib/postgresql/$best/bin"
}

_dp_pg_install() {
  local -a sudo=()
  local hint=
  if [[ $EUID -ne 0 ]]; then
    if ! command -v sudo >/dev/null 2>&1; then
      _dp_pg_err "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin and you are not root (no sudo)." \
        "Install them first: apt-get install -y postgresql"
      return 1
    fi
    if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
    hint=" (if sudo needs a password, run 'sudo apt-get install -y postgresql' once)"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    _dp_pg_err "PostgreSQL server binaries not found and apt-get is unavailable; install PostgreSQL (15 preferred) so that /usr/lib/postgresql/<ver>/bin exists."
    return 1
  fi
  _dp_pg_warn "PostgreSQL not found; installing the Debian 'postgresql' package (one-time)..."
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2; then
    _dp_pg_warn "apt-get update failed; trying the install anyway"
  fi
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2; then
    _dp_pg_err "apt-get install postgresql failed$hint"
    return 1
  fi
}

# Root only: make sure the `postgres` system user exists.
_dp_pg_ensure_user() {
  getent passwd postgres >/dev/null 2>&1 && return 0
  local -a grp=(--user-group)
  getent group postgres >/dev/null 2>&1 && grp=(--gid postgres)
  if ! useradd --system "${grp[@]}" --home-dir /var/lib/postgresql --no-create-home \
    --shell /bin/bash --comment "PostgreSQL administrator" postgres; then
    _dp_pg_err "could not create the 'postgres' system user"
    return 1
  fi
}

# Prints the pid of a live postmaster serving data dir $1 (physical path), else fails.
_dp_pg_running_pid() {
  local real=$1 pid cwd
  [[ -f $real/postmaster.pid ]] || return 1
  pid=$(sed -n 1p "$real/postmaster.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ && -d /proc/$pid ]] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1 # the postmaster chdir()s into its data dir
  [[ $cwd == "$real" ]] || return 1
  printf '%s\n' "$pid"
}

# Pids of processes (e.g. orphaned backends of a killed postmaster) whose cwd is data dir $1.
_dp_pg_orphans() {
  local real=$1 p
  for p in /proc/[0-9]*; do
    [[ $(readlink "$p/cwd" 2>/dev/null) == "$real" ]] && printf '%s ' "${p#/proc/}"
  done
  return 0
}

_dp_pg_sha1() { printf '%s' "$1" | sha1sum | cut -c1-40; }

# _dp_pg_resolve DATA_DIR MODE   (MODE: up = create/repair, down = look only)
# Sets _dp_pg_abs (absolute DATA_DIR), _dp_pg_parent, _dp_pg_real (physical data dir),
# _dp_pg_log (real log path) and _dp_pg_loglink (log path next to DATA_DIR).
_dp_pg_resolve() {
  local data=$1 mode=$2 owner parent base target cluster
  while [[ $data == */ && $data != / ]]; do data=${data%/}; done
  parent=$(dirname -- "$data")
  base=$(basename -- "$data")
  if [[ $mode == up ]]; then
    mkdir -p -- "$parent" || { _dp_pg_err "cannot create $parent"; return 1; }
  elif [[ ! -d $parent ]]; then
    return 1
  fi
  _dp_pg_parent=$(cd -- "$parent" && pwd -P) || return 1
  _dp_pg_abs=$_dp_pg_parent/$base
  _dp_pg_loglink=$_dp_pg_parent/postgres.log
  owner=$(_dp_pg_owner)

  if [[ -L $_dp_pg_abs ]]; then
    # Existing symlink (our fallback, or user-made): follow it; recreate a dangling target.
    _dp_pg_real=$(readlink -m -- "$_dp_pg_abs")
    if [[ $mode == up && ! -d $_dp_pg_real ]]; then
      mkdir -p -- "$_dp_pg_real" || { _dp_pg_err "cannot create $_dp_pg_real (target of $_dp_pg_abs)"; return 1; }
    fi
  elif [[ $mode == up && $EUID -eq 0 ]] && ! _dp_pg_as "$owner" test -x "$_dp_pg_parent"; then
    # Root, and the postgres user cannot traverse DATA_DIR's parent (e.g. under /root):
    # keep the cluster under /var/lib/datasetplatform and symlink DATA_DIR to it.
    cluster=$_DP_PG_FALLBACK_ROOT/$(_dp_pg_sha1 "$_dp_pg_abs")
    target=$cluster/pgdata
    mkdir -p -- "$_DP_PG_FALLBACK_ROOT" || return 1
    chmod 755 -- "$_DP_PG_FALLBACK_ROOT" 2>/dev/null || true
    if [[ -e $_dp_pg_abs ]]; then
      if [[ -d $_dp_pg_abs && -z $(ls -A -- "$_dp_pg_abs") ]]; then
        rmdir -- "$_dp_pg_abs" || return 1
      elif [[ -d $_dp_pg_abs && ! -e $target ]]; then
        { mkdir -p -- "$cluster" && mv -- "$_dp_pg_abs" "$target"; } || {
          _dp_pg_err "cannot move $_dp_pg_abs to $target"
          return 1
        }
      else
        _dp_pg_err "$_dp_pg_abs exists but user '$owner' cannot reach it, and $target is taken; remove one of them"
        return 1
      fi
    elif [[ -e $target ]]; then
      # DATA_DIR was deleted: the user threw the data away, so drop the stale hidden copy too.
      local pid
      if pid=$(_dp_pg_running_pid "$target"); then
        dp_postgres_down "$target" || return 1
      fi
      rm -rf -- "$target" || return 1
    fi
    mkdir -p -- "$cluster" || return 1
    chown "$owner": -- "$cluster" && chmod 700 -- "$cluster" || return 1
    ln -s -- "$target" "$_dp_pg_abs" || { _dp_pg_err "cannot create symlink $_dp_pg_abs"; return 1; }
    _dp_pg_real=$target
    mkdir -p -- "$_dp_pg_real" || return 1
  else
    _dp_pg_real=$_dp_pg_abs
    if [[ $mode == up ]]; then
      mkdir -p -- "$_dp_pg_real" || { _dp_pg_err "cannot create $_dp_pg_real"; return 1; }
    fi
  fi
  [[ -d $_dp_pg_real ]] || return 1
  _dp_pg_real=$(cd -- "$_dp_pg_real" && pwd -P) || return 1
  if [[ $_dp_pg_real == "$_dp_pg_abs" ]]; then
    _dp_pg_log=$_dp_pg_loglink
  else
    _dp_pg_log=$(dirname -- "$_dp_pg_real")/postgres.log
  fi
}

# Writes the managed include file (rewritten on every up, so one data dir serves both profiles).
_dp_pg_write_conf() {
  local owner=$1 real=$2 port=$3 profile=$4 sock=$2 conf
  # Unix socket path limit is 107 bytes; we only use TCP, so fall back to no socket at all.
  if ((${#sock} + 20 > 107)) || [[ $sock == *[\',\"[:space:]]* ]]; then sock=''; fi
  conf="# Managed by scripts/postgres.sh (dp_postgres_up); rewritten on every start. Edits are lost.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 200
shared_buffers = 256MB
work_mem = 64MB
maintenance_work_mem = 256MB
max_wal_size = 8GB
checkpoint_timeout = 30min
wal_level = minimal
max_wal_senders = 0
archive_mode = off
# A keyed merge stages the whole upload in a temporary table (1M rows: 75 MB); with the default 8MB its pages went out to
# the kernel while COPY wrote them and came back for ANALYZE and the merge's scan (ANALYZE of the staged 1M rows: 0.12-0.16 s
# of CPU against 0.17-0.30 s). Only a session that uses temporary tables allocates these buffers, as it fills them.
temp_buffers = 128MB
"
  if [[ $profile == test ]]; then
    conf+="# profile: test (fast, NOT crash-safe)
fsync = off
synchronous_commit = off
full_page_writes = off
"
  else
    conf+="# profile: durable
fsync = on
synchronous_commit = on
full_page_writes = on
"
    # The first change of each page after a checkpoint (or of a table that a load wrote past the WAL) logs the whole page:
    # a merge closing 10% of a 1M-row dataset's rows logged 18,000 page images, 180 MB of WAL. lz4 took that to 150 MB for
    # no measurable CPU; pglz cost seconds, so without lz4 the images stay uncompressed.
    if "$bin/pg_config" --configure 2>/dev/null | grep -q -- '--with-lz4'; then
      conf+="wal_compression = lz4
"
    fi
  fi
  # shellcheck disable=SC2016 # $1 is expanded by the inner sh
  printf '%s' "$conf" | _dp_pg_as "$owner" sh -c 'umask 077 && cat > "$1.tmp" && mv -f "$1.tmp" "$1"' sh "$real/$_DP_PG_CONF_FILE" || {
    _dp_pg_err "cannot write $real/$_DP_PG_CONF_FILE"
    return 1
  }
  if ! grep -q "^include_if_exists = '$_DP_PG_CONF_FILE'" "$real/postgresql.conf" 2>/dev/null; then
    # shellcheck disable=SC2016 # $1 is expanded by the inner sh
    printf "\n# DatasetPlatform settings (scripts/postgres.sh)\ninclude_if_exists = '%s'\n" "$_DP_PG_CONF_FILE" |
      _dp_pg_as "$owner" sh -c 'cat >> "$1"' sh "$real/postgresql.conf" || {
      _dp_pg_err "cannot update $real/postgresql.conf"
      return 1
    }
  fi
}

# Single-user mode: (re)set the password of superuser dp (used when pg-password was lost).
_dp_pg_reset_password() {
  local owner=$1 bin=$2 real=$3 pw=$4 out
  out=$(printf '%s\n' \
    "DO \$\$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dp') THEN CREATE ROLE dp SUPERUSER LOGIN; END IF; END \$\$;" \
    "ALTER ROLE dp PASSWORD '$pw';" |
    _dp_pg_as "$owner" "$bin/postgres" --single -D "$real" -j postgres 2>&1) || {
    _dp_pg_err "could not reset the dp password in single-user mode: $out"
    return 1
  }
}

# SQL (for psql, variable svc = the service role) that gives the service role every schema, table, view, sequence and
# function of the database's application schemas that someone else (the superuser, in data dirs of earlier versions) owns.
# Idempotent, and a no-op once everything is handed over.
_dp_pg_hand_over_sql() {
  cat <<'SQL'
GRANT USAGE, CREATE ON SCHEMA public TO :"svc";
SELECT format('ALTER SCHEMA %I OWNER TO %I', n.nspname, :'svc') FROM pg_namespace n
 WHERE n.nspname IN ('dp', 'dp_data') AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = :'svc') \gexec
SELECT format('ALTER TABLE %I.%I OWNER TO %I', n.nspname, c.relname, :'svc') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'dp', 'dp_data') AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'svc') ORDER BY c.oid \gexec
SELECT format('ALTER SEQUENCE %I.%I OWNER TO %I', n.nspname, c.relname, :'svc') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('public', 'dp', 'dp_data') AND c.relkind = 'S' AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'svc')
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')) \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'svc') FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname IN ('public', 'dp', 'dp_data') AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = :'svc') \gexec
SELECT format('ALTER TYPE %I.%I OWNER TO %I', n.nspname, t.typname, :'svc') FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
 WHERE n.nspname IN ('public', 'dp', 'dp_data') AND t.typtype IN ('e', 'd', 'r') AND t.typowner <> (SELECT oid FROM pg_roles WHERE rolname = :'svc') \gexec
SQL
}

dp_postgres_up() {
  if (($# < 3 || $# > 4)); then
    _dp_pg_err "usage: dp_postgres_up DATA_DIR PORT DBNAME [durable|test]"
    return 2
  fi
  local data=$1 port=$2 db=$3 profile=${4:-durable}
  if [[ ! $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    _dp_pg_err "bad port '$port'"
    return 2
  fi
  [[ -n $db ]] || { _dp_pg_err "empty database name"; return 2; }
  [[ $profile == durable || $profile == test ]] || { _dp_pg_err "profile must be 'durable' or 'test', got '$profile'"; return 2; }
  [[ -n $data ]] || { _dp_pg_err "empty DATA_DIR"; return 2; }

  local parent lock lockfd rc
  parent=$(dirname -- "$data")
  mkdir -p -- "$parent" || { _dp_pg_err "cannot create $parent"; return 1; }
  # Serialize concurrent ups on the same DATA_DIR (run.sh and test.sh started together).
  lock=$parent/.$(basename -- "$data").lock
  if command -v flock >/dev/null 2>&1 && exec {lockfd}>>"$lock"; then
    flock -w 300 "$lockfd" || _dp_pg_warn "could not lock $lock; continuing"
    _DP_PG_LOCKFD=$lockfd
    if _dp_pg_up_locked "$data" "$port" "$db" "$profile"; then rc=0; else rc=$?; fi
    exec {lockfd}>&-
    _DP_PG_LOCKFD=
  else
    _DP_PG_LOCKFD=
    if _dp_pg_up_locked "$data" "$port" "$db" "$profile"; then rc=0; else rc=$?; fi
  fi
  return "$rc"
}

_dp_pg_up_locked() {
  local data=$1 port=$2 db=$3 profile=$4
  local owner bin ver pwfile pw svcpwfile svcpw pid runport loc locales out newlog logsize logshown state rc tmp attempt orphans i
  local _dp_pg_abs _dp_pg_parent _dp_pg_real _dp_pg_log _dp_pg_loglink

  # 1. Binaries.
  if ! bin=$(_dp_pg_find_bin); then
    _dp_pg_install || return 1
    bin=$(_dp_pg_find_bin) || {
      _dp_pg_err "PostgreSQL installed but no /usr/lib/postgresql/*/bin with initdb and pg_ctl found"
      return 1
    }
  fi

  # 2. Who runs the server, and where the data really lives.
  owner=$(_dp_pg_owner)
  if [[ $EUID -eq 0 ]]; then _dp_pg_ensure_user || return 1; fi
  _dp_pg_resolve "$data" up || { _dp_pg_err "cannot set up data directory $data"; return 1; }

  if [[ $EUID -eq 0 ]]; then
    if [[ $(stat -c %U -- "$_dp_pg_real") != "$owner" ]]; then
      chown -R "$owner": -- "$_dp_pg_real" || { _dp_pg_err "cannot chown $_dp_pg_real to $owner"; return 1; }
    fi
    # The log lives next to the data; the server user may not be able to create files there.
    [[ -e $_dp_pg_log ]] || : >>"$_dp_pg_log" || return 1
    chown "$owner": -- "$_dp_pg_log" && chmod 640 -- "$_dp_pg_log" || return 1
  fi
  chmod 700 -- "$_dp_pg_real" || { _dp_pg_err "cannot chmod 700 $_dp_pg_real"; return 1; }
  if [[ $_dp_pg_log != "$_dp_pg_loglink" && ! -e $_dp_pg_loglink ]]; then
    ln -sfn -- "$_dp_pg_log" "$_dp_pg_loglink" 2>/dev/null || true
  fi

  # Use the binaries matching an existing cluster's major version.
  if [[ -f $_dp_pg_real/PG_VERSION ]]; then
    ver=$(<"$_dp_pg_real/PG_VERSION")
    if [[ $bin != "/usr/lib/postgresql/$ver/bin" ]]; then
      bin=$(_dp_pg_find_bin "$ver") || {
        _dp_pg_err "$data holds a PostgreSQL $ver cluster but /usr/lib/postgresql/$ver/bin is missing; delete $data to start over or install postgresql-$ver"
        return 1
      }
    fi
  fi

  # 3. Password (generated once) and initdb.
  pwfile=$_dp_pg_parent/pg-password
  pw=
  if [[ -s $pwfile ]]; then
    pw=$(<"$pwfile")
  fi
  if [[ ! $pw =~ ^[A-Za-z0-9]+$ ]]; then
    pw=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n') || return 1
    [[ ${#pw} -eq 32 ]] || { _dp_pg_err "could not generate a password"; return 1; }
    (umask 077 && printf '%s\n' "$pw" >"$pwfile.tmp" && mv -f "$pwfile.tmp" "$pwfile") || {
      _dp_pg_err "cannot write $pwfile"
      return 1
    }
    if [[ -f $_dp_pg_real/PG_VERSION ]]; then
      # Existing cluster whose password file was lost: reset the password offline.
      if pid=$(_dp_pg_running_pid "$_dp_pg_real"); then
        dp_postgres_down "$_dp_pg_abs" || return 1
      fi
      _dp_pg_write_conf "$owner" "$_dp_pg_real" "$port" "$profile" || return 1
      _dp_pg_reset_password "$owner" "$bin" "$_dp_pg_real" "$pw" || return 1
    fi
  fi
  chmod 600 -- "$pwfile" 2>/dev/null || true

  if [[ ! -f $_dp_pg_real/PG_VERSION ]]; then
    if [[ -n $(ls -A -- "$_dp_pg_real") ]]; then
      _dp_pg_err "$_dp_pg_real is not empty but has no PG_VERSION; delete it so it can be initialized"
      return 1
    fi
    loc=C
    locales=$(locale -a 2>/dev/null) || locales=
    if [[ $'\n'${locales,,}$'\n' == *$'\nc.utf8\n'* || $'\n'${locales,,}$'\n' == *$'\nc.utf-8\n'* ]]; then
      loc=C.UTF-8
    fi
    tmp=$(mktemp /tmp/dp-pgpw.XXXXXX) || return 1
    printf '%s\n' "$pw" >"$tmp" && chmod 600 "$tmp"
    [[ $EUID -eq 0 ]] && chown "$owner": "$tmp"
    if out=$(_dp_pg_as "$owner" env LC_ALL=C "$bin/initdb" -D "$_dp_pg_real" -U dp --pwfile="$tmp" \
      -E UTF8 --locale="$loc" --auth-local=scram-sha-256 --auth-host=scram-sha-256 --no-instructions 2>&1); then
      rc=0
    else
      rc=$?
    fi
    rm -f -- "$tmp"
    if ((rc != 0)); then
      printf '%s\n' "$out" >&2
      _dp_pg_err "initdb failed for $_dp_pg_real"
      return 1
    fi
  fi

  # 4. Start, or reuse the server already running on this data dir.
  # Base + profile settings are rewritten on every up (a running server gets a reload).
  if pid=$(_dp_pg_running_pid "$_dp_pg_real"); then
    runport=$(sed -n 4p "$_dp_pg_real/postmaster.pid")
    if [[ $runport != "$port" ]]; then
      _dp_pg_err "PostgreSQL on $data already runs on port $runport, not $port; stop it first (dp_postgres_down $data)"
      return 1
    fi
    _dp_pg_write_conf "$owner" "$_dp_pg_real" "$port" "$profile" || return 1
    _dp_pg_as "$owner" "$bin/pg_ctl" -D "$_dp_pg_real" reload >/dev/null 2>&1 || true
    state="already running"
  else
    _dp_pg_write_conf "$owner" "$_dp_pg_real" "$port" "$profile" || return 1
    if [[ -f $_dp_pg_real/postmaster.pid ]]; then
      # Stale pid file of a killed server: wait for its orphaned children to exit so the
      # new postmaster does not refuse with "pre-existing shared memory block is still in use".
      for ((i = 0; i < 50; i++)); do
        orphans=$(_dp_pg_orphans "$_dp_pg_real")
        [[ -z $orphans ]] && break
        sleep 0.2
      done
      if [[ -n $orphans ]]; then
        _dp_pg_err "processes of a previous server still use $_dp_pg_real (pids: $orphans); stop them first"
        return 1
      fi
      # No process serves this data dir any more (a postmaster and all its children have it as
      # cwd), so its lock files are stale. Drop them: their pid may be an unreaped zombie or
      # recycled by an unrelated process, and postgres would then refuse to start.
      # shellcheck disable=SC2016 # $1 is expanded by the inner sh
      _dp_pg_as "$owner" sh -c 'rm -f -- "$1/postmaster.pid" "$1"/.s.PGSQL.*.lock' sh "$_dp_pg_real" || true
    fi
    for attempt in 1 2 3; do
      logsize=$(stat -c %s -- "$_dp_pg_log" 2>/dev/null) || logsize=0
      # {fd}>&- : do not let the postmaster inherit our lock file descriptor.
      rc=0
      if [[ -n ${_DP_PG_LOCKFD:-} ]]; then
        out=$(_dp_pg_as "$owner" "$bin/pg_ctl" -D "$_dp_pg_real" -l "$_dp_pg_log" -w -t 60 start 2>&1 {_DP_PG_LOCKFD}>&-) || rc=$?
      else
        out=$(_dp_pg_as "$owner" "$bin/pg_ctl" -D "$_dp_pg_real" -l "$_dp_pg_log" -w -t 60 start 2>&1) || rc=$?
      fi
      ((rc == 0)) && break
      newlog=$(tail -c +"$((logsize + 1))" -- "$_dp_pg_log" 2>/dev/null) || newlog=
      if ((attempt < 3)) && [[ $newlog == *'pre-existing shared memory block'* || $newlog == *'lock file'*'already exists'* ]]; then
        sleep 2
        continue
      fi
      break
    done
    if ((rc != 0)); then
      printf '%s\n' "$out" >&2
      printf -- '--- %s (new lines) ---\n' "$_dp_pg_log" >&2
      printf '%s\n' "$newlog" | tail -n 20 >&2
      _dp_pg_err "PostgreSQL failed to start on 127.0.0.1:$port (data $_dp_pg_real)"
      return 1
    fi
    state=started
  fi

  # 5. The service's own role (no superuser, no CREATEDB/CREATEROLE), the database owned by it, and everything in it
  # handed to it: data dirs of earlier versions had the superuser own it all. The superuser is used for this step only.
  svcpwfile=$_dp_pg_parent/pg-service-password
  svcpw=
  if [[ -s $svcpwfile ]]; then
    svcpw=$(<"$svcpwfile")
  fi
  if [[ ! $svcpw =~ ^[A-Za-z0-9]+$ ]]; then
    svcpw=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n') || return 1
    [[ ${#svcpw} -eq 32 ]] || { _dp_pg_err "could not generate a password"; return 1; }
    (umask 077 && printf '%s\n' "$svcpw" >"$svcpwfile.tmp" && mv -f "$svcpwfile.tmp" "$svcpwfile") || {
      _dp_pg_err "cannot write $svcpwfile"
      return 1
    }
  fi
  chmod 600 -- "$svcpwfile" 2>/dev/null || true
  # The password goes in on stdin (\set), never on a command line.
  out=$(printf '%s\n' \
    "\\set svcpw '$svcpw'" \
    "SELECT format('CREATE ROLE %I LOGIN', :'svc') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'svc') \\gexec" \
    "SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', :'svc', :'svcpw') \\gexec" \
    "SELECT format('CREATE DATABASE %I OWNER %I', :'dbname', :'svc') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname') \\gexec" \
    "SELECT format('ALTER DATABASE %I OWNER TO %I', :'dbname', :'svc') \\gexec" |
    PGPASSWORD=$pw PGCONNECT_TIMEOUT=30 "$bin/psql" -X -q -v ON_ERROR_STOP=1 -v dbname="$db" -v svc="$_DP_PG_SERVICE_ROLE" \
      -h 127.0.0.1 -p "$port" -U dp -d postgres 2>&1) || {
    printf '%s\n' "$out" >&2
    _dp_pg_err "could not connect to PostgreSQL on 127.0.0.1:$port or create role '$_DP_PG_SERVICE_ROLE' and database '$db'"
    return 1
  }
  out=$(_dp_pg_hand_over_sql |
    PGPASSWORD=$pw PGCONNECT_TIMEOUT=30 "$bin/psql" -X -q -v ON_ERROR_STOP=1 -v svc="$_DP_PG_SERVICE_ROLE" \
      -h 127.0.0.1 -p "$port" -U dp -d "$db" 2>&1) || {
    printf '%s\n' "$out" >&2
    _dp_pg_err "could not hand the objects of database '$db' over to role '$_DP_PG_SERVICE_ROLE'"
    return 1
  }

  # 6. Exports. DP_POSTGRES is the service's (least-privilege) connection; DP_PG_* and DP_PG_ADMIN_POSTGRES are the superuser's.
  export DP_PG_BIN=$bin DP_PG_HOST=127.0.0.1 DP_PG_PORT=$port DP_PG_USER=dp DP_PG_PASSWORD=$pw DP_PG_DB=$db
  export DP_PG_DATA=$_dp_pg_real DP_PG_LOG=$_dp_pg_log
  export DP_PG_SERVICE_USER=$_DP_PG_SERVICE_ROLE DP_PG_SERVICE_PASSWORD=$svcpw
  export DP_PG_ADMIN_POSTGRES="Host=127.0.0.1;Port=$port;Username=dp;Password=$pw;Database=$db;Maximum Pool Size=100"
  export DP_POSTGRES="Host=127.0.0.1;Port=$port;Username=$_DP_PG_SERVICE_ROLE;Password=$svcpw;Database=$db;Maximum Pool Size=100"
  ver=$(<"$_dp_pg_real/PG_VERSION")
  logshown=$_dp_pg_log
  [[ $(readlink -f -- "$_dp_pg_loglink" 2>/dev/null) == "$_dp_pg_log" ]] && logshown=$_dp_pg_loglink
  printf 'PostgreSQL %s %s on 127.0.0.1:%s (db %s, %s profile, data %s, log %s)\n' \
    "$ver" "$state" "$port" "$db" "$profile" "$_dp_pg_real" "$logshown" >&2
}

dp_postgres_down() {
  if (($# != 1)) || [[ -z $1 ]]; then
    _dp_pg_err "usage: dp_postgres_down DATA_DIR"
    return 2
  fi
  local _dp_pg_abs _dp_pg_parent _dp_pg_real _dp_pg_log _dp_pg_loglink
  local owner bin ver pid i
  _dp_pg_resolve "$1" down 2>/dev/null || return 0
  pid=$(_dp_pg_running_pid "$_dp_pg_real") || return 0
  owner=$(stat -c %U -- "$_dp_pg_real") || owner=$(_dp_pg_owner)
  ver=$(cat -- "$_dp_pg_real/PG_VERSION" 2>/dev/null) || ver=
  bin=$(_dp_pg_find_bin "$ver" 2>/dev/null) || bin=${DP_PG_BIN:-}
  if [[ -n $bin && -x $bin/pg_ctl ]] &&
    _dp_pg_as "$owner" "$bin/pg_ctl" -D "$_dp_pg_real" -m fast -w -t 60 stop >/dev/null 2>&1; then
    printf 'PostgreSQL stopped (data %s)\n' "$_dp_pg_real" >&2
    return 0
  fi
  # pg_ctl missing or failed: signal the postmaster directly (SIGINT = fast shutdown).
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < 300; i++)); do
    _dp_pg_running_pid "$_dp_pg_real" >/dev/null || { printf 'PostgreSQL stopped (data %s)\n' "$_dp_pg_real" >&2; return 0; }
    sleep 0.2
  done
  _dp_pg_err "PostgreSQL (pid $pid, data $_dp_pg_real) did not stop"
  return 1
}

dp_psql() {
  if [[ -z ${DP_PG_BIN:-} || -z ${DP_PG_PORT:-} || -z ${DP_PG_PASSWORD:-} || -z ${DP_PG_DB:-} ]]; then
    _dp_pg_err "dp_psql: run dp_postgres_up first (DP_PG_BIN/DP_PG_PORT/DP_PG_PASSWORD/DP_PG_DB unset)"
    return 2
  fi
  PGPASSWORD=$DP_PG_PASSWORD PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-30} "$DP_PG_BIN/psql" -X -v ON_ERROR_STOP=1 \
    -h "${DP_PG_HOST:-127.0.0.1}" -p "$DP_PG_PORT" -U "${DP_PG_USER:-dp}" -d "$DP_PG_DB" "$@"
}
