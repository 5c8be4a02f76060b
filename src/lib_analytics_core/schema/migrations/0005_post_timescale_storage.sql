-- 0005 (post-deploy): storage of the timescale tier.
--
-- create_hypertable (0001) added its default index on "timestamp" DESC. The primary
-- key ("timestamp", event_id) already serves every range scan on "timestamp", so the
-- extra index only costs space and write time (and it was never in docs/schema.md).
-- Dropping it is one of the measured levers behind the compression target
-- (benchmarks/bench_compression.py).

-- @tier timescale
DROP INDEX IF EXISTS analytics_events_timestamp_idx;

-- @tier partitioned
-- Nothing: the partitioned tier never had the duplicate index.
