#!/usr/bin/env bash
# The demo, run by `make demo` once `make up` has started the embedded stack:
# replays the Dutch substation's history (tests/data/openstef_nl_neerijnen,
# 2020-08-15..11-30) through the bus at full speed as the replay site's
# energy.telemetry, energy.weather and energy.prices; the ingester stores it
# and publishes energy.load, the forecaster issues day-ahead forecasts for
# November, the schedule-optimizer plans each November day, and the ingester
# stores forecasts and plans in PostgreSQL. The script waits until the
# pipeline has caught up, then prints a summary from PostgreSQL.
# What runs and what the numbers mean: docs/demo.md.
#
# Environment: EMS_DEMO_TIMEOUT (seconds to wait for the pipeline, default
# 600), EMS_STACK_BIN, EMS_STACK_VAR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${EMS_STACK_BIN:-$ROOT/build/bin}
VAR=${EMS_STACK_VAR:-$ROOT/var}
TIMEOUT=${EMS_DEMO_TIMEOUT:-600}
SITE=nl-neerijnen-2020        # the replay site (tools/stack/plant-replay.yaml)
METER=$SITE-main
FROM=2020-08-15 TO=2020-12-01 # the data set ends 2020-11-30 00:00 UTC
FC_FROM=2020-10-31            # first forecast runs: 77 days (forecaster warmup) in
MONTH_FROM=2020-11-01 MONTH_TO=2020-12-01
TZ_SITE=Europe/Amsterdam

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

[ -f "$VAR/stack.env" ] || die "no $VAR/stack.env: start the stack first (make up)"
set -a; . "$VAR/stack.env"; set +a
[ -x "$BIN/replay" ] || die "'$BIN/replay' is not built (run make)"
command -v psql >/dev/null || die "psql not found (run make deps)"
cd "$ROOT"
grep -q "id: $SITE\$" "${EMS_PLANT_PATH:-/nonexistent}" 2>/dev/null ||
  die "the stack's plant model has no site $SITE: restart the stack (make down; make demo)"
for svc in ingester forecaster schedule-optimizer; do
  pid=$(cat "$VAR/run/$svc.pid" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null ||
    die "$svc is not running (make status; log: $VAR/log/$svc.log)"
  # A service started by an older stack script does not know the replay site.
  if [ -r "/proc/$pid/environ" ] && ! tr '\0' '\n' <"/proc/$pid/environ" | grep -q '^EMS_PLANT_PATH='; then
    die "$svc runs without the stack's plant model (started by an older stack): make down; make demo"
  fi
done

sql() { psql "$EMS_DB_CONNINFO" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

# Waits until a service answers /readyz (the forecaster and the optimizer
# rebuild their state from the topics first).
ready() {  # name port
  local deadline=$((SECONDS + 120))
  until curl -fsS "http://127.0.0.1:$2/readyz" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "$1 not ready after 120 s (curl localhost:$2/readyz)"
    sleep 1
  done
}
ready ingester 18102
ready forecaster 18103
ready schedule-optimizer 18105

# ---- 1. replay the real data -------------------------------------------
replay() {
  "$BIN/replay" --bootstrap "$EMS_BUS_BOOTSTRAP" --registry "$EMS_BUS_REGISTRY_URL" \
    --schemas "$ROOT/schemas" --prefix "${EMS_BUS_TOPIC_PREFIX:-}" \
    --data "$ROOT/tests/data/openstef_nl_neerijnen" \
    --site "$SITE" --meter "$METER" --market NL --tz "$TZ_SITE" \
    --from "$FROM" --to "$TO" --speed 0 "$@"
}
t0=$SECONDS
expect=$(replay --dry-run | sed -n 's/.*telemetry \([0-9]*\).*/\1/p')
[ -n "$expect" ] || die "replay --dry-run failed"
stored=$(sql "SELECT count(*) FROM measurements WHERE meter_id = '$METER'")
# The gate keeps each day's forecast and price curve in event-time order for
# the optimizer (tools/replay/main.c). When PostgreSQL holds the history
# already, the replay is a redelivery: every reading is a duplicate, no
# interval, forecast or plan is made again, so there is nothing to wait for.
gate=(--gate-from "$FC_FROM" --gate-timeout 30)
if [ "$stored" -ge "$expect" ]; then
  say "PostgreSQL holds this history already: replaying it again adds nothing (see docs/demo.md)"
  gate=()
fi
say "replaying $FROM..2020-11-30 of the Neerijnen substation (OpenSTEF, MPL-2.0) as site $SITE"
summary=$(replay "${gate[@]}") || die "replay failed"
echo "$summary"
sent=$(sed -n 's/.*telemetry \([0-9]*\).*/\1/p' <<<"$summary")
curves=$(sed -n 's/.*prices \([0-9]*\).*/\1/p' <<<"$summary")

# ---- 2. wait for the pipeline --------------------------------------------
# Caught up when the readings and curves are stored, and the forecast and
# plan counts have not moved for a while (after the last curve the
# forecaster still issues the last day's runs, the optimizer plans them).
say "waiting for the pipeline (at most ${TIMEOUT} s)"
deadline=$((SECONDS + TIMEOUT)) last= still=0
while :; do
  state=$(sql "SELECT (SELECT count(*) FROM measurements WHERE meter_id = '$METER'),
                      (SELECT count(DISTINCT curve_id) FROM prices
                        WHERE market = 'NL' AND curve_kind = 'market'
                          AND source = 'openstef-dataset'),
                      (SELECT count(DISTINCT run_id) FROM forecasts WHERE site_id = '$SITE'),
                      (SELECT count(*) FROM schedule_runs WHERE site_id = '$SITE')" |
    tr '|' ' ')
  read -r n_read n_curves n_fc n_plans <<<"$state"
  if [ "$n_read" -ge "$sent" ] && [ "$n_curves" -ge "$curves" ] && [ "$n_plans" -gt 0 ]; then
    if [ "$state" = "$last" ]; then still=$((still + 1)); else still=0; fi
    [ $still -ge 5 ] && break
  fi
  last=$state
  if [ $SECONDS -ge $deadline ]; then
    echo "demo: the pipeline did not catch up within ${TIMEOUT} s:" >&2
    echo "  readings $n_read/$sent, curves $n_curves/$curves, forecast runs $n_fc, plans $n_plans" >&2
    die "see make status and var/log/{ingester,forecaster,schedule-optimizer}.log"
  fi
  sleep 2
done
say "pipeline caught up in $((SECONDS - t0)) s"

# ---- 3. summary from PostgreSQL ----------------------------------------
# November in site time; a plan per day is the one made from the day-ahead
# forecast and the day's curve (the intraday re-plans are counted apart).
M="tstzrange('$MONTH_FROM 00:00 $TZ_SITE'::timestamptz, '$MONTH_TO 00:00 $TZ_SITE'::timestamptz)"
psql "$EMS_DB_CONNINFO" -X -q -v ON_ERROR_STOP=1 -P footer=off <<SQL
\\echo
\\echo 'History of site $SITE (2020-08-15 .. 2020-11-30, UTC)'
SELECT count(*) AS readings_stored,
       min(ts) AS first, max(ts) AS last
  FROM measurements WHERE meter_id = '$METER';
SELECT count(*) FILTER (WHERE scope = 'site') AS site_15min_rollups,
       count(*) FILTER (WHERE scope = 'meter') AS meter_15min_rollups,
       round((sum(energy_kwh) FILTER (WHERE scope = 'site') / 1000)::numeric, 1) AS site_energy_mwh,
       round(max(mean_kw) FILTER (WHERE scope = 'site')::numeric) AS site_peak_kw
  FROM rollup_15m WHERE site_id = '$SITE';
SELECT gap_class, count(*) AS gaps, sum(missing_intervals) AS missing_15min,
       count(*) FILTER (WHERE ongoing) AS ongoing
  FROM gaps WHERE site_id = '$SITE' GROUP BY gap_class ORDER BY gap_class;

\\echo 'Day-ahead forecasts for November (site time), P50 against the measured load'
SELECT count(DISTINCT f.run_id) AS runs,
       string_agg(DISTINCT f.model, ', ') AS models,
       count(DISTINCT f.run_id) FILTER (WHERE f.quality <> 'ok') AS runs_not_ok,
       round(avg(abs(f.p50_kw - r.mean_kw))::numeric) AS mae_kw,
       round((100 * avg(abs(f.p50_kw - r.mean_kw)) / avg(r.mean_kw))::numeric, 1) AS mae_pct_of_mean,
       round((100 * avg((r.mean_kw BETWEEN f.p10_kw AND f.p90_kw)::int))::numeric, 1) AS p10_p90_coverage_pct,
       count(*) AS slots_compared
  FROM forecasts f
  JOIN rollup_15m r ON r.scope = 'site' AND r.site_id = f.site_id
                   AND r.interval_start = f.slot_start
 WHERE f.site_id = '$SITE' AND f.run_kind = 'day_ahead'
   AND $M @> f.slot_start;
SELECT round(avg(abs(r7.mean_kw - r.mean_kw))::numeric) AS same_slot_last_week_mae_kw
  FROM rollup_15m r
  JOIN rollup_15m r7 ON r7.scope = 'site' AND r7.site_id = r.site_id
                    AND r7.interval_start = r.interval_start - interval '7 days'
 WHERE r.scope = 'site' AND r.site_id = '$SITE' AND $M @> r.interval_start;
SELECT count(DISTINCT run_id) AS intraday_runs_in_november
  FROM forecasts
 WHERE site_id = '$SITE' AND run_kind = 'intraday' AND $M @> issued_at;

\\echo 'Plans for November days: day-ahead forecast + the day''s price curve'
WITH day_plans AS (
  SELECT DISTINCT ON (horizon_start) *
    FROM schedule_runs
   WHERE site_id = '$SITE' AND forecast_run_id LIKE '%/day_ahead/%'
     AND $M @> horizon_start
   ORDER BY horizon_start, created_at DESC)
SELECT count(*) AS days_planned,
       count(*) FILTER (WHERE solver_status = 'optimal') AS optimal,
       count(*) FILTER (WHERE solver_status = 'time_limit') AS time_limit,
       count(*) FILTER (WHERE solver_status = 'relaxed') AS relaxed,
       round(sum(baseline_cost_eur)::numeric) AS baseline_eur,
       round(sum(cost_eur)::numeric) AS plan_eur,
       round(sum(savings_eur)::numeric) AS savings_eur,
       round((100 * sum(savings_eur) / nullif(sum(baseline_cost_eur), 0))::numeric, 2) AS savings_pct,
       round((100 * percentile_cont(0.5) WITHIN GROUP
              (ORDER BY savings_eur / nullif(baseline_cost_eur, 0)))::numeric, 2) AS median_day_pct,
       round(sum(demand_charge_eur)::numeric) AS plan_demand_eur,
       round(max(solve_time_ms) / 1000.0, 1) AS slowest_solve_s
  FROM day_plans;
SELECT count(*) FILTER (WHERE forecast_run_id LIKE '%/intraday/%') AS intraday_replans,
       count(*) AS plans_stored_in_november
  FROM schedule_runs WHERE site_id = '$SITE' AND $M @> horizon_start;
SQL

cat <<'EOT'
demo: where to look next
  make status                           what runs, where (ports, pids)
  var/log/<component>.log               one log per component (JSON lines)
  curl -s localhost:18102/metrics       ingester metrics (scada-gateway 18101,
                                        forecaster 18103, schedule-optimizer 18105)
  set -a; . var/stack.env; set +a; psql "$EMS_DB_CONNINFO"
                                        the tables: measurements, rollup_15m, gaps,
                                        forecasts, prices, schedule_runs, schedules
  build/bin/ems-tail --help             decode any topic, e.g. energy.schedule
  make demo                             again: nothing is counted twice (docs/demo.md)
  make down                             stop everything
EOT
