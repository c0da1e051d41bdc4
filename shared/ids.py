"""Deterministic identifiers, so that re-polling the same data yields the same keys.

Kubecost gives no workload uid and no event id; both are derived as UUIDv5 from the natural key,
so a restated hour overwrites the same rows instead of adding new ones.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from shared.timewindows import isoformat_z

_NAMESPACE = uuid.UUID("7d1c3f0e-5a8b-4f3e-9c61-2b0d8a4e6f10")
_WORKLOAD_NS = uuid.uuid5(_NAMESPACE, "workload")
_EVENT_NS = uuid.uuid5(_NAMESPACE, "allocation-event")
_CLUSTER_NS = uuid.uuid5(_NAMESPACE, "cluster")
_ASSET_EVENT_NS = uuid.uuid5(_NAMESPACE, "asset-event")


def workload_uid(cluster_id: uuid.UUID, namespace: str, kind: str, name: str) -> uuid.UUID:
    return uuid.uuid5(_WORKLOAD_NS, f"{cluster_id}\x00{namespace}\x00{kind}\x00{name}")


def allocation_event_id(cluster_id: uuid.UUID, window_start: datetime, name: str) -> uuid.UUID:
    return uuid.uuid5(_EVENT_NS, f"{cluster_id}\x00{isoformat_z(window_start)}\x00{name}")


def asset_event_id(cluster_id: uuid.UUID, window_start: datetime, asset_key: str) -> uuid.UUID:
    """Same derivation as allocation events, in its own namespace: an asset and an allocation
    with the same name in the same window are different events."""
    return uuid.uuid5(
        _ASSET_EVENT_NS, f"{cluster_id}\x00{isoformat_z(window_start)}\x00{asset_key}"
    )


def cluster_id_for_name(organization_id: uuid.UUID, name: str) -> uuid.UUID:
    """A stable cluster id for configurations that name a cluster but give it no UUID."""
    return uuid.uuid5(_CLUSTER_NS, f"{organization_id}\x00{name}")
