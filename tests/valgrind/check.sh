#!/usr/bin/env bash
# A service's normal run under valgrind: the skeleton's example service
# starts against the test stack (EMS_TEST_*), becomes ready, serves its
# endpoints, and stops on SIGTERM. Any definite or indirect leak, or any
# memory error, fails the check.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${EMS_TEST_BOOTSTRAP:?test stack not running}"
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
port=$(( ${EMS_TEST_HTTP_BASE:-28100} + 98 ))
cat >"$dir/svc.yaml" <<YAML
log:
  level: warn
http:
  listen: 127.0.0.1
  port: $port
bus:
  bootstrap: $EMS_TEST_BOOTSTRAP
  registry_url: $EMS_TEST_REGISTRY
  schema_dir: $PWD/schemas
plant:
  path: $PWD/tools/stack/plant.yaml
audit:
  state_file: $dir/audit.state
YAML
valgrind --leak-check=full --show-leak-kinds=definite,indirect \
  --errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
  --log-file="$dir/vg.log" build/bin/svc-example --config "$dir/svc.yaml" \
  >"$dir/out" 2>"$dir/err" &
pid=$!
ready=0
for _ in $(seq 1 300); do
  if curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then ready=1; break; fi
  sleep 0.1
done
curl -fs "http://127.0.0.1:$port/metrics" >/dev/null || true
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
grep -E 'definitely lost|indirectly lost|ERROR SUMMARY' "$dir/vg.log" || true
[ "$ready" -eq 1 ] || { echo "service never became ready under valgrind"; tail -5 "$dir/err"; exit 1; }
[ "$rc" -eq 0 ] || { echo "valgrind/service exit $rc"; tail -40 "$dir/vg.log"; exit 1; }
echo "valgrind: no leak and no memory error in a normal run of svc-example"
