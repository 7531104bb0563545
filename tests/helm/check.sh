#!/usr/bin/env bash
# Renders helm/ems with the default values and with values-all.yaml through the
# helm-template checker (../shared/tools/helm-template, relative to the repo
# root) and asserts a few facts of the output. Skips when the checker is absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
ht="$root/../shared/tools/helm-template"
if [ ! -x "$ht" ]; then
  echo "skipped: helm-template not found"
  exit 0
fi
chart="$root/helm/ems"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fails=0

ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect NAME ACTUAL WANTED
expect() { if [ "$2" = "$3" ]; then ok "$1 ($2)"; else bad "$1: got $2, want $3"; fi; }
count() { grep -c -- "$1" "$2" || true; }

render() { # render OUT [helm-template args...]
  local out="$1"; shift
  if ! "$ht" "$@" "$chart" >"$out" 2>"$tmp/err"; then
    cat "$tmp/err"; bad "render $*"; return 1
  fi
}

# --- default values ---
d="$tmp/default.yaml"
if render "$d"; then
  # the four services the image holds; the others are off until built
  # the gateway (spool) and the forecaster (models) keep their working
  # state on a claim of each pod's own, so they are StatefulSets
  expect "default: Deployments" "$(count '^kind: Deployment$' "$d")" 2
  for svc in ingester schedule-optimizer; do
    expect "default: $svc Deployment" \
      "$(grep -A3 '^kind: Deployment$' "$d" | count "name: release-name-ems-$svc\$" -)" 1
  done
  expect "default: StatefulSets" "$(count '^kind: StatefulSet$' "$d")" 2
  for svc in scada-gateway forecaster; do
    expect "default: $svc StatefulSet" \
      "$(grep -A3 '^kind: StatefulSet$' "$d" | count "name: release-name-ems-$svc\$" -)" 1
  done
  expect "default: state claim templates" "$(count '^  volumeClaimTemplates:$' "$d")" 2
  expect "default: state mounts" "$(count 'mountPath: /var/lib/ems/state$' "$d")" 2
  expect "default: spool on the claim" "$(count 'spool_dir: /var/lib/ems/state/spool$' "$d")" 1
  expect "default: overrides on the claim" "$(count 'override_dir: /var/lib/ems/state/override$' "$d")" 1
  expect "default: gateway state file on the claim" "$(count 'state_file: /var/lib/ems/state/state.json$' "$d")" 1
  expect "default: models on the claim" "$(count 'model_dir: /var/lib/ems/state/models$' "$d")" 1
  # a claim template cannot change after install: no label that moves
  # with the chart's version
  expect "default: claim template labels stable" \
    "$(awk '/volumeClaimTemplates:/,/spec:/' "$d" | count 'helm.sh/chart' -)" 0
  expect "default: Services" "$(count '^kind: Service$' "$d")" 4
  expect "default: PodDisruptionBudgets" "$(count '^kind: PodDisruptionBudget$' "$d")" 4
  expect "default: ConfigMaps (4 services + plant)" "$(count '^kind: ConfigMap$' "$d")" 5
  expect "default: no ServiceMonitor" "$(count '^kind: ServiceMonitor$' "$d")" 0
  expect "default: no sap-connector" "$(count 'name: release-name-ems-sap-connector$' "$d")" 0
  expect "default: readOnlyRootFilesystem" "$(count 'readOnlyRootFilesystem: true' "$d")" 4
  expect "default: runAsNonRoot (pod + container)" "$(count 'runAsNonRoot: true' "$d")" 8
  expect "default: liveness /healthz" "$(grep -A2 'livenessProbe:' "$d" | count 'path: /healthz' -)" 4
  expect "default: readiness /readyz" "$(grep -A2 'readinessProbe:' "$d" | count 'path: /readyz' -)" 4
  expect "default: scrape annotations" "$(count 'prometheus.io/scrape: "true"' "$d")" 4
  # only the keys the services' config tables have: no redis.tls unless asked
  expect "default: no redis.tls key" "$(count ' tls: false' "$d")" 0
  expect "default: ingester migrations in the image" \
    "$(count 'migrations_dir: /usr/share/ems/migrations' "$d")" 1
  expect "default: ingester retention off" "$(count 'retention_days: 0' "$d")" 1
  # the ingester holds its batch through a PostgreSQL outage without polling
  expect "default: ingester poll interval 24 h (only the ingester)" \
    "$(count 'max.poll.interval.ms: "86400000"' "$d")" 1
  expect "default: no archive claim" "$(count '^kind: PersistentVolumeClaim$' "$d")" 0
  expect "default: no dashboards" "$(count 'name: release-name-ems-dashboards$' "$d")" 0
  expect "default: no PrometheusRule" "$(count '^kind: PrometheusRule$' "$d")" 0
  # each generated config file is accepted by its service (every key known,
  # every value valid), when the service is built
  for svc in scada-gateway ingester forecaster schedule-optimizer; do
    bin="$root/build/bin/$svc"
    [ -x "$bin" ] || continue
    awk -v key="  $svc.yaml: |" '$0 == key { p = 1; next }
      p && /^    / { print substr($0, 5); next } p { exit }' "$d" >"$tmp/$svc.yaml"
    if "$bin" --config "$tmp/$svc.yaml" --dump-config >/dev/null 2>"$tmp/err"; then
      ok "default: $svc accepts its config file"
    else
      bad "default: $svc refuses its config file: $(tail -n 1 "$tmp/err")"
    fi
  done
fi

# --- everything enabled ---
a="$tmp/all.yaml"
if render "$a" -f "$here/values-all.yaml" --namespace energy --name-template prod; then
  # the forecaster's state off: a Deployment with its models on /tmp
  expect "all: Deployments" "$(count '^kind: Deployment$' "$a")" 8
  expect "all: StatefulSets (gateway)" "$(count '^kind: StatefulSet$' "$a")" 1
  expect "all: gateway replicas with a claim each" \
    "$(grep -A12 'name: prod-ems-scada-gateway$' "$a" | grep -m1 'replicas:' | tr -dc 0-9)" 2
  expect "all: gateway claim storage class" "$(count 'storageClassName: "fast-local"' "$a")" 1
  expect "all: forecaster models on /tmp" "$(count 'model_dir: /var/lib/ems/state' "$a")" 0
  expect "all: ServiceMonitor" "$(count '^kind: ServiceMonitor$' "$a")" 1
  expect "all: PrometheusRule" "$(count '^kind: PrometheusRule$' "$a")" 1
  expect "all: readOnlyRootFilesystem" "$(count 'readOnlyRootFilesystem: true' "$a")" 9
  expect "all: drop ALL capabilities" "$(grep -A1 'drop:' "$a" | count '- ALL' -)" 9
  expect "all: /tmp emptyDir" "$(grep -B1 'emptyDir:' "$a" | count 'name: tmp' -)" 9
  expect "all: no Secret rendered" "$(count '^kind: Secret$' "$a")" 0
  expect "all: image" "$(count 'image: "registry.example.org/ems/ems:1.2.3"' "$a")" 9
  expect "all: ingester replicas" "$(grep -A12 'name: prod-ems-ingester$' "$a" | grep -m1 'replicas:' | tr -dc 0-9)" 3
  expect "all: kafka sasl mounts" "$(count 'secretName: ems-kafka-sasl' "$a")" 9
  expect "all: postgresql mounts (ingester, reporter)" "$(count 'secretName: ems-postgresql' "$a")" 2
  expect "all: sap secret mount" "$(count 'secretName: ems-sap' "$a")" 1
  expect "all: mqtt tls secret mount" "$(count 'secretName: ems-mqtt-tls' "$a")" 1
  expect "all: mqtt tls ca in the gateway config" \
    "$(count 'mqtt_tls_ca: /etc/ems/secrets/scada-gateway/ca.crt' "$a")" 1
  expect "all: args" "$(count '- /etc/ems/plant/plant.yaml' "$a")" 9
  # the ingester's retention archives on their own claim, kept on uninstall
  expect "all: archive claim" "$(count '^kind: PersistentVolumeClaim$' "$a")" 1
  expect "all: archive claim kept" "$(grep -A14 "kind: PersistentVolumeClaim" "$a" | count 'helm.sh/resource-policy: keep' -)" 1
  expect "all: archive claim RWX" "$(grep -A18 "kind: PersistentVolumeClaim" "$a" | count "- ReadWriteMany" -)" 1
  expect "all: archive mount" "$(count 'mountPath: /var/lib/ems/archive' "$a")" 1
  expect "all: archive volume" "$(grep -A1 'persistentVolumeClaim:' "$a" | count 'claimName: prod-ems-ingester-archive' -)" 1
  expect "all: retention on" "$(count 'retention_days: 730' "$a")" 1
  expect "all: archive dir" "$(count 'archive_dir: /var/lib/ems/archive' "$a")" 1
  # the Grafana dashboards, labelled for the sidecar, each file a key
  expect "all: dashboards ConfigMap" "$(count 'name: prod-ems-dashboards$' "$a")" 1
  dash="$(awk '/^---/{p=0} /name: prod-ems-dashboards$/{p=1} p' "$a")"
  expect "all: dashboards sidecar label" "$(grep -c 'grafana_dashboard: "1"' <<<"$dash")" 1
  expect "all: dashboards folder" "$(grep -c 'grafana_folder: "EMS"' <<<"$dash")" 1
  for f in "$chart"/dashboards/*.json; do
    expect "all: dashboard $(basename "$f")" "$(grep -c "^  $(basename "$f"): " <<<"$dash")" 1
  done
  expect "all: dashboard uids" "$(grep -c '"uid": "ems-' <<<"$dash")" "$(ls "$chart"/dashboards/*.json | wc -l)"
  # every credential in a config file is a file reference, never a value
  leaked="$(grep -Ei '[[:space:]](sasl\.)?(password|username|user):' "$a" | grep -v 'file:/etc/ems/secrets/' || true)"
  expect "all: credentials only as file references" "${leaked:-none}" none
  # kafka on 9 services, redis on 4 (not the scada-gateway), postgresql on 2
  expect "all: password references" "$(count 'password: file:/etc/ems/secrets/' "$a")" 15
fi

# --- NOTES.txt: the checker parses it but does not render it, so a copy of
# the chart carries it as a ConfigMap's data ---
nc="$tmp/notes-chart"
cp -r "$chart" "$nc"
{
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\ndata:\n  notes: |\n'
  sed 's/^/    /' "$chart/templates/NOTES.txt"
} >"$nc/templates/notes-check.yaml"
rm "$nc/templates/NOTES.txt"
if "$ht" "$nc" >"$tmp/notes-default" 2>&1 &&
  "$ht" -f "$here/values-all.yaml" --name-template prod "$nc" >"$tmp/notes-all" 2>&1; then
  expect "notes: gateway and forecaster state on claims" \
    "$(count 'a StatefulSet: its working state on a claim per pod' "$tmp/notes-default")" 2
  expect "notes: retention off by default" "$(count 'Measurement retention is off' "$tmp/notes-default")" 1
  expect "notes: retention and claim named" "$(count 'archived to the claim prod-ems-ingester-archive' "$tmp/notes-all")" 1
else
  cat "$tmp/notes-default" "$tmp/notes-all"; bad "NOTES.txt does not render"
fi

# --- a credential in values is refused ---
if "$ht" --validate-only -f "$here/values-leak.yaml" "$chart" >"$tmp/leak" 2>&1; then
  bad "values-leak.yaml: rendered, want a schema error"
elif grep -q 'do-not-render-me' "$tmp/leak"; then
  bad "values-leak.yaml: the error message repeats the secret"
else
  ok "values-leak.yaml refused by the schema"
fi
# --- SASL without a Secret is refused ---
if "$ht" --validate-only --set kafka.securityProtocol=SASL_SSL "$chart" >/dev/null 2>&1; then
  bad "SASL_SSL without kafka.sasl.existingSecret rendered"
else
  ok "SASL_SSL without a Secret refused"
fi

if [ "$fails" -ne 0 ]; then
  echo "helm check: $fails failure(s)"
  exit 1
fi
echo "helm check: all passed"
