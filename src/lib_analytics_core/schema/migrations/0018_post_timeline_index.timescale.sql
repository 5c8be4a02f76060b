-- 0018 (post-deploy): a user's timeline in the order it is paged (issue 25).
--
-- The timeline pages newest first by ("timestamp", event_id) (read/users.py: the cursor
-- needs the tie-break on event_id). The index of 0001, (user_id, "timestamp" DESC),
-- gave the first key only; where the planner needs the full order per partition or
-- chunk (TimescaleDB's ChunkAppend pushes "timestamp" DESC, event_id DESC into each
-- chunk), it walked the primary key backwards and filtered by user: ~110k rows per
-- uncompressed chunk for a light user (1.6 s at 10M on the timescale tier, EXPLAIN
-- ANALYZE in BENCHMARKS.md).
-- This index gives the whole order, so a page is one short descent per partition.
-- It replaces 0001's (same leading columns: every query that used it can use this one),
-- so the ingest cost stays one user index; on disk it is 16 bytes per row more.
-- Built inside the migration's transaction (a partitioned parent takes no
-- CONCURRENTLY): writes to analytics_events wait while it builds (seconds per million
-- rows); run it when a short pause of ingest is fine (the worker buffers and retries).
CREATE INDEX analytics_events_user_timeline_idx
    ON analytics_events (user_id, "timestamp" DESC, event_id DESC);
DROP INDEX analytics_events_user_id_idx;
