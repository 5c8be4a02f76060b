-- 0005 (post-deploy): storage of the timescale tier; health readable by the reader role.
--
-- create_hypertable (0001) added its default index on "timestamp" DESC. The primary
-- key ("timestamp", event_id) already serves every range scan on "timestamp", so the
-- extra index only costs space and write time (and it was never in docs/schema.md).
-- Dropping it is one of the measured levers behind the compression target
-- (benchmarks/bench_compression.py).

-- Nothing: the partitioned tier never had the duplicate index.

-- schema_health() (status, the Prometheus export, the API's health endpoint) runs as
-- the read-only role too: it reads the migration history besides the aggregates.
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_schema_migrations TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_aggregate_refresh, analytics_maintenance_state
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
