-- 0020 (post-deploy): week x user, the per-user weekly rollup (issue 26).
-- analytics-migrate: refresh-aggregates-after
--
-- Weekly retention with "any event" as the return event needs, per cohort user, the
-- weeks they were active in. From analytics_daily_active_users that is every (day,
-- user) row of the range made distinct per (week, user): 4.0M rows hashed into ~1M at
-- 10M events, 3 s. This continuous aggregate on the daily one (hierarchical) holds the
-- distinct (week, user) rows themselves, weeks starting on Monday 00:00 UTC
-- (time_bucket's default origin, 2000-01-03), and keeps the history the daily one keeps.
--
-- Exactness (read/_active_days.py): TimescaleDB logs every change to the daily
-- aggregate's rows (its refreshes, forget_user's deletes) for this one, in the writer's
-- transaction, and this one's own log holds what no refresh has materialised yet; a
-- reader takes a week named there, or one with a day the daily aggregate lacks rows of,
-- from the days instead. forget_user deletes the user here too. Refreshed by the policy
-- below where the scheduler runs, and by maintain() (not by the maintainer's frequent
-- tick), each only over weeks that have ended: a question's range ends at the time of
-- the answer at the latest, so it cuts the week in progress, which is always read from
-- the days (the policy's window ends a day back: whole weeks up to yesterday).
CREATE MATERIALIZED VIEW analytics_weekly_active_users
WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket(INTERVAL '7 days', day) AS week,
       user_id
FROM analytics_daily_active_users
GROUP BY 1, 2
WITH NO DATA;

SELECT add_continuous_aggregate_policy('analytics_weekly_active_users',
    start_offset => INTERVAL '21 days', end_offset => INTERVAL '1 day',
    schedule_interval => INTERVAL '1 hour');

-- No index of our own: the reader scans the weeks it reads (chunks by time), and
-- TimescaleDB's own (user_id, week DESC) index serves forget_user.

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_weekly_active_users TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
