-- `cost_hourly` becomes a view in `managed` mode: the raw `allocation` rows already have hourly
-- windows, so a separate hourly table repeated every raw row (one more row written per event,
-- with a nine-column key: the aggregator's most expensive statement) to say what one GROUP BY of
-- the raw rows says. See docs/decisions/0007-hourly-from-raw.md.
--
-- Raw chunks can be dropped by the retention task (shared/db/retention.py). Before it drops one,
-- it stores that chunk's hourly GROUP BY in `cost_hourly_archive`, so the hourly level keeps its
-- whole history: `cost_hourly` is the archive plus `cost_hourly_raw`, the GROUP BY of the raw
-- rows still stored.
-- The usage measures' expressions are the ones in services/aggregator/rollups.py (USAGE_MEASURES).

CREATE TABLE cost_hourly_archive (LIKE cost_hourly INCLUDING DEFAULTS);
ALTER TABLE cost_hourly_archive ADD PRIMARY KEY (cluster_id, namespace, bucket, workload_uid,
                                                 node_group, service, team, owner, kind);
SELECT create_hypertable('cost_hourly_archive', by_range('bucket', INTERVAL '30 days'));

-- Hours whose raw rows are gone (dropped by retention before this version) live on in the
-- archive; every other hour is derived from the raw rows.
INSERT INTO cost_hourly_archive
SELECT * FROM cost_hourly
WHERE bucket < coalesce((SELECT time_bucket(INTERVAL '1 hour', min(window_start)) FROM allocation),
                        'infinity'::timestamptz);

DROP TABLE cost_hourly;

-- The hourly GROUP BY of the raw rows still stored (what retention archives, chunk by chunk).
CREATE VIEW cost_hourly_raw AS
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
GROUP BY time_bucket(INTERVAL '1 hour', window_start), cluster_id, namespace, workload_uid,
         node_group, service, team, owner, kind;

CREATE VIEW cost_hourly AS
SELECT bucket, cluster_id, namespace, workload_uid, node_group, service, team, owner, kind,
       row_count, cost, idle_share, cpu_cost, gpu_cost, ram_cost, pv_cost, network_cost,
       load_balancer_cost, shared_cost, external_cost, cpu_request_micro_core_hours,
       cpu_usage_micro_core_hours, ram_request_kib_hours, ram_usage_kib_hours,
       gpu_request_micro_hours, gpu_usage_micro_hours
FROM cost_hourly_archive
UNION ALL
SELECT * FROM cost_hourly_raw;
