#!/usr/bin/env bash
# Static analysis: cppcheck over the given C files, then clang-tidy (with
# the repository's .clang-tidy) over the files of BUILD_DIR's
# compile_commands.json, which the Makefile writes first. Prints each
# finding and one line per tool; exits 1 if either found anything.
#   lint.sh BUILD_DIR "CPPCHECK_FLAGS" FILE.c...
# With EMS_LINT_CPPCHECK_ONLY=1 only cppcheck runs.
# CPPCHECK_FLAGS are the build's -I and -D flags. docs/testing.md,
# "Static analysis", says what runs and how a finding is suppressed.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
build=$1 flags=$2
shift 2
jobs=$(nproc 2>/dev/null || echo 2)
out=$build/lint
rm -rf "$out" && mkdir -p "$out/tidy"
status=0

# cppcheck reads no system header: tools/lint/cppcheck.cfg tells it the
# few library macros and types it must know to parse the code.
run_cppcheck() {
    local t0=$SECONDS n
    # shellcheck disable=SC2086  # flags is a list of words
    cppcheck -q -j"$jobs" --std=c11 --enable=warning,performance,portability \
        --library=posix --library=tools/lint/cppcheck.cfg \
        --suppressions-list=tools/lint/cppcheck.supp --inline-suppr \
        --cppcheck-build-dir="$out" \
        --template='{file}:{line}:{column}: {severity}: {message} [{id}]' \
        $flags "$@" 2>"$out/cppcheck.txt"
    cat "$out/cppcheck.txt"
    n=$(grep -c '^[^ ].*:[0-9]*:[0-9]*: ' "$out/cppcheck.txt")
    echo "lint: cppcheck: $n findings in $# files ($((SECONDS - t0))s)"
    [ "$n" -eq 0 ]
}

# One clang-tidy a file, as many at once as there are cores; a file's
# output is kept apart so that files' findings do not interleave.
# shellcheck disable=SC2317  # run through xargs, bash -c
tidy_one() {  # build dir, out dir, file
    local log=$2/tidy/${3//\//_}.log
    clang-tidy -p "$1" --quiet "$3" >"$log" 2>&1 || echo "$3" >>"$2/tidy-failed"
}
export -f tidy_one

run_clang_tidy() {
    local t0=$SECONDS n
    printf '%s\0' "$@" | xargs -0 -P "$jobs" -I{} bash -c 'tidy_one "$@"' _ "$build" "$out" {}
    # "N warnings generated." counts the system headers' silenced ones too
    cat "$out"/tidy/*.log | grep -v ' warnings\? generated\.$' >"$out/clang-tidy.txt"
    cat "$out/clang-tidy.txt"
    # a project header's finding shows once for every file including it
    n=$(grep -E '^[^ ].*:[0-9]+:[0-9]+: (warning|error): ' "$out/clang-tidy.txt" | sort -u | wc -l)
    echo "lint: clang-tidy: $n findings in $# files ($((SECONDS - t0))s)"
    [ "$n" -eq 0 ] && [ ! -e "$out/tidy-failed" ]
}

run_cppcheck "$@" || status=1
# EMS_LINT_CPPCHECK_ONLY=1 (make lint-cppcheck): cppcheck alone, in seconds
[ "${EMS_LINT_CPPCHECK_ONLY:-0}" = 1 ] && exit $status
mapfile -t tidy_files < <(sed -n 's/.*"file": "\([^"]*\)".*/\1/p' "$build/compile_commands.json")
run_clang_tidy "${tidy_files[@]}" || status=1
exit $status
