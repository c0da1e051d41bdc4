-- Per node-group totals at each resolution, maintained by the same delta mechanism as the other
-- rollups: node-group answers read one row per node group and bucket instead of filtering the
-- detailed rollups.
-- With those in place the detailed rollups need no node-group index, and `cost_hourly` (written
-- once per allocation and hour, the aggregator's most expensive statement) keeps a single index:
-- its primary key, led by (cluster_id, namespace) so that namespace lookups still use it.

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES
            ('hourly', INTERVAL '30 days'),
            ('daily', INTERVAL '365 days'),
            ('weekly', INTERVAL '3650 days'),
            ('monthly', INTERVAL '3650 days')
        ) AS t(name, chunk)
    LOOP
        EXECUTE format($f$
            CREATE TABLE %I (
                bucket                        timestamptz NOT NULL,
                cluster_id                    uuid NOT NULL,
                node_group                    text NOT NULL,
                row_count                     bigint NOT NULL,
                cost                          bigint NOT NULL,
                idle_share                    bigint NOT NULL,
                cpu_cost                      bigint NOT NULL,
                gpu_cost                      bigint NOT NULL,
                ram_cost                      bigint NOT NULL,
                pv_cost                       bigint NOT NULL,
                network_cost                  bigint NOT NULL,
                load_balancer_cost            bigint NOT NULL,
                shared_cost                   bigint NOT NULL,
                external_cost                 bigint NOT NULL,
                cpu_request_micro_core_hours  bigint NOT NULL,
                cpu_usage_micro_core_hours    bigint NOT NULL,
                ram_request_kib_hours         bigint NOT NULL,
                ram_usage_kib_hours           bigint NOT NULL,
                gpu_request_micro_hours       bigint NOT NULL,
                gpu_usage_micro_hours         bigint NOT NULL,
                PRIMARY KEY (cluster_id, node_group, bucket)
            )$f$, 'cost_node_group_' || level.name);
        PERFORM create_hypertable(('cost_node_group_' || level.name)::regclass,
                                  by_range('bucket', level.chunk));
        -- Fill from what is already stored, so an upgrade needs no replay.
        EXECUTE format($f$
            INSERT INTO %I
            SELECT bucket, cluster_id, node_group, sum(row_count), sum(cost), sum(idle_share),
                   sum(cpu_cost), sum(gpu_cost), sum(ram_cost), sum(pv_cost), sum(network_cost),
                   sum(load_balancer_cost), sum(shared_cost), sum(external_cost),
                   sum(cpu_request_micro_core_hours), sum(cpu_usage_micro_core_hours),
                   sum(ram_request_kib_hours), sum(ram_usage_kib_hours),
                   sum(gpu_request_micro_hours), sum(gpu_usage_micro_hours)
            FROM %I GROUP BY bucket, cluster_id, node_group$f$,
            'cost_node_group_' || level.name, 'cost_' || level.name);
        EXECUTE format('DROP INDEX %I', 'cost_' || level.name || '_node_group_idx');
    END LOOP;
END
$$;

DROP INDEX cost_hourly_namespace_idx;
ALTER TABLE cost_hourly DROP CONSTRAINT cost_hourly_pkey;
ALTER TABLE cost_hourly ADD PRIMARY KEY (cluster_id, namespace, bucket, workload_uid, node_group,
                                         service, team, owner, kind);
