"""What the collector did, per cluster: in a plain object for tests and logs, and as Prometheus
metrics (prefix `costpipe_collector_`) for operators.

The metrics are created once per process in the default registry; exposing them over HTTP is the
process's job, not the collector's. Labels are the cluster name (what people recognise) and, for
errors, a short fixed reason so a flood of distinct error texts cannot explode the series count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import Counter, Gauge

POLLS = Counter("costpipe_collector_polls", "Collection cycles started", ["cluster"])
WINDOWS = Counter(
    "costpipe_collector_windows_fetched", "Chunks fetched, mapped and produced", ["cluster"]
)
ERRORS = Counter(
    "costpipe_collector_errors",
    "Failures: a chunk not fetched (gap), or a cycle cut short (kafka, database, internal)",
    ["cluster", "reason"],
)
RETRIES = Counter(
    "costpipe_collector_retries", "HTTP requests repeated after a failure", ["cluster", "reason"]
)
EVENTS = Counter(
    "costpipe_collector_events_produced", "Allocation events acknowledged by Kafka", ["cluster"]
)
ASSET_EVENTS = Counter(
    "costpipe_collector_asset_events_produced",
    "Asset cost events (nodes, disks, load balancers) acknowledged by Kafka",
    ["cluster"],
)
INVALID_NUMBERS = Counter(
    "costpipe_collector_invalid_numbers",
    "Numbers in Kubecost responses that were not numbers and counted as zero",
    ["cluster"],
)
WATERMARK = Gauge(
    "costpipe_collector_watermark_seconds",
    "End of the newest window fully produced (Unix time)",
    ["cluster"],
)
LAST_SUCCESS = Gauge(
    "costpipe_collector_last_success_seconds",
    "When a chunk was last fetched and produced (Unix time)",
    ["cluster"],
)


@dataclass
class CollectorStats:
    """Counts for one cluster since the process started; every update also moves the metric."""

    cluster: str
    polls: int = 0
    windows_fetched: int = 0
    events_produced: int = 0
    asset_events_produced: int = 0
    invalid_numbers: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    watermark: datetime | None = None

    def poll(self) -> None:
        self.polls += 1
        POLLS.labels(self.cluster).inc()

    def fetched(self, events: int, invalid_numbers: int, at: datetime, *, assets: int = 0) -> None:
        """`events` counts allocation events, `assets` asset cost events."""
        self.windows_fetched += 1
        self.events_produced += events
        self.asset_events_produced += assets
        ASSET_EVENTS.labels(self.cluster).inc(assets)
        self.invalid_numbers += invalid_numbers
        WINDOWS.labels(self.cluster).inc()
        EVENTS.labels(self.cluster).inc(events)
        INVALID_NUMBERS.labels(self.cluster).inc(invalid_numbers)
        LAST_SUCCESS.labels(self.cluster).set(at.timestamp())

    def error(self, reason: str) -> None:
        self.errors[reason] = self.errors.get(reason, 0) + 1
        ERRORS.labels(self.cluster, reason).inc()

    def retry(self, reason: str) -> None:
        self.retries[reason] = self.retries.get(reason, 0) + 1
        RETRIES.labels(self.cluster, reason).inc()

    def advanced(self, watermark: datetime) -> None:
        self.watermark = watermark
        WATERMARK.labels(self.cluster).set(watermark.timestamp())
