-- Rollups for the `continuous` mode (TimescaleDB with the Timescale license): hierarchical
-- continuous aggregates under the same names and with the same columns as the `managed` mode's
-- tables (shared/db/sql/0002_managed_rollups.sql plus the usage measures of 0004), so the API
-- cannot tell the modes apart. This file replaces 0002 in continuous mode; see
-- shared/db/migrations.py and docs/decisions/0005-continuous-rollups.md.
--
--   allocation -> cost_hourly -> cost_daily -> cost_weekly
--                                          \-> cost_monthly (a month is not a whole number of weeks)
--
-- Weekly buckets start on Monday: time_bucket's default origin (2000-01-03) is a Monday.
-- Buckets are UTC. `row_count` counts the raw rows behind a row, as in managed mode.
-- Real-time aggregation is on (materialized_only = false): rows not yet materialized are
-- computed from the level below at query time. The aggregator refreshes the buckets each batch
-- touched right after its commit (services/aggregator/continuous.py); the refresh policies below
-- are only a safety net for writes that bypass it.
--
-- Defaults, per level: refresh policy (start offset, end offset, every), compression after.
--   hourly  3 days,   1 hour,  30 minutes   compressed after 45 days
--   daily   10 days,  1 day,   1 hour       compressed after 180 days
--   weekly  35 days,  7 days,  1 day        not compressed (small)
--   monthly 3 months, 1 month, 1 day        not compressed (small)
-- Raw allocation chunks are compressed after 45 days (restatements of older windows still work:
-- TimescaleDB writes into compressed chunks, more slowly). Raw retention: `costpipe retention`.
-- The usage measures' expressions are the ones in services/aggregator/rollups.py (USAGE_MEASURES).

CREATE MATERIALIZED VIEW cost_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', window_start) AS bucket,
    cluster_id,
    namespace,
    workload_uid,
    node_group,
    service,
    team,
    owner,
    kind,
    count(*) AS row_count,
    sum(cost)::bigint AS cost,
    sum(idle_share)::bigint AS idle_share,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(pv_cost)::bigint AS pv_cost,
    sum(network_cost)::bigint AS network_cost,
    sum(load_balancer_cost)::bigint AS load_balancer_cost,
    sum(shared_cost)::bigint AS shared_cost,
    sum(external_cost)::bigint AS external_cost,
    sum(round(CASE WHEN cpu_core_request_average >= 1e-100 AND minutes >= 1e-100 THEN cpu_core_request_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint)::bigint AS cpu_request_micro_core_hours,
    sum(round(CASE WHEN cpu_core_usage_average >= 1e-100 AND minutes >= 1e-100 THEN cpu_core_usage_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint)::bigint AS cpu_usage_micro_core_hours,
    sum(round(CASE WHEN ram_byte_request_average >= 1e-100 AND minutes >= 1e-100 THEN ram_byte_request_average * minutes / 61440::float8 ELSE 0 END)::bigint)::bigint AS ram_request_kib_hours,
    sum(round(CASE WHEN ram_byte_usage_average >= 1e-100 AND minutes >= 1e-100 THEN ram_byte_usage_average * minutes / 61440::float8 ELSE 0 END)::bigint)::bigint AS ram_usage_kib_hours,
    sum(round(CASE WHEN gpu_request_average >= 1e-100 AND minutes >= 1e-100 THEN gpu_request_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint)::bigint AS gpu_request_micro_hours,
    sum(round(CASE WHEN gpu_usage_average >= 1e-100 AND minutes >= 1e-100 THEN gpu_usage_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint)::bigint AS gpu_usage_micro_hours
FROM allocation
GROUP BY time_bucket(INTERVAL '1 hour', window_start), cluster_id, namespace, workload_uid, node_group, service, team, owner, kind
WITH NO DATA;

CREATE MATERIALIZED VIEW cost_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket) AS bucket,
    cluster_id,
    namespace,
    workload_uid,
    node_group,
    service,
    team,
    owner,
    kind,
    sum(row_count)::bigint AS row_count,
    sum(cost)::bigint AS cost,
    sum(idle_share)::bigint AS idle_share,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(pv_cost)::bigint AS pv_cost,
    sum(network_cost)::bigint AS network_cost,
    sum(load_balancer_cost)::bigint AS load_balancer_cost,
    sum(shared_cost)::bigint AS shared_cost,
    sum(external_cost)::bigint AS external_cost,
    sum(cpu_request_micro_core_hours)::bigint AS cpu_request_micro_core_hours,
    sum(cpu_usage_micro_core_hours)::bigint AS cpu_usage_micro_core_hours,
    sum(ram_request_kib_hours)::bigint AS ram_request_kib_hours,
    sum(ram_usage_kib_hours)::bigint AS ram_usage_kib_hours,
    sum(gpu_request_micro_hours)::bigint AS gpu_request_micro_hours,
    sum(gpu_usage_micro_hours)::bigint AS gpu_usage_micro_hours
FROM cost_hourly
GROUP BY time_bucket(INTERVAL '1 day', bucket), cluster_id, namespace, workload_uid, node_group, service, team, owner, kind
WITH NO DATA;

CREATE MATERIALIZED VIEW cost_weekly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 week', bucket) AS bucket,
    cluster_id,
    namespace,
    workload_uid,
    node_group,
    service,
    team,
    owner,
    kind,
    sum(row_count)::bigint AS row_count,
    sum(cost)::bigint AS cost,
    sum(idle_share)::bigint AS idle_share,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(pv_cost)::bigint AS pv_cost,
    sum(network_cost)::bigint AS network_cost,
    sum(load_balancer_cost)::bigint AS load_balancer_cost,
    sum(shared_cost)::bigint AS shared_cost,
    sum(external_cost)::bigint AS external_cost,
    sum(cpu_request_micro_core_hours)::bigint AS cpu_request_micro_core_hours,
    sum(cpu_usage_micro_core_hours)::bigint AS cpu_usage_micro_core_hours,
    sum(ram_request_kib_hours)::bigint AS ram_request_kib_hours,
    sum(ram_usage_kib_hours)::bigint AS ram_usage_kib_hours,
    sum(gpu_request_micro_hours)::bigint AS gpu_request_micro_hours,
    sum(gpu_usage_micro_hours)::bigint AS gpu_usage_micro_hours
FROM cost_daily
GROUP BY time_bucket(INTERVAL '1 week', bucket), cluster_id, namespace, workload_uid, node_group, service, team, owner, kind
WITH NO DATA;

CREATE MATERIALIZED VIEW cost_monthly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 month', bucket) AS bucket,
    cluster_id,
    namespace,
    workload_uid,
    node_group,
    service,
    team,
    owner,
    kind,
    sum(row_count)::bigint AS row_count,
    sum(cost)::bigint AS cost,
    sum(idle_share)::bigint AS idle_share,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(pv_cost)::bigint AS pv_cost,
    sum(network_cost)::bigint AS network_cost,
    sum(load_balancer_cost)::bigint AS load_balancer_cost,
    sum(shared_cost)::bigint AS shared_cost,
    sum(external_cost)::bigint AS external_cost,
    sum(cpu_request_micro_core_hours)::bigint AS cpu_request_micro_core_hours,
    sum(cpu_usage_micro_core_hours)::bigint AS cpu_usage_micro_core_hours,
    sum(ram_request_kib_hours)::bigint AS ram_request_kib_hours,
    sum(ram_usage_kib_hours)::bigint AS ram_usage_kib_hours,
    sum(gpu_request_micro_hours)::bigint AS gpu_request_micro_hours,
    sum(gpu_usage_micro_hours)::bigint AS gpu_usage_micro_hours
FROM cost_daily
GROUP BY time_bucket(INTERVAL '1 month', bucket), cluster_id, namespace, workload_uid, node_group, service, team, owner, kind
WITH NO DATA;

SELECT add_continuous_aggregate_policy('cost_hourly', start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('cost_daily', start_offset => INTERVAL '10 days',
    end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('cost_weekly', start_offset => INTERVAL '35 days',
    end_offset => INTERVAL '7 days', schedule_interval => INTERVAL '1 day');
SELECT add_continuous_aggregate_policy('cost_monthly', start_offset => INTERVAL '3 months',
    end_offset => INTERVAL '1 month', schedule_interval => INTERVAL '1 day');
ALTER MATERIALIZED VIEW cost_hourly SET (timescaledb.compress = true);
SELECT add_compression_policy('cost_hourly', compress_after => INTERVAL '45 days');
ALTER MATERIALIZED VIEW cost_daily SET (timescaledb.compress = true);
SELECT add_compression_policy('cost_daily', compress_after => INTERVAL '180 days');

ALTER TABLE allocation SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'cluster_id',
    timescaledb.compress_orderby = 'window_start, allocation_key'
);
SELECT add_compression_policy('allocation', compress_after => INTERVAL '45 days');

CREATE TABLE rollup_mode (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    mode       text NOT NULL
);
INSERT INTO rollup_mode (mode) VALUES ('continuous');
