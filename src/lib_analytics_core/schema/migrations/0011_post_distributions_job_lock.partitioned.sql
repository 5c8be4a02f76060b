-- 0011 (post-deploy): the distribution rollups' job stands aside while maintain() runs.
--
-- Nothing on this tier: it has no jobs; maintain() is the only refresher (see the
-- timescale file).
SELECT 1;
