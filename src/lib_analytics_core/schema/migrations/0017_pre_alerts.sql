-- 0017 (pre-deploy): what the alert evaluator keeps (issue 27, lib_analytics_core.alerts):
-- the per-minute counts SLOs are evaluated from, each rule's current state, the history
-- of its changes and the outbox of webhook deliveries. One file for both tiers: these are
-- small plain tables (no hypertable, no aggregate), written only by the evaluator.

-- Requests and bad requests per minute of one SLO definition (rule_key: the rule's name
-- and a digest of its filters and threshold, so a changed definition starts new counts),
-- with their running sums (cum_total, cum_bad: every request of the definition up to and
-- including that minute, as migration 0007 does for latency). The evaluator recomputes
-- the last minutes from raw events on every evaluation; a window [a, b) is then
-- cum(last minute before b) - cum(last minute before a): two index lookups, whatever the
-- window's length (5 min to 3 days, 30 days for GET /v1/slos) and the traffic. Minutes
-- without requests have no row.
CREATE TABLE analytics_alert_minutes (
    rule_key  TEXT        NOT NULL,
    minute    TIMESTAMPTZ NOT NULL,
    total     BIGINT      NOT NULL,
    bad       BIGINT      NOT NULL,
    cum_total BIGINT      NOT NULL,
    cum_bad   BIGINT      NOT NULL,
    PRIMARY KEY (rule_key, minute)
);

-- One row per SLO definition: how far its minutes are complete, and what the read side
-- needs to compute attainment and error budget without the alerting file.
CREATE TABLE analytics_alert_rollups (
    rule_key     TEXT PRIMARY KEY,
    rule         TEXT             NOT NULL,
    objective    DOUBLE PRECISION NOT NULL,
    window_s     BIGINT           NOT NULL,
    filled_from  TIMESTAMPTZ      NOT NULL,
    complete_to  TIMESTAMPTZ      NOT NULL
);

-- The current state of every rule (one row per rule name).
CREATE TABLE analytics_alert_states (
    rule         TEXT PRIMARY KEY,
    kind         TEXT        NOT NULL CHECK (kind IN ('slo', 'threshold')),
    state        TEXT        NOT NULL CHECK (state IN ('ok', 'firing')),
    severity     TEXT        CHECK (severity IN ('page', 'ticket')),
    since        TIMESTAMPTZ NOT NULL,
    evaluated_at TIMESTAMPTZ NOT NULL,
    rule_key     TEXT,
    value        JSONB       NOT NULL DEFAULT '{}'
);

-- Every change of a rule's state (firing, downgraded, resolved), in order.
CREATE TABLE analytics_alert_history (
    id          BIGSERIAL PRIMARY KEY,
    rule        TEXT        NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('ok', 'firing')),
    severity    TEXT        CHECK (severity IN ('page', 'ticket')),
    previous    TEXT,
    since       TIMESTAMPTZ NOT NULL,
    value       JSONB       NOT NULL DEFAULT '{}',
    recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX analytics_alert_history_at_ix ON analytics_alert_history (at DESC, id DESC);

-- The outbox: one row per change and webhook, written in the transaction that records
-- the change, delivered after it commits and marked when the receiver said 2xx. A crash
-- between the two leaves the row pending (delivered on restart, under the same
-- idempotency key), never lost and never duplicated under a new key.
CREATE TABLE analytics_alert_deliveries (
    id              BIGSERIAL PRIMARY KEY,
    history_id      BIGINT      NOT NULL REFERENCES analytics_alert_history (id)
                                ON DELETE CASCADE,
    webhook         TEXT        NOT NULL,
    idempotency_key TEXT        NOT NULL UNIQUE,
    body            JSONB       NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts        INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    failed_at       TIMESTAMPTZ,
    last_error      TEXT
);
CREATE INDEX analytics_alert_deliveries_pending_ix ON analytics_alert_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND failed_at IS NULL;

DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'analytics_reader') THEN
        GRANT SELECT ON analytics_alert_minutes, analytics_alert_rollups,
            analytics_alert_states, analytics_alert_history, analytics_alert_deliveries
        TO analytics_reader;
    END IF;
EXCEPTION
    WHEN insufficient_privilege THEN
        RAISE NOTICE 'grants to analytics_reader skipped: insufficient privilege';
END
$do$;
