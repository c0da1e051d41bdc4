"""Mapping of one assets-API step to `AssetCostEvent`s: nodes, disks, load balancers (and others).

The same tolerance as for allocations: every field is optional, numbers are decoded exactly from
the JSON text, and null, NaN or infinite values count as zero and are reported. The node group is
taken from the asset itself (node labels, else its pool), so node costs need no join later.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from services.collector.allocations import MappingReport, parse_window
from services.collector.config import ClusterConfig
from services.collector.kubecost_schema import AssetProperties, asset_of
from services.collector.node_groups import node_group_of
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetType
from shared.ids import event_ids_of_window
from shared.money import MICROS_PER_UNIT

ASSET_TYPES = {
    "Node": AssetType.NODE,
    "Disk": AssetType.DISK,
    "LoadBalancer": AssetType.LOAD_BALANCER,
}
_NO_PROPERTIES = AssetProperties()


def map_asset_step(
    step: Mapping[str, Any],
    cluster: ClusterConfig,
    produced_at: datetime,
    report: MappingReport,
) -> list[AssetCostEvent]:
    """One event per asset of the step; assets without a usable window are skipped and reported.

    The step's values are `Asset`s (typed decoding) or dicts (the tolerant decoding, and tests),
    converted here."""

    def micros(value: Decimal | None) -> int:
        if value is None:
            return 0
        if value.is_finite():
            return int((value * MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_EVEN))
        report.invalid_numbers += 1
        return 0

    def quantity(value: float | None) -> float:
        if value is None:
            return 0.0
        if math.isnan(value):
            report.invalid_numbers += 1
            return 0.0
        return value

    ids: dict[datetime, Callable[[str], uuid.UUID]] = {}

    events: list[AssetCostEvent] = []
    for key, value in step.items():
        asset = asset_of(value)
        if asset is None:
            report.skipped.append(f"asset {key}: not an object")
            continue
        window = parse_window(asset)
        if window is None:
            report.skipped.append(f"asset {key}: no valid window")
            continue
        props = asset.properties or _NO_PROPERTIES
        event_id = ids.get(window[0])
        if event_id is None:
            event_id = ids[window[0]] = event_ids_of_window(cluster.id, window[0], assets=True)
        asset_type = ASSET_TYPES.get(asset.type or "", AssetType.OTHER)
        events.append(
            AssetCostEvent(
                schema_version=ASSET_SCHEMA_VERSION,
                event_id=event_id(str(key)),
                organization_id=cluster.organization_id,
                cluster_id=cluster.id,
                cluster_name=cluster.name,
                window_start=window[0],
                window_end=window[1],
                asset_key=str(key),
                asset_type=asset_type,
                name=props.name or "",
                provider_id=props.provider_id or "",
                node_group=node_group_of(asset) if asset_type is AssetType.NODE else "",
                produced_at=produced_at,
                cpu_cost=micros(asset.cpu_cost),
                ram_cost=micros(asset.ram_cost),
                gpu_cost=micros(asset.gpu_cost),
                adjustment=micros(asset.adjustment),
                total_cost=micros(asset.total_cost),
                discount=quantity(asset.discount),
                cpu_cores=quantity(asset.cpu_cores),
                ram_bytes=quantity(asset.ram_bytes),
                gpu_count=quantity(asset.gpu_count),
                bytes=quantity(asset.size_bytes),
                minutes=quantity(asset.minutes),
            )
        )
    return events
