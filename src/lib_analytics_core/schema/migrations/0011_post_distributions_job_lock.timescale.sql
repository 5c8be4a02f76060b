-- 0011 (post-deploy): the distribution rollups' job stands aside while maintain() runs.
--
-- analytics_distributions_job (0004) recomputes the last 3 days of the distribution
-- rollups by delete + insert of their buckets. maintain() and refresh_aggregates() do
-- the same under the maintenance advisory lock, but the job did not take it: when both
-- ran at once (a native server's scheduler beside an operator's maintain), the second
-- insert of a bucket failed with a unique violation on analytics_api_hour_total_pkey
-- (found by tests/test_upgrade_race.py on TimescaleDB 2.28.3). The job now takes the
-- same lock for its transaction, or skips this run when maintain holds it: maintain
-- refreshes at least the same window, and the job runs again within the hour.

CREATE OR REPLACE PROCEDURE analytics_distributions_job(job_id INT, config JSONB)
LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
BEGIN
    IF NOT pg_try_advisory_xact_lock(7236912002) THEN
        RAISE NOTICE 'analytics_distributions_job: maintenance is running; it refreshes this window';
        RETURN;
    END IF;
    PERFORM analytics_refresh_distributions(now() - INTERVAL '3 days', now() + INTERVAL '1 day');
END
$fn$;
