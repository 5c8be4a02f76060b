-- 0020 (post-deploy): week x user, the per-user weekly rollup (issue 26).
--
-- Weekly retention with "any event" as the return event needs, per cohort user, the
-- weeks they were active in. From analytics_daily_active_users that is every (day,
-- user) row of the range made distinct per (week, user): 4.0M rows hashed into ~1M at
-- 10M events, 3 s. This table holds the distinct (week, user) rows themselves, weeks
-- starting on Monday 00:00 UTC (the bucket origin), derived from the daily rollup, not
-- from raw rows, so it keeps the history the daily rollup keeps.
--
-- Exactness (read/_active_days.py): a week's rows here equal its days' rows in the daily
-- rollup, except for the weeks listed in analytics_weekly_pending. The frequent refresh
-- (every maintainer tick) recomputes days of the daily rollup and lists their weeks
-- there, in its transaction; the full refresh (maintain(), refresh_aggregates())
-- recomputes the listed weeks and those of the days it recomputed, and empties the list,
-- in its transaction; forget_user deletes the user here too. A reader takes a listed
-- week, or one with a day the daily rollup lacks rows of, from the days instead.
CREATE TABLE analytics_weekly_active_users (
    week    TIMESTAMPTZ NOT NULL,
    user_id UUID NOT NULL,
    PRIMARY KEY (week, user_id)
);
-- forget_user deletes by user.
CREATE INDEX analytics_weekly_active_users_user_idx
    ON analytics_weekly_active_users (user_id, week);

CREATE TABLE analytics_weekly_pending (
    week TIMESTAMPTZ PRIMARY KEY
);

-- Recomputes the weeks overlapping [p_from, p_to) from the daily rollup: whole weeks.
-- Only the difference is written (a week's users mostly stay as they were: rewriting all
-- of them cost 2-3 s per week at 10M events, with the index churn and the bloat).
CREATE FUNCTION analytics_refresh_weekly_active_users(p_from TIMESTAMPTZ, p_to TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    lo TIMESTAMPTZ := date_bin(INTERVAL '7 days', p_from, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    hi TIMESTAMPTZ := date_bin(INTERVAL '7 days', p_to - INTERVAL '1 microsecond',
                               TIMESTAMPTZ '2000-01-03 00:00:00+00') + INTERVAL '168 hours';
    n INTEGER;
BEGIN
    IF p_from >= p_to THEN
        RETURN 0;
    END IF;
    WITH fresh AS MATERIALIZED (
        SELECT DISTINCT
               date_bin(INTERVAL '7 days', day, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS week,
               user_id
        FROM analytics_daily_active_users
        WHERE day >= lo AND day < hi
    ), gone AS (
        DELETE FROM analytics_weekly_active_users w
        WHERE w.week >= lo AND w.week < hi
          AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.week = w.week AND f.user_id = w.user_id)
    )
    INSERT INTO analytics_weekly_active_users (week, user_id)
    SELECT f.week, f.user_id FROM fresh f
    WHERE NOT EXISTS (SELECT 1 FROM analytics_weekly_active_users w
                      WHERE w.week >= lo AND w.week < hi
                        AND w.week = f.week AND w.user_id = f.user_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM analytics_weekly_pending WHERE week >= lo AND week < hi;
    RETURN n;
END
$fn$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_weekly_active_users, analytics_weekly_pending
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;

-- Whatever the daily rollup already holds (a migration onto a database with history).
SELECT analytics_refresh_weekly_active_users(min(day), max(day) + INTERVAL '24 hours')
FROM analytics_daily_active_users
HAVING count(*) > 0;
