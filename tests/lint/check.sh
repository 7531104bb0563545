#!/usr/bin/env bash
# Static analysis (make lint: cppcheck and clang-tidy over every C file;
# the checks and how a finding is suppressed: docs/testing.md, "Static
# analysis") and the layout (make format-check: every C file as
# clang-format and .clang-format lay it out). Fails on any finding.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
for tool in cppcheck clang-tidy clang-format; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool not installed (make deps installs it)"
    exit 1
  fi
done
make -s lint
make -s format-check && echo "lint: clang-format: every file laid out"
