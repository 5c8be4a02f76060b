-- 0019 (post-deploy): compressed chunks ordered by user, for a user's timeline (issue 25).
--
-- Nothing on this tier: it does not compress, and the index of 0018
-- (user_id, "timestamp" DESC, event_id DESC) serves the timeline in every partition
-- (the timescale file of this migration says what changes there).
SELECT 1;
