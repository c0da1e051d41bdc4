"""Node name -> node group, from the assets API's node labels (or the asset's `pool`).

Allocations name their node but not its group; the group is what platform teams budget by.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.collector.allocations import pick_label
from services.collector.kubecost_response import string_map, text

NODE_GROUP_LABELS = (
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "cloud.google.com/gke-nodepool",
    "kubernetes.azure.com/agentpool",
    "node-group",
    "nodegroup",
)


def node_group_of(asset: Mapping[str, Any]) -> str:
    """A node asset's group: the first known node-group label, else the asset's `pool`."""
    return pick_label(string_map(asset.get("labels")), NODE_GROUP_LABELS) or text(asset.get("pool"))


def node_groups_from_assets(steps: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    groups: dict[str, str] = {}
    for step in steps:
        for asset in step.values():
            if not isinstance(asset, dict) or text(asset.get("type")) != "Node":
                continue
            properties = asset.get("properties")
            props = properties if isinstance(properties, dict) else {}
            name = text(props.get("name"))
            if not name:
                continue
            group = node_group_of(asset)
            if group:
                groups[name] = group
    return groups
