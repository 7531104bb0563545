#!/usr/bin/env bash
# Writes a compile_commands.json (the compilation database clang-tidy reads)
# for the given C files, each compiled with the given flags from the
# repository root. Usage: compdb.sh "<cc and flags>" file.c...
# Paths and flags come from the Makefile and hold no quote or backslash, so
# they are written as they are.
set -euo pipefail
cd "$(dirname "$0")/../.."
cmd=$1; shift
sep=""
printf '[\n'
for f in "$@"; do
  printf '%s  {"directory": "%s", "file": "%s", "command": "%s -c %s"}' \
    "$sep" "$PWD" "$f" "$cmd" "$f"
  sep=$',\n'
done
printf '\n]\n'
