-- 0006 (pre-deploy): health can see late rows as the read-only role.
--
-- schema_health() (status, /v1/health, the Prometheus export) counts rows written into
-- days whose aggregates were already refreshed (late rows: a spool replayed after an
-- outage) as staleness, from the invalidation log the insert trigger of 0001 keeps. The
-- API runs it as analytics_reader, which could not read that log.

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_refresh_invalidations TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
