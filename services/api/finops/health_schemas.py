"""Response shape of data-health (the spec names the endpoint but not its fields)."""

from __future__ import annotations

import msgspec

from services.api.finops.schemas import Percent


class HealthWindow(msgspec.Struct):
    start: str
    end: str
    hours: int


class MissingHours(msgspec.Struct):
    start: str
    end: str
    hours: int
    reason: str | None
    attempts: int | None


class HealingFetch(msgspec.Struct):
    window: HealthWindow
    fetch_id: str


class GapHistoryItem(msgspec.Struct):
    status: str
    window: HealthWindow
    reason: str
    attempts: int
    opened_at: str
    last_failed_at: str
    healed_at: str | None
    healed_by: HealingFetch | None


class ClusterHealthItem(msgspec.Struct):
    cluster_id: str
    name: str
    expected_hours: int
    covered_hours: int
    coverage_percent: Percent
    last_ingested_window_end: str | None
    collector_watermark: str | None
    open_collector_gaps: int
    gaps: list[MissingHours]
    gap_history: list[GapHistoryItem]


class PartitionLagItem(msgspec.Struct):
    partition: int
    end_offset: int
    committed_offset: int | None
    lag: int


class PipelineHealth(msgspec.Struct):
    status: str
    consumer_lag: int | None
    partitions: list[PartitionLagItem]
    reason: str | None


class DataHealth(msgspec.Struct):
    status: str
    window: HealthWindow
    coverage_percent: Percent
    clusters: list[ClusterHealthItem]
    pipeline: PipelineHealth
