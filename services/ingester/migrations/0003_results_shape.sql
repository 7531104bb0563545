-- Result tables shaped after the Avro records the ingester stores in them
-- (schemas/energy.*.avsc): the missing fields become columns, each record
-- is written by one statement set keyed for idempotence (docs/ingester.md),
-- and views give Grafana and the reporter the current value per slot.

-- Milliseconds since the epoch (Avro timestamp-millis) as timestamptz.
CREATE FUNCTION ems_ms(ms bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT to_timestamp(ms / 1000.0) $$;

-- energy.forecast: one row per run and slot.
ALTER TABLE forecasts
    ADD COLUMN run_kind       text,
    ADD COLUMN horizon_start  timestamptz,
    ADD COLUMN horizon_end    timestamptz,
    ADD COLUMN fallback       boolean,
    ADD COLUMN quality        text,
    ADD COLUMN quality_reason text;

-- The newest run's P10/P50/P90 for each slot.
CREATE VIEW forecast_latest AS
SELECT DISTINCT ON (site_id, slot_start) *
FROM forecasts
ORDER BY site_id, slot_start, issued_at DESC, run_id DESC;

-- energy.prices: one row per curve and slot; a higher curve revision
-- replaces the curve's rows.
ALTER TABLE prices DROP CONSTRAINT prices_pkey;
ALTER TABLE prices
    ADD COLUMN curve_id        text NOT NULL DEFAULT '',
    ADD COLUMN curve_kind      text NOT NULL DEFAULT 'market',
    ADD COLUMN revision        integer NOT NULL DEFAULT 0,
    ADD COLUMN energy_eur_mwh  double precision,
    ADD COLUMN network_eur_mwh double precision,
    ADD COLUMN taxes_eur_mwh   double precision,
    ADD COLUMN co2_g_kwh       double precision;
ALTER TABLE prices ALTER COLUMN curve_id DROP DEFAULT,
                   ALTER COLUMN curve_kind DROP DEFAULT;
ALTER TABLE prices ADD PRIMARY KEY (curve_id, slot_start);
CREATE INDEX prices_slot ON prices (curve_kind, market, site_id, slot_start);

-- The price of each slot per market (site_id '') or site: a published
-- price before a projection, then the latest issue.
CREATE VIEW price_latest AS
SELECT DISTINCT ON (curve_kind, market, site_id, slot_start) *
FROM prices
ORDER BY curve_kind, market, site_id, slot_start, (kind = 'published') DESC,
         published_at DESC, revision DESC;

-- energy.purchases: one row per contract; a higher revision wins. payload
-- keeps the whole record.
ALTER TABLE purchases
    ADD COLUMN changed_at           timestamptz,
    ADD COLUMN status               text,
    ADD COLUMN supplier_id          text,
    ADD COLUMN site_id              text,
    ADD COLUMN volume_kwh           double precision,
    ADD COLUMN capacity_kw          double precision,
    ADD COLUMN index_name           text,
    ADD COLUMN index_markup_eur_mwh double precision,
    ADD COLUMN currency             text;

-- energy.schedule: schedule_runs one row per plan, schedules one row per
-- plan, equipment and slot, schedule_site_slots one row per plan and slot.
ALTER TABLE schedules
    ADD COLUMN state   text,
    ADD COLUMN soc_kwh double precision;
ALTER TABLE schedule_runs
    ADD COLUMN trigger             text,
    ADD COLUMN forecast_run_id     text,
    ADD COLUMN price_curve_id      text,
    ADD COLUMN horizon_start       timestamptz,
    ADD COLUMN horizon_end         timestamptz,
    ADD COLUMN slot_minutes        integer,
    ADD COLUMN heuristic           boolean,
    ADD COLUMN mip_gap             double precision,
    ADD COLUMN solve_time_ms       bigint,
    ADD COLUMN energy_cost_eur     double precision,
    ADD COLUMN demand_charge_eur   double precision,
    ADD COLUMN startup_cost_eur    double precision,
    ADD COLUMN co2_cost_eur        double precision,
    ADD COLUMN peak_kw             double precision,
    ADD COLUMN equipment           jsonb,
    ADD COLUMN relaxed_constraints jsonb;
CREATE INDEX schedule_runs_created ON schedule_runs (site_id, created_at DESC);

CREATE TABLE schedule_site_slots (
    site_id       text NOT NULL,
    plan_id       text NOT NULL,
    slot_start    timestamptz NOT NULL,
    slot_end      timestamptz NOT NULL,
    base_load_kw  double precision NOT NULL,
    flexible_kw   double precision NOT NULL,
    import_kw     double precision NOT NULL,
    price_eur_mwh double precision NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (site_id, plan_id, slot_start)
);

-- The newest plan's power per equipment and slot.
CREATE VIEW schedule_latest AS
SELECT DISTINCT ON (site_id, equipment_id, slot_start) *
FROM schedules
ORDER BY site_id, equipment_id, slot_start, created_at DESC, plan_id DESC;

-- energy.recommendations: one row per recommendation; a higher revision
-- wins.
ALTER TABLE recommendations
    ADD COLUMN plan_id            text,
    ADD COLUMN setpoint_kw        double precision,
    ADD COLUMN title              text,
    ADD COLUMN detail             text,
    ADD COLUMN created_at         timestamptz,
    ADD COLUMN expected_shift_kwh double precision,
    ADD COLUMN requires_approval  boolean,
    ADD COLUMN decided_by         text,
    ADD COLUMN decided_at         timestamptz,
    ADD COLUMN decision_reason    text;
CREATE INDEX recommendations_site ON recommendations (site_id, valid_from);

-- energy.alerts: one row per alert; the later state change wins (resolved
-- after firing at the same instant). revision counts the changes stored.
ALTER TABLE alerts
    ADD COLUMN changed_at timestamptz,
    ADD COLUMN value      double precision,
    ADD COLUMN threshold  double precision,
    ADD COLUMN unit       text,
    ADD COLUMN labels     jsonb;

-- energy.reports: one row per report; a later generation replaces it.
ALTER TABLE reports
    ADD COLUMN format     text,
    ADD COLUMN size_bytes bigint;
CREATE INDEX reports_site_period ON reports (site_id, period_start);

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ems_ro') THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO ems_ro;
    END IF;
END $$;
