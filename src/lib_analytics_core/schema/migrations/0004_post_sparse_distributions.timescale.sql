-- 0004 (post-deploy): sparse ≤1 % distributions, per-question rollups, hostile-value-proof SQL.
-- analytics-migrate: refresh-aggregates-after
--
-- Why. 0002's fixed 84-bucket histogram was off by up to 11 %, cost 84 bigint columns per
-- row, and its casts (``(data->>'status_code')::int``) made every refresh fail from the
-- moment one out-of-range value was stored. This migration:
--
-- 1. archives the six 0002 aggregates that cast JSON values (renamed to *_v0002, their
--    refresh stopped) so no aggregate history is destroyed, and recreates them under the
--    same names and columns, minus the h00..h83 histogram columns, with every JSON value
--    read through the guarded extractors below (rules in docs/schema.md);
-- 2. adds the distribution rollups, one table per dashboard question grain
--    (hour|day x total|service|endpoint, and task durations per day), each row holding
--    the counts, the sparse histogram (hist_keys smallint[], hist_counts bigint[]; see
--    read/histogram.py for the bucket math) and the p50/p95/p99 bucket keys precomputed.
--    They are tables on every tier (a continuous aggregate cannot group twice, which
--    building a sparse array needs), recomputed from raw rows by
--    analytics_refresh_distributions(): by refresh_aggregates()/maintain(), and on
--    TimescaleDB by an hourly job over the last 3 days;
-- 3. rebuilds all of it from the raw rows that still exist. Beyond raw retention the new
--    relations are empty; the old numbers stay readable in the *_v0002 archives.
--
-- The header marker above makes the runner (after commit, TimescaleDB only) refresh the
-- new continuous aggregates over the whole raw range: that cannot run in a transaction.


-- ------------------------------------------------------------ guarded extractors
-- A JSON number within [lo, hi], else NULL (strings, booleans, NaN-as-string, objects,
-- huge numbers): casting through numeric first means no value can raise.
CREATE FUNCTION analytics_json_number(j JSONB, lo NUMERIC, hi NUMERIC) RETURNS NUMERIC
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
           CASE WHEN j::numeric BETWEEN lo AND hi THEN j::numeric END
       END
$fn$;

-- A duration in ms: negative (clock skew) counts as 0, above 1e11 ms (~3 years) or not a
-- number is ignored (NULL).
CREATE FUNCTION analytics_json_duration(j JSONB) RETURNS NUMERIC
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
           CASE WHEN j::numeric > 100000000000 THEN NULL
                WHEN j::numeric < 0 THEN 0
                ELSE j::numeric END
       END
$fn$;

-- The sparse-histogram key of a duration (read/histogram.py: bucket_key). The literal is
-- ln((1 + 0.01) / (1 - 0.01)) as Python prints it; a test checks SQL and Python agree.
CREATE FUNCTION analytics_hist_key(v NUMERIC) RETURNS SMALLINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT CASE WHEN v IS NULL OR v > 100000000000 THEN NULL
            WHEN v < 0.001 THEN (-32768)::smallint
            ELSE ceil(ln(v::float8) / 0.020000666706669435::float8)::smallint END
$fn$;

-- Key of the nearest-rank q quantile of a sparse histogram (keys ascending); NULL if empty.
CREATE FUNCTION analytics_hist_quantile_key(keys SMALLINT[], counts BIGINT[], q FLOAT8)
RETURNS SMALLINT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT k FROM (
    SELECT u.k, sum(u.c) OVER (ORDER BY u.k) AS cum, sum(u.c) OVER () AS total
    FROM unnest(keys, counts) AS u(k, c)
) s
WHERE s.cum >= greatest(1, ceil(q * s.total::float8 - 1e-9))
ORDER BY s.k
LIMIT 1
$fn$;

-- ---------------------------------------------------------- archive the 0002 relations
SELECT remove_continuous_aggregate_policy(n::regclass)
FROM unnest(ARRAY['analytics_task_stats_daily', 'analytics_api_latency_daily',
                  'analytics_api_latency_hourly', 'analytics_integration_health_daily',
                  'analytics_auth_events_daily', 'analytics_cocoon_activity_daily']) AS n;
ALTER MATERIALIZED VIEW analytics_task_stats_daily RENAME TO analytics_task_stats_daily_v0002;
ALTER MATERIALIZED VIEW analytics_api_latency_daily RENAME TO analytics_api_latency_daily_v0002;
ALTER MATERIALIZED VIEW analytics_api_latency_hourly RENAME TO analytics_api_latency_hourly_v0002;
ALTER MATERIALIZED VIEW analytics_integration_health_daily
    RENAME TO analytics_integration_health_daily_v0002;
ALTER MATERIALIZED VIEW analytics_auth_events_daily RENAME TO analytics_auth_events_daily_v0002;
ALTER MATERIALIZED VIEW analytics_cocoon_activity_daily
    RENAME TO analytics_cocoon_activity_daily_v0002;


-- ------------------------------------------------------------- count aggregates
CREATE MATERIALIZED VIEW analytics_task_stats_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', "timestamp") AS day,
       count(*) FILTER (WHERE event_type = 'task_created') AS created,
       count(*) FILTER (WHERE event_type = 'task_started') AS started,
       count(*) FILTER (WHERE event_type = 'task_completed') AS completed,
       count(*) FILTER (WHERE event_type = 'task_failed') AS failed,
       count(*) FILTER (WHERE event_type = 'task_cancelled') AS cancelled,
       count(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type IN ('task_completed', 'task_failed')) AS duration_count,
       coalesce(sum(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type IN ('task_completed', 'task_failed')), 0)::float8
           AS duration_sum_ms,
       max(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type IN ('task_completed', 'task_failed'))::float8
           AS duration_max_ms
FROM analytics_events
WHERE TRUE
  AND event_type IN ('task_created', 'task_started', 'task_completed', 'task_failed',
                     'task_cancelled')
GROUP BY 1
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_task_stats_daily',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE MATERIALIZED VIEW analytics_api_latency_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 hour', "timestamp") AS hour,
       service,
       coalesce(data->>'endpoint', '') AS endpoint,
       coalesce(data->>'method', '') AS method,
       count(*) AS requests,
       sum(1.0::float8 / coalesce(nullif(
           analytics_json_number(data->'_meta'->'sample_rate', 0, 1)::float8, 0), 1))::float8
           AS requests_estimated,
       count(*) FILTER (WHERE analytics_json_number(data->'status_code', 400, 499) IS NOT NULL)
           AS errors_4xx,
       count(*) FILTER (WHERE analytics_json_number(data->'status_code', 500, 599) IS NOT NULL)
           AS errors_5xx,
       count(analytics_json_duration(data->'duration_ms')) AS duration_count,
       coalesce(sum(analytics_json_duration(data->'duration_ms')), 0)::float8 AS duration_sum_ms,
       max(analytics_json_duration(data->'duration_ms'))::float8 AS duration_max_ms
FROM analytics_events
WHERE TRUE AND event_type = 'api_request'
GROUP BY 1, 2, 3, 4
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_api_latency_hourly',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE MATERIALIZED VIEW analytics_api_latency_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', hour) AS day,
       service,
       endpoint,
       method,
       sum(requests)::bigint AS requests,
       sum(requests_estimated)::float8 AS requests_estimated,
       sum(errors_4xx)::bigint AS errors_4xx,
       sum(errors_5xx)::bigint AS errors_5xx,
       sum(duration_count)::bigint AS duration_count,
       sum(duration_sum_ms)::float8 AS duration_sum_ms,
       max(duration_max_ms)::float8 AS duration_max_ms
FROM analytics_api_latency_hourly
WHERE TRUE
GROUP BY 1, 2, 3, 4
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_api_latency_daily',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE MATERIALIZED VIEW analytics_integration_health_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', "timestamp") AS day,
       data->>'provider' AS provider,
       count(*) FILTER (WHERE event_type = 'integration_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'integration_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'integration_used') AS used,
       count(*) FILTER (WHERE event_type = 'integration_used'
                          AND data->'success' = 'true'::jsonb) AS used_success,
       count(*) FILTER (WHERE event_type = 'integration_used'
                          AND data->'success' = 'false'::jsonb) AS used_failed,
       count(*) FILTER (WHERE event_type = 'integration_error') AS errors,
       count(*) FILTER (WHERE event_type = 'oauth_flow_started') AS oauth_started,
       count(*) FILTER (WHERE event_type = 'oauth_flow_completed'
                          AND data->'success' = 'true'::jsonb) AS oauth_completed,
       count(*) FILTER (WHERE event_type = 'oauth_flow_completed'
                          AND data->'success' = 'false'::jsonb) AS oauth_failed,
       coalesce(sum(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type = 'integration_used'), 0)::float8 AS used_duration_sum_ms
FROM analytics_events
WHERE TRUE
  AND event_type IN ('integration_connected', 'integration_disconnected', 'integration_used',
                     'integration_error', 'oauth_flow_started', 'oauth_flow_completed')
  AND data ? 'provider'
GROUP BY 1, 2
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_integration_health_daily',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE MATERIALIZED VIEW analytics_auth_events_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', "timestamp") AS day,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt') AS login_attempts,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt'
                          AND data->'success' = 'true'::jsonb) AS login_success,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt'
                          AND data->'success' = 'false'::jsonb) AS login_failed,
       count(*) FILTER (WHERE event_type = 'auth_code_verified'
                          AND data->'success' = 'true'::jsonb) AS codes_verified,
       count(*) FILTER (WHERE event_type = 'auth_code_verified'
                          AND data->'success' = 'false'::jsonb) AS codes_failed,
       count(*) FILTER (WHERE event_type = 'auth_token_refresh') AS token_refreshes,
       count(*) FILTER (WHERE event_type = 'auth_token_refresh'
                          AND data->'success' = 'false'::jsonb) AS token_refresh_failed,
       count(*) FILTER (WHERE event_type = 'auth_session_validated') AS sessions_validated,
       count(*) FILTER (WHERE event_type = 'auth_session_validated'
                          AND data->'valid' = 'false'::jsonb) AS sessions_invalid
FROM analytics_events
WHERE TRUE
  AND event_type IN ('auth_login_attempt', 'auth_code_verified', 'auth_token_refresh',
                     'auth_session_validated')
GROUP BY 1
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_auth_events_daily',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE MATERIALIZED VIEW analytics_cocoon_activity_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '1 day', "timestamp") AS day,
       count(*) FILTER (WHERE event_type = 'cocoon_registered') AS registered,
       count(*) FILTER (WHERE event_type = 'cocoon_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'cocoon_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'cocoon_claimed') AS claimed,
       count(*) FILTER (WHERE event_type = 'cocoon_setup_token_created') AS setup_tokens_created,
       count(*) FILTER (WHERE event_type = 'cocoon_setup_token_used') AS setup_tokens_used,
       coalesce(sum(analytics_json_duration(data->'session_duration_ms'))
           FILTER (WHERE event_type = 'cocoon_disconnected'), 0)::float8
           AS session_duration_sum_ms
FROM analytics_events
WHERE TRUE
  AND event_type IN ('cocoon_registered', 'cocoon_connected', 'cocoon_disconnected',
                     'cocoon_claimed', 'cocoon_setup_token_created', 'cocoon_setup_token_used')
GROUP BY 1
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_cocoon_activity_daily',
    start_offset => INTERVAL '3 days', end_offset => NULL,
    schedule_interval => INTERVAL '1 hour');


CREATE INDEX analytics_task_stats_daily_day_ix ON analytics_task_stats_daily (day);
CREATE INDEX analytics_api_latency_hourly_hour_ix ON analytics_api_latency_hourly (hour);
CREATE INDEX analytics_api_latency_daily_day_ix ON analytics_api_latency_daily (day);
CREATE INDEX analytics_integration_health_daily_ix
    ON analytics_integration_health_daily (provider, day);
CREATE INDEX analytics_integration_health_daily_day_ix ON analytics_integration_health_daily (day);
CREATE INDEX analytics_auth_events_daily_day_ix ON analytics_auth_events_daily (day);
CREATE INDEX analytics_cocoon_activity_daily_day_ix ON analytics_cocoon_activity_daily (day);

-- ------------------------------------------------------- distribution rollups
-- One table per question grain. Every row: the counts of its bucket and group, the sparse
-- histogram of the durations, and the bucket keys of p50/p95/p99 (so a series at the
-- table's own grain needs no merging at read time).
CREATE TABLE analytics_api_hour_total (
    bucket             TIMESTAMPTZ NOT NULL,
    requests           BIGINT NOT NULL,
    requests_estimated FLOAT8 NOT NULL,
    errors_4xx         BIGINT NOT NULL,
    errors_5xx         BIGINT NOT NULL,
    duration_count     BIGINT NOT NULL,
    duration_sum_ms    FLOAT8 NOT NULL,
    duration_max_ms    FLOAT8,
    hist_keys          SMALLINT[] NOT NULL,
    hist_counts        BIGINT[] NOT NULL,
    p50_key            SMALLINT,
    p95_key            SMALLINT,
    p99_key            SMALLINT,
    PRIMARY KEY (bucket)
);
CREATE TABLE analytics_api_day_total (LIKE analytics_api_hour_total INCLUDING ALL);

CREATE TABLE analytics_api_hour_service (
    service TEXT NOT NULL,
    LIKE analytics_api_hour_total,
    PRIMARY KEY (bucket, service)
);
CREATE INDEX analytics_api_hour_service_svc_ix ON analytics_api_hour_service (service, bucket);
CREATE TABLE analytics_api_day_service (LIKE analytics_api_hour_service INCLUDING ALL);

CREATE TABLE analytics_api_hour_endpoint (
    service  TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    method   TEXT NOT NULL,
    LIKE analytics_api_hour_total,
    PRIMARY KEY (bucket, service, endpoint, method)
);
CREATE INDEX analytics_api_hour_endpoint_svc_ix
    ON analytics_api_hour_endpoint (service, endpoint, method, bucket);
CREATE TABLE analytics_api_day_endpoint (LIKE analytics_api_hour_endpoint INCLUDING ALL);

CREATE TABLE analytics_task_durations_daily (
    day            TIMESTAMPTZ PRIMARY KEY,
    duration_count BIGINT NOT NULL,
    hist_keys      SMALLINT[] NOT NULL,
    hist_counts    BIGINT[] NOT NULL,
    p50_key        SMALLINT,
    p95_key        SMALLINT,
    p99_key        SMALLINT
);

-- Recompute every distribution rollup for the whole UTC days covering [p_from, p_to):
-- one scan of the raw api_request rows into a (hour, service, endpoint, method, key)
-- temporary table, then each grain is merged from it (delete + insert of its buckets).
CREATE FUNCTION analytics_refresh_distributions(p_from TIMESTAMPTZ, p_to TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    origin CONSTANT TIMESTAMPTZ := TIMESTAMPTZ '2000-01-03 00:00:00+00';
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin);
    hi TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_to - INTERVAL '1 microsecond', origin)
                      + INTERVAL '1 day';
    g RECORD;
    n INTEGER := 0;
    m INTEGER;
BEGIN
    IF lo >= hi THEN
        RETURN 0;
    END IF;
    DROP TABLE IF EXISTS pg_temp.analytics_dist_base;
    CREATE TEMP TABLE analytics_dist_base ON COMMIT DROP AS
    SELECT date_bin(INTERVAL '1 hour', "timestamp", origin) AS hour,
           service::text AS service,
           coalesce(data->>'endpoint', '') AS endpoint,
           coalesce(data->>'method', '') AS method,
           analytics_hist_key(analytics_json_duration(data->'duration_ms')) AS k,
           count(*) AS requests,
           sum(1.0::float8 / coalesce(nullif(
               analytics_json_number(data->'_meta'->'sample_rate', 0, 1)::float8, 0), 1))
               AS est,
           count(*) FILTER (WHERE analytics_json_number(data->'status_code', 400, 499)
                            IS NOT NULL) AS e4,
           count(*) FILTER (WHERE analytics_json_number(data->'status_code', 500, 599)
                            IS NOT NULL) AS e5,
           sum(analytics_json_duration(data->'duration_ms'))::float8 AS dsum,
           max(analytics_json_duration(data->'duration_ms'))::float8 AS dmax
    FROM analytics_events
    WHERE event_type = 'api_request' AND "timestamp" >= lo AND "timestamp" < hi
    GROUP BY 1, 2, 3, 4, 5;

    FOR g IN
        SELECT * FROM (VALUES
            ('analytics_api_hour_total', INTERVAL '1 hour', ''),
            ('analytics_api_hour_service', INTERVAL '1 hour', ', service'),
            ('analytics_api_hour_endpoint', INTERVAL '1 hour', ', service, endpoint, method'),
            ('analytics_api_day_total', INTERVAL '1 day', ''),
            ('analytics_api_day_service', INTERVAL '1 day', ', service'),
            ('analytics_api_day_endpoint', INTERVAL '1 day', ', service, endpoint, method')
        ) AS t(rel, width, dims)
    LOOP
        EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', g.rel) USING lo, hi;
        EXECUTE format($q$
            INSERT INTO %1$I (bucket %2$s, requests, requests_estimated, errors_4xx, errors_5xx,
                              duration_count, duration_sum_ms, duration_max_ms,
                              hist_keys, hist_counts, p50_key, p95_key, p99_key)
            -- The quantile keys set-based: a running count per group (window over the
            -- keys in order) and the first key whose running count reaches the rank.
            SELECT bucket %2$s,
                   sum(requests)::bigint,
                   coalesce(sum(est), 0)::float8,
                   sum(e4)::bigint,
                   sum(e5)::bigint,
                   coalesce(sum(requests) FILTER (WHERE k IS NOT NULL), 0)::bigint,
                   coalesce(sum(dsum), 0)::float8,
                   max(dmax)::float8,
                   coalesce(array_agg(k ORDER BY k) FILTER (WHERE k IS NOT NULL),
                            '{}')::smallint[],
                   coalesce(array_agg(requests ORDER BY k) FILTER (WHERE k IS NOT NULL),
                            '{}')::bigint[],
                   min(k) FILTER (WHERE k IS NOT NULL AND cum >= greatest(1, ceil(0.5 * tot - 1e-9))),
                   min(k) FILTER (WHERE k IS NOT NULL AND cum >= greatest(1, ceil(0.95 * tot - 1e-9))),
                   min(k) FILTER (WHERE k IS NOT NULL AND cum >= greatest(1, ceil(0.99 * tot - 1e-9)))
            FROM (
                SELECT per_key.*,
                       sum(requests) FILTER (WHERE k IS NOT NULL)
                           OVER (PARTITION BY bucket %2$s ORDER BY k) AS cum,
                       sum(requests) FILTER (WHERE k IS NOT NULL)
                           OVER (PARTITION BY bucket %2$s) AS tot
                FROM (
                    SELECT date_bin($1, hour, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket
                           %2$s, k,
                           sum(requests)::bigint AS requests, sum(est) AS est,
                           sum(e4) AS e4, sum(e5) AS e5, sum(dsum) AS dsum, max(dmax) AS dmax
                    FROM analytics_dist_base
                    GROUP BY 1 %2$s, k
                ) per_key
            ) running
            GROUP BY bucket %2$s
        $q$, g.rel, g.dims) USING g.width;
        GET DIAGNOSTICS m = ROW_COUNT;
        n := n + m;
    END LOOP;
    DROP TABLE pg_temp.analytics_dist_base;

    DELETE FROM analytics_task_durations_daily WHERE day >= lo AND day < hi;
    INSERT INTO analytics_task_durations_daily
        (day, duration_count, hist_keys, hist_counts, p50_key, p95_key, p99_key)
    SELECT day, dcount, keys, counts,
           analytics_hist_quantile_key(keys, counts, 0.5),
           analytics_hist_quantile_key(keys, counts, 0.95),
           analytics_hist_quantile_key(keys, counts, 0.99)
    FROM (
        SELECT day, sum(c)::bigint AS dcount,
               array_agg(k ORDER BY k)::smallint[] AS keys,
               array_agg(c ORDER BY k)::bigint[] AS counts
        FROM (
            SELECT date_bin(INTERVAL '1 day', "timestamp", origin) AS day,
                   analytics_hist_key(analytics_json_duration(data->'duration_ms')) AS k,
                   count(*) AS c
            FROM analytics_events
            WHERE event_type IN ('task_completed', 'task_failed')
              AND "timestamp" >= lo AND "timestamp" < hi
            GROUP BY 1, 2
        ) per_key
        WHERE k IS NOT NULL
        GROUP BY day
    ) per_day;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$fn$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_task_stats_daily, analytics_api_latency_hourly,
            analytics_api_latency_daily, analytics_integration_health_daily,
            analytics_auth_events_daily, analytics_cocoon_activity_daily,
            analytics_api_hour_total, analytics_api_hour_service, analytics_api_hour_endpoint,
            analytics_api_day_total, analytics_api_day_service, analytics_api_day_endpoint,
            analytics_task_durations_daily
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;

-- Rebuild from the raw rows that exist (whole days, future-dated rows included).
SELECT analytics_refresh_distributions(
    coalesce((SELECT min("timestamp") FROM analytics_events), now()),
    greatest((SELECT max("timestamp") FROM analytics_events), now()) + INTERVAL '1 day');

-- Keeps the distribution rollups current where TimescaleDB's jobs run, over the same
-- 3-day window as the continuous-aggregate policies (CALL run_job(id) by hand elsewhere).
CREATE PROCEDURE analytics_distributions_job(job_id INT, config JSONB)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    PERFORM analytics_refresh_distributions(now() - INTERVAL '3 days', now() + INTERVAL '1 day');
END
$fn$;

SELECT add_job('analytics_distributions_job', INTERVAL '1 hour');
