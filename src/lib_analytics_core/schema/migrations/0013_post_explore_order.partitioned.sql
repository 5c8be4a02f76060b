-- 0013 (post-deploy): the rows of one event type stored together in every finished day
-- (issue 25), so that a question over one type reads that type's rows, not the day's.
--
-- Explore (read/explore.py) reads the raw rows of one event type in a range through the
-- index (event_type, "timestamp"). Rows arrive interleaved: on one heap page of a day's
-- partition sit ~18 events of all types, so the rows of a type that is 1 % of the
-- traffic touch ~17 % of the day's pages, and one that is 8 % touches ~80 %: the cost
-- followed the table, not the type. Ordering a finished day's partition by that index
-- (CLUSTER) puts each type's rows on pages of their own: a bitmap scan of a type then
-- reads about its rows' share of the pages. TimescaleDB's compression does the same on
-- the timescale tier (segmentby event_type, migration 0001), hence nothing there.
--
-- Cost: nothing on ingest (no index, no trigger: the rewrite happens once per day, after
-- the fact). maintain() orders days once they are older than the refresh window
-- (3 days: late events and the aggregates' refresh no longer touch them), a few per run.
-- CLUSTER holds an ACCESS EXCLUSIVE lock on that one day's partition while it rewrites
-- it (about a second per 110,000 rows here; BENCHMARKS.md), and needs the partition's
-- size again in free disk meanwhile; afterwards the partition is as large as before
-- (smaller, without dead rows). Rows a late writer adds to an ordered day are appended
-- at its end, as before.

-- The days whose partition was ordered, and when (maintain() orders each day once).
CREATE TABLE analytics_ordered_days (
    day        TIMESTAMPTZ PRIMARY KEY,
    ordered_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Orders the partition of the UTC day holding p_day by (event_type, "timestamp" DESC)
-- (its partition of analytics_events_event_type_idx); false when the day has no
-- partition of its own. Serialised with maintain() and the partition functions by the
-- maintenance advisory lock (re-entrant within one session).
CREATE FUNCTION analytics_order_partition(p_day TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    lo   TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_day, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    part TEXT := 'analytics_events_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    idx  TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(7236912002);
    IF to_regclass(quote_ident(part)) IS NULL THEN
        RETURN FALSE;
    END IF;
    SELECT c.relname INTO idx
    FROM pg_index i
    JOIN pg_inherits h ON h.inhrelid = i.indexrelid
    JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = to_regclass(quote_ident(part))
      AND h.inhparent = to_regclass('analytics_events_event_type_idx');
    IF idx IS NULL THEN
        RETURN FALSE;
    END IF;
    EXECUTE format('CLUSTER %I USING %I', part, idx);
    INSERT INTO analytics_ordered_days (day) VALUES (lo)
    ON CONFLICT (day) DO UPDATE SET ordered_at = now();
    RETURN TRUE;
END
$fn$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_ordered_days TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
