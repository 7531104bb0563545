-- Creating a month's partition is serialised: several writer sessions (and
-- several ingesters) may meet a new month in the same moment, and two
-- concurrent CREATE TABLE IF NOT EXISTS of one partition can still fail
-- with "relation ... already exists" (or a unique violation in pg_type),
-- which failed a whole batch of readings. The transaction-scoped advisory
-- lock makes the second caller wait for the first one's commit; a
-- duplicate that still slips through (another code path creating the
-- partition) counts as created.
CREATE OR REPLACE FUNCTION ems_ensure_partition(t timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '1 month';
    name text := 'measurements_' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(name) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('ems_ensure_partition'));
    BEGIN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF measurements '
                       'FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    EXCEPTION WHEN duplicate_table OR unique_violation THEN
        NULL;
    END;
    RETURN name;
END $$;
