"""Mapping of one assets-API step to `AssetCostEvent`s: nodes, disks, load balancers (and others).

The same tolerance as for allocations: every field is optional, numbers are decoded exactly from
the JSON text, and null, NaN or infinite values count as zero and are reported. The node group is
taken from the asset itself (node labels, else its pool), so node costs need no join later.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.collector.allocations import MappingReport, parse_window
from services.collector.config import ClusterConfig
from services.collector.kubecost_schema import AssetProperties, asset_of
from services.collector.node_groups import node_group_of
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetType
from shared.ids import asset_event_id
from shared.money import to_micros

ASSET_TYPES = {
    "Node": AssetType.NODE,
    "Disk": AssetType.DISK,
    "LoadBalancer": AssetType.LOAD_BALANCER,
}
_ZERO = Decimal(0)
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

    def amount(value: Decimal | None) -> Decimal:
        if value is None:
            return _ZERO
        if value.is_finite():
            return value
        report.invalid_numbers += 1
        return _ZERO

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
        asset_type = ASSET_TYPES.get(asset.type or "", AssetType.OTHER)
        events.append(
            AssetCostEvent(
                schema_version=ASSET_SCHEMA_VERSION,
                event_id=asset_event_id(cluster.id, window[0], str(key)),
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
                cpu_cost=to_micros(amount(asset.cpu_cost)),
                ram_cost=to_micros(amount(asset.ram_cost)),
                gpu_cost=to_micros(amount(asset.gpu_cost)),
                adjustment=to_micros(amount(asset.adjustment)),
                total_cost=to_micros(amount(asset.total_cost)),
                discount=float(amount(asset.discount)),
                cpu_cores=float(amount(asset.cpu_cores)),
                ram_bytes=float(amount(asset.ram_bytes)),
                gpu_count=float(amount(asset.gpu_count)),
                bytes=float(amount(asset.size_bytes)),
                minutes=float(amount(asset.minutes)),
            )
        )
    return events
