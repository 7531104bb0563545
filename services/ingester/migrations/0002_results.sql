-- Tables for the result topics, one row per slot (or per record) so Grafana
-- and the reporter query them directly. Rows carry the record's revision
-- or run id so a replay is idempotent.

CREATE TABLE forecasts (
    site_id     text NOT NULL,
    run_id      text NOT NULL,
    issued_at   timestamptz NOT NULL,
    slot_start  timestamptz NOT NULL,
    slot_end    timestamptz NOT NULL,
    p10_kw      double precision,
    p50_kw      double precision NOT NULL,
    p90_kw      double precision,
    model       text NOT NULL,
    model_version text,
    PRIMARY KEY (site_id, run_id, slot_start)
);
CREATE INDEX forecasts_slot ON forecasts (site_id, slot_start, issued_at DESC);

CREATE TABLE prices (
    market      text NOT NULL,
    site_id     text NOT NULL DEFAULT '',
    slot_start  timestamptz NOT NULL,
    slot_end    timestamptz NOT NULL,
    price_eur_mwh double precision NOT NULL,
    source      text NOT NULL,
    kind        text NOT NULL,          -- published or projected
    tariff_period text,
    price_class text,                   -- cheap, normal, peak
    published_at timestamptz NOT NULL,
    PRIMARY KEY (market, site_id, slot_start, source)
);

CREATE TABLE purchases (
    contract_id text NOT NULL,
    revision    integer NOT NULL DEFAULT 0,
    supplier    text,
    period_start timestamptz NOT NULL,
    period_end  timestamptz NOT NULL,
    volume_mwh  double precision,
    price_kind  text,                   -- fixed or indexed
    price_eur_mwh double precision,
    payload     jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (contract_id)
);

CREATE TABLE schedules (
    site_id      text NOT NULL,
    plan_id      text NOT NULL,
    equipment_id text NOT NULL,
    slot_start   timestamptz NOT NULL,
    slot_end     timestamptz NOT NULL,
    power_kw     double precision NOT NULL,
    cost_eur     double precision,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (site_id, plan_id, equipment_id, slot_start)
);

CREATE TABLE schedule_runs (
    site_id      text NOT NULL,
    plan_id      text NOT NULL,
    created_at   timestamptz NOT NULL,
    solver_status text NOT NULL,
    cost_eur     double precision,
    baseline_cost_eur double precision,
    savings_eur  double precision,
    binding_constraints text[],
    PRIMARY KEY (site_id, plan_id)
);

CREATE TABLE recommendations (
    recommendation_id text PRIMARY KEY,
    site_id      text NOT NULL,
    equipment_id text,
    action       text NOT NULL,
    expected_saving_eur double precision,
    valid_from   timestamptz,
    valid_to     timestamptz,
    state        text NOT NULL,
    revision     integer NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alerts (
    alert_id    text PRIMARY KEY,
    site_id     text NOT NULL,
    rule        text NOT NULL,
    severity    text NOT NULL,
    state       text NOT NULL,
    started_at  timestamptz NOT NULL,
    resolved_at timestamptz,
    message     text,
    revision    integer NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_site_started ON alerts (site_id, started_at);

CREATE TABLE reports (
    report_id   text PRIMARY KEY,
    site_id     text NOT NULL,
    kind        text NOT NULL,
    period_start timestamptz NOT NULL,
    period_end  timestamptz NOT NULL,
    location    text NOT NULL,
    sha256      text,
    headline    jsonb,
    created_at  timestamptz NOT NULL
);

-- The read-only role of the reporter and Grafana, when the cluster has it.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ems_ro') THEN
        GRANT USAGE ON SCHEMA public TO ems_ro;
        GRANT SELECT ON ALL TABLES IN SCHEMA public TO ems_ro;
    END IF;
END $$;
