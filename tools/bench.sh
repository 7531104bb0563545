#!/usr/bin/env bash
# `make bench`: every speed and memory figure of the suite, each printed
# beside a reference measured in the same run (raw librdkafka, raw COPY,
# CBC on the same model...). Figures, not assertions: the machines are
# shared and noisy, so nothing here fails on a slow run.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
tools/stack/stack.sh up --test >var/bench-stack.log 2>&1 || {
  echo "bench: test stack did not start, see var/bench-stack.log"; exit 1; }
trap 'tools/stack/stack.sh down --test >>var/bench-stack.log 2>&1' EXIT
eval "$(grep "^EMS_TEST_" var/test/stack.env | sed "s/^/export /")"
export EMS_TEST_ROOT=$ROOT EMS_TEST_BIN=$ROOT/build/bin

for b in build/bin/bench-*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" || echo "bench: $(basename "$b") exited $?"
done

# Idle service RSS: the skeleton example service, connected and ready.
if [ -x build/bin/svc-example ]; then
  echo "== idle service RSS"
  tools/bench-idle-rss.sh || echo "bench: idle RSS measurement failed"
fi
