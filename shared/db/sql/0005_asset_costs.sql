-- Asset costs: one raw row per node, disk or load balancer of a cluster per window, and the
-- managed node-cost rollups the aggregator keeps equal to their GROUP BY, by the same delta
-- technique as the allocation rollups (services/aggregator/asset_writer.py).
-- Money columns are bigint micro-units; `discount` is Kubecost's node discount rate (0..1), not
-- money, and the quantities are averages over the window, so neither is summed by the rollups.

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

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES
            ('node_cost_hourly', INTERVAL '30 days'),
            ('node_cost_daily', INTERVAL '365 days'),
            ('node_cost_weekly', INTERVAL '3650 days'),
            ('node_cost_monthly', INTERVAL '3650 days')
        ) AS t(name, chunk)
    LOOP
        EXECUTE format($f$
            CREATE TABLE %I (
                bucket      timestamptz NOT NULL,
                cluster_id  uuid NOT NULL,
                asset_type  text NOT NULL,
                node_group  text NOT NULL,
                row_count   bigint NOT NULL,
                cpu_cost    bigint NOT NULL,
                ram_cost    bigint NOT NULL,
                gpu_cost    bigint NOT NULL,
                adjustment  bigint NOT NULL,
                total_cost  bigint NOT NULL,
                PRIMARY KEY (cluster_id, bucket, asset_type, node_group)
            )$f$, level.name);
        PERFORM create_hypertable(level.name::regclass, by_range('bucket', level.chunk));
    END LOOP;
END
$$;
