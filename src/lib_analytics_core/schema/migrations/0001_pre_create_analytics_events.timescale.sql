-- 0001 (pre-deploy): raw events, dead letters, the read-only role.
--
-- Sections marked "-- @tier timescale" run on TimescaleDB with community features,
-- "-- @tier partitioned" on TimescaleDB Apache-only and plain PostgreSQL, "-- @tier all"
-- everywhere. The relations and columns readers see are the same on every tier.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE analytics_events (
    id          BIGSERIAL,
    "timestamp" TIMESTAMPTZ NOT NULL DEFAULT now(),
    event_id    UUID NOT NULL,
    event_type  VARCHAR(100) NOT NULL,
    service     VARCHAR(100) NOT NULL,
    user_id     UUID,
    data        JSONB NOT NULL,
    PRIMARY KEY ("timestamp", event_id)
);

-- One chunk per UTC day: retention drops whole days, and a dashboard range touches
-- only the days it shows.
SELECT create_hypertable('analytics_events', 'timestamp',
                         chunk_time_interval => INTERVAL '1 day');

-- Compression after 7 days. segmentby event_type: every aggregate and dashboard query
-- filters on event_type (a few dozen values, so segments stay large enough to compress
-- well), so a query decompresses only the segments of the event types it reads.
-- orderby "timestamp" DESC: range scans and "latest first" listings read rows in stored
-- order, and min/max timestamp per segment lets TimescaleDB skip whole batches.
ALTER TABLE analytics_events SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'event_type',
    timescaledb.compress_orderby = '"timestamp" DESC, event_id'
);
SELECT add_compression_policy('analytics_events', INTERVAL '7 days');

-- Raw retention: 90 days, far older than the 3-day aggregate refresh window, so
-- dropping raw chunks never changes materialised aggregate history.
SELECT add_retention_policy('analytics_events', INTERVAL '90 days');

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
