-- 0002 (post-deploy): the aggregates.
--
-- Each "-- @aggregate NAME bucket=COL width=day|hour source=REL time=COL" block holds
-- one SELECT, written once. The migration runner turns it into
--   * timescale tier: a continuous aggregate (time_bucket) with an hourly refresh
--     policy covering the last 3 days;
--   * partitioned tier: a table with the very same columns (CREATE TABLE AS ... WITH NO
--     DATA) plus a row in analytics_aggregate_refresh holding the same SELECT restricted
--     to a time range, which maintain()/refresh_aggregates() run as delete + insert.
-- Placeholders: {{bucket}} (the time bucket of the source time column), {{range}}
-- (the refresh range on the source time column; TRUE for a continuous aggregate),
-- {{histogram: EXPR}} (the h00..hNN counts of duration EXPR in ms, see _histogram.py),
-- {{histogram_sum}} (sum of h00..hNN, for rollups).
-- Blocks run in file order; a rollup comes after its source.

-- @tier partitioned
CREATE TABLE analytics_aggregate_refresh (
    name          TEXT PRIMARY KEY,
    position      INT NOT NULL,
    bucket_column TEXT NOT NULL,
    bucket_width  INTERVAL NOT NULL,
    refresh_sql   TEXT NOT NULL
);

-- @tier all

-- Day x user. DAU = rows of a day; WAU/MAU (any window) = count(DISTINCT user_id) over
-- the window's rows: exact, unlike a per-day distinct count.
-- @aggregate analytics_daily_active_users bucket=day width=day source=analytics_events time="timestamp"
SELECT {{bucket}} AS day,
       user_id,
       count(*) AS events
FROM analytics_events
WHERE {{range}} AND user_id IS NOT NULL
GROUP BY 1, 2
-- @end

-- @aggregate analytics_task_stats_daily bucket=day width=day source=analytics_events time="timestamp"
SELECT {{bucket}} AS day,
       count(*) FILTER (WHERE event_type = 'task_created') AS created,
       count(*) FILTER (WHERE event_type = 'task_started') AS started,
       count(*) FILTER (WHERE event_type = 'task_completed') AS completed,
       count(*) FILTER (WHERE event_type = 'task_failed') AS failed,
       count(*) FILTER (WHERE event_type = 'task_cancelled') AS cancelled,
       count((data->>'duration_ms')::numeric)
           FILTER (WHERE event_type IN ('task_completed', 'task_failed')) AS duration_count,
       coalesce(sum((data->>'duration_ms')::numeric)
           FILTER (WHERE event_type IN ('task_completed', 'task_failed')), 0)::bigint
           AS duration_sum_ms,
       max((data->>'duration_ms')::numeric)
           FILTER (WHERE event_type IN ('task_completed', 'task_failed'))::bigint
           AS duration_max_ms,
{{histogram: CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END}}
FROM analytics_events
WHERE {{range}}
  AND event_type IN ('task_created', 'task_started', 'task_completed', 'task_failed',
                     'task_cancelled')
GROUP BY 1
-- @end

-- @aggregate analytics_api_latency_hourly bucket=hour width=hour source=analytics_events time="timestamp"
SELECT {{bucket}} AS hour,
       service,
       coalesce(data->>'endpoint', '') AS endpoint,
       coalesce(data->>'method', '') AS method,
       count(*) AS requests,
       sum(1.0::float8 / coalesce(nullif((data->'_meta'->>'sample_rate')::float8, 0), 1))::float8
           AS requests_estimated,
       count(*) FILTER (WHERE (data->>'status_code')::int BETWEEN 400 AND 499) AS errors_4xx,
       count(*) FILTER (WHERE (data->>'status_code')::int >= 500) AS errors_5xx,
       coalesce(sum((data->>'duration_ms')::numeric), 0)::bigint AS duration_sum_ms,
       max((data->>'duration_ms')::numeric)::bigint AS duration_max_ms,
{{histogram: (data->>'duration_ms')::numeric}}
FROM analytics_events
WHERE {{range}} AND event_type = 'api_request'
GROUP BY 1, 2, 3, 4
-- @end

-- Rollup of the hourly latency aggregate (a hierarchical continuous aggregate on
-- TimescaleDB): long ranges read 24x fewer rows, percentiles merge exactly.
-- @aggregate analytics_api_latency_daily bucket=day width=day source=analytics_api_latency_hourly time=hour
SELECT {{bucket}} AS day,
       service,
       endpoint,
       method,
       sum(requests)::bigint AS requests,
       sum(requests_estimated)::float8 AS requests_estimated,
       sum(errors_4xx)::bigint AS errors_4xx,
       sum(errors_5xx)::bigint AS errors_5xx,
       sum(duration_sum_ms)::bigint AS duration_sum_ms,
       max(duration_max_ms)::bigint AS duration_max_ms,
{{histogram_sum}}
FROM analytics_api_latency_hourly
WHERE {{range}}
GROUP BY 1, 2, 3, 4
-- @end

-- @aggregate analytics_integration_health_daily bucket=day width=day source=analytics_events time="timestamp"
SELECT {{bucket}} AS day,
       data->>'provider' AS provider,
       count(*) FILTER (WHERE event_type = 'integration_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'integration_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'integration_used') AS used,
       count(*) FILTER (WHERE event_type = 'integration_used'
                          AND (data->>'success')::boolean) AS used_success,
       count(*) FILTER (WHERE event_type = 'integration_used'
                          AND NOT (data->>'success')::boolean) AS used_failed,
       count(*) FILTER (WHERE event_type = 'integration_error') AS errors,
       count(*) FILTER (WHERE event_type = 'oauth_flow_started') AS oauth_started,
       count(*) FILTER (WHERE event_type = 'oauth_flow_completed'
                          AND (data->>'success')::boolean) AS oauth_completed,
       count(*) FILTER (WHERE event_type = 'oauth_flow_completed'
                          AND NOT (data->>'success')::boolean) AS oauth_failed,
       coalesce(sum((data->>'duration_ms')::numeric)
           FILTER (WHERE event_type = 'integration_used'), 0)::bigint AS used_duration_sum_ms
FROM analytics_events
WHERE {{range}}
  AND event_type IN ('integration_connected', 'integration_disconnected', 'integration_used',
                     'integration_error', 'oauth_flow_started', 'oauth_flow_completed')
  AND data ? 'provider'
GROUP BY 1, 2
-- @end

-- @aggregate analytics_auth_events_daily bucket=day width=day source=analytics_events time="timestamp"
SELECT {{bucket}} AS day,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt') AS login_attempts,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt'
                          AND (data->>'success')::boolean) AS login_success,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt'
                          AND NOT (data->>'success')::boolean) AS login_failed,
       count(*) FILTER (WHERE event_type = 'auth_code_verified'
                          AND (data->>'success')::boolean) AS codes_verified,
       count(*) FILTER (WHERE event_type = 'auth_code_verified'
                          AND NOT (data->>'success')::boolean) AS codes_failed,
       count(*) FILTER (WHERE event_type = 'auth_token_refresh') AS token_refreshes,
       count(*) FILTER (WHERE event_type = 'auth_token_refresh'
                          AND NOT (data->>'success')::boolean) AS token_refresh_failed,
       count(*) FILTER (WHERE event_type = 'auth_session_validated') AS sessions_validated,
       count(*) FILTER (WHERE event_type = 'auth_session_validated'
                          AND NOT (data->>'valid')::boolean) AS sessions_invalid
FROM analytics_events
WHERE {{range}}
  AND event_type IN ('auth_login_attempt', 'auth_code_verified', 'auth_token_refresh',
                     'auth_session_validated')
GROUP BY 1
-- @end

-- @aggregate analytics_cocoon_activity_daily bucket=day width=day source=analytics_events time="timestamp"
SELECT {{bucket}} AS day,
       count(*) FILTER (WHERE event_type = 'cocoon_registered') AS registered,
       count(*) FILTER (WHERE event_type = 'cocoon_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'cocoon_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'cocoon_claimed') AS claimed,
       count(*) FILTER (WHERE event_type = 'cocoon_setup_token_created') AS setup_tokens_created,
       count(*) FILTER (WHERE event_type = 'cocoon_setup_token_used') AS setup_tokens_used,
       coalesce(sum((data->>'session_duration_ms')::numeric)
           FILTER (WHERE event_type = 'cocoon_disconnected'), 0)::bigint
           AS session_duration_sum_ms
FROM analytics_events
WHERE {{range}}
  AND event_type IN ('cocoon_registered', 'cocoon_connected', 'cocoon_disconnected',
                     'cocoon_claimed', 'cocoon_setup_token_created', 'cocoon_setup_token_used')
GROUP BY 1
-- @end

-- @aggregate analytics_errors_hourly bucket=hour width=hour source=analytics_events time="timestamp"
SELECT {{bucket}} AS hour,
       service,
       coalesce(data->>'error_type', '') AS error_type,
       count(*) AS errors,
       min(left(data->>'message', 500)) AS sample_message
FROM analytics_events
WHERE {{range}} AND event_type = 'application_error'
GROUP BY 1, 2, 3
-- @end

-- Indexes for the dashboard queries (time range first for the global views, then
-- per dimension).
CREATE INDEX analytics_daily_active_users_day_idx ON analytics_daily_active_users (day, user_id);
CREATE INDEX analytics_daily_active_users_user_idx ON analytics_daily_active_users (user_id, day);
CREATE INDEX analytics_task_stats_daily_day_idx ON analytics_task_stats_daily (day);
CREATE INDEX analytics_api_latency_hourly_hour_idx ON analytics_api_latency_hourly (hour);
CREATE INDEX analytics_api_latency_hourly_svc_idx
    ON analytics_api_latency_hourly (service, endpoint, method, hour);
CREATE INDEX analytics_api_latency_daily_day_idx ON analytics_api_latency_daily (day);
CREATE INDEX analytics_api_latency_daily_svc_idx
    ON analytics_api_latency_daily (service, endpoint, method, day);
CREATE INDEX analytics_integration_health_daily_idx
    ON analytics_integration_health_daily (provider, day);
CREATE INDEX analytics_integration_health_daily_day_idx ON analytics_integration_health_daily (day);
CREATE INDEX analytics_auth_events_daily_day_idx ON analytics_auth_events_daily (day);
CREATE INDEX analytics_cocoon_activity_daily_day_idx ON analytics_cocoon_activity_daily (day);
CREATE INDEX analytics_errors_hourly_hour_idx ON analytics_errors_hourly (hour);
CREATE INDEX analytics_errors_hourly_svc_idx ON analytics_errors_hourly (service, error_type, hour);

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_daily_active_users, analytics_task_stats_daily,
            analytics_api_latency_hourly, analytics_api_latency_daily,
            analytics_integration_health_daily, analytics_auth_events_daily,
            analytics_cocoon_activity_daily, analytics_errors_hourly
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
