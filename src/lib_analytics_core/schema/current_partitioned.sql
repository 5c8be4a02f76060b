-- The current analytics schema, partitioned tier: what `analytics-migrate all` leaves in an
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

CREATE TABLE analytics_aggregate_refresh (
    name text NOT NULL,
    position integer NOT NULL,
    bucket_column text NOT NULL,
    bucket_width interval NOT NULL,
    refresh_sql text NOT NULL,
    CONSTRAINT analytics_aggregate_refresh_pkey PRIMARY KEY (name)
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

CREATE TABLE analytics_api_latency_daily (
    day timestamp with time zone,
    service character varying(100),
    endpoint text,
    method text,
    requests bigint,
    requests_estimated double precision,
    errors_4xx bigint,
    errors_5xx bigint,
    duration_count bigint,
    duration_sum_ms double precision,
    duration_max_ms double precision
);

CREATE TABLE analytics_api_latency_daily_v0002 (
    day timestamp with time zone,
    service character varying(100),
    endpoint text,
    method text,
    requests bigint,
    requests_estimated double precision,
    errors_4xx bigint,
    errors_5xx bigint,
    duration_sum_ms bigint,
    duration_max_ms bigint,
    h00 bigint,
    h01 bigint,
    h02 bigint,
    h03 bigint,
    h04 bigint,
    h05 bigint,
    h06 bigint,
    h07 bigint,
    h08 bigint,
    h09 bigint,
    h10 bigint,
    h11 bigint,
    h12 bigint,
    h13 bigint,
    h14 bigint,
    h15 bigint,
    h16 bigint,
    h17 bigint,
    h18 bigint,
    h19 bigint,
    h20 bigint,
    h21 bigint,
    h22 bigint,
    h23 bigint,
    h24 bigint,
    h25 bigint,
    h26 bigint,
    h27 bigint,
    h28 bigint,
    h29 bigint,
    h30 bigint,
    h31 bigint,
    h32 bigint,
    h33 bigint,
    h34 bigint,
    h35 bigint,
    h36 bigint,
    h37 bigint,
    h38 bigint,
    h39 bigint,
    h40 bigint,
    h41 bigint,
    h42 bigint,
    h43 bigint,
    h44 bigint,
    h45 bigint,
    h46 bigint,
    h47 bigint,
    h48 bigint,
    h49 bigint,
    h50 bigint,
    h51 bigint,
    h52 bigint,
    h53 bigint,
    h54 bigint,
    h55 bigint,
    h56 bigint,
    h57 bigint,
    h58 bigint,
    h59 bigint,
    h60 bigint,
    h61 bigint,
    h62 bigint,
    h63 bigint,
    h64 bigint,
    h65 bigint,
    h66 bigint,
    h67 bigint,
    h68 bigint,
    h69 bigint,
    h70 bigint,
    h71 bigint,
    h72 bigint,
    h73 bigint,
    h74 bigint,
    h75 bigint,
    h76 bigint,
    h77 bigint,
    h78 bigint,
    h79 bigint,
    h80 bigint,
    h81 bigint,
    h82 bigint,
    h83 bigint
);

CREATE TABLE analytics_api_latency_hourly (
    hour timestamp with time zone,
    service character varying(100),
    endpoint text,
    method text,
    requests bigint,
    requests_estimated double precision,
    errors_4xx bigint,
    errors_5xx bigint,
    duration_count bigint,
    duration_sum_ms double precision,
    duration_max_ms double precision
);

CREATE TABLE analytics_api_latency_hourly_v0002 (
    hour timestamp with time zone,
    service character varying(100),
    endpoint text,
    method text,
    requests bigint,
    requests_estimated double precision,
    errors_4xx bigint,
    errors_5xx bigint,
    duration_sum_ms bigint,
    duration_max_ms bigint,
    h00 bigint,
    h01 bigint,
    h02 bigint,
    h03 bigint,
    h04 bigint,
    h05 bigint,
    h06 bigint,
    h07 bigint,
    h08 bigint,
    h09 bigint,
    h10 bigint,
    h11 bigint,
    h12 bigint,
    h13 bigint,
    h14 bigint,
    h15 bigint,
    h16 bigint,
    h17 bigint,
    h18 bigint,
    h19 bigint,
    h20 bigint,
    h21 bigint,
    h22 bigint,
    h23 bigint,
    h24 bigint,
    h25 bigint,
    h26 bigint,
    h27 bigint,
    h28 bigint,
    h29 bigint,
    h30 bigint,
    h31 bigint,
    h32 bigint,
    h33 bigint,
    h34 bigint,
    h35 bigint,
    h36 bigint,
    h37 bigint,
    h38 bigint,
    h39 bigint,
    h40 bigint,
    h41 bigint,
    h42 bigint,
    h43 bigint,
    h44 bigint,
    h45 bigint,
    h46 bigint,
    h47 bigint,
    h48 bigint,
    h49 bigint,
    h50 bigint,
    h51 bigint,
    h52 bigint,
    h53 bigint,
    h54 bigint,
    h55 bigint,
    h56 bigint,
    h57 bigint,
    h58 bigint,
    h59 bigint,
    h60 bigint,
    h61 bigint,
    h62 bigint,
    h63 bigint,
    h64 bigint,
    h65 bigint,
    h66 bigint,
    h67 bigint,
    h68 bigint,
    h69 bigint,
    h70 bigint,
    h71 bigint,
    h72 bigint,
    h73 bigint,
    h74 bigint,
    h75 bigint,
    h76 bigint,
    h77 bigint,
    h78 bigint,
    h79 bigint,
    h80 bigint,
    h81 bigint,
    h82 bigint,
    h83 bigint
);

CREATE TABLE analytics_auth_events_daily (
    day timestamp with time zone,
    login_attempts bigint,
    login_success bigint,
    login_failed bigint,
    codes_verified bigint,
    codes_failed bigint,
    token_refreshes bigint,
    token_refresh_failed bigint,
    sessions_validated bigint,
    sessions_invalid bigint
);

CREATE TABLE analytics_auth_events_daily_v0002 (
    day timestamp with time zone,
    login_attempts bigint,
    login_success bigint,
    login_failed bigint,
    codes_verified bigint,
    codes_failed bigint,
    token_refreshes bigint,
    token_refresh_failed bigint,
    sessions_validated bigint,
    sessions_invalid bigint
);

CREATE TABLE analytics_cocoon_activity_daily (
    day timestamp with time zone,
    registered bigint,
    connected bigint,
    disconnected bigint,
    claimed bigint,
    setup_tokens_created bigint,
    setup_tokens_used bigint,
    session_duration_sum_ms double precision
);

CREATE TABLE analytics_cocoon_activity_daily_v0002 (
    day timestamp with time zone,
    registered bigint,
    connected bigint,
    disconnected bigint,
    claimed bigint,
    setup_tokens_created bigint,
    setup_tokens_used bigint,
    session_duration_sum_ms bigint
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

CREATE TABLE analytics_daily_active_users (
    day timestamp with time zone,
    user_id uuid,
    events bigint
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

CREATE TABLE analytics_errors_hourly (
    hour timestamp with time zone,
    service character varying(100),
    error_type text,
    errors bigint,
    sample_message text
);

CREATE TABLE analytics_event_trends_daily (
    bucket timestamp with time zone,
    event_type text,
    service text,
    events bigint,
    users bigint
);

CREATE TABLE analytics_event_trends_hourly (
    bucket timestamp with time zone,
    event_type text,
    service text,
    events bigint,
    users bigint
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

CREATE TABLE analytics_events_default PARTITION OF analytics_events DEFAULT;

CREATE TABLE analytics_integration_health_daily (
    day timestamp with time zone,
    provider text,
    connected bigint,
    disconnected bigint,
    used bigint,
    used_success bigint,
    used_failed bigint,
    errors bigint,
    oauth_started bigint,
    oauth_completed bigint,
    oauth_failed bigint,
    used_duration_sum_ms double precision
);

CREATE TABLE analytics_integration_health_daily_v0002 (
    day timestamp with time zone,
    provider text,
    connected bigint,
    disconnected bigint,
    used bigint,
    used_success bigint,
    used_failed bigint,
    errors bigint,
    oauth_started bigint,
    oauth_completed bigint,
    oauth_failed bigint,
    used_duration_sum_ms bigint
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

CREATE TABLE analytics_maintenance_state (
    key text NOT NULL,
    value timestamp with time zone,
    CONSTRAINT analytics_maintenance_state_pkey PRIMARY KEY (key)
);

CREATE TABLE analytics_ordered_days (
    day timestamp with time zone NOT NULL,
    ordered_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT analytics_ordered_days_pkey PRIMARY KEY (day)
);

CREATE TABLE analytics_refresh_invalidations (
    day timestamp with time zone NOT NULL,
    logged_at timestamp with time zone DEFAULT now()
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

CREATE TABLE analytics_task_stats_daily (
    day timestamp with time zone,
    created bigint,
    started bigint,
    completed bigint,
    failed bigint,
    cancelled bigint,
    duration_count bigint,
    duration_sum_ms double precision,
    duration_max_ms double precision
);

CREATE TABLE analytics_task_stats_daily_v0002 (
    day timestamp with time zone,
    created bigint,
    started bigint,
    completed bigint,
    failed bigint,
    cancelled bigint,
    duration_count bigint,
    duration_sum_ms bigint,
    duration_max_ms bigint,
    h00 bigint,
    h01 bigint,
    h02 bigint,
    h03 bigint,
    h04 bigint,
    h05 bigint,
    h06 bigint,
    h07 bigint,
    h08 bigint,
    h09 bigint,
    h10 bigint,
    h11 bigint,
    h12 bigint,
    h13 bigint,
    h14 bigint,
    h15 bigint,
    h16 bigint,
    h17 bigint,
    h18 bigint,
    h19 bigint,
    h20 bigint,
    h21 bigint,
    h22 bigint,
    h23 bigint,
    h24 bigint,
    h25 bigint,
    h26 bigint,
    h27 bigint,
    h28 bigint,
    h29 bigint,
    h30 bigint,
    h31 bigint,
    h32 bigint,
    h33 bigint,
    h34 bigint,
    h35 bigint,
    h36 bigint,
    h37 bigint,
    h38 bigint,
    h39 bigint,
    h40 bigint,
    h41 bigint,
    h42 bigint,
    h43 bigint,
    h44 bigint,
    h45 bigint,
    h46 bigint,
    h47 bigint,
    h48 bigint,
    h49 bigint,
    h50 bigint,
    h51 bigint,
    h52 bigint,
    h53 bigint,
    h54 bigint,
    h55 bigint,
    h56 bigint,
    h57 bigint,
    h58 bigint,
    h59 bigint,
    h60 bigint,
    h61 bigint,
    h62 bigint,
    h63 bigint,
    h64 bigint,
    h65 bigint,
    h66 bigint,
    h67 bigint,
    h68 bigint,
    h69 bigint,
    h70 bigint,
    h71 bigint,
    h72 bigint,
    h73 bigint,
    h74 bigint,
    h75 bigint,
    h76 bigint,
    h77 bigint,
    h78 bigint,
    h79 bigint,
    h80 bigint,
    h81 bigint,
    h82 bigint,
    h83 bigint
);

CREATE TABLE analytics_weekly_active_users (
    week timestamp with time zone NOT NULL,
    user_id uuid NOT NULL,
    CONSTRAINT analytics_weekly_active_users_pkey PRIMARY KEY (week, user_id)
);

CREATE TABLE analytics_weekly_pending (
    week timestamp with time zone NOT NULL,
    CONSTRAINT analytics_weekly_pending_pkey PRIMARY KEY (week)
);

-- plus the daily partitions analytics_events_pYYYYMMDD of analytics_events (yesterday .. 7 days ahead at migration time; maintain() keeps creating them)

CREATE UNIQUE INDEX analytics_active_users_daily_pkey ON analytics_active_users_daily USING btree (day);
CREATE UNIQUE INDEX analytics_aggregate_refresh_pkey ON analytics_aggregate_refresh USING btree (name);
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
CREATE INDEX analytics_api_latency_daily_day_idx ON analytics_api_latency_daily_v0002 USING btree (day);
CREATE INDEX analytics_api_latency_daily_day_ix ON analytics_api_latency_daily USING btree (day);
CREATE INDEX analytics_api_latency_daily_svc_idx ON analytics_api_latency_daily_v0002 USING btree (service, endpoint, method, day);
CREATE INDEX analytics_api_latency_hourly_hour_idx ON analytics_api_latency_hourly_v0002 USING btree (hour);
CREATE INDEX analytics_api_latency_hourly_hour_ix ON analytics_api_latency_hourly USING btree (hour);
CREATE INDEX analytics_api_latency_hourly_svc_idx ON analytics_api_latency_hourly_v0002 USING btree (service, endpoint, method, hour);
CREATE INDEX analytics_auth_events_daily_day_idx ON analytics_auth_events_daily_v0002 USING btree (day);
CREATE INDEX analytics_auth_events_daily_day_ix ON analytics_auth_events_daily USING btree (day);
CREATE INDEX analytics_cocoon_activity_daily_day_idx ON analytics_cocoon_activity_daily_v0002 USING btree (day);
CREATE INDEX analytics_cocoon_activity_daily_day_ix ON analytics_cocoon_activity_daily USING btree (day);
CREATE UNIQUE INDEX analytics_cum_api_endpoint_pkey ON analytics_cum_api_endpoint USING btree (service, endpoint, method, bucket);
CREATE UNIQUE INDEX analytics_cum_api_service_pkey ON analytics_cum_api_service USING btree (service, bucket);
CREATE UNIQUE INDEX analytics_cum_api_total_pkey ON analytics_cum_api_total USING btree (bucket);
CREATE INDEX analytics_daily_active_users_day_idx ON analytics_daily_active_users USING btree (day, user_id);
CREATE INDEX analytics_daily_active_users_user_idx ON analytics_daily_active_users USING btree (user_id, day);
CREATE UNIQUE INDEX analytics_dead_letters_event_id_key ON analytics_dead_letters USING btree (event_id);
CREATE UNIQUE INDEX analytics_dead_letters_pkey ON analytics_dead_letters USING btree (id);
CREATE INDEX analytics_errors_hourly_hour_idx ON analytics_errors_hourly USING btree (hour);
CREATE INDEX analytics_errors_hourly_svc_idx ON analytics_errors_hourly USING btree (service, error_type, hour);
CREATE INDEX analytics_event_trends_daily_ix ON analytics_event_trends_daily USING btree (bucket);
CREATE INDEX analytics_event_trends_daily_type_ix ON analytics_event_trends_daily USING btree (event_type, bucket);
CREATE INDEX analytics_event_trends_hourly_ix ON analytics_event_trends_hourly USING btree (bucket);
CREATE INDEX analytics_event_trends_hourly_type_ix ON analytics_event_trends_hourly USING btree (event_type, bucket);
CREATE INDEX analytics_events_default_event_type_timestamp_idx ON analytics_events_default USING btree (event_type, "timestamp" DESC);
CREATE UNIQUE INDEX analytics_events_default_pkey ON analytics_events_default USING btree ("timestamp", event_id);
CREATE INDEX analytics_events_default_service_timestamp_idx ON analytics_events_default USING btree (service, "timestamp" DESC);
CREATE INDEX analytics_events_default_user_id_timestamp_event_id_idx ON analytics_events_default USING btree (user_id, "timestamp" DESC, event_id DESC);
CREATE INDEX analytics_events_event_type_idx ON ONLY analytics_events USING btree (event_type, "timestamp" DESC);
CREATE UNIQUE INDEX analytics_events_pkey ON ONLY analytics_events USING btree ("timestamp", event_id);
CREATE INDEX analytics_events_service_idx ON ONLY analytics_events USING btree (service, "timestamp" DESC);
CREATE INDEX analytics_events_user_timeline_idx ON ONLY analytics_events USING btree (user_id, "timestamp" DESC, event_id DESC);
CREATE INDEX analytics_integration_health_daily_day_idx ON analytics_integration_health_daily_v0002 USING btree (day);
CREATE INDEX analytics_integration_health_daily_day_ix ON analytics_integration_health_daily USING btree (day);
CREATE INDEX analytics_integration_health_daily_idx ON analytics_integration_health_daily_v0002 USING btree (provider, day);
CREATE INDEX analytics_integration_health_daily_ix ON analytics_integration_health_daily USING btree (provider, day);
CREATE UNIQUE INDEX analytics_maintainer_lease_pkey ON analytics_maintainer_lease USING btree (name);
CREATE UNIQUE INDEX analytics_maintenance_state_pkey ON analytics_maintenance_state USING btree (key);
CREATE UNIQUE INDEX analytics_ordered_days_pkey ON analytics_ordered_days USING btree (day);
CREATE UNIQUE INDEX analytics_schema_migrations_pkey ON analytics_schema_migrations USING btree (version);
CREATE UNIQUE INDEX analytics_task_durations_daily_pkey ON analytics_task_durations_daily USING btree (day);
CREATE INDEX analytics_task_stats_daily_day_idx ON analytics_task_stats_daily_v0002 USING btree (day);
CREATE INDEX analytics_task_stats_daily_day_ix ON analytics_task_stats_daily USING btree (day);
CREATE UNIQUE INDEX analytics_weekly_active_users_pkey ON analytics_weekly_active_users USING btree (week, user_id);
CREATE INDEX analytics_weekly_active_users_user_idx ON analytics_weekly_active_users USING btree (user_id, week);
CREATE UNIQUE INDEX analytics_weekly_pending_pkey ON analytics_weekly_pending USING btree (week);

-- sequence analytics_alert_deliveries_id_seq
-- sequence analytics_alert_history_id_seq
-- sequence analytics_dead_letters_id_seq
-- sequence analytics_events_id_seq

CREATE OR REPLACE FUNCTION analytics_drop_partitions(p_cutoff timestamp with time zone)
 RETURNS SETOF text
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    cutoff TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_cutoff, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    r RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(7236912002);
    FOR r IN
        SELECT c.relname
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'analytics_events'::regclass
          AND c.relname ~ '^analytics_events_p[0-9]{8}$'
          AND (to_date(right(c.relname, 8), 'YYYYMMDD')::timestamp AT TIME ZONE 'UTC')
              + INTERVAL '1 day' <= cutoff
        ORDER BY c.relname
    LOOP
        EXECUTE format('DROP TABLE %I', r.relname);
        RETURN NEXT r.relname;
    END LOOP;
    DELETE FROM analytics_events_default WHERE "timestamp" < cutoff;
    INSERT INTO analytics_maintenance_state (key, value) VALUES ('retention_horizon', cutoff)
    ON CONFLICT (key) DO UPDATE
        SET value = greatest(analytics_maintenance_state.value, excluded.value);
END
$function$;

CREATE OR REPLACE FUNCTION analytics_ensure_partition(p_day timestamp with time zone)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    lo   TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_day, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    hi   TIMESTAMPTZ := lo + INTERVAL '1 day';
    part TEXT := 'analytics_events_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
BEGIN
    PERFORM pg_advisory_xact_lock(7236912002);
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN FALSE;
    END IF;
    -- LIKE + ATTACH rather than CREATE ... PARTITION OF: ATTACH only needs a
    -- SHARE UPDATE EXCLUSIVE lock on the parent, so writers are not blocked.
    EXECUTE format('CREATE TABLE %I (LIKE analytics_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM analytics_events_default'
        ' WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING *)'
        ' INSERT INTO %I SELECT * FROM moved', part)
        USING lo, hi;
    EXECUTE format('ALTER TABLE analytics_events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
    RETURN TRUE;
END
$function$;

CREATE OR REPLACE FUNCTION analytics_events_invalidate()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
BEGIN
    INSERT INTO analytics_refresh_invalidations (day)
    SELECT DISTINCT date_bin(INTERVAL '1 day', n."timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00')
    FROM new_rows n;
    RETURN NULL;
END
$function$;

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

CREATE OR REPLACE FUNCTION analytics_order_partition(p_day timestamp with time zone)
 RETURNS boolean
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    lo   TIMESTAMPTZ := date_bin(INTERVAL '1 day', p_day, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    part TEXT := 'analytics_events_p' || to_char(lo AT TIME ZONE 'UTC', 'YYYYMMDD');
    idx  TEXT;
BEGIN
    PERFORM pg_advisory_xact_lock(7236912002);
    IF to_regclass(quote_ident(part)) IS NULL THEN
        RETURN FALSE;
    END IF;
    SELECT c.relname INTO idx
    FROM pg_index i
    JOIN pg_inherits h ON h.inhrelid = i.indexrelid
    JOIN pg_class c ON c.oid = i.indexrelid
    WHERE i.indrelid = to_regclass(quote_ident(part))
      AND h.inhparent = to_regclass('analytics_events_event_type_idx');
    IF idx IS NULL THEN
        RETURN FALSE;
    END IF;
    EXECUTE format('CLUSTER %I USING %I', part, idx);
    INSERT INTO analytics_ordered_days (day) VALUES (lo)
    ON CONFLICT (day) DO UPDATE SET ordered_at = now();
    RETURN TRUE;
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

CREATE OR REPLACE FUNCTION analytics_refresh_weekly_active_users(p_from timestamp with time zone, p_to timestamp with time zone)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'public'
AS $function$
DECLARE
    lo TIMESTAMPTZ := date_bin(INTERVAL '7 days', p_from, TIMESTAMPTZ '2000-01-03 00:00:00+00');
    hi TIMESTAMPTZ := date_bin(INTERVAL '7 days', p_to - INTERVAL '1 microsecond',
                               TIMESTAMPTZ '2000-01-03 00:00:00+00') + INTERVAL '168 hours';
    n INTEGER;
BEGIN
    IF p_from >= p_to THEN
        RETURN 0;
    END IF;
    WITH fresh AS MATERIALIZED (
        SELECT DISTINCT
               date_bin(INTERVAL '7 days', day, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS week,
               user_id
        FROM analytics_daily_active_users
        WHERE day >= lo AND day < hi
    ), gone AS (
        DELETE FROM analytics_weekly_active_users w
        WHERE w.week >= lo AND w.week < hi
          AND NOT EXISTS (SELECT 1 FROM fresh f WHERE f.week = w.week AND f.user_id = w.user_id)
    )
    INSERT INTO analytics_weekly_active_users (week, user_id)
    SELECT f.week, f.user_id FROM fresh f
    WHERE NOT EXISTS (SELECT 1 FROM analytics_weekly_active_users w
                      WHERE w.week >= lo AND w.week < hi
                        AND w.week = f.week AND w.user_id = f.user_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM analytics_weekly_pending WHERE week >= lo AND week < hi;
    RETURN n;
END
$function$;

CREATE TRIGGER analytics_events_invalidate AFTER INSERT ON analytics_events REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION analytics_events_invalidate();

GRANT SELECT ON analytics_active_users_daily TO analytics_reader;
GRANT SELECT ON analytics_aggregate_refresh TO analytics_reader;
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
GRANT SELECT ON analytics_maintenance_state TO analytics_reader;
GRANT SELECT ON analytics_ordered_days TO analytics_reader;
GRANT SELECT ON analytics_refresh_invalidations TO analytics_reader;
GRANT SELECT ON analytics_schema_migrations TO analytics_reader;
GRANT SELECT ON analytics_task_durations_daily TO analytics_reader;
GRANT SELECT ON analytics_task_stats_daily TO analytics_reader;
GRANT SELECT ON analytics_task_stats_daily_v0002 TO analytics_reader;
GRANT SELECT ON analytics_weekly_active_users TO analytics_reader;
GRANT SELECT ON analytics_weekly_pending TO analytics_reader;

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_daily_active_users', 1, 'day', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       user_id,
       count(*) AS events
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 AND user_id IS NOT NULL
GROUP BY 1, 2$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_event_trends_hourly', 1, 'bucket', '01:00:00', $agg$SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
GROUP BY 1, 2, 3$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_task_stats_daily', 1, 'day', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       count(*) FILTER (WHERE event_type = 'task_created') AS created,
       count(*) FILTER (WHERE event_type = 'task_started') AS started,
       count(*) FILTER (WHERE event_type = 'task_completed') AS completed,
       count(*) FILTER (WHERE event_type = 'task_failed') AS failed,
       count(*) FILTER (WHERE event_type = 'task_cancelled') AS cancelled,
       count(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type IN ('task_completed', 'task_failed')) AS duration_count,
       coalesce(sum(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type IN ('task_completed', 'task_failed')), 0)::float8
           AS duration_sum_ms,
       max(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type IN ('task_completed', 'task_failed'))::float8
           AS duration_max_ms
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('task_created', 'task_started', 'task_completed', 'task_failed',
                     'task_cancelled')
GROUP BY 1$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_event_trends_daily', 2, 'bucket', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       event_type::text AS event_type,
       service::text AS service,
       count(*) AS events,
       count(DISTINCT user_id) AS users
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
GROUP BY 1, 2, 3$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_api_latency_hourly', 2, 'hour', '01:00:00', $agg$SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour,
       service,
       coalesce(data->>'endpoint', '') AS endpoint,
       coalesce(data->>'method', '') AS method,
       count(*) AS requests,
       sum(1.0::float8 / coalesce(nullif(
           analytics_json_number(data->'_meta'->'sample_rate', 0, 1)::float8, 0), 1))::float8
           AS requests_estimated,
       count(*) FILTER (WHERE analytics_json_number(data->'status_code', 400, 499) IS NOT NULL)
           AS errors_4xx,
       count(*) FILTER (WHERE analytics_json_number(data->'status_code', 500, 599) IS NOT NULL)
           AS errors_5xx,
       count(analytics_json_duration(data->'duration_ms')) AS duration_count,
       coalesce(sum(analytics_json_duration(data->'duration_ms')), 0)::float8 AS duration_sum_ms,
       max(analytics_json_duration(data->'duration_ms'))::float8 AS duration_max_ms
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 AND event_type = 'api_request'
GROUP BY 1, 2, 3, 4$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_api_latency_daily', 3, 'day', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', hour, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       service,
       endpoint,
       method,
       sum(requests)::bigint AS requests,
       sum(requests_estimated)::float8 AS requests_estimated,
       sum(errors_4xx)::bigint AS errors_4xx,
       sum(errors_5xx)::bigint AS errors_5xx,
       sum(duration_count)::bigint AS duration_count,
       sum(duration_sum_ms)::float8 AS duration_sum_ms,
       max(duration_max_ms)::float8 AS duration_max_ms
FROM analytics_api_latency_hourly
WHERE hour >= $1 AND hour < $2
GROUP BY 1, 2, 3, 4$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_integration_health_daily', 4, 'day', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       data->>'provider' AS provider,
       count(*) FILTER (WHERE event_type = 'integration_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'integration_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'integration_used') AS used,
       count(*) FILTER (WHERE event_type = 'integration_used'
                          AND data->'success' = 'true'::jsonb) AS used_success,
       count(*) FILTER (WHERE event_type = 'integration_used'
                          AND data->'success' = 'false'::jsonb) AS used_failed,
       count(*) FILTER (WHERE event_type = 'integration_error') AS errors,
       count(*) FILTER (WHERE event_type = 'oauth_flow_started') AS oauth_started,
       count(*) FILTER (WHERE event_type = 'oauth_flow_completed'
                          AND data->'success' = 'true'::jsonb) AS oauth_completed,
       count(*) FILTER (WHERE event_type = 'oauth_flow_completed'
                          AND data->'success' = 'false'::jsonb) AS oauth_failed,
       coalesce(sum(analytics_json_duration(data->'duration_ms'))
           FILTER (WHERE event_type = 'integration_used'), 0)::float8 AS used_duration_sum_ms
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('integration_connected', 'integration_disconnected', 'integration_used',
                     'integration_error', 'oauth_flow_started', 'oauth_flow_completed')
  AND data ? 'provider'
GROUP BY 1, 2$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_auth_events_daily', 5, 'day', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt') AS login_attempts,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt'
                          AND data->'success' = 'true'::jsonb) AS login_success,
       count(*) FILTER (WHERE event_type = 'auth_login_attempt'
                          AND data->'success' = 'false'::jsonb) AS login_failed,
       count(*) FILTER (WHERE event_type = 'auth_code_verified'
                          AND data->'success' = 'true'::jsonb) AS codes_verified,
       count(*) FILTER (WHERE event_type = 'auth_code_verified'
                          AND data->'success' = 'false'::jsonb) AS codes_failed,
       count(*) FILTER (WHERE event_type = 'auth_token_refresh') AS token_refreshes,
       count(*) FILTER (WHERE event_type = 'auth_token_refresh'
                          AND data->'success' = 'false'::jsonb) AS token_refresh_failed,
       count(*) FILTER (WHERE event_type = 'auth_session_validated') AS sessions_validated,
       count(*) FILTER (WHERE event_type = 'auth_session_validated'
                          AND data->'valid' = 'false'::jsonb) AS sessions_invalid
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('auth_login_attempt', 'auth_code_verified', 'auth_token_refresh',
                     'auth_session_validated')
GROUP BY 1$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_cocoon_activity_daily', 6, 'day', '1 day', $agg$SELECT date_bin(INTERVAL '1 day', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS day,
       count(*) FILTER (WHERE event_type = 'cocoon_registered') AS registered,
       count(*) FILTER (WHERE event_type = 'cocoon_connected') AS connected,
       count(*) FILTER (WHERE event_type = 'cocoon_disconnected') AS disconnected,
       count(*) FILTER (WHERE event_type = 'cocoon_claimed') AS claimed,
       count(*) FILTER (WHERE event_type = 'cocoon_setup_token_created') AS setup_tokens_created,
       count(*) FILTER (WHERE event_type = 'cocoon_setup_token_used') AS setup_tokens_used,
       coalesce(sum(analytics_json_duration(data->'session_duration_ms'))
           FILTER (WHERE event_type = 'cocoon_disconnected'), 0)::float8
           AS session_duration_sum_ms
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2
  AND event_type IN ('cocoon_registered', 'cocoon_connected', 'cocoon_disconnected',
                     'cocoon_claimed', 'cocoon_setup_token_created', 'cocoon_setup_token_used')
GROUP BY 1$agg$);

INSERT INTO analytics_aggregate_refresh (name, position, bucket_column, bucket_width, refresh_sql) VALUES
    ('analytics_errors_hourly', 8, 'hour', '01:00:00', $agg$SELECT date_bin(INTERVAL '1 hour', "timestamp", TIMESTAMPTZ '2000-01-03 00:00:00+00') AS hour,
       service,
       coalesce(data->>'error_type', '') AS error_type,
       count(*) AS errors,
       min(left(data->>'message', 500)) AS sample_message
FROM analytics_events
WHERE "timestamp" >= $1 AND "timestamp" < $2 AND event_type = 'application_error'
GROUP BY 1, 2, 3$agg$);
