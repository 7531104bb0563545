#!/usr/bin/env bash
# cppcheck over every C file of the project (make lint-cppcheck; the
# checks and their suppressions: docs/testing.md, "Static analysis"). Fails
# on any finding. clang-tidy, minutes long, runs in make lint only.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
if ! command -v cppcheck >/dev/null 2>&1; then
  echo "FAIL: cppcheck not installed (make deps installs it)"
  exit 1
fi
make -s lint-cppcheck
