#!/usr/bin/env bash
# The alerting rules of helm/ems/rules/ against Prometheus' own tool:
# promtool checks the rule file and runs alerts_test.yaml (each alert fires
# when its condition has held long enough, not before, not when healthy);
# then every ems_* metric a rule names must be one a service registers.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
rules="$root/helm/ems/rules/ems-alerts.yaml"
fails=0

for t in promtool amtool; do
  command -v "$t" >/dev/null || { echo "FAIL: $t not installed (make deps)"; exit 1; }
done
promtool check rules "$rules" || fails=$((fails + 1))
(cd "$here" && promtool test rules alerts_test.yaml) || fails=$((fails + 1))

# the chart's PrometheusRule carries the same rules, loadable by Prometheus
ht="$root/../shared/tools/helm-template"
if [ -x "$ht" ]; then
  tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
  "$ht" --set metrics.prometheusRule.enabled=true "$root/helm/ems" >"$tmp/all.yaml"
  awk '/^---/{p=0} /^kind: PrometheusRule$/{p=1} p && /^spec:$/{s=1; next} p && s' "$tmp/all.yaml" |
    sed 's/^  //' >"$tmp/rendered-rules.yaml"
  promtool check rules "$tmp/rendered-rules.yaml" || fails=$((fails + 1))
  want=$(grep -c '^ *- alert: ' "$rules"); got=$(grep -c '^ *- alert: ' "$tmp/rendered-rules.yaml" || true)
  [ "$want" = "$got" ] && echo "ok: the chart renders all $got alerts" ||
    { echo "FAIL: the chart renders $got alerts, the rule file has $want"; fails=$((fails + 1)); }
else
  echo "skipped: the chart's rendering (helm-template not found)"
fi

# the routing example of docs/examples: valid, and severities reach the
# receivers it promises
am="$root/docs/examples/alertmanager.yml"
amtool check-config "$am" >/dev/null || { echo "FAIL: amtool check-config $am"; fails=$((fails + 1)); }
route() { amtool config routes test --config.file="$am" "$@" 2>/dev/null | tail -1; }
for want in "on-call alertname=EmsScadaSpoolFull severity=critical" \
            "tickets alertname=EmsDeadLetters severity=warning" \
            "dashboards-only alertname=EmsForecastFallback severity=info"; do
  set -- $want; recv=$1; shift
  got="$(route "$@")"
  [ "$got" = "$recv" ] && echo "ok: $* -> $got" || { echo "FAIL: $* -> '$got', want $recv"; fails=$((fails + 1)); }
done

# every alert has a test and a runbook entry
for a in $(grep -oE 'alert: [A-Za-z]+' "$rules" | cut -d' ' -f2); do
  grep -q "alertname: $a\$" "$here/alerts_test.yaml" || { echo "FAIL: $a has no test"; fails=$((fails + 1)); }
  grep -q "^## $a\$" "$root/docs/alerts.md" || { echo "FAIL: $a has no runbook entry in docs/alerts.md"; fails=$((fails + 1)); }
done

# every metric named is registered by some service or library
for m in $(grep -v '^\s*#' "$rules" | grep -oE 'ems_[a-z0-9_]+' | sort -u); do
  base="${m%_bucket}"; base="${base%_sum}"; base="${base%_count}"
  if grep -rqF "\"$m\"" "$root/libs" "$root/services" ||
     grep -rqF "\"$base\"" "$root/libs" "$root/services"; then
    echo "ok: $m is registered"
  else
    echo "FAIL: $m is registered by no service"; fails=$((fails + 1))
  fi
done

[ "$fails" -eq 0 ] && echo "prometheus rules: all passed" || { echo "prometheus rules: $fails failed"; exit 1; }
