#!/usr/bin/env bash
# Prints the resident memory of an idle service (the skeleton's example
# service: config, plant model, bus, producer, HTTP listener, audit), once it
# is ready and has idled for a few seconds. Needs the test stack (EMS_TEST_*).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${EMS_TEST_BOOTSTRAP:?test stack not running}"
. tests/valgrind/common.sh
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(( ${EMS_TEST_HTTP_BASE:-28100} + 99 ))
ems_example_config "$dir/svc.yaml" "$dir" "$port"
build/bin/svc-example --config "$dir/svc.yaml" >"$dir/out" 2>"$dir/err" &
pid=$!
ready=0
ems_wait_ready "$port" 10 "$pid" && ready=1
sleep 3
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")
hwm_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
kill -TERM "$pid"; wait "$pid" || true
[ "$ready" -eq 1 ] || { echo "idle service never became ready"; tail -5 "$dir/err"; exit 1; }
awk -v r="$rss_kb" -v h="$hwm_kb" 'BEGIN {
  printf "idle_service_rss_mb=%.1f peak_rss_mb=%.1f target_mb=20 ratio_to_target=%.2f\n",
         r/1024, h/1024, (r/1024)/20 }'
