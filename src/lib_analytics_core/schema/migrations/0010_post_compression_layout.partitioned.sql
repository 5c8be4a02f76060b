-- 0010 (post-deploy): how compressed chunks are laid out on the timescale tier.
--
-- Nothing on this tier: it does not compress (see the timescale file for the why).
SELECT 1;
