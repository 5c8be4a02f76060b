-- 0007 (post-deploy): running (prefix) distributions per day, so a latency "total" over
-- any range reads two rows per group instead of one per day.
--
-- Why. A question like "p95 per endpoint over the last 90 days" (the API's total x
-- endpoint, the "slowest endpoints" table) merged 90 daily sparse histograms per
-- endpoint at read time: its cost grew with the length of the range and, below
-- saturation, with the event volume (measured: 400-850 ms at 1M-10M events). Histograms
-- are counts, so they have prefix sums: with C(d) = the histogram of every value up to
-- and including day d, the histogram of the days [a, b] is C(b) - C(a - 1), exactly.
-- Each row below holds C(d) for one group as a cumulative distribution over the keys
-- (hist_cum[i] = number of values with day <= d and key <= hist_keys[i]), so the
-- nearest-rank quantile of any whole-day range is a binary search over two rows
-- (read/cumulative.py). Counts and maxima of the range still come from the daily
-- rollups of 0004 (a sum over narrow rows; a maximum has no prefix form).
--
-- Encoding: hist_keys is big-endian int2, hist_cum big-endian int8, keys ascending (the
-- binary send format of smallint/bigint), read with array.array(...).byteswap() in
-- Python: decoding costs nothing per element, the arrays are only walked by bisection.
--
-- A group has a row on the days it had requests; C on a day without one is the latest
-- row before it. Refreshing day d changes C of every later day, so a refresh recomputes
-- from its first day to the newest row (normally the 3-day refresh window).
--
-- analytics_refresh_distributions() (0004) is renamed analytics_refresh_distributions_0004
-- and the name now refreshes 0004's rollups and then these: refresh_aggregates(),
-- maintain() and the TimescaleDB job call it by name, so all of them cover the new
-- tables without any change.


CREATE TABLE analytics_cum_api_total (
    bucket    TIMESTAMPTZ NOT NULL,
    hist_keys BYTEA NOT NULL,
    hist_cum  BYTEA NOT NULL,
    PRIMARY KEY (bucket)
);
CREATE TABLE analytics_cum_api_service (
    service   TEXT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    hist_keys BYTEA NOT NULL,
    hist_cum  BYTEA NOT NULL,
    PRIMARY KEY (service, bucket)
);
CREATE TABLE analytics_cum_api_endpoint (
    service   TEXT NOT NULL,
    endpoint  TEXT NOT NULL,
    method    TEXT NOT NULL,
    bucket    TIMESTAMPTZ NOT NULL,
    hist_keys BYTEA NOT NULL,
    hist_cum  BYTEA NOT NULL,
    PRIMARY KEY (service, endpoint, method, bucket)
);

-- Series and range counts read only the narrow columns of the 0004 rollups, whose rows
-- are wide (the sparse histogram is stored inline): covering indexes in the series'
-- order make those reads index-only scans of a fraction of the pages, with no sort.
CREATE INDEX analytics_api_hour_total_narrow_ix ON analytics_api_hour_total (bucket)
    INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count,
             duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE INDEX analytics_api_hour_service_narrow_ix ON analytics_api_hour_service (bucket, service)
    INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count,
             duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE INDEX analytics_api_hour_endpoint_narrow_ix ON analytics_api_hour_endpoint (bucket, service, endpoint, method)
    INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count,
             duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE INDEX analytics_api_day_total_narrow_ix ON analytics_api_day_total (bucket)
    INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count,
             duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE INDEX analytics_api_day_service_narrow_ix ON analytics_api_day_service (bucket, service)
    INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count,
             duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE INDEX analytics_api_day_endpoint_narrow_ix ON analytics_api_day_endpoint (bucket, service, endpoint, method)
    INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count,
             duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);

-- (key, count) pairs of a cumulative row (the inverse of the encoding above).
CREATE FUNCTION analytics_hist_unpack(keys BYTEA, cum BYTEA)
RETURNS TABLE (k SMALLINT, c BIGINT)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
SELECT s.k::smallint, s.n - coalesce(lag(s.n) OVER (ORDER BY s.i), 0)
FROM (
    SELECT i,
           CASE WHEN (get_byte(keys, 2 * i) << 8 | get_byte(keys, 2 * i + 1)) >= 32768
                THEN (get_byte(keys, 2 * i) << 8 | get_byte(keys, 2 * i + 1)) - 65536
                ELSE (get_byte(keys, 2 * i) << 8 | get_byte(keys, 2 * i + 1)) END AS k,
           ('x' || encode(substring(cum FROM 8 * i + 1 FOR 8), 'hex'))::bit(64)::bigint AS n
    FROM generate_series(0, length(keys) / 2 - 1) AS i
) s
$fn$;

-- Recompute the cumulative rows of every day from the UTC day holding p_from onward,
-- from the daily rollups (which must be current for those days).
CREATE FUNCTION analytics_refresh_cumulative(p_from TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    origin CONSTANT TIMESTAMPTZ := TIMESTAMPTZ '2000-01-03 00:00:00+00';
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin);
    lv RECORD;
    d TIMESTAMPTZ;
    total INTEGER := 0;
    cnt INTEGER;
BEGIN
    DROP TABLE IF EXISTS pg_temp.analytics_cum_state;
    CREATE TEMP TABLE analytics_cum_state (
        s TEXT NOT NULL, e TEXT NOT NULL, m TEXT NOT NULL, k SMALLINT NOT NULL,
        n BIGINT NOT NULL, PRIMARY KEY (s, e, m, k)
    ) ON COMMIT DROP;
    FOR lv IN
        SELECT * FROM (VALUES
            ('analytics_cum_api_total', 'analytics_api_day_total',
             $$'', '', ''$$, '', ''),
            ('analytics_cum_api_service', 'analytics_api_day_service',
             $$service, '', ''$$, 'service, ', 's, '),
            ('analytics_cum_api_endpoint', 'analytics_api_day_endpoint',
             'service, endpoint, method', 'service, endpoint, method, ', 's, e, m, ')
        ) AS t(cum, src, sem, cols, vals)
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
            EXECUTE format($q$
                INSERT INTO %1$I (%4$s bucket, hist_keys, hist_cum)
                SELECT %5$s $1, string_agg(int2send(k), ''::bytea ORDER BY k),
                       string_agg(int8send(run), ''::bytea ORDER BY k)
                FROM (
                    SELECT st.*, sum(st.n) OVER (PARTITION BY st.s, st.e, st.m ORDER BY st.k)::bigint
                               AS run
                    FROM analytics_cum_state st
                    JOIN (SELECT DISTINCT %3$s FROM %2$I WHERE bucket = $1) AS g(s, e, m)
                      ON g.s = st.s AND g.e = st.e AND g.m = st.m
                ) x
                GROUP BY s, e, m
            $q$, lv.cum, lv.src, lv.sem, lv.cols, lv.vals) USING d;
            GET DIAGNOSTICS cnt = ROW_COUNT;
            total := total + cnt;
        END LOOP;
    END LOOP;
    DROP TABLE pg_temp.analytics_cum_state;
    RETURN total;
END
$fn$;

ALTER FUNCTION analytics_refresh_distributions(TIMESTAMPTZ, TIMESTAMPTZ)
    RENAME TO analytics_refresh_distributions_0004;

CREATE FUNCTION analytics_refresh_distributions(p_from TIMESTAMPTZ, p_to TIMESTAMPTZ)
RETURNS INTEGER
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
DECLARE
    n INTEGER;
BEGIN
    n := analytics_refresh_distributions_0004(p_from, p_to);
    IF p_from < p_to THEN
        n := n + analytics_refresh_cumulative(p_from);
    END IF;
    RETURN n;
END
$fn$;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_cum_api_total, analytics_cum_api_service,
            analytics_cum_api_endpoint
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;

-- Whatever the daily rollups already hold.
SELECT analytics_refresh_cumulative(
    coalesce((SELECT min(bucket) FROM analytics_api_day_total), now()));
