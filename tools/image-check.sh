#!/usr/bin/env bash
# `make image-check`: builds docker/Dockerfile and runs the image the way the
# Helm chart runs it, against a test stack, without any container registry.
#
#   1. installs podman, runc, debootstrap, python3-yaml, jq and curl when
#      missing (apt-get);
#   2. builds the base image localhost/debian:bookworm-slim from the Debian
#      mirror apt uses here (debootstrap --variant=minbase, trimmed like the
#      registry's bookworm-slim), once: it is kept for the next run;
#   3. builds the image (--build-arg DEBIAN=that base) and measures its size
#      and build time;
#   4. starts a test stack (make deps, the devbroker and devregistry built),
#      renders helm/ems (../shared/tools/helm-template as tests/helm/check.sh
#      does, else `helm template`) with values pointing at it, and runs every
#      service the chart enables by default with the rendered command, args,
#      config file, plant model, PostgreSQL Secret and security context
#      (uid 10001, read-only root, /tmp a tmpfs, no capabilities): each must
#      pass its startup, readiness and liveness probes, serve ems_ metrics on
#      /metrics, and exit 0 on SIGTERM.
#
#   --fresh   rebuilds the base image and builds without the layer cache
#             (the time a first run takes)
#
# Prints one line: "image-check: ok ..." or "image-check: FAIL <step> ...";
# the logs of every step are kept in var/image-check/. Needs root (podman
# rootful, debootstrap). Environment:
#   EMS_STACK_PORT_SHIFT  port shift of its test stack (default 700; the
#                         suite's two lanes use 0 and 500)
#   EMS_IMAGE             tag to build (default localhost/ems:check)
#   EMS_DEBIAN_MIRROR     mirror for the base image (default: apt's)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
VAR=$ROOT/var/image-check
LOG=$VAR/log
BASE=localhost/debian:bookworm-slim
IMAGE=${EMS_IMAGE:-localhost/ems:check}
export EMS_STACK_PORT_SHIFT=${EMS_STACK_PORT_SHIFT:-700}
export EMS_STACK_TEST_DIR=$VAR/stack
HELM_TEMPLATE=$ROOT/../shared/tools/helm-template
SERVICES=() # the services the chart enables by default
declare -A PROBE # service-kind -> path of the Deployment's probe
READY_TIMEOUT=60

# Bookworm's crun (1.8) refuses a host whose cgroup v1 and v2 hierarchies are
# mixed ("cgroups in hybrid mode not supported"); runc runs on either.
PODMAN=(podman --runtime runc)
# The OCI runtime sets the container's resource limits; where the host
# forbids raising them (a sandbox, a CI container), podman's defaults
# (nofile 1048576) fail with "setrlimit: Operation not permitted". The
# current limits, and 4096 processes, work anywhere.
LIMITS=(--ulimit "nofile=$(ulimit -n):$(ulimit -n)" --ulimit nproc=4096:4096)

# Container of a service; the port shift keeps two checkouts' runs apart.
cname() { echo "ems-check-$EMS_STACK_PORT_SHIFT-$1"; }

fail() { # step message
  echo "image-check: FAIL $1: $2"
  exit 1
}

# ---- 1. packages ---------------------------------------------------------

install_packages() {
  local p missing=()
  for p in podman runc debootstrap python3-yaml jq curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >"$LOG/apt.log" 2>&1
}

# ---- 2. base image -------------------------------------------------------

# The Debian mirror apt uses for bookworm's main suite (and its security
# mirror), from apt's own view of its sources.
apt_mirror() { # suite
  apt-cache policy | awk -v s="$1/main" '$3 == s { print $2; exit }'
}

# Trims a debootstrap tree the way the registry's bookworm-slim is trimmed:
# no documentation, manual pages or translations from later installs, no
# package lists or downloaded packages kept.
slim_tree() { # dir
  local d=$1
  cat >"$d/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/overrides/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/man/*
EOF
  cat >"$d/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$d/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  find "$d/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$d/usr/share/man/"* "$d/usr/share/info/"* "$d/usr/share/groff/"* \
    "$d/usr/share/lintian/"* "$d/usr/share/linda/"*
  find "$d/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias \
    -exec rm -rf {} + 2>/dev/null || true
  rm -rf "$d/var/cache/apt/"*.bin "$d/var/cache/apt/archives/"*.deb \
    "$d/var/lib/apt/lists/"* "$d/var/log/"*.log "$d/var/log/apt/"*
}

write_sources() { # dir mirror
  local sec
  sec=$(apt_mirror bookworm-security)
  rm -f "$1/etc/apt/sources.list"
  {
    printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-updates\n' "$2"
    printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    if [ -n "$sec" ]; then
      printf '\nTypes: deb\nURIs: %s\nSuites: bookworm-security\n' "$sec"
      printf 'Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
    fi
  } >"$1/etc/apt/sources.list.d/debian.sources"
}

build_base() {
  local mirror dir
  [ "$FRESH" = 1 ] || ! "${PODMAN[@]}" image exists "$BASE" || return 0
  mirror=${EMS_DEBIAN_MIRROR:-$(apt_mirror bookworm)}
  [ -n "$mirror" ] || { echo "no bookworm mirror in apt's sources" >"$LOG/base.log"; return 1; }
  dir=$(mktemp -d /var/tmp/ems-base.XXXXXX)
  local rc=0
  debootstrap --variant=minbase bookworm "$dir/root" "$mirror" >"$LOG/base.log" 2>&1 &&
    write_sources "$dir/root" "$mirror" && slim_tree "$dir/root" &&
    tar --numeric-owner -C "$dir/root" -cf - . |
    "${PODMAN[@]}" import --change 'CMD ["bash"]' - "$BASE" >>"$LOG/base.log" 2>&1 ||
    rc=1
  rm -rf "$dir"
  return $rc
}

# ---- 3. image --------------------------------------------------------------

build_image() {
  local -a cache=()
  [ "$FRESH" = 1 ] && cache=(--no-cache)
  "${PODMAN[@]}" build --pull=never --network host "${LIMITS[@]}" "${cache[@]}" \
    --label ems.image-check=1 --build-arg DEBIAN="$BASE" \
    -f docker/Dockerfile -t "$IMAGE" . >"$LOG/build.log" 2>&1 || return 1
  # each build leaves the previous image and its build stage untagged
  # (about 600 MB a run): remove this check's own, nobody else's
  "${PODMAN[@]}" image prune -f --filter label=ems.image-check=1 >>"$LOG/build.log" 2>&1 || true
}

image_mb() {
  "${PODMAN[@]}" image inspect --format '{{.Size}}' "$IMAGE" |
    awk '{ printf "%.0f", $1 / 1000000 }'
}

# ---- 4. run it as the chart does ---------------------------------------------

# Renders helm/ems to JSON (one array of documents) with the given values.
render_chart() { # out.json values.yaml [--set k=v]...
  local out=$1 values=$2
  shift 2
  local -a set=()
  while [ $# -gt 0 ]; do set+=(--set "$2"); shift 2; done
  if [ -x "$HELM_TEMPLATE" ]; then
    "$HELM_TEMPLATE" -f "$values" "${set[@]}" helm/ems
  else
    helm template ems-check helm/ems -f "$values" "${set[@]}"
  fi >"${out%.json}.yaml" 2>"$LOG/render.log" || return 1
  python3 -c 'import json, sys, yaml
json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)' \
    <"${out%.json}.yaml" >"$out"
}

# The chart's values for a cluster whose Kafka, registry, PostgreSQL and
# Redis are the test stack's (the stack's PostgreSQL has no TLS). Every
# service keeps its defaults: only the endpoints change.
write_values() { # file
  cat >"$1" <<EOF
kafka:
  bootstrap: $EMS_TEST_BOOTSTRAP
  topicPrefix: imagecheck.
schemaRegistry:
  url: $EMS_TEST_REGISTRY
postgresql:
  host: 127.0.0.1
  port: $(sed -E 's/.*port=([0-9]+).*/\1/' <<<"$EMS_TEST_PG")
  sslmode: disable
  existingSecret: ems-postgresql
redis:
  host: ${EMS_TEST_REDIS%:*}
  port: ${EMS_TEST_REDIS##*:}
EOF
}

# The Secret the chart's values name, as the files Kubernetes would mount:
# read-only, group-readable by the pod's fsGroup.
write_pg_secret() { # dir
  mkdir -p "$1"
  printf ems >"$1/username"
  cat "$EMS_STACK_TEST_DIR/secrets/pg_password" >"$1/password"
  chgrp 10001 "$1" "$1"/*
  chmod 0550 "$1"
  chmod 0440 "$1"/*
}

# One line per fact of the service's Deployment that podman must reproduce:
# "user U:G", "readonly", "capdrop CAP", "nonewprivs", "entrypoint JSON",
# "arg A", "env N=V", "configmap PATH NAME SUBPATH", "secret PATH NAME",
# "emptydir PATH", "claim PATH NAME" (a StatefulSet's claim template),
# "other PATH VOLUME", "probe KIND PATH".
deployment_facts() { # rendered.json service
  jq -r --arg svc "$2" '
    .[] | select((.kind == "Deployment" or .kind == "StatefulSet") and
                 .metadata.labels["app.kubernetes.io/component"] == $svc)
    | [.spec.volumeClaimTemplates[]?.metadata.name] as $claims
    | .spec.template.spec as $pod
    | $pod.containers[0] as $c
    | ($c.securityContext // {}) as $sc
    | ($pod.securityContext // {}) as $psc
    | "user\t\($sc.runAsUser // $psc.runAsUser):\($sc.runAsGroup // $psc.runAsGroup)",
      (if $sc.readOnlyRootFilesystem then "readonly" else empty end),
      ($sc.capabilities.drop // [] | .[] | "capdrop\t\(.)"),
      (if $sc.allowPrivilegeEscalation == false then "nonewprivs" else empty end),
      "entrypoint\t\($c.command | tojson)",
      ($c.args // [] | .[] | "arg\t\(.)"),
      ($c.env // [] | .[] | "env\t\(.name)=\(.value)"),
      ($c.volumeMounts[] as $m
       | ([$pod.volumes[]? | select(.name == $m.name)] | first) as $v
       | if $v == null and ($claims | index($m.name)) != null
         then "claim\t\($m.mountPath)\t\($m.name)"
         elif $v == null then "other\t\($m.mountPath)\t\($m.name)"
         elif $v.configMap then "configmap\t\($m.mountPath)\t\($v.configMap.name)\t\($m.subPath // "")"
         elif $v.secret then "secret\t\($m.mountPath)\t\($v.secret.secretName)"
         elif $v.emptyDir then "emptydir\t\($m.mountPath)"
         else "other\t\($m.mountPath)\t\($v.name)" end),
      "probe\tstartup\t\($c.startupProbe.httpGet.path)",
      "probe\treadiness\t\($c.readinessProbe.httpGet.path)",
      "probe\tliveness\t\($c.livenessProbe.httpGet.path)"' "$1"
}

# Writes one ConfigMap of the rendered chart as the files it mounts.
configmap_files() { # rendered.json name dir
  local key
  mkdir -p "$3"
  for key in $(jq -r --arg n "$2" '.[] | select(.kind == "ConfigMap" and
                 .metadata.name == $n) | .data | keys[]' "$1"); do
    jq -j --arg n "$2" --arg k "$key" '.[] | select(.kind == "ConfigMap" and
         .metadata.name == $n) | .data[$k]' "$1" >"$3/$key"
  done
  chmod -R a+rX "$3"
}

# Starts one service's container from its Deployment's facts; its probes'
# paths are left in PROBE.
start_service() { # service port
  local svc=$1 port=$2 dir=$VAR/run/$1 kind a b c entrypoint=""
  local -a flags=() args=()
  rm -rf "$dir" && mkdir -p "$dir"
  render_chart "$dir/chart.json" "$VAR/values.yaml" --set "httpPort=$port" ||
    fail chart "helm/ems does not render (log: $LOG/render.log)"
  deployment_facts "$dir/chart.json" "$svc" >"$dir/facts" || fail chart "no Deployment of $svc"
  while IFS=$'\t' read -r kind a b c; do
    case $kind in
      user) flags+=(--user "$a") ;;
      readonly) flags+=(--read-only --read-only-tmpfs=false) ;;
      capdrop) flags+=(--cap-drop "$a") ;;
      nonewprivs) flags+=(--security-opt no-new-privileges) ;;
      entrypoint) entrypoint=$a ;;
      arg) args+=("$a") ;;
      env) flags+=(--env "$a") ;;
      configmap)
        configmap_files "$dir/chart.json" "$b" "$dir/cm-$b"
        flags+=(--volume "$dir/cm-$b${c:+/$c}:$a:ro") ;;
      secret) flags+=(--volume "$VAR/secrets/$b:$a:ro") ;;
      emptydir) flags+=(--tmpfs "$a:rw,mode=1777") ;;
      claim) # a fresh volume, owned by the pod's fsGroup as Kubernetes does
        mkdir -p "$dir/claim-$b" && chown 10001:10001 "$dir/claim-$b"
        flags+=(--volume "$dir/claim-$b:$a:rw") ;;
      probe) PROBE[$svc-$a]=$b ;;
      *) fail chart "$svc mounts $a from volume $b, which the check cannot provide" ;;
    esac
  done <"$dir/facts"
  [ -n "$entrypoint" ] || fail chart "$svc has no command"
  "${PODMAN[@]}" rm -f -i "$(cname "$svc")" >/dev/null 2>&1 || true
  "${PODMAN[@]}" run -d --name "$(cname "$svc")" --network host "${LIMITS[@]}" \
    "${flags[@]}" --entrypoint "$entrypoint" "$IMAGE" "${args[@]}" \
    >"$LOG/$svc.run" 2>&1 || fail run "$svc: $(tail -n 2 "$LOG/$svc.run")"
}

# Waits until an endpoint answers 200 or the container stops.
wait_endpoint() { # service url
  local deadline=$((SECONDS + READY_TIMEOUT))
  until curl -fsS -o /dev/null "$2" 2>/dev/null; do
    if [ "$("${PODMAN[@]}" inspect -f '{{.State.Running}}' "$(cname "$1")")" != true ] ||
      [ $SECONDS -ge $deadline ]; then
      "${PODMAN[@]}" logs "$(cname "$1")" >"$LOG/$1.log" 2>&1 || true
      fail run "$1: $2 did not answer (log: $LOG/$1.log)"
    fi
    sleep 0.5
  done
}

# The container's own view: it runs as the chart's user, its root
# filesystem is mounted read-only, /tmp is writable.
check_sandbox() { # service
  local c uid opts
  c=$(cname "$1")
  uid=$("${PODMAN[@]}" exec "$c" id -u)
  [ "$uid" = 10001 ] || fail run "$1 runs as uid $uid, not 10001"
  # shellcheck disable=SC2016 # an awk program, run in the container
  opts=$("${PODMAN[@]}" exec "$c" awk '$2 == "/" { print $4 }' /proc/mounts)
  [ "${opts%%,*}" = ro ] || fail run "$1: root filesystem mounted ${opts%%,*}, not ro"
  "${PODMAN[@]}" exec "$c" touch /tmp/probe || fail run "$1 cannot write /tmp"
}

check_service() { # service port -> FAMILIES: its number of ems_ metrics
  local svc=$1 base=http://127.0.0.1:$2
  wait_endpoint "$svc" "$base${PROBE[$svc-startup]}"
  wait_endpoint "$svc" "$base${PROBE[$svc-readiness]}"
  curl -fsS "$base${PROBE[$svc-liveness]}" >/dev/null || fail run "$svc: liveness probe"
  curl -fsS "$base/metrics" >"$VAR/run/$svc/metrics" || fail run "$svc: no /metrics"
  FAMILIES=$(grep -c '^# TYPE ems_' "$VAR/run/$svc/metrics" || true)
  [ "$FAMILIES" -gt 0 ] || fail run "$svc: /metrics has no ems_ metric"
  check_sandbox "$svc"
  check_claims "$svc"
}

# A service with a state claim keeps its working files there (the config
# the chart wrote points at it), not on the emptyDir it would lose.
check_claims() { # service
  local d
  for d in "$VAR/run/$1"/claim-*; do
    [ -d "$d" ] || continue
    [ -n "$(ls -A "$d")" ] || fail run "$1 wrote nothing to its claim ${d##*/claim-}"
    CLAIMS+="$1 state on its claim ($(find "$d" -mindepth 1 -maxdepth 1 -printf '%f\n' |
      sort | paste -sd ' ')); "
  done
}

# The operators' on-demand re-plan as docs/schedule-optimizer.md gives it
# for a cluster: run in the optimizer's own container with the config the
# chart wrote (its broker, prefix and bus.kafka properties); the running
# service must count the request.
check_replan() { # port -> REPLAN: the summary's words
  local c base=http://127.0.0.1:$1 deadline=$((SECONDS + READY_TIMEOUT)) n=0
  c=$(cname schedule-optimizer)
  "${PODMAN[@]}" exec "$c" ems-entrypoint schedule-optimizer replan \
    --site nl-neerijnen --config /etc/ems/schedule-optimizer.yaml \
    --by image-check --reason "image check" >"$LOG/replan.log" 2>&1 ||
    fail run "replan in the optimizer's container: $(tail -n 1 "$LOG/replan.log")"
  until [ "${n%.*}" -ge 1 ]; do
    [ $SECONDS -lt $deadline ] || fail run "the optimizer did not count the replan request"
    sleep 0.5
    n=$(curl -fsS "$base/metrics" | awk '$1 == "ems_optimizer_requests_total" { print $2 }')
    n=${n:-0}
  done
  REPLAN="replan from the optimizer's container received; "
}

# SIGTERM through the entrypoint reaches the service (exec), which drains
# and exits 0.
stop_service() { # service
  local c rc
  c=$(cname "$1")
  "${PODMAN[@]}" stop -t 30 "$c" >/dev/null
  rc=$("${PODMAN[@]}" inspect -f '{{.State.ExitCode}}' "$c")
  "${PODMAN[@]}" logs "$c" >"$LOG/$1.log" 2>&1 || true
  "${PODMAN[@]}" rm -f "$c" >/dev/null
  [ "$rc" = 0 ] || fail run "$1 exited $rc on SIGTERM (log: $LOG/$1.log)"
}

stack_up() {
  tools/deps.sh >"$LOG/deps.log" 2>&1 || fail stack "make deps failed (log: $LOG/deps.log)"
  make -s build/bin/devbroker build/bin/devregistry >"$LOG/make.log" 2>&1 ||
    fail stack "cannot build the stack (log: $LOG/make.log)"
  tools/stack/stack.sh up --test --no-services >"$LOG/stack.log" 2>&1 ||
    fail stack "$(tail -n 1 "$LOG/stack.log")"
  set -a
  # shellcheck disable=SC1091
  . "$EMS_STACK_TEST_DIR/stack.env"
  set +a
}

cleanup() {
  local svc
  for svc in "${SERVICES[@]}"; do
    "${PODMAN[@]}" rm -f -i "$(cname "$svc")" >/dev/null 2>&1 || true
  done
  tools/stack/stack.sh down --test --no-services >>"$LOG/stack.log" 2>&1 || true
}

run_services() { # -> RUN_SUMMARY
  local svc i=0 port out=""
  CLAIMS=""
  stack_up
  write_values "$VAR/values.yaml"
  write_pg_secret "$VAR/secrets/ems-postgresql"
  mkdir -p "$VAR/run"
  render_chart "$VAR/run/chart.json" "$VAR/values.yaml" ||
    fail chart "helm/ems does not render (log: $LOG/render.log)"
  mapfile -t SERVICES < <(jq -r '.[] | select(.kind == "Deployment" or .kind == "StatefulSet")
    | .metadata.labels["app.kubernetes.io/component"]' "$VAR/run/chart.json")
  [ ${#SERVICES[@]} -gt 0 ] || fail chart "no Deployment or StatefulSet rendered"
  for svc in "${SERVICES[@]}"; do
    start_service "$svc" $((EMS_TEST_HTTP_BASE + 50 + i))
    i=$((i + 1))
  done
  i=0
  for svc in "${SERVICES[@]}"; do
    check_service "$svc" $((EMS_TEST_HTTP_BASE + 50 + i))
    out+="$svc ready, $FAMILIES metric families; "
    i=$((i + 1))
  done
  REPLAN=""
  i=0
  for svc in "${SERVICES[@]}"; do
    [ "$svc" = schedule-optimizer ] && check_replan $((EMS_TEST_HTTP_BASE + 50 + i))
    i=$((i + 1))
  done
  for svc in "${SERVICES[@]}"; do stop_service "$svc"; done
  RUN_SUMMARY="$out$REPLAN${CLAIMS%; }"
}

# ---- main ------------------------------------------------------------------

main() {
  FRESH=0
  case ${1:-} in
    --fresh) FRESH=1 ;;
    '') ;;
    *) echo "usage: tools/image-check.sh [--fresh]" >&2; exit 2 ;;
  esac
  [ "$(id -u)" -eq 0 ] || fail setup "needs root (rootful podman, debootstrap)"
  mkdir -p "$LOG"
  install_packages || fail packages "apt-get install failed (log: $LOG/apt.log)"
  local t0=$SECONDS
  build_base || fail base "cannot build $BASE (log: $LOG/base.log)"
  local base_s=$((SECONDS - t0))
  t0=$SECONDS
  build_image || fail build "$(tail -n 3 "$LOG/build.log" | tr '\n' ' ') (log: $LOG/build.log)"
  local build_s=$((SECONDS - t0))
  trap cleanup EXIT
  run_services
  echo "image-check: ok $IMAGE $(image_mb) MB, build ${build_s}s (base ${base_s}s);" \
    "$RUN_SUMMARY; as uid 10001, read-only root, exit 0 on SIGTERM"
}

main "$@"
