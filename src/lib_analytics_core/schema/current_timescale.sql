-- The current analytics schema, timescale tier: what `analytics-migrate all` leaves in an
-- empty database. Generated from the catalog by tests/_schema_catalog.py (normalised:
-- see its docstring) and checked by tests/test_schema_sql.py; do not edit by hand, and
-- never apply it: the migrations in migrations/ are how a schema is created.

CREATE TABLE analytics_active_users_daily (
    day timestamp with time zone NOT NULL,
    dau bigint NOT NULL,
    wau bigint NOT NULL,
    mau bigint NOT NULL,
    CONSTRAINT analytics_active_users_daily_pkey PRIMARY KEY (day)
);

CREATE TABLE analytics_alert_deliveries (
    id bigint DEFAULT nextval('analytics_alert_deliveries_id_seq'::regclass) NOT NULL,
    history_id bigint NOT NULL,
    webhook text NOT NULL,
    idempotency_key text NOT NULL,
    body jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone NOT NULL,
    delivered_at timestamp with time zone,
    failed_at timestamp with time zone,
    last_error text,
    CONSTRAINT analytics_alert_deliveries_history_id_fkey FOREIGN KEY (history_id) REFERENCES analytics_alert_history(id) ON DELETE CASCADE,
    CONSTRAINT analytics_alert_deliveries_idempotency_key_key UNIQUE (idempotency_key),
    CONSTRAINT analytics_alert_deliveries_pkey PRIMARY KEY (id)
);

CREATE TABLE analytics_alert_history (
    id bigint DEFAULT nextval('analytics_alert_history_id_seq'::regclass) NOT NULL,
    rule text NOT NULL,
    at timestamp with time zone NOT NULL,
    state text NOT NULL,
    severity text,
    previous text,
    since timestamp with time zone NOT NULL,
    value jsonb DEFAULT '{}'::jsonb NOT NULL,
    recorded_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT analytics_alert_history_pkey PRIMARY KEY (id),
    CONSTRAINT analytics_alert_history_severity_check CHECK ((severity = ANY (ARRAY['page'::text, 'ticket'::text]))),
    CONSTRAINT analytics_alert_history_state_check CHECK ((state = ANY (ARRAY['ok'::text, 'firing'::text])))
);

CREATE TABLE analytics_alert_minutes (
    rule_key text NOT NULL,
    minute timestamp with time zone NOT NULL,
    total bigint NOT NULL,
    bad bigint NOT NULL,
    cum_total bigint NOT NULL,
    cum_bad bigint NOT NULL,
    CONSTRAINT analytics_alert_minutes_pkey PRIMARY KEY (rule_key, minute)
);

CREATE TABLE analytics_alert_rollups (
    rule_key text NOT NULL,
    rule text NOT NULL,
    objective double precision NOT NULL,
    window_s bigint NOT NULL,
    filled_from timestamp with time zone NOT NULL,
    complete_to timestamp with time zone NOT NULL,
    CONSTRAINT analytics_alert_rollups_pkey PRIMARY KEY (rule_key)
);

CREATE TABLE analytics_alert_states (
    rule text NOT NULL,
    kind text NOT NULL,
    state text NOT NULL,
    severity text,
    since timestamp with time zone NOT NULL,
    evaluated_at timestamp with time zone NOT NULL,
    rule_key text,
    value jsonb DEFAULT '{}'::jsonb NOT NULL,
    CONSTRAINT analytics_alert_states_kind_check CHECK ((kind = ANY (ARRAY['slo'::text, 'threshold'::text]))),
    CONSTRAINT analytics_alert_states_pkey PRIMARY KEY (rule),
    CONSTRAINT analytics_alert_states_severity_check CHECK ((severity = ANY (ARRAY['page'::text, 'ticket'::text]))),
    CONSTRAINT analytics_alert_states_state_check CHECK ((state = ANY (ARRAY['ok'::text, 'firing'::text])))
);

CREATE TABLE analytics_api_day_endpoint (
    service text NOT NULL,
    endpoint text NOT NULL,
    method text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    requests bigint NOT NULL,
    requests_estimated double precision NOT NULL,
    errors_4xx bigint NOT NULL,
    errors_5xx bigint NOT NULL,
    duration_count bigint NOT NULL,
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_api_day_endpoint_pkey PRIMARY KEY (bucket, service, endpoint, method)
);

CREATE TABLE analytics_api_day_service (
    service text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    requests bigint NOT NULL,
    requests_estimated double precision NOT NULL,
    errors_4xx bigint NOT NULL,
    errors_5xx bigint NOT NULL,
    duration_count bigint NOT NULL,
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_api_day_service_pkey PRIMARY KEY (bucket, service)
);

CREATE TABLE analytics_api_day_total (
    bucket timestamp with time zone NOT NULL,
    requests bigint NOT NULL,
    requests_estimated double precision NOT NULL,
    errors_4xx bigint NOT NULL,
    errors_5xx bigint NOT NULL,
    duration_count bigint NOT NULL,
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_api_day_total_pkey PRIMARY KEY (bucket)
);

CREATE TABLE analytics_api_hour_endpoint (
    service text NOT NULL,
    endpoint text NOT NULL,
    method text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    requests bigint NOT NULL,
    requests_estimated double precision NOT NULL,
    errors_4xx bigint NOT NULL,
    errors_5xx bigint NOT NULL,
    duration_count bigint NOT NULL,
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_api_hour_endpoint_pkey PRIMARY KEY (bucket, service, endpoint, method)
);

CREATE TABLE analytics_api_hour_service (
    service text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    requests bigint NOT NULL,
    requests_estimated double precision NOT NULL,
    errors_4xx bigint NOT NULL,
    errors_5xx bigint NOT NULL,
    duration_count bigint NOT NULL,
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_api_hour_service_pkey PRIMARY KEY (bucket, service)
);

CREATE TABLE analytics_api_hour_total (
    bucket timestamp with time zone NOT NULL,
    requests bigint NOT NULL,
    requests_estimated double precision NOT NULL,
    errors_4xx bigint NOT NULL,
    errors_5xx bigint NOT NULL,
    duration_count bigint NOT NULL,
    duration_sum_ms double precision NOT NULL,
    duration_max_ms double precision,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_api_hour_total_pkey PRIMARY KEY (bucket)
);

CREATE TABLE analytics_cum_api_endpoint (
    service text NOT NULL,
    endpoint text NOT NULL,
    method text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    hist_keys bytea NOT NULL,
    hist_cum bytea NOT NULL,
    requests bigint DEFAULT 0 NOT NULL,
    requests_estimated double precision DEFAULT 0 NOT NULL,
    errors_4xx bigint DEFAULT 0 NOT NULL,
    errors_5xx bigint DEFAULT 0 NOT NULL,
    duration_count bigint DEFAULT 0 NOT NULL,
    duration_sum_ms double precision DEFAULT 0 NOT NULL,
    max_fwd double precision[] DEFAULT '{}'::double precision[] NOT NULL,
    max_bwd double precision[] DEFAULT '{}'::double precision[] NOT NULL,
    CONSTRAINT analytics_cum_api_endpoint_pkey PRIMARY KEY (service, endpoint, method, bucket)
);

CREATE TABLE analytics_cum_api_service (
    service text NOT NULL,
    bucket timestamp with time zone NOT NULL,
    hist_keys bytea NOT NULL,
    hist_cum bytea NOT NULL,
    requests bigint DEFAULT 0 NOT NULL,
    requests_estimated double precision DEFAULT 0 NOT NULL,
    errors_4xx bigint DEFAULT 0 NOT NULL,
    errors_5xx bigint DEFAULT 0 NOT NULL,
    duration_count bigint DEFAULT 0 NOT NULL,
    duration_sum_ms double precision DEFAULT 0 NOT NULL,
    max_fwd double precision[] DEFAULT '{}'::double precision[] NOT NULL,
    max_bwd double precision[] DEFAULT '{}'::double precision[] NOT NULL,
    CONSTRAINT analytics_cum_api_service_pkey PRIMARY KEY (service, bucket)
);

CREATE TABLE analytics_cum_api_total (
    bucket timestamp with time zone NOT NULL,
    hist_keys bytea NOT NULL,
    hist_cum bytea NOT NULL,
    requests bigint DEFAULT 0 NOT NULL,
    requests_estimated double precision DEFAULT 0 NOT NULL,
    errors_4xx bigint DEFAULT 0 NOT NULL,
    errors_5xx bigint DEFAULT 0 NOT NULL,
    duration_count bigint DEFAULT 0 NOT NULL,
    duration_sum_ms double precision DEFAULT 0 NOT NULL,
    max_fwd double precision[] DEFAULT '{}'::double precision[] NOT NULL,
    max_bwd double precision[] DEFAULT '{}'::double precision[] NOT NULL,
    CONSTRAINT analytics_cum_api_total_pkey PRIMARY KEY (bucket)
);

CREATE TABLE analytics_dead_letters (
    id bigint DEFAULT nextval('analytics_dead_letters_id_seq'::regclass) NOT NULL,
    received_at timestamp with time zone DEFAULT now() NOT NULL,
    event_timestamp timestamp with time zone,
    event_id uuid,
    event_type text NOT NULL,
    service text NOT NULL,
    payload text NOT NULL,
    error text NOT NULL,
    sqlstate text,
    CONSTRAINT analytics_dead_letters_event_id_key UNIQUE (event_id),
    CONSTRAINT analytics_dead_letters_pkey PRIMARY KEY (id)
);

CREATE TABLE analytics_events (
    id bigint DEFAULT nextval('analytics_events_id_seq'::regclass) NOT NULL,
    timestamp timestamp with time zone DEFAULT now() NOT NULL,
    event_id uuid NOT NULL,
    event_type character varying(100) NOT NULL,
    service character varying(100) NOT NULL,
    user_id uuid,
    data jsonb NOT NULL,
    CONSTRAINT analytics_events_pkey PRIMARY KEY ("timestamp", event_id)
);

CREATE TABLE analytics_maintainer_lease (
    name text NOT NULL,
    holder text NOT NULL,
    acquired_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    last_refresh_at timestamp with time zone,
    last_maintain_at timestamp with time zone,
    last_error text,
    last_error_at timestamp with time zone,
    CONSTRAINT analytics_maintainer_lease_pkey PRIMARY KEY (name)
);

CREATE TABLE analytics_schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    phase text NOT NULL,
    checksum text NOT NULL,
    tier text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL,
    duration_ms integer NOT NULL,
    pending text[] DEFAULT '{}'::text[] NOT NULL,
    CONSTRAINT analytics_schema_migrations_pkey PRIMARY KEY (version)
);

CREATE TABLE analytics_task_durations_daily (
    day timestamp with time zone NOT NULL,
    duration_count bigint NOT NULL,
    hist_keys smallint[] NOT NULL,
    hist_counts bigint[] NOT NULL,
    p50_key smallint,
    p95_key smallint,
    p99_key smallint,
    CONSTRAINT analytics_task_durations_daily_pkey PRIMARY KEY (day)
);

CREATE UNIQUE INDEX analytics_active_users_daily_pkey ON analytics_active_users_daily USING btree (day);
CREATE UNIQUE INDEX analytics_alert_deliveries_idempotency_key_key ON analytics_alert_deliveries USING btree (idempotency_key);
CREATE INDEX analytics_alert_deliveries_pending_ix ON analytics_alert_deliveries USING btree (next_attempt_at) WHERE ((delivered_at IS NULL) AND (failed_at IS NULL));
CREATE UNIQUE INDEX analytics_alert_deliveries_pkey ON analytics_alert_deliveries USING btree (id);
CREATE INDEX analytics_alert_history_at_ix ON analytics_alert_history USING btree (at DESC, id DESC);
CREATE UNIQUE INDEX analytics_alert_history_pkey ON analytics_alert_history USING btree (id);
CREATE UNIQUE INDEX analytics_alert_minutes_pkey ON analytics_alert_minutes USING btree (rule_key, minute);
CREATE UNIQUE INDEX analytics_alert_rollups_pkey ON analytics_alert_rollups USING btree (rule_key);
CREATE UNIQUE INDEX analytics_alert_states_pkey ON analytics_alert_states USING btree (rule);
CREATE INDEX analytics_api_day_endpoint_narrow_ix ON analytics_api_day_endpoint USING btree (bucket, service, endpoint, method) INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE UNIQUE INDEX analytics_api_day_endpoint_pkey ON analytics_api_day_endpoint USING btree (bucket, service, endpoint, method);
CREATE INDEX analytics_api_day_endpoint_service_endpoint_method_bucket_idx ON analytics_api_day_endpoint USING btree (service, endpoint, method, bucket);
CREATE INDEX analytics_api_day_service_narrow_ix ON analytics_api_day_service USING btree (bucket, service) INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE UNIQUE INDEX analytics_api_day_service_pkey ON analytics_api_day_service USING btree (bucket, service);
CREATE INDEX analytics_api_day_service_service_bucket_idx ON analytics_api_day_service USING btree (service, bucket);
CREATE INDEX analytics_api_day_total_narrow_ix ON analytics_api_day_total USING btree (bucket) INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE UNIQUE INDEX analytics_api_day_total_pkey ON analytics_api_day_total USING btree (bucket);
CREATE INDEX analytics_api_hour_endpoint_narrow_ix ON analytics_api_hour_endpoint USING btree (bucket, service, endpoint, method) INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE UNIQUE INDEX analytics_api_hour_endpoint_pkey ON analytics_api_hour_endpoint USING btree (bucket, service, endpoint, method);
CREATE INDEX analytics_api_hour_endpoint_svc_ix ON analytics_api_hour_endpoint USING btree (service, endpoint, method, bucket);
CREATE INDEX analytics_api_hour_service_narrow_ix ON analytics_api_hour_service USING btree (bucket, service) INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE UNIQUE INDEX analytics_api_hour_service_pkey ON analytics_api_hour_service USING btree (bucket, service);
CREATE INDEX analytics_api_hour_service_svc_ix ON analytics_api_hour_service USING btree (service, bucket);
CREATE INDEX analytics_api_hour_total_narrow_ix ON analytics_api_hour_total USING btree (bucket) INCLUDE (requests, requests_estimated, errors_4xx, errors_5xx, duration_count, duration_sum_ms, duration_max_ms, p50_key, p95_key, p99_key);
CREATE UNIQUE INDEX analytics_api_hour_total_pkey ON analytics_api_hour_total USING btree (bucket);
CREATE INDEX analytics_api_latency_daily_day_idx ON analytics_api_latency_daily USING btree (day DESC);
CREATE INDEX analytics_api_latency_daily_day_idx ON analytics_api_latency_daily_v0002 USING btree (day);
CREATE INDEX analytics_api_latency_daily_day_ix ON analytics_api_latency_daily USING btree (day);
CREATE INDEX analytics_api_latency_daily_endpoint_day_idx ON analytics_api_latency_daily USING btree (endpoint, day DESC);
CREATE INDEX analytics_api_latency_daily_method_day_idx ON analytics_api_latency_daily USING btree (method, day DESC);
CREATE INDEX analytics_api_latency_daily_service_day_idx ON analytics_api_latency_daily USING btree (service, day DESC);
CREATE INDEX analytics_api_latency_daily_svc_idx ON analytics_api_latency_daily_v0002 USING btree (service, endpoint, method, day);
CREATE INDEX analytics_api_latency_daily_v0002_day_idx ON analytics_api_latency_daily_v0002 USING btree (day DESC);
CREATE INDEX analytics_api_latency_daily_v0002_endpoint_day_idx ON analytics_api_latency_daily_v0002 USING btree (endpoint, day DESC);
CREATE INDEX analytics_api_latency_daily_v0002_method_day_idx ON analytics_api_latency_daily_v0002 USING btree (method, day DESC);
CREATE INDEX analytics_api_latency_daily_v0002_service_day_idx ON analytics_api_latency_daily_v0002 USING btree (service, day DESC);
CREATE INDEX analytics_api_latency_hourly_endpoint_hour_idx ON analytics_api_latency_hourly USING btree (endpoint, hour DESC);
CREATE INDEX analytics_api_latency_hourly_hour_idx ON analytics_api_latency_hourly USING btree (hour DESC);
CREATE INDEX analytics_api_latency_hourly_hour_idx ON analytics_api_latency_hourly_v0002 USING btree (hour);
CREATE INDEX analytics_api_latency_hourly_hour_ix ON analytics_api_latency_hourly USING btree (hour);
CREATE INDEX analytics_api_latency_hourly_method_hour_idx ON analytics_api_latency_hourly USING btree (method, hour DESC);
CREATE INDEX analytics_api_latency_hourly_service_hour_idx ON analytics_api_latency_hourly USING btree (service, hour DESC);
CREATE INDEX analytics_api_latency_hourly_svc_idx ON analytics_api_latency_hourly_v0002 USING btree (service, endpoint, method, hour);
CREATE INDEX analytics_api_latency_hourly_v0002_endpoint_hour_idx ON analytics_api_latency_hourly_v0002 USING btree (endpoint, hour DESC);
CREATE INDEX analytics_api_latency_hourly_v0002_hour_idx ON analytics_api_latency_hourly_v0002 USING btree (hour DESC);
CREATE INDEX analytics_api_latency_hourly_v0002_method_hour_idx ON analytics_api_latency_hourly_v0002 USING btree (method, hour DESC);
CREATE INDEX analytics_api_latency_hourly_v0002_service_hour_idx ON analytics_api_latency_hourly_v0002 USING btree (service, hour DESC);
CREATE INDEX analytics_auth_events_daily_day_idx ON analytics_auth_events_daily USING btree (day DESC);
CREATE INDEX analytics_auth_events_daily_day_idx ON analytics_auth_events_daily_v0002 USING btree (day);
CREATE INDEX analytics_auth_events_daily_day_ix ON analytics_auth_events_daily USING btree (day);
CREATE INDEX analytics_auth_events_daily_v0002_day_idx ON analytics_auth_events_daily_v0002 USING btree (day DESC);
CREATE INDEX analytics_cocoon_activity_daily_day_idx ON analytics_cocoon_activity_daily USING btree (day DESC);
CREATE INDEX analytics_cocoon_activity_daily_day_idx ON analytics_cocoon_activity_daily_v0002 USING btree (day);
CREATE INDEX analytics_cocoon_activity_daily_day_ix ON analytics_cocoon_activity_daily USING btree (day);
CREATE INDEX analytics_cocoon_activity_daily_v0002_day_idx ON analytics_cocoon_activity_daily_v0002 USING btree (day DESC);
CREATE UNIQUE INDEX analytics_cum_api_endpoint_pkey ON analytics_cum_api_endpoint USING btree (service, endpoint, method, bucket);
CREATE UNIQUE INDEX analytics_cum_api_service_pkey ON analytics_cum_api_service USING btree (service, bucket);
CREATE UNIQUE INDEX analytics_cum_api_total_pkey ON analytics_cum_api_total USING btree (bucket);
CREATE INDEX analytics_daily_active_users_day_idx ON analytics_daily_active_users USING btree (day DESC);
CREATE INDEX analytics_daily_active_users_day_idx ON analytics_daily_active_users USING btree (day, user_id);
CREATE INDEX analytics_daily_active_users_user_id_day_idx ON analytics_daily_active_users USING btree (user_id, day DESC);
CREATE INDEX analytics_daily_active_users_user_idx ON analytics_daily_active_users USING btree (user_id, day);
CREATE UNIQUE INDEX analytics_dead_letters_event_id_key ON analytics_dead_letters USING btree (event_id);
CREATE UNIQUE INDEX analytics_dead_letters_pkey ON analytics_dead_letters USING btree (id);
CREATE INDEX analytics_errors_hourly_error_type_hour_idx ON analytics_errors_hourly USING btree (error_type, hour DESC);
CREATE INDEX analytics_errors_hourly_hour_idx ON analytics_errors_hourly USING btree (hour DESC);
CREATE INDEX analytics_errors_hourly_hour_idx ON analytics_errors_hourly USING btree (hour);
CREATE INDEX analytics_errors_hourly_service_hour_idx ON analytics_errors_hourly USING btree (service, hour DESC);
CREATE INDEX analytics_errors_hourly_svc_idx ON analytics_errors_hourly USING btree (service, error_type, hour);
CREATE INDEX analytics_event_trends_daily_bucket_idx ON analytics_event_trends_daily USING btree (bucket DESC);
CREATE INDEX analytics_event_trends_daily_event_type_bucket_idx ON analytics_event_trends_daily USING btree (event_type, bucket DESC);
CREATE INDEX analytics_event_trends_daily_ix ON analytics_event_trends_daily USING btree (bucket);
CREATE INDEX analytics_event_trends_daily_service_bucket_idx ON analytics_event_trends_daily USING btree (service, bucket DESC);
CREATE INDEX analytics_event_trends_daily_type_ix ON analytics_event_trends_daily USING btree (event_type, bucket);
CREATE INDEX analytics_event_trends_hourly_bucket_idx ON analytics_event_trends_hourly USING btree (bucket DESC);
CREATE INDEX analytics_event_trends_hourly_event_type_bucket_idx ON analytics_event_trends_hourly USING btree (event_type, bucket DESC);
CREATE INDEX analytics_event_trends_hourly_ix ON analytics_event_trends_hourly USING btree (bucket);
CREATE INDEX analytics_event_trends_hourly_service_bucket_idx ON analytics_event_trends_hourly USING btree (service, bucket DESC);
CREATE INDEX analytics_event_trends_hourly_type_ix ON analytics_event_trends_hourly USING btree (event_type, bucket);
CREATE INDEX analytics_events_event_type_idx ON analytics_events USING btree (event_type, "timestamp" DESC);
CREATE UNIQUE INDEX analytics_events_pkey ON analytics_events USING btree ("timestamp", event_id);
CREATE INDEX analytics_events_service_idx ON analytics_events USING btree (service, "timestamp" DESC);
CREATE INDEX analytics_events_user_timeline_idx ON analytics_events USING btree (user_id, "timestamp" DESC, event_id DESC);
CREATE INDEX analytics_integration_health_daily_day_idx ON analytics_integration_health_daily USING btree (day DESC);
CREATE INDEX analytics_integration_health_daily_day_idx ON analytics_integration_health_daily_v0002 USING btree (day);
CREATE INDEX analytics_integration_health_daily_day_ix ON analytics_integration_health_daily USING btree (day);
CREATE INDEX analytics_integration_health_daily_idx ON analytics_integration_health_daily_v0002 USING btree (provider, day);
CREATE INDEX analytics_integration_health_daily_ix ON analytics_integration_health_daily USING btree (provider, day);
CREATE INDEX analytics_integration_health_daily_provider_day_idx ON analytics_integration_health_daily USING btree (provider, day DESC);
CREATE INDEX analytics_integration_health_daily_v0002_day_idx ON analytics_integration_health_daily_v0002 USING btree (day DESC);
CREATE INDEX analytics_integration_health_daily_v0002_provider_day_idx ON analytics_integration_health_daily_v0002 USING btree (provider, day DESC);
CREATE UNIQUE INDEX analytics_maintainer_lease_pkey ON analytics_maintainer_lease USING btree (name);
CREATE UNIQUE INDEX analytics_schema_migrations_pkey ON analytics_schema_migrations USING btree (version);
CREATE UNIQUE INDEX analytics_task_durations_daily_pkey ON analytics_task_durations_daily USING btree (day);
CREATE INDEX analytics_task_stats_daily_day_idx ON analytics_task_stats_daily USING btree (day DESC);
CREATE INDEX analytics_task_stats_daily_day_idx ON analytics_task_stats_daily_v0002 USING btree (day);
CREATE INDEX analytics_task_stats_daily_day_ix ON analytics_task_stats_daily USING btree (day);
CREATE INDEX analytics_task_stats_daily_v0002_day_idx ON analytics_task_stats_daily_v0002 USING btree (day DESC);
CREATE INDEX analytics_weekly_active_users_user_id_week_idx ON analytics_weekly_active_users USING btree (user_id, week DESC);
CREATE INDEX analytics_weekly_active_users_week_idx ON analytics_weekly_active_users USING btree (week DESC);

CREATE MATERIALIZED VIEW analytics_api_latency_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, hour) AS day,
    service,
    endpoint,
    method,
    (sum(requests))::bigint AS requests,
    sum(requests_estimated) AS requests_estimated,
    (sum(errors_4xx))::bigint AS errors_4xx,
    (sum(errors_5xx))::bigint AS errors_5xx,
    (sum(duration_count))::bigint AS duration_count,
    sum(duration_sum_ms) AS duration_sum_ms,
    max(duration_max_ms) AS duration_max_ms
   FROM analytics_api_latency_hourly
  WHERE true
  GROUP BY (time_bucket('1 day'::interval, hour)), service, endpoint, method;

CREATE MATERIALIZED VIEW analytics_api_latency_daily_v0002 WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, hour) AS day,
    service,
    endpoint,
    method,
    (sum(requests))::bigint AS requests,
    sum(requests_estimated) AS requests_estimated,
    (sum(errors_4xx))::bigint AS errors_4xx,
    (sum(errors_5xx))::bigint AS errors_5xx,
    (sum(duration_sum_ms))::bigint AS duration_sum_ms,
    max(duration_max_ms) AS duration_max_ms,
    (sum(h00))::bigint AS h00,
    (sum(h01))::bigint AS h01,
    (sum(h02))::bigint AS h02,
    (sum(h03))::bigint AS h03,
    (sum(h04))::bigint AS h04,
    (sum(h05))::bigint AS h05,
    (sum(h06))::bigint AS h06,
    (sum(h07))::bigint AS h07,
    (sum(h08))::bigint AS h08,
    (sum(h09))::bigint AS h09,
    (sum(h10))::bigint AS h10,
    (sum(h11))::bigint AS h11,
    (sum(h12))::bigint AS h12,
    (sum(h13))::bigint AS h13,
    (sum(h14))::bigint AS h14,
    (sum(h15))::bigint AS h15,
    (sum(h16))::bigint AS h16,
    (sum(h17))::bigint AS h17,
    (sum(h18))::bigint AS h18,
    (sum(h19))::bigint AS h19,
    (sum(h20))::bigint AS h20,
    (sum(h21))::bigint AS h21,
    (sum(h22))::bigint AS h22,
    (sum(h23))::bigint AS h23,
    (sum(h24))::bigint AS h24,
    (sum(h25))::bigint AS h25,
    (sum(h26))::bigint AS h26,
    (sum(h27))::bigint AS h27,
    (sum(h28))::bigint AS h28,
    (sum(h29))::bigint AS h29,
    (sum(h30))::bigint AS h30,
    (sum(h31))::bigint AS h31,
    (sum(h32))::bigint AS h32,
    (sum(h33))::bigint AS h33,
    (sum(h34))::bigint AS h34,
    (sum(h35))::bigint AS h35,
    (sum(h36))::bigint AS h36,
    (sum(h37))::bigint AS h37,
    (sum(h38))::bigint AS h38,
    (sum(h39))::bigint AS h39,
    (sum(h40))::bigint AS h40,
    (sum(h41))::bigint AS h41,
    (sum(h42))::bigint AS h42,
    (sum(h43))::bigint AS h43,
    (sum(h44))::bigint AS h44,
    (sum(h45))::bigint AS h45,
    (sum(h46))::bigint AS h46,
    (sum(h47))::bigint AS h47,
    (sum(h48))::bigint AS h48,
    (sum(h49))::bigint AS h49,
    (sum(h50))::bigint AS h50,
    (sum(h51))::bigint AS h51,
    (sum(h52))::bigint AS h52,
    (sum(h53))::bigint AS h53,
    (sum(h54))::bigint AS h54,
    (sum(h55))::bigint AS h55,
    (sum(h56))::bigint AS h56,
    (sum(h57))::bigint AS h57,
    (sum(h58))::bigint AS h58,
    (sum(h59))::bigint AS h59,
    (sum(h60))::bigint AS h60,
    (sum(h61))::bigint AS h61,
    (sum(h62))::bigint AS h62,
    (sum(h63))::bigint AS h63,
    (sum(h64))::bigint AS h64,
    (sum(h65))::bigint AS h65,
    (sum(h66))::bigint AS h66,
    (sum(h67))::bigint AS h67,
    (sum(h68))::bigint AS h68,
    (sum(h69))::bigint AS h69,
    (sum(h70))::bigint AS h70,
    (sum(h71))::bigint AS h71,
    (sum(h72))::bigint AS h72,
    (sum(h73))::bigint AS h73,
    (sum(h74))::bigint AS h74,
    (sum(h75))::bigint AS h75,
    (sum(h76))::bigint AS h76,
    (sum(h77))::bigint AS h77,
    (sum(h78))::bigint AS h78,
    (sum(h79))::bigint AS h79,
    (sum(h80))::bigint AS h80,
    (sum(h81))::bigint AS h81,
    (sum(h82))::bigint AS h82,
    (sum(h83))::bigint AS h83
   FROM analytics_api_latency_hourly_v0002
  WHERE true
  GROUP BY (time_bucket('1 day'::interval, hour)), service, endpoint, method;

CREATE MATERIALIZED VIEW analytics_api_latency_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('01:00:00'::interval, "timestamp") AS hour,
    service,
    COALESCE((data ->> 'endpoint'::text), ''::text) AS endpoint,
    COALESCE((data ->> 'method'::text), ''::text) AS method,
    count(*) AS requests,
    sum(((1.0)::double precision / COALESCE(NULLIF((analytics_json_number(((data -> '_meta'::text) -> 'sample_rate'::text), (0)::numeric, (1)::numeric))::double precision, (0)::double precision), (1)::double precision))) AS requests_estimated,
    count(*) FILTER (WHERE (analytics_json_number((data -> 'status_code'::text), (400)::numeric, (499)::numeric) IS NOT NULL)) AS errors_4xx,
    count(*) FILTER (WHERE (analytics_json_number((data -> 'status_code'::text), (500)::numeric, (599)::numeric) IS NOT NULL)) AS errors_5xx,
    count(analytics_json_duration((data -> 'duration_ms'::text))) AS duration_count,
    (COALESCE(sum(analytics_json_duration((data -> 'duration_ms'::text))), (0)::numeric))::double precision AS duration_sum_ms,
    (max(analytics_json_duration((data -> 'duration_ms'::text))))::double precision AS duration_max_ms
   FROM analytics_events
  WHERE (true AND ((event_type)::text = 'api_request'::text))
  GROUP BY (time_bucket('01:00:00'::interval, "timestamp")), service, COALESCE((data ->> 'endpoint'::text), ''::text), COALESCE((data ->> 'method'::text), ''::text);

CREATE MATERIALIZED VIEW analytics_api_latency_hourly_v0002 WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('01:00:00'::interval, "timestamp") AS hour,
    service,
    COALESCE((data ->> 'endpoint'::text), ''::text) AS endpoint,
    COALESCE((data ->> 'method'::text), ''::text) AS method,
    count(*) AS requests,
    sum(((1.0)::double precision / COALESCE(NULLIF((((data -> '_meta'::text) ->> 'sample_rate'::text))::double precision, (0)::double precision), (1)::double precision))) AS requests_estimated,
    count(*) FILTER (WHERE ((((data ->> 'status_code'::text))::integer >= 400) AND (((data ->> 'status_code'::text))::integer <= 499))) AS errors_4xx,
    count(*) FILTER (WHERE (((data ->> 'status_code'::text))::integer >= 500)) AS errors_5xx,
    (COALESCE(sum(((data ->> 'duration_ms'::text))::numeric), (0)::numeric))::bigint AS duration_sum_ms,
    (max(((data ->> 'duration_ms'::text))::numeric))::bigint AS duration_max_ms,
    count(*) FILTER (WHERE (((data ->> 'duration_ms'::text))::numeric < (1)::numeric)) AS h00,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (2)::numeric))) AS h01,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (2)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (3)::numeric))) AS h02,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (3)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (4)::numeric))) AS h03,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (4)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (5)::numeric))) AS h04,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (5)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (6)::numeric))) AS h05,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (6)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (7)::numeric))) AS h06,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (7)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (8)::numeric))) AS h07,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (8)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (9)::numeric))) AS h08,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (9)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (10)::numeric))) AS h09,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (10)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (12)::numeric))) AS h10,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (12)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (15)::numeric))) AS h11,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (15)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (18)::numeric))) AS h12,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (18)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (22)::numeric))) AS h13,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (22)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (27)::numeric))) AS h14,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (27)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (33)::numeric))) AS h15,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (33)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (41)::numeric))) AS h16,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (41)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (51)::numeric))) AS h17,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (51)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (63)::numeric))) AS h18,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (63)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (78)::numeric))) AS h19,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (78)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (97)::numeric))) AS h20,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (97)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (121)::numeric))) AS h21,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (121)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (151)::numeric))) AS h22,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (151)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (188)::numeric))) AS h23,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (188)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (235)::numeric))) AS h24,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (235)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (293)::numeric))) AS h25,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (293)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (366)::numeric))) AS h26,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (366)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (457)::numeric))) AS h27,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (457)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (571)::numeric))) AS h28,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (571)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (713)::numeric))) AS h29,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (713)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (891)::numeric))) AS h30,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (891)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (1113)::numeric))) AS h31,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1113)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (1391)::numeric))) AS h32,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1391)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (1738)::numeric))) AS h33,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1738)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (2172)::numeric))) AS h34,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (2172)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (2715)::numeric))) AS h35,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (2715)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (3393)::numeric))) AS h36,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (3393)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (4241)::numeric))) AS h37,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (4241)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (5301)::numeric))) AS h38,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (5301)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (6626)::numeric))) AS h39,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (6626)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (8282)::numeric))) AS h40,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (8282)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (10352)::numeric))) AS h41,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (10352)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (12940)::numeric))) AS h42,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (12940)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (16175)::numeric))) AS h43,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (16175)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (20218)::numeric))) AS h44,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (20218)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (25272)::numeric))) AS h45,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (25272)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (31590)::numeric))) AS h46,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (31590)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (39487)::numeric))) AS h47,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (39487)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (49358)::numeric))) AS h48,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (49358)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (61697)::numeric))) AS h49,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (61697)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (77121)::numeric))) AS h50,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (77121)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (96401)::numeric))) AS h51,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (96401)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (120501)::numeric))) AS h52,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (120501)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (150626)::numeric))) AS h53,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (150626)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (188282)::numeric))) AS h54,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (188282)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (235352)::numeric))) AS h55,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (235352)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (294190)::numeric))) AS h56,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (294190)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (367737)::numeric))) AS h57,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (367737)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (459671)::numeric))) AS h58,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (459671)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (574588)::numeric))) AS h59,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (574588)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (718235)::numeric))) AS h60,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (718235)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (897793)::numeric))) AS h61,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (897793)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (1122241)::numeric))) AS h62,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1122241)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (1402801)::numeric))) AS h63,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1402801)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (1753501)::numeric))) AS h64,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (1753501)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (2191876)::numeric))) AS h65,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (2191876)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (2739845)::numeric))) AS h66,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (2739845)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (3424806)::numeric))) AS h67,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (3424806)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (4281007)::numeric))) AS h68,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (4281007)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (5351258)::numeric))) AS h69,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (5351258)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (6689072)::numeric))) AS h70,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (6689072)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (8361340)::numeric))) AS h71,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (8361340)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (10451675)::numeric))) AS h72,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (10451675)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (13064593)::numeric))) AS h73,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (13064593)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (16330741)::numeric))) AS h74,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (16330741)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (20413426)::numeric))) AS h75,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (20413426)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (25516782)::numeric))) AS h76,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (25516782)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (31895977)::numeric))) AS h77,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (31895977)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (39869971)::numeric))) AS h78,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (39869971)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (49837463)::numeric))) AS h79,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (49837463)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (62296828)::numeric))) AS h80,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (62296828)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (77871035)::numeric))) AS h81,
    count(*) FILTER (WHERE ((((data ->> 'duration_ms'::text))::numeric >= (77871035)::numeric) AND (((data ->> 'duration_ms'::text))::numeric < (97338793)::numeric))) AS h82,
    count(*) FILTER (WHERE (((data ->> 'duration_ms'::text))::numeric >= (97338793)::numeric)) AS h83
   FROM analytics_events
  WHERE (true AND ((event_type)::text = 'api_request'::text))
  GROUP BY (time_bucket('01:00:00'::interval, "timestamp")), service, COALESCE((data ->> 'endpoint'::text), ''::text), COALESCE((data ->> 'method'::text), ''::text);

CREATE MATERIALIZED VIEW analytics_auth_events_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    count(*) FILTER (WHERE ((event_type)::text = 'auth_login_attempt'::text)) AS login_attempts,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_login_attempt'::text) AND ((data -> 'success'::text) = 'true'::jsonb))) AS login_success,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_login_attempt'::text) AND ((data -> 'success'::text) = 'false'::jsonb))) AS login_failed,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_code_verified'::text) AND ((data -> 'success'::text) = 'true'::jsonb))) AS codes_verified,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_code_verified'::text) AND ((data -> 'success'::text) = 'false'::jsonb))) AS codes_failed,
    count(*) FILTER (WHERE ((event_type)::text = 'auth_token_refresh'::text)) AS token_refreshes,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_token_refresh'::text) AND ((data -> 'success'::text) = 'false'::jsonb))) AS token_refresh_failed,
    count(*) FILTER (WHERE ((event_type)::text = 'auth_session_validated'::text)) AS sessions_validated,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_session_validated'::text) AND ((data -> 'valid'::text) = 'false'::jsonb))) AS sessions_invalid
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['auth_login_attempt'::character varying, 'auth_code_verified'::character varying, 'auth_token_refresh'::character varying, 'auth_session_validated'::character varying])::text[])))
  GROUP BY (time_bucket('1 day'::interval, "timestamp"));

CREATE MATERIALIZED VIEW analytics_auth_events_daily_v0002 WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    count(*) FILTER (WHERE ((event_type)::text = 'auth_login_attempt'::text)) AS login_attempts,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_login_attempt'::text) AND ((data ->> 'success'::text))::boolean)) AS login_success,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_login_attempt'::text) AND (NOT ((data ->> 'success'::text))::boolean))) AS login_failed,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_code_verified'::text) AND ((data ->> 'success'::text))::boolean)) AS codes_verified,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_code_verified'::text) AND (NOT ((data ->> 'success'::text))::boolean))) AS codes_failed,
    count(*) FILTER (WHERE ((event_type)::text = 'auth_token_refresh'::text)) AS token_refreshes,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_token_refresh'::text) AND (NOT ((data ->> 'success'::text))::boolean))) AS token_refresh_failed,
    count(*) FILTER (WHERE ((event_type)::text = 'auth_session_validated'::text)) AS sessions_validated,
    count(*) FILTER (WHERE (((event_type)::text = 'auth_session_validated'::text) AND (NOT ((data ->> 'valid'::text))::boolean))) AS sessions_invalid
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['auth_login_attempt'::character varying, 'auth_code_verified'::character varying, 'auth_token_refresh'::character varying, 'auth_session_validated'::character varying])::text[])))
  GROUP BY (time_bucket('1 day'::interval, "timestamp"));

CREATE MATERIALIZED VIEW analytics_cocoon_activity_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_registered'::text)) AS registered,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_connected'::text)) AS connected,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_disconnected'::text)) AS disconnected,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_claimed'::text)) AS claimed,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_setup_token_created'::text)) AS setup_tokens_created,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_setup_token_used'::text)) AS setup_tokens_used,
    (COALESCE(sum(analytics_json_duration((data -> 'session_duration_ms'::text))) FILTER (WHERE ((event_type)::text = 'cocoon_disconnected'::text)), (0)::numeric))::double precision AS session_duration_sum_ms
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['cocoon_registered'::character varying, 'cocoon_connected'::character varying, 'cocoon_disconnected'::character varying, 'cocoon_claimed'::character varying, 'cocoon_setup_token_created'::character varying, 'cocoon_setup_token_used'::character varying])::text[])))
  GROUP BY (time_bucket('1 day'::interval, "timestamp"));

CREATE MATERIALIZED VIEW analytics_cocoon_activity_daily_v0002 WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_registered'::text)) AS registered,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_connected'::text)) AS connected,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_disconnected'::text)) AS disconnected,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_claimed'::text)) AS claimed,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_setup_token_created'::text)) AS setup_tokens_created,
    count(*) FILTER (WHERE ((event_type)::text = 'cocoon_setup_token_used'::text)) AS setup_tokens_used,
    (COALESCE(sum(((data ->> 'session_duration_ms'::text))::numeric) FILTER (WHERE ((event_type)::text = 'cocoon_disconnected'::text)), (0)::numeric))::bigint AS session_duration_sum_ms
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['cocoon_registered'::character varying, 'cocoon_connected'::character varying, 'cocoon_disconnected'::character varying, 'cocoon_claimed'::character varying, 'cocoon_setup_token_created'::character varying, 'cocoon_setup_token_used'::character varying])::text[])))
  GROUP BY (time_bucket('1 day'::interval, "timestamp"));

CREATE MATERIALIZED VIEW analytics_daily_active_users WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    user_id,
    count(*) AS events
   FROM analytics_events
  WHERE (true AND (user_id IS NOT NULL))
  GROUP BY (time_bucket('1 day'::interval, "timestamp")), user_id;

CREATE MATERIALIZED VIEW analytics_errors_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('01:00:00'::interval, "timestamp") AS hour,
    service,
    COALESCE((data ->> 'error_type'::text), ''::text) AS error_type,
    count(*) AS errors,
    min("left"((data ->> 'message'::text), 500)) AS sample_message
   FROM analytics_events
  WHERE (true AND ((event_type)::text = 'application_error'::text))
  GROUP BY (time_bucket('01:00:00'::interval, "timestamp")), service, COALESCE((data ->> 'error_type'::text), ''::text);

CREATE MATERIALIZED VIEW analytics_event_trends_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS bucket,
    (event_type)::text AS event_type,
    (service)::text AS service,
    count(*) AS events,
    count(DISTINCT user_id) AS users
   FROM analytics_events
  WHERE true
  GROUP BY (time_bucket('1 day'::interval, "timestamp")), (event_type)::text, (service)::text;

CREATE MATERIALIZED VIEW analytics_event_trends_hourly WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('01:00:00'::interval, "timestamp") AS bucket,
    (event_type)::text AS event_type,
    (service)::text AS service,
    count(*) AS events,
    count(DISTINCT user_id) AS users
   FROM analytics_events
  WHERE true
  GROUP BY (time_bucket('01:00:00'::interval, "timestamp")), (event_type)::text, (service)::text;

CREATE MATERIALIZED VIEW analytics_integration_health_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    (data ->> 'provider'::text) AS provider,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_connected'::text)) AS connected,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_disconnected'::text)) AS disconnected,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_used'::text)) AS used,
    count(*) FILTER (WHERE (((event_type)::text = 'integration_used'::text) AND ((data -> 'success'::text) = 'true'::jsonb))) AS used_success,
    count(*) FILTER (WHERE (((event_type)::text = 'integration_used'::text) AND ((data -> 'success'::text) = 'false'::jsonb))) AS used_failed,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_error'::text)) AS errors,
    count(*) FILTER (WHERE ((event_type)::text = 'oauth_flow_started'::text)) AS oauth_started,
    count(*) FILTER (WHERE (((event_type)::text = 'oauth_flow_completed'::text) AND ((data -> 'success'::text) = 'true'::jsonb))) AS oauth_completed,
    count(*) FILTER (WHERE (((event_type)::text = 'oauth_flow_completed'::text) AND ((data -> 'success'::text) = 'false'::jsonb))) AS oauth_failed,
    (COALESCE(sum(analytics_json_duration((data -> 'duration_ms'::text))) FILTER (WHERE ((event_type)::text = 'integration_used'::text)), (0)::numeric))::double precision AS used_duration_sum_ms
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['integration_connected'::character varying, 'integration_disconnected'::character varying, 'integration_used'::character varying, 'integration_error'::character varying, 'oauth_flow_started'::character varying, 'oauth_flow_completed'::character varying])::text[])) AND (data ? 'provider'::text))
  GROUP BY (time_bucket('1 day'::interval, "timestamp")), (data ->> 'provider'::text);

CREATE MATERIALIZED VIEW analytics_integration_health_daily_v0002 WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    (data ->> 'provider'::text) AS provider,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_connected'::text)) AS connected,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_disconnected'::text)) AS disconnected,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_used'::text)) AS used,
    count(*) FILTER (WHERE (((event_type)::text = 'integration_used'::text) AND ((data ->> 'success'::text))::boolean)) AS used_success,
    count(*) FILTER (WHERE (((event_type)::text = 'integration_used'::text) AND (NOT ((data ->> 'success'::text))::boolean))) AS used_failed,
    count(*) FILTER (WHERE ((event_type)::text = 'integration_error'::text)) AS errors,
    count(*) FILTER (WHERE ((event_type)::text = 'oauth_flow_started'::text)) AS oauth_started,
    count(*) FILTER (WHERE (((event_type)::text = 'oauth_flow_completed'::text) AND ((data ->> 'success'::text))::boolean)) AS oauth_completed,
    count(*) FILTER (WHERE (((event_type)::text = 'oauth_flow_completed'::text) AND (NOT ((data ->> 'success'::text))::boolean))) AS oauth_failed,
    (COALESCE(sum(((data ->> 'duration_ms'::text))::numeric) FILTER (WHERE ((event_type)::text = 'integration_used'::text)), (0)::numeric))::bigint AS used_duration_sum_ms
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['integration_connected'::character varying, 'integration_disconnected'::character varying, 'integration_used'::character varying, 'integration_error'::character varying, 'oauth_flow_started'::character varying, 'oauth_flow_completed'::character varying])::text[])) AND (data ? 'provider'::text))
  GROUP BY (time_bucket('1 day'::interval, "timestamp")), (data ->> 'provider'::text);

CREATE MATERIALIZED VIEW analytics_task_stats_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    count(*) FILTER (WHERE ((event_type)::text = 'task_created'::text)) AS created,
    count(*) FILTER (WHERE ((event_type)::text = 'task_started'::text)) AS started,
    count(*) FILTER (WHERE ((event_type)::text = 'task_completed'::text)) AS completed,
    count(*) FILTER (WHERE ((event_type)::text = 'task_failed'::text)) AS failed,
    count(*) FILTER (WHERE ((event_type)::text = 'task_cancelled'::text)) AS cancelled,
    count(analytics_json_duration((data -> 'duration_ms'::text))) FILTER (WHERE ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[]))) AS duration_count,
    (COALESCE(sum(analytics_json_duration((data -> 'duration_ms'::text))) FILTER (WHERE ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[]))), (0)::numeric))::double precision AS duration_sum_ms,
    (max(analytics_json_duration((data -> 'duration_ms'::text))) FILTER (WHERE ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[]))))::double precision AS duration_max_ms
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['task_created'::character varying, 'task_started'::character varying, 'task_completed'::character varying, 'task_failed'::character varying, 'task_cancelled'::character varying])::text[])))
  GROUP BY (time_bucket('1 day'::interval, "timestamp"));

CREATE MATERIALIZED VIEW analytics_task_stats_daily_v0002 WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('1 day'::interval, "timestamp") AS day,
    count(*) FILTER (WHERE ((event_type)::text = 'task_created'::text)) AS created,
    count(*) FILTER (WHERE ((event_type)::text = 'task_started'::text)) AS started,
    count(*) FILTER (WHERE ((event_type)::text = 'task_completed'::text)) AS completed,
    count(*) FILTER (WHERE ((event_type)::text = 'task_failed'::text)) AS failed,
    count(*) FILTER (WHERE ((event_type)::text = 'task_cancelled'::text)) AS cancelled,
    count(((data ->> 'duration_ms'::text))::numeric) FILTER (WHERE ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[]))) AS duration_count,
    (COALESCE(sum(((data ->> 'duration_ms'::text))::numeric) FILTER (WHERE ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[]))), (0)::numeric))::bigint AS duration_sum_ms,
    (max(((data ->> 'duration_ms'::text))::numeric) FILTER (WHERE ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[]))))::bigint AS duration_max_ms,
    count(*) FILTER (WHERE (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1)::numeric)) AS h00,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (2)::numeric))) AS h01,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (2)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (3)::numeric))) AS h02,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (3)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (4)::numeric))) AS h03,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (4)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (5)::numeric))) AS h04,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (5)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (6)::numeric))) AS h05,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (6)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (7)::numeric))) AS h06,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (7)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (8)::numeric))) AS h07,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (8)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (9)::numeric))) AS h08,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (9)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (10)::numeric))) AS h09,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (10)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (12)::numeric))) AS h10,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (12)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (15)::numeric))) AS h11,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (15)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (18)::numeric))) AS h12,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (18)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (22)::numeric))) AS h13,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (22)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (27)::numeric))) AS h14,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (27)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (33)::numeric))) AS h15,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (33)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (41)::numeric))) AS h16,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (41)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (51)::numeric))) AS h17,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (51)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (63)::numeric))) AS h18,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (63)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (78)::numeric))) AS h19,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (78)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (97)::numeric))) AS h20,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (97)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (121)::numeric))) AS h21,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (121)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (151)::numeric))) AS h22,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (151)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (188)::numeric))) AS h23,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (188)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (235)::numeric))) AS h24,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (235)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (293)::numeric))) AS h25,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (293)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (366)::numeric))) AS h26,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (366)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (457)::numeric))) AS h27,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (457)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (571)::numeric))) AS h28,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (571)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (713)::numeric))) AS h29,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (713)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (891)::numeric))) AS h30,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (891)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1113)::numeric))) AS h31,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1113)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1391)::numeric))) AS h32,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1391)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1738)::numeric))) AS h33,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1738)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (2172)::numeric))) AS h34,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (2172)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (2715)::numeric))) AS h35,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (2715)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (3393)::numeric))) AS h36,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (3393)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (4241)::numeric))) AS h37,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (4241)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (5301)::numeric))) AS h38,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (5301)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (6626)::numeric))) AS h39,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (6626)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (8282)::numeric))) AS h40,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (8282)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (10352)::numeric))) AS h41,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (10352)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (12940)::numeric))) AS h42,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (12940)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (16175)::numeric))) AS h43,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (16175)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (20218)::numeric))) AS h44,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (20218)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (25272)::numeric))) AS h45,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (25272)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (31590)::numeric))) AS h46,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (31590)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (39487)::numeric))) AS h47,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (39487)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (49358)::numeric))) AS h48,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (49358)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (61697)::numeric))) AS h49,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (61697)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (77121)::numeric))) AS h50,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (77121)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (96401)::numeric))) AS h51,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (96401)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (120501)::numeric))) AS h52,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (120501)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (150626)::numeric))) AS h53,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (150626)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (188282)::numeric))) AS h54,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (188282)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (235352)::numeric))) AS h55,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (235352)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (294190)::numeric))) AS h56,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (294190)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (367737)::numeric))) AS h57,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (367737)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (459671)::numeric))) AS h58,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (459671)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (574588)::numeric))) AS h59,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (574588)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (718235)::numeric))) AS h60,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (718235)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (897793)::numeric))) AS h61,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (897793)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1122241)::numeric))) AS h62,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1122241)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1402801)::numeric))) AS h63,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1402801)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (1753501)::numeric))) AS h64,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (1753501)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (2191876)::numeric))) AS h65,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (2191876)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (2739845)::numeric))) AS h66,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (2739845)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (3424806)::numeric))) AS h67,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (3424806)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (4281007)::numeric))) AS h68,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (4281007)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (5351258)::numeric))) AS h69,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (5351258)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (6689072)::numeric))) AS h70,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (6689072)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (8361340)::numeric))) AS h71,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (8361340)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (10451675)::numeric))) AS h72,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (10451675)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (13064593)::numeric))) AS h73,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (13064593)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (16330741)::numeric))) AS h74,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (16330741)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (20413426)::numeric))) AS h75,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (20413426)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (25516782)::numeric))) AS h76,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (25516782)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (31895977)::numeric))) AS h77,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (31895977)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (39869971)::numeric))) AS h78,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (39869971)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (49837463)::numeric))) AS h79,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (49837463)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (62296828)::numeric))) AS h80,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (62296828)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (77871035)::numeric))) AS h81,
    count(*) FILTER (WHERE ((
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (77871035)::numeric) AND (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END < (97338793)::numeric))) AS h82,
    count(*) FILTER (WHERE (
        CASE
            WHEN ((event_type)::text = ANY ((ARRAY['task_completed'::character varying, 'task_failed'::character varying])::text[])) THEN ((data ->> 'duration_ms'::text))::numeric
            ELSE NULL::numeric
        END >= (97338793)::numeric)) AS h83
   FROM analytics_events
  WHERE (true AND ((event_type)::text = ANY ((ARRAY['task_created'::character varying, 'task_started'::character varying, 'task_completed'::character varying, 'task_failed'::character varying, 'task_cancelled'::character varying])::text[])))
  GROUP BY (time_bucket('1 day'::interval, "timestamp"));

CREATE MATERIALIZED VIEW analytics_weekly_active_users WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
SELECT time_bucket('7 days'::interval, day) AS week,
    user_id
   FROM analytics_daily_active_users
  GROUP BY (time_bucket('7 days'::interval, day)), user_id;

-- sequence analytics_alert_deliveries_id_seq
-- sequence analytics_alert_history_id_seq
-- sequence analytics_dead_letters_id_seq
-- sequence analytics_events_id_seq

CREATE OR REPLACE PROCEDURE analytics_active_users_job(IN job_id integer, IN config jsonb)
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $procedure$
BEGIN
    PERFORM analytics_refresh_active_users(now() - INTERVAL '3 days', now() + INTERVAL '1 day');
END
$procedure$;

CREATE OR REPLACE PROCEDURE analytics_distributions_job(IN job_id integer, IN config jsonb)
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $procedure$
BEGIN
    IF NOT pg_try_advisory_xact_lock(7236912002) THEN
        RAISE NOTICE 'analytics_distributions_job: maintenance is running; it refreshes this window';
        RETURN;
    END IF;
    PERFORM analytics_refresh_distributions(now() - INTERVAL '3 days', now() + INTERVAL '1 day');
END
$procedure$;

CREATE OR REPLACE FUNCTION analytics_hist_key(v numeric)
 RETURNS smallint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
SELECT CASE WHEN v IS NULL OR v > 100000000000 THEN NULL
            WHEN v < 0.001 THEN (-32768)::smallint
            ELSE ceil(ln(v::float8) / 0.020000666706669435::float8)::smallint END
$function$;

CREATE OR REPLACE FUNCTION analytics_hist_quantile_key(keys smallint[], counts bigint[], q double precision)
 RETURNS smallint
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
SELECT k FROM (
    SELECT u.k, sum(u.c) OVER (ORDER BY u.k) AS cum, sum(u.c) OVER () AS total
    FROM unnest(keys, counts) AS u(k, c)
) s
WHERE s.cum >= greatest(1, ceil(q * s.total::float8 - 1e-9))
ORDER BY s.k
LIMIT 1
$function$;

CREATE OR REPLACE FUNCTION analytics_hist_unpack(keys bytea, cum bytea)
 RETURNS TABLE(k smallint, c bigint)
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
SELECT s.k::smallint, s.n - coalesce(lag(s.n) OVER (ORDER BY s.i), 0)
FROM (
    SELECT i,
           CASE WHEN (get_byte(keys, 2 * i) << 8 | get_byte(keys, 2 * i + 1)) >= 32768
                THEN (get_byte(keys, 2 * i) << 8 | get_byte(keys, 2 * i + 1)) - 65536
                ELSE (get_byte(keys, 2 * i) << 8 | get_byte(keys, 2 * i + 1)) END AS k,
           ('x' || encode(substring(cum FROM 8 * i + 1 FOR 8), 'hex'))::bit(64)::bigint AS n
    FROM generate_series(0, length(keys) / 2 - 1) AS i
) s
$function$;

CREATE OR REPLACE FUNCTION analytics_json_duration(j jsonb)
 RETURNS numeric
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
           CASE WHEN j::numeric > 100000000000 THEN NULL
                WHEN j::numeric < 0 THEN 0
                ELSE j::numeric END
       END
$function$;

CREATE OR REPLACE FUNCTION analytics_json_number(j jsonb, lo numeric, hi numeric)
 RETURNS numeric
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$
SELECT CASE WHEN jsonb_typeof(j) = 'number' THEN
           CASE WHEN j::numeric BETWEEN lo AND hi THEN j::numeric END
       END
$function$;

CREATE OR REPLACE FUNCTION analytics_refresh_active_users(p_from timestamp with time zone, p_to timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    hi TIMESTAMPTZ := least(
        date_bin(INTERVAL '1 day', p_to - INTERVAL '1 microsecond',
                 TIMESTAMPTZ '2000-01-03 00:00:00+00') + INTERVAL '720 hours',
        date_bin(INTERVAL '1 day', now(), TIMESTAMPTZ '2000-01-03 00:00:00+00')
            + INTERVAL '24 hours');
    n INTEGER;
BEGIN
    IF lo >= hi THEN
        RETURN 0;
    END IF;
    DELETE FROM analytics_active_users_daily WHERE day >= lo AND day < hi;
    INSERT INTO analytics_active_users_daily (day, dau, wau, mau)
    WITH act AS (
        SELECT day, lead(day) OVER (PARTITION BY user_id ORDER BY day) AS next_day
        FROM analytics_daily_active_users
        WHERE day > lo - INTERVAL '720 hours' AND day < hi
    ), ev AS (
        SELECT day AS d, 1 AS dd, 1 AS dw, 1 AS dm FROM act
        UNION ALL SELECT day + INTERVAL '24 hours', -1, 0, 0 FROM act
        UNION ALL SELECT least(day + INTERVAL '168 hours', next_day), 0, -1, 0 FROM act
        UNION ALL SELECT least(day + INTERVAL '720 hours', next_day), 0, 0, -1 FROM act
    ), per_day AS (
        SELECT d, sum(dd) AS dd, sum(dw) AS dw, sum(dm) AS dm FROM ev GROUP BY d
    ), series AS (
        SELECT s.day,
               sum(coalesce(p.dd, 0)) OVER w AS dau,
               sum(coalesce(p.dw, 0)) OVER w AS wau,
               sum(coalesce(p.dm, 0)) OVER w AS mau
        FROM generate_series(lo - INTERVAL '744 hours', hi - INTERVAL '24 hours',
                             INTERVAL '24 hours') AS s(day)
        LEFT JOIN per_day p ON p.d = s.day
        WINDOW w AS (ORDER BY s.day)
    )
    SELECT day, dau, wau, mau FROM series WHERE day >= lo;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$function$;

CREATE OR REPLACE FUNCTION analytics_refresh_cumulative(p_from timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public'
 SET jit TO 'off'
AS $function$
DECLARE
    origin CONSTANT TIMESTAMPTZ := TIMESTAMPTZ '2000-01-03 00:00:00+00';
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin);
    -- the forward maxima of the 511 days before lo see lo's rows (absolute hours: no
    -- time zone can make these days 23 or 25 hours long)
    reach TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin) - INTERVAL '12264 hours';
    lv RECORD;
    d TIMESTAMPTZ;
    total INTEGER := 0;
    cnt INTEGER;
    q TEXT;
    j INTEGER;
BEGIN
    DROP TABLE IF EXISTS pg_temp.analytics_cum_state;
    CREATE TEMP TABLE analytics_cum_state (
        s TEXT NOT NULL, e TEXT NOT NULL, m TEXT NOT NULL, k SMALLINT NOT NULL,
        n BIGINT NOT NULL, PRIMARY KEY (s, e, m, k)
    ) ON COMMIT DROP;
    FOR lv IN
        SELECT * FROM (VALUES
            ('analytics_cum_api_total', 'analytics_api_day_total',
             $$'', '', ''$$, '', '', 'TRUE', 'TRUE'),
            ('analytics_cum_api_service', 'analytics_api_day_service',
             $$service, '', ''$$, 'service, ', 's, ',
             't.service = g.s', 'c.service = x.s'),
            ('analytics_cum_api_endpoint', 'analytics_api_day_endpoint',
             'service, endpoint, method', 'service, endpoint, method, ', 's, e, m, ',
             't.service = g.s AND t.endpoint = g.e AND t.method = g.m',
             'c.service = x.s AND c.endpoint = x.e AND c.method = x.m')
        ) AS t(cum, src, sem, cols, vals, tjoin, cjoin)
    LOOP
        EXECUTE format('DELETE FROM %I WHERE bucket >= $1', lv.cum) USING lo;
        TRUNCATE analytics_cum_state;
        -- Each group's distribution just before lo: its latest row before lo.
        EXECUTE format($q$
            INSERT INTO analytics_cum_state (s, e, m, k, n)
            SELECT last.s, last.e, last.m, u.k, u.c
            FROM (
                SELECT DISTINCT ON (1, 2, 3) %2$s AS s, hist_keys, hist_cum
                FROM %1$I WHERE bucket < $1 ORDER BY 1, 2, 3, bucket DESC
            ) AS last(s, e, m, hist_keys, hist_cum),
            LATERAL analytics_hist_unpack(last.hist_keys, last.hist_cum) AS u
        $q$, lv.cum, lv.sem) USING lo;
        FOR d IN EXECUTE format('SELECT DISTINCT bucket FROM %I WHERE bucket >= $1 ORDER BY 1',
                                lv.src) USING lo
        LOOP
            EXECUTE format($q$
                INSERT INTO analytics_cum_state (s, e, m, k, n)
                SELECT %2$s, u.k, u.c
                FROM %1$I AS r, unnest(r.hist_keys, r.hist_counts) AS u(k, c)
                WHERE r.bucket = $1
                ON CONFLICT (s, e, m, k) DO UPDATE SET n = analytics_cum_state.n + excluded.n
            $q$, lv.src, lv.sem) USING d;
            -- one row per group of the day, with or without values so far
            EXECUTE format($q$
                INSERT INTO %1$I (%4$s bucket, hist_keys, hist_cum)
                SELECT %5$s $1,
                       coalesce(string_agg(int2send(k), ''::bytea ORDER BY k), ''::bytea),
                       coalesce(string_agg(int8send(run), ''::bytea ORDER BY k), ''::bytea)
                FROM (
                    SELECT g.s, g.e, g.m, st.k,
                           sum(st.n) OVER (PARTITION BY g.s, g.e, g.m ORDER BY st.k)::bigint
                               AS run
                    FROM (SELECT DISTINCT %3$s FROM %2$I WHERE bucket = $1) AS g(s, e, m)
                    LEFT JOIN analytics_cum_state st
                      ON g.s = st.s AND g.e = st.e AND g.m = st.m
                ) x
                GROUP BY s, e, m
            $q$, lv.cum, lv.src, lv.sem, lv.cols, lv.vals) USING d;
            GET DIAGNOSTICS cnt = ROW_COUNT;
            total := total + cnt;
        END LOOP;

        -- Counts and maxima. The daily rows from `reach` on, laid out densely per group
        -- (a row for every day between its first and last, NULL maximum on days without
        -- a row), so the 2^j-day windows are built level by level with lead/lag:
        -- F_j(d) = greatest(F_(j-1)(d), F_(j-1)(d + 2^(j-1))), B_j likewise backwards.
        q := format($q$
            WITH r(s, e, m, bucket, requests, requests_estimated, errors_4xx, errors_5xx,
                   duration_count, duration_sum_ms, duration_max_ms, nxt) AS (
                SELECT %2$s, bucket, requests, requests_estimated, errors_4xx, errors_5xx,
                       duration_count, duration_sum_ms, duration_max_ms,
                       lead(bucket) OVER (PARTITION BY %2$s ORDER BY bucket) AS nxt
                FROM %1$I WHERE bucket >= $1
            )
            SELECT s, e, m, bucket, TRUE AS present, requests, requests_estimated,
                   errors_4xx, errors_5xx, duration_count, duration_sum_ms,
                   duration_max_ms AS f0, duration_max_ms AS b0
            FROM r
            UNION ALL
            SELECT s, e, m, day, FALSE, NULL::bigint, NULL::float8, NULL::bigint,
                   NULL::bigint, NULL::bigint, NULL::float8, NULL::float8, NULL::float8
            FROM r, generate_series(r.bucket + INTERVAL '24 hours', r.nxt - INTERVAL '24 hours',
                                    INTERVAL '24 hours') AS day
            WHERE r.nxt > r.bucket + INTERVAL '24 hours'
        $q$, lv.src, lv.sem);
        FOR j IN 1..9 LOOP
            q := format($q$
                SELECT *, greatest(f%1$s, lead(f%1$s, %2$s) OVER w) AS f%3$s,
                          greatest(b%1$s, lag(b%1$s, %2$s) OVER w) AS b%3$s
                FROM (%4$s) AS l%3$s
                WINDOW w AS (PARTITION BY s, e, m ORDER BY bucket)
            $q$, j - 1, 1 << (j - 1), j, q);
        END LOOP;
        EXECUTE format($q$
            WITH dense AS MATERIALIZED (%3$s),
            base AS (
                SELECT g.s, g.e, g.m, t.requests, t.requests_estimated, t.errors_4xx,
                       t.errors_5xx, t.duration_count, t.duration_sum_ms
                FROM (SELECT DISTINCT s, e, m FROM dense) AS g
                JOIN LATERAL (
                    SELECT * FROM %1$I AS t WHERE %4$s AND t.bucket < $1
                    ORDER BY t.bucket DESC LIMIT 1
                ) AS t ON TRUE
            ),
            x AS (
                SELECT d.s, d.e, d.m, d.bucket,
                       coalesce(b.requests, 0) + sum(d.requests) OVER w AS requests,
                       coalesce(b.requests_estimated, 0) + sum(d.requests_estimated) OVER w
                           AS requests_estimated,
                       coalesce(b.errors_4xx, 0) + sum(d.errors_4xx) OVER w AS errors_4xx,
                       coalesce(b.errors_5xx, 0) + sum(d.errors_5xx) OVER w AS errors_5xx,
                       coalesce(b.duration_count, 0) + sum(d.duration_count) OVER w
                           AS duration_count,
                       coalesce(b.duration_sum_ms, 0) + sum(d.duration_sum_ms) OVER w
                           AS duration_sum_ms,
                       ARRAY[f0, f1, f2, f3, f4, f5, f6, f7, f8, f9] AS max_fwd,
                       ARRAY[b0, b1, b2, b3, b4, b5, b6, b7, b8, b9] AS max_bwd
                FROM dense AS d
                LEFT JOIN base AS b ON b.s = d.s AND b.e = d.e AND b.m = d.m
                WHERE d.present
                WINDOW w AS (PARTITION BY d.s, d.e, d.m ORDER BY d.bucket)
            )
            UPDATE %1$I AS c
            SET requests = x.requests, requests_estimated = x.requests_estimated,
                errors_4xx = x.errors_4xx, errors_5xx = x.errors_5xx,
                duration_count = x.duration_count, duration_sum_ms = x.duration_sum_ms,
                max_fwd = x.max_fwd,
                -- before lo the backward windows reach below `reach`: keep those
                max_bwd = CASE WHEN x.bucket >= $2 THEN x.max_bwd ELSE c.max_bwd END
            FROM x
            WHERE %5$s AND c.bucket = x.bucket
              AND (c.requests, c.requests_estimated, c.errors_4xx, c.errors_5xx,
                   c.duration_count, c.duration_sum_ms, c.max_fwd,
                   CASE WHEN x.bucket >= $2 THEN c.max_bwd END)
                  IS DISTINCT FROM
                  (x.requests, x.requests_estimated, x.errors_4xx, x.errors_5xx,
                   x.duration_count, x.duration_sum_ms, x.max_fwd,
                   CASE WHEN x.bucket >= $2 THEN x.max_bwd END)
        $q$, lv.cum, lv.src, q, lv.tjoin, lv.cjoin) USING reach, lo;
    END LOOP;
    DROP TABLE pg_temp.analytics_cum_state;
    RETURN total;
END
$function$;

CREATE OR REPLACE FUNCTION analytics_refresh_distributions(p_from timestamp with time zone, p_to timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    n INTEGER;
BEGIN
    n := analytics_refresh_distributions_0004(p_from, p_to);
    IF p_from < p_to THEN
        n := n + analytics_refresh_cumulative(p_from);
    END IF;
    RETURN n;
END
$function$;

CREATE OR REPLACE FUNCTION analytics_refresh_distributions_0004(p_from timestamp with time zone, p_to timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    origin CONSTANT TIMESTAMPTZ := TIMESTAMPTZ '2000-01-03 00:00:00+00';
    lo TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_from, origin);
    hi TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_to - INTERVAL '1 microsecond', origin)
                      + INTERVAL '1 day';
    g RECORD;
    n INTEGER := 0;
    m INTEGER;
BEGIN
    IF lo >= hi THEN
        RETURN 0;
    END IF;
    DROP TABLE IF EXISTS pg_temp.analytics_dist_base;
    CREATE TEMP TABLE analytics_dist_base ON COMMIT DROP AS
    SELECT date_bin(INTERVAL '1 hour', "timestamp", origin) AS hour,
           service::text AS service,
           coalesce(data->>'endpoint', '') AS endpoint,
           coalesce(data->>'method', '') AS method,
           analytics_hist_key(analytics_json_duration(data->'duration_ms')) AS k,
           count(*) AS requests,
           sum(1.0::float8 / coalesce(nullif(
               analytics_json_number(data->'_meta'->'sample_rate', 0, 1)::float8, 0), 1))
               AS est,
           count(*) FILTER (WHERE analytics_json_number(data->'status_code', 400, 499)
                            IS NOT NULL) AS e4,
           count(*) FILTER (WHERE analytics_json_number(data->'status_code', 500, 599)
                            IS NOT NULL) AS e5,
           sum(analytics_json_duration(data->'duration_ms'))::float8 AS dsum,
           max(analytics_json_duration(data->'duration_ms'))::float8 AS dmax
    FROM analytics_events
    WHERE event_type = 'api_request' AND "timestamp" >= lo AND "timestamp" < hi
    GROUP BY 1, 2, 3, 4, 5;

    FOR g IN
        SELECT * FROM (VALUES
            ('analytics_api_hour_total', INTERVAL '1 hour', ''),
            ('analytics_api_hour_service', INTERVAL '1 hour', ', service'),
            ('analytics_api_hour_endpoint', INTERVAL '1 hour', ', service, endpoint, method'),
            ('analytics_api_day_total', INTERVAL '1 day', ''),
            ('analytics_api_day_service', INTERVAL '1 day', ', service'),
            ('analytics_api_day_endpoint', INTERVAL '1 day', ', service, endpoint, method')
        ) AS t(rel, width, dims)
    LOOP
        EXECUTE format('DELETE FROM %I WHERE bucket >= $1 AND bucket < $2', g.rel) USING lo, hi;
        EXECUTE format($q$
            INSERT INTO %1$I (bucket %2$s, requests, requests_estimated, errors_4xx, errors_5xx,
                              duration_count, duration_sum_ms, duration_max_ms,
                              hist_keys, hist_counts, p50_key, p95_key, p99_key)
            -- The quantile keys set-based: a running count per group (window over the
            -- keys in order) and the first key whose running count reaches the rank.
            SELECT bucket %2$s,
                   sum(requests)::bigint,
                   coalesce(sum(est), 0)::float8,
                   sum(e4)::bigint,
                   sum(e5)::bigint,
                   coalesce(sum(requests) FILTER (WHERE k IS NOT NULL), 0)::bigint,
                   coalesce(sum(dsum), 0)::float8,
                   max(dmax)::float8,
                   coalesce(array_agg(k ORDER BY k) FILTER (WHERE k IS NOT NULL),
                            '{}')::smallint[],
                   coalesce(array_agg(requests ORDER BY k) FILTER (WHERE k IS NOT NULL),
                            '{}')::bigint[],
                   min(k) FILTER (WHERE k IS NOT NULL AND cum >= greatest(1, ceil(0.5 * tot - 1e-9))),
                   min(k) FILTER (WHERE k IS NOT NULL AND cum >= greatest(1, ceil(0.95 * tot - 1e-9))),
                   min(k) FILTER (WHERE k IS NOT NULL AND cum >= greatest(1, ceil(0.99 * tot - 1e-9)))
            FROM (
                SELECT per_key.*,
                       sum(requests) FILTER (WHERE k IS NOT NULL)
                           OVER (PARTITION BY bucket %2$s ORDER BY k) AS cum,
                       sum(requests) FILTER (WHERE k IS NOT NULL)
                           OVER (PARTITION BY bucket %2$s) AS tot
                FROM (
                    SELECT date_bin($1, hour, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket
                           %2$s, k,
                           sum(requests)::bigint AS requests, sum(est) AS est,
                           sum(e4) AS e4, sum(e5) AS e5, sum(dsum) AS dsum, max(dmax) AS dmax
                    FROM analytics_dist_base
                    GROUP BY 1 %2$s, k
                ) per_key
            ) running
            GROUP BY bucket %2$s
        $q$, g.rel, g.dims) USING g.width;
        GET DIAGNOSTICS m = ROW_COUNT;
        n := n + m;
    END LOOP;
    DROP TABLE pg_temp.analytics_dist_base;

    DELETE FROM analytics_task_durations_daily WHERE day >= lo AND day < hi;
    INSERT INTO analytics_task_durations_daily
        (day, duration_count, hist_keys, hist_counts, p50_key, p95_key, p99_key)
    SELECT day, dcount, keys, counts,
           analytics_hist_quantile_key(keys, counts, 0.5),
           analytics_hist_quantile_key(keys, counts, 0.95),
           analytics_hist_quantile_key(keys, counts, 0.99)
    FROM (
        SELECT day, sum(c)::bigint AS dcount,
               array_agg(k ORDER BY k)::smallint[] AS keys,
               array_agg(c ORDER BY k)::bigint[] AS counts
        FROM (
            SELECT date_bin(INTERVAL '1 day', "timestamp", origin) AS day,
                   analytics_hist_key(analytics_json_duration(data->'duration_ms')) AS k,
                   count(*) AS c
            FROM analytics_events
            WHERE event_type IN ('task_completed', 'task_failed')
              AND "timestamp" >= lo AND "timestamp" < hi
            GROUP BY 1, 2
        ) per_key
        WHERE k IS NOT NULL
        GROUP BY day
    ) per_day;
    GET DIAGNOSTICS m = ROW_COUNT;
    RETURN n + m;
END
$function$;


GRANT SELECT ON analytics_active_users_daily TO analytics_reader;
GRANT SELECT ON analytics_alert_deliveries TO analytics_reader;
GRANT SELECT ON analytics_alert_history TO analytics_reader;
GRANT SELECT ON analytics_alert_minutes TO analytics_reader;
GRANT SELECT ON analytics_alert_rollups TO analytics_reader;
GRANT SELECT ON analytics_alert_states TO analytics_reader;
GRANT SELECT ON analytics_api_day_endpoint TO analytics_reader;
GRANT SELECT ON analytics_api_day_service TO analytics_reader;
GRANT SELECT ON analytics_api_day_total TO analytics_reader;
GRANT SELECT ON analytics_api_hour_endpoint TO analytics_reader;
GRANT SELECT ON analytics_api_hour_service TO analytics_reader;
GRANT SELECT ON analytics_api_hour_total TO analytics_reader;
GRANT SELECT ON analytics_api_latency_daily TO analytics_reader;
GRANT SELECT ON analytics_api_latency_daily_v0002 TO analytics_reader;
GRANT SELECT ON analytics_api_latency_hourly TO analytics_reader;
GRANT SELECT ON analytics_api_latency_hourly_v0002 TO analytics_reader;
GRANT SELECT ON analytics_auth_events_daily TO analytics_reader;
GRANT SELECT ON analytics_auth_events_daily_v0002 TO analytics_reader;
GRANT SELECT ON analytics_cocoon_activity_daily TO analytics_reader;
GRANT SELECT ON analytics_cocoon_activity_daily_v0002 TO analytics_reader;
GRANT SELECT ON analytics_cum_api_endpoint TO analytics_reader;
GRANT SELECT ON analytics_cum_api_service TO analytics_reader;
GRANT SELECT ON analytics_cum_api_total TO analytics_reader;
GRANT SELECT ON analytics_daily_active_users TO analytics_reader;
GRANT SELECT ON analytics_errors_hourly TO analytics_reader;
GRANT SELECT ON analytics_event_trends_daily TO analytics_reader;
GRANT SELECT ON analytics_event_trends_hourly TO analytics_reader;
GRANT SELECT ON analytics_events TO analytics_reader;
GRANT SELECT ON analytics_integration_health_daily TO analytics_reader;
GRANT SELECT ON analytics_integration_health_daily_v0002 TO analytics_reader;
GRANT SELECT ON analytics_maintainer_lease TO analytics_reader;
GRANT SELECT ON analytics_schema_migrations TO analytics_reader;
GRANT SELECT ON analytics_task_durations_daily TO analytics_reader;
GRANT SELECT ON analytics_task_stats_daily TO analytics_reader;
GRANT SELECT ON analytics_task_stats_daily_v0002 TO analytics_reader;
GRANT SELECT ON analytics_weekly_active_users TO analytics_reader;

SELECT create_hypertable('analytics_events', 'timestamp', chunk_time_interval => INTERVAL '1 day');
ALTER TABLE analytics_errors_hourly SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_task_stats_daily SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_api_latency_hourly SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_api_latency_daily SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_integration_health_daily SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_auth_events_daily SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_cocoon_activity_daily SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_event_trends_hourly SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_event_trends_daily SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_weekly_active_users SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_daily_active_users SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_task_stats_daily_v0002 SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_api_latency_hourly_v0002 SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_api_latency_daily_v0002 SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_integration_health_daily_v0002 SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_auth_events_daily_v0002 SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_cocoon_activity_daily_v0002 SET (timescaledb.compress, timescaledb.compress_segmentby = '', timescaledb.compress_orderby = '');
ALTER TABLE analytics_events SET (timescaledb.compress, timescaledb.compress_segmentby = 'event_type', timescaledb.compress_orderby = 'user_id,"timestamp" DESC', timescaledb.compress_chunk_time_interval = '7 days', timescaledb.compress_index = 'bloom(event_id)');
-- job analytics_active_users_job on - every 01:00:00 config {}
-- job analytics_distributions_job on - every 01:00:00 config {}
-- job policy_compression on analytics_events every 12:00:00 config {"compress_after": "7 days"}
-- job policy_refresh_continuous_aggregate on analytics_api_latency_daily every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_api_latency_hourly every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_auth_events_daily every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_cocoon_activity_daily every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_daily_active_users every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_errors_hourly every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_event_trends_daily every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_event_trends_hourly every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_integration_health_daily every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_task_stats_daily every 01:00:00 config {"end_offset": null, "start_offset": "3 days"}
-- job policy_refresh_continuous_aggregate on analytics_weekly_active_users every 01:00:00 config {"end_offset": "1 day", "start_offset": "21 days"}
-- job policy_retention on analytics_events every 1 day config {"drop_after": "90 days"}
