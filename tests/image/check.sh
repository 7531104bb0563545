#!/usr/bin/env bash
# Builds the container image and runs the chart's services in it against a
# test stack of its own (tools/image-check.sh, docs/deployment.md). Its
# stack's ports are those of the suite's test stack moved by 250, between
# the normal stack's and the sanitizer stack's (+500), which are up while
# the scripts run. Skips where it cannot run: without root (rootful podman,
# debootstrap) or without the helm-template checker that renders the chart.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ "$(id -u)" -ne 0 ]; then
  echo "skipped: needs root"
  exit 0
fi
if [ ! -x "$root/../shared/tools/helm-template" ]; then
  echo "skipped: helm-template not found"
  exit 0
fi
cd "$root"
EMS_STACK_PORT_SHIFT=$((${EMS_STACK_PORT_SHIFT:-0} + 250)) exec tools/image-check.sh
