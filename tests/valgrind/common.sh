# shellcheck shell=bash
# Shell helpers shared by tests/valgrind/check.sh and tools/bench-idle-rss.sh
# (sourced, not run): the example service's config on the test stack, and
# waiting on a service's /readyz and /metrics. Needs curl and the EMS_TEST_*
# variables of the test stack (var/test/stack.env).

# Writes the example service's config to file: HTTP on 127.0.0.1:port, the
# test stack's broker and registry, the demo plant model, its audit state
# below dir. Run from the repository root.
ems_example_config() {  # file dir port
  cat >"$1" <<YAML
log:
  level: warn
http:
  listen: 127.0.0.1
  port: $3
bus:
  bootstrap: $EMS_TEST_BOOTSTRAP
  registry_url: $EMS_TEST_REGISTRY
  schema_dir: $PWD/schemas
plant:
  path: $PWD/tools/stack/plant.yaml
audit:
  state_file: $2/audit.state
YAML
}

# Waits until http://127.0.0.1:port/readyz answers 200, at most timeout
# seconds; gives up early when pid (if given) has exited. Returns 0 once
# ready, 1 otherwise.
ems_wait_ready() {  # port timeout_s [pid]
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    curl -fs "http://127.0.0.1:$1/readyz" >/dev/null 2>&1 && return 0
    [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null && return 1
    sleep 0.2
  done
  return 1
}

# Prints the sum of the samples of metric name (every label set) on
# http://127.0.0.1:port/metrics, or -1 when nothing answers or no sample.
ems_metric() {  # port name
  curl -fs "http://127.0.0.1:$1/metrics" 2>/dev/null |
    awk -v n="$2" 'index($0, n " ") == 1 || index($0, n "{") == 1 { s += $NF; k = 1 }
                   END { print (k ? s : -1) }'
}

# Waits until metric name (summed over its label sets) on port's /metrics
# is at least want, at most timeout seconds, while pid runs. Prints the last value read; returns 0
# when it reached want, 1 otherwise.
ems_wait_metric() {  # port name want timeout_s pid
  local deadline=$((SECONDS + $4)) v=-1
  while :; do
    v=$(ems_metric "$1" "$2")
    if awk -v v="$v" -v w="$3" 'BEGIN { exit !(v >= w) }'; then echo "$v"; return 0; fi
    if [ $SECONDS -ge $deadline ] || ! kill -0 "$5" 2>/dev/null; then echo "$v"; return 1; fi
    sleep 0.5
  done
}
