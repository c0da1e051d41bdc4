-- Per-cluster totals in `continuous` mode (replaces 0003 there): continuous aggregates on
-- cost_hourly, with the columns of the managed cost_cluster_* tables (0003 plus 0004's usage
-- measures). Hourly sits on the detailed hourly aggregate (same bucket width, fewer dimensions),
-- then daily on hourly, weekly and monthly on daily. Policies as in 0002.

CREATE MATERIALIZED VIEW cost_cluster_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', bucket) AS bucket,
    cluster_id,
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
GROUP BY time_bucket(INTERVAL '1 hour', bucket), cluster_id
WITH NO DATA;

CREATE MATERIALIZED VIEW cost_cluster_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket) AS bucket,
    cluster_id,
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
FROM cost_cluster_hourly
GROUP BY time_bucket(INTERVAL '1 day', bucket), cluster_id
WITH NO DATA;

CREATE MATERIALIZED VIEW cost_cluster_weekly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 week', bucket) AS bucket,
    cluster_id,
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
FROM cost_cluster_daily
GROUP BY time_bucket(INTERVAL '1 week', bucket), cluster_id
WITH NO DATA;

CREATE MATERIALIZED VIEW cost_cluster_monthly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 month', bucket) AS bucket,
    cluster_id,
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
FROM cost_cluster_daily
GROUP BY time_bucket(INTERVAL '1 month', bucket), cluster_id
WITH NO DATA;

SELECT add_continuous_aggregate_policy('cost_cluster_hourly', start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('cost_cluster_daily', start_offset => INTERVAL '10 days',
    end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('cost_cluster_weekly', start_offset => INTERVAL '35 days',
    end_offset => INTERVAL '7 days', schedule_interval => INTERVAL '1 day');
SELECT add_continuous_aggregate_policy('cost_cluster_monthly', start_offset => INTERVAL '3 months',
    end_offset => INTERVAL '1 month', schedule_interval => INTERVAL '1 day');
ALTER MATERIALIZED VIEW cost_cluster_hourly SET (timescaledb.compress = true);
SELECT add_compression_policy('cost_cluster_hourly', compress_after => INTERVAL '45 days');
ALTER MATERIALIZED VIEW cost_cluster_daily SET (timescaledb.compress = true);
SELECT add_compression_policy('cost_cluster_daily', compress_after => INTERVAL '180 days');

