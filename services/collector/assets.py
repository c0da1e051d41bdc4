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
from services.collector.kubecost_response import number, text
from services.collector.node_groups import node_group_of
from shared.asset_events import ASSET_SCHEMA_VERSION, AssetCostEvent, AssetType
from shared.ids import asset_event_id
from shared.money import to_micros

ASSET_TYPES = {
    "Node": AssetType.NODE,
    "Disk": AssetType.DISK,
    "LoadBalancer": AssetType.LOAD_BALANCER,
}
_MONEY = {
    "cpu_cost": "cpuCost",
    "ram_cost": "ramCost",
    "gpu_cost": "gpuCost",
    "adjustment": "adjustment",
    "total_cost": "totalCost",
}
_QUANTITIES = {
    "discount": "discount",
    "cpu_cores": "cpuCores",
    "ram_bytes": "ramBytes",
    "gpu_count": "gpuCount",
    "bytes": "bytes",
    "minutes": "minutes",
}


def _decimal(asset: Mapping[str, Any], key: str, report: MappingReport) -> Decimal:
    if asset.get(key) is None:
        return Decimal(0)
    value = number(asset[key])
    if value is None:
        report.invalid_numbers += 1
        return Decimal(0)
    return value


def map_asset_step(
    step: Mapping[str, Any],
    cluster: ClusterConfig,
    produced_at: datetime,
    report: MappingReport,
) -> list[AssetCostEvent]:
    """One event per asset of the step; assets without a usable window are skipped and reported."""
    events: list[AssetCostEvent] = []
    for key, asset in step.items():
        if not isinstance(asset, dict):
            report.skipped.append(f"asset {key}: not an object")
            continue
        window = parse_window(asset)
        if window is None:
            report.skipped.append(f"asset {key}: no valid window")
            continue
        properties = asset.get("properties")
        props: Mapping[str, Any] = properties if isinstance(properties, dict) else {}
        asset_type = ASSET_TYPES.get(text(asset.get("type")), AssetType.OTHER)
        amounts: dict[str, Any] = {
            f: to_micros(_decimal(asset, k, report)) for f, k in _MONEY.items()
        }
        amounts.update((f, float(_decimal(asset, k, report))) for f, k in _QUANTITIES.items())
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
                name=text(props.get("name")),
                provider_id=text(props.get("providerID")),
                node_group=node_group_of(asset) if asset_type is AssetType.NODE else "",
                produced_at=produced_at,
                **amounts,
            )
        )
    return events
