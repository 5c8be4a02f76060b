-- The read layer's fixed statements, by name (procrastinate's queries.sql).
--
-- Loaded once by read/_sql.py. A statement starts with a line "-- name --", followed by
-- comment lines saying what it answers, then the SQL. Relation names are written as
-- {CONSTANT} placeholders of schema/facts.py (their one home), filled in at load time;
-- values are always bind parameters ($1, $2, ...). Statements whose shape depends on
-- the question (group-bys, filters, the rollup level) are built in the question's
-- module from the same placeholders' constants.

-- active_users --
-- DAU/WAU/MAU for each day bucket from $1 to $2 (inclusive), zeros where none.
-- Precomputed per day (migration 0003): a 90-day series is 90 rows, whatever the users.
SELECT s.day,
       coalesce(r.dau, 0) AS dau,
       coalesce(r.wau, 0) AS wau,
       coalesce(r.mau, 0) AS mau
FROM generate_series($1::timestamptz, $2::timestamptz, interval '24 hours') AS s(day)
LEFT JOIN {ACTIVE_USERS_TABLE} r ON r.day = s.day
ORDER BY s.day;

-- task_stats --
-- Task outcomes and the duration distribution's percentile keys per day of [$1, $2].
SELECT days.day,
       coalesce(t.created, 0)::bigint AS created,
       coalesce(t.started, 0)::bigint AS started,
       coalesce(t.completed, 0)::bigint AS completed,
       coalesce(t.failed, 0)::bigint AS failed,
       coalesce(t.cancelled, 0)::bigint AS cancelled,
       coalesce(t.duration_count, 0)::bigint AS duration_count,
       coalesce(t.duration_sum_ms, 0)::float8 AS duration_sum_ms,
       t.duration_max_ms,
       d.p50_key,
       d.p95_key
FROM generate_series($1::timestamptz, $2::timestamptz, interval '24 hours') AS days(day)
LEFT JOIN {TASK_STATS_TABLE} t ON t.day = days.day
LEFT JOIN {TASK_DURATIONS_TABLE} d ON d.day = days.day
ORDER BY days.day;

-- overview_users_tasks --
-- The KPI cards' users of day $3 and task outcomes of the days [$1, $2).
SELECT (SELECT row(dau, wau, mau) FROM {ACTIVE_USERS_TABLE} WHERE day = $3) AS users,
       (SELECT row(coalesce(sum(completed), 0)::bigint, coalesce(sum(failed), 0)::bigint)
        FROM {TASK_STATS_TABLE} WHERE day >= $1 AND day < $2) AS tasks;

-- services --
-- Services that served API requests or reported errors since $1 (a filter's values).
SELECT service FROM {API_DAY_SERVICE} WHERE bucket >= $1
UNION
SELECT service FROM {ERRORS_TABLE} WHERE hour >= $1
ORDER BY service;

-- event_types --
-- Event types stored since $1, custom ones included (an event-type picker's values).
SELECT DISTINCT event_type FROM {EVENT_TRENDS_DAILY} WHERE bucket >= $1 ORDER BY 1;

-- event_fields --
-- The top-level keys of event type $1's stored data since $2 with their JSON types and
-- how often each occurs, from the newest $3 events (what the explore view offers).
WITH recent AS (
    SELECT data FROM {EVENTS_TABLE}
    WHERE event_type = $1 AND "timestamp" >= $2
    ORDER BY "timestamp" DESC LIMIT $3
)
SELECT kv.key, jsonb_typeof(kv.value) AS type, count(*)::bigint AS n
FROM recent, LATERAL jsonb_each(recent.data) AS kv
WHERE kv.key <> '_meta'
GROUP BY 1, 2
ORDER BY 1, 3 DESC, 2;
