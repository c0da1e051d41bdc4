-- Per-cluster totals at each resolution, maintained by the same delta mechanism as the detailed
-- rollups. Cluster- and organization-wide answers (cost trends, FinOps totals, data coverage)
-- then read one row per cluster and bucket instead of one per workload and bucket.

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES
            ('cost_cluster_hourly', INTERVAL '30 days'),
            ('cost_cluster_daily', INTERVAL '365 days'),
            ('cost_cluster_weekly', INTERVAL '3650 days'),
            ('cost_cluster_monthly', INTERVAL '3650 days')
        ) AS t(name, chunk)
    LOOP
        EXECUTE format($f$
            CREATE TABLE %I (
                bucket              timestamptz NOT NULL,
                cluster_id          uuid NOT NULL,
                row_count           bigint NOT NULL,
                cost                bigint NOT NULL,
                idle_share          bigint NOT NULL,
                cpu_cost            bigint NOT NULL,
                gpu_cost            bigint NOT NULL,
                ram_cost            bigint NOT NULL,
                pv_cost             bigint NOT NULL,
                network_cost        bigint NOT NULL,
                load_balancer_cost  bigint NOT NULL,
                shared_cost         bigint NOT NULL,
                external_cost       bigint NOT NULL,
                PRIMARY KEY (cluster_id, bucket)
            )$f$, level.name);
        PERFORM create_hypertable(level.name::regclass, by_range('bucket', level.chunk));
    END LOOP;
END
$$;

-- Fill from what is already stored, so an upgrade needs no replay.
INSERT INTO cost_cluster_hourly
SELECT bucket, cluster_id, sum(row_count), sum(cost), sum(idle_share), sum(cpu_cost),
       sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost), sum(load_balancer_cost),
       sum(shared_cost), sum(external_cost)
FROM cost_hourly GROUP BY bucket, cluster_id;
INSERT INTO cost_cluster_daily
SELECT bucket, cluster_id, sum(row_count), sum(cost), sum(idle_share), sum(cpu_cost),
       sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost), sum(load_balancer_cost),
       sum(shared_cost), sum(external_cost)
FROM cost_daily GROUP BY bucket, cluster_id;
INSERT INTO cost_cluster_weekly
SELECT bucket, cluster_id, sum(row_count), sum(cost), sum(idle_share), sum(cpu_cost),
       sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost), sum(load_balancer_cost),
       sum(shared_cost), sum(external_cost)
FROM cost_weekly GROUP BY bucket, cluster_id;
INSERT INTO cost_cluster_monthly
SELECT bucket, cluster_id, sum(row_count), sum(cost), sum(idle_share), sum(cpu_cost),
       sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost), sum(load_balancer_cost),
       sum(shared_cost), sum(external_cost)
FROM cost_monthly GROUP BY bucket, cluster_id;

-- Scoped lookups on the detailed rollups (namespace and node-group trends, existence checks).
CREATE INDEX cost_hourly_namespace_idx ON cost_hourly (cluster_id, namespace, bucket);
CREATE INDEX cost_hourly_node_group_idx ON cost_hourly (cluster_id, node_group, bucket);
CREATE INDEX cost_daily_namespace_idx ON cost_daily (cluster_id, namespace, bucket);
CREATE INDEX cost_daily_node_group_idx ON cost_daily (cluster_id, node_group, bucket);
CREATE INDEX cost_weekly_namespace_idx ON cost_weekly (cluster_id, namespace, bucket);
CREATE INDEX cost_weekly_node_group_idx ON cost_weekly (cluster_id, node_group, bucket);
CREATE INDEX cost_monthly_namespace_idx ON cost_monthly (cluster_id, namespace, bucket);
CREATE INDEX cost_monthly_node_group_idx ON cost_monthly (cluster_id, node_group, bucket);
