-- Rollups for the `managed` mode: plain hypertables the aggregator keeps equal to the GROUP BY of
-- the raw rows by adding deltas in the same transaction as the raw upsert.
-- `row_count` counts the raw rows behind a rollup row, so a row whose last raw row moved to another
-- group is deleted rather than left as a zero.
-- Dimension columns are NOT NULL ('' or the nil UUID for "none") so they can sit in unique keys.

DO $$
DECLARE
    level record;
BEGIN
    FOR level IN
        SELECT * FROM (VALUES
            ('cost_hourly', INTERVAL '7 days'),
            ('cost_daily', INTERVAL '90 days'),
            ('cost_weekly', INTERVAL '365 days'),
            ('cost_monthly', INTERVAL '3650 days')
        ) AS t(name, chunk)
    LOOP
        EXECUTE format($f$
            CREATE TABLE %I (
                bucket              timestamptz NOT NULL,
                cluster_id          uuid NOT NULL,
                namespace           text NOT NULL,
                workload_uid        uuid NOT NULL,
                node_group          text NOT NULL,
                service             text NOT NULL,
                team                text NOT NULL,
                owner               text NOT NULL,
                kind                text NOT NULL,
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
                PRIMARY KEY (cluster_id, bucket, namespace, workload_uid, node_group,
                             service, team, owner, kind)
            )$f$, level.name);
        PERFORM create_hypertable(level.name::regclass, by_range('bucket', level.chunk));
    END LOOP;
END
$$;

CREATE TABLE rollup_mode (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    mode       text NOT NULL
);
INSERT INTO rollup_mode (mode) VALUES ('managed');
