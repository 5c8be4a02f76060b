-- 0014 (pre-deploy): one maintainer per database, elected by a lease row (issue 29).
--
-- The long-running processes (the worker, analytics-api, analytics-collect,
-- analytics-ingest) compete for this row; the one whose lease has not expired keeps the
-- aggregates current (schema/maintainer.py). A row with an expiry, not a session
-- advisory lock: behind a transaction-mode pooler (PgBouncer) a session lock stays on
-- whichever server connection took it, and a dead holder's lease simply runs out.
-- The holder also records what it did, for /v1/health and `analytics-migrate status`.
CREATE TABLE analytics_maintainer_lease (
    name             TEXT PRIMARY KEY,
    holder           TEXT NOT NULL,
    acquired_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at       TIMESTAMPTZ NOT NULL,
    last_refresh_at  TIMESTAMPTZ,
    last_maintain_at TIMESTAMPTZ,
    last_error       TEXT,
    last_error_at    TIMESTAMPTZ
);

-- When each invalidated day was logged: staleness is the age of the oldest row not yet
-- in its aggregate (how long it has waited), not the start of its bucket.
ALTER TABLE analytics_refresh_invalidations ADD COLUMN logged_at TIMESTAMPTZ DEFAULT now();

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_maintainer_lease TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
