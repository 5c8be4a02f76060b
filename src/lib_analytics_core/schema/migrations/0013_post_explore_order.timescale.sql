-- 0013 (post-deploy): the rows of one event type stored together (issue 25).
--
-- Nothing on this tier: compressed chunks already keep each event type's rows together
-- (compress_segmentby = 'event_type', migration 0001), so explore's reads of one type
-- in compressed chunks follow that type's rows. The last COMPRESS_AFTER days (7) are
-- row storage, interleaved, as on the partitioned tier before its days are ordered
-- (the partitioned file of this migration says why and what it costs).
SELECT 1;
