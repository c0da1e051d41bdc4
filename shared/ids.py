"""Deterministic identifiers, so that re-polling the same data yields the same keys.

Kubecost gives no workload uid and no event id; both are derived as UUIDv5 from the natural key,
so a restated hour overwrites the same rows instead of adding new ones.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime

from shared.timewindows import isoformat_z

_NAMESPACE = uuid.UUID("7d1c3f0e-5a8b-4f3e-9c61-2b0d8a4e6f10")
_WORKLOAD_NS = uuid.uuid5(_NAMESPACE, "workload")
_EVENT_NS = uuid.uuid5(_NAMESPACE, "allocation-event")
_CLUSTER_NS = uuid.uuid5(_NAMESPACE, "cluster")
_ASSET_EVENT_NS = uuid.uuid5(_NAMESPACE, "asset-event")


@functools.lru_cache(maxsize=65536)
def workload_uid(cluster_id: uuid.UUID, namespace: str, kind: str, name: str) -> uuid.UUID:
    """Cached: a collector maps the same workloads every hour."""
    return uuid.uuid5(_WORKLOAD_NS, f"{cluster_id}\x00{namespace}\x00{kind}\x00{name}")


def allocation_event_id(cluster_id: uuid.UUID, window_start: datetime, name: str) -> uuid.UUID:
    return uuid.uuid5(_EVENT_NS, f"{cluster_id}\x00{isoformat_z(window_start)}\x00{name}")


def event_ids_of_window(
    cluster_id: uuid.UUID, window_start: datetime, *, assets: bool = False
) -> Callable[[str], uuid.UUID]:
    """`allocation_event_id` (or `asset_event_id`) of every name of one window, the shared part
    of the key formatted once: the collector derives thousands of ids per window."""
    prefix = f"{cluster_id}\x00{isoformat_z(window_start)}\x00".encode()
    namespace = (_ASSET_EVENT_NS if assets else _EVENT_NS).bytes + prefix

    def event_id(name: str) -> uuid.UUID:
        # What uuid.uuid5(namespace, prefix + name) computes, without re-encoding the prefix.
        return uuid.UUID(bytes=hashlib.sha1(namespace + name.encode()).digest()[:16], version=5)  # noqa: S324

    return event_id


def asset_event_id(cluster_id: uuid.UUID, window_start: datetime, asset_key: str) -> uuid.UUID:
    """Same derivation as allocation events, in its own namespace: an asset and an allocation
    with the same name in the same window are different events."""
    return uuid.uuid5(
        _ASSET_EVENT_NS, f"{cluster_id}\x00{isoformat_z(window_start)}\x00{asset_key}"
    )


def cluster_id_for_name(organization_id: uuid.UUID, name: str) -> uuid.UUID:
    """A stable cluster id for configurations that name a cluster but give it no UUID."""
    return uuid.uuid5(_CLUSTER_NS, f"{organization_id}\x00{name}")
