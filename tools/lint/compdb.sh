#!/usr/bin/env bash
# Writes a compile_commands.json (the compilation database clang-tidy reads)
# for the given C files, each compiled with its group's flags from the
# repository root. Usage:
#   compdb.sh "<cc and flags>" file.c... [-- "<cc and flags>" file.c...]...
# Each `--` starts a group with flags of its own (the tests add -Itests,
# the fuzz harnesses -Itests/fuzz and a FZ_TARGET). The command is written
# as a JSON string, its quotes and backslashes escaped; clang-tidy then
# splits it into words as a shell would.
set -euo pipefail
cd "$(dirname "$0")/../.."

json_escape() {
  local s=${1//\\/\\\\}
  printf '%s' "${s//\"/\\\"}"
}

sep=""
printf '[\n'
while [ $# -gt 0 ]; do
  cmd=$(json_escape "$1"); shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    printf '%s  {"directory": "%s", "file": "%s", "command": "%s -c %s"}' \
      "$sep" "$PWD" "$1" "$cmd" "$1"
    sep=$',\n'
    shift
  done
  [ $# -gt 0 ] && shift  # the --
done
printf '\n]\n'
