#!/usr/bin/env bash
# Every service's normal run under valgrind (memcheck, --leak-check=full),
# against the test stack (EMS_TEST_*), on topics of a fresh prefix and a
# fresh replay site:
#   svc-example         starts, becomes ready, serves its endpoints;
#   meter-sim and       the gateway polls the simulated meters of the demo
#   scada-gateway       plant over Modbus TCP and publishes their readings,
#                       through a dropped connection and a faulty unit;
#   ingester            stores nine replayed days of the Dutch substation's
#                       telemetry in PostgreSQL and Redis, rolls them up to
#                       energy.load, and later stores the forecasts and the
#                       plan made from them;
#   forecaster          rebuilds its history from energy.load and
#                       energy.weather, trains, issues forecasts;
#   schedule-optimizer  plans the site from the latest forecast and price
#                       curve.
# Each one must become ready, show its work on /metrics, and exit 0 on
# SIGTERM. A definite or indirect leak or any memory error fails the check;
# valgrind's report of every failing program is printed. Suppressions
# (tests/valgrind/ems.supp) cover one-time globals of third-party libraries
# only. Runs the normal build (build/bin); valgrind and ASan do not mix.
#
#   tests/valgrind/check.sh [example] [gateway] [pipeline]   (default: all)
# EMS_VG_KEEP=1 keeps the logs (printed directory); EMS_VG_WAIT bounds each
# wait (seconds, default 120).
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${EMS_TEST_BOOTSTRAP:?test stack not running (set -a; . var/test/stack.env)}"
: "${EMS_TEST_REGISTRY:?}" "${EMS_TEST_PG:?}" "${EMS_TEST_REDIS:?}"
. tests/valgrind/common.sh

keep=${EMS_VG_KEEP:-}
WAIT=${EMS_VG_WAIT:-120} # bound of one wait, seconds (never reached when all is well)
# Only EMS_TEST_* pass through: an EMS_<SECTION>_<KEY> from a sourced
# stack.env would override the settings given to each service below.
for v in $(compgen -e); do
  case $v in EMS_TEST_*) ;; EMS_*) unset "$v" ;; esac
done

BIN=build/bin
tag=vg$(date +%s)$$
base=${EMS_TEST_HTTP_BASE:-28100}
dir=$(mktemp -d)
declare -A PID=()
failed=() checked=()

# shellcheck disable=SC2054 # the commas belong to valgrind's options
VG=(valgrind --leak-check=full --show-leak-kinds=definite,indirect
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --num-callers=40 --track-origins=yes
  --suppressions="$PWD/tests/valgrind/ems.supp")

cleanup() {
  local n
  for n in "${!PID[@]}"; do kill -KILL "${PID[$n]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "$keep" ]; then echo "logs kept in $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

for b in svc-example meter-sim scada-gateway ingester forecaster schedule-optimizer replay; do
  [ -x "$BIN/$b" ] || { echo "FAIL $BIN/$b is not built (make)"; exit 1; }
done

# The settings every service gets: the test stack; each part below adds its
# own topic prefix.
COMMON=(EMS_BUS_BOOTSTRAP="$EMS_TEST_BOOTSTRAP" EMS_BUS_REGISTRY_URL="$EMS_TEST_REGISTRY"
  EMS_BUS_SCHEMA_DIR="$PWD/schemas" EMS_LOG_LEVEL=warn)

# Starts a program under valgrind in the background: name, environment
# assignments, "--", the command. Output and valgrind's log go to
# $dir/<name>.{out,err,vg}.
vg_start() {
  local name=$1
  local -a envs=()
  shift
  while [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "${VG[@]}" --log-file="$dir/$name.vg" "$@" \
    >"$dir/$name.out" 2>"$dir/$name.err" &
  PID[$name]=$!
}

# Marks name failed with a reason and shows the end of its stderr.
fail() {  # name reason
  echo "FAIL $1: $2"
  tail -n 5 "$dir/$1.err" 2>/dev/null | sed 's/^/    /'
  failed+=("$1")
}

# Waits until name answers /readyz on port.
ready() {  # name port
  ems_wait_ready "$2" "$WAIT" "${PID[$1]}" || fail "$1" "not ready on :$2 under valgrind"
}

# Waits until name's metric reaches want; the step fails otherwise.
work() {  # name port metric want
  local v
  v=$(ems_wait_metric "$2" "$3" "$4" "$WAIT" "${PID[$1]}") ||
    { fail "$1" "$3 is $v, want >= $4"; return 1; }
  echo "     $1: $3 $v"
}

# SIGTERM, then the exit: 0 wanted; valgrind exits 99 on a leak or error.
vg_stop() {  # name
  local name=$1 pid=${PID[$1]} rc=0 i=0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; rc=-1; }
  wait "$pid" || rc=$?
  unset "PID[$name]"
  checked+=("$name")
  local sum
  sum=$(awk '/definitely lost:/ { d = $(NF - 4) } /indirectly lost:/ { i = $(NF - 4) }
             /ERROR SUMMARY:/ { e = $4 }
             END { printf "definitely lost %s B, indirectly lost %s B, errors %s",
                   d == "" ? 0 : d, i == "" ? 0 : i, e == "" ? "?" : e }' "$dir/$name.vg")
  if [ "$rc" -eq 0 ]; then
    echo "ok   $name: ${sum:-no summary}"
    return
  fi
  fail "$name" "exit $rc after SIGTERM (-1: ignored it for 60 s; 99: valgrind found errors); $sum"
  # valgrind's report: errors and loss records, without its preamble
  sed -E 's/^==[0-9]+== ?//' "$dir/$name.vg" | awk '
    /^(Invalid|Conditional|Use of|Syscall param|Mismatched|Source and destination|Argument)/ ||
    /are (definitely|indirectly) lost/ { show = 1 }
    /^$/ { if (show) print ""; show = 0 }
    show' | head -n 400 | sed 's/^/    /'
}

# ---- svc-example: start, ready, endpoints, stop --------------------------
part_example() {
  local port_ex=$((base + 98))
  ems_example_config "$dir/example.yaml" "$dir" "$port_ex"
  vg_start svc-example -- "$BIN/svc-example" --config "$dir/example.yaml"
  ready svc-example "$port_ex"
  curl -fs "http://127.0.0.1:$port_ex/metrics" >/dev/null || fail svc-example "no /metrics"
  vg_stop svc-example
}

# ---- meter-sim + scada-gateway: live polling -----------------------------
# The demo plant's four meters, served by meter-sim (accelerated real load)
# on a port of the check's own, polled by the gateway, which also listens
# for control commands. Midway meter-sim drops every connection and answers
# one unit with Modbus exceptions, so the gateway's error, reconnect and
# back-off paths run too; then all is healthy again.
part_gateway() {
  local port_mb=$((base + 90)) port_gw=$((base + 91)) n
  sed "s/port: 15020/port: $port_mb/" tools/stack/plant.yaml >"$dir/gw-plant.yaml"
  echo "# no faults" >"$dir/faults.txt"
  mkdir -p "$dir/override"
  vg_start meter-sim -- "$BIN/meter-sim" --plant "$dir/gw-plant.yaml" --port "$port_mb" \
    --speed 1440 --control "$dir/faults.txt" --ready-file "$dir/sim.ready" \
    --data tests/data/openstef_nl_neerijnen/307-test-data.csv
  for _ in $(seq 1 $((WAIT * 5))); do [ -s "$dir/sim.ready" ] && break; sleep 0.2; done
  [ -s "$dir/sim.ready" ] || fail meter-sim "no ready file"
  vg_start scada-gateway "${COMMON[@]}" EMS_BUS_TOPIC_PREFIX="$tag-gw." \
    EMS_PLANT_PATH="$dir/gw-plant.yaml" EMS_HTTP_PORT="$port_gw" \
    EMS_SCADA_SPOOL_DIR="$dir/spool" EMS_SCADA_STATE_FILE="$dir/gw-state.json" \
    EMS_SCADA_OVERRIDE_DIR="$dir/override" EMS_SCADA_CONTROL_GROUP="$tag-gw" \
    EMS_SCADA_BACKOFF_BASE=200ms EMS_SCADA_BACKOFF_MAX=1s -- \
    "$BIN/scada-gateway" --config tools/stack/conf/scada-gateway.yaml
  ready scada-gateway "$port_gw"
  # four meters at 1-2 s: a few rounds of every one
  work scada-gateway "$port_gw" ems_scada_readings_published_total 12 || true
  printf 'drop\n4 exception\n' >"$dir/faults.tmp" && mv "$dir/faults.tmp" "$dir/faults.txt"
  work scada-gateway "$port_gw" ems_scada_poll_errors_total 1 || true
  echo "# healed" >"$dir/faults.tmp" && mv "$dir/faults.tmp" "$dir/faults.txt"
  n=$(ems_metric "$port_gw" ems_scada_readings_published_total)
  work scada-gateway "$port_gw" ems_scada_readings_published_total $((${n%.*} + 8)) || true
  vg_stop scada-gateway
  vg_stop meter-sim
}

# ---- replay -> ingester -> forecaster -> schedule-optimizer ---------------
# Nine days of the Dutch substation (2020-10-01..09) as a site of its own
# (the demo's replay site renamed), so the rows stored in the shared
# PostgreSQL are this run's alone.
replay() {  # from to (UTC days)
  "$BIN/replay" --bootstrap "$EMS_TEST_BOOTSTRAP" --registry "$EMS_TEST_REGISTRY" \
    --schemas schemas --prefix "$tag." --site "$site" --meter "$site-main" --market NL \
    --tz Europe/Amsterdam --from "$1" --to "$2" >"$dir/replay.out" 2>&1 ||
    { cat "$dir/replay.out"; fail replay "replay $1..$2 failed"; return 1; }
  echo "     $(cat "$dir/replay.out")"
}

# Counts rows of this run's site in a table the ingester fills.
stored() {  # table
  psql "$EMS_TEST_PG" -XAtc "SELECT count(*) FROM $1 WHERE site_id = '$site'" 2>/dev/null ||
    echo -1
}

part_pipeline() {
  local site=$tag sent n
  local port_ing=$((base + 92)) port_fc=$((base + 93)) port_opt=$((base + 95))
  sed "s/nl-neerijnen-2020/$site/g" tools/stack/plant-replay.yaml >"$dir/plant.yaml"
  replay 2020-10-01 2020-10-10 || return 0
  sent=$(sed -n 's/.*telemetry \([0-9]*\).*/\1/p' "$dir/replay.out")
  local -a pipe=("${COMMON[@]}" EMS_BUS_TOPIC_PREFIX="$tag." EMS_PLANT_PATH="$dir/plant.yaml")

  vg_start ingester "${pipe[@]}" EMS_HTTP_PORT="$port_ing" EMS_INGESTER_GROUP_ID="$tag-ing" \
    EMS_INGESTER_SAMPLE_PERIOD=15m EMS_DB_CONNINFO="$EMS_TEST_PG" \
    EMS_REDIS_ADDR="$EMS_TEST_REDIS" EMS_REDIS_PREFIX="$tag:" \
    EMS_INGESTER_ARCHIVE_DIR="$dir/archive" -- \
    "$BIN/ingester" --config tools/stack/conf/ingester.yaml
  ready ingester "$port_ing"
  work ingester "$port_ing" ems_ingester_rows_written_total "$sent" || true
  # every quarter-hour of the site but the last ones (watermark, lateness)
  work ingester "$port_ing" ems_ingester_rollups_closed_total $((sent - 4)) || true

  # OMP_WAIT_POLICY set here spares the forecaster its re-execution through
  # /proc/self/exe (services/forecaster/main.c), which under valgrind would
  # be valgrind's own tool binary.
  vg_start forecaster "${pipe[@]}" EMS_HTTP_PORT="$port_fc" \
    EMS_FORECASTER_GROUP_ID="$tag-fc" EMS_FORECASTER_WARMUP=168h \
    EMS_FORECASTER_TREE_ROUNDS=20 EMS_FORECASTER_TREE_DEPTH=3 \
    EMS_FORECASTER_MODEL_DIR="$dir/models" EMS_WEATHER_DIR="$dir/weather" \
    EMS_WEATHER_DEFAULT_SITE="$site" OMP_WAIT_POLICY=PASSIVE -- \
    "$BIN/forecaster" --config tools/stack/conf/forecaster.yaml
  ready forecaster "$port_fc"
  # a week of warm-up, then the runs of the last two days (backfill)
  work forecaster "$port_fc" ems_forecaster_forecasts_total 24 || true
  vg_stop forecaster

  # The latest forecast (intraday, issued 2020-10-09 22:00 UTC) covers the
  # site-local 10 October, whose price curve (the only complete site-local
  # day of this replay) comes now; the day's readings again are duplicates.
  replay 2020-10-09 2020-10-11 || true
  vg_start schedule-optimizer "${pipe[@]}" EMS_HTTP_PORT="$port_opt" \
    EMS_OPTIMIZER_GROUP_ID="$tag-opt" EMS_OPTIMIZER_TIME_LIMIT=5s \
    EMS_OPTIMIZER_RESTORE_IDLE=2s EMS_OPTIMIZER_RESTORE_EMPTY=8s -- \
    "$BIN/schedule-optimizer" --config tools/stack/conf/schedule-optimizer.yaml
  ready schedule-optimizer "$port_opt"
  work schedule-optimizer "$port_opt" ems_optimizer_plans_published_total 1 || true
  vg_stop schedule-optimizer

  # the ingester stores what the others published
  for _ in $(seq 1 $((WAIT * 2))); do
    [ "$(stored schedule_runs)" -ge 1 ] && [ "$(stored forecasts)" -ge 1 ] && break
    kill -0 "${PID[ingester]}" 2>/dev/null || break
    sleep 0.5
  done
  n="$(stored forecasts) forecast rows, $(stored schedule_runs) plan(s)"
  echo "     ingester: stored $n of site $site"
  [ "$(stored schedule_runs)" -ge 1 ] || fail ingester "no plan stored ($n)"
  [ "$(redis-cli -h "${EMS_TEST_REDIS%:*}" -p "${EMS_TEST_REDIS##*:}" \
    exists "$tag:latest:$site-main" 2>/dev/null)" = 1 ] ||
    fail ingester "no latest value of $site-main in Redis"
  vg_stop ingester
}

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(example gateway pipeline)
t0=$SECONDS
for p in "${parts[@]}"; do
  case $p in
    example | gateway | pipeline) "part_$p" ;;
    *) echo "check.sh: unknown part '$p' (example, gateway, pipeline)" >&2; exit 2 ;;
  esac
done
echo "valgrind check took $((SECONDS - t0)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "valgrind: failing: ${failed[*]}"
  exit 1
fi
echo "valgrind: no leak and no memory error in a normal run of: ${checked[*]}"
