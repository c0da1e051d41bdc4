-- Resource quantities on every allocation rollup, for efficiency (usage over request) and
-- rightsizing. Integers, like money, so that adding and removing deltas stays exact:
--   cpu and gpu: micro core-hours (micro GPU-hours); ram: KiB-hours.
-- Each is derived from a raw row as average * minutes, rounded half to even; the expressions
-- are the ones in services/aggregator/rollups.py (USAGE_MEASURES) and must stay equal to them.

DO $$
DECLARE
    rollup text;
    measure text;
BEGIN
    FOREACH rollup IN ARRAY ARRAY['cost_hourly', 'cost_daily', 'cost_weekly', 'cost_monthly',
                                  'cost_cluster_hourly', 'cost_cluster_daily',
                                  'cost_cluster_weekly', 'cost_cluster_monthly']
    LOOP
        FOREACH measure IN ARRAY ARRAY['cpu_request_micro_core_hours',
                                       'cpu_usage_micro_core_hours', 'ram_request_kib_hours',
                                       'ram_usage_kib_hours', 'gpu_request_micro_hours',
                                       'gpu_usage_micro_hours']
        LOOP
            EXECUTE format('ALTER TABLE %I ADD COLUMN %I bigint NOT NULL DEFAULT 0',
                           rollup, measure);
        END LOOP;
    END LOOP;
END
$$;

-- Fill from what is already stored, so an upgrade needs no replay.
CREATE TEMP TABLE usage_by_hour ON COMMIT DROP AS
SELECT time_bucket('1 hour', window_start) AS bucket, cluster_id, namespace, workload_uid,
       node_group, service, team, owner, kind,
       sum(round(CASE WHEN cpu_core_request_average >= 1e-100 AND minutes >= 1e-100 THEN cpu_core_request_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint) AS cpu_req,
       sum(round(CASE WHEN cpu_core_usage_average >= 1e-100 AND minutes >= 1e-100 THEN cpu_core_usage_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint) AS cpu_use,
       sum(round(CASE WHEN ram_byte_request_average >= 1e-100 AND minutes >= 1e-100 THEN ram_byte_request_average * minutes / 61440::float8 ELSE 0 END)::bigint) AS ram_req,
       sum(round(CASE WHEN ram_byte_usage_average >= 1e-100 AND minutes >= 1e-100 THEN ram_byte_usage_average * minutes / 61440::float8 ELSE 0 END)::bigint) AS ram_use,
       sum(round(CASE WHEN gpu_request_average >= 1e-100 AND minutes >= 1e-100 THEN gpu_request_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint) AS gpu_req,
       sum(round(CASE WHEN gpu_usage_average >= 1e-100 AND minutes >= 1e-100 THEN gpu_usage_average * minutes * 1e6::float8 / 60 ELSE 0 END)::bigint) AS gpu_use
FROM allocation
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES ('hourly', '1 hour'), ('daily', '1 day'), ('weekly', '1 week'),
                              ('monthly', '1 month')) AS t(name, width)
    LOOP
        EXECUTE format($f$
            UPDATE %I r SET cpu_request_micro_core_hours = u.cpu_req,
                cpu_usage_micro_core_hours = u.cpu_use, ram_request_kib_hours = u.ram_req,
                ram_usage_kib_hours = u.ram_use, gpu_request_micro_hours = u.gpu_req,
                gpu_usage_micro_hours = u.gpu_use
            FROM (SELECT time_bucket(%L::interval, bucket) AS bucket, cluster_id, namespace,
                         workload_uid, node_group, service, team, owner, kind,
                         sum(cpu_req) AS cpu_req, sum(cpu_use) AS cpu_use,
                         sum(ram_req) AS ram_req, sum(ram_use) AS ram_use,
                         sum(gpu_req) AS gpu_req, sum(gpu_use) AS gpu_use
                  FROM usage_by_hour GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9) u
            WHERE r.bucket = u.bucket AND r.cluster_id = u.cluster_id
              AND r.namespace = u.namespace AND r.workload_uid = u.workload_uid
              AND r.node_group = u.node_group AND r.service = u.service AND r.team = u.team
              AND r.owner = u.owner AND r.kind = u.kind$f$, 'cost_' || level.name, level.width);
        EXECUTE format($f$
            UPDATE %I r SET cpu_request_micro_core_hours = u.cpu_req,
                cpu_usage_micro_core_hours = u.cpu_use, ram_request_kib_hours = u.ram_req,
                ram_usage_kib_hours = u.ram_use, gpu_request_micro_hours = u.gpu_req,
                gpu_usage_micro_hours = u.gpu_use
            FROM (SELECT time_bucket(%L::interval, bucket) AS bucket, cluster_id,
                         sum(cpu_req) AS cpu_req, sum(cpu_use) AS cpu_use,
                         sum(ram_req) AS ram_req, sum(ram_use) AS ram_use,
                         sum(gpu_req) AS gpu_req, sum(gpu_use) AS gpu_use
                  FROM usage_by_hour GROUP BY 1, 2) u
            WHERE r.bucket = u.bucket AND r.cluster_id = u.cluster_id$f$,
            'cost_cluster_' || level.name, level.width);
    END LOOP;
END
$$;
