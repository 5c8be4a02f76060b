-- 0009 (post-deploy): running counts and range maxima in the running rows of 0007, so a
-- latency total over any range reads a few rows per group for everything it returns.
--
-- Why. After 0007 the quantiles of a range came from two running rows per group, but its
-- counts and maximum were still summed from every daily rollup row of the range (18,200
-- rows for 200 endpoints over 91 days: ~220 ms p95 at 10M events for top_endpoints and
-- total x endpoint). Counts have prefix sums like the histograms: each running row now
-- also holds its group's requests, requests_estimated, errors_4xx, errors_5xx,
-- duration_count and duration_sum_ms summed over every day up to and including its day,
-- so the counts of the days [a, b) are the row before b minus the row before a.
--
-- A maximum has no prefix form; the rows hold a sparse table instead. For its group,
-- max_fwd[j + 1] is the largest duration_max_ms of the daily rows in the 2^j days from
-- its day on ([d, d + 2^j - 1 days]), max_bwd[j + 1] of the 2^j days up to its day
-- ([d - 2^j + 1 days, d]), j = 0..9 (NULL where no duration). With a' the group's first
-- row in the range, b' its last and n = b' - a' + 1 days, 2^j <= n < 2^(j+1): the
-- maximum over the range is greatest(max_fwd[j + 1] of a', max_bwd[j + 1] of b'), exact
-- (the two windows lie inside [a', b'] and cover it). 2^9 = 512 > 732 / 2 covers every
-- range a daily total allows (read._common.MAX_DAILY_RANGE).
--
-- Exactness: the integer counts are exact. The two float8 sums are differences of
-- float8 prefix sums: relative error about 1e-16 times (prefix / range), ~1e-13 for a
-- day against years of history, far below what an average or an estimate shows.
--
-- Every daily rollup row now has its running row, including groups that never had a
-- usable duration (empty hist_keys/hist_cum; 0007 skipped them), so the running tables
-- list every group the counts need.
--
-- Refresh: analytics_refresh_cumulative(p_from) (called by 0007's
-- analytics_refresh_distributions, hence by refresh_aggregates(), maintain() and the
-- TimescaleDB job, unchanged) recomputes the running rows from the day of p_from on as
-- before, then the new columns with one window query per level over the daily rows from
-- 511 days before p_from (a change to day d moves the forward maxima of the 511 days
-- before it), writing only the rows whose values changed.


ALTER TABLE analytics_cum_api_total
    ADD COLUMN requests           BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN requests_estimated FLOAT8 NOT NULL DEFAULT 0,
    ADD COLUMN errors_4xx         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN errors_5xx         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN duration_count     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN duration_sum_ms    FLOAT8 NOT NULL DEFAULT 0,
    ADD COLUMN max_fwd            FLOAT8[] NOT NULL DEFAULT '{}',
    ADD COLUMN max_bwd            FLOAT8[] NOT NULL DEFAULT '{}';
ALTER TABLE analytics_cum_api_service
    ADD COLUMN requests           BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN requests_estimated FLOAT8 NOT NULL DEFAULT 0,
    ADD COLUMN errors_4xx         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN errors_5xx         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN duration_count     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN duration_sum_ms    FLOAT8 NOT NULL DEFAULT 0,
    ADD COLUMN max_fwd            FLOAT8[] NOT NULL DEFAULT '{}',
    ADD COLUMN max_bwd            FLOAT8[] NOT NULL DEFAULT '{}';
ALTER TABLE analytics_cum_api_endpoint
    ADD COLUMN requests           BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN requests_estimated FLOAT8 NOT NULL DEFAULT 0,
    ADD COLUMN errors_4xx         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN errors_5xx         BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN duration_count     BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN duration_sum_ms    FLOAT8 NOT NULL DEFAULT 0,
    ADD COLUMN max_fwd            FLOAT8[] NOT NULL DEFAULT '{}',
    ADD COLUMN max_bwd            FLOAT8[] NOT NULL DEFAULT '{}';

-- Recompute the running rows of every day from the UTC day holding p_from onward, from
-- the daily rollups (which must be current for those days): 0007's histogram loop (now
-- also for groups without durations), then the counts and maxima (see the header).
CREATE OR REPLACE FUNCTION analytics_refresh_cumulative(p_from TIMESTAMPTZ)
RETURNS INTEGER
-- jit off: the planner cannot know the dense day sequences are short, and compiling
-- the window query for an estimate of millions of rows cost more than running it.
LANGUAGE plpgsql SET search_path FROM CURRENT SET jit = off AS $fn$
DECLARE
    origin CONSTANT TIMESTAMPTZ := TIMESTAMPTZ '2000-01-03 00:00:00+00';
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin);
    -- the forward maxima of the 511 days before lo see lo's rows (absolute hours: no
    -- time zone can make these days 23 or 25 hours long)
    reach TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin) - INTERVAL '12264 hours';
    lv RECORD;
    d TIMESTAMPTZ;
    total INTEGER := 0;
    cnt INTEGER;
    q TEXT;
    j INTEGER;
BEGIN
    DROP TABLE IF EXISTS pg_temp.analytics_cum_state;
    CREATE TEMP TABLE analytics_cum_state (
        s TEXT NOT NULL, e TEXT NOT NULL, m TEXT NOT NULL, k SMALLINT NOT NULL,
        n BIGINT NOT NULL, PRIMARY KEY (s, e, m, k)
    ) ON COMMIT DROP;
    FOR lv IN
        SELECT * FROM (VALUES
            ('analytics_cum_api_total', 'analytics_api_day_total',
             $$'', '', ''$$, '', '', 'TRUE', 'TRUE'),
            ('analytics_cum_api_service', 'analytics_api_day_service',
             $$service, '', ''$$, 'service, ', 's, ',
             't.service = g.s', 'c.service = x.s'),
            ('analytics_cum_api_endpoint', 'analytics_api_day_endpoint',
             'service, endpoint, method', 'service, endpoint, method, ', 's, e, m, ',
             't.service = g.s AND t.endpoint = g.e AND t.method = g.m',
             'c.service = x.s AND c.endpoint = x.e AND c.method = x.m')
        ) AS t(cum, src, sem, cols, vals, tjoin, cjoin)
    LOOP
        EXECUTE format('DELETE FROM %I WHERE bucket >= $1', lv.cum) USING lo;
        TRUNCATE analytics_cum_state;
        -- Each group's distribution just before lo: its latest row before lo.
        EXECUTE format($q$
            INSERT INTO analytics_cum_state (s, e, m, k, n)
            SELECT last.s, last.e, last.m, u.k, u.c
            FROM (
                SELECT DISTINCT ON (1, 2, 3) %2$s AS s, hist_keys, hist_cum
                FROM %1$I WHERE bucket < $1 ORDER BY 1, 2, 3, bucket DESC
            ) AS last(s, e, m, hist_keys, hist_cum),
            LATERAL analytics_hist_unpack(last.hist_keys, last.hist_cum) AS u
        $q$, lv.cum, lv.sem) USING lo;
        FOR d IN EXECUTE format('SELECT DISTINCT bucket FROM %I WHERE bucket >= $1 ORDER BY 1',
                                lv.src) USING lo
        LOOP
            EXECUTE format($q$
                INSERT INTO analytics_cum_state (s, e, m, k, n)
                SELECT %2$s, u.k, u.c
                FROM %1$I AS r, unnest(r.hist_keys, r.hist_counts) AS u(k, c)
                WHERE r.bucket = $1
                ON CONFLICT (s, e, m, k) DO UPDATE SET n = analytics_cum_state.n + excluded.n
            $q$, lv.src, lv.sem) USING d;
            -- one row per group of the day, with or without values so far
            EXECUTE format($q$
                INSERT INTO %1$I (%4$s bucket, hist_keys, hist_cum)
                SELECT %5$s $1,
                       coalesce(string_agg(int2send(k), ''::bytea ORDER BY k), ''::bytea),
                       coalesce(string_agg(int8send(run), ''::bytea ORDER BY k), ''::bytea)
                FROM (
                    SELECT g.s, g.e, g.m, st.k,
                           sum(st.n) OVER (PARTITION BY g.s, g.e, g.m ORDER BY st.k)::bigint
                               AS run
                    FROM (SELECT DISTINCT %3$s FROM %2$I WHERE bucket = $1) AS g(s, e, m)
                    LEFT JOIN analytics_cum_state st
                      ON g.s = st.s AND g.e = st.e AND g.m = st.m
                ) x
                GROUP BY s, e, m
            $q$, lv.cum, lv.src, lv.sem, lv.cols, lv.vals) USING d;
            GET DIAGNOSTICS cnt = ROW_COUNT;
            total := total + cnt;
        END LOOP;

        -- Counts and maxima. The daily rows from `reach` on, laid out densely per group
        -- (a row for every day between its first and last, NULL maximum on days without
        -- a row), so the 2^j-day windows are built level by level with lead/lag:
        -- F_j(d) = greatest(F_(j-1)(d), F_(j-1)(d + 2^(j-1))), B_j likewise backwards.
        q := format($q$
            WITH r(s, e, m, bucket, requests, requests_estimated, errors_4xx, errors_5xx,
                   duration_count, duration_sum_ms, duration_max_ms, nxt) AS (
                SELECT %2$s, bucket, requests, requests_estimated, errors_4xx, errors_5xx,
                       duration_count, duration_sum_ms, duration_max_ms,
                       lead(bucket) OVER (PARTITION BY %2$s ORDER BY bucket) AS nxt
                FROM %1$I WHERE bucket >= $1
            )
            SELECT s, e, m, bucket, TRUE AS present, requests, requests_estimated,
                   errors_4xx, errors_5xx, duration_count, duration_sum_ms,
                   duration_max_ms AS f0, duration_max_ms AS b0
            FROM r
            UNION ALL
            SELECT s, e, m, day, FALSE, NULL::bigint, NULL::float8, NULL::bigint,
                   NULL::bigint, NULL::bigint, NULL::float8, NULL::float8, NULL::float8
            FROM r, generate_series(r.bucket + INTERVAL '24 hours', r.nxt - INTERVAL '24 hours',
                                    INTERVAL '24 hours') AS day
            WHERE r.nxt > r.bucket + INTERVAL '24 hours'
        $q$, lv.src, lv.sem);
        FOR j IN 1..9 LOOP
            q := format($q$
                SELECT *, greatest(f%1$s, lead(f%1$s, %2$s) OVER w) AS f%3$s,
                          greatest(b%1$s, lag(b%1$s, %2$s) OVER w) AS b%3$s
                FROM (%4$s) AS l%3$s
                WINDOW w AS (PARTITION BY s, e, m ORDER BY bucket)
            $q$, j - 1, 1 << (j - 1), j, q);
        END LOOP;
        EXECUTE format($q$
            WITH dense AS MATERIALIZED (%3$s),
            base AS (
                SELECT g.s, g.e, g.m, t.requests, t.requests_estimated, t.errors_4xx,
                       t.errors_5xx, t.duration_count, t.duration_sum_ms
                FROM (SELECT DISTINCT s, e, m FROM dense) AS g
                JOIN LATERAL (
                    SELECT * FROM %1$I AS t WHERE %4$s AND t.bucket < $1
                    ORDER BY t.bucket DESC LIMIT 1
                ) AS t ON TRUE
            ),
            x AS (
                SELECT d.s, d.e, d.m, d.bucket,
                       coalesce(b.requests, 0) + sum(d.requests) OVER w AS requests,
                       coalesce(b.requests_estimated, 0) + sum(d.requests_estimated) OVER w
                           AS requests_estimated,
                       coalesce(b.errors_4xx, 0) + sum(d.errors_4xx) OVER w AS errors_4xx,
                       coalesce(b.errors_5xx, 0) + sum(d.errors_5xx) OVER w AS errors_5xx,
                       coalesce(b.duration_count, 0) + sum(d.duration_count) OVER w
                           AS duration_count,
                       coalesce(b.duration_sum_ms, 0) + sum(d.duration_sum_ms) OVER w
                           AS duration_sum_ms,
                       ARRAY[f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] AS max_fwd,
                       ARRAY[b0, b1, b2, b3, b4, b5, b6, b7, b8, b9] AS max_bwd
                FROM dense AS d
                LEFT JOIN base AS b ON b.s = d.s AND b.e = d.e AND b.m = d.m
                WHERE d.present
                WINDOW w AS (PARTITION BY d.s, d.e, d.m ORDER BY d.bucket)
            )
            UPDATE %1$I AS c
            SET requests = x.requests, requests_estimated = x.requests_estimated,
                errors_4xx = x.errors_4xx, errors_5xx = x.errors_5xx,
                duration_count = x.duration_count, duration_sum_ms = x.duration_sum_ms,
                max_fwd = x.max_fwd,
                -- before lo the backward windows reach below `reach`: keep those
                max_bwd = CASE WHEN x.bucket >= $2 THEN x.max_bwd ELSE c.max_bwd END
            FROM x
            WHERE %5$s AND c.bucket = x.bucket
              AND (c.requests, c.requests_estimated, c.errors_4xx, c.errors_5xx,
                   c.duration_count, c.duration_sum_ms, c.max_fwd,
                   CASE WHEN x.bucket >= $2 THEN c.max_bwd END)
                  IS DISTINCT FROM
                  (x.requests, x.requests_estimated, x.errors_4xx, x.errors_5xx,
                   x.duration_count, x.duration_sum_ms, x.max_fwd,
                   CASE WHEN x.bucket >= $2 THEN x.max_bwd END)
        $q$, lv.cum, lv.src, q, lv.tjoin, lv.cjoin) USING reach, lo;
    END LOOP;
    DROP TABLE pg_temp.analytics_cum_state;
    RETURN total;
END
$fn$;

-- Whatever the daily rollups already hold: every running row again (groups without
-- durations get theirs), with its counts and maxima.
SELECT analytics_refresh_cumulative(
    coalesce((SELECT min(bucket) FROM analytics_api_day_total), now()));
