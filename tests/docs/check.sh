#!/usr/bin/env bash
# The docs name every configuration key, metric and topic of the code.
#
# Config keys: each service's `--dump-config` (the built binaries of
# EMS_TEST_BIN, default build/bin; no broker, database or plant file is
# reached) gives its keys as `section.key`. A section every service has
# (the skeleton's: log, http, bus, plant, audit) is documented in
# docs/configuration.md, any other in docs/<service>.md. A key is documented
# when a Markdown table row of that doc has a first cell made only of
# backticked names separated by `,` or `/`, one of which is `section.key`
# or, in the service's own doc, the bare `key` (tables of one section).
#
# Metrics: every `"ems_..."` literal given as the name to obs_counter,
# obs_gauge, obs_histogram or obs_count in libs/, services/ and tools/
# (comments stripped) is named, as a whole word, in docs/observability.md or
# in the doc of the component that registers it: services/<s>/ ->
# docs/<s>.md, libs/<l>/ or tools/<t>/ -> docs/<l>.md or docs/<t>.md.
# A name that is not such a literal (built at runtime) fails the check
# until its names are listed in RUNTIME_METRICS below with a reason.
# tools/svc-example is left out: it is the template for service authors,
# never deployed, and its source is its documentation.
#
# Topics: for every schemas/T.avsc, docs/topics.md has the overview row of
# T (naming `schemas/T.avsc`) and the `**T**:` paragraph, and
# docs/schemas.md the `### T` section; every topic of the overview (other
# than `<topic>.dlq`) has a schema.
#
# Prints a FAIL line per missing item, the count checked of each part and a
# summary line; exits 1 when anything is missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"
bin=${EMS_TEST_BIN:-$root/build/bin}
services=(scada-gateway ingester forecaster schedule-optimizer)
# Metric names built at runtime, each "name doc reason" (none today: every
# registration names its metric with a literal).
RUNTIME_METRICS=()
fails=0

bad() { echo "FAIL: $*"; fails=$((fails + 1)); }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The names a doc's table rows give in their first cell, one a line: only
# cells made of backticked names separated by ',' or '/' count.
table_keys() {  # doc
  awk -F'|' '/^\|/ {
    cell = $2; gsub(/^ +| +$/, "", cell)
    if (cell !~ /^`[^`]+`( *[,\/] *`[^`]+`)*$/) next
    n = split(cell, part, "`")
    for (i = 2; i <= n; i += 2) print part[i]
  }' "$1" | sort -u
}

# ---- config keys ----------------------------------------------------------

# section.key lines of a service's --dump-config: sections at column 0,
# keys indented by two (the entries of a map value are indented further).
dump_keys() {  # service
  env -i PATH="$PATH" EMS_DB_CONNINFO=unused "$bin/$1" --dump-config 2>"$tmp/$1.err" |
    awk '/^[a-z_][a-z0-9_]*:/ { sec = $1; sub(/:.*/, "", sec); next }
         /^  [A-Za-z0-9_.-]+:/ { k = $1; sub(/:.*/, "", k); print sec "." k }'
}

dumped=0
for s in "${services[@]}"; do
  if [ ! -x "$bin/$s" ]; then
    bad "$bin/$s is not built (make)"
    continue
  fi
  dump_keys "$s" >"$tmp/$s.keys" || true
  if [ ! -s "$tmp/$s.keys" ]; then
    bad "$s --dump-config printed no keys: $(head -c 300 "$tmp/$s.err")"
    continue
  fi
  dumped=$((dumped + 1))
  cut -d. -f1 "$tmp/$s.keys" | sort -u >"$tmp/$s.sections"
done

# Keys of the sections every service has (the skeleton's): "section.key"
# lines of every service's dump whose section is in the common list.
common_keys() {
  local s
  for s in "${services[@]}"; do
    awk -F. 'NR == FNR { common[$0] = 1; next } $1 in common' "$tmp/common" "$tmp/$s.keys"
  done | sort -u
}

if [ "$dumped" -eq "${#services[@]}" ]; then
  cp "$tmp/${services[0]}.sections" "$tmp/common"
  for s in "${services[@]}"; do
    comm -12 "$tmp/common" "$tmp/$s.sections" >"$tmp/common.new"
    mv "$tmp/common.new" "$tmp/common"
  done
  table_keys docs/configuration.md >"$tmp/configuration.names"
  ncommon=0
  while IFS= read -r key; do
    ncommon=$((ncommon + 1))
    grep -qxF "$key" "$tmp/configuration.names" ||
      bad "config key $key (every service) is not in a table of docs/configuration.md"
  done < <(common_keys)
  nkeys=0
  for s in "${services[@]}"; do
    doc=docs/$s.md
    [ -f "$doc" ] || { bad "$s has no doc ($doc)"; continue; }
    table_keys "$doc" >"$tmp/$s.names"
    while IFS= read -r key; do
      nkeys=$((nkeys + 1))
      grep -qxF -e "$key" -e "${key#*.}" "$tmp/$s.names" ||
        bad "config key $key of $s is not in a table of $doc"
    done < <(awk -F. 'NR == FNR { common[$0] = 1; next } !($1 in common)' "$tmp/common" "$tmp/$s.keys")
  done
  echo "config keys: $ncommon common ($(paste -sd, "$tmp/common")), $nkeys of ${#services[@]} services"
fi

# ---- metrics --------------------------------------------------------------

# "name file" for every literal name, "?expr file" for any other name
# argument of a registration (libs/obs/metrics.[ch] define the API).
# shellcheck disable=SC2016 # the single quotes hold perl's own variables
registrations() {
  find libs services tools -path tools/svc-example -prune -o \
    \( -name '*.c' -o -name '*.h' \) -print | grep -v '^libs/obs/metrics\.[ch]$' | sort |
    xargs perl -0777 -ne '
      s{/\*.*?\*/}{ }gs; s{^\s*//[^\n]*}{}gm;
      while (/\bobs_(?:counter|gauge|histogram|count)\s*\(\s*[^,;]+?,\s*([^,;]+?)\s*,/g) {
        my $n = $1;
        print $n =~ /^"(ems_[a-z0-9_]+)"$/ ? "$1 $ARGV\n" : "?$n $ARGV\n";
      }' | sort -u
}
registrations >"$tmp/metrics" || bad "reading the metric registrations of the sources failed"
[ -s "$tmp/metrics" ] || bad "no metric registration found in the sources"

# The doc of the component a source file belongs to.
component_doc() {  # file
  local d
  case $1 in
    services/* | libs/* | tools/*) d=${1#*/}; d=${d%%/*} ;;
    *) return ;;
  esac
  echo "docs/$d.md"
}

nmetrics=0
while read -r name file; do
  case $name in
    \?*) bad "$file: a metric name built at runtime (${name#\?}): list its names in RUNTIME_METRICS of tests/docs/check.sh"
         continue ;;
  esac
  nmetrics=$((nmetrics + 1))
  doc=$(component_doc "$file")
  docs=(docs/observability.md)
  [ -n "$doc" ] && [ -f "$doc" ] && docs+=("$doc")
  grep -qw -- "$name" "${docs[@]}" ||
    bad "metric $name ($file) is named in none of ${docs[*]}"
done <"$tmp/metrics"
for entry in "${RUNTIME_METRICS[@]}"; do
  read -r name doc _ <<<"$entry"
  nmetrics=$((nmetrics + 1))
  grep -qw -- "$name" "$doc" docs/observability.md || bad "metric $name is named in neither $doc nor docs/observability.md"
done
echo "metrics: $nmetrics names"

# ---- topics ---------------------------------------------------------------

ntopics=0
for f in schemas/*.avsc; do
  t=$(basename "$f" .avsc)
  ntopics=$((ntopics + 1))
  grep -qE "^\| ${t//./\\.} \|.*\`schemas/${t//./\\.}\.avsc\`" docs/topics.md ||
    bad "topic $t has no row naming schemas/$t.avsc in the overview of docs/topics.md"
  grep -qF "**$t**:" docs/topics.md || bad "topic $t has no **$t**: paragraph in docs/topics.md"
  grep -qxF "### $t" docs/schemas.md || bad "topic $t has no '### $t' section in docs/schemas.md"
done
# the overview's rows: the table after its "| topic | key |" header
while IFS= read -r t; do
  [ -f "schemas/$t.avsc" ] || bad "docs/topics.md lists topic $t, which has no schemas/$t.avsc"
done < <(awk -F'|' '/^\| topic \| key \|/ { t = 1; next } t && !/^\|/ { t = 0 }
                    t && /^\| [a-z]/ { gsub(/ /, "", $2); print $2 }' docs/topics.md)
echo "topics: $ntopics schemas"

# docs/schemas.md is generated from schemas/: it must be the current output
tools/schema-doc.sh --check >/dev/null ||
  bad "docs/schemas.md is out of date with schemas/ (run tools/schema-doc.sh)"

if [ "$fails" -gt 0 ]; then
  echo "docs: $fails missing"
  exit 1
fi
echo "docs: everything named"
