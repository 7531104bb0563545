#!/bin/sh
# Entrypoint of the ems image: the first argument names the service (or tool)
# to run; the rest are its arguments. The process replaces the shell, so it
# receives SIGTERM directly and drains before exit.
#   ems-entrypoint ingester --config /etc/ems/ingester.yaml --plant /etc/ems/plant/plant.yaml
set -eu
BIN_DIR=${EMS_BIN_DIR:-/usr/local/lib/ems/bin}

list() {
  echo "available:"
  for f in "$BIN_DIR"/*; do [ -x "$f" ] && echo "  $(basename "$f")"; done
}

if [ $# -eq 0 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
  echo "usage: ems-entrypoint SERVICE [ARGS...]"
  list
  exit 0
fi
svc=$1
shift
case $svc in
  */* | .* | "") echo "ems-entrypoint: invalid service name '$svc'" >&2; exit 2 ;;
esac
if [ ! -x "$BIN_DIR/$svc" ]; then
  echo "ems-entrypoint: unknown service '$svc'" >&2
  list >&2
  exit 2
fi
exec "$BIN_DIR/$svc" "$@"
