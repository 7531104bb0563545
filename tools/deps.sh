#!/usr/bin/env bash
# Installs every Debian package the suite needs to build, test and run its
# embedded stack. Idempotent: when everything is present it only checks.
set -euo pipefail

PKGS=(
  build-essential pkg-config make git curl python3 ca-certificates procps iproute2
  librdkafka-dev libavro-dev libpq-dev libhiredis-dev libevent-dev
  libulfius-dev libcurl4-gnutls-dev libjansson-dev libyaml-dev libssl-dev
  liblpsolve55-dev check libsubunit-dev
  postgresql postgresql-contrib redis-server redis-tools
  zlib1g-dev libmodbus-dev libmosquitto-dev mosquitto libxgboost-dev coinor-cbc valgrind clang-format jq
  cppcheck clang-tidy clang libclang-rt-dev
  prometheus prometheus-alertmanager
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# Services started by package scripts would bind the default ports; the
# suite runs its own instances under ./var, so keep the packaged ones off.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done" >&2
