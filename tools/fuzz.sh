#!/usr/bin/env bash
# Runs the libFuzzer harnesses built by `make fuzz` (build-fuzz/fuzz/),
# one at a time, each for FUZZ_SECONDS (default 60) over its seed corpus
# tests/fuzz/corpus/<target>/. New inputs go to var/fuzz/<target>/corpus
# (the seeds in git stay as they are), a crashing input to
# var/fuzz/<target>/crash-*, the log to var/fuzz/<target>.log.
#   tools/fuzz.sh [fuzz_x ...]   the harnesses to run (default: all)
# Prints each harness's last coverage line; exits 1 if one found a crash.
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-60}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi

failed=()
for t in "${targets[@]}"; do
  bin=build-fuzz/fuzz/$t name=${t#fuzz_}
  out=var/fuzz/$name
  [ -x "$bin" ] || { echo "fuzz: $bin not built (make fuzz)" >&2; exit 2; }
  mkdir -p "$out/corpus"
  # -rss_limit_mb and -malloc_limit_mb turn a runaway allocation (a length
  # taken from the input) into a finding instead of an OOM of the machine.
  EMS_TEST_ROOT=$PWD "$bin" -max_total_time="$SECONDS_EACH" -print_final_stats=1 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -artifact_prefix="$out/" "$out/corpus" "tests/fuzz/corpus/$name" \
    >"var/fuzz/$name.log" 2>&1
  rc=$?
  last=$(grep -E '^#[0-9]+' "var/fuzz/$name.log" | tail -1)
  execs=$(grep -E '^stat::number_of_executed_units' "var/fuzz/$name.log" | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    echo "FAIL $t (exit $rc): see var/fuzz/$name.log, inputs $out/crash-*"
    grep -E '^(==[0-9]+==ERROR|SUMMARY)|runtime error' "var/fuzz/$name.log" | head -3
    failed+=("$t")
  else
    echo "ok   $t: ${execs:-?} execs; ${last:-no coverage line}"
  fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzz: crashes in ${failed[*]}"; exit 1; }
