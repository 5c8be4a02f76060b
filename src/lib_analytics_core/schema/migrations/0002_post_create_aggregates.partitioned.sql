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

CREATE TABLE analytics_aggregate_refresh (
    name          TEXT PRIMARY KEY,
    position      INT NOT NULL,
    bucket_column TEXT NOT NULL,
    bucket_width  INTERVAL NOT NULL,
    refresh_sql   TEXT NOT NULL
);


-- Day x user. DAU = rows of a day; WAU/MAU (any window) = count(DISTINCT user_id) over
-- the window's rows: exact, unlike a per-day distinct count.
CREATE TABLE analytics_daily_active_users AS
SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       user_id,
       count(*) AS events
FROM analytics_events
WHERE FALSE AND user_id IS NOT NULL
GROUP BY 1, 2
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_daily_active_users', 1, 'day', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       user_id,
       count(*) AS events
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 AND user_id IS NOT NULL
GROUP BY 1, 2$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_task_stats_daily AS
SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1) AS h00,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2) AS h01,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 3) AS h02,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 3 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 4) AS h03,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 4 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 5) AS h04,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 5 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 6) AS h05,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 6 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 7) AS h06,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 7 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 8) AS h07,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 8 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 9) AS h08,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 9 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 10) AS h09,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 10 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 12) AS h10,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 12 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 15) AS h11,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 15 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 18) AS h12,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 18 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 22) AS h13,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 22 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 27) AS h14,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 27 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 33) AS h15,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 33 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 41) AS h16,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 41 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 51) AS h17,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 51 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 63) AS h18,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 63 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 78) AS h19,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 78 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 97) AS h20,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 97 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 121) AS h21,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 121 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 151) AS h22,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 151 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 188) AS h23,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 188 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 235) AS h24,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 235 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 293) AS h25,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 293 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 366) AS h26,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 366 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 457) AS h27,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 457 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 571) AS h28,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 571 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 713) AS h29,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 713 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 891) AS h30,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 891 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1113) AS h31,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1113 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1391) AS h32,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1391 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1738) AS h33,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1738 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2172) AS h34,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2172 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2715) AS h35,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2715 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 3393) AS h36,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 3393 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 4241) AS h37,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 4241 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 5301) AS h38,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 5301 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 6626) AS h39,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 6626 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 8282) AS h40,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 8282 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 10352) AS h41,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 10352 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 12940) AS h42,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 12940 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 16175) AS h43,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 16175 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 20218) AS h44,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 20218 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 25272) AS h45,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 25272 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 31590) AS h46,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 31590 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 39487) AS h47,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 39487 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 49358) AS h48,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 49358 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 61697) AS h49,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 61697 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 77121) AS h50,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 77121 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 96401) AS h51,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 96401 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 120501) AS h52,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 120501 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 150626) AS h53,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 150626 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 188282) AS h54,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 188282 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 235352) AS h55,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 235352 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 294190) AS h56,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 294190 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 367737) AS h57,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 367737 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 459671) AS h58,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 459671 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 574588) AS h59,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 574588 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 718235) AS h60,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 718235 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 897793) AS h61,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 897793 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1122241) AS h62,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1122241 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1402801) AS h63,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1402801 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1753501) AS h64,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1753501 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2191876) AS h65,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2191876 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2739845) AS h66,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2739845 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 3424806) AS h67,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 3424806 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 4281007) AS h68,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 4281007 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 5351258) AS h69,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 5351258 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 6689072) AS h70,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 6689072 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 8361340) AS h71,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 8361340 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 10451675) AS h72,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 10451675 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 13064593) AS h73,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 13064593 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 16330741) AS h74,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 16330741 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 20413426) AS h75,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 20413426 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 25516782) AS h76,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 25516782 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 31895977) AS h77,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 31895977 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 39869971) AS h78,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 39869971 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 49837463) AS h79,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 49837463 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 62296828) AS h80,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 62296828 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 77871035) AS h81,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 77871035 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 97338793) AS h82,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 97338793) AS h83
FROM analytics_events
WHERE FALSE
  AND event_type IN ('task_created', 'task_started', 'task_completed', 'task_failed',
                     'task_cancelled')
GROUP BY 1
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_task_stats_daily', 2, 'day', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1) AS h00,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2) AS h01,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 3) AS h02,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 3 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 4) AS h03,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 4 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 5) AS h04,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 5 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 6) AS h05,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 6 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 7) AS h06,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 7 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 8) AS h07,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 8 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 9) AS h08,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 9 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 10) AS h09,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 10 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 12) AS h10,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 12 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 15) AS h11,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 15 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 18) AS h12,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 18 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 22) AS h13,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 22 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 27) AS h14,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 27 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 33) AS h15,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 33 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 41) AS h16,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 41 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 51) AS h17,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 51 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 63) AS h18,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 63 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 78) AS h19,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 78 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 97) AS h20,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 97 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 121) AS h21,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 121 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 151) AS h22,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 151 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 188) AS h23,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 188 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 235) AS h24,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 235 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 293) AS h25,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 293 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 366) AS h26,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 366 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 457) AS h27,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 457 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 571) AS h28,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 571 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 713) AS h29,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 713 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 891) AS h30,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 891 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1113) AS h31,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1113 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1391) AS h32,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1391 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1738) AS h33,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1738 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2172) AS h34,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2172 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2715) AS h35,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2715 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 3393) AS h36,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 3393 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 4241) AS h37,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 4241 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 5301) AS h38,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 5301 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 6626) AS h39,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 6626 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 8282) AS h40,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 8282 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 10352) AS h41,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 10352 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 12940) AS h42,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 12940 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 16175) AS h43,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 16175 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 20218) AS h44,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 20218 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 25272) AS h45,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 25272 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 31590) AS h46,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 31590 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 39487) AS h47,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 39487 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 49358) AS h48,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 49358 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 61697) AS h49,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 61697 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 77121) AS h50,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 77121 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 96401) AS h51,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 96401 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 120501) AS h52,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 120501 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 150626) AS h53,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 150626 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 188282) AS h54,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 188282 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 235352) AS h55,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 235352 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 294190) AS h56,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 294190 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 367737) AS h57,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 367737 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 459671) AS h58,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 459671 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 574588) AS h59,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 574588 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 718235) AS h60,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 718235 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 897793) AS h61,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 897793 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1122241) AS h62,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1122241 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1402801) AS h63,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1402801 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 1753501) AS h64,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 1753501 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2191876) AS h65,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2191876 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 2739845) AS h66,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 2739845 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 3424806) AS h67,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 3424806 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 4281007) AS h68,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 4281007 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 5351258) AS h69,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 5351258 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 6689072) AS h70,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 6689072 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 8361340) AS h71,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 8361340 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 10451675) AS h72,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 10451675 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 13064593) AS h73,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 13064593 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 16330741) AS h74,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 16330741 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 20413426) AS h75,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 20413426 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 25516782) AS h76,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 25516782 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 31895977) AS h77,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 31895977 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 39869971) AS h78,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 39869971 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 49837463) AS h79,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 49837463 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 62296828) AS h80,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 62296828 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 77871035) AS h81,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 77871035 AND (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) < 97338793) AS h82,
       count(*) FILTER (WHERE (CASE WHEN event_type IN ('task_completed', 'task_failed') THEN (data->>'duration_ms')::numeric END) >= 97338793) AS h83
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('task_created', 'task_started', 'task_completed', 'task_failed',
                     'task_cancelled')
GROUP BY 1$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_api_latency_hourly AS
SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour,
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
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) < 1) AS h00,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1 AND ((data->>'duration_ms')::numeric) < 2) AS h01,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2 AND ((data->>'duration_ms')::numeric) < 3) AS h02,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 3 AND ((data->>'duration_ms')::numeric) < 4) AS h03,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 4 AND ((data->>'duration_ms')::numeric) < 5) AS h04,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 5 AND ((data->>'duration_ms')::numeric) < 6) AS h05,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 6 AND ((data->>'duration_ms')::numeric) < 7) AS h06,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 7 AND ((data->>'duration_ms')::numeric) < 8) AS h07,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 8 AND ((data->>'duration_ms')::numeric) < 9) AS h08,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 9 AND ((data->>'duration_ms')::numeric) < 10) AS h09,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 10 AND ((data->>'duration_ms')::numeric) < 12) AS h10,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 12 AND ((data->>'duration_ms')::numeric) < 15) AS h11,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 15 AND ((data->>'duration_ms')::numeric) < 18) AS h12,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 18 AND ((data->>'duration_ms')::numeric) < 22) AS h13,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 22 AND ((data->>'duration_ms')::numeric) < 27) AS h14,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 27 AND ((data->>'duration_ms')::numeric) < 33) AS h15,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 33 AND ((data->>'duration_ms')::numeric) < 41) AS h16,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 41 AND ((data->>'duration_ms')::numeric) < 51) AS h17,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 51 AND ((data->>'duration_ms')::numeric) < 63) AS h18,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 63 AND ((data->>'duration_ms')::numeric) < 78) AS h19,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 78 AND ((data->>'duration_ms')::numeric) < 97) AS h20,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 97 AND ((data->>'duration_ms')::numeric) < 121) AS h21,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 121 AND ((data->>'duration_ms')::numeric) < 151) AS h22,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 151 AND ((data->>'duration_ms')::numeric) < 188) AS h23,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 188 AND ((data->>'duration_ms')::numeric) < 235) AS h24,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 235 AND ((data->>'duration_ms')::numeric) < 293) AS h25,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 293 AND ((data->>'duration_ms')::numeric) < 366) AS h26,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 366 AND ((data->>'duration_ms')::numeric) < 457) AS h27,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 457 AND ((data->>'duration_ms')::numeric) < 571) AS h28,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 571 AND ((data->>'duration_ms')::numeric) < 713) AS h29,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 713 AND ((data->>'duration_ms')::numeric) < 891) AS h30,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 891 AND ((data->>'duration_ms')::numeric) < 1113) AS h31,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1113 AND ((data->>'duration_ms')::numeric) < 1391) AS h32,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1391 AND ((data->>'duration_ms')::numeric) < 1738) AS h33,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1738 AND ((data->>'duration_ms')::numeric) < 2172) AS h34,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2172 AND ((data->>'duration_ms')::numeric) < 2715) AS h35,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2715 AND ((data->>'duration_ms')::numeric) < 3393) AS h36,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 3393 AND ((data->>'duration_ms')::numeric) < 4241) AS h37,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 4241 AND ((data->>'duration_ms')::numeric) < 5301) AS h38,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 5301 AND ((data->>'duration_ms')::numeric) < 6626) AS h39,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 6626 AND ((data->>'duration_ms')::numeric) < 8282) AS h40,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 8282 AND ((data->>'duration_ms')::numeric) < 10352) AS h41,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 10352 AND ((data->>'duration_ms')::numeric) < 12940) AS h42,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 12940 AND ((data->>'duration_ms')::numeric) < 16175) AS h43,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 16175 AND ((data->>'duration_ms')::numeric) < 20218) AS h44,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 20218 AND ((data->>'duration_ms')::numeric) < 25272) AS h45,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 25272 AND ((data->>'duration_ms')::numeric) < 31590) AS h46,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 31590 AND ((data->>'duration_ms')::numeric) < 39487) AS h47,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 39487 AND ((data->>'duration_ms')::numeric) < 49358) AS h48,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 49358 AND ((data->>'duration_ms')::numeric) < 61697) AS h49,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 61697 AND ((data->>'duration_ms')::numeric) < 77121) AS h50,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 77121 AND ((data->>'duration_ms')::numeric) < 96401) AS h51,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 96401 AND ((data->>'duration_ms')::numeric) < 120501) AS h52,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 120501 AND ((data->>'duration_ms')::numeric) < 150626) AS h53,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 150626 AND ((data->>'duration_ms')::numeric) < 188282) AS h54,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 188282 AND ((data->>'duration_ms')::numeric) < 235352) AS h55,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 235352 AND ((data->>'duration_ms')::numeric) < 294190) AS h56,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 294190 AND ((data->>'duration_ms')::numeric) < 367737) AS h57,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 367737 AND ((data->>'duration_ms')::numeric) < 459671) AS h58,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 459671 AND ((data->>'duration_ms')::numeric) < 574588) AS h59,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 574588 AND ((data->>'duration_ms')::numeric) < 718235) AS h60,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 718235 AND ((data->>'duration_ms')::numeric) < 897793) AS h61,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 897793 AND ((data->>'duration_ms')::numeric) < 1122241) AS h62,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1122241 AND ((data->>'duration_ms')::numeric) < 1402801) AS h63,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1402801 AND ((data->>'duration_ms')::numeric) < 1753501) AS h64,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1753501 AND ((data->>'duration_ms')::numeric) < 2191876) AS h65,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2191876 AND ((data->>'duration_ms')::numeric) < 2739845) AS h66,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2739845 AND ((data->>'duration_ms')::numeric) < 3424806) AS h67,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 3424806 AND ((data->>'duration_ms')::numeric) < 4281007) AS h68,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 4281007 AND ((data->>'duration_ms')::numeric) < 5351258) AS h69,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 5351258 AND ((data->>'duration_ms')::numeric) < 6689072) AS h70,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 6689072 AND ((data->>'duration_ms')::numeric) < 8361340) AS h71,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 8361340 AND ((data->>'duration_ms')::numeric) < 10451675) AS h72,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 10451675 AND ((data->>'duration_ms')::numeric) < 13064593) AS h73,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 13064593 AND ((data->>'duration_ms')::numeric) < 16330741) AS h74,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 16330741 AND ((data->>'duration_ms')::numeric) < 20413426) AS h75,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 20413426 AND ((data->>'duration_ms')::numeric) < 25516782) AS h76,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 25516782 AND ((data->>'duration_ms')::numeric) < 31895977) AS h77,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 31895977 AND ((data->>'duration_ms')::numeric) < 39869971) AS h78,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 39869971 AND ((data->>'duration_ms')::numeric) < 49837463) AS h79,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 49837463 AND ((data->>'duration_ms')::numeric) < 62296828) AS h80,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 62296828 AND ((data->>'duration_ms')::numeric) < 77871035) AS h81,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 77871035 AND ((data->>'duration_ms')::numeric) < 97338793) AS h82,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 97338793) AS h83
FROM analytics_events
WHERE FALSE AND event_type = 'api_request'
GROUP BY 1, 2, 3, 4
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_api_latency_hourly', 3, 'hour', INTERVAL '1 hour',
$agg$SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour,
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
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) < 1) AS h00,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1 AND ((data->>'duration_ms')::numeric) < 2) AS h01,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2 AND ((data->>'duration_ms')::numeric) < 3) AS h02,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 3 AND ((data->>'duration_ms')::numeric) < 4) AS h03,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 4 AND ((data->>'duration_ms')::numeric) < 5) AS h04,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 5 AND ((data->>'duration_ms')::numeric) < 6) AS h05,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 6 AND ((data->>'duration_ms')::numeric) < 7) AS h06,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 7 AND ((data->>'duration_ms')::numeric) < 8) AS h07,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 8 AND ((data->>'duration_ms')::numeric) < 9) AS h08,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 9 AND ((data->>'duration_ms')::numeric) < 10) AS h09,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 10 AND ((data->>'duration_ms')::numeric) < 12) AS h10,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 12 AND ((data->>'duration_ms')::numeric) < 15) AS h11,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 15 AND ((data->>'duration_ms')::numeric) < 18) AS h12,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 18 AND ((data->>'duration_ms')::numeric) < 22) AS h13,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 22 AND ((data->>'duration_ms')::numeric) < 27) AS h14,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 27 AND ((data->>'duration_ms')::numeric) < 33) AS h15,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 33 AND ((data->>'duration_ms')::numeric) < 41) AS h16,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 41 AND ((data->>'duration_ms')::numeric) < 51) AS h17,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 51 AND ((data->>'duration_ms')::numeric) < 63) AS h18,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 63 AND ((data->>'duration_ms')::numeric) < 78) AS h19,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 78 AND ((data->>'duration_ms')::numeric) < 97) AS h20,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 97 AND ((data->>'duration_ms')::numeric) < 121) AS h21,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 121 AND ((data->>'duration_ms')::numeric) < 151) AS h22,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 151 AND ((data->>'duration_ms')::numeric) < 188) AS h23,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 188 AND ((data->>'duration_ms')::numeric) < 235) AS h24,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 235 AND ((data->>'duration_ms')::numeric) < 293) AS h25,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 293 AND ((data->>'duration_ms')::numeric) < 366) AS h26,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 366 AND ((data->>'duration_ms')::numeric) < 457) AS h27,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 457 AND ((data->>'duration_ms')::numeric) < 571) AS h28,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 571 AND ((data->>'duration_ms')::numeric) < 713) AS h29,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 713 AND ((data->>'duration_ms')::numeric) < 891) AS h30,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 891 AND ((data->>'duration_ms')::numeric) < 1113) AS h31,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1113 AND ((data->>'duration_ms')::numeric) < 1391) AS h32,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1391 AND ((data->>'duration_ms')::numeric) < 1738) AS h33,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1738 AND ((data->>'duration_ms')::numeric) < 2172) AS h34,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2172 AND ((data->>'duration_ms')::numeric) < 2715) AS h35,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2715 AND ((data->>'duration_ms')::numeric) < 3393) AS h36,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 3393 AND ((data->>'duration_ms')::numeric) < 4241) AS h37,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 4241 AND ((data->>'duration_ms')::numeric) < 5301) AS h38,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 5301 AND ((data->>'duration_ms')::numeric) < 6626) AS h39,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 6626 AND ((data->>'duration_ms')::numeric) < 8282) AS h40,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 8282 AND ((data->>'duration_ms')::numeric) < 10352) AS h41,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 10352 AND ((data->>'duration_ms')::numeric) < 12940) AS h42,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 12940 AND ((data->>'duration_ms')::numeric) < 16175) AS h43,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 16175 AND ((data->>'duration_ms')::numeric) < 20218) AS h44,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 20218 AND ((data->>'duration_ms')::numeric) < 25272) AS h45,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 25272 AND ((data->>'duration_ms')::numeric) < 31590) AS h46,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 31590 AND ((data->>'duration_ms')::numeric) < 39487) AS h47,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 39487 AND ((data->>'duration_ms')::numeric) < 49358) AS h48,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 49358 AND ((data->>'duration_ms')::numeric) < 61697) AS h49,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 61697 AND ((data->>'duration_ms')::numeric) < 77121) AS h50,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 77121 AND ((data->>'duration_ms')::numeric) < 96401) AS h51,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 96401 AND ((data->>'duration_ms')::numeric) < 120501) AS h52,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 120501 AND ((data->>'duration_ms')::numeric) < 150626) AS h53,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 150626 AND ((data->>'duration_ms')::numeric) < 188282) AS h54,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 188282 AND ((data->>'duration_ms')::numeric) < 235352) AS h55,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 235352 AND ((data->>'duration_ms')::numeric) < 294190) AS h56,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 294190 AND ((data->>'duration_ms')::numeric) < 367737) AS h57,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 367737 AND ((data->>'duration_ms')::numeric) < 459671) AS h58,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 459671 AND ((data->>'duration_ms')::numeric) < 574588) AS h59,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 574588 AND ((data->>'duration_ms')::numeric) < 718235) AS h60,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 718235 AND ((data->>'duration_ms')::numeric) < 897793) AS h61,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 897793 AND ((data->>'duration_ms')::numeric) < 1122241) AS h62,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1122241 AND ((data->>'duration_ms')::numeric) < 1402801) AS h63,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1402801 AND ((data->>'duration_ms')::numeric) < 1753501) AS h64,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 1753501 AND ((data->>'duration_ms')::numeric) < 2191876) AS h65,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2191876 AND ((data->>'duration_ms')::numeric) < 2739845) AS h66,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 2739845 AND ((data->>'duration_ms')::numeric) < 3424806) AS h67,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 3424806 AND ((data->>'duration_ms')::numeric) < 4281007) AS h68,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 4281007 AND ((data->>'duration_ms')::numeric) < 5351258) AS h69,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 5351258 AND ((data->>'duration_ms')::numeric) < 6689072) AS h70,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 6689072 AND ((data->>'duration_ms')::numeric) < 8361340) AS h71,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 8361340 AND ((data->>'duration_ms')::numeric) < 10451675) AS h72,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 10451675 AND ((data->>'duration_ms')::numeric) < 13064593) AS h73,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 13064593 AND ((data->>'duration_ms')::numeric) < 16330741) AS h74,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 16330741 AND ((data->>'duration_ms')::numeric) < 20413426) AS h75,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 20413426 AND ((data->>'duration_ms')::numeric) < 25516782) AS h76,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 25516782 AND ((data->>'duration_ms')::numeric) < 31895977) AS h77,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 31895977 AND ((data->>'duration_ms')::numeric) < 39869971) AS h78,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 39869971 AND ((data->>'duration_ms')::numeric) < 49837463) AS h79,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 49837463 AND ((data->>'duration_ms')::numeric) < 62296828) AS h80,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 62296828 AND ((data->>'duration_ms')::numeric) < 77871035) AS h81,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 77871035 AND ((data->>'duration_ms')::numeric) < 97338793) AS h82,
       count(*) FILTER (WHERE ((data->>'duration_ms')::numeric) >= 97338793) AS h83
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 AND event_type = 'api_request'
GROUP BY 1, 2, 3, 4$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


-- Rollup of the hourly latency aggregate (a hierarchical continuous aggregate on
-- TimescaleDB): long ranges read 24x fewer rows, percentiles merge exactly.
CREATE TABLE analytics_api_latency_daily AS
SELECT date_bin(INTERVAL '1 day', hour, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       service,
       endpoint,
       method,
       sum(requests)::bigint AS requests,
       sum(requests_estimated)::float8 AS requests_estimated,
       sum(errors_4xx)::bigint AS errors_4xx,
       sum(errors_5xx)::bigint AS errors_5xx,
       sum(duration_sum_ms)::bigint AS duration_sum_ms,
       max(duration_max_ms)::bigint AS duration_max_ms,
       sum(h00)::bigint AS h00,
       sum(h01)::bigint AS h01,
       sum(h02)::bigint AS h02,
       sum(h03)::bigint AS h03,
       sum(h04)::bigint AS h04,
       sum(h05)::bigint AS h05,
       sum(h06)::bigint AS h06,
       sum(h07)::bigint AS h07,
       sum(h08)::bigint AS h08,
       sum(h09)::bigint AS h09,
       sum(h10)::bigint AS h10,
       sum(h11)::bigint AS h11,
       sum(h12)::bigint AS h12,
       sum(h13)::bigint AS h13,
       sum(h14)::bigint AS h14,
       sum(h15)::bigint AS h15,
       sum(h16)::bigint AS h16,
       sum(h17)::bigint AS h17,
       sum(h18)::bigint AS h18,
       sum(h19)::bigint AS h19,
       sum(h20)::bigint AS h20,
       sum(h21)::bigint AS h21,
       sum(h22)::bigint AS h22,
       sum(h23)::bigint AS h23,
       sum(h24)::bigint AS h24,
       sum(h25)::bigint AS h25,
       sum(h26)::bigint AS h26,
       sum(h27)::bigint AS h27,
       sum(h28)::bigint AS h28,
       sum(h29)::bigint AS h29,
       sum(h30)::bigint AS h30,
       sum(h31)::bigint AS h31,
       sum(h32)::bigint AS h32,
       sum(h33)::bigint AS h33,
       sum(h34)::bigint AS h34,
       sum(h35)::bigint AS h35,
       sum(h36)::bigint AS h36,
       sum(h37)::bigint AS h37,
       sum(h38)::bigint AS h38,
       sum(h39)::bigint AS h39,
       sum(h40)::bigint AS h40,
       sum(h41)::bigint AS h41,
       sum(h42)::bigint AS h42,
       sum(h43)::bigint AS h43,
       sum(h44)::bigint AS h44,
       sum(h45)::bigint AS h45,
       sum(h46)::bigint AS h46,
       sum(h47)::bigint AS h47,
       sum(h48)::bigint AS h48,
       sum(h49)::bigint AS h49,
       sum(h50)::bigint AS h50,
       sum(h51)::bigint AS h51,
       sum(h52)::bigint AS h52,
       sum(h53)::bigint AS h53,
       sum(h54)::bigint AS h54,
       sum(h55)::bigint AS h55,
       sum(h56)::bigint AS h56,
       sum(h57)::bigint AS h57,
       sum(h58)::bigint AS h58,
       sum(h59)::bigint AS h59,
       sum(h60)::bigint AS h60,
       sum(h61)::bigint AS h61,
       sum(h62)::bigint AS h62,
       sum(h63)::bigint AS h63,
       sum(h64)::bigint AS h64,
       sum(h65)::bigint AS h65,
       sum(h66)::bigint AS h66,
       sum(h67)::bigint AS h67,
       sum(h68)::bigint AS h68,
       sum(h69)::bigint AS h69,
       sum(h70)::bigint AS h70,
       sum(h71)::bigint AS h71,
       sum(h72)::bigint AS h72,
       sum(h73)::bigint AS h73,
       sum(h74)::bigint AS h74,
       sum(h75)::bigint AS h75,
       sum(h76)::bigint AS h76,
       sum(h77)::bigint AS h77,
       sum(h78)::bigint AS h78,
       sum(h79)::bigint AS h79,
       sum(h80)::bigint AS h80,
       sum(h81)::bigint AS h81,
       sum(h82)::bigint AS h82,
       sum(h83)::bigint AS h83
FROM analytics_api_latency_hourly
WHERE FALSE
GROUP BY 1, 2, 3, 4
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_api_latency_daily', 4, 'day', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', hour, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       service,
       endpoint,
       method,
       sum(requests)::bigint AS requests,
       sum(requests_estimated)::float8 AS requests_estimated,
       sum(errors_4xx)::bigint AS errors_4xx,
       sum(errors_5xx)::bigint AS errors_5xx,
       sum(duration_sum_ms)::bigint AS duration_sum_ms,
       max(duration_max_ms)::bigint AS duration_max_ms,
       sum(h00)::bigint AS h00,
       sum(h01)::bigint AS h01,
       sum(h02)::bigint AS h02,
       sum(h03)::bigint AS h03,
       sum(h04)::bigint AS h04,
       sum(h05)::bigint AS h05,
       sum(h06)::bigint AS h06,
       sum(h07)::bigint AS h07,
       sum(h08)::bigint AS h08,
       sum(h09)::bigint AS h09,
       sum(h10)::bigint AS h10,
       sum(h11)::bigint AS h11,
       sum(h12)::bigint AS h12,
       sum(h13)::bigint AS h13,
       sum(h14)::bigint AS h14,
       sum(h15)::bigint AS h15,
       sum(h16)::bigint AS h16,
       sum(h17)::bigint AS h17,
       sum(h18)::bigint AS h18,
       sum(h19)::bigint AS h19,
       sum(h20)::bigint AS h20,
       sum(h21)::bigint AS h21,
       sum(h22)::bigint AS h22,
       sum(h23)::bigint AS h23,
       sum(h24)::bigint AS h24,
       sum(h25)::bigint AS h25,
       sum(h26)::bigint AS h26,
       sum(h27)::bigint AS h27,
       sum(h28)::bigint AS h28,
       sum(h29)::bigint AS h29,
       sum(h30)::bigint AS h30,
       sum(h31)::bigint AS h31,
       sum(h32)::bigint AS h32,
       sum(h33)::bigint AS h33,
       sum(h34)::bigint AS h34,
       sum(h35)::bigint AS h35,
       sum(h36)::bigint AS h36,
       sum(h37)::bigint AS h37,
       sum(h38)::bigint AS h38,
       sum(h39)::bigint AS h39,
       sum(h40)::bigint AS h40,
       sum(h41)::bigint AS h41,
       sum(h42)::bigint AS h42,
       sum(h43)::bigint AS h43,
       sum(h44)::bigint AS h44,
       sum(h45)::bigint AS h45,
       sum(h46)::bigint AS h46,
       sum(h47)::bigint AS h47,
       sum(h48)::bigint AS h48,
       sum(h49)::bigint AS h49,
       sum(h50)::bigint AS h50,
       sum(h51)::bigint AS h51,
       sum(h52)::bigint AS h52,
       sum(h53)::bigint AS h53,
       sum(h54)::bigint AS h54,
       sum(h55)::bigint AS h55,
       sum(h56)::bigint AS h56,
       sum(h57)::bigint AS h57,
       sum(h58)::bigint AS h58,
       sum(h59)::bigint AS h59,
       sum(h60)::bigint AS h60,
       sum(h61)::bigint AS h61,
       sum(h62)::bigint AS h62,
       sum(h63)::bigint AS h63,
       sum(h64)::bigint AS h64,
       sum(h65)::bigint AS h65,
       sum(h66)::bigint AS h66,
       sum(h67)::bigint AS h67,
       sum(h68)::bigint AS h68,
       sum(h69)::bigint AS h69,
       sum(h70)::bigint AS h70,
       sum(h71)::bigint AS h71,
       sum(h72)::bigint AS h72,
       sum(h73)::bigint AS h73,
       sum(h74)::bigint AS h74,
       sum(h75)::bigint AS h75,
       sum(h76)::bigint AS h76,
       sum(h77)::bigint AS h77,
       sum(h78)::bigint AS h78,
       sum(h79)::bigint AS h79,
       sum(h80)::bigint AS h80,
       sum(h81)::bigint AS h81,
       sum(h82)::bigint AS h82,
       sum(h83)::bigint AS h83
FROM analytics_api_latency_hourly
WHERE hour >= $1 AND hour < $2
GROUP BY 1, 2, 3, 4$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_integration_health_daily AS
SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
WHERE FALSE
  AND event_type IN ('integration_connected', 'integration_disconnected', 'integration_used',
                     'integration_error', 'oauth_flow_started', 'oauth_flow_completed')
  AND data ? 'provider'
GROUP BY 1, 2
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_integration_health_daily', 5, 'day', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('integration_connected', 'integration_disconnected', 'integration_used',
                     'integration_error', 'oauth_flow_started', 'oauth_flow_completed')
  AND data ? 'provider'
GROUP BY 1, 2$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_auth_events_daily AS
SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
WHERE FALSE
  AND event_type IN ('auth_login_attempt', 'auth_code_verified', 'auth_token_refresh',
                     'auth_session_validated')
GROUP BY 1
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_auth_events_daily', 6, 'day', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('auth_login_attempt', 'auth_code_verified', 'auth_token_refresh',
                     'auth_session_validated')
GROUP BY 1$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_cocoon_activity_daily AS
SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
WHERE FALSE
  AND event_type IN ('cocoon_registered', 'cocoon_connected', 'cocoon_disconnected',
                     'cocoon_claimed', 'cocoon_setup_token_created', 'cocoon_setup_token_used')
GROUP BY 1
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_cocoon_activity_daily', 7, 'day', INTERVAL '1 day',
$agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
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
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('cocoon_registered', 'cocoon_connected', 'cocoon_disconnected',
                     'cocoon_claimed', 'cocoon_setup_token_created', 'cocoon_setup_token_used')
GROUP BY 1$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


CREATE TABLE analytics_errors_hourly AS
SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour,
       service,
       coalesce(data->>'error_type', '') AS error_type,
       count(*) AS errors,
       min(left(data->>'message', 500)) AS sample_message
FROM analytics_events
WHERE FALSE AND event_type = 'application_error'
GROUP BY 1, 2, 3
WITH NO DATA;

INSERT INTO analytics_aggregate_refresh
    (name, position, bucket_column, bucket_width, refresh_sql)
VALUES ('analytics_errors_hourly', 8, 'hour', INTERVAL '1 hour',
$agg$SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour,
       service,
       coalesce(data->>'error_type', '') AS error_type,
       count(*) AS errors,
       min(left(data->>'message', 500)) AS sample_message
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 AND event_type = 'application_error'
GROUP BY 1, 2, 3$agg$)
ON CONFLICT (name) DO UPDATE SET position = excluded.position,
    bucket_column = excluded.bucket_column, bucket_width = excluded.bucket_width,
    refresh_sql = excluded.refresh_sql;


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
