-- 0008 (post-deploy): events and distinct users per event type and service, per hour
-- and per day, for every event type (the seed's and any a service defines itself).
-- analytics-migrate: refresh-aggregates-after
--
-- Why. The other aggregates know the seed's event types by name, so an event class a
-- service defines (class InvoicePaid(Event)) was stored and then invisible to every
-- query. These two group by the stored event_type column itself: a new type appears in
-- them with its first refresh, without a migration or a code change.
--
-- users is an exact distinct count of user_id (NULL user ids are not counted) within
-- the bucket: distinct counts do not add up, so the daily one is computed from raw rows
-- too, not rolled up from the hourly one. Both tiers: a continuous aggregate
-- (TimescaleDB, refreshed by its policy) or a refreshed table (partitioned tier).


CREATE TABLE analytics_event_trends_hourly AS
SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE FALSE
GROUP BY 1, 2, 3
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_event_trends_hourly', 1, 'bucket', INTERVAL '1 hour',
$agg$SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
GROUP BY 1, 2, 3$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_event_trends_daily AS
SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE FALSE
GROUP BY 1, 2, 3
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_event_trends_daily', 2, 'bucket', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
GROUP BY 1, 2, 3$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE INDEX analytics_event_trends_hourly_ix ON analytics_event_trends_hourly (bucket);
CREATE INDEX analytics_event_trends_hourly_type_ix
    ON analytics_event_trends_hourly (event_type, bucket);
CREATE INDEX analytics_event_trends_daily_ix ON analytics_event_trends_daily (bucket);
CREATE INDEX analytics_event_trends_daily_type_ix
    ON analytics_event_trends_daily (event_type, bucket);

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_event_trends_hourly, analytics_event_trends_daily
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;

-- Fill both from the raw rows that exist (the timescale tier's runner refreshes the new
-- continuous aggregates after commit, see the marker above).
DO $do$
DECLARE
    origin CONSTANT TIMESTAMPTZ := TIMESTAMPTZ '2000-01-03 00:00:00+00';
    lo TIMESTAMPTZ;
    hi TIMESTAMPTZ;
    r RECORD;
BEGIN
    SELECT date_bin(INTERVAL '1 day', min("timestamp"), origin),
           date_bin(INTERVAL '1 day', greatest(max("timestamp"), now()), origin)
               + INTERVAL '1 day'
    INTO lo, hi
    FROM analytics_events;
    IF lo IS NULL THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT name, refresh_sql FROM analytics_aggregate_refresh
        WHERE name IN ('analytics_event_trends_hourly', 'analytics_event_trends_daily')
        ORDER BY position
    LOOP
        EXECUTE format('INSERT INTO %I ', r.name) || r.refresh_sql USING lo, hi;
    END LOOP;
END
$do$;
