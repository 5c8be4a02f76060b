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


CREATE MATERIALIZED VIEW analytics_event_trends_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 hour', "timestamp") AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE TRUE
GROUP BY 1, 2, 3
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_event_trends_hourly',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE MATERIALIZED VIEW analytics_event_trends_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', "timestamp") AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE TRUE
GROUP BY 1, 2, 3
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_event_trends_daily',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


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
