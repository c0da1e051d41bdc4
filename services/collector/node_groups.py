"""Node name -> node group, from the assets API's node labels (or the asset's `pool`).

Allocations name their node but not its group; the group is what platform teams budget by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.collector.allocations import pick_label
from services.collector.kubecost_schema import Asset, asset_of

NODE_GROUP_LABELS = (
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "node-group",
    "nodegroup",
)


def node_group_of(asset: Asset) -> str:
    """A node asset's group: the first known node-group label, else the asset's `pool`."""
    return pick_label(asset.labels or {}, NODE_GROUP_LABELS) or asset.pool or ""


def node_groups_from_assets(steps: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Node name -> group over assets steps (values `Asset`s, or dicts converted here)."""
    groups: dict[str, str] = {}
    for step in steps:
        for value in step.values():
            asset = asset_of(value)
            if asset is None or asset.type != "Node" or asset.properties is None:
                continue
            name = asset.properties.name
            if not name:
                continue
            group = node_group_of(asset)
            if group:
                groups[name] = group
    return groups
