-- A version per cluster, raised by every transaction that changes what the API can answer about
-- the cluster (allocation and asset writes, in the writer's own transaction). The API keeps
-- answers it computed, keyed by the versions of the clusters they cover: an unchanged version
-- means an unchanged answer, so a repeated request is served without reading the rollups again.
-- A cluster with no row has never been written (version 0).

CREATE TABLE data_version (
    cluster_id  uuid PRIMARY KEY,
    version     bigint NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO data_version (cluster_id, version) SELECT id, 1 FROM cluster;
