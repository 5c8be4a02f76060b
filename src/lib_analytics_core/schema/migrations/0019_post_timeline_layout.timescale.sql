-- 0019 (post-deploy): compressed chunks ordered by user, so that a user's timeline reads
-- the batches holding that user instead of every batch (issue 25).
--
-- The timeline (read/users.py) pages a user's events newest first. In row storage the
-- index of 0018 serves it; in compressed chunks, batches (up to 1,000 rows of one event
-- type, segmentby event_type) were ordered by time, so every batch held ~1,000 users and
-- the only way to skip one was its bloom filter on user_id (0010): a light user's page
-- read the bloom filter of every batch in every compressed chunk (stored out of line,
-- ~3 buffers each; ~10,500 batches at 10M events) and decompressed the few per chunk
-- that passed: 58 ms p95 for a page of 100 at 10M on TimescaleDB 2.28.3, 17 ms with
-- this layout (BENCHMARKS.md, "A user's timeline on compressed chunks").
--
-- Ordering each event type's rows by user_id inside a chunk makes every batch hold a
-- narrow range of users: its min/max (stored inline, from the orderby) excludes almost
-- all batches of the chunk, so a page reads ~one batch per event type per chunk.
-- segmentby stays event_type: explore, funnels and retention read one type's batches
-- as before (measured at 10M: within the run-to-run spread, +15 % for explore over a
-- type with 1 % of the rows; late redeliveries 1.1 ms per row instead of 0.7).
--
-- What changes with it:
-- * A column of the orderby cannot also have a bloom filter, so 0010's bloom(user_id)
--   goes (the min/max replaces it: forget_user's DELETE skips the batches without the
--   user by it too). event_id leaves the orderby and gets the bloom filter instead: a
--   late redelivery's INSERT ... ON CONFLICT into a compressed chunk finds the batches
--   that may hold its key by it, as it found them by the time order before ("timestamp"
--   min/max now spans each chunk). The list stays explicit (not empty: an empty
--   sparse-index list crashes TimescaleDB 2.28.3 on INSERT ... ON CONFLICT into a
--   compressed chunk, signal 11; and without a list the server derives its own).
-- * Within a batch rows are ordered by time per user, so a query over a time range
--   inside a compressed chunk can no longer skip batches by time: it reads the whole
--   chunk's batches of its type (chunks are at most 7 days).
-- * Merging a newly compressed day into the previous compressed chunk (0010's
--   compress_chunk_time_interval) now recompresses the merged chunk instead of
--   appending to it (TimescaleDB warns so on this ALTER): seconds per day at 110,000
--   events a day.
--
-- Existing compressed chunks keep the layout they were compressed with (TimescaleDB
-- keeps settings per chunk); chunks compressed from now on get this one. Old chunks
-- still answer correctly, at the old cost, until raw retention drops them or they are
-- recompressed (docs/timescaledb.md, "Layout of compressed chunks", says how and what
-- it costs). Servers older than 2.22 have no compress_index option: their layout is
-- left as it is (a notice says so).

DO $do$
DECLARE
    version int[] := string_to_array(
        split_part((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), '-', 1),
        '.')::int[];
BEGIN
    IF version >= ARRAY[2, 22] THEN
        ALTER TABLE analytics_events SET (
            timescaledb.compress_orderby = 'user_id, "timestamp" DESC',
            timescaledb.compress_index = 'bloom(event_id)');
    ELSE
        RAISE NOTICE 'TimescaleDB % has no compress_index option: compressed layout left as it is',
            array_to_string(version, '.');
    END IF;
END
$do$;
