-- Asset costs in `continuous` mode (replaces 0005 there): the same raw `asset_cost` hypertable
-- as 0005 (tests/unit/test_continuous_schema.py checks that its definition is identical), and
-- the node_cost_* rollups as continuous aggregates with the managed tables' columns:
--   asset_cost -> node_cost_hourly -> node_cost_daily -> node_cost_weekly
--                                                    \-> node_cost_monthly
-- Policies as in 0002; raw asset chunks are compressed after 45 days like allocations.

CREATE TABLE asset_cost (
    cluster_id    uuid NOT NULL,
    asset_key     text NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    event_id      uuid NOT NULL,
    asset_type    text NOT NULL,
    name          text NOT NULL,
    provider_id   text NOT NULL,
    node_group    text NOT NULL,
    cpu_cost      bigint NOT NULL,
    ram_cost      bigint NOT NULL,
    gpu_cost      bigint NOT NULL,
    adjustment    bigint NOT NULL,
    total_cost    bigint NOT NULL,
    discount      double precision NOT NULL,
    cpu_cores     double precision NOT NULL,
    ram_bytes     double precision NOT NULL,
    gpu_count     double precision NOT NULL,
    bytes         double precision NOT NULL,
    minutes       double precision NOT NULL,
    produced_at   timestamptz NOT NULL,
    ingested_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, asset_key, window_start)
);
SELECT create_hypertable('asset_cost', by_range('window_start', INTERVAL '7 days'));

CREATE MATERIALIZED VIEW node_cost_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 hour', window_start) AS bucket,
    cluster_id,
    asset_type,
    node_group,
    count(*) AS row_count,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(adjustment)::bigint AS adjustment,
    sum(total_cost)::bigint AS total_cost
FROM asset_cost
GROUP BY time_bucket(INTERVAL '1 hour', window_start), cluster_id, asset_type, node_group
WITH NO DATA;

CREATE MATERIALIZED VIEW node_cost_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 day', bucket) AS bucket,
    cluster_id,
    asset_type,
    node_group,
    sum(row_count)::bigint AS row_count,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(adjustment)::bigint AS adjustment,
    sum(total_cost)::bigint AS total_cost
FROM node_cost_hourly
GROUP BY time_bucket(INTERVAL '1 day', bucket), cluster_id, asset_type, node_group
WITH NO DATA;

CREATE MATERIALIZED VIEW node_cost_weekly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 week', bucket) AS bucket,
    cluster_id,
    asset_type,
    node_group,
    sum(row_count)::bigint AS row_count,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(adjustment)::bigint AS adjustment,
    sum(total_cost)::bigint AS total_cost
FROM node_cost_daily
GROUP BY time_bucket(INTERVAL '1 week', bucket), cluster_id, asset_type, node_group
WITH NO DATA;

CREATE MATERIALIZED VIEW node_cost_monthly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT
    time_bucket(INTERVAL '1 month', bucket) AS bucket,
    cluster_id,
    asset_type,
    node_group,
    sum(row_count)::bigint AS row_count,
    sum(cpu_cost)::bigint AS cpu_cost,
    sum(ram_cost)::bigint AS ram_cost,
    sum(gpu_cost)::bigint AS gpu_cost,
    sum(adjustment)::bigint AS adjustment,
    sum(total_cost)::bigint AS total_cost
FROM node_cost_daily
GROUP BY time_bucket(INTERVAL '1 month', bucket), cluster_id, asset_type, node_group
WITH NO DATA;

SELECT add_continuous_aggregate_policy('node_cost_hourly', start_offset => INTERVAL '3 days',
    end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('node_cost_daily', start_offset => INTERVAL '10 days',
    end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('node_cost_weekly', start_offset => INTERVAL '35 days',
    end_offset => INTERVAL '7 days', schedule_interval => INTERVAL '1 day');
SELECT add_continuous_aggregate_policy('node_cost_monthly', start_offset => INTERVAL '3 months',
    end_offset => INTERVAL '1 month', schedule_interval => INTERVAL '1 day');
ALTER MATERIALIZED VIEW node_cost_hourly SET (timescaledb.compress = true);
SELECT add_compression_policy('node_cost_hourly', compress_after => INTERVAL '45 days');
ALTER MATERIALIZED VIEW node_cost_daily SET (timescaledb.compress = true);
SELECT add_compression_policy('node_cost_daily', compress_after => INTERVAL '180 days');

ALTER TABLE asset_cost SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'cluster_id',
    timescaledb.compress_orderby = 'window_start, asset_key'
);
SELECT add_compression_policy('asset_cost', compress_after => INTERVAL '45 days');
