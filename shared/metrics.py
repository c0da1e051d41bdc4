"""Prometheus metrics of the aggregator and the API, defined once so services, the Grafana
dashboard and the alert rules all name the same series (collector metrics live beside the
collector in `services/collector/stats.py`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

AGGREGATOR_LAG = Gauge(
    "costpipe_aggregator_consumer_lag",
    "Events between the partition's high watermark and the aggregator's committed offset",
    ["topic", "partition"],
)
AGGREGATOR_COMMITTED = Gauge(
    "costpipe_aggregator_committed_offset",
    "Last offset committed after the database commit",
    ["topic", "partition"],
)
AGGREGATOR_EVENTS = Counter(
    "costpipe_aggregator_events",
    "Valid events written (raw + rollups) and committed",
    ["kind"],  # allocation or asset
)
AGGREGATOR_DEAD_LETTERS = Counter(
    "costpipe_aggregator_dead_letters", "Events sent to the dead-letter topic", ["reason"]
)
AGGREGATOR_BATCH_SIZE = Histogram(
    "costpipe_aggregator_batch_size",
    "Events per batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2500, 5000, 10000, 25000),
)
AGGREGATOR_WRITE_SECONDS = Histogram(
    "costpipe_aggregator_write_seconds",
    "Time of one batch's database transaction",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
AGGREGATOR_DB_RETRIES = Counter(
    "costpipe_aggregator_database_retries", "Batches rewound because the database was unavailable"
)
AGGREGATOR_ASSIGNED_PARTITIONS = Gauge(
    "costpipe_aggregator_assigned_partitions",
    "Partitions this aggregator owns in its consumer group (0 for long: a stall)",
)
AGGREGATOR_UNASSIGNED_SECONDS = Counter(
    "costpipe_aggregator_unassigned_seconds",
    "Seconds this aggregator has run owning no partition",
)
AGGREGATOR_STALLED_PARTITIONS = Gauge(
    "costpipe_aggregator_stalled_partitions",
    "Partitions of the group owned by another member, with records waiting and no recent commit",
)
ROLLUP_MODE = Gauge("costpipe_rollup_mode", "1 for the rollup mode in use", ["mode"])
# The API's request metrics come from Litestar's Prometheus plugin under this prefix:
# costpipe_api_request_duration_seconds (histogram), costpipe_api_requests_total,
# costpipe_api_requests_in_progress, costpipe_api_requests_error_total; labels method, path
# (the route template), status_code, app_name.
API_METRICS_PREFIX = "costpipe_api"
API_ANSWERS = Counter(
    "costpipe_api_finops_answers",
    "FinOps answers by whether they were kept from an earlier request with the same data"
    " versions or computed",
    ["endpoint", "outcome"],  # kept or computed
)
API_METRIC_NAMES = (
    "costpipe_api_request_duration_seconds",
    "costpipe_api_requests_total",
    "costpipe_api_requests_in_progress",
    "costpipe_api_requests_error_total",
)
