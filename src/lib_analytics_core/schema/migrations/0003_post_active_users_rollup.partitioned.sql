-- 0003 (post-deploy): DAU/WAU/MAU per day, precomputed and exact.
--
-- analytics_daily_active_users (day x user) makes WAU/MAU exact over any window, but a
-- dashboard series over 90 days at a few million user-days costs seconds to compute
-- from it on every request. This table holds the answer per day, recomputed from
-- analytics_daily_active_users whenever that changes: by refresh_aggregates()/maintain()
-- on every tier, and by an hourly TimescaleDB job (the cagg policies refresh the source)
-- on the timescale tier. A change to day d moves WAU/MAU of days d .. d+29, so a refresh
-- of [lo, hi) recomputes [lo, hi + 30 days), capped at tomorrow.

CREATE TABLE analytics_active_users_daily (
    day TIMESTAMPTZ PRIMARY KEY,
    dau BIGINT NOT NULL,
    wau BIGINT NOT NULL,
    mau BIGINT NOT NULL
);

-- One pass over the (day, user) rows, O(user-days): a user active on day a counts on
-- the days [a, a + W) of a W-day window. Per user the intervals
-- [a_i, min(a_i + W, a_(i+1))) are disjoint and cover exactly those days, so each adds
-- +1 at its start and -1 at its end, and a running sum gives the distinct count.
CREATE FUNCTION analytics_refresh_active_users(p_from TIMESTAMPTZ, p_to TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    hi TIMESTAMPTZ := least(
        date_bin(INTERVAL '1 day', p_to - INTERVAL '1 microsecond',
                 TIMESTAMPTZ '2000-01-03 00:00:00+00') + INTERVAL '720 hours',
        date_bin(INTERVAL '1 day', now(), TIMESTAMPTZ '2000-01-03 00:00:00+00')
            + INTERVAL '24 hours');
    n INTEGER;
BEGIN
    IF lo >= hi THEN
        RETURN 0;
    END IF;
    DELETE FROM analytics_active_users_daily WHERE day >= lo AND day < hi;
    INSERT INTO analytics_active_users_daily (day, dau, wau, mau)
    WITH act AS (
        SELECT day, lead(day) OVER (PARTITION BY user_id ORDER BY day) AS next_day
        FROM analytics_daily_active_users
        WHERE day > lo - INTERVAL '720 hours' AND day < hi
    ), ev AS (
        SELECT day AS d, 1 AS dd, 1 AS dw, 1 AS dm FROM act
        UNION ALL SELECT day + INTERVAL '24 hours', -1, 0, 0 FROM act
        UNION ALL SELECT least(day + INTERVAL '168 hours', next_day), 0, -1, 0 FROM act
        UNION ALL SELECT least(day + INTERVAL '720 hours', next_day), 0, 0, -1 FROM act
    ), per_day AS (
        SELECT d, sum(dd) AS dd, sum(dw) AS dw, sum(dm) AS dm FROM ev GROUP BY d
    ), series AS (
        SELECT s.day,
               sum(coalesce(p.dd, 0)) OVER w AS dau,
               sum(coalesce(p.dw, 0)) OVER w AS wau,
               sum(coalesce(p.dm, 0)) OVER w AS mau
        FROM generate_series(lo - INTERVAL '744 hours', hi - INTERVAL '24 hours',
                             INTERVAL '24 hours') AS s(day)
        LEFT JOIN per_day p ON p.d = s.day
        WINDOW w AS (ORDER BY s.day)
    )
    SELECT day, dau, wau, mau FROM series WHERE day >= lo;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$fn$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_active_users_daily TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;

-- Whatever the source already holds (a migration onto a database with history).
SELECT analytics_refresh_active_users(
    coalesce((SELECT min(day) FROM analytics_daily_active_users), now()), now());
