-- 0010 (post-deploy): how compressed chunks are laid out on the timescale tier.
--
-- Measured on the demo's 30 days with a native TimescaleDB 2.28.3
-- (benchmarks/bench_compression.py, BENCHMARKS.md): 88.7 % compressed before this
-- migration, the target is 90 %. What the compressed chunks held besides the data:
--
-- * one set of chunk tables per day (heap, TOAST, their indexes, the emptied row-store
--   chunk's four indexes): about 150 kB each, whatever the day's volume. Compressing
--   into chunks of up to 7 days (merging each day into the previous compressed chunk)
--   stores the same batches in a seventh of the tables. Merging needs each chunk's
--   compression settings to equal the hypertable's, which the next point also gives.
-- * bloom filters that TimescaleDB 2.22+ derives from every index ("auto sparse
--   indexes"): one per indexed column and composite ones over ("timestamp", user_id),
--   ("timestamp", service) and the primary key, 6 % of the compressed bytes. Only the
--   one on user_id earns its place (forget_user's DELETE skips the batches without the
--   user); "timestamp" and event_id keep their min/max metadata from the orderby, which
--   is what a late redelivery's ON CONFLICT into a compressed chunk uses to find its
--   batch. An explicit list also makes the layout the same on every server version.
--
-- Raw retention drops whole chunks, so a merged chunk leaves when its newest day is 90
-- days old: raw rows are kept up to 6 days longer than before (docs/timescaledb.md).
-- Chunks compressed before this migration keep their layout; only later compressions
-- use it. Servers older than 2.22 have no sparse-index option: they get the merging only
-- where their settings allow it (a notice says so).

DO $do$
DECLARE
    version int[] := string_to_array(
        split_part((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), '-', 1),
        '.')::int[];
BEGIN
    IF version >= ARRAY[2, 22] THEN
        ALTER TABLE analytics_events SET (timescaledb.compress_index = 'bloom(user_id)');
    ELSE
        RAISE NOTICE 'TimescaleDB % has no compress_index option: sparse indexes left as they are',
            array_to_string(version, '.');
    END IF;
    ALTER TABLE analytics_events SET (timescaledb.compress_chunk_time_interval = '7 days');
END
$do$;
