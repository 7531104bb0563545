#!/usr/bin/env bash
# Prints the Debian packages that own the shared libraries the given binaries
# load, one per line: the runtime image installs exactly these.
# usage: runtime-packages.sh BINARY...
set -euo pipefail
owner() { # path -> package, trying the merged-/usr spellings dpkg may know
  local p="$1" r
  r=$(readlink -f "$p")
  for c in "$p" "$r" "${p#/usr}" "/usr$p" "${r#/usr}" "/usr$r"; do
    dpkg -S "$c" 2>/dev/null | head -n1 | cut -d: -f1 && return 0
  done
  echo "runtime-packages: no package owns $p" >&2
  return 1
}
ldd "$@" | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
  owner "$lib"
done | sort -u
