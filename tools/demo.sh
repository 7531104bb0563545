#!/usr/bin/env bash
# The demo, run by `make demo` once `make up` has started the embedded stack:
# replays the Dutch substation's November 2020 (tests/data/openstef_nl_neerijnen)
# through the bus at full speed as energy.telemetry, energy.prices and
# energy.weather records, then reads the topics back with ems-tail and shows
# how many records each holds. Services extend this script with their steps.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${EMS_STACK_BIN:-$ROOT/build/bin}
VAR=${EMS_STACK_VAR:-$ROOT/var}
FROM=${EMS_DEMO_FROM:-2020-11-01}
TO=${EMS_DEMO_TO:-2020-12-01}
TOPICS=(energy.telemetry energy.prices energy.weather)

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

# Endpoints of the running stack (written by tools/stack/stack.sh up).
if [ -f "$VAR/stack.env" ]; then
  set -a; . "$VAR/stack.env"; set +a
fi
BOOTSTRAP=${EMS_BUS_BOOTSTRAP:-127.0.0.1:19092}
REGISTRY=${EMS_BUS_REGISTRY_URL:-http://127.0.0.1:18081}
PREFIX=${EMS_BUS_TOPIC_PREFIX:-}
[ -x "$BIN/replay" ] || die "'$BIN/replay' is not built (run make)"
cd "$ROOT"

# ---- 1. replay the real data -------------------------------------------
say "replaying $FROM..$TO of the Neerijnen substation (OpenSTEF, MPL-2.0) at full speed"
summary=$("$BIN/replay" --bootstrap "$BOOTSTRAP" --registry "$REGISTRY" \
  --schemas "$ROOT/schemas" --prefix "$PREFIX" \
  --data "$ROOT/tests/data/openstef_nl_neerijnen" \
  --from "$FROM" --to "$TO" --speed 0) || die "replay failed"
echo "$summary"
declare -A sent=(
  [energy.telemetry]=$(sed -n 's/.*telemetry \([0-9]*\).*/\1/p' <<<"$summary")
  [energy.prices]=$(sed -n 's/.*prices \([0-9]*\).*/\1/p' <<<"$summary")
  [energy.weather]=$(sed -n 's/.*weather \([0-9]*\).*/\1/p' <<<"$summary")
)

# ---- 2. read it back -----------------------------------------------------
if [ ! -x "$BIN/ems-tail" ]; then
  say "ems-tail is not built: skipping the read-back check"
else
  say "reading the topics back with ems-tail (records on the topic; a second demo run adds to them)"
  printf '  %-20s %10s %10s\n' topic published "on topic"
  bad=0
  for t in "${TOPICS[@]}"; do
    n=$("$BIN/ems-tail" --bootstrap "$BOOTSTRAP" --registry "$REGISTRY" \
          --schemas "$ROOT/schemas" --prefix "$PREFIX" --count --timeout-ms 5000 "$t" \
        | awk '{n=$NF} END {print n+0}') || n=0
    printf '  %-20s %10s %10s\n' "$t" "${sent[$t]:-0}" "$n"
    [ "$n" -ge "${sent[$t]:-0}" ] || bad=1
  done
  [ "$bad" -eq 0 ] || die "some records did not arrive"
  say "every published record is on its topic"
fi

# ---- 3. where to look next -------------------------------------------------
cat <<'EOT'
demo: next
  make status                      what runs, where (ports, pids, logs)
  ls var/log/                      one log file per component (JSON lines)
  build/bin/ems-tail --help        decode any topic, e.g. energy.prices
  curl -s localhost:18102/metrics  a service's Prometheus metrics (ports 18101..18109)
  make down                        stop everything
EOT
