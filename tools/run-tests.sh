#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then integration tests against a
# private stack (devbroker, devregistry, PostgreSQL, Redis under var/test),
# each in the normal build and again in the AddressSanitizer+UBSan build
# (whose integration tests run at the same time on a stack of their own,
# var/test-asan, ports shifted by 500).
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
# Check's per-test timeout catches a hang, not slowness: its default of 4 s
# failed a unit test doing 400 fsyncs under ASan while the disk was busy.
# Test cases that set their own timeout keep it; the binary's limit is the
# timeout 900 below.
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-120}

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

# The sanitizer pass's integration tests run on a second stack of their own,
# side by side with the normal pass's: most of an integration test is spent
# waiting (services starting, consumer groups joining), and the two stacks
# share nothing, so a test that stops PostgreSQL or makes the broker fail
# disturbs only its own pass.
ASAN_VAR=$ROOT/var/test-asan
ASAN_SHIFT=$(( ${EMS_STACK_PORT_SHIFT:-0} + 500 ))

stack_cmd() {  # normal|asan, stack.sh arguments...
  local which=$1; shift
  if [ "$which" = asan ]; then
    EMS_STACK_TEST_DIR=$ASAN_VAR EMS_STACK_PORT_SHIFT=$ASAN_SHIFT tools/stack/stack.sh "$@"
  else
    tools/stack/stack.sh "$@"
  fi
}

stack_up() {  # normal|asan
  local log=$LOGDIR/stack-up-$1.log
  stack_cmd "$1" up --test >"$log" 2>&1 || {
    echo "FAIL test stack ($1) did not start, see $log"; tail -20 "$log"
    return 1; }
}
# Exports the stack's endpoints: only the EMS_TEST_* names, since the
# EMS_<SECTION>_<KEY> ones would override the configs that tests load.
stack_env() {  # stack.env file
  eval "$(grep "^EMS_TEST_" "$1" | sed "s/^/export /")"
}
# A stack that was already running (a developer's) is left running.
was_up() { stack_cmd "$1" status --test 2>/dev/null | awk '$1 == "devbroker" {print $4}'; }
normal_was_up=$(was_up normal); asan_was_up=$(was_up asan)
stacks_down() {
  [ "$normal_was_up" = yes ] || stack_cmd normal down --test >>"$LOGDIR/stack-up-normal.log" 2>&1 || true
  [ "$asan_was_up" = yes ] || stack_cmd asan down --test >>"$LOGDIR/stack-up-asan.log" 2>&1 || true
}

# Runs one lane in a subshell with counts of its own: its lines go to
# <lane>.out, its counts ("passed failed broken...") to <lane>.counts.
#   asan-unit         the sanitizer build's unit tests
#   normal, asan      a build's integration tests on its own stack; the
#                     normal lane then runs the scripts (tests/*/check.sh)
#   scripts           the scripts alone, when the normal stack did not start
lane() {  # lane name
  local name=$1
  rm -f "$LOGDIR/$name.counts"
  (
    passed=0; failed=0; broken=()
    case $name in
      asan*)
        export EMS_TEST_BIN=$ROOT/build-asan/bin
        export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
        export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
        export LSAN_OPTIONS=suppressions=$ROOT/tests/lsan.supp:print_suppressions=0 ;;
    esac
    case $name in
      asan-unit) run_set build-asan asan unit ;;
      asan)
        export EMS_STACK_TEST_DIR=$ASAN_VAR EMS_STACK_PORT_SHIFT=$ASAN_SHIFT
        stack_env "$ASAN_VAR/stack.env"
        run_set build-asan asan integration ;;
      normal)
        stack_env var/test/stack.env
        run_set build normal integration
        run_scripts ;;
      scripts) run_scripts ;;  # the normal stack did not start
    esac
    echo "$passed $failed ${broken[*]}" >"$LOGDIR/$name.counts"
  ) >"$LOGDIR/$name.out" 2>&1
}

run_scripts() {
  local s log
  for s in tests/*/check.sh; do
    [ -x "$s" ] || continue
    log=$LOGDIR/$(basename "$(dirname "$s")").log
    if "$s" >"$log" 2>&1; then
      echo "ok   script $s"; passed=$((passed + 1))
    else
      echo "FAIL script $s"; tail -10 "$log"
      failed=$((failed + 1)); broken+=("$s")
    fi
  done
}

# Adds a lane's counts to this shell's and prints its lines.
merge_lane() {  # normal|asan
  local c p f b
  cat "$LOGDIR/$1.out"
  c=$(cat "$LOGDIR/$1.counts" 2>/dev/null) || c="0 1 $1-integration"
  read -r p f b <<<"$c"
  passed=$((passed + p)); failed=$((failed + f))
  [ -n "$b" ] && broken+=($b)
  return 0
}

echo "== build"
make -s -j"$JOBS" all || { echo "0 passed, 1 failed"; exit 1; }
export EMS_TEST_ROOT=$ROOT EMS_TEST_BIN=$ROOT/build/bin
echo "== unit tests"
run_set build normal unit

asan_built=0
if [ $asan -eq 1 ]; then
  echo "== sanitizer build (ASan+UBSan)"
  if make -s -j"$JOBS" asan >"$LOGDIR/asan-build.log" 2>&1; then
    asan_built=1
    lane asan-unit
    merge_lane asan-unit
  else
    echo "FAIL sanitizer build, see $LOGDIR/asan-build.log"; tail -20 "$LOGDIR/asan-build.log"
    failed=$((failed + 1)); broken+=("asan-build")
  fi
fi

if [ $unit_only -eq 0 ]; then
  trap stacks_down EXIT
  lanes=()
  if stack_up normal; then lanes+=(normal)
  else failed=$((failed + 1)); broken+=("stack"); lanes+=(scripts); fi
  if [ $asan_built -eq 1 ]; then
    if stack_up asan; then lanes+=(asan); else failed=$((failed + 1)); broken+=("stack-asan"); fi
  fi
  echo "== integration tests (${lanes[*]:-none}, side by side), scripts"
  for l in "${lanes[@]}"; do lane "$l" & done
  wait
  for l in "${lanes[@]}"; do merge_lane "$l"; done
fi

[ ${#broken[@]} -gt 0 ] && echo "failing: ${broken[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
