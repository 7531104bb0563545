-- Measurements (partitioned by month on ts), rollups per meter and per site at
-- 15 min, 1 h, 1 day and 1 month (UTC buckets), and data gaps.

CREATE TABLE measurements (
    meter_id       text NOT NULL,
    site_id        text NOT NULL,
    ts             timestamptz NOT NULL,
    seq            bigint NOT NULL,
    source         smallint NOT NULL,
    power_kw       double precision,
    energy_kwh     double precision,
    voltage_v      double precision,
    current_a      double precision,
    frequency_hz   double precision,
    power_factor   double precision,
    quality        text NOT NULL,
    quality_detail text,
    PRIMARY KEY (meter_id, ts)
) PARTITION BY RANGE (ts);

CREATE INDEX measurements_site_ts ON measurements (site_id, ts);

-- Creates the month partition holding t (UTC) when missing; returns its name.
CREATE FUNCTION ems_ensure_partition(t timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '1 month';
    name text := 'measurements_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF measurements '
                       'FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    END IF;
    RETURN name;
END $$;

-- Creates the partitions of the current month and n months ahead.
CREATE FUNCTION ems_ensure_partitions_ahead(n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 0..n LOOP
        PERFORM ems_ensure_partition(now() + make_interval(months => i));
    END LOOP;
END $$;

SELECT ems_ensure_partitions_ahead(3);

-- One table per resolution; scope 'meter' (meter_id set) or 'site'
-- (meter_id = ''). Completeness is the covered fraction of the bucket.
CREATE TABLE rollup_15m (
    scope          text NOT NULL CHECK (scope IN ('meter', 'site')),
    site_id        text NOT NULL,
    meter_id       text NOT NULL DEFAULT '',
    interval_start timestamptz NOT NULL,
    interval_end   timestamptz NOT NULL,
    energy_kwh     double precision NOT NULL,
    mean_kw        double precision NOT NULL,
    peak_kw        double precision NOT NULL,
    min_kw         double precision,
    sample_count   integer NOT NULL,
    completeness   double precision NOT NULL,
    revision       integer NOT NULL DEFAULT 0,
    watermark_ts   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, site_id, meter_id, interval_start)
);
CREATE INDEX rollup_15m_start ON rollup_15m (interval_start);

CREATE TABLE rollup_1h (LIKE rollup_15m INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                        PRIMARY KEY (scope, site_id, meter_id, interval_start));
CREATE INDEX rollup_1h_start ON rollup_1h (interval_start);
CREATE TABLE rollup_1d (LIKE rollup_15m INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                        PRIMARY KEY (scope, site_id, meter_id, interval_start));
CREATE INDEX rollup_1d_start ON rollup_1d (interval_start);
CREATE TABLE rollup_1mo (LIKE rollup_15m INCLUDING DEFAULTS INCLUDING CONSTRAINTS,
                         PRIMARY KEY (scope, site_id, meter_id, interval_start));
CREATE INDEX rollup_1mo_start ON rollup_1mo (interval_start);

CREATE TABLE gaps (
    gap_id            text PRIMARY KEY,
    site_id           text NOT NULL,
    meter_id          text NOT NULL,
    gap_start         timestamptz NOT NULL,
    gap_end           timestamptz NOT NULL,
    duration_s        bigint NOT NULL,
    missing_intervals integer NOT NULL,
    gap_class         text NOT NULL CHECK (gap_class IN ('minor', 'moderate', 'critical')),
    ongoing           boolean NOT NULL,
    recovered         boolean NOT NULL,
    revision          integer NOT NULL,
    detected_at       timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gaps_meter_start ON gaps (meter_id, gap_start);
