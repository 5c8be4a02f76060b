-- 0001 (pre-deploy): raw events, dead letters, the read-only role.
--
-- Sections marked "-- @tier timescale" run on TimescaleDB with community features,
-- "-- @tier partitioned" on TimescaleDB Apache-only and plain PostgreSQL, "-- @tier all"
-- everywhere. The relations and columns readers see are the same on every tier.

-- Native declarative partitioning by UTC day. maintain() creates the daily partitions
-- ahead of time; the default partition catches anything else so an insert never fails,
-- and maintain() moves such rows into their day's partition.
CREATE TABLE analytics_events (
    id          BIGSERIAL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_id    UUID NOT NULL,
    event_type  VARCHAR(100) NOT NULL,
    service     VARCHAR(100) NOT NULL,
    user_id     UUID,
    data        JSONB NOT NULL,
    PRIMARY KEY ("timestamp", event_id)
) PARTITION BY RANGE ("timestamp");

CREATE TABLE analytics_events_default PARTITION OF analytics_events DEFAULT;

-- Key/value state of the library's maintenance (retention horizon, last refresh).
CREATE TABLE analytics_maintenance_state (
    key   TEXT PRIMARY KEY,
    value TIMESTAMPTZ
);

-- Invalidation log: the UTC days that received rows since the last aggregate refresh.
-- Written by a statement-level trigger (one small insert per batch, in the writer's
-- transaction, so it is visible exactly when the rows are), consumed by the refresh.
-- It is the watermark that makes backfilled history (rows for old days) get refreshed.
CREATE TABLE analytics_refresh_invalidations (
    day TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION analytics_events_invalidate() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    INSERT INTO analytics_refresh_invalidations (day)
    SELECT DISTINCT date_bin(INTERVAL '1 day', n."timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00')
    FROM new_rows n;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER analytics_events_invalidate
    AFTER INSERT ON analytics_events
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION analytics_events_invalidate();

-- Creates the partition for the UTC day holding p_day (no-op when it exists), moving
-- any rows of that day out of the default partition first. Serialised with maintain()
-- by the maintenance advisory lock (re-entrant within one session).
CREATE FUNCTION analytics_ensure_partition(p_day TIMESTAMPTZ) RETURNS BOOLEAN
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    lo   TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_day, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    hi   TIMESTAMPTZ := lo + INTERVAL '1 day';
    part TEXT := 'analytics_events_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(7236912002);
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    -- LIKE + ATTACH rather than CREATE ... PARTITION OF: ATTACH only needs a
    -- SHARE UPDATE EXCLUSIVE lock on the parent, so writers are not blocked.
    EXECUTE format('CREATE TABLE %I (LIKE analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM analytics_events_default'
        ' WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING *)'
        ' INSERT INTO %I SELECT * FROM moved', part)
        USING lo, hi;
    EXECUTE format('ALTER TABLE analytics_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN TRUE;
END
$fn$;

-- Drops the daily partitions entirely older than p_cutoff (and default-partition rows
-- older than it); records the retention horizon, below which aggregates are never
-- recomputed (their raw rows are gone). Returns the dropped partitions' names.
CREATE FUNCTION analytics_drop_partitions(p_cutoff TIMESTAMPTZ) RETURNS SETOF TEXT
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    cutoff TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_cutoff, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    r RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(7236912002);
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'analytics_events'::regclass
          AND c.relname ~ '^analytics_events_p[0-9]{8}$'
          AND (to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
              + INTERVAL '1 day' <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        RETURN NEXT r.relname;
    END LOOP;
    DELETE FROM analytics_events_default WHERE "timestamp" < cutoff;
    INSERT INTO analytics_maintenance_state (key, value) VALUES ('retention_horizon', cutoff)
    ON CONFLICT (key) DO UPDATE
        SET value = greatest(analytics_maintenance_state.value, excluded.value);
END
$fn$;

-- Partitions for yesterday .. a week ahead, so writes land in daily partitions from
-- the first minute (maintain() keeps the horizon moving).
SELECT analytics_ensure_partition(d)
FROM generate_series(now() - INTERVAL '1 day', now() + INTERVAL '7 days', INTERVAL '1 day') AS d;

-- Indexes for the per-user, per-type and per-service dashboard queries (newest first).
CREATE INDEX analytics_events_user_id_idx ON analytics_events (user_id, "timestamp" DESC);
CREATE INDEX analytics_events_event_type_idx ON analytics_events (event_type, "timestamp" DESC);
CREATE INDEX analytics_events_service_idx ON analytics_events (service, "timestamp" DESC);

-- Events the database refused (kept as text: jsonb would refuse them again).
CREATE TABLE analytics_dead_letters (
    id              BIGSERIAL PRIMARY KEY,
    received_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_timestamp TIMESTAMPTZ,
    event_id        UUID UNIQUE,
    event_type      TEXT NOT NULL,
    service         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    error           TEXT NOT NULL,
    sqlstate        TEXT
);

-- Read-only role for the analytics API. Roles are cluster-wide: create it once, and
-- tolerate servers (managed services) where this user may not create roles: the
-- migration then goes on without it and the grants below are skipped.
DO $do$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        CREATE ROLE analytics_reader NOLOGIN;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'analytics_reader not created: this user may not create roles';
    WHEN duplicate_object OR unique_violation THEN
        NULL;  -- created concurrently by a migration of another database
END
$do$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO analytics_reader', current_schema());
        GRANT SELECT ON analytics_events TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
