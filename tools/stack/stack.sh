#!/usr/bin/env bash
# The embedded stack: devbroker, devregistry, PostgreSQL 15 and Redis under
# ./var, then every built service.
#
#   tools/stack/stack.sh up|down|status|pg-stop [--test] [--services|--no-services]
#
# --test uses ./var/test (or $EMS_STACK_TEST_DIR) and the test ports (broker 29092 with its control
# port 29192, registry 28081, PostgreSQL 25432, Redis 26379, HTTP 28100+)
# and, unless --services is given, starts no service: integration tests
# start the binaries they test.
# `up` is idempotent (a component already running is left alone), writes the
# endpoints to <var>/stack.env, and fails with a line naming the component
# that did not become ready. `down` stops what `up` started, in reverse
# order, by pid file. Set EMS_STACK_BIN to run binaries from another build
# directory (default build/bin). The development stack (not --test) runs its
# services on var/plant.yaml (the demo plant plus the demo's replay site) and
# with the settings of tools/stack/conf/dev.env. Details: docs/operations.md,
# docs/demo.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGBIN=${EMS_PG_BIN:-/usr/lib/postgresql/15/bin}
BIN=${EMS_STACK_BIN:-$ROOT/build/bin}
READY_TIMEOUT=${EMS_STACK_TIMEOUT:-30}
STOP_TIMEOUT=20

# Service name -> offset from the HTTP base port (port plan in operations.md).
declare -A HTTP_OFFSET=(
  [scada-gateway]=1 [ingester]=2 [forecaster]=3 [price-analyzer]=4
  [schedule-optimizer]=5 [recommender]=6 [alert-engine]=7 [sap-connector]=8
  [reporter]=9
)

die() { echo "stack: $*" >&2; exit 1; }
say() { echo "stack: $*"; }

usage() {
  echo "usage: stack.sh up|down|status|pg-stop [--test] [--services|--no-services]" >&2
  exit 2
}

# ---- configuration -------------------------------------------------------

configure() {  # mode (dev|test)
  if [ "$1" = test ]; then
    # EMS_STACK_TEST_DIR puts a second test stack beside the first (the
    # suite runs its sanitizer pass on one of its own, see run-tests.sh).
    VAR=${EMS_STACK_TEST_DIR:-$ROOT/var/test}
    # EMS_STACK_PORT_SHIFT moves every test port, so two checkouts can run
    # their test suites side by side on one machine.
    local k=${EMS_STACK_PORT_SHIFT:-0}
    case $k in '' | *[!0-9]*) die "EMS_STACK_PORT_SHIFT must be a number, not '$k'" ;; esac
    BROKER_PORT=$((29092 + k)) REGISTRY_PORT=$((28081 + k)) PG_PORT=$((25432 + k))
    REDIS_PORT=$((26379 + k)) HTTP_BASE=$((28100 + k)) SIM_PORT=$((25020 + k))
    # the devbroker's control port (make requests fail), test stacks only
    BROKER_CONTROL_PORT=$((29192 + k))
  else
    VAR=$ROOT/var
    BROKER_PORT=19092 REGISTRY_PORT=18081 PG_PORT=15432 REDIS_PORT=16379
    HTTP_BASE=18100 SIM_PORT=15020 BROKER_CONTROL_PORT=
  fi
  RUN=$VAR/run LOG=$VAR/log SECRETS=$VAR/secrets
  # PostgreSQL runs as the postgres user, which must reach its files. A
  # checkout it cannot traverse (under /root, say) keeps them in /var/tmp.
  PGHOME=$VAR/pg
  if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -r "$ROOT/Makefile" 2>/dev/null; then
    PGHOME=/var/tmp/ems-pg-$(printf '%s' "$VAR" | md5sum | cut -c1-12)
  fi
  PGDATA=$PGHOME/data PGSOCK=$PGHOME/run PGLOG=$PGHOME/postgres.log
}

# Services with a main.c whose binary is built, in directory order.
services() {
  local d name
  for d in "$ROOT"/services/*/; do
    name=$(basename "$d")
    [ -f "$d/main.c" ] && [ -x "$BIN/$name" ] && echo "$name"
  done
  return 0
}

# ---- process helpers -----------------------------------------------------

# Prints the pid recorded in a pid file when that process runs and its
# command line mentions the expected program; prints nothing otherwise.
live_pid() {  # pidfile program
  local pid
  [ -s "$1" ] || return 0
  pid=$(head -n1 "$1" | tr -dc '0-9')
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  if [ -r "/proc/$pid/cmdline" ] &&
    ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"; then
    return 0
  fi
  echo "$pid"
}

# Waits until cmd succeeds; dies naming the component and its log if not.
wait_ready() {  # component logfile cmd...
  local what=$1 log=$2 deadline
  shift 2
  deadline=$((SECONDS + READY_TIMEOUT))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      [ -f "$log" ] && tail -n 5 "$log" | sed 's/^/    /' >&2
      die "$what did not become ready within ${READY_TIMEOUT}s (log: $log)"
    fi
    sleep 0.2
  done
}

# Sends SIGTERM, waits for the exit, escalates to SIGKILL after a timeout.
stop_pid() {  # component pid
  local what=$1 pid=$2 deadline
  kill -TERM "$pid" 2>/dev/null || return 0
  deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "$what (pid $pid) ignored SIGTERM for ${STOP_TIMEOUT}s, killing"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.2
  done
}

# Starts a program detached from the terminal, output appended to a log.
spawn() {  # logfile program args...
  local log=$1
  shift
  (cd "$ROOT" && exec setsid "$@" </dev/null >>"$log" 2>&1) &
  SPAWNED=$!
}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# ---- secrets ---------------------------------------------------------------

secret() {  # name -> prints the secret, generating it on first use
  local f=$SECRETS/$1
  if [ ! -s "$f" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' >"$f")
  fi
  cat "$f"
}

write_pgpass() {
  (umask 077 && {
    echo "127.0.0.1:$PG_PORT:ems:ems:$(secret pg_password)"
    echo "127.0.0.1:$PG_PORT:ems:ems_ro:$(secret pg_ro_password)"
  } >"$SECRETS/pgpass")
}

# ---- components --------------------------------------------------------------

up_broker() {
  local pidf=$RUN/devbroker.pid ready=$RUN/devbroker.ready
  [ -x "$BIN/devbroker" ] || die "devbroker is not built ($BIN/devbroker); run make"
  if [ -n "$(live_pid "$pidf" devbroker)" ]; then
    say "devbroker already running"
    return
  fi
  rm -f "$ready"
  spawn "$LOG/devbroker.log" "$BIN/devbroker" --port "$BROKER_PORT" \
    --pidfile "$pidf" --ready-file "$ready" \
    ${BROKER_CONTROL_PORT:+--control-port "$BROKER_CONTROL_PORT"}
  wait_ready "devbroker on 127.0.0.1:$BROKER_PORT" "$LOG/devbroker.log" \
    test -s "$ready"
  say "devbroker ready on $(cat "$ready")"
}

up_registry() {
  local pidf=$RUN/devregistry.pid
  [ -x "$BIN/devregistry" ] || die "devregistry is not built ($BIN/devregistry); run make"
  if [ -n "$(live_pid "$pidf" devregistry)" ]; then
    say "devregistry already running"
    return
  fi
  spawn "$LOG/devregistry.log" "$BIN/devregistry" --port "$REGISTRY_PORT" \
    --store "$VAR/registry.json" --pidfile "$pidf"
  wait_ready "devregistry on 127.0.0.1:$REGISTRY_PORT" "$LOG/devregistry.log" \
    curl -fsS "http://127.0.0.1:$REGISTRY_PORT/config"
  say "devregistry ready on http://127.0.0.1:$REGISTRY_PORT"
}

pg_initdb() {
  local pwfile
  mkdir -p "$PGHOME"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$PGHOME"
  chmod 700 "$PGHOME"
  pwfile=$PGHOME/.initpw
  (umask 077 && secret pg_superuser_password >"$pwfile")
  [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
  as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" \
    -E UTF8 --no-locale --auth-local=trust --auth-host=scram-sha-256 \
    >>"$PGLOG" 2>&1 || { rm -f "$pwfile"; die "initdb failed (log: $PGLOG)"; }
  rm -f "$pwfile"
}

pg_sql() {  # database, SQL on stdin
  "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PG_PORT" \
    -U postgres -d "$1"
}

pg_roles() {
  local pw ro
  pw=$(secret pg_password)
  ro=$(secret pg_ro_password)
  pg_sql postgres >>"$PGLOG" 2>&1 <<SQL || die "cannot create roles (log: $PGLOG)"
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['ems','ems_ro']) r
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
ALTER ROLE ems PASSWORD '$pw';
ALTER ROLE ems_ro PASSWORD '$ro';
SELECT 'CREATE DATABASE ems OWNER ems'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ems') \gexec
GRANT CONNECT ON DATABASE ems TO ems_ro;
SQL
  pg_sql ems >>"$PGLOG" 2>&1 <<SQL || die "cannot grant read-only role (log: $PGLOG)"
ALTER SCHEMA public OWNER TO ems;
GRANT USAGE ON SCHEMA public TO ems_ro;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO ems_ro;
ALTER DEFAULT PRIVILEGES FOR ROLE ems GRANT SELECT ON TABLES TO ems_ro;
ALTER DEFAULT PRIVILEGES FOR ROLE ems GRANT USAGE ON SCHEMAS TO ems_ro;
SQL
}

up_postgres() {
  if [ -n "$(live_pid "$PGDATA/postmaster.pid" postgres)" ]; then
    say "postgres already running"
    return
  fi
  [ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 not found in $PGBIN; run make deps"
  [ -f "$PGDATA/PG_VERSION" ] || pg_initdb
  mkdir -p "$PGSOCK"
  touch "$PGLOG"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PGSOCK" "$PGLOG"; fi
  chmod 700 "$PGSOCK"
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGLOG" -w -t "$READY_TIMEOUT" \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PGSOCK" start >/dev/null ||
    die "postgres did not start on 127.0.0.1:$PG_PORT (log: $PGLOG)"
  wait_ready "postgres on 127.0.0.1:$PG_PORT" "$PGLOG" \
    "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  pg_roles
  say "postgres ready on 127.0.0.1:$PG_PORT (database ems, roles ems, ems_ro)"
}

up_redis() {
  local pidf=$RUN/redis.pid
  if [ -n "$(live_pid "$pidf" redis-server)" ]; then
    say "redis already running"
    return
  fi
  command -v redis-server >/dev/null || die "redis-server not found; run make deps"
  mkdir -p "$VAR/redis"
  (cd "$ROOT" && redis-server --bind 127.0.0.1 --port "$REDIS_PORT" \
    --dir "$VAR/redis" --daemonize yes --pidfile "$pidf" \
    --logfile "$LOG/redis.log") >/dev/null || die "redis-server failed (log: $LOG/redis.log)"
  wait_ready "redis on 127.0.0.1:$REDIS_PORT" "$LOG/redis.log" \
    redis_ping
  say "redis ready on 127.0.0.1:$REDIS_PORT"
}

# The Modbus meter simulator serving the demo plant's meters (real load data).
up_metersim() {
  local pidf=$RUN/meter-sim.pid ready=$RUN/meter-sim.ready
  [ -x "$BIN/meter-sim" ] || { say "meter-sim not built; skipped"; return; }
  if [ -n "$(live_pid "$pidf" meter-sim)" ]; then
    say "meter-sim already running"
    return
  fi
  rm -f "$ready"
  spawn "$LOG/meter-sim.log" "$BIN/meter-sim" --plant "$ROOT/tools/stack/plant.yaml" \
    --port "$SIM_PORT" --speed "${EMS_SIM_SPEED:-1440}" --control "$VAR/meter-faults.txt" \
    --pidfile "$pidf" --ready-file "$ready"
  wait_ready "meter-sim on 127.0.0.1:$SIM_PORT" "$LOG/meter-sim.log" test -s "$ready"
  say "meter-sim ready on 127.0.0.1:$SIM_PORT"
}

redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping)" = PONG ]; }

up_service() {  # name
  local svc=$1 pidf=$RUN/$1.pid conf=$ROOT/tools/stack/conf/$1.yaml
  local -a args=()
  if [ -n "$(live_pid "$pidf" "$svc")" ]; then
    say "$svc already running"
    return
  fi
  [ -f "$conf" ] && args=(--config "$conf")
  (
    if [ -n "${HTTP_OFFSET[$svc]:-}" ]; then
      export EMS_HTTP_PORT=$((HTTP_BASE + HTTP_OFFSET[$svc]))
    fi
    spawn "$LOG/$svc.log" "$BIN/$svc" "${args[@]}"
    echo "$SPAWNED" >"$pidf"
  )
  sleep 0.3
  if [ -z "$(live_pid "$pidf" "$svc")" ]; then
    rm -f "$pidf"
    tail -n 3 "$LOG/$svc.log" | sed 's/^/    /' >&2
    echo "stack: $svc exited at start (log: $LOG/$svc.log)" >&2
    return 1
  fi
  say "$svc started (pid $(cat "$pidf"))"
}

# ---- plant model -------------------------------------------------------------

# The development stack's plant model: the demo plant (tools/stack/plant.yaml,
# the site whose meters meter-sim serves and scada-gateway polls live) plus
# the replay site of the demo (tools/stack/plant-replay.yaml), merged section
# by section (sites, meters, equipment) into <var>/plant.yaml. Both files keep
# their top-level keys at column 0 and list items indented below them.
write_plant() {
  local tmp=$VAR/plant.yaml.tmp
  awk -v frag="$ROOT/tools/stack/plant-replay.yaml" '
    function flush() { if (sec != "" && (sec in add)) { printf "%s", add[sec]; delete add[sec] } }
    BEGIN {
      while ((getline line < frag) > 0) {
        if (line ~ /^[a-z_]+:/) { fsec = line; sub(/:.*/, "", fsec); continue }
        if (fsec != "" && line !~ /^#/) add[fsec] = add[fsec] line "\n"
      }
      print "# Generated by tools/stack/stack.sh up from tools/stack/plant.yaml and"
      print "# tools/stack/plant-replay.yaml; edit those, not this file."
    }
    /^[a-z_]+:/ { flush(); sec = $0; sub(/:.*/, "", sec) }
    { print }
    END { flush(); for (k in add) { print k ":"; printf "%s", add[k] } }
  ' "$ROOT/tools/stack/plant.yaml" >"$tmp" || die "cannot write $VAR/plant.yaml"
  mv "$tmp" "$VAR/plant.yaml"
}

# ---- environment file --------------------------------------------------------

emit() { printf '%s=%q\n' "$1" "$2"; }

# The development stack's own settings (tools/stack/conf/dev.env): its
# EMS_*=value lines, comments and blank lines skipped.
dev_settings() {
  local line
  [ -f "$ROOT/tools/stack/conf/dev.env" ] || return 0
  while IFS= read -r line; do
    [[ $line =~ ^(EMS_[A-Z0-9_]+)=(.*)$ ]] && emit "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  done <"$ROOT/tools/stack/conf/dev.env"
  return 0
}

write_env() {  # mode
  local pg ro tmp=$VAR/stack.env.tmp
  pg="host=127.0.0.1 port=$PG_PORT dbname=ems user=ems passfile=$SECRETS/pgpass"
  ro="host=127.0.0.1 port=$PG_PORT dbname=ems user=ems_ro passfile=$SECRETS/pgpass"
  {
    echo "# Written by tools/stack/stack.sh up; source with: set -a; . $VAR/stack.env"
    emit EMS_BUS_BOOTSTRAP "127.0.0.1:$BROKER_PORT"
    emit EMS_BUS_REGISTRY_URL "http://127.0.0.1:$REGISTRY_PORT"
    emit EMS_DB_CONNINFO "$pg"
    emit EMS_DB_RO_CONNINFO "$ro"
    emit EMS_REDIS_ADDR "127.0.0.1:$REDIS_PORT"
    emit EMS_STACK_VAR "$VAR"
    # The dev stack's services plan the replay site too; the test stack
    # keeps the demo plant as it is (integration tests load that file).
    [ "$1" = test ] || emit EMS_PLANT_PATH "$VAR/plant.yaml"
    [ "$1" = test ] || dev_settings
    if [ "$1" = test ]; then
      emit EMS_TEST_BOOTSTRAP "127.0.0.1:$BROKER_PORT"
      emit EMS_TEST_BROKER_CONTROL "127.0.0.1:$BROKER_CONTROL_PORT"
      emit EMS_TEST_REGISTRY "http://127.0.0.1:$REGISTRY_PORT"
      emit EMS_TEST_PG "$pg"
      emit EMS_TEST_PG_RO "$ro"
      emit EMS_TEST_REDIS "127.0.0.1:$REDIS_PORT"
      emit EMS_TEST_ROOT "$ROOT"
      emit EMS_TEST_BIN "$BIN"
      emit EMS_TEST_HTTP_BASE "$HTTP_BASE"
    fi
  } >"$tmp"
  chmod 600 "$tmp"
  mv "$tmp" "$VAR/stack.env"
}

# ---- commands ----------------------------------------------------------------

cmd_up() {  # mode with_services
  mkdir -p "$RUN" "$LOG" "$SECRETS" "$PGHOME"
  chmod 700 "$SECRETS"
  write_pgpass
  up_broker
  up_registry
  up_postgres
  up_redis
  [ "$1" = test ] || write_plant
  write_env "$1"
  # Services read the endpoints from the environment (EMS_<SECTION>_<KEY>).
  set -a
  # shellcheck disable=SC1091
  . "$VAR/stack.env"
  set +a
  local svc failed=()
  if [ "$2" = yes ]; then
    up_metersim
    # A service that fails does not keep the others from starting.
    for svc in $(services); do up_service "$svc" || failed+=("$svc"); done
  fi
  [ ${#failed[@]} -eq 0 ] || die "up, except: ${failed[*]}; endpoints in $VAR/stack.env"
  say "up; endpoints in $VAR/stack.env"
}

stop_by_pidfile() {  # component pidfile program
  local pid
  pid=$(live_pid "$2" "$3")
  if [ -n "$pid" ]; then
    say "stopping $1 (pid $pid)"
    stop_pid "$1" "$pid"
  fi
  rm -f "$2"
}

# Stops PostgreSQL alone (fast shutdown), e.g. for an outage test; `up`
# starts it again with the same data.
cmd_pg_stop() {
  if [ -n "$(live_pid "$PGDATA/postmaster.pid" postgres)" ]; then
    say "stopping postgres"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t "$STOP_TIMEOUT" stop >/dev/null ||
      say "postgres did not stop cleanly (log: $PGLOG)"
  fi
}

cmd_down() {
  local f svc i
  local -a started=()
  for f in "$RUN"/*.pid; do
    [ -e "$f" ] || continue
    svc=$(basename "$f" .pid)
    case $svc in devbroker | devregistry | redis) ;; *) started+=("$svc") ;; esac
  done
  # Services started in name order; stop them in reverse.
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    stop_by_pidfile "${started[i]}" "$RUN/${started[i]}.pid" "${started[i]}"
  done
  stop_by_pidfile redis "$RUN/redis.pid" redis-server
  cmd_pg_stop
  stop_by_pidfile devregistry "$RUN/devregistry.pid" devregistry
  stop_by_pidfile devbroker "$RUN/devbroker.pid" devbroker
  rm -f "$RUN/devbroker.ready"
  say "down"
}

status_row() {  # component pidfile program port
  local pid
  pid=$(live_pid "$2" "$3")
  printf '%-20s %-8s %-7s %s\n' "$1" "${pid:--}" "$4" "$([ -n "$pid" ] && echo yes || echo no)"
}

cmd_status() {
  local svc port
  printf '%-20s %-8s %-7s %s\n' COMPONENT PID PORT RUNNING
  status_row devbroker "$RUN/devbroker.pid" devbroker "$BROKER_PORT"
  status_row devregistry "$RUN/devregistry.pid" devregistry "$REGISTRY_PORT"
  status_row postgres "$PGDATA/postmaster.pid" postgres "$PG_PORT"
  status_row redis "$RUN/redis.pid" redis-server "$REDIS_PORT"
  status_row meter-sim "$RUN/meter-sim.pid" meter-sim "$SIM_PORT"
  for svc in $(services); do
    port=-
    [ -n "${HTTP_OFFSET[$svc]:-}" ] && port=$((HTTP_BASE + HTTP_OFFSET[$svc]))
    status_row "$svc" "$RUN/$svc.pid" "$svc" "$port"
  done
}

main() {
  local cmd=${1:-} mode=dev with=
  [ $# -gt 0 ] && shift
  while [ $# -gt 0 ]; do
    case $1 in
      --test) mode='test' ;;
      --services) with=yes ;;
      --no-services) with=no ;;
      *) usage ;;
    esac
    shift
  done
  if [ -z "$with" ]; then
    with=yes
    [ "$mode" = "test" ] && with=no
  fi
  configure "$mode"
  case $cmd in
    up) cmd_up "$mode" "$with" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    pg-stop) cmd_pg_stop ;;
    *) usage ;;
  esac
}

main "$@"
