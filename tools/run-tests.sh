#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then integration tests against a
# private stack (devbroker, devregistry, PostgreSQL, Redis under var/test),
# each in the normal build and again in the AddressSanitizer+UBSan build.
# Ends with one line "N passed, N failed" (N = Check test cases).
#   --unit-only   skip the stack and the integration tests
#   --no-asan     skip the sanitizer pass
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
unit_only=0; asan=1
for a in "$@"; do
  case "$a" in
    --unit-only) unit_only=1 ;;
    --no-asan) asan=0 ;;
    *) echo "run-tests: unknown option '$a'" >&2; exit 2 ;;
  esac
done

JOBS=$(nproc 2>/dev/null || echo 2)
passed=0; failed=0; broken=()
LOGDIR=$ROOT/var/test-logs
mkdir -p "$LOGDIR"

# Runs one Check binary, adds its counts, keeps its output in the log dir.
run_one() {
  local bin=$1 tag=$2 log line checks fails errs
  log="$LOGDIR/$tag-$(basename "$bin").log"
  local rc=0 t0=$SECONDS
  timeout 900 "$bin" >"$log" 2>&1 || rc=$?
  local took="$((SECONDS - t0))s"
  line=$(grep -E '^[0-9]+%: Checks: [0-9]+' "$log" | tail -1)
  if [ -z "$line" ]; then
    echo "FAIL $tag $(basename "$bin"): no Check summary (exit $rc), see $log"
    tail -15 "$log" | sed 's/^/    /'
    failed=$((failed + 1)); broken+=("$tag/$(basename "$bin")"); return
  fi
  checks=$(sed -E 's/.*Checks: ([0-9]+).*/\1/' <<<"$line")
  fails=$(sed -E 's/.*Failures: ([0-9]+).*/\1/' <<<"$line")
  errs=$(sed -E 's/.*Errors: ([0-9]+).*/\1/' <<<"$line")
  local bad=$((fails + errs))
  passed=$((passed + checks - bad)); failed=$((failed + bad))
  if [ "$bad" -gt 0 ] || [ "$rc" -ne 0 ]; then
    [ "$bad" -eq 0 ] && { failed=$((failed + 1)); }
    echo "FAIL $tag $(basename "$bin"): $line (exit $rc, $took)"
    grep -E ':[EF]:' "$log" | head -20 | sed 's/^/    /'
    grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' "$log" | head -5 | sed 's/^/    /'
    broken+=("$tag/$(basename "$bin")")
  else
    echo "ok   $tag $(basename "$bin"): $line ($took)"
  fi
}

run_set() {  # build dir, tag, kind (unit|integration)
  local b=$1 tag=$2 kind=$3 t
  for t in "$b"/tests/"$kind"/test_*; do
    [ -x "$t" ] || continue
    run_one "$t" "$tag-$kind"
  done
}

stack_up() {
  tools/stack/stack.sh up --test >"$LOGDIR/stack-up.log" 2>&1 || {
    echo "FAIL test stack did not start, see $LOGDIR/stack-up.log"; tail -20 "$LOGDIR/stack-up.log"
    return 1; }
  # Only the EMS_TEST_* names: the EMS_<SECTION>_<KEY> ones would override
  # the configs that tests load.
  eval "$(grep "^EMS_TEST_" var/test/stack.env | sed "s/^/export /")"
  export EMS_TEST_ROOT=$ROOT
}
# A stack that was already running (a developer's) is left running.
stack_was_up=$(tools/stack/stack.sh status --test 2>/dev/null | awk '$1 == "devbroker" {print $4}')
stack_down() {
  [ "$stack_was_up" = yes ] && return
  tools/stack/stack.sh down --test >>"$LOGDIR/stack-up.log" 2>&1 || true
}

echo "== build"
make -s -j"$JOBS" all || { echo "0 passed, 1 failed"; exit 1; }
export EMS_TEST_ROOT=$ROOT EMS_TEST_BIN=$ROOT/build/bin
echo "== unit tests"
run_set build normal unit

if [ $unit_only -eq 0 ]; then
  trap stack_down EXIT
  if stack_up; then
    echo "== integration tests"
    run_set build normal integration
  else
    failed=$((failed + 1)); broken+=("stack")
  fi
  for s in tests/*/check.sh; do
    [ -x "$s" ] || continue
    if "$s" >"$LOGDIR/$(basename "$(dirname "$s")").log" 2>&1; then
      echo "ok   script $s"; passed=$((passed + 1))
    else
      echo "FAIL script $s"; tail -10 "$LOGDIR/$(basename "$(dirname "$s")").log"
      failed=$((failed + 1)); broken+=("$s")
    fi
  done
fi

if [ $asan -eq 1 ]; then
  echo "== sanitizer build (ASan+UBSan)"
  if make -s -j"$JOBS" asan >"$LOGDIR/asan-build.log" 2>&1; then
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0
    export EMS_TEST_BIN=$ROOT/build-asan/bin
    run_set build-asan asan unit
    [ $unit_only -eq 0 ] && [ -n "${EMS_TEST_BOOTSTRAP:-}" ] && run_set build-asan asan integration
  else
    echo "FAIL sanitizer build, see $LOGDIR/asan-build.log"; tail -20 "$LOGDIR/asan-build.log"
    failed=$((failed + 1)); broken+=("asan-build")
  fi
fi

[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
