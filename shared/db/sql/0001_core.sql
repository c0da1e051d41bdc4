-- Core schema: dimensions, API keys, collector state, and the raw allocation hypertable.
-- Money columns are bigint micro-units (1e-6 of the currency); see shared/money.py.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE organization (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cluster (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organization (id),
    name             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cluster_organization_idx ON cluster (organization_id);

CREATE TABLE workload (
    uid         uuid PRIMARY KEY,
    cluster_id  uuid NOT NULL REFERENCES cluster (id),
    namespace   text NOT NULL,
    kind        text NOT NULL,
    name        text NOT NULL,
    first_seen  timestamptz NOT NULL,
    last_seen   timestamptz NOT NULL
);
CREATE INDEX workload_cluster_namespace_idx ON workload (cluster_id, namespace);

CREATE TABLE api_key (
    id                   uuid PRIMARY KEY,
    organization_id      uuid NOT NULL REFERENCES organization (id),
    name                 text NOT NULL,
    prefix               text NOT NULL UNIQUE,
    secret_hash          bytea NOT NULL,
    scopes               text[] NOT NULL,
    allowed_cluster_ids  uuid[],
    created_at           timestamptz NOT NULL DEFAULT now(),
    revoked_at           timestamptz
);

-- Per cluster: the end of the newest window the collector has fully produced.
CREATE TABLE collector_watermark (
    cluster_id   uuid PRIMARY KEY,
    watermark    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Windows the collector could not fetch, for the data-health endpoint.
CREATE TABLE collector_gap (
    cluster_id    uuid NOT NULL,
    window_start  timestamptz NOT NULL,
    window_end    timestamptz NOT NULL,
    reason        text NOT NULL,
    attempts      integer NOT NULL DEFAULT 1,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at   timestamptz,
    PRIMARY KEY (cluster_id, window_start)
);

CREATE TABLE allocation (
    cluster_id                uuid NOT NULL,
    allocation_key            text NOT NULL,
    window_start              timestamptz NOT NULL,
    window_end                timestamptz NOT NULL,
    event_id                  uuid NOT NULL,
    kind                      text NOT NULL,
    namespace                 text NOT NULL,
    controller_kind           text NOT NULL,
    controller                text NOT NULL,
    pod                       text NOT NULL,
    container                 text NOT NULL,
    node                      text NOT NULL,
    node_group                text NOT NULL,
    workload_uid              uuid NOT NULL,
    service                   text NOT NULL,
    team                      text NOT NULL,
    owner                     text NOT NULL,
    cpu_cost                  bigint NOT NULL,
    gpu_cost                  bigint NOT NULL,
    ram_cost                  bigint NOT NULL,
    pv_cost                   bigint NOT NULL,
    network_cost              bigint NOT NULL,
    load_balancer_cost        bigint NOT NULL,
    shared_cost               bigint NOT NULL,
    external_cost             bigint NOT NULL,
    total_cost                bigint NOT NULL,
    cost                      bigint NOT NULL,
    idle_share                bigint NOT NULL,
    minutes                   double precision NOT NULL,
    cpu_core_hours            double precision NOT NULL,
    cpu_core_request_average  double precision NOT NULL,
    cpu_core_usage_average    double precision NOT NULL,
    ram_byte_hours            double precision NOT NULL,
    ram_byte_request_average  double precision NOT NULL,
    ram_byte_usage_average    double precision NOT NULL,
    gpu_hours                 double precision NOT NULL,
    gpu_request_average       double precision NOT NULL,
    gpu_usage_average         double precision NOT NULL,
    produced_at               timestamptz NOT NULL,
    ingested_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, allocation_key, window_start)
);
SELECT create_hypertable('allocation', by_range('window_start', INTERVAL '7 days'));
